//! Queries: what to search for (colors and their weights, parsed and validated, and their query
//! histogram) and how ([`SearchOptions`]: every per-query option, with its one validation rule and
//! its one key in the URL fragment, the JS API and the CLI). The URL fragment and the JS API go
//! through one parser ([`UrlState::from_pairs`]), so they accept the same keys with the same
//! messages, and both refuse unknown keys.

use crate::color::{parse_hex, srgb_to_lab, to_hex, Rgb};
use crate::filter::{fold_tag, Filter, Orientation};
use crate::histogram::Histogram;
use serde::{Deserialize, Serialize};

/// Most colors in one query.
pub const MAX_COLORS: usize = 5;
/// Upper bound on results per query (a page browses this far with "Show more"; each result
/// beyond the site's `rerank_k` costs one more Sinkhorn).
pub const MAX_K: usize = 1000;
pub const DEFAULT_K: usize = 10;
/// Upper bound on candidates reranked per query (each costs one Sinkhorn).
pub const MAX_RERANK_K: usize = 5000;
/// The largest wildcard share: the named colors keep at least 1% of the query.
pub const MAX_ANY: f64 = 0.99;
/// At most this many colors to avoid.
pub const MAX_EXCLUDED: usize = 3;
/// How close (ΔE76 between the excluded color and a bin's center) counts as "that color", unless
/// the query says otherwise (`RRGGBB:ΔE`).
pub const DEFAULT_EXCLUDE_TOLERANCE: f64 = 15.0;
/// An image is left out when more than this share of its pixels (its stored histogram's mass) lies
/// within the tolerance of an excluded color.
pub const EXCLUDE_MIN_SHARE: f64 = 0.01;
/// Longest query text we look at; URLs and pasted text beyond this are refused, not scanned.
const MAX_TEXT: usize = 4096;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("give at least one color, or a filter (text, folder, tags, dates, orientation)")]
    NoColors,
    #[error("at most {MAX_COLORS} colors, got {0}")]
    TooManyColors(usize),
    #[error("{0:?} is not a hex color (use RRGGBB or #RRGGBB)")]
    BadHex(String),
    #[error("{0:?} is not a number")]
    BadWeight(String),
    #[error("weights must be finite and greater than 0, got {0}")]
    WeightOutOfRange(f64),
    #[error("{colors} colors but {weights} weights")]
    CountMismatch { colors: usize, weights: usize },
    #[error("k must be a whole number from 1 to {MAX_K}, got {0:?}")]
    BadK(String),
    #[error("rerank_k must be a whole number from 1 to {MAX_RERANK_K}, got {0:?}")]
    BadRerankK(String),
    #[error("any must be a share from 0 to {MAX_ANY}, got {0:?}")]
    BadAny(String),
    #[error("{0:?} is not a color to avoid (use RRGGBB, or RRGGBB:ΔE with a tolerance from 1 to 100)")]
    BadExcluded(String),
    #[error("at most {MAX_EXCLUDED} colors to avoid, got {0}")]
    TooManyExcluded(usize),
    /// An option that arrived typed (JSON) is out of its range; the text says which and how.
    #[error("{0}")]
    OutOfRange(&'static str),
    #[error("the query text is too long")]
    TooLong,
    #[error("unknown query parameter {0:?}")]
    UnknownParameter(String),
    /// A filter value is not valid; the text says which and why.
    #[error("{0}")]
    BadFilter(String),
}

/// A validated color query: 1..=5 colors with weights that sum to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    colors: Vec<Rgb>,
    weights: Vec<f64>,
}

impl Query {
    /// Validates colors and weights; `weights: None` means equal weights. Weights are normalised.
    pub fn new(colors: Vec<Rgb>, weights: Option<Vec<f64>>) -> Result<Self, QueryError> {
        if colors.is_empty() {
            return Err(QueryError::NoColors);
        }
        if colors.len() > MAX_COLORS {
            return Err(QueryError::TooManyColors(colors.len()));
        }
        let weights = weights.unwrap_or_else(|| vec![1.0; colors.len()]);
        if weights.len() != colors.len() {
            return Err(QueryError::CountMismatch { colors: colors.len(), weights: weights.len() });
        }
        if let Some(&bad) = weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
            return Err(QueryError::WeightOutOfRange(bad));
        }
        let total: f64 = weights.iter().sum();
        if !(total.is_finite() && total > 0.0) {
            return Err(QueryError::WeightOutOfRange(total));
        }
        let weights = weights.iter().map(|w| w / total).collect();
        Ok(Self { colors, weights })
    }

    /// Parses hex strings (`RRGGBB` / `#RRGGBB`) and optional weights.
    pub fn from_strings<S: AsRef<str>>(colors: &[S], weights: Option<&[f64]>) -> Result<Self, QueryError> {
        if colors.len() > MAX_COLORS {
            return Err(QueryError::TooManyColors(colors.len()));
        }
        let parsed =
            colors.iter().map(|c| parse_hex(c.as_ref()).ok_or_else(|| QueryError::BadHex(clip(c.as_ref())))).collect::<Result<Vec<_>, _>>()?;
        Self::new(parsed, weights.map(<[f64]>::to_vec))
    }

    /// Parses the CLI / URL form: `"FF0000,#00ff00"` and `"0.7,0.3"` (weights optional).
    pub fn parse(colors: &str, weights: Option<&str>) -> Result<Self, QueryError> {
        if colors.len() > MAX_TEXT || weights.is_some_and(|w| w.len() > MAX_TEXT) {
            return Err(QueryError::TooLong);
        }
        let colors: Vec<&str> = split_list(colors);
        let weights = weights.map(parse_weights).transpose()?;
        Self::from_strings(&colors, weights.as_deref())
    }

    pub fn colors(&self) -> &[Rgb] {
        &self.colors
    }

    /// Normalised weights (sum 1).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    pub fn hex_colors(&self) -> Vec<String> {
        self.colors.iter().map(|&c| to_hex(c)).collect()
    }

    /// Each color splatted with the histogram's tri-linear kernel, times its weight.
    pub fn histogram(&self) -> Histogram {
        let mut h = Histogram::default();
        for (&c, &w) in self.colors.iter().zip(&self.weights) {
            h.splat(srgb_to_lab(c), w);
        }
        h.normalize();
        h
    }
}

fn split_list(text: &str) -> Vec<&str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
}

fn parse_weights(text: &str) -> Result<Vec<f64>, QueryError> {
    split_list(text).into_iter().map(|w| w.parse::<f64>().map_err(|_| QueryError::BadWeight(clip(w)))).collect()
}

/// Error messages quote user text, but never unbounded amounts of it.
pub(crate) fn clip(text: &str) -> String {
    const MAX: usize = 32;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// `k`: 1 to [`MAX_K`] results.
pub fn parse_k(text: &str) -> Result<usize, QueryError> {
    match text.trim().parse::<usize>() {
        Ok(k) if (1..=MAX_K).contains(&k) => Ok(k),
        _ => Err(QueryError::BadK(clip(text))),
    }
}

/// `rerank_k`: 1 to [`MAX_RERANK_K`] candidates.
pub fn parse_rerank_k(text: &str) -> Result<usize, QueryError> {
    match text.trim().parse::<usize>() {
        Ok(k) if (1..=MAX_RERANK_K).contains(&k) => Ok(k),
        _ => Err(QueryError::BadRerankK(clip(text))),
    }
}

/// `any`: the share of the query that may be any color, 0 to [`MAX_ANY`].
pub fn parse_any(text: &str) -> Result<f64, QueryError> {
    match text.trim().parse::<f64>() {
        Ok(a) if (0.0..=MAX_ANY).contains(&a) => Ok(a),
        _ => Err(QueryError::BadAny(clip(text))),
    }
}

/// A color to avoid and how close counts as that color.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Excluded {
    pub color: Rgb,
    /// ΔE76 radius around the color, 1 to 100.
    pub tolerance: f64,
}

impl Excluded {
    /// `RRGGBB` or `RRGGBB:ΔE` (`#` optional).
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        let bad = || QueryError::BadExcluded(clip(text));
        let (hex, tolerance) = match text.trim().split_once(':') {
            Some((hex, t)) => (hex, t.trim().parse::<f64>().map_err(|_| bad())?),
            None => (text.trim(), DEFAULT_EXCLUDE_TOLERANCE),
        };
        let color = parse_hex(hex).ok_or_else(bad)?;
        if !(1.0..=100.0).contains(&tolerance) {
            return Err(bad());
        }
        Ok(Self { color, tolerance })
    }

    /// The canonical text: `RRGGBB`, with `:ΔE` when not the default.
    pub fn to_text(&self) -> String {
        if self.tolerance == DEFAULT_EXCLUDE_TOLERANCE {
            to_hex(self.color)
        } else {
            format!("{}:{}", to_hex(self.color), format_weight(self.tolerance))
        }
    }
}

fn parse_excluded_list(text: &str) -> Result<Vec<Excluded>, QueryError> {
    let list = split_list(text).into_iter().map(Excluded::parse).collect::<Result<Vec<_>, _>>()?;
    if list.len() > MAX_EXCLUDED {
        return Err(QueryError::TooManyExcluded(list.len()));
    }
    Ok(list)
}

/// How to search, beside what for: every per-query option. One struct carried as one field by
/// every layer (the CLI flattens it into its arguments, the worker protocol and the page's state
/// hold it whole), so a new option is a field here, its rule in [`SearchOptions::set`] and
/// [`SearchOptions::validate`], and its key in [`SearchOptions::to_pairs`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct SearchOptions {
    /// Number of results (1 to 1000).
    #[cfg_attr(feature = "cli", arg(short, default_value_t = DEFAULT_K, value_parser = parse_k))]
    pub k: usize,
    /// Candidates reranked with Sinkhorn (1 to 5000); default: the site's build setting.
    #[cfg_attr(feature = "cli", arg(long, value_parser = parse_rerank_k))]
    pub rerank_k: Option<usize>,
    /// Share of the image that may be any color (0 to 0.99): "these colors, the rest is anything".
    /// The query's colors then need to match only the rest (URL `any`).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 0.0, value_parser = parse_any))]
    pub any: f64,
    /// Colors to avoid, up to 3: RRGGBB or RRGGBB:ΔE (tolerance, default 15). An image with more
    /// than 1% of its pixels within the tolerance of one is left out (URL `not`).
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ',', value_parser = Excluded::parse))]
    pub exclude: Vec<Excluded>,
    /// Which images may be returned (text, folder, tags, dates, orientation; filter.rs).
    #[cfg_attr(feature = "cli", command(flatten))]
    pub filter: Filter,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self { k: DEFAULT_K, rerank_k: None, any: 0.0, exclude: Vec::new(), filter: Filter::default() }
    }
}

impl SearchOptions {
    /// Sets the option named `key` (its URL / JS API key) from text. `Ok(false)`: no option has
    /// that key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, QueryError> {
        match key {
            "k" => self.k = parse_k(value)?,
            "rerank_k" => self.rerank_k = Some(parse_rerank_k(value)?),
            "any" => self.any = parse_any(value)?,
            // `not` in URLs, `exclude` in the JS API and the CLI.
            "not" | "exclude" => self.exclude = parse_excluded_list(value)?,
            // `q` in URLs, `text` in the JS API and the CLI.
            "q" | "text" => self.filter.text = value.to_string(),
            "folder" => self.filter.folder = value.to_string(),
            // Folded, as they match (and as the URL writes them back).
            "tags" => {
                self.filter.tags.clear();
                for tag in split_list(value).into_iter().map(fold_tag).filter(|t| !t.is_empty()) {
                    if !self.filter.tags.contains(&tag) {
                        self.filter.tags.push(tag);
                    }
                }
            }
            "from" => self.filter.from = value.trim().to_string(),
            "to" => self.filter.to = value.trim().to_string(),
            "orientation" => {
                self.filter.orientation = match value.trim() {
                    "" | "any" => None,
                    v => Some(
                        Orientation::parse(v)
                            .ok_or_else(|| QueryError::BadFilter(format!("orientation must be landscape, portrait or square, got {:?}", clip(v))))?,
                    ),
                }
            }
            _ => return Ok(false),
        }
        if let Some(problem) = self.filter.problem() {
            return Err(QueryError::BadFilter(problem));
        }
        Ok(true)
    }

    /// The options as URL pairs, in canonical order: `k` always, the others when set.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![("k", self.k.to_string())];
        if let Some(r) = self.rerank_k {
            pairs.push(("rerank_k", r.to_string()));
        }
        if self.any != 0.0 {
            pairs.push(("any", format_weight(self.any)));
        }
        if !self.exclude.is_empty() {
            pairs.push(("not", self.exclude.iter().map(Excluded::to_text).collect::<Vec<_>>().join(",")));
        }
        let f = &self.filter;
        for (key, value) in [("q", &f.text), ("folder", &f.folder), ("from", &f.from), ("to", &f.to)] {
            if !value.is_empty() {
                pairs.push((key, percent_encode(value)));
            }
        }
        // Folded (as they match): a tag's own commas cannot survive a comma-separated list.
        let tags: Vec<String> = f.tags.iter().map(|t| fold_tag(t)).filter(|t| !t.is_empty()).collect();
        if !tags.is_empty() {
            pairs.push(("tags", tags.iter().map(|t| percent_encode(t)).collect::<Vec<_>>().join(",")));
        }
        if let Some(o) = f.orientation {
            pairs.push(("orientation", o.as_str().to_string()));
        }
        pairs
    }

    /// The same rules as [`SearchOptions::set`], for options that arrive already typed (serde).
    /// (Checked on the values, not through their text: formatting floats would cost the wasm.)
    pub fn validate(&self) -> Result<(), QueryError> {
        let range = QueryError::OutOfRange;
        if !(1..=MAX_K).contains(&self.k) {
            return Err(range("k must be a whole number from 1 to 1000"));
        }
        if self.rerank_k.is_some_and(|r| !(1..=MAX_RERANK_K).contains(&r)) {
            return Err(range("rerank_k must be a whole number from 1 to 5000"));
        }
        if !(0.0..=MAX_ANY).contains(&self.any) {
            return Err(range("any must be a share from 0 to 0.99"));
        }
        if self.exclude.len() > MAX_EXCLUDED {
            return Err(QueryError::TooManyExcluded(self.exclude.len()));
        }
        if self.exclude.iter().any(|e| !(1.0..=100.0).contains(&e.tolerance)) {
            return Err(range("the tolerance of a color to avoid must be from 1 to 100 ΔE"));
        }
        match self.filter.problem() {
            Some(problem) => Err(QueryError::BadFilter(problem)),
            None => Ok(()),
        }
    }
}

/// A filter in the URL's form (`folder=docs/intro&tags=diagram`, percent-encoded): an embed's
/// `data-filter`, `eval --filter`. Only the filter keys (`q`/`text`, `folder`, `tags`, `from`,
/// `to`, `orientation`) are accepted.
pub fn parse_filter(text: &str) -> Result<Filter, QueryError> {
    if text.len() > MAX_TEXT {
        return Err(QueryError::TooLong);
    }
    let mut options = SearchOptions::default();
    for pair in text.strip_prefix('#').unwrap_or(text).split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !["q", "text", "folder", "tags", "from", "to", "orientation"].contains(&key) || !options.set(key, &percent_decode(value))? {
            return Err(QueryError::UnknownParameter(clip(key)));
        }
    }
    Ok(options.filter)
}

/// A color query and its options: what the page's URL fragment and the JS API describe,
/// `#colors=FF0000,00FF00&weights=0.7,0.3&k=20&q=iceland`. The colors may be left out when a
/// filter is given: the filter's images then come in the index's order.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlState {
    pub query: Option<Query>,
    pub options: SearchOptions,
}

impl UrlState {
    /// Parses a URL fragment (with or without the leading `#`). Values may be percent-encoded
    /// (`%23` for `#`).
    pub fn parse(fragment: &str) -> Result<Self, QueryError> {
        if fragment.len() > MAX_TEXT {
            return Err(QueryError::TooLong);
        }
        let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
        let pairs = fragment.split('&').filter(|p| !p.is_empty()).map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key.to_string(), percent_decode(value))
        });
        Self::from_pairs(pairs)
    }

    /// The one parser of keyed queries (URL fragment, JS API object): `colors` (required unless
    /// a filter is given), `weights`, and the [`SearchOptions`] keys. Unknown keys are refused, so a typo is reported
    /// instead of silently ignored.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, QueryError> {
        let (mut colors, mut weights, mut options) = (None, None, SearchOptions::default());
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref());
            if value.len() > MAX_TEXT {
                return Err(QueryError::TooLong);
            }
            match key {
                "colors" => colors = Some(value.to_string()),
                "weights" => weights = Some(value.to_string()),
                other => {
                    if !options.set(other, value)? {
                        return Err(QueryError::UnknownParameter(clip(other)));
                    }
                }
            }
        }
        let query = match colors {
            Some(colors) => Some(Query::parse(&colors, weights.as_deref())?),
            None if options.filter.is_empty() => return Err(QueryError::NoColors),
            None => None,
        };
        Ok(Self { query, options })
    }

    /// The canonical fragment (without `#`), weights rounded to 4 decimals.
    pub fn to_fragment(&self) -> String {
        let mut pairs: Vec<String> = Vec::new();
        if let Some(query) = &self.query {
            let weights: Vec<String> = query.weights.iter().map(|w| format_weight(*w)).collect();
            pairs.push(format!("colors={}&weights={}", query.hex_colors().join(","), weights.join(",")));
        }
        pairs.extend(self.options.to_pairs().into_iter().map(|(key, value)| format!("{key}={value}")));
        pairs.join("&")
    }
}

fn format_weight(w: f64) -> String {
    let s = format!("{:.4}", w);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() {
        "0".into()
    } else {
        s.into()
    }
}

/// Decodes `%XX` escapes; invalid escapes and non-UTF-8 results are kept literally (then rejected
/// by validation with a message quoting them).
/// Text as a fragment value: bytes other than letters, digits and `-_.~/` as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let q = Query::parse("FF0000, #00ff00", Some("7,3")).unwrap();
        assert_eq!(q.colors(), &[[255, 0, 0], [0, 255, 0]]);
        assert!((q.weights()[0] - 0.7).abs() < 1e-12);
        let eq = Query::parse("FF0000,0000FF", None).unwrap();
        assert_eq!(eq.weights(), &[0.5, 0.5]);
    }

    #[test]
    fn rejects_with_reasons() {
        assert_eq!(Query::parse("", None), Err(QueryError::NoColors));
        assert_eq!(Query::parse("F00", None), Err(QueryError::BadHex("F00".into())));
        assert_eq!(Query::parse("FF0000", Some("0")), Err(QueryError::WeightOutOfRange(0.0)));
        assert!(matches!(Query::parse("FF0000", Some("NaN")), Err(QueryError::WeightOutOfRange(_))));
        assert!(matches!(Query::parse("FF0000", Some("inf")), Err(QueryError::WeightOutOfRange(_))));
        assert_eq!(Query::parse("FF0000", Some("x")), Err(QueryError::BadWeight("x".into())));
        assert_eq!(Query::parse("FF0000,00FF00", Some("1")), Err(QueryError::CountMismatch { colors: 2, weights: 1 }));
        assert_eq!(Query::parse("1,2,3,4,5,6", None), Err(QueryError::TooManyColors(6)));
        // Huge finite weights whose sum overflows.
        assert!(Query::parse("FF0000,00FF00", Some("1e308,1e308")).is_err());
    }

    #[test]
    fn url_state_round_trip() {
        let s = UrlState::parse("#colors=FF0000,00FF00&weights=0.7,0.3&k=20").unwrap();
        assert_eq!(s.options.k, 20);
        assert_eq!(s.to_fragment(), "colors=FF0000,00FF00&weights=0.7,0.3&k=20");
        let encoded = UrlState::parse("colors=%23ff0000").unwrap();
        assert_eq!(encoded.query.unwrap().colors(), &[[255, 0, 0]]);
        assert_eq!(encoded.options, SearchOptions::default());
        assert!(matches!(UrlState::parse("colors=FF0000&k=0"), Err(QueryError::BadK(_))));
        assert!(matches!(UrlState::parse("colors=FF0000&k=1001"), Err(QueryError::BadK(_))));
        assert_eq!(UrlState::parse("colors=FF0000&k=1000").unwrap().options.k, 1000);
        assert!(matches!(UrlState::parse("colours=FF0000"), Err(QueryError::UnknownParameter(_))));
        assert!(UrlState::parse("colors=%").is_err());
        assert!(UrlState::parse("colors=%E2%82").is_err());
        let tuned = UrlState::parse("colors=FF0000&rerank_k=400&k=5").unwrap();
        assert_eq!(tuned.options, SearchOptions { k: 5, rerank_k: Some(400), ..Default::default() });
        assert_eq!(tuned.to_fragment(), "colors=FF0000&weights=1&k=5&rerank_k=400");
        assert!(matches!(UrlState::parse("colors=FF0000&rerank_k=0"), Err(QueryError::BadRerankK(_))));
    }

    #[test]
    fn keyed_pairs_and_fragments_share_one_parser() {
        let pairs = [("colors", "FF0000,00FF00"), ("weights", "0.7,0.3"), ("k", "20")];
        assert_eq!(UrlState::from_pairs(pairs).unwrap(), UrlState::parse("colors=FF0000,00FF00&weights=0.7,0.3&k=20").unwrap());
        assert_eq!(UrlState::from_pairs([("colors", "FF0000"), ("kk", "1")]), Err(QueryError::UnknownParameter("kk".into())));
        assert_eq!(UrlState::from_pairs([("colors", "FF0000".repeat(1000))]), Err(QueryError::TooLong));
    }

    #[test]
    fn typed_options_are_held_to_the_same_rules() {
        assert!(SearchOptions::default().validate().is_ok());
        assert!(SearchOptions { k: 0, ..Default::default() }.validate().unwrap_err().to_string().starts_with("k must be"));
        assert!(SearchOptions { rerank_k: Some(0), ..Default::default() }.validate().unwrap_err().to_string().starts_with("rerank_k must be"));
        assert!(SearchOptions { any: 1.0, ..Default::default() }.validate().unwrap_err().to_string().starts_with("any must be"));
        let avoid = |tolerance| vec![Excluded { color: [0, 255, 0], tolerance }];
        assert!(SearchOptions { exclude: avoid(0.0), ..Default::default() }.validate().is_err());
        assert!(SearchOptions { exclude: avoid(15.0), ..Default::default() }.validate().is_ok());
        let json: Result<SearchOptions, _> = serde_json::from_str(r#"{"k": 5, "rerankk": 3}"#);
        assert!(json.is_err(), "unknown fields are refused");
    }

    #[test]
    fn filters_ride_in_the_fragment() {
        let s = UrlState::parse("q=Sk%C3%B3gafoss%20falls&folder=2023/iceland&tags=sea,sky&from=2023&to=2024-06&orientation=portrait").unwrap();
        assert!(s.query.is_none(), "colors are optional with a filter");
        assert_eq!(s.options.filter.text, "Skógafoss falls");
        assert_eq!(s.options.filter.tags, ["sea", "sky"]);
        assert_eq!(s.options.filter.orientation, Some(Orientation::Portrait));
        let again = UrlState::parse(&s.to_fragment()).unwrap();
        assert_eq!(again, s);
        assert_eq!(s.to_fragment(), "k=10&q=Sk%C3%B3gafoss%20falls&folder=2023/iceland&from=2023&to=2024-06&tags=sea,sky&orientation=portrait");
        let comma = SearchOptions { filter: Filter { tags: vec!["Rock, Paper".into()], ..Default::default() }, ..Default::default() };
        let fragment = UrlState { query: None, options: comma }.to_fragment();
        assert_eq!(UrlState::parse(&fragment).unwrap().options.filter.tags, ["rock paper"], "{fragment}");
        assert_eq!(parse_filter("folder=docs%2Fintro&tags=a,b").unwrap().tags, ["a", "b"]);
        assert_eq!(parse_filter("folder=docs%2Fintro").unwrap().folder, "docs/intro");
        assert!(parse_filter("colors=FF0000").is_err());
        assert_eq!(UrlState::parse("k=5"), Err(QueryError::NoColors));
        assert!(matches!(UrlState::parse("q=a&from=2023-13-01"), Err(QueryError::BadFilter(_))));
        assert!(matches!(UrlState::parse("q=a&orientation=round"), Err(QueryError::BadFilter(_))));
        let with_colors = UrlState::parse("colors=FF0000&q=a%26b%3Dc").unwrap();
        assert_eq!(with_colors.options.filter.text, "a&b=c");
        assert_eq!(UrlState::parse(&with_colors.to_fragment()).unwrap(), with_colors);
    }
}

//! Filters: which images a query may return, by what the collection says of them (words of titles,
//! captions, tags, file and folder names; the folder; tags; the date; the orientation).
//!
//! An index answers filters from **terms**: every image contributes a handful of strings, and the
//! index keeps, for each term, the sorted ids of the images that have it (its posting list, in
//! term chunks sorted by term: bundle.rs). This module is the one definition of both sides:
//! [`terms_of`] says which terms an image has (the build), and [`Filter::criteria`] turns a query's
//! filter into spans of terms (the search): an image passes when, for every criterion, it has a
//! term in one of the criterion's spans. Terms of one kind share a prefix, so each kind is a
//! contiguous run of the sorted terms:
//!
//! | term | what | a filter matches |
//! |---|---|---|
//! | `word` | a folded word ([`fold_words`]) of the title, caption, tags, extra fields, file name and folder names | `text`: every word (the last one as a prefix, as people type) |
//! | `\u{1}f` + `a/b/` | each folder the image is in, with its ancestors (as written; case matters) | `folder`: the subtree |
//! | `\u{1}t` + tag | each tag, folded | `tags`: any of them |
//! | `\u{1}d` + `YYYY[-MM[-DD]]` | the date (the sidecar's, else EXIF's date taken) | `from`/`to`: the dates between, inclusive, at the given precision |
//! | `\u{1}o` + `l`/`p`/`s` | landscape, portrait or square (sides within 2%) | `orientation` |
//!
//! Folding is lowercase with accents removed, so "Skógafoss" and "SKOGAFOSS" are one word. It is
//! written out here for Latin (ASCII, Latin-1, Latin Extended-A), Greek and Cyrillic capitals,
//! rather than with Unicode's case tables, which would cost the wasm ~12 KB; other scripts match
//! as written. Words are runs of letters and digits; a run without spaces (as in Chinese or
//! Japanese) is one word, and the prefix rule lets a visitor type its start.

use serde::{Deserialize, Serialize};

/// Terms of kinds other than words start with this (it sorts before every word).
pub const KIND_MARK: char = '\u{1}';
const FOLDER: &str = "\u{1}f";
const TAG: &str = "\u{1}t";
const DATE: &str = "\u{1}d";
const ORIENTATION: &str = "\u{1}o";
/// Longest word kept, in characters (longer ones are cut; the query's are cut the same way).
pub const MAX_WORD: usize = 32;
/// Most words a text filter may have.
pub const MAX_FILTER_WORDS: usize = 8;
/// Most tags a filter may name.
pub const MAX_FILTER_TAGS: usize = 10;
/// Longest filter value accepted (bytes).
pub const MAX_FILTER_TEXT: usize = 256;

/// Landscape, portrait or square: the image's displayed sides, square when within 2%.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Orientation {
    Landscape,
    Portrait,
    Square,
}

impl Orientation {
    pub fn of(width: u32, height: u32) -> Option<Self> {
        if width == 0 || height == 0 {
            return None;
        }
        let (w, h) = (width as u64, height as u64);
        Some(if w * 50 > h * 51 {
            Self::Landscape
        } else if h * 50 > w * 51 {
            Self::Portrait
        } else {
            Self::Square
        })
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "landscape" => Some(Self::Landscape),
            "portrait" => Some(Self::Portrait),
            "square" => Some(Self::Square),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Landscape => "landscape",
            Self::Portrait => "portrait",
            Self::Square => "square",
        }
    }

    fn term(self) -> String {
        format!("{ORIENTATION}{}", &self.as_str()[..1])
    }
}

/// Latin-1 Supplement U+00C0..=U+00FF folded (`*`: not a letter).
const LATIN1: &[u8; 64] = b"aaaaaaaceeeeiiiidnooooo*ouuuuytsaaaaaaaceeeeiiiidnooooo*ouuuuyty";
/// Latin Extended-A U+0100..=U+017F folded.
const LATIN_EXT_A: &[u8; 128] =
    b"aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkkllllllllllnnnnnnnnnoooooooorrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

/// The folded form of `c`, or `None` if it separates words.
pub fn fold_char(c: char) -> Option<char> {
    let u = c as u32;
    match u {
        0x30..=0x39 | 0x61..=0x7A => Some(c),
        0x41..=0x5A => Some((u as u8 + 32) as char),
        0..=0x7F => None,
        0xC0..=0xFF => match LATIN1[(u - 0xC0) as usize] {
            b'*' => None,
            b => Some(b as char),
        },
        0x100..=0x17F => Some(LATIN_EXT_A[(u - 0x100) as usize] as char),
        // Greek and Cyrillic capitals.
        0x391..=0x3A9 | 0x410..=0x42F => char::from_u32(u + 32),
        0x400..=0x40F => char::from_u32(u + 80),
        // Controls, Latin-1 punctuation, general punctuation and symbols, CJK punctuation,
        // variation selectors, full-width punctuation, emoji and private use.
        0x80..=0xBF | 0x2000..=0x2BFF | 0x3000..=0x303F | 0xFE00..=0xFE0F | 0xFF00..=0xFF0F | 0x1F000.. => None,
        // Other spaces (Ogham's, for one): a small table.
        _ if c.is_whitespace() => None,
        _ => Some(c),
    }
}

/// The folded words of `text`, in order (each cut to [`MAX_WORD`] characters).
pub fn fold_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = 0;
    for c in text.chars().chain(std::iter::once(' ')) {
        match fold_char(c) {
            Some(f) if chars < MAX_WORD => {
                word.push(f);
                chars += 1;
            }
            Some(_) => {}
            None if !word.is_empty() => {
                words.push(std::mem::take(&mut word));
                chars = 0;
            }
            None => {}
        }
    }
    words
}

/// A tag as terms and filters compare it: its folded words joined by single spaces.
pub fn fold_tag(tag: &str) -> String {
    fold_words(tag).join(" ")
}

/// A folder as a filter names it: `a/b/` (no leading slash, one trailing slash); `""` is the root.
pub fn folder_key(folder: &str) -> String {
    let parts: Vec<&str> = folder.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{}/", parts.join("/"))
    }
}

/// Whether `date` is `YYYY`, `YYYY-MM` or `YYYY-MM-DD` with a month 01–12 and a day 01–31.
pub fn valid_date(date: &str) -> bool {
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let two = |at: usize| (b[at] - b'0') * 10 + (b[at + 1] - b'0');
    match b.len() {
        4 => digits(0..4),
        7 => digits(0..4) && b[4] == b'-' && digits(5..7) && (1..=12).contains(&two(5)),
        10 => {
            digits(0..4) && b[4] == b'-' && digits(5..7) && (1..=12).contains(&two(5)) && b[7] == b'-' && digits(8..10) && (1..=31).contains(&two(8))
        }
        _ => false,
    }
}

/// What the index knows of one image for its terms.
pub struct ImageFacts<'a> {
    /// Path relative to the images folder, `/`-separated.
    pub path: &'a str,
    pub title: &'a str,
    pub caption: &'a str,
    pub tags: &'a [String],
    /// Values of the sidecar's other fields (words only).
    pub extra: &'a [(String, String)],
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, or empty.
    pub date: &'a str,
    pub width: u32,
    pub height: u32,
}

/// The terms of an image, sorted and without duplicates (see the module's table).
pub fn terms_of(facts: &ImageFacts<'_>) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let (folders, file) = facts.path.rsplit_once('/').unwrap_or(("", facts.path));
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    for text in [facts.title, facts.caption, stem, folders].into_iter().chain(facts.tags.iter().map(String::as_str)) {
        terms.extend(fold_words(text));
    }
    for (_, value) in facts.extra {
        terms.extend(fold_words(value));
    }
    let mut folder = String::new();
    for part in folders.split('/').filter(|p| !p.is_empty()) {
        folder.push_str(part);
        folder.push('/');
        terms.push(format!("{FOLDER}{folder}"));
    }
    for tag in facts.tags {
        let tag = fold_tag(tag);
        if !tag.is_empty() {
            terms.push(format!("{TAG}{tag}"));
        }
    }
    if valid_date(facts.date) {
        terms.push(format!("{DATE}{}", facts.date));
    }
    if let Some(o) = Orientation::of(facts.width, facts.height) {
        terms.push(o.term());
    }
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// A facet a page can offer as a chip: a folder (`a/b/`) or a tag (folded), from a term.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Facet {
    Folder(String),
    Tag(String),
}

impl Facet {
    pub fn of_term(term: &str) -> Option<Self> {
        if let Some(f) = term.strip_prefix(FOLDER) {
            Some(Self::Folder(f.to_string()))
        } else {
            term.strip_prefix(TAG).map(|t| Self::Tag(t.to_string()))
        }
    }

    pub fn term(&self) -> String {
        match self {
            Self::Folder(f) => format!("{FOLDER}{f}"),
            Self::Tag(t) => format!("{TAG}{t}"),
        }
    }
}

/// A run of sorted terms: `lo <= term <= hi`, and with `prefix`, also every term starting with
/// `hi` (so `{p, p, prefix}` is "starts with p" and `{t, t, exact}` is just `t`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermSpan {
    pub lo: String,
    pub hi: String,
    pub prefix: bool,
}

impl TermSpan {
    fn exact(term: String) -> Self {
        Self { lo: term.clone(), hi: term, prefix: false }
    }

    fn starting(prefix: String) -> Self {
        Self { lo: prefix.clone(), hi: prefix, prefix: true }
    }

    pub fn contains(&self, term: &str) -> bool {
        term >= self.lo.as_str() && (term <= self.hi.as_str() || (self.prefix && term.starts_with(self.hi.as_str())))
    }

    /// Whether a term at or after `first` may be in the span (for finding chunks).
    pub fn reaches(&self, first: &str) -> bool {
        first <= self.hi.as_str() || (self.prefix && first.starts_with(self.hi.as_str()))
    }
}

/// The filter part of a query: every set field must hold. Part of `SearchOptions` (query.rs), which
/// owns the keys and the parsing; this is what the values mean.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct Filter {
    /// Only images whose title, caption, tags, file or folder names have every word (the last
    /// one as a prefix); case and accents do not matter (URL `q`).
    #[cfg_attr(feature = "cli", arg(long, default_value = ""))]
    pub text: String,
    /// Only images in this folder or below it, e.g. 2023/iceland.
    #[cfg_attr(feature = "cli", arg(long, default_value = ""))]
    pub folder: String,
    /// Only images with any of these tags (comma-separated).
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ','))]
    pub tags: Vec<String>,
    /// Only images dated on or after this: YYYY, YYYY-MM or YYYY-MM-DD.
    #[cfg_attr(feature = "cli", arg(long, default_value = ""))]
    pub from: String,
    /// Only images dated on or before this (inclusive at its precision: 2023 is all of 2023).
    #[cfg_attr(feature = "cli", arg(long, default_value = ""))]
    pub to: String,
    /// Only landscape, portrait or square images.
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub orientation: Option<Orientation>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.criteria().is_empty()
    }

    /// The criteria: each a list of spans, any of which an image's terms must meet.
    pub fn criteria(&self) -> Vec<Vec<TermSpan>> {
        let mut all = Vec::new();
        let words = fold_words(&self.text);
        let last_typed = self.text.chars().last().is_some_and(|c| fold_char(c).is_some());
        for (i, word) in words.iter().enumerate() {
            let last = i + 1 == words.len();
            // A word the visitor is still typing matches as a prefix; a finished one (followed by
            // a space or punctuation), and one cut to MAX_WORD, only as itself... or longer words
            // that were cut the same way.
            all.push(vec![if last && last_typed || word.chars().count() == MAX_WORD {
                TermSpan::starting(word.clone())
            } else {
                TermSpan::exact(word.clone())
            }]);
        }
        let folder = folder_key(&self.folder);
        if !folder.is_empty() {
            all.push(vec![TermSpan::exact(format!("{FOLDER}{folder}"))]);
        }
        let tags: Vec<TermSpan> =
            self.tags.iter().map(|t| fold_tag(t)).filter(|t| !t.is_empty()).map(|t| TermSpan::exact(format!("{TAG}{t}"))).collect();
        if !tags.is_empty() {
            all.push(tags);
        }
        if !self.from.is_empty() || !self.to.is_empty() {
            // Every date term sorts between "\u{1}d" and "\u{1}d" + "9999-99-99".
            let lo = format!("{DATE}{}", self.from);
            let hi = if self.to.is_empty() { format!("{DATE}9999-99-99") } else { format!("{DATE}{}", self.to) };
            let mut spans = vec![TermSpan { lo, hi, prefix: true }];
            // A date of coarser precision overlaps the range when it contains `from` (2023 and
            // 2023-03 overlap from=2023-03-15): they sort before it, so they are named.
            for cut in [4, 7] {
                if let Some(coarser) = self.from.get(..cut).filter(|_| self.from.len() > cut) {
                    spans.push(TermSpan::exact(format!("{DATE}{coarser}")));
                }
            }
            all.push(spans);
        }
        if let Some(o) = self.orientation {
            all.push(vec![TermSpan::exact(o.term())]);
        }
        all
    }

    /// This filter within `fixed` (an embed's own filter): every field `fixed` sets is its.
    pub fn under(mut self, fixed: &Filter) -> Filter {
        if !fixed.text.is_empty() {
            self.text = if self.text.trim().is_empty() { fixed.text.clone() } else { format!("{} {}", fixed.text, self.text) };
        }
        for (mine, theirs) in [(&mut self.folder, &fixed.folder), (&mut self.from, &fixed.from), (&mut self.to, &fixed.to)] {
            if !theirs.is_empty() {
                mine.clone_from(theirs);
            }
        }
        if !fixed.tags.is_empty() {
            self.tags.clone_from(&fixed.tags);
        }
        if fixed.orientation.is_some() {
            self.orientation = fixed.orientation;
        }
        self
    }

    /// Why this filter is not valid, if it is not (the same rules for text and typed input).
    pub fn problem(&self) -> Option<String> {
        if [&self.text, &self.folder, &self.from, &self.to].iter().any(|t| t.len() > MAX_FILTER_TEXT)
            || self.tags.iter().any(|t| t.len() > MAX_FILTER_TEXT)
        {
            return Some(format!("a filter value is longer than {MAX_FILTER_TEXT} bytes"));
        }
        if fold_words(&self.text).len() > MAX_FILTER_WORDS {
            return Some(format!("the text filter has more than {MAX_FILTER_WORDS} words"));
        }
        if self.tags.len() > MAX_FILTER_TAGS {
            return Some(format!("at most {MAX_FILTER_TAGS} tags, got {}", self.tags.len()));
        }
        for (key, date) in [("from", &self.from), ("to", &self.to)] {
            if !date.is_empty() && !valid_date(date) {
                return Some(format!("{key} must be a date YYYY, YYYY-MM or YYYY-MM-DD, got {:?}", crate::query::clip(date)));
            }
        }
        if !self.from.is_empty()
            && !self.to.is_empty()
            && self.from > self.to
            && !self.to.starts_with(self.from.as_str())
            && !self.from.starts_with(self.to.as_str())
        {
            return Some(format!("from ({}) is after to ({})", self.from, self.to));
        }
        None
    }
}

/// Whether an image with `terms` passes a filter of these `criteria` ([`Filter::criteria`]): for
/// every criterion, a term in one of its spans. The index answers this from posting lists; this is
/// the definition, for checks and benchmarks.
pub fn meets(criteria: &[Vec<TermSpan>], terms: &[String]) -> bool {
    criteria.iter().all(|c| c.iter().any(|span| terms.iter().any(|t| span.contains(t))))
}

/// The sorted ids in both sorted lists.
pub fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    let mut rest = large;
    for &x in small {
        let at = rest.partition_point(|&y| y < x);
        rest = &rest[at..];
        if rest.first() == Some(&x) {
            out.push(x);
        }
    }
    out
}

/// The sorted union of sorted lists.
pub fn union(lists: &[&[u32]]) -> Vec<u32> {
    let mut out: Vec<u32> = lists.iter().flat_map(|l| l.iter().copied()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_removes_case_and_accents() {
        assert_eq!(fold_words("Skógafoss, ICELAND: Þingvellir 2023"), ["skogafoss", "iceland", "tingvellir", "2023"]);
        assert_eq!(fold_words("Ærøskøbing — Łódź"), ["aroskobing", "lodz"]);
        assert_eq!(fold_words("МОСКВА Ёлка ΑΘΗΝΑ"), ["москва", "ёлка", "αθηνα"]);
        assert_eq!(fold_words("foo_bar-baz.jpg"), ["foo", "bar", "baz", "jpg"]);
        assert_eq!(fold_words("東京タワー 🗼"), ["東京タワー"]);
        assert_eq!(fold_words(&"x".repeat(100))[0].len(), MAX_WORD);
    }

    #[test]
    fn terms_cover_words_folders_tags_dates_and_orientation() {
        let tags = vec!["Water Fall".to_string()];
        let extra = vec![("artist".to_string(), "Claude Monet".to_string())];
        let facts = ImageFacts {
            path: "2023/Iceland/Skógafoss_01.jpg",
            title: "Falls",
            caption: "",
            tags: &tags,
            extra: &extra,
            date: "2023-07-14",
            width: 400,
            height: 300,
        };
        let terms = terms_of(&facts);
        for t in [
            "falls",
            "skogafoss",
            "01",
            "2023",
            "iceland",
            "water",
            "fall",
            "claude",
            "monet",
            "\u{1}f2023/",
            "\u{1}f2023/Iceland/",
            "\u{1}twater fall",
            "\u{1}d2023-07-14",
            "\u{1}ol",
        ] {
            assert!(terms.contains(&t.to_string()), "{t} in {terms:?}");
        }
        assert!(terms.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Orientation::of(1000, 1015), Some(Orientation::Square));
        assert_eq!(Orientation::of(300, 400), Some(Orientation::Portrait));
    }

    #[test]
    fn criteria_and_spans() {
        let f = Filter { text: "Blue sea".into(), ..Default::default() };
        let c = f.criteria();
        assert_eq!(c.len(), 2);
        assert!(c[0][0].contains("blue") && !c[0][0].contains("blues"));
        assert!(c[1][0].contains("sea") && c[1][0].contains("seal") && !c[1][0].contains("se"));
        // A finished last word is exact.
        assert!(!Filter { text: "sea ".into(), ..Default::default() }.criteria()[0][0].contains("seal"));
        let dates = Filter { from: "2023-03".into(), to: "2024".into(), ..Default::default() }.criteria();
        let span = &dates[0][0];
        assert!(span.contains("\u{1}d2023-03-01") && span.contains("\u{1}d2024-12-31") && span.contains("\u{1}d2024"));
        assert!(!span.contains("\u{1}d2023-02-28") && !span.contains("\u{1}d2025-01-01"));
        // Dates of another precision pass when they overlap the range.
        let meets = |date: &str| dates[0].iter().any(|s| s.contains(&format!("\u{1}d{date}")));
        assert!(meets("2023") && meets("2023-03") && meets("2024") && !meets("2023-02") && !meets("2022") && !meets("2025"));
        assert!(Filter { folder: "/a//b/".into(), ..Default::default() }.criteria()[0][0].contains("\u{1}fa/b/"));
        assert!(Filter::default().is_empty());
        assert!(Filter { from: "2023-13".into(), ..Default::default() }.problem().is_some());
        assert!(Filter { from: "2024".into(), to: "2023".into(), ..Default::default() }.problem().is_some());
        assert!(Filter { from: "2023".into(), to: "2023-06".into(), ..Default::default() }.problem().is_none());
    }

    #[test]
    fn set_operations() {
        assert_eq!(intersect(&[1, 3, 5, 9], &[2, 3, 9, 10]), [3, 9]);
        assert_eq!(union(&[&[1, 5], &[2, 5, 7]]), [1, 2, 5, 7]);
    }
}

//! What the search page shows before anyone has typed: the default query, the preset palettes
//! and the choices of result counts. The app (web/) draws its controls from these, and the
//! build pre-renders the page's first screen (the default query's results) from the same values,
//! so the two cannot drift apart.

use crate::filter::{fold_tag, Facet, Filter};
use crate::query::{QueryError, UrlState};
use crate::search::FacetCount;

/// The query of a page whose URL names none (a URL fragment, see [`UrlState`]).
pub const DEFAULT_FRAGMENT: &str = "colors=E4572E,F3A712&weights=0.6,0.4&k=20";

/// The result counts the page offers (a link may name any other valid `k`).
pub const K_CHOICES: [usize; 5] = [10, 20, 30, 50, 100];

/// Preset palettes: a name and its colors (hex, weight).
pub const PRESETS: &[(&str, &[(&str, f64)])] = &[
    ("Sunset", &[("E4572E", 0.6), ("F3A712", 0.4)]),
    ("Ocean", &[("0B3C5D", 0.5), ("328CC1", 0.3), ("D9E6F2", 0.2)]),
    ("Forest", &[("2D5016", 0.5), ("6B8F23", 0.3), ("A7C957", 0.2)]),
    ("Desert", &[("C2A878", 0.6), ("E3D5B8", 0.25), ("8B5E34", 0.15)]),
    ("Night", &[("0D1B2A", 0.7), ("415A77", 0.2), ("E0E1DD", 0.1)]),
];

/// Result thumbnails a page loads at once (about the first screen on a phone or a laptop); the
/// rest load lazily, as they scroll into view.
pub const EAGER_THUMBS: usize = 6;

/// The color the "avoid" picker starts at (a color input's value).
pub const DEFAULT_AVOID: &str = "#2E8B57";

/// The result counts offered: [`K_CHOICES`], plus `k` in its place when it is not one of them (a
/// link may name any valid k; the select then shows it instead of going blank).
pub fn k_choices(k: usize) -> Vec<usize> {
    let mut choices = K_CHOICES.to_vec();
    if !choices.contains(&k) {
        choices.push(k);
        choices.sort_unstable();
    }
    choices
}

/// What the filter bar's date fields accept: `filter::valid_date`'s dates, as an HTML pattern.
pub const DAY_PATTERN: &str = r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?";

/// One folder or tag button of the filter bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Chip {
    pub facet: Facet,
    /// What the button says: a folder's last part, a tag as the collection spells it.
    pub label: String,
    /// Images it would show (`None`: a chosen tag the response does not count).
    pub count: Option<u32>,
    /// A tag the filter has chosen.
    pub pressed: bool,
}

/// The filter bar's chips for a response's facets under `filter`: the chosen tags first (pressed),
/// then the subfolders and the other tags, as the response counts them.
pub fn chips(facets: &[FacetCount], filter: &Filter) -> Vec<Chip> {
    let chosen: Vec<String> = filter.tags.iter().map(|t| fold_tag(t)).filter(|t| !t.is_empty()).collect();
    let mut out: Vec<Chip> = chosen
        .iter()
        .map(|tag| {
            let counted = facets.iter().find(|f| f.facet() == Facet::Tag(tag.clone()));
            let label = counted.map_or_else(|| tag.clone(), |f| f.label.clone());
            Chip { facet: Facet::Tag(tag.clone()), label, count: counted.map(|f| f.count), pressed: true }
        })
        .collect();
    for f in facets {
        let facet = f.facet();
        let label = match &facet {
            Facet::Tag(t) if chosen.contains(t) => continue,
            Facet::Tag(_) => f.label.clone(),
            Facet::Folder(path) => path.trim_end_matches('/').rsplit('/').next().unwrap_or(path).to_string(),
        };
        out.push(Chip { facet, label, count: Some(f.count), pressed: false });
    }
    out
}

/// [`DEFAULT_FRAGMENT`], parsed.
pub fn default_state() -> Result<UrlState, QueryError> {
    UrlState::parse(DEFAULT_FRAGMENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let state = default_state().unwrap();
        assert_eq!(UrlState::parse(&state.to_fragment()).unwrap(), state);
        assert!(K_CHOICES.contains(&state.options.k));
        for (_, colors) in PRESETS {
            let hex: Vec<&str> = colors.iter().map(|c| c.0).collect();
            let weights: Vec<f64> = colors.iter().map(|c| c.1).collect();
            crate::Query::from_strings(&hex, Some(&weights)).unwrap();
        }
    }
}

//! What the search page shows before anyone has typed: the default query, the preset palettes
//! and the choices of result counts. The app (web/) draws its controls from these, and the
//! build pre-renders the page's first screen (the default query's results) from the same values,
//! so the two cannot drift apart.

use crate::query::{QueryError, UrlState};

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

//! The query being edited, and its round trip through the URL fragment.

use chromatica_core::color::{parse_hex, to_hex};
use chromatica_core::query::{SearchOptions, UrlState, MAX_COLORS};
use chromatica_core::{Query, QueryError};

/// One color row of the editor; `weight` is the slider value (1..=100), normalised when searching.
#[derive(Clone, Debug, PartialEq)]
pub struct ColorRow {
    pub key: u32,
    pub hex: String,
    pub weight: f64,
}

/// Rows -> a validated query (the error says what's wrong, quoting the bad text).
pub fn query_of(rows: &[ColorRow]) -> Result<Query, QueryError> {
    let colors: Vec<&str> = rows.iter().map(|r| r.hex.as_str()).collect();
    let weights: Vec<f64> = rows.iter().map(|r| r.weight).collect();
    Query::from_strings(&colors, Some(&weights))
}

/// Rows and options -> what the URL and the JS API describe: no rows is no colors (valid only
/// with a filter: its images in the index's order).
pub fn state_of(rows: &[ColorRow], options: &SearchOptions) -> Result<UrlState, QueryError> {
    let query = if rows.is_empty() && !options.filter.is_empty() { None } else { Some(query_of(rows)?) };
    Ok(UrlState { query, options: options.clone() })
}

/// The query in a URL fragment; the open result (`open=ID`, the detail view's) is not part of it.
pub fn parse_fragment(fragment: &str) -> Result<UrlState, QueryError> {
    UrlState::parse(&split_open(fragment).0)
}

/// A URL fragment without its `open=ID` pair, and that id (when it is a number).
pub fn split_open(fragment: &str) -> (String, Option<u32>) {
    let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
    let mut open = None;
    let rest: Vec<&str> = fragment
        .split('&')
        .filter(|pair| match pair.strip_prefix("open=") {
            Some(id) => {
                open = id.parse().ok();
                false
            }
            None => !pair.is_empty(),
        })
        .collect();
    (rest.join("&"), open)
}

/// Shares of the total weight, in percent, for display.
pub fn percentages(rows: &[ColorRow]) -> Vec<f64> {
    let total: f64 = rows.iter().map(|r| r.weight.max(0.0)).sum();
    rows.iter().map(|r| if total > 0.0 { r.weight.max(0.0) / total * 100.0 } else { 0.0 }).collect()
}

/// `#RRGGBB` for a color input, or black when the text is not (yet) a color.
pub fn picker_value(hex: &str) -> String {
    parse_hex(hex).map(|c| format!("#{}", to_hex(c).to_ascii_lowercase())).unwrap_or_else(|| "#000000".into())
}

pub fn can_add(rows: &[ColorRow]) -> bool {
    rows.len() < MAX_COLORS
}

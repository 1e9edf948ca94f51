//! Any text -> the query and URL parsers return a query or a message; valid queries histogram.
#![no_main]
use chromatica_core::query::UrlState;
use chromatica_core::Query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (colors, weights) = text.split_once('|').unwrap_or((&text, ""));
    if let Ok(q) = Query::parse(colors, (!weights.is_empty()).then_some(weights)) {
        assert!((q.histogram().total() - 1.0).abs() < 1e-9);
    }
    if let Ok(state) = UrlState::parse(&text) {
        let again = UrlState::parse(&state.to_fragment()).expect("canonical fragments parse");
        assert_eq!(again.options, state.options);
        assert_eq!(again.query.as_ref().map(|q| q.colors().to_vec()), state.query.as_ref().map(|q| q.colors().to_vec()));
    }
});

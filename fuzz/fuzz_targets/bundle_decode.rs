//! Any bytes -> `Bundle::from_bytes` must return Ok or a clear error: no panic, hang or huge allocation.
//! A decoded bundle must also search without panicking.
#![no_main]
use chromatica_core::bundle::Bundle;
use chromatica_core::search::{Engine, SearchRequest, Source};
use chromatica_core::Query;
use chromatica_core::SearchOptions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Valid-looking headers get past the magic check more often.
    let mut framed = b"CHROMBDL\x01\x00\x00\x00".to_vec();
    framed.extend_from_slice(data);
    for bytes in [data, &framed[..]] {
        if let Ok(b) = Bundle::from_bytes(bytes) {
            let mut engine = Engine::new(b);
            let q = Query::parse("FF0000,00FF00", None).unwrap();
            let options = SearchOptions { k: 5, rerank_k: Some(20), ..Default::default() };
            let _ = engine.search(&SearchRequest { source: Source::colors(&q), options: options.clone() }, &|| 0.0);
            let _ = engine.search(&SearchRequest { source: Source::Similar { image: 0 }, options }, &|| 0.0);
        }
    }
});

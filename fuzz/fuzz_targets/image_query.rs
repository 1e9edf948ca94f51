//! Any bytes dropped on the page as an example image -> a histogram, "not mine" or a message:
//! no panic, no unbounded allocation (the decoder has limits), and a histogram always has unit mass.
#![no_main]
use chromatica_core::query_image::histogram_of_encoded;
use chromatica_core::BackgroundMode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(h)) = histogram_of_encoded(data, BackgroundMode::Ignore) {
        assert!((h.total() - 1.0).abs() < 1e-9);
    }
});

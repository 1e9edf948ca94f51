//! Properties that must hold for any input.

use chromatica_core::bundle::{self, Head, Page};
use chromatica_core::histogram::{image_histogram, Histogram, HistogramError, MIN_ALPHA};
use chromatica_core::query::UrlState;
use chromatica_core::resize::RgbaImage;
use chromatica_core::{BackgroundMode, Query};
use proptest::prelude::*;

proptest! {
    #[test]
    fn query_parser_never_panics(colors in ".{0,64}", weights in proptest::option::of(".{0,32}")) {
        let _ = Query::parse(&colors, weights.as_deref());
    }

    #[test]
    fn url_parser_never_panics(fragment in ".{0,128}") {
        let _ = UrlState::parse(&fragment);
    }

    #[test]
    fn query_histograms_have_unit_mass(
        colors in proptest::collection::vec(any::<[u8; 3]>(), 1..=5),
        raw in proptest::collection::vec(0.001f64..1000.0, 5),
    ) {
        let weights = raw[..colors.len()].to_vec();
        let q = Query::new(colors, Some(weights)).unwrap();
        let h = q.histogram();
        prop_assert!((h.total() - 1.0).abs() < 1e-9);
        prop_assert!(h.as_slice().iter().all(|&m| m >= 0.0));
        prop_assert!((q.weights().iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn image_histograms_have_unit_mass_or_a_reason(w in 1u32..40, h in 1u32..40, seed in any::<u64>(), ignore in any::<bool>()) {
        let mut state = seed | 1;
        let pixels: Vec<u8> = (0..w * h * 4).map(|_| { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state as u8 }).collect();
        // Small enough not to be downscaled: the histogram fails exactly when no pixel counts.
        let counted = pixels.chunks_exact(4).any(|p| p[3] >= MIN_ALPHA);
        let mode = if ignore { BackgroundMode::Ignore } else { BackgroundMode::Keep };
        match image_histogram(&RgbaImage::new(w, h, pixels).unwrap(), mode) {
            Ok(r) => prop_assert!(counted && (r.histogram.total() - 1.0).abs() < 1e-9),
            Err(e) => prop_assert!(!counted && e == HistogramError::FullyTransparent, "{}", e),
        }
    }

    #[test]
    fn index_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for magic in [bundle::HEAD_MAGIC, bundle::PAGE_MAGIC] {
            let mut framed = magic.to_vec();
            framed.extend_from_slice(&bundle::FORMAT_VERSION.to_le_bytes());
            framed.extend_from_slice(&bytes);
            prop_assert!(Head::from_bytes(&framed).is_err());
            prop_assert!(Page::from_bytes(&framed, 3, BackgroundMode::Keep).is_err());
        }
        prop_assert!(Head::from_bytes(&bytes).is_err());
    }
}

#[test]
fn empty_and_transparent_images_are_errors() {
    for mode in [BackgroundMode::Keep, BackgroundMode::Ignore] {
        assert!(image_histogram(&RgbaImage::new(0, 0, vec![]).unwrap(), mode).is_err());
        assert!(image_histogram(&RgbaImage::new(2, 1, vec![9, 9, 9, 0, 9, 9, 9, 127]).unwrap(), mode).is_err());
    }
    assert!(RgbaImage::new(2, 2, vec![0; 3]).is_err());
    // An empty histogram is refused by `normalize` and left as it was.
    let mut empty = Histogram::default();
    assert!(!empty.normalize());
    assert_eq!(empty, Histogram::default());
}

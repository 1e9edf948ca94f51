//! The core against reference values from independent tools (tests/data, described in its
//! README): scikit-image for Lab and histograms, an independent implementation of the tri-linear
//! kernel (defined at `histogram::axis_split`) for query histograms.

use chromatica_core::color::srgb_to_lab;
use chromatica_core::histogram::{image_histogram, BINS};
use chromatica_core::resize::RgbaImage;
use chromatica_core::{BackgroundMode, Query};
use serde_json::Value;
use std::path::PathBuf;

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(rel)
}

fn dense(bins: &Value) -> Vec<f64> {
    let mut out = vec![0.0; BINS];
    for pair in bins.as_array().unwrap() {
        out[pair[0].as_u64().unwrap() as usize] = pair[1].as_f64().unwrap();
    }
    out
}

fn assert_bins_close(actual: &[f64], expected: &[f64], what: &str) {
    let worst = actual.iter().zip(expected).map(|(a, e)| (a - e).abs()).fold(0.0, f64::max);
    assert!(worst <= 1e-6, "{what}: worst per-bin error {worst:e}");
}

#[test]
fn lab_matches_scikit_image_within_0_01() {
    let text = std::fs::read_to_string(data("lab/srgb_to_lab.tsv")).unwrap();
    let mut rows = 0;
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let hex = u32::from_str_radix(cols[0], 16).unwrap();
        let rgb = [(hex >> 16) as u8, (hex >> 8) as u8, hex as u8];
        let lab = srgb_to_lab(rgb);
        for k in 0..3 {
            let expected: f64 = cols[k + 1].parse().unwrap();
            assert!((lab[k] - expected).abs() <= 0.01, "{}: {lab:?} vs {cols:?}", cols[0]);
        }
        rows += 1;
    }
    assert!(rows > 1000, "only {rows} rows");
}

fn load_png(path: PathBuf) -> RgbaImage {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "fixtures are 8-bit");
    let pixels = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&v| [v, v, v, 255]).collect(),
        png::ColorType::GrayscaleAlpha => buf.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
        other => panic!("unexpected PNG color type {other:?}"),
    };
    RgbaImage::new(info.width, info.height, pixels).unwrap()
}

#[test]
fn image_histograms_match_reference_within_1e_6() {
    let text = std::fs::read_to_string(data("histogram/expected.jsonl")).unwrap();
    let mut cases = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let name = case["image"].as_str().unwrap();
        let h = image_histogram(&load_png(data(&format!("histogram/{name}"))), BackgroundMode::Keep).unwrap().histogram;
        assert_bins_close(h.as_slice(), &dense(&case["bins"]), name);
        assert!((h.total() - 1.0).abs() < 1e-9);
        cases += 1;
    }
    assert_eq!(cases, 5);
}

#[test]
fn query_histograms_match_reference_within_1e_6() {
    let text = std::fs::read_to_string(data("query/expected.jsonl")).unwrap();
    let mut cases = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let colors: Vec<String> = case["colors"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
        let weights: Vec<f64> = case["weights"].as_array().unwrap().iter().map(|w| w.as_f64().unwrap()).collect();
        let q = Query::from_strings(&colors, Some(&weights)).unwrap();
        assert_bins_close(q.histogram().as_slice(), &dense(&case["bins"]), &format!("{colors:?}"));
        cases += 1;
    }
    assert_eq!(cases, 6);
}

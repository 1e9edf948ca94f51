//! Decode + histogram of a real ~1 MP JPEG (a demo photo upscaled to 1152x864), the builder's
//! per-image hot path. `cargo bench -p index-builder --bench decode`
use chromatica_core::histogram::{image_histogram, MAX_SIDE};
use chromatica_core::BackgroundMode;
use criterion::{criterion_group, criterion_main, Criterion};
use index_builder::decode::{decode, encode_thumbnail};
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../demo-images/");
    let photo = image::open(format!("{root}budgie_lake-sherburne.jpg")).expect("demo photo");
    let big = photo.resize_exact(1152, 864, image::imageops::FilterType::Triangle).to_rgb8();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&big).unwrap();
    c.bench_function("decode 1MP JPEG (DCT-scaled) + histogram", |b| {
        b.iter(|| {
            let d = decode(black_box(&jpeg), MAX_SIDE, 1 << 30).unwrap();
            image_histogram(&d.pixels, BackgroundMode::Keep).unwrap()
        })
    });
    c.bench_function("decode 1MP JPEG (DCT-scaled) only", |b| b.iter(|| decode(black_box(&jpeg), MAX_SIDE, 1 << 30).unwrap()));
    let d = decode(&jpeg, MAX_SIDE, 1 << 30).unwrap();
    c.bench_function("histogram of the decoded 256px image", |b| b.iter(|| image_histogram(black_box(&d.pixels), BackgroundMode::Keep).unwrap()));
    c.bench_function("thumbnail JPEG encode 256px", |b| b.iter(|| encode_thumbnail(black_box(&d.pixels), 82).unwrap()));
}

criterion_group! {
    name = decode_benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(decode_benches);

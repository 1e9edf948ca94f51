//! Criterion benches for the hot paths: image histogram, Sinkhorn, and the full search.
//! `cargo bench -p chromatica-core --bench core`

use chromatica_core::ann::AnnVector;
use chromatica_core::bundle::{self, Head, ImageMeta, Params, StoredHistogram};
use chromatica_core::color::srgb_to_lab;
use chromatica_core::emd::Sinkhorn;
use chromatica_core::histogram::{image_histogram, Histogram};
use chromatica_core::resize::RgbaImage;
use chromatica_core::search::{Engine, SearchRequest, Source};
use chromatica_core::shard::{build_index, IndexInput};
use chromatica_core::BackgroundMode;
use chromatica_core::Query;
use chromatica_core::SearchOptions;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn noise_image(w: u32, h: u32) -> RgbaImage {
    let mut s = 12345u32;
    let pixels = (0..w * h)
        .flat_map(|i| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            // Smooth-ish gradients plus noise, like a photo.
            [((i % w) * 255 / w) as u8 ^ (s >> 28) as u8, ((i / w) * 255 / h) as u8, (s >> 24) as u8 / 2 + 64, 255]
        })
        .collect();
    RgbaImage::new(w, h, pixels).unwrap()
}

fn photo_like(seed: u64) -> Histogram {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut h = Histogram::default();
    for _ in 0..400 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let c = s.to_le_bytes();
        h.splat(srgb_to_lab([c[0] / 2 + (seed as u8 & 127), c[1] / 3 + 60, c[2] / 2]), 1.0);
    }
    h.normalize();
    h
}

fn benches(c: &mut Criterion) {
    let img = noise_image(1024, 1024);
    c.bench_function("image_histogram 1MP (downscale + 1152 bins)", |b| b.iter(|| image_histogram(black_box(&img), BackgroundMode::Keep).unwrap()));
    let mut product = noise_image(1024, 1024);
    for (i, px) in product.pixels.chunks_exact_mut(4).enumerate() {
        let (x, y) = ((i % 1024) as f64 / 1024.0 - 0.5, (i / 1024) as f64 / 1024.0 - 0.5);
        if x * x + y * y > 0.06 {
            px.copy_from_slice(&[250, 250, 250, 255]);
        }
    }
    c.bench_function("image_histogram 1MP, background ignore (an object on white)", |b| {
        b.iter(|| image_histogram(black_box(&product), BackgroundMode::Ignore).unwrap())
    });
    c.bench_function("image_histogram 1MP, background keep (the same image)", |b| {
        b.iter(|| image_histogram(black_box(&product), BackgroundMode::Keep).unwrap())
    });
    let small = noise_image(256, 256);
    c.bench_function("pixels_histogram 256x256", |b| b.iter(|| chromatica_core::histogram::pixels_histogram(black_box(&small)).unwrap()));

    let q = Query::parse("E4572E,F3A712", Some("0.6,0.4")).unwrap().histogram().to_sparse();
    let img_h = photo_like(7).to_sparse();
    let mut sinkhorn = Sinkhorn::new();
    c.bench_function(&format!("sinkhorn {}x{} bins", q.bins.len(), img_h.bins.len()), |b| {
        b.iter(|| sinkhorn.distance(black_box(q.view()), black_box(img_h.view())))
    });

    let n = 5000;
    let hs: Vec<Histogram> = (0..n).map(|i| photo_like(i as u64)).collect();
    let images: Vec<ImageMeta> = (0..n)
        .map(|i| ImageMeta { path: format!("{i}.jpg"), stem: format!("{i:016x}"), ext: "jpg".into(), width: 1, height: 1, background_removed: false })
        .collect();
    let stored: Vec<StoredHistogram> = hs.iter().map(StoredHistogram::of).collect();
    let vectors: Vec<AnnVector> = hs.iter().map(AnnVector::from_histogram).collect();
    let palettes = vec![bundle::stored_palette(&[]); n];
    let params = Params::new(200, BackgroundMode::Keep);
    let index =
        build_index(&IndexInput { params, images: &images, histograms: &stored, palettes: &palettes, texts: &[], vectors: &vectors, previous: None });
    let files: std::collections::HashMap<u64, Vec<u8>> = index.chunks.into_iter().map(|(c, b)| (c.name, b)).collect();
    // Every file held: these benches time the search itself, not fetching.
    let mut engine = Engine::new(Head::from_bytes(&index.head).unwrap());
    engine.set_cache_budget(usize::MAX);
    loop {
        let wants = engine.everything();
        if wants.is_empty() {
            break;
        }
        for w in wants {
            engine.insert(&w, Ok(&files[&w.chunk.name]));
        }
    }
    let query = Query::parse("E4572E,F3A712", Some("0.6,0.4")).unwrap();
    let start = std::time::Instant::now();
    let clock = move || start.elapsed().as_secs_f64() * 1000.0;
    let similar = hs[17].clone();
    let options = SearchOptions { k: 20, rerank_k: Some(200), ..Default::default() };
    let colors = SearchRequest { source: Source::colors(&query), options: options.clone() };
    let more_like_this = SearchRequest { source: Source::histogram(&similar), options: options.clone() };
    // The same 2-color query with a wildcard share (5k images: every image is scanned, pruned by
    // the nearest-bin bound) and with a color to avoid.
    let wildcard = SearchRequest { source: Source::colors(&query), options: SearchOptions { any: 0.5, ..options.clone() } };
    let mut avoiding = options.clone();
    avoiding.set("not", "2E8B57").unwrap();
    let without = SearchRequest { source: Source::colors(&query), options: avoiding };
    // Feature `parallel` is on here (the dev-dependency on this crate), so the rerank uses each pool.
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        c.bench_function(&format!("search 5k synthetic, 2 colors, k=20, rerank_k=200, {threads} thread(s)"), |b| {
            b.iter(|| pool.install(|| engine.search(black_box(&colors), &clock).unwrap()))
        });
        c.bench_function(&format!("search 5k synthetic, more like this, k=20, rerank_k=200, {threads} thread(s)"), |b| {
            b.iter(|| pool.install(|| engine.search(black_box(&more_like_this), &clock).unwrap()))
        });
        c.bench_function(&format!("search 5k synthetic, 2 colors + any 0.5, k=20, {threads} thread(s)"), |b| {
            b.iter(|| pool.install(|| engine.search(black_box(&wildcard), &clock).unwrap()))
        });
        c.bench_function(&format!("search 5k synthetic, 2 colors + 1 to avoid, k=20, rerank_k=200, {threads} thread(s)"), |b| {
            b.iter(|| pool.install(|| engine.search(black_box(&without), &clock).unwrap()))
        });
    }
}

criterion_group! {
    name = core;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = benches
}
criterion_main!(core);

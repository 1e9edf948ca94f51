//! Bundle round trip, corruption handling, and the two-stage search on a synthetic collection.

use chromatica_core::ann::{AnnIndex, AnnVector};
use chromatica_core::bundle::{self, Bundle, BundleError, BundleInput, ImageMeta, Params};
use chromatica_core::color::srgb_to_lab;
use chromatica_core::histogram::{dominant_colors, Histogram};
use chromatica_core::search::{Engine, SearchError, SearchRequest, Source};
use chromatica_core::SearchOptions;
use chromatica_core::{BackgroundMode, Query};

/// A deterministic collection: each image a mixture of 1-4 random colors.
fn collection(n: usize) -> Vec<Histogram> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|_| {
            let mut h = Histogram::default();
            for _ in 0..1 + next() % 4 {
                let c = next().to_le_bytes();
                h.splat(srgb_to_lab([c[0], c[1], c[2]]), 0.1 + (c[3] as f64) / 255.0);
            }
            h.normalize();
            h
        })
        .collect()
}

fn encode(histograms: &[Histogram]) -> Vec<u8> {
    encode_with(histograms, BackgroundMode::Keep, |_| false)
}

/// A bundle of a site with `background` mode, where `removed(i)` says whether image `i` had its
/// background removed.
fn encode_with(histograms: &[Histogram], background: BackgroundMode, removed: impl Fn(usize) -> bool) -> Vec<u8> {
    let ann = AnnIndex::build(histograms.iter().map(AnnVector::from_histogram).collect(), 200);
    let images = (0..histograms.len())
        .map(|i| ImageMeta {
            path: format!("dir/img {i}.jpg"),
            stem: format!("{i:016x}"),
            ext: "jpg".into(),
            width: 640,
            height: 480,
            background_removed: removed(i),
        })
        .collect();
    bundle::encode(&BundleInput {
        params: Params { ef_construction: 200, ef_search: 200, m: 32, seed: 1, rerank_k: 200, ann_dims: 144, background },
        images,
        histograms,
        palettes: histograms.iter().map(|h| dominant_colors(h, 5)).collect(),
        ann: &ann,
    })
}

fn clock() -> f64 {
    0.0
}

#[test]
fn round_trip_and_search() {
    let hs = collection(400);
    let bytes = encode(&hs);
    let b = Bundle::from_bytes(&bytes).unwrap();
    assert_eq!(b.len(), 400);
    assert_eq!(b.images[3].path, "dir/img 3.jpg");
    assert!(!b.palette(3).is_empty());
    let mut engine = Engine::new(b);

    // "More like this" finds the image itself first, at the smallest distance.
    for id in [0u32, 17, 399] {
        let r = engine.search(&similar(id, 5), &clock).unwrap();
        assert_eq!(r.results[0].id, id, "similar to {id}");
        assert!(r.results.windows(2).all(|w| w[0].distance <= w[1].distance));
        assert_eq!(r.results.iter().map(|x| x.rank).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    }
    assert_eq!(engine.search(&similar(400, 5), &clock), Err(SearchError::NoSuchImage(400)));

    // A color query: distances are non-negative, sorted, ties by id; k honoured.
    let q = Query::parse("FF0000,00FF00", Some("0.7,0.3")).unwrap();
    let r = engine.search(&SearchRequest { source: Source::colors(&q), options: SearchOptions { k: 20, ..Default::default() } }, &clock).unwrap();
    assert_eq!(r.results_count, 20);
    assert!(r.results.iter().all(|x| x.distance >= 0.0 && x.distance.is_finite()));
    assert!(r.results.windows(2).all(|w| (w[0].distance, w[0].id) <= (w[1].distance, w[1].id)));
    assert_eq!(r.query.colors, vec!["FF0000", "00FF00"]);
}

#[test]
fn two_stage_recall_against_exhaustive_sinkhorn() {
    let hs = collection(1500);
    let mut engine = Engine::new(Bundle::from_bytes(&encode(&hs)).unwrap());
    let (mut found, mut total) = (0, 0);
    for colors in ["FF0000", "00A0FF,FFFF00", "203040,F0E0D0", "808080", "FF00FF,00FF00,0000FF"] {
        let q = Query::parse(colors, None).unwrap().histogram();
        let truth = engine.rank_exhaustive(&q, 10);
        let hits = engine.rank(&q, &SearchOptions { k: 10, rerank_k: Some(200), ..Default::default() }, &clock).unwrap().hits;
        assert_eq!((hits.len(), truth.len()), (10, 10), "{colors}");
        found += hits.iter().filter(|h| truth.iter().any(|t| t.id == h.id)).count();
        total += truth.len();
    }
    let recall = found as f64 / total as f64;
    assert!(recall >= 0.95, "recall@10 {recall}");
}

/// The rerank splits its work over whatever rayon pool it runs on (the browser's wasm-bindgen-rayon
/// pool, the CLI's global pool): hits, distances and work counts must not depend on the pool size.
#[test]
fn ranking_is_identical_on_any_number_of_threads() {
    let hs = collection(1500);
    let mut engine = Engine::new(Bundle::from_bytes(&encode(&hs)).unwrap());
    let queries: Vec<Histogram> = ["FF0000", "00A0FF,FFFF00", "203040,F0E0D0,808000", "808080"]
        .iter()
        .map(|c| Query::parse(c, None).unwrap().histogram())
        .chain([hs[7].clone(), hs[123].clone()])
        .collect();
    let run = |engine: &mut Engine, threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut out = Vec::new();
            for q in &queries {
                for k in [1, 10, 100] {
                    let ranking = engine.rank(q, &SearchOptions { k, rerank_k: Some(200), ..Default::default() }, &clock).unwrap();
                    let hits: Vec<(u32, u64)> = ranking.hits.iter().map(|h| (h.id, h.distance.to_bits())).collect();
                    out.push((hits, ranking.stats.reranked, ranking.stats.iterations));
                }
            }
            (out, engine.rank_exhaustive(&queries[1], 50).iter().map(|h| (h.id, h.distance.to_bits())).collect::<Vec<_>>())
        })
    };
    let single = run(&mut engine, 1);
    assert!(single.0.iter().any(|(_, reranked, _)| *reranked < 200), "pruning never skipped a candidate");
    assert!(single.0.iter().all(|(hits, _, _)| !hits.is_empty()));
    for threads in [2, 3, 8] {
        assert!(run(&mut engine, threads) == single, "{threads} threads rank differently from one");
    }
}

#[test]
fn encoding_is_deterministic() {
    let hs = collection(300);
    assert_eq!(encode(&hs), encode(&hs));
}

#[test]
fn corrupt_bundles_give_clear_errors() {
    let bytes = encode(&collection(50));
    // Every truncation point fails cleanly (no panic), including each section boundary.
    for len in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
        assert!(Bundle::from_bytes(&bytes[..len]).is_err(), "truncated at {len}");
    }
    // Flipped bytes anywhere are caught (checksums cover every section; the header is validated).
    for at in (0..bytes.len()).step_by(bytes.len() / 97 + 1) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x5A;
        assert!(Bundle::from_bytes(&bad).is_err(), "flipped byte {at}");
    }
    let mut version = bytes.clone();
    version[8] = 9;
    assert_eq!(Bundle::from_bytes(&version).err(), Some(BundleError::UnsupportedVersion(9)));
    assert_eq!(Bundle::from_bytes(b"GIF89a....").err(), Some(BundleError::NotABundle));
    // Absurd section count and lengths.
    let mut count = bytes.clone();
    count[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Bundle::from_bytes(&count).is_err());
    let mut length = bytes.clone();
    length[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(Bundle::from_bytes(&length).is_err());
    let msg = Bundle::from_bytes(&bytes[..bytes.len() / 2]).err().unwrap().to_string();
    assert!(msg.contains("truncated"), "{msg}");
}

#[test]
fn the_background_mode_and_flags_round_trip_and_old_versions_are_refused() {
    let hs = collection(40);
    let b = Bundle::from_bytes(&encode_with(&hs, BackgroundMode::Ignore, |i| i % 3 == 0)).unwrap();
    assert_eq!(b.params.background, BackgroundMode::Ignore);
    assert_eq!(b.backgrounds_removed(), 14);
    assert!(b.images[3].background_removed && !b.images[4].background_removed);
    let keep = Bundle::from_bytes(&encode(&hs)).unwrap();
    assert_eq!((keep.params.background, keep.backgrounds_removed()), (BackgroundMode::Keep, 0));
    // A site that keeps backgrounds has no image without one.
    let msg = Bundle::from_bytes(&encode_with(&hs, BackgroundMode::Keep, |i| i == 7)).err().unwrap().to_string();
    assert!(msg.contains("corrupt") && msg.contains("background"), "{msg}");
    // Version 1 (before the background fields): refused before anything else is read, with a
    // message that says what to do.
    let mut old = encode(&hs);
    old[8..12].copy_from_slice(&1u32.to_le_bytes());
    let err = Bundle::from_bytes(&old).err().unwrap();
    assert_eq!(err, BundleError::Outdated(1));
    let msg = err.to_string();
    assert!(msg.contains("older version of chromatica") && msg.contains("rebuild the site"), "{msg}");
    old[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(Bundle::from_bytes(&old).err(), Some(BundleError::UnsupportedVersion(0)));
}

fn similar(image: u32, k: usize) -> SearchRequest {
    SearchRequest { source: Source::Similar { image }, options: SearchOptions { k, ..Default::default() } }
}

/// `rerank_k` has one owner per level: the site's build setting (stored in the bundle) unless the
/// query names one, bounded by the search width the bundle was decoded with.
#[test]
fn rerank_k_comes_from_the_site_unless_the_query_names_one() {
    let hs = collection(400);
    let mut bytes = encode(&hs);
    let with_site_setting = |bytes: &mut Vec<u8>, rerank_k: u32| {
        let b = Bundle::from_bytes(bytes).unwrap();
        let mut params = b.params.clone();
        params.rerank_k = rerank_k;
        params.ef_search = rerank_k;
        let ann = AnnIndex::build(hs.iter().map(AnnVector::from_histogram).collect(), rerank_k as usize);
        *bytes = bundle::encode(&BundleInput { params, images: b.images.clone(), histograms: &hs, palettes: vec![], ann: &ann });
    };
    with_site_setting(&mut bytes, 60);
    let q = Query::parse("FF0000,00FF00", None).unwrap();
    let request = |rerank_k| SearchRequest { source: Source::colors(&q), options: SearchOptions { k: 10, rerank_k, ..Default::default() } };
    let mut engine = Engine::new(Bundle::from_bytes(&bytes).unwrap());
    assert_eq!(engine.search(&request(None), &clock).unwrap().metadata.candidates, 60, "the site's setting");
    assert_eq!(engine.search(&request(Some(30)), &clock).unwrap().metadata.candidates, 30, "the query's");
    assert_eq!(engine.search(&request(Some(61)), &clock), Err(SearchError::RerankTooLarge { asked: 61, max: 60 }));
    // Decoded wider (what the CLI does for a larger --rerank-k), the query's value holds.
    let mut wide = Engine::new(Bundle::from_bytes_with_min_search_width(&bytes, 300).unwrap());
    assert_eq!(wide.search(&request(Some(300)), &clock).unwrap().metadata.candidates, 300);
    assert_eq!(wide.search(&request(None), &clock).unwrap().metadata.candidates, 60);
}

/// HSV-ish vivid color of hue `h` (0..360), full saturation.
fn vivid(h: f64) -> [u8; 3] {
    let x = |n: f64| {
        let k = (n + h / 60.0) % 6.0;
        (255.0 * (1.0 - (k.min(4.0 - k).clamp(0.0, 1.0)))) as u8
    };
    [x(5.0), x(3.0), x(1.0)]
}

/// Neutral images (greys and beiges), then 30 of them carrying a small (3-10%) patch of one vivid
/// hue each: the "a touch of this color, I don't care about the rest" case.
fn planted() -> (Vec<Histogram>, Vec<[u8; 3]>) {
    let mut hs = Vec::new();
    for i in 0..240u32 {
        let g = (20 + i % 220) as u8;
        let mut h = Histogram::default();
        h.splat(srgb_to_lab([g, g, g.saturating_sub((i % 3 * 12) as u8)]), 1.0);
        h.normalize();
        hs.push(h);
    }
    let mut colors = Vec::new();
    for j in 0..30u32 {
        let c = vivid(j as f64 * 12.0);
        let share = 0.03 + 0.07 * (j % 8) as f64 / 7.0;
        let g = (40 + j * 6) as u8;
        let mut h = Histogram::default();
        h.splat(srgb_to_lab([g, g, g]), 1.0 - share);
        h.splat(srgb_to_lab(c), share);
        h.normalize();
        hs.push(h);
        colors.push(c);
    }
    (hs, colors)
}

/// "That color, the rest is anything" ranks the image with a small patch of it in the top 3 in at
/// least 90% of cases; the same color without a wildcard does not (it asks for a wholly
/// colored image, and the neutral rest of every image dominates the distance).
#[test]
fn a_wildcard_share_finds_a_touch_of_color() {
    let (hs, colors) = planted();
    let mut engine = Engine::new(Bundle::from_bytes(&encode(&hs)).unwrap());
    let top3 = |engine: &mut Engine, any: f64| {
        colors
            .iter()
            .enumerate()
            .filter(|(j, c)| {
                let q = Query::new(vec![**c], None).unwrap();
                let options = SearchOptions { k: 3, any, ..Default::default() };
                let r = engine.search(&SearchRequest { source: Source::colors(&q), options }, &clock).unwrap();
                r.results.iter().any(|x| x.id as usize == 240 + j)
            })
            .count() as f64
            / colors.len() as f64
    };
    let with_wildcard = top3(&mut engine, 0.97);
    let without = top3(&mut engine, 0.0);
    println!("own image in the top 3: {with_wildcard:.2} with any=0.97, {without:.2} without");
    assert!(with_wildcard >= 0.9, "{with_wildcard}");
    assert!(without < 0.5, "{without}");
}

/// Excluded colors: no result carries more than 1% of an excluded color, and there are k results
/// whenever k images qualify, even when the ANN's candidates are nearly all excluded.
#[test]
fn excluded_colors_never_appear_and_k_results_come_back() {
    let (hs, colors) = planted();
    let mut engine = Engine::new(Bundle::from_bytes(&encode(&hs)).unwrap());
    let search = |engine: &mut Engine, colors: &str, not: &str, k: usize| {
        let mut options = SearchOptions { k, ..Default::default() };
        assert!(options.set("not", not).unwrap());
        let q = Query::parse(colors, None).unwrap();
        engine.search(&SearchRequest { source: Source::colors(&q), options }, &clock).unwrap()
    };
    // Blue, but no blue: the ANN's candidates are the blue images; the results must come from the rest.
    let blue = chromatica_core::color::to_hex(colors[20]);
    let r = search(&mut engine, &blue, &format!("{blue}:30"), 10);
    assert_eq!(r.results_count, 10);
    assert!(r.results.iter().all(|x| x.id as usize != 260), "{r:?}");
    // A neutral query without a grey: no result is that grey.
    let r = search(&mut engine, "808080", "808080:8", 20);
    assert_eq!(r.results_count, 20);
    for x in &r.results {
        let h = engine.bundle().histogram(x.id as usize).unwrap();
        let grey = srgb_to_lab([128, 128, 128]);
        let near: f64 = h
            .iter()
            .filter(|(b, _)| {
                let c = chromatica_core::histogram::bin_center(*b as usize);
                ((c[0] - grey[0]).powi(2) + (c[1] - grey[1]).powi(2) + (c[2] - grey[2]).powi(2)).sqrt() <= 8.0
            })
            .map(|(_, m)| m)
            .sum();
        assert!(near <= 0.01 * h.iter().map(|(_, m)| m).sum::<f64>(), "{} has {near} near grey", x.path);
    }
    // Bad exclusions say what is wrong.
    let mut options = SearchOptions::default();
    assert!(options.set("not", "00FF00,0000FF,FF0000,FFFFFF").unwrap_err().to_string().contains("at most 3"));
    assert!(options.set("not", "00FF00:0").unwrap_err().to_string().contains("tolerance"));
}

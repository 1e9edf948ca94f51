//! Filters over a sharded index (filter.rs, the term chunks of bundle.rs, search.rs): the images a
//! filter passes are exactly those whose terms meet it; a selective filter ranks its images
//! exhaustively; looser ones keep the routed search's recall; without colors the passing images
//! come in the index's order; chips count what they would add; a bad term chunk is a warning.

use chromatica_core::ann::AnnVector;
use chromatica_core::bundle::{self, Head, ImageMeta, ImageText, Params, StoredHistogram};
use chromatica_core::color::srgb_to_lab;
use chromatica_core::filter::{meets, terms_of, Facet, Filter};
use chromatica_core::histogram::{dominant_colors, Histogram};
use chromatica_core::search::{ChunkKind, Engine, SearchRequest, SearchResponse, Source, Want};
use chromatica_core::shard::{build_index, EncodedIndex, IndexInput};
use chromatica_core::{BackgroundMode, Query, SearchOptions};
use std::collections::HashMap;

const TAGS: [&str; 6] = ["Sea", "sky", "forest", "Städte", "night", "portrait"];

fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

struct Site {
    files: HashMap<String, Vec<u8>>,
    encoded: EncodedIndex,
    images: Vec<ImageMeta>,
    texts: Vec<ImageText>,
}

/// `n` images of 1-4 random colors, in folders `y20xx/<place>/`, with tags, dates and titles.
fn site(n: usize) -> Site {
    let mut next = rng(7);
    let places = ["iceland", "Reykjavík", "oslo", "kyoto"];
    let mut hs = Vec::new();
    let mut images = Vec::new();
    let mut texts = Vec::new();
    for i in 0..n {
        let mut h = Histogram::default();
        for _ in 0..1 + next() % 4 {
            let c = next().to_le_bytes();
            h.splat(srgb_to_lab([c[0], c[1], c[2]]), 0.1 + (c[3] as f64) / 255.0);
        }
        h.normalize();
        hs.push(h);
        let (w, hgt) = [(640, 480), (480, 640), (500, 500)][(next() % 3) as usize];
        let place = places[(next() % 4) as usize];
        images.push(ImageMeta {
            path: format!("y20{:02}/{place}/img_{i}.jpg", 10 + next() % 4),
            stem: format!("{i:016x}"),
            ext: "jpg".into(),
            width: w,
            height: hgt,
            background_removed: false,
        });
        let tags = (0..next() % 3).map(|_| TAGS[(next() % 6) as usize].to_string()).collect();
        let rare = if i % 997 == 0 { " Skógafoss" } else { "" };
        texts.push(ImageText {
            title: format!("Photo {} of {place}{rare}", i % 50),
            tags,
            date: format!("20{:02}-{:02}-{:02}", 10 + next() % 4, 1 + next() % 12, 1 + next() % 28),
            ..Default::default()
        });
    }
    let stored: Vec<StoredHistogram> = hs.iter().map(StoredHistogram::of).collect();
    let palettes: Vec<_> = hs.iter().map(|h| bundle::stored_palette(&dominant_colors(h, 5))).collect();
    let vectors: Vec<AnnVector> = hs.iter().map(AnnVector::from_histogram).collect();
    let encoded = build_index(&IndexInput {
        params: Params::new(200, BackgroundMode::Keep),
        images: &images,
        histograms: &stored,
        palettes: &palettes,
        texts: &texts,
        vectors: &vectors,
        previous: None,
    });
    let mut files: HashMap<String, Vec<u8>> = encoded.chunks.iter().map(|(c, b)| (c.path(), b.clone())).collect();
    files.insert(bundle::HEAD_FILE.into(), encoded.head.clone());
    Site { files, encoded, images, texts }
}

fn clock() -> f64 {
    0.0
}

impl Site {
    fn engine(&self) -> Engine {
        Engine::new(Head::from_bytes(&self.encoded.head).unwrap())
    }

    /// A search, and the files it fetched.
    fn search(&self, engine: &mut Engine, request: &SearchRequest) -> (SearchResponse, Vec<Want>) {
        let mut fetched = Vec::new();
        let r = engine
            .drive(|e| e.search(request, &clock), &mut |w: &Want| {
                fetched.push(*w);
                self.files.get(&w.path()).cloned().ok_or_else(|| "missing".to_string())
            })
            .unwrap();
        (r, fetched)
    }

    /// The global ids whose terms meet `filter`, from the input (not from the index).
    fn passing(&self, filter: &Filter) -> Vec<u32> {
        let criteria = filter.criteria();
        let mut ids: Vec<u32> = (0..self.images.len() as u32)
            .filter(|&id| {
                let m = self.encoded.order[id as usize] as usize;
                let (meta, text) = (&self.images[m], &self.texts[m]);
                let terms = terms_of(&text.facts(meta));
                meets(&criteria, &terms)
            })
            .collect();
        ids.sort_unstable();
        ids
    }
}

fn request(colors: Option<&str>, k: usize, filter: Filter) -> SearchRequest {
    let source = match colors {
        Some(c) => Source::colors(&Query::parse(c, None).unwrap()),
        None => Source::Browse,
    };
    SearchRequest { source, options: SearchOptions { k, filter, ..Default::default() } }
}

fn text(t: &str) -> Filter {
    Filter { text: t.into(), ..Default::default() }
}

#[test]
fn filters_pass_exactly_the_images_whose_terms_meet_them() {
    let s = site(6000);
    let mut engine = s.engine();
    let cases = [
        text("skogafoss"),
        text("REYKJAVIK phot"),
        text("photo 7 "),
        Filter { folder: "y2011/oslo".into(), ..Default::default() },
        Filter { tags: vec!["sea".into(), "STADTE".into()], ..Default::default() },
        Filter { from: "2012-03".into(), to: "2013".into(), orientation: Some(chromatica_core::filter::Orientation::Portrait), ..Default::default() },
        Filter { text: "kyoto".into(), folder: "y2012".into(), tags: vec!["night".into()], ..Default::default() },
        text("nothing-like-this"),
    ];
    for filter in cases {
        let want = s.passing(&filter);
        let (r, _) = s.search(&mut engine, &request(None, 1000, filter.clone()));
        let got: Vec<u32> = r.results.iter().map(|x| x.id).collect();
        assert_eq!(r.metadata.matching, Some(want.len()), "{filter:?}");
        assert_eq!(got, want.iter().copied().take(1000).collect::<Vec<_>>(), "{filter:?}: in the index's order");
        assert!(want.len() < 6000);
    }
    assert_eq!(s.passing(&text("skogafoss")).len(), 7, "accents and case do not matter");
}

#[test]
fn a_selective_filter_ranks_its_images_exhaustively_without_fetching_shards() {
    let s = site(12_000);
    let head = Head::from_bytes(&s.encoded.head).unwrap();
    assert!(head.shards.len() >= 8);
    let filter = Filter { text: "skogafoss".into(), tags: vec![], ..Default::default() };
    let passing = s.passing(&filter);
    assert_eq!(passing.len(), 13);
    let mut all = s.engine();
    all.hold_everything(&mut |w| s.files.get(&w.path()).cloned().ok_or_else(|| "missing".to_string())).unwrap();
    for colors in ["FF0000", "2E86AB,F3A712", "101010,F0F0F0"] {
        let q = Query::parse(colors, None).unwrap().histogram();
        let exhaustive: Vec<u32> = all.rank_exhaustive(&q, 12_000).into_iter().map(|h| h.id).filter(|id| passing.contains(id)).collect();
        let mut engine = s.engine();
        let (r, fetched) = s.search(&mut engine, &request(Some(colors), 13, filter.clone()));
        assert_eq!(r.results.iter().map(|x| x.id).collect::<Vec<_>>(), exhaustive, "{colors}: the exhaustive ranking of the passing set");
        assert!(!fetched.iter().any(|w| matches!(w.kind, ChunkKind::Shard(_))), "no shard vectors for a few images");
        let bytes: u32 = fetched.iter().map(|w| w.chunk.len).sum();
        let by_kind = |f: fn(&ChunkKind) -> bool| fetched.iter().filter(|w| f(&w.kind)).map(|w| w.chunk.len).sum::<u32>();
        let kinds = [
            by_kind(|k| matches!(k, ChunkKind::Terms(_))),
            by_kind(|k| matches!(k, ChunkKind::PageTable(_))),
            by_kind(|k| matches!(k, ChunkKind::Page { .. })),
        ];
        assert!(bytes < 150_000, "{bytes} bytes: terms, page tables, pages {kinds:?}");
        eprintln!("{bytes} bytes: terms, page tables, pages {kinds:?}");
    }
}

#[test]
fn looser_filters_keep_the_recall_of_the_routed_search() {
    let s = site(12_000);
    let mut all = s.engine();
    all.hold_everything(&mut |w| s.files.get(&w.path()).cloned().ok_or_else(|| "missing".to_string())).unwrap();
    let filters = [
        Filter { tags: vec!["night".into()], ..Default::default() },
        Filter { folder: "y2010".into(), ..Default::default() },
        Filter { orientation: Some(chromatica_core::filter::Orientation::Square), ..Default::default() },
        text("photo 1"),
    ];
    let mut found = 0;
    let mut total = 0;
    for filter in filters {
        let passing = s.passing(&filter);
        assert!(passing.len() > 800, "{filter:?} passes {}", passing.len());
        for colors in ["FF0000", "2E86AB,F3A712", "30A050", "F0E0D0,202040"] {
            let q = Query::parse(colors, None).unwrap().histogram();
            let truth: Vec<u32> =
                all.rank_exhaustive(&q, 12_000).into_iter().map(|h| h.id).filter(|id| passing.binary_search(id).is_ok()).take(10).collect();
            let mut engine = s.engine();
            let (r, _) = s.search(&mut engine, &request(Some(colors), 10, filter.clone()));
            assert!(r.results.iter().all(|x| passing.binary_search(&x.id).is_ok()), "only passing images");
            found += r.results.iter().filter(|x| truth.contains(&x.id)).count();
            total += 10;
        }
    }
    let recall = found as f64 / total as f64;
    assert!(recall >= 0.95, "recall@10 {recall}");
}

#[test]
fn chips_count_what_they_would_add() {
    let s = site(6000);
    let mut engine = s.engine();
    let (r, _) = s.search(&mut engine, &request(Some("FF0000"), 5, Filter::default()));
    let top: Vec<String> = r
        .facets
        .iter()
        .filter_map(|f| match f.facet() {
            Facet::Folder(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(top.len(), 4, "the top folders: {top:?}");
    for f in &r.facets {
        let filter = match &f.facet() {
            Facet::Folder(p) => Filter { folder: p.clone(), ..Default::default() },
            Facet::Tag(t) => Filter { tags: vec![t.clone()], ..Default::default() },
        };
        assert_eq!(f.count as usize, s.passing(&filter).len(), "{f:?}");
    }
    assert!(r.facets.iter().any(|f| f.label == "Städte"), "tags keep their spelling");
    // Under a folder: its subfolders, counted within the filter; a tag chip counts its images
    // under the other criteria (not the tags chosen: tags are "any of").
    let filter = Filter { folder: "y2012".into(), tags: vec!["sea".into()], ..Default::default() };
    let (r, _) = s.search(&mut engine, &request(None, 5, filter.clone()));
    for f in &r.facets {
        let with = match &f.facet() {
            Facet::Folder(p) => {
                assert!(p.starts_with("y2012/") && p.matches('/').count() == 2, "{p}");
                Filter { folder: p.clone(), ..filter.clone() }
            }
            Facet::Tag(t) => Filter { tags: vec![t.clone()], ..filter.clone() },
        };
        assert_eq!(f.count as usize, s.passing(&with).len(), "{f:?}");
    }
}

#[test]
fn a_bad_term_chunk_is_a_warning_and_costs_only_its_terms() {
    let mut s = site(3000);
    let head = Head::from_bytes(&s.encoded.head).unwrap();
    assert!(head.terms.len() >= 2, "{} term chunks", head.terms.len());
    // The chunk holding "skogafoss".
    let t = head.terms.partition_point(|e| e.first.as_str() <= "skogafoss") - 1;
    let path = head.terms[t].chunk.path();
    s.files.get_mut(&path).unwrap()[40] ^= 1;
    let mut engine = s.engine();
    let (r, _) = s.search(&mut engine, &request(Some("FF0000"), 10, text("skogafoss")));
    assert!(r.results.is_empty());
    assert!(r.warnings.iter().any(|w| w.contains(&path)), "{:?}", r.warnings);
    let (r, _) = s.search(&mut engine, &request(Some("FF0000"), 10, Filter { folder: "y2010".into(), ..Default::default() }));
    assert_eq!(r.results.len(), 10, "other terms answer");
}

#[test]
fn a_list_without_colors_leaves_out_colors_to_avoid() {
    let s = site(3000);
    let mut engine = s.engine();
    let filter = Filter { folder: "y2011".into(), ..Default::default() };
    let mut options = SearchOptions { k: 40, filter: filter.clone(), ..Default::default() };
    options.set("not", "FF0000:40").unwrap();
    let r = engine.drive(|e| e.search(&SearchRequest { source: Source::Browse, options: options.clone() }, &clock), &mut |w: &Want| {
        s.files.get(&w.path()).cloned().ok_or_else(|| "missing".to_string())
    });
    let r = r.unwrap();
    let (all, _) = s.search(&mut engine, &request(None, 1000, filter));
    let all: Vec<u32> = all.results.iter().map(|x| x.id).collect();
    let got: Vec<u32> = r.results.iter().map(|x| x.id).collect();
    assert_eq!(got.len(), 40);
    assert!(got.windows(2).all(|w| w[0] < w[1]) && got.iter().all(|id| all.contains(id)), "passing images in the index's order");
    assert!(got.last() > all.get(39), "some were left out for their red");
}

#[test]
fn a_list_without_colors_fetches_only_the_pages_it_shows() {
    let s = site(12_000);
    let mut engine = s.engine();
    let filter = Filter { folder: "y2012".into(), ..Default::default() };
    let (r, fetched) = s.search(&mut engine, &request(None, 20, filter));
    assert_eq!(r.results.len(), 20);
    let shown: std::collections::BTreeSet<(u32, u32)> = r
        .results
        .iter()
        .map(|x| {
            let (shard, local) = engine.head().locate(x.id).unwrap();
            (shard as u32, (local / 16) as u32)
        })
        .collect();
    let pages = fetched.iter().filter(|w| matches!(w.kind, ChunkKind::Page { .. })).count();
    let tables = fetched.iter().filter(|w| matches!(w.kind, ChunkKind::PageTable(_))).count();
    assert_eq!(pages, shown.len(), "the pages of the images shown, no more");
    assert_eq!(tables, shown.iter().map(|(s, _)| s).collect::<std::collections::BTreeSet<_>>().len());
}

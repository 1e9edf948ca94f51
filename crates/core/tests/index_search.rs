//! The index format (head, shards, pages) and the two-stage search over it: round trips, routing
//! and recall on sharded collections, corrupt and missing files, incremental rebuilds, and the
//! query kinds (colors, similar, wildcard, exclusions) on a synthetic collection.

use chromatica_core::ann::{AnnVector, SelfCost};
use chromatica_core::bundle::{self, BundleError, ChunkRef, Head, ImageMeta, Page, Params, Shard, StoredHistogram, HEAD_MAGIC};
use chromatica_core::color::srgb_to_lab;
use chromatica_core::emd::Sinkhorn;
use chromatica_core::histogram::{dominant_colors, Histogram};
use chromatica_core::search::{Engine, QueryKind, SearchError, SearchRequest, SearchResponse, Source, Step, Want};
use chromatica_core::shard::{build_index, EncodedIndex, IndexInput, Previous};
use chromatica_core::SearchOptions;
use chromatica_core::{BackgroundMode, Query};
use std::collections::HashMap;

/// A deterministic collection: each image a mixture of 1-4 random colors.
fn collection(n: usize, seed: u64) -> Vec<Histogram> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ seed;
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

/// A built index as files (path -> bytes), with what fetching them cost.
struct Site {
    files: HashMap<String, Vec<u8>>,
    encoded: EncodedIndex,
}

fn build(histograms: &[Histogram], background: BackgroundMode, removed: impl Fn(usize) -> bool, previous: Option<Previous<'_>>) -> Site {
    let images: Vec<ImageMeta> = (0..histograms.len())
        .map(|i| ImageMeta {
            path: format!("dir/img {i}.jpg"),
            stem: format!("{i:016x}"),
            ext: "jpg".into(),
            width: 640,
            height: 480,
            background_removed: removed(i),
        })
        .collect();
    let stored: Vec<StoredHistogram> = histograms.iter().map(StoredHistogram::of).collect();
    let palettes: Vec<_> = histograms.iter().map(|h| bundle::stored_palette(&dominant_colors(h, 5))).collect();
    let vectors: Vec<AnnVector> = histograms.iter().map(AnnVector::from_histogram).collect();
    let params = Params::new(200, background);
    let encoded = build_index(&IndexInput {
        params: params.clone(),
        images: &images,
        histograms: &stored,
        palettes: &palettes,
        texts: &[],
        vectors: &vectors,
        previous,
    });
    let mut files: HashMap<String, Vec<u8>> = encoded.chunks.iter().map(|(c, b)| (c.path(), b.clone())).collect();
    files.insert(bundle::HEAD_FILE.into(), encoded.head.clone());
    Site { files, encoded }
}

fn site(histograms: &[Histogram]) -> Site {
    build(histograms, BackgroundMode::Keep, |_| false, None)
}

impl Site {
    fn engine(&self) -> Engine {
        Engine::new(Head::from_bytes(&self.files[bundle::HEAD_FILE]).unwrap())
    }

    /// Input index of global id `id`.
    fn input(&self, id: u32) -> usize {
        self.encoded.order[id as usize] as usize
    }

    fn fetcher(&self) -> impl FnMut(&Want) -> Result<Vec<u8>, String> + '_ {
        |want: &Want| self.files.get(&want.path()).cloned().ok_or_else(|| format!("{}: not found", want.path()))
    }

    fn search(&self, engine: &mut Engine, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        engine.drive(|e| e.search(request, &clock), &mut self.fetcher())
    }

    fn everything(&self, engine: &mut Engine) {
        let mut fetch = self.fetcher();
        loop {
            let wants = engine.everything();
            if wants.is_empty() {
                break;
            }
            for w in wants {
                let bytes = fetch(&w);
                engine.insert(&w, bytes.as_deref().map_err(|e| e.clone()));
            }
        }
    }

    fn rank(&self, engine: &mut Engine, q: &Histogram, kind: QueryKind, options: &SearchOptions) -> Vec<u32> {
        engine.drive(|e| e.rank(q, kind, options, &clock), &mut self.fetcher()).unwrap().hits.iter().map(|h| h.id).collect()
    }
}

fn clock() -> f64 {
    0.0
}

fn similar(image: u32, k: usize) -> SearchRequest {
    SearchRequest { source: Source::Similar { image }, options: SearchOptions { k, ..Default::default() } }
}

fn colors(colors: &str, k: usize) -> SearchRequest {
    SearchRequest { source: Source::colors(&Query::parse(colors, None).unwrap()), options: SearchOptions { k, ..Default::default() } }
}

#[test]
fn round_trip_and_search() {
    let hs = collection(400, 0);
    let site = site(&hs);
    assert_eq!(site.encoded.shards, 1, "a small site is one shard");
    assert_eq!(site.encoded.order, (0..400).collect::<Vec<u32>>(), "in input order");
    let mut engine = site.engine();
    assert_eq!(engine.len(), 400);

    // "More like this" finds the image itself first, at the smallest distance.
    for id in [0u32, 17, 399] {
        let r = site.search(&mut engine, &similar(id, 5)).unwrap();
        assert_eq!(r.results[0].id, id, "similar to {id}");
        assert_eq!(r.results[0].path, format!("dir/img {id}.jpg"));
        assert!(!r.results[0].palette.is_empty());
        assert!(r.results.windows(2).all(|w| w[0].distance <= w[1].distance));
        assert_eq!(r.results.iter().map(|x| x.rank).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        assert!(r.warnings.is_empty());
    }
    assert_eq!(site.search(&mut engine, &similar(400, 5)).err(), Some(SearchError::NoSuchImage(400)));

    // A color query: distances are non-negative, sorted, ties by id; k honoured.
    let q = Query::parse("FF0000,00FF00", Some("0.7,0.3")).unwrap();
    let r = site.search(&mut engine, &SearchRequest { source: Source::colors(&q), options: SearchOptions { k: 20, ..Default::default() } }).unwrap();
    assert_eq!(r.results_count, 20);
    assert!(r.results.iter().all(|x| x.distance >= 0.0 && x.distance.is_finite()));
    assert!(r.results.windows(2).all(|w| (w[0].distance, w[0].id) <= (w[1].distance, w[1].id)));
    assert_eq!(r.query.colors, vec!["FF0000", "00FF00"]);
}

/// A sharded collection: routing probes the nearest shards only, fetches few pages, and keeps
/// recall against exhaustive Sinkhorn.
#[test]
fn sharded_search_fetches_a_few_chunks_and_keeps_recall() {
    let hs = collection(16_000, 1);
    let site = site(&hs);
    assert!(site.encoded.shards >= 12, "{} shards", site.encoded.shards);
    let mut all = site.engine();
    site.everything(&mut all);
    let (mut found, mut total) = (0, 0);
    for (i, c) in ["FF0000", "00A0FF,FFFF00", "203040,F0E0D0", "808080", "FF00FF,00FF00,0000FF", "F0C020", "104010,E0E0FF"].iter().enumerate() {
        let q = Query::parse(c, None).unwrap().histogram();
        let truth = all.rank_exhaustive(&q, 10);
        // A fresh engine: what one visitor's first query downloads.
        let mut engine = site.engine();
        let mut fetched = Vec::new();
        let mut fetch = site.fetcher();
        let hits = engine
            .drive(|e| e.rank(&q, QueryKind::Colors, &SearchOptions { k: 10, ..Default::default() }, &clock), &mut |w: &Want| {
                fetched.push(*w);
                fetch(w)
            })
            .unwrap()
            .hits;
        let shards = fetched.iter().filter(|w| matches!(w.kind, chromatica_core::search::ChunkKind::Shard(_))).count();
        // Where a probed shard's pages are comes with its vectors: no page table is fetched.
        assert!(!fetched.iter().any(|w| matches!(w.kind, chromatica_core::search::ChunkKind::PageTable(_))), "{fetched:?}");
        let bytes: u64 = fetched.iter().map(|w| w.chunk.len as u64).sum();
        println!("{c}: {shards} shards, {} chunks, {bytes} bytes", fetched.len());
        assert!(shards < site.encoded.shards, "query {i} fetched every shard");
        assert_eq!(hits.len(), 10);
        found += hits.iter().filter(|h| truth.iter().any(|t| t.id == h.id)).count();
        total += truth.len();
        // The same query on the engine holding everything ranks the same.
        assert_eq!(
            site.rank(&mut all, &q, QueryKind::Colors, &SearchOptions { k: 10, ..Default::default() }),
            hits.iter().map(|h| h.id).collect::<Vec<_>>()
        );
    }
    let recall = found as f64 / total as f64;
    println!("recall@10 {recall}");
    assert!(recall >= 0.9, "recall@10 {recall}");
}

/// The rerank splits its work over whatever rayon pool it runs on (the browser's wasm-bindgen-rayon
/// pool, the CLI's global pool): hits, distances and work counts must not depend on the pool size.
/// Nor do the index's bytes.
#[test]
fn ranking_and_bytes_are_identical_on_any_number_of_threads() {
    let hs = collection(3000, 2);
    let site = site(&hs);
    let queries: Vec<(QueryKind, Histogram)> = ["FF0000", "00A0FF,FFFF00", "203040,F0E0D0,808000", "808080"]
        .iter()
        .map(|c| (QueryKind::Colors, Query::parse(c, None).unwrap().histogram()))
        .chain([(QueryKind::Image, hs[7].clone()), (QueryKind::Image, hs[123].clone())])
        .collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut engine = site.engine();
            site.everything(&mut engine);
            let mut out = Vec::new();
            for (kind, q) in &queries {
                for k in [1, 10, 100] {
                    let ranking = engine
                        .drive(|e| e.rank(q, *kind, &SearchOptions { k, rerank_k: Some(200), ..Default::default() }, &clock), &mut site.fetcher())
                        .unwrap();
                    let hits: Vec<(u32, u64)> = ranking.hits.iter().map(|h| (h.id, h.distance.to_bits())).collect();
                    out.push((hits, ranking.stats.reranked, ranking.stats.iterations));
                }
            }
            let rebuilt = build(&hs, BackgroundMode::Keep, |_| false, None).encoded.head;
            (out, engine.rank_exhaustive(&queries[1].1, 50).iter().map(|h| (h.id, h.distance.to_bits())).collect::<Vec<_>>(), rebuilt)
        })
    };
    let single = run(1);
    assert!(single.0.iter().any(|(_, reranked, _)| *reranked < 200), "pruning never skipped a candidate");
    assert!(single.0.iter().all(|(hits, _, _)| !hits.is_empty()));
    assert_eq!(single.2, site.encoded.head);
    for threads in [2, 3, 8] {
        assert!(run(threads) == single, "{threads} threads rank or encode differently from one");
    }
}

/// A rebuild with one image changed rewrites only the chunks of that image's shard (and the
/// head): every other chunk keeps its bytes and so its name.
#[test]
fn a_rebuild_rewrites_only_the_changed_shard() {
    let mut hs = collection(5000, 3);
    let first = site(&hs);
    assert!(first.encoded.shards > 2);
    let head = Head::from_bytes(&first.encoded.head).unwrap();
    // Where each input image went: the shard of its global id.
    let mut shard_of = vec![None; hs.len()];
    for (id, &input) in first.encoded.order.iter().enumerate() {
        shard_of[input as usize] = head.locate(id as u32).map(|(s, _)| s as u32);
    }
    let previous = Previous { centroids: &head.centroids, shard_of: &shard_of };
    let again = build(&hs, BackgroundMode::Keep, |_| false, Some(previous));
    let names = |s: &Site| s.encoded.chunks.iter().map(|(c, _)| c.name).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(names(&again), names(&first), "an unchanged collection keeps every chunk");
    hs[4321] = collection(1, 99).remove(0);
    shard_of[4321] = None;
    let changed = build(&hs, BackgroundMode::Keep, |_| false, Some(Previous { centroids: &head.centroids, shard_of: &shard_of }));
    let kept = names(&changed).intersection(&names(&first)).count();
    let new = names(&changed).len() - kept;
    let per_shard = first.encoded.chunks.len() / first.encoded.shards;
    println!("{kept} chunks kept, {new} new (about {per_shard} a shard)");
    assert!(new >= 2 && new <= 2 * (per_shard + 2), "{new} chunks rewritten");
    assert!(kept >= first.encoded.chunks.len() - 2 * (per_shard + 2));
    // A collection that doubled is laid out afresh (its old shards would grow past the split size).
    let doubled: Vec<Histogram> = hs.iter().cloned().chain(collection(5000, 100)).collect();
    let mut grown = shard_of.clone();
    grown.resize(doubled.len(), None);
    let bigger = build(&doubled, BackgroundMode::Keep, |_| false, Some(Previous { centroids: &head.centroids, shard_of: &grown }));
    assert!(bigger.encoded.shards >= 2 * first.encoded.shards - 1, "{} shards", bigger.encoded.shards);
}

#[test]
fn corrupt_files_give_clear_errors() {
    let hs = collection(3000, 4);
    let site = site(&hs);
    let head = site.encoded.head.clone();
    let (shard_ref, shard_bytes) = site.encoded.chunks.iter().find(|(_, b)| b.starts_with(b"CHROMSHD")).unwrap().clone();
    let (page_ref, page_bytes) = site.encoded.chunks.iter().find(|(_, b)| b.starts_with(b"CHROMPAG")).unwrap().clone();
    let parsed = Head::from_bytes(&head).unwrap();
    let s = parsed.shards.iter().position(|e| e.vectors == shard_ref).unwrap();
    type Decode<'a> = &'a dyn Fn(&[u8]) -> Result<(), BundleError>;
    let decoders: [(&[u8], Decode); 3] = [
        (&head, &|b| Head::from_bytes(b).map(drop)),
        (&shard_bytes, &|b| Shard::from_bytes(b, &parsed, s).map(drop)),
        (&page_bytes, &|b| Page::from_bytes(b, bundle::PAGE_IMAGES, BackgroundMode::Keep).map(drop)),
    ];
    for (bytes, decode) in decoders {
        decode(bytes).unwrap();
        // Every truncation point fails cleanly (no panic), including each section boundary.
        for len in (0..bytes.len()).step_by(bytes.len() / 211 + 1).chain([bytes.len() - 1]) {
            assert!(decode(&bytes[..len]).is_err(), "truncated at {len}");
        }
        // Flipped bytes anywhere are caught (checksums cover every section; the header is validated).
        for at in (0..bytes.len()).step_by(bytes.len() / 97 + 1) {
            let mut bad = bytes.to_vec();
            bad[at] ^= 0x5A;
            assert!(decode(&bad).is_err(), "flipped byte {at}");
        }
        let mut count = bytes.to_vec();
        count[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&count).is_err());
        let mut length = bytes.to_vec();
        length[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(&length).is_err());
    }
    let mut version = head.clone();
    version[8] = 9;
    assert_eq!(Head::from_bytes(&version).err(), Some(BundleError::UnsupportedVersion(9)));
    assert_eq!(Head::from_bytes(b"GIF89a....").err(), Some(BundleError::NotAnIndex));
    assert!(Head::from_bytes(&head[..head.len() / 2]).err().unwrap().to_string().contains("truncated"));
    // A page decoded as a shard, or with the wrong image count, is refused.
    assert!(Shard::from_bytes(&page_bytes, &parsed, s).is_err());
    assert!(Page::from_bytes(&page_bytes, 3, BackgroundMode::Keep)
        .err()
        .unwrap()
        .to_string()
        .contains(&format!("holds {} images, not 3", bundle::PAGE_IMAGES)));
    // A version-2 bundle, or an older head: "rebuild".
    let mut old = b"CHROMBDL".to_vec();
    old.extend_from_slice(&2u32.to_le_bytes());
    old.extend_from_slice(&[0; 8]);
    let err = Head::from_bytes(&old).err().unwrap();
    assert_eq!(err, BundleError::Outdated(2));
    assert!(err.to_string().contains("older version of chromatica") && err.to_string().contains("rebuild the site"));
    let mut older = head.clone();
    older[..8].copy_from_slice(&HEAD_MAGIC);
    older[8..12].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(Head::from_bytes(&older).err(), Some(BundleError::Outdated(2)));
    let _ = (page_ref, shard_ref);
}

/// A shard that is missing or corrupt on the host: the search answers from the other shards and
/// says which file failed; a "more like this" whose own page is unavailable says so.
#[test]
fn a_missing_or_corrupt_chunk_leaves_the_rest_answering() {
    let hs = collection(3000, 5);
    let mut site = site(&hs);
    let shards: Vec<ChunkRef> = Head::from_bytes(&site.encoded.head).unwrap().shards.iter().map(|e| e.vectors).collect();
    let tables: Vec<ChunkRef> = Head::from_bytes(&site.encoded.head).unwrap().shards.iter().map(|e| e.pages).collect();
    assert!(shards.len() >= 3);
    site.files.remove(&shards[0].path());
    site.files.remove(&tables[0].path());
    let corrupt = site.files.get_mut(&shards[1].path()).unwrap();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    let mut engine = site.engine();
    let r = site.search(&mut engine, &colors("FF0000,00FF00", 10)).unwrap();
    assert_eq!(r.results_count, 10, "the other shards answer");
    // A search that probes shards reads where their pages are in the shard files: the missing
    // page table is not asked for.
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
    assert!(r.warnings.iter().any(|w| w.contains("not found") && w.contains(&shards[0].path())), "{:?}", r.warnings);
    assert!(r.warnings.iter().any(|w| w.contains("checksum") && w.contains(&shards[1].path())), "{:?}", r.warnings);
    let healthy = Head::from_bytes(&site.encoded.head).unwrap().first_ids[2];
    assert!(r.results.iter().all(|x| x.id >= healthy), "results of healthy shards only");
    // "More like this" first reads its image's page: without the shard, from the page table.
    let err = site.search(&mut engine, &similar(0, 5)).err().unwrap();
    assert!(matches!(err, SearchError::Unavailable(ref m) if m.contains(&tables[0].path())), "{err:?}");
    assert!(site.search(&mut engine, &similar(healthy + 3, 5)).is_ok());
}

/// A shard's file names its pages, and so does its page table (for filtered searches): holding
/// the whole index (as the builder does to check a new one) refuses a table that says otherwise.
#[test]
fn a_page_table_that_differs_from_its_shard_file_is_refused() {
    let hs = collection(3000, 5);
    let mut site = site(&hs);
    let head = Head::from_bytes(&site.encoded.head).unwrap();
    let mut entries = head.shards.clone();
    // Shard 0's page table with two pages swapped: a well-formed table of as many pages.
    let mut pages = Shard::page_table(&site.files[&entries[0].pages.path()], &head, 0).unwrap();
    assert!(pages.len() >= 2);
    pages.swap(0, 1);
    let bytes = bundle::encode_page_table(&pages);
    entries[0].pages = ChunkRef::of(&bytes);
    site.files.insert(entries[0].pages.path(), bytes);
    site.files.insert(
        bundle::HEAD_FILE.to_string(),
        bundle::encode_head(&head.params, &entries, &head.centroids, &head.routes, head.backgrounds_removed as u32, &head.terms, &head.facets),
    );
    let mut engine = site.engine();
    let err = engine.hold_everything(&mut site.fetcher()).unwrap_err();
    assert!(err.contains("page table of shard 0 differs"), "{err}");
    // The site as built holds together.
    let mut engine = Engine::new(Head::from_bytes(&site.encoded.head).unwrap());
    engine.hold_everything(&mut site.fetcher()).unwrap();
}

/// A shard file lists its pages (PAGES): a list of another length is refused, not read past.
#[test]
fn a_shard_that_lists_the_wrong_pages_is_refused() {
    let hs = collection(3000, 5);
    let site = site(&hs);
    let head = Head::from_bytes(&site.encoded.head).unwrap();
    let shard = Shard::from_bytes(&site.files[&head.shards[0].vectors.path()], &head, 0).unwrap();
    let encode = |pages: &[ChunkRef]| bundle::encode_shard(&shard.vectors, &shard.cdfs, &shard.self_costs, pages, None);
    assert!(Shard::from_bytes(&encode(&shard.pages), &head, 0).is_ok());
    for pages in [&shard.pages[1..], &[shard.pages.clone(), shard.pages[..1].to_vec()].concat()[..]] {
        let err = Shard::from_bytes(&encode(pages), &head, 0).err().unwrap().to_string();
        assert!(err.contains(&format!("lists {} pages", pages.len())), "{err}");
    }
}

#[test]
fn the_cache_stays_within_its_budget_between_searches() {
    let hs = collection(9000, 6);
    let site = site(&hs);
    let mut engine = site.engine();
    engine.set_cache_budget(1 << 20);
    for c in ["FF0000", "00FF00", "0000FF", "FFFF00", "00FFFF", "FF00FF", "808080", "202020"] {
        let r = site.search(&mut engine, &colors(c, 10)).unwrap();
        assert_eq!(r.results_count, 10);
        let (_, memory) = engine.cached();
        // What the last search used may stay; older chunks go first.
        assert!(memory <= 3 << 20, "{memory} bytes cached");
    }
}

#[test]
fn the_background_mode_and_flags_round_trip() {
    let hs = collection(40, 7);
    let site = build(&hs, BackgroundMode::Ignore, |i| i % 3 == 0, None);
    let mut engine = site.engine();
    assert_eq!(engine.head().params.background, BackgroundMode::Ignore);
    assert_eq!(engine.head().backgrounds_removed, 14);
    site.everything(&mut engine);
    assert!(engine.image(3).unwrap().background_removed && !engine.image(4).unwrap().background_removed);
    // A site that keeps backgrounds has no image without one.
    let bad = build(&hs, BackgroundMode::Keep, |i| i == 7, None);
    let msg = Head::from_bytes(&bad.encoded.head).err().unwrap().to_string();
    assert!(msg.contains("corrupt") && msg.contains("background"), "{msg}");
}

/// `rerank_k` has one owner per level: the site's build setting (stored in the head) unless the
/// query names one.
#[test]
fn rerank_k_comes_from_the_site_unless_the_query_names_one() {
    for n in [400, 3000, 10_000] {
        let hs = collection(n, 8);
        let mut site = site(&hs);
        let mut head = Head::from_bytes(&site.encoded.head).unwrap();
        head.params.rerank_k = 60;
        let centroids = head.centroids.clone();
        let shards = head.shards.clone();
        site.files
            .insert(bundle::HEAD_FILE.into(), bundle::encode_head(&head.params, &shards, &centroids, &head.routes, 0, &head.terms, &head.facets));
        let q = Query::parse("FF0000,00FF00", None).unwrap();
        let request = |rerank_k| SearchRequest { source: Source::colors(&q), options: SearchOptions { k: 10, rerank_k, ..Default::default() } };
        let mut engine = site.engine();
        let candidates = |engine: &mut Engine, rerank_k| site.search(engine, &request(rerank_k)).unwrap().metadata.candidates;
        // Where routing leaves shards out, more nearest vectors and their page-mates are candidates
        // (up to NEAREST times PAGE_MATES as many).
        let (near, mates) = (chromatica_core::search::NEAREST, chromatica_core::search::PAGE_MATES);
        let mates = if n > bundle::PROBE_IMAGES { near.0 * mates / near.1 } else { 1 };
        for (asked, expected) in [(None, 60), (Some(30), 30), (Some(300), 300)] {
            let got = candidates(&mut engine, asked);
            assert!(got >= expected && got <= mates * expected, "{n} images, rerank_k {asked:?}: {got} candidates");
            if mates == 1 {
                assert_eq!(got, expected);
            }
        }
    }
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
    let site = site(&hs);
    let mut engine = site.engine();
    let mut top3 = |any: f64| {
        colors
            .iter()
            .enumerate()
            .filter(|(j, c)| {
                let q = Query::new(vec![**c], None).unwrap();
                let options = SearchOptions { k: 3, any, ..Default::default() };
                let r = site.search(&mut engine, &SearchRequest { source: Source::colors(&q), options }).unwrap();
                r.results.iter().any(|x| site.input(x.id) == 240 + j)
            })
            .count() as f64
            / colors.len() as f64
    };
    let with_wildcard = top3(0.97);
    let without = top3(0.0);
    println!("own image in the top 3: {with_wildcard:.2} with any=0.97, {without:.2} without");
    assert!(with_wildcard >= 0.9, "{with_wildcard}");
    assert!(without < 0.5, "{without}");
}

/// Excluded colors: no result carries more than 1% of an excluded color, and there are k results
/// whenever k images qualify, even when the ANN's candidates are nearly all excluded.
#[test]
fn excluded_colors_never_appear_and_k_results_come_back() {
    let (hs, colors) = planted();
    let site = site(&hs);
    let mut engine = site.engine();
    let mut search = |colors: &str, not: &str, k: usize| {
        let mut options = SearchOptions { k, ..Default::default() };
        assert!(options.set("not", not).unwrap());
        let q = Query::parse(colors, None).unwrap();
        site.search(&mut engine, &SearchRequest { source: Source::colors(&q), options }).unwrap()
    };
    // Blue, but no blue: the ANN's candidates are the blue images; the results must come from the rest.
    let blue = chromatica_core::color::to_hex(colors[20]);
    let r = search(&blue, &format!("{blue}:30"), 10);
    assert_eq!(r.results_count, 10);
    assert!(r.results.iter().all(|x| site.input(x.id) != 260), "{r:?}");
    // A neutral query without a grey: no result is that grey.
    let r = search("808080", "808080:8", 20);
    assert_eq!(r.results_count, 20);
    let grey = srgb_to_lab([128, 128, 128]);
    for x in &r.results {
        let h = StoredHistogram::of(&hs[site.input(x.id)]);
        let h = h.view();
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

#[test]
fn a_search_step_asks_for_each_file_once() {
    let hs = collection(3000, 9);
    let site = site(&hs);
    let mut engine = site.engine();
    let request = colors("3060A0", 10);
    let Ok(Step::Fetch { wants: first, .. }) = engine.search(&request, &clock) else { panic!("a fresh engine needs files") };
    assert!(first.iter().all(|w| matches!(w.kind, chromatica_core::search::ChunkKind::Shard(_) | chromatica_core::search::ChunkKind::PageTable(_))));
    let mut seen: Vec<Want> = first.clone();
    let mut fetch = site.fetcher();
    for w in &first {
        let bytes = fetch(w);
        engine.insert(w, bytes.as_deref().map_err(|e| e.clone()));
    }
    let Ok(Step::Fetch { wants: pages, .. }) = engine.search(&request, &clock) else { panic!("pages next") };
    assert!(pages.iter().all(|w| !seen.contains(w)));
    seen.extend(pages.iter().copied());
    for w in &pages {
        let bytes = fetch(w);
        engine.insert(w, bytes.as_deref().map_err(|e| e.clone()));
    }
    assert!(matches!(engine.search(&request, &clock), Ok(Step::Done(_))));
}

/// While shards are still coming, a step names the pages of the best candidates among those held
/// (`early`): most of them are pages the search then wants, and fetching them changes nothing.
#[test]
fn early_pages_are_mostly_pages_the_search_then_wants() {
    use chromatica_core::search::ChunkKind;
    let hs = collection(16_000, 1);
    let site = site(&hs);
    let mut fetch = site.fetcher();
    let request = colors("00A0FF,FFFF00", 10);
    let mut engine = site.engine();
    let insert = |engine: &mut Engine, w: &Want, fetch: &mut dyn FnMut(&Want) -> Result<Vec<u8>, String>| {
        let bytes = fetch(w);
        engine.insert(w, bytes.as_deref().map_err(|e| e.clone()));
    };
    let Ok(Step::Fetch { wants: first, early }) = engine.search(&request, &clock) else { panic!("a fresh engine needs files") };
    assert!(early.is_empty(), "nothing is held yet: {early:?}");
    assert!(first.len() >= 3 && first.iter().all(|w| matches!(w.kind, ChunkKind::Shard(_))));
    // Every shard of the first step but the last comes in.
    for w in &first[..first.len() - 1] {
        insert(&mut engine, w, &mut fetch);
    }
    let Ok(Step::Fetch { wants, early }) = engine.search(&request, &clock) else { panic!("one shard is missing") };
    assert_eq!(wants, first[first.len() - 1..]);
    assert!(!early.is_empty());
    assert!(early.iter().all(|w| matches!(w.kind, ChunkKind::Page { .. })));
    insert(&mut engine, &first[first.len() - 1], &mut fetch);
    let Ok(Step::Fetch { wants: pages, early: none }) = engine.search(&request, &clock) else { panic!("pages next") };
    assert!(none.is_empty(), "every shard is held: nothing is early");
    let used = early.iter().filter(|w| pages.contains(w)).count();
    println!("{used} of {} early pages used; {} pages wanted in all", early.len(), pages.len());
    assert!(used * 10 >= early.len() * 8, "{used} of {} early pages used", early.len());
    for w in &pages {
        insert(&mut engine, w, &mut fetch);
    }
    let Ok(Step::Done(answer)) = engine.search(&request, &clock) else { panic!("done") };
    // An engine that already ran another query, gets its files one at a time and fetches every
    // early page as soon as it is named (as the browser does) answers the same.
    let mut eager = site.engine();
    site.search(&mut eager, &colors("F02040", 10)).unwrap();
    let mut early_inserted = 0;
    let eager_answer = loop {
        match eager.search(&request, &clock).unwrap() {
            Step::Done(r) => break r,
            Step::Fetch { wants, early } => {
                early_inserted += early.len();
                for w in early.iter().chain(&wants[..1]) {
                    insert(&mut eager, w, &mut fetch);
                }
            }
        }
    };
    assert!(early_inserted > 0);
    let ids = |r: &SearchResponse| r.results.iter().map(|x| (x.id, x.distance)).collect::<Vec<_>>();
    assert_eq!(ids(&answer), ids(&eager_answer));
}

/// A file that failed is tried again by the next search: a dropped connection costs one search's
/// results, not the rest of the visit.
#[test]
fn a_failed_file_is_fetched_again_by_the_next_search() {
    let hs = collection(3000, 10);
    let mut site = site(&hs);
    let shard = Head::from_bytes(&site.encoded.head).unwrap().shards[0].vectors;
    let saved = site.files.remove(&shard.path()).unwrap();
    let mut engine = site.engine();
    let request = colors("808080", 10);
    assert_eq!(site.search(&mut engine, &request).unwrap().warnings.len(), 1);
    site.files.insert(shard.path(), saved);
    let again = site.search(&mut engine, &request).unwrap();
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
}

/// A crafted head that names one file for two shards is refused; no search can be made to ask
/// for nothing forever.
#[test]
fn a_head_naming_one_file_twice_is_refused() {
    let hs = collection(3000, 11);
    let site = site(&hs);
    let head = Head::from_bytes(&site.encoded.head).unwrap();
    let mut shards = head.shards.clone();
    shards[1].vectors = shards[0].vectors;
    let bad = bundle::encode_head(&head.params, &shards, &head.centroids, &head.routes, 0, &head.terms, &head.facets);
    assert!(Head::from_bytes(&bad).err().unwrap().to_string().contains("same file"));
}

#[test]
fn browsing_on_keeps_what_is_shown_and_adds_the_rest() {
    let hs = collection(3000, 11);
    let s = site(&hs);
    let mut engine = s.engine();
    let first = s.search(&mut engine, &colors("2E86AB,F3A712", 20)).unwrap();
    let mut shown = first.clone();
    for k in [70, 120, 1000] {
        let more = s.search(&mut engine, &colors("2E86AB,F3A712", k)).unwrap();
        assert_eq!(more.results.len(), k);
        shown = shown.followed_by(more);
        assert_eq!(shown.results.len(), k, "no image twice, none lost");
    }
    assert_eq!(shown.results[..20], first.results[..], "what was shown keeps its places");
    assert!(shown.results.iter().enumerate().all(|(i, r)| r.rank == i + 1));
    let ids: std::collections::HashSet<u32> = shown.results.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 1000);
    // A thousand results, ranked by distance after the first 20 the page showed.
    assert!(shown.results[20..].windows(2).filter(|w| w[0].distance > w[1].distance).count() < 50);
}

#[test]
fn what_the_collection_says_of_an_image_comes_back_with_it_and_unsafe_links_are_refused() {
    use chromatica_core::bundle::{encode_page, safe_url, ImageText, PALETTE_SIZE};
    let hs = collection(40, 5);
    let texts: Vec<ImageText> = (0..40)
        .map(|i| {
            if i % 3 == 0 {
                ImageText::default()
            } else {
                ImageText {
                    title: format!("Harbour <{i}>"),
                    caption: "by A. N. Other".into(),
                    url: format!("photos/{i}.html"),
                    tags: vec!["boats".into(), "sea".into()],
                    ..Default::default()
                }
            }
        })
        .collect();
    let stored: Vec<StoredHistogram> = hs.iter().map(StoredHistogram::of).collect();
    let images: Vec<ImageMeta> = (0..40)
        .map(|i| ImageMeta { path: format!("{i}.jpg"), stem: format!("{i:016x}"), ext: "jpg".into(), width: 4, height: 3, background_removed: false })
        .collect();
    let palettes: Vec<[bundle::PaletteEntry; PALETTE_SIZE]> = hs.iter().map(|h| bundle::stored_palette(&dominant_colors(h, 5))).collect();
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
    let files: HashMap<String, Vec<u8>> =
        encoded.chunks.iter().map(|(c, b)| (c.path(), b.clone())).chain([(bundle::HEAD_FILE.to_string(), encoded.head.clone())]).collect();
    let mut engine = Engine::new(Head::from_bytes(&encoded.head).unwrap());
    engine.hold_everything(&mut |w| files.get(&w.path()).cloned().ok_or_else(|| "missing".to_string())).unwrap();
    for id in 0..40u32 {
        let input = encoded.order[id as usize] as usize;
        assert_eq!(engine.text(id).cloned().unwrap_or_default(), texts[input], "image {id}");
    }
    let r = engine.drive(|e| e.search(&colors("808080", 40), &clock), &mut |_| Err("none".into())).unwrap();
    let item = r.results.iter().find(|x| x.path == "1.jpg").unwrap();
    assert_eq!((item.title.as_str(), item.url.as_str(), item.tags.len()), ("Harbour <1>", "photos/1.html", 2));
    // A page whose links lead anywhere but http(s) or the site is refused.
    for bad in ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x", "//evil.example/", "vbscript:x", "https://a b"] {
        assert!(!safe_url(bad), "{bad}");
        let one = [ImageText { url: bad.into(), ..Default::default() }];
        let page = encode_page(&images[..1], &one, &[&stored[0]], &palettes[..1]);
        assert!(Page::from_bytes(&page, 1, BackgroundMode::Keep).is_err(), "{bad}");
    }
    for good in ["https://example.org/a?b#c", "http://x/", "photos/1.html", "/gallery/1", "?q=1", "#top", "a/b:c"] {
        assert!(safe_url(good), "{good}");
    }
}

/// Each image's self cost is its Sinkhorn distance to itself from the histogram its page stores
/// (what the rerank reads), and each shard has `ROUTE_CENTROIDS` routes whose smallest self cost
/// is the shard's smallest.
#[test]
fn self_costs_are_what_the_rerank_reads_and_routes_cover_their_shard() {
    let hs = collection(3000, 21);
    let site = site(&hs);
    let head = Head::from_bytes(&site.files[bundle::HEAD_FILE]).unwrap();
    assert!(head.shards.len() > 1);
    assert_eq!(head.routes.len(), head.shards.len() * bundle::ROUTE_CENTROIDS);
    // Routes are stored as differences from their shard's centroid: they decode to what was encoded.
    let again = bundle::encode_head(&head.params, &head.shards, &head.centroids, &head.routes, 0, &head.terms, &head.facets);
    assert_eq!(again, site.files[bundle::HEAD_FILE]);
    assert!(head.routes.iter().enumerate().any(|(i, r)| r.centroid != head.centroids[i / bundle::ROUTE_CENTROIDS]));
    let mut sinkhorn = Sinkhorn::new();
    for (s, entry) in head.shards.iter().enumerate() {
        let shard = Shard::from_bytes(&site.files[&entry.vectors.path()], &head, s).unwrap();
        assert_eq!(shard.self_costs.len(), entry.images as usize);
        for (i, cost) in shard.self_costs.iter().enumerate() {
            let held = bundle::PAGE_IMAGES.min(shard.self_costs.len() - i / bundle::PAGE_IMAGES * bundle::PAGE_IMAGES);
            let page = Page::from_bytes(&site.files[&shard.pages[i / bundle::PAGE_IMAGES].path()], held, BackgroundMode::Keep).unwrap();
            let h = page.histogram(i % bundle::PAGE_IMAGES).unwrap();
            assert_eq!(*cost, SelfCost::of(sinkhorn.distance(h, h)), "shard {s} image {i}");
            assert!(cost.0 > 0, "entropic smoothing keeps a self cost above zero");
        }
        let smallest = shard.self_costs.iter().min().copied();
        assert_eq!(head.routes(s).iter().map(|r| r.self_cost).min(), smallest);
    }
}

/// A head whose routes do not number `ROUTE_CENTROIDS` a shard, or a shard without a self cost for
/// each image, is refused with a message that says so (checksums are valid: the encoder wrote them).
#[test]
fn routes_and_self_costs_of_the_wrong_size_are_refused() {
    let hs = collection(3000, 22);
    let site = site(&hs);
    let head = Head::from_bytes(&site.files[bundle::HEAD_FILE]).unwrap();
    let short = &head.routes[1..];
    let bad = bundle::encode_head(&head.params, &head.shards, &head.centroids, short, 0, &head.terms, &head.facets);
    assert!(Head::from_bytes(&bad).err().unwrap().to_string().contains("routes"));
    let shard = Shard::from_bytes(&site.files[&head.shards[0].vectors.path()], &head, 0).unwrap();
    let bad = bundle::encode_shard(&shard.vectors, &shard.cdfs, &shard.self_costs[1..], &shard.pages, None);
    assert!(Shard::from_bytes(&bad, &head, 0).err().unwrap().to_string().contains("self costs"));
}

//! Any bytes as an index file (head, shard or page) must decode or give a clear error: no panic,
//! hang or huge allocation. A page or shard that decodes must also search without panicking.
#![no_main]
use chromatica_core::ann::{AnnVector, AxisCdf, SelfCost};
use chromatica_core::bundle::{self, ChunkRef, Head, ImageMeta, Params, Route, ShardEntry, StoredHistogram, TermChunkEntry, ROUTE_CENTROIDS};
use chromatica_core::filter::Filter;
use chromatica_core::histogram::Histogram;
use chromatica_core::search::{ChunkKind, Engine, SearchRequest, Source, Want};
use chromatica_core::{BackgroundMode, Query, SearchOptions};
use libfuzzer_sys::fuzz_target;

fn framed(magic: [u8; 8], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend_from_slice(&bundle::FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// A one-shard site of three images whose shard is `shard` (or a valid one naming `page`), with
/// one term chunk (first term: the tag "x") whose bytes are `terms`.
fn site(shard: Option<&[u8]>, page: &[u8], terms: &[u8]) -> (Head, Want, Vec<u8>, Want, Want, Vec<u8>) {
    let mut h = Histogram::default();
    h.splat_bin(100, 1.0);
    let v = AnnVector::from_histogram(&h);
    let cdf = AxisCdf::of(&h);
    let page_ref = ChunkRef::named(2, page);
    let shard_bytes = shard.map(<[u8]>::to_vec).unwrap_or_else(|| {
        bundle::encode_shard(&[v.clone(), v.clone(), v.clone()], &[cdf.clone(), cdf.clone(), cdf.clone()], &[SelfCost(8); 3], &[page_ref], None)
    });
    let shard_ref = ChunkRef::named(1, &shard_bytes);
    let table_bytes = bundle::encode_page_table(&[page_ref]);
    let table_ref = ChunkRef::named(3, &table_bytes);
    let params = Params::new(20, BackgroundMode::Keep);
    let entry = ShardEntry { images: 3, vectors: shard_ref, pages: table_ref };
    let table = [TermChunkEntry { first: "\u{1}tx".into(), chunk: ChunkRef::named(4, terms) }];
    let routes = vec![Route { centroid: v.clone(), self_cost: SelfCost(8) }; ROUTE_CENTROIDS];
    let head = Head::from_bytes(&bundle::encode_head(&params, &[entry], &[v], &routes, 0, &table, &[])).unwrap();
    let page_want = Want { chunk: page_ref, kind: ChunkKind::Page { shard: 0, page: 0 } };
    (
        head,
        Want { chunk: shard_ref, kind: ChunkKind::Shard(0) },
        shard_bytes,
        page_want,
        Want { chunk: table_ref, kind: ChunkKind::PageTable(0) },
        table_bytes,
    )
}

fuzz_target!(|data: &[u8]| {
    let q = Query::parse("FF0000,00FF00", None).unwrap();
    for bytes in [data.to_vec(), framed(bundle::HEAD_MAGIC, data)] {
        // A head that decodes, every file of it answered with the same bytes: each search must
        // finish (done or an error), never ask for files forever.
        if let Ok(head) = Head::from_bytes(&bytes) {
            let mut engine = Engine::new(head);
            for source in [Source::colors(&q), Source::Similar { image: 0 }] {
                let request = SearchRequest { source, options: SearchOptions { k: 5, rerank_k: Some(20), ..Default::default() } };
                let mut asked = 0;
                let _ = engine.drive(|e| e.search(&request, &|| 0.0), &mut |_| {
                    asked += 1;
                    assert!(asked < 100_000, "a search keeps asking for files");
                    Ok(data.to_vec())
                });
            }
        }
    }
    // A valid page as the seed of what follows, so the engine sees real records too.
    let mut h = Histogram::default();
    h.splat_bin(7, 1.0);
    let meta = ImageMeta { path: "a".into(), stem: "0a".into(), ext: String::new(), width: 1, height: 1, background_removed: false };
    let stored = StoredHistogram::of(&h);
    // With texts, so mutations of the TEXT section are decoded too.
    let text = bundle::ImageText { title: "t".into(), url: "a.html".into(), tags: vec!["x".into()], date: "2023-07".into(), ..Default::default() };
    let texts = [text.clone(), text.clone(), text];
    let valid_page =
        bundle::encode_page(&[meta.clone(), meta.clone(), meta], &texts, &[&stored, &stored, &stored], &[bundle::stored_palette(&[]); 3]);
    // The tag "x" and the word "t", as filter.rs names them.
    let valid_terms = bundle::encode_terms(&[("\u{1}tx", &[1][..]), ("t", &[0, 1, 2][..])]);
    for (shard, page, terms) in [
        (None, framed(bundle::PAGE_MAGIC, data), valid_terms.clone()),
        (Some(framed(bundle::SHARD_MAGIC, data)), valid_page.clone(), valid_terms.clone()),
        (None, data.to_vec(), valid_terms),
        (None, valid_page.clone(), framed(bundle::TERMS_MAGIC, data)),
    ] {
        let (head, shard_want, shard_bytes, page_want, table_want, table_bytes) = site(shard.as_deref(), &page, &terms);
        let mut engine = Engine::new(head);
        let options = SearchOptions { k: 5, rerank_k: Some(20), ..Default::default() };
        let filtered = SearchOptions { filter: Filter { text: "t".into(), tags: vec!["x".into()], ..Default::default() }, ..options.clone() };
        for request in [
            SearchRequest { source: Source::colors(&q), options: options.clone() },
            SearchRequest { source: Source::Similar { image: 0 }, options },
            SearchRequest { source: Source::colors(&q), options: filtered.clone() },
            SearchRequest { source: Source::Browse, options: filtered },
        ] {
            // Files that fail are tried again by the next search, never twice in one: each search
            // ends after at most one fetch of each.
            let mut asked = 0;
            let _ = engine.drive(|e| e.search(&request, &|| 0.0), &mut |want: &Want| {
                asked += 1;
                assert!(asked <= 4, "a search asked for {asked} files");
                Ok(if *want == shard_want {
                    shard_bytes.clone()
                } else if *want == table_want {
                    table_bytes.clone()
                } else if *want == page_want {
                    page.clone()
                } else if matches!(want.kind, ChunkKind::Terms(0)) {
                    terms.clone()
                } else {
                    Vec::new()
                })
            });
        }
    }
});

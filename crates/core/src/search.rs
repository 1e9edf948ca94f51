//! The two-stage search: query histogram -> routing to the nearest shards -> candidates (their
//! nearest vectors) -> Sinkhorn-EMD rerank -> top k. With a filter (filter.rs), the images that
//! pass it come first, from the term chunks: a few of them are all reranked (the exhaustive
//! ranking of the passing set), more are routed to as above with only passing images as
//! candidates, and without colors they come in the index's order.
//! Shared by the CLI and the browser, so both rank identically; the response ([`SearchResponse`])
//! is the JSON that `chromatica search --json` prints and `window.chromatica.search` returns:
//! `{query, results_count, results, metadata}`.

use crate::ann::{AnnVector, AxisCdf, Cue};
use crate::bundle::{BundleError, ChunkRef, Head, ImageMeta, ImageText, Page, Shard, TermChunk};
use crate::color::to_hex;
use crate::color::Rgb;
use crate::color::{delta_e, srgb_to_lab};
use crate::emd::{lower_bound, Marginals, NearestBound, Sinkhorn};
use crate::filter::{self, Facet, TermSpan};
use crate::histogram::bin_center;
use crate::histogram::SparseView;
use crate::histogram::BINS;
use crate::histogram::{dominant_colors, Histogram};
use crate::query::{Query, QueryError, SearchOptions, EXCLUDE_MIN_SHARE};
#[cfg(feature = "parallel")]
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// ANN candidates reranked by Sinkhorn per search: recall against latency (docs/TUNING.md).
pub const DEFAULT_RERANK_K: usize = 200;
/// Sinkhorn stops within a marginal tolerance, so its value may undercut the exact lower bound
/// by a hair: keep visiting candidates until the bound clears the k-th distance by this much (ΔE).
/// (Only a pair stopped by the 100-iteration cap, a few in 10^5 random pairs, can undercut more.)
const BOUND_SLACK: f64 = 0.05;
/// Wildcard queries ("the rest is any color") on collections up to this many images rank every
/// image, not just the ANN's candidates: the ANN compares whole histograms, so an image that is
/// mostly something else (what a wildcard asks for) is easily missed. `emd::nearest_bound` prunes
/// that scan (about 10 ms per 1,000 images on one core). Larger collections rerank the ANN's
/// candidates, as other queries do, and may miss such images.
pub const WILDCARD_SCAN_LIMIT: usize = 2_000;
/// Where routing (or a filter) leaves images out, a query takes this share of `max(rerank_k, k)`
/// as its nearest vectors (4/3: 266 at the default 200), and their page-mates up to
/// [`PAGE_MATES`] times that in all; a [`PRERANK_ITERATIONS`] Sinkhorn then keeps the
/// `max(rerank_k, k)` nearest of them for the full one. Among a million images the true top 10 lie
/// further down the first stage's order than `rerank_k`, mostly on the pages of the nearest images
/// (docs/TUNING.md).
pub const NEAREST: (usize, usize) = (4, 3);
/// Where routing leaves shards out, the candidates' page-mates nearest to the query join them, up
/// to this many times the [`NEAREST`] vectors in all: they cost no more bytes (their pages are
/// fetched), and make up for what routing and the vectors miss (docs/TUNING.md).
pub const PAGE_MATES: usize = 4;
/// Sinkhorn iterations of the pre-rank that picks which of a query's candidates get the
/// full Sinkhorn ([`crate::emd::Sinkhorn::estimate`]): 3 iterations already keep the true top 10
/// of 1,200 candidates among the best 200 as well as the full computation does, at about a
/// tenth of its cost per image (docs/TUNING.md).
pub const PRERANK_ITERATIONS: usize = 3;
/// What a query's histogram stands for, which decides how the first stage compares it
/// ([`crate::ann::Cue`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryKind {
    /// Picked colors: a few blobs of color, far from most images' colors. The axis cumulatives
    /// tell how far, where the blurred vectors of both barely overlap: at a million synthetic
    /// images they took recall@10 from 0.84 to 0.93 (docs/TUNING.md).
    Colors,
    /// An image (a stored one, "more like this", or an example): spread over many bins, which the
    /// vectors compare well; the cumulatives cost it recall (0.96 to 0.95 at 100k).
    Image,
}

/// A query as the first stage compares it: its vector and what else counts
/// ([`crate::ann::candidate_distance`]).
type QueryCode<'a> = (&'a AnnVector, Cue<'a>);
/// A filter that at most this many times `max(rerank_k, k)` images pass reranks all of them: the
/// exhaustive ranking of the passing set (docs/TUNING.md).
pub const FILTER_SCAN: usize = 4;
/// A filter that more images pass routes as an unfiltered query does, but keeps probing shards
/// until they hold this many passing images (or all of them): a filter leaves fewer candidates
/// in each shard, and the nearest passing images are spread over more shards (docs/TUNING.md).
pub const FILTER_PROBE_PASSING: usize = 2048;
/// Folder chips and tag chips a response offers, at most (each kind).
pub const FACET_CHIPS: usize = 12;

thread_local! {
    /// Sinkhorn scratch buffers, one set per thread (the rerank may run on a rayon pool).
    static SINKHORN: RefCell<Sinkhorn> = RefCell::new(Sinkhorn::new());
}

/// Threads the rerank may use: the current rayon pool's (feature `parallel`), else 1.
pub fn threads() -> usize {
    #[cfg(feature = "parallel")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "parallel"))]
    1
}

/// The query side of a rerank: the pruned query histogram and its wildcard share.
#[derive(Clone, Copy)]
struct Probe<'a> {
    q: SparseView<'a>,
    any: f64,
}

/// Sinkhorn distance (the wildcard distance when `any > 0`) and its iteration count, on this
/// thread's scratch buffers.
fn sinkhorn(p: Probe<'_>, h: SparseView<'_>) -> (f64, usize) {
    SINKHORN.with(|s| {
        let mut s = s.borrow_mut();
        (s.distance_with_any(p.q, h, p.any), s.last_iterations)
    })
}

/// A candidate's state in a parallel rerank.
#[derive(Clone, Copy)]
enum Slot {
    Pending,
    Done(f64, usize),
    /// Not computed: the stopping rule holds here.
    Skipped,
}

/// The single-thread rerank loop, fed with distances that may arrive out of order: candidates are
/// consumed strictly in bound order, and the first whose bound exceeds the k-th distance (plus
/// slack) stops it, exactly as one thread visiting them in order would.
struct Replay {
    slots: Vec<Slot>,
    /// Candidates before this are consumed.
    cursor: usize,
    stopped: bool,
    k: usize,
    best: Vec<Hit>,
    reranked: usize,
    iterations: usize,
}

impl Replay {
    fn new(candidates: usize, k: usize) -> Self {
        Self { slots: vec![Slot::Pending; candidates], cursor: 0, stopped: k == 0, k, best: Vec::with_capacity(k + 1), reranked: 0, iterations: 0 }
    }

    /// Whether a candidate with this bound (or any later one) can no longer enter the top k.
    fn stops_before(&self, bound: f64) -> bool {
        self.stopped || (self.best.len() == self.k && bound > self.best[self.k - 1].distance + BOUND_SLACK)
    }

    /// Settles candidate `i` and consumes whatever is now ready in order.
    fn settle(&mut self, i: usize, slot: Slot, order: &[(f64, u32, SparseView<'_>)], q: Probe<'_>) {
        self.slots[i] = slot;
        self.advance(order, q);
    }

    fn advance(&mut self, order: &[(f64, u32, SparseView<'_>)], q: Probe<'_>) {
        while !self.stopped && self.cursor < order.len() {
            let (bound, id, h) = order[self.cursor];
            if self.stops_before(bound) {
                self.stopped = true;
                break;
            }
            let (distance, iterations) = match self.slots[self.cursor] {
                Slot::Pending => break,
                Slot::Done(d, it) => (d, it),
                // Skipped only where the rule above holds, so never reached; computing it here
                // keeps the result exact even so.
                Slot::Skipped => sinkhorn(q, h),
            };
            self.cursor += 1;
            self.reranked += 1;
            self.iterations += iterations;
            let hit = Hit { id, distance };
            let at = self.best.partition_point(|b| (b.distance, b.id) < (hit.distance, hit.id));
            if at < self.k {
                self.best.insert(at, hit);
                self.best.truncate(self.k);
            }
        }
    }
}

/// Milliseconds from some fixed origin (`Instant` natively, `performance.now()` in the browser).
pub type Clock<'a> = &'a dyn Fn() -> f64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryEcho {
    pub colors: Vec<String>,
    pub weights: Vec<f64>,
    /// "colors", "image" or "similar".
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub similar_to: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultItem {
    pub id: u32,
    pub path: String,
    pub thumb: String,
    pub original: String,
    pub distance: f64,
    pub rank: usize,
    /// Dominant colors of the image (hex) and their shares.
    pub palette: Vec<(String, f64)>,
    /// The image's size in pixels, as displayed (EXIF orientation applied).
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    /// What the collection says of it (`chromatica build --metadata`): a title, a caption, the
    /// page the result opens, tags. Untrusted text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub caption: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub date: String,
    /// The collection's other fields, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<(String, String)>,
}

/// A chip the page may offer: a folder or tag, and how many images pass the query's filter with
/// it (a tag chip counts under the other criteria, not the tags chosen: tags are "any of").
/// JSON `{"kind": "folder", "value": "2023/iceland/", "label": "2023/iceland", "count": 12}`.
/// (Plain fields: a flattened or tagged enum would cost the wasm a buffering deserializer.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FacetCount {
    pub kind: FacetKind,
    /// The folder (`a/b/`) or the folded tag: what a filter names it by.
    pub value: String,
    /// As the collection writes it.
    pub label: String,
    pub count: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FacetKind {
    Folder,
    Tag,
}

impl FacetCount {
    fn new(facet: Facet, label: String, count: u32) -> Self {
        let (kind, value) = match facet {
            Facet::Folder(f) => (FacetKind::Folder, f),
            Facet::Tag(t) => (FacetKind::Tag, t),
        };
        Self { kind, value, label, count }
    }

    pub fn facet(&self) -> Facet {
        match self.kind {
            FacetKind::Folder => Facet::Folder(self.value.clone()),
            FacetKind::Tag => Facet::Tag(self.value.clone()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub query_time_ms: f64,
    pub ann_time_ms: f64,
    pub rerank_time_ms: f64,
    pub total_time_ms: f64,
    pub index_size: usize,
    pub candidates: usize,
    /// Images that pass the query's filter, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching: Option<usize>,
    /// Linear memory of the wasm instance holding the engine, in bytes, where it runs in a
    /// browser (set by the browser's shell; the engine itself cannot know it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    pub query: QueryEcho,
    pub results_count: usize,
    pub results: Vec<ResultItem>,
    /// Index files that could not be loaded, so their images were left out (empty: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Folder and tag chips with their counts (sites whose images have folders or tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facets: Vec<FacetCount>,
    pub metadata: Metadata,
}

impl SearchResponse {
    /// `next`, an answer to the same query with a larger `k`, after the results already shown:
    /// those keep their places and ranks (browsing on never reorders what the visitor has seen),
    /// and the ones `next` adds follow in its order. Timings and warnings are `next`'s. An answer
    /// to another query is just `next`.
    pub fn followed_by(mut self, next: SearchResponse) -> SearchResponse {
        if self.query != next.query {
            return next;
        }
        let shown: std::collections::HashSet<u32> = self.results.iter().map(|r| r.id).collect();
        for mut r in next.results.into_iter().filter(|r| !shown.contains(&r.id)) {
            r.rank = self.results.len() + 1;
            self.results.push(r);
        }
        self.results_count = self.results.len();
        self.warnings = next.warnings;
        self.facets = next.facets;
        self.metadata = next.metadata;
        self
    }
}

/// What a search looks for. The worker protocol carries it as JSON (`{"op": "colors", …}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// Hex colors and their weights (any positive numbers; normalised).
    Colors { colors: Vec<String>, weights: Vec<f64> },
    /// "More like this": the stored histogram of an image of the index.
    Similar { image: u32 },
    /// An example image's dense histogram ([`BINS`] masses, normalised here).
    Histogram { bins: Vec<f64> },
    /// No colors: the images that pass the options' filter, in the index's order (which keeps
    /// images of similar colors together).
    Browse,
}

impl Source {
    pub fn colors(query: &Query) -> Self {
        Self::Colors { colors: query.hex_colors(), weights: query.weights().to_vec() }
    }

    pub fn histogram(h: &Histogram) -> Self {
        Self::Histogram { bins: h.as_slice().to_vec() }
    }

    /// What a keyed query (URL fragment, JS API) searches for: its colors, or without colors the
    /// images its filter passes.
    pub fn of_state(state: &crate::query::UrlState) -> Self {
        state.query.as_ref().map_or(Self::Browse, Self::colors)
    }
}

/// One search: what for and how. The single description of a query that the CLI, the worker
/// protocol, the page and the JS API all carry; [`Engine::search`] turns it into a ranking.
/// (Unknown fields are allowed at this level: the worker protocol adds its own, such as the
/// message id; inside `source` and `options` they are refused.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    pub source: Source,
    #[serde(default)]
    pub options: SearchOptions,
}

/// Why a search could not run (the message is shown to the user as it is).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("there is no image {0}")]
    NoSuchImage(u32),
    #[error("an image histogram has {BINS} bins, got {0}")]
    BadHistogram(usize),
    #[error("the example image has no usable pixels")]
    EmptyHistogram,
    /// A chunk the search cannot do without (the page of a "more like this" image) failed.
    #[error("{0}")]
    Unavailable(String),
}

/// The engine's own parameters for one search, resolved from [`SearchOptions`] and the site.
#[derive(Clone, Debug, PartialEq)]
struct Plan {
    k: usize,
    rerank_k: usize,
    /// The wildcard share (0: none).
    any: f64,
    /// Colors to avoid, in Lab, with their ΔE tolerance.
    exclude: Vec<([f64; 3], f64)>,
    /// The filter's criteria (filter.rs; empty: none), and which one is the tags'.
    criteria: Vec<Vec<TermSpan>>,
    tag_criterion: Option<usize>,
    /// The folder whose subfolders the chips offer (`a/b/`, or `""` for the top).
    folder: String,
}

impl Plan {
    /// Whether more than [`EXCLUDE_MIN_SHARE`] of `h`'s mass lies within the tolerance of an
    /// excluded color (bins counted by their centers).
    fn excludes(&self, h: SparseView<'_>) -> bool {
        let valid = |(bin, m): &(u16, f64)| (*bin as usize) < BINS && m.is_finite() && *m > 0.0;
        let total: f64 = h.iter().filter(valid).map(|(_, m)| m).sum();
        self.exclude.iter().any(|(lab, tolerance)| {
            let near: f64 = h.iter().filter(valid).filter(|(bin, _)| delta_e(bin_center(*bin as usize), *lab) <= *tolerance).map(|(_, m)| m).sum();
            near > EXCLUDE_MIN_SHARE * total
        })
    }
}

/// One ranked image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub id: u32,
    pub distance: f64,
}

/// What [`Engine::rank`] found, and what finding it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranking {
    /// Ascending distance, ties by id.
    pub hits: Vec<Hit>,
    pub stats: RankStats,
}

/// The cost of one ranking: time per stage, and the Sinkhorn work (for reports and `eval`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RankStats {
    pub ann_ms: f64,
    pub rerank_ms: f64,
    /// Candidates the first stage gave (nearest vectors and page-mates, after exclusions; where
    /// routing or a filter left images out, before the pre-rank keeps `max(rerank_k, k)` of them).
    pub candidates: usize,
    /// Sinkhorn evaluations, and their iterations in total.
    pub reranked: usize,
    pub iterations: usize,
}

/// What an index file is for: a shard's vectors, or one page of a shard's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChunkKind {
    Shard(u32),
    PageTable(u32),
    Page { shard: u32, page: u32 },
    Terms(u32),
}

/// An index file a search needs and the engine does not hold: the shell fetches it (a file, an
/// HTTP request, a `<script>`) and hands the bytes, or why it failed, to [`Engine::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Want {
    pub chunk: ChunkRef,
    pub kind: ChunkKind,
}

impl Want {
    /// Its path in the site.
    pub fn path(&self) -> String {
        self.chunk.path()
    }
}

/// The outcome of one step of a search: done, or the files it needs first. The shell fetches
/// `wants`, inserts them and asks again; once a step's wants are all inserted, the next step never
/// asks for them again.
///
/// `early` are files a later step of the same search will probably want: the pages of the best
/// candidates among the probed shards held so far, as many as those shards' share of the probe
/// would hold of the final candidates. A shell that fetches in parallel (the browser's) starts
/// them at once and asks again as each shard arrives, so pages travel while other shards still
/// do; a shell that fetches synchronously ignores them. Whether they are fetched changes no
/// result: a search's candidates are chosen from its shards alone, once it holds them all.
#[derive(Debug)]
pub enum Step<T> {
    Done(T),
    Fetch { wants: Vec<Want>, early: Vec<Want> },
}

enum Chunk {
    Shard(Shard),
    PageTable(Vec<ChunkRef>),
    Page(Page),
    Terms(TermChunk),
}

struct Cached {
    /// What it was fetched as: a chunk is used only as what it was decoded for.
    want: Want,
    chunk: Chunk,
    /// Decoded size, about.
    memory: usize,
    /// The search that last used it (least recently used chunks leave first).
    used: u64,
}

/// Memory the chunk cache may hold between searches by default (a search may hold more while it
/// runs: it never evicts what it needs).
pub const DEFAULT_CACHE_BYTES: usize = 48 << 20;

/// A site's index (its head, and the chunks fetched so far) plus the scratch space searches
/// reuse. With feature `parallel` the rerank runs on the current rayon pool; the ranking is the
/// same on any number of threads.
///
/// The engine does no IO: a search that needs chunks it does not hold returns [`Step::Fetch`];
/// [`Engine::drive`] is the loop for shells that can fetch synchronously (the CLI, tests).
pub struct Engine {
    head: Head,
    chunks: HashMap<u64, Cached>,
    /// Chunks that could not be fetched or decoded, with the reason (shown in results' warnings).
    failed: HashMap<u64, String>,
    budget: usize,
    /// Replaces the site's `probe_images` (for `eval`'s sweeps).
    probe_images: Option<usize>,
    /// Replaces [`FILTER_PROBE_PASSING`] (for `eval`'s sweeps).
    filter_probe: Option<usize>,
    /// Searches run so far (the cache's clock).
    searches: u64,
    ann_search: instant_distance::Search,
}

/// Who needs which chunks during one step (kept apart so a step asks for everything at once).
#[derive(Default)]
struct Needs {
    wants: Vec<Want>,
    /// Files a later step will probably want ([`Step::Fetch`]).
    early: Vec<Want>,
    warnings: Vec<String>,
}

impl Engine {
    pub fn new(head: Head) -> Self {
        Self {
            head,
            chunks: HashMap::new(),
            failed: HashMap::new(),
            budget: DEFAULT_CACHE_BYTES,
            probe_images: None,
            filter_probe: None,
            searches: 0,
            ann_search: Default::default(),
        }
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    pub fn len(&self) -> usize {
        self.head.len()
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_empty()
    }

    /// Bytes of decoded chunks the cache keeps between searches.
    pub fn set_cache_budget(&mut self, bytes: usize) {
        self.budget = bytes;
    }

    /// Probes shards until this many images are seen, instead of the site's `probe_images`.
    pub fn set_probe_images(&mut self, images: Option<usize>) {
        self.probe_images = images.map(|n| n.max(1));
    }

    /// Probes shards until they hold this many passing images, instead of [`FILTER_PROBE_PASSING`].
    pub fn set_filter_probe(&mut self, images: Option<usize>) {
        self.filter_probe = images.map(|n| n.max(1));
    }

    /// Decoded chunks held now, and their size (about).
    pub fn cached(&self) -> (usize, usize) {
        (self.chunks.len(), self.chunks.values().map(|c| c.memory).sum())
    }

    /// Takes a fetched chunk (or why it could not be fetched). A chunk whose bytes are not the
    /// ones the head names, or that does not decode, is recorded as failed with the reason.
    pub fn insert(&mut self, want: &Want, fetched: Result<&[u8], String>) {
        let name = want.chunk.name;
        let decoded = fetched.and_then(|bytes| {
            if !want.chunk.matches(bytes) {
                return Err(format!(
                    "{} is not the file this index was built with (size or checksum differ): rebuild or re-upload the site",
                    want.path()
                ));
            }
            let error = |e: BundleError| format!("{}: {e}", want.path());
            match want.kind {
                ChunkKind::Shard(s) => Shard::from_bytes(bytes, &self.head, s as usize).map(Chunk::Shard).map_err(error),
                ChunkKind::PageTable(s) => Shard::page_table(bytes, &self.head, s as usize).map(Chunk::PageTable).map_err(error),
                ChunkKind::Terms(t) => TermChunk::from_bytes(bytes, &self.head, t as usize).map(Chunk::Terms).map_err(error),
                ChunkKind::Page { shard, page } => {
                    let images = self.head.shards.get(shard as usize).map_or(0, |e| e.images as usize);
                    let per = self.head.params.page_images as usize;
                    let count = images.saturating_sub(page as usize * per).min(per);
                    Page::from_bytes(bytes, count, self.head.params.background).map(Chunk::Page).map_err(error)
                }
            }
        });
        match decoded {
            Ok(chunk) => {
                let memory = match &chunk {
                    Chunk::Shard(s) => s.memory(),
                    Chunk::PageTable(p) => p.len() * 24 + 64,
                    Chunk::Page(p) => p.memory(),
                    Chunk::Terms(t) => t.memory(),
                };
                self.chunks.insert(name, Cached { want: *want, chunk, memory, used: self.searches });
                self.failed.remove(&name);
            }
            Err(reason) => {
                self.failed.insert(name, reason);
            }
        }
    }

    fn shard(&self, s: usize) -> Option<&Shard> {
        let cached = self.chunks.get(&self.head.shards.get(s)?.vectors.name)?;
        match &cached.chunk {
            Chunk::Shard(shard) if cached.want.kind == ChunkKind::Shard(s as u32) => Some(shard),
            _ => None,
        }
    }

    /// The pages of shard `s`, if its shard or its page table is held.
    pub fn shard_pages(&self, s: usize) -> Option<&[ChunkRef]> {
        if let Some(shard) = self.shard(s) {
            return Some(&shard.pages);
        }
        let cached = self.chunks.get(&self.head.shards.get(s)?.pages.name)?;
        match &cached.chunk {
            Chunk::PageTable(pages) if cached.want.kind == ChunkKind::PageTable(s as u32) => Some(pages),
            _ => None,
        }
    }

    /// Term chunk `t`, if held.
    fn terms(&self, t: usize) -> Option<&TermChunk> {
        let cached = self.chunks.get(&self.head.terms.get(t)?.chunk.name)?;
        match &cached.chunk {
            Chunk::Terms(terms) if cached.want.kind == ChunkKind::Terms(t as u32) => Some(terms),
            _ => None,
        }
    }

    /// The page holding image `id`, and its index there.
    fn page_of(&self, id: u32) -> Option<(&Page, usize)> {
        let (want, i) = self.page_want(id)?;
        let cached = self.chunks.get(&want.chunk.name)?;
        match &cached.chunk {
            Chunk::Page(page) if cached.want.kind == want.kind => Some((page, i)),
            _ => None,
        }
    }

    /// The page that holds image `id`, as a want, and the image's place on it; `None` until it is
    /// known where its shard's pages are (the shard or its page table is held).
    fn page_want(&self, id: u32) -> Option<(Want, usize)> {
        let (s, local) = self.head.locate(id)?;
        let per = self.head.params.page_images as usize;
        let chunk = *self.shard_pages(s)?.get(local / per)?;
        Some((Want { chunk, kind: ChunkKind::Page { shard: s as u32, page: (local / per) as u32 } }, local % per))
    }

    /// The stored histogram of image `id` (normalised to unit mass), if its page is held.
    pub fn histogram(&self, id: u32) -> Option<SparseView<'_>> {
        let (page, i) = self.page_of(id)?;
        page.histogram(i)
    }

    pub fn dense_histogram(&self, id: u32) -> Option<Histogram> {
        self.histogram(id).map(Histogram::from_sparse)
    }

    /// The record of image `id`, if its page is held.
    pub fn image(&self, id: u32) -> Option<&ImageMeta> {
        let (page, i) = self.page_of(id)?;
        page.images.get(i)
    }

    /// What the collection says of image `id`, if anything.
    pub fn text(&self, id: u32) -> Option<&ImageText> {
        let (page, i) = self.page_of(id)?;
        page.text(i)
    }

    /// Dominant colors of image `id` with their shares (0..1), largest first.
    pub fn palette(&self, id: u32) -> Vec<(Rgb, f64)> {
        self.page_of(id).map(|(page, i)| page.palette(i)).unwrap_or_default()
    }

    /// Notes that the chunk of `want` is needed: nothing if held (marked used), a warning if it
    /// failed, else a fetch. Returns whether it is held.
    fn need(&mut self, want: Want, needs: &mut Needs) -> bool {
        if let Some(cached) = self.chunks.get_mut(&want.chunk.name) {
            if cached.want == want {
                cached.used = self.searches;
                return true;
            }
            // Two places of the index name one file: only a crafted index does that.
            let reason = format!("{} is named twice in the index (as different parts of it): rebuild the site", want.path());
            if !needs.warnings.contains(&reason) {
                needs.warnings.push(reason);
            }
            return false;
        }
        if let Some(reason) = self.failed.get(&want.chunk.name) {
            if !needs.warnings.contains(reason) {
                needs.warnings.push(reason.clone());
            }
        } else if !needs.wants.contains(&want) {
            needs.wants.push(want);
        }
        false
    }

    fn need_shard(&mut self, s: usize, needs: &mut Needs) -> bool {
        let chunk = self.head.shards.get(s).map(|e| e.vectors);
        chunk.is_some_and(|chunk| self.need(Want { chunk, kind: ChunkKind::Shard(s as u32) }, needs))
    }

    /// Whether the page of image `id`, or its shard's page table, failed to load.
    fn page_failed(&self, id: u32) -> bool {
        let Some((s, _)) = self.head.locate(id) else { return true };
        (self.shard(s).is_none() && self.failed.contains_key(&self.head.shards[s].pages.name))
            || self.page_want(id).is_some_and(|(want, _)| self.failed.contains_key(&want.chunk.name))
    }

    fn need_page_table(&mut self, s: usize, needs: &mut Needs) -> bool {
        let chunk = self.head.shards.get(s).map(|e| e.pages);
        chunk.is_some_and(|chunk| self.need(Want { chunk, kind: ChunkKind::PageTable(s as u32) }, needs))
    }

    fn need_terms(&mut self, t: usize, needs: &mut Needs) -> bool {
        let chunk = self.head.terms.get(t).map(|e| e.chunk);
        chunk.is_some_and(|chunk| self.need(Want { chunk, kind: ChunkKind::Terms(t as u32) }, needs))
    }

    /// Needs the page of image `id`: where it is first (its shard, if held, or else its shard's
    /// page table), then the page. Returns whether the page is held.
    fn need_page(&mut self, id: u32, needs: &mut Needs) -> bool {
        let Some((s, _)) = self.head.locate(id) else { return false };
        if self.shard(s).is_none() && !self.need_page_table(s, needs) {
            return false;
        }
        let Some((want, _)) = self.page_want(id) else {
            // Validation guarantees the page, so only a table that failed gets here (warned).
            return false;
        };
        self.need(want, needs)
    }

    /// Notes the page of image `id` as an early want ([`Step::Fetch`]), if its shard is held and
    /// the page is neither held, failed nor wanted already.
    fn need_early_page(&self, id: u32, needs: &mut Needs) {
        let Some((want, _)) = self.page_want(id) else { return };
        if !self.chunks.contains_key(&want.chunk.name)
            && !self.failed.contains_key(&want.chunk.name)
            && !needs.wants.contains(&want)
            && !needs.early.contains(&want)
        {
            needs.early.push(want);
        }
    }

    /// Every chunk not held yet (shards and page tables first; pages once their shards are held):
    /// what a shell fetches to hold the whole index (`eval`, `synth`, `info`).
    pub fn everything(&mut self) -> Vec<Want> {
        let mut needs = Needs::default();
        for s in 0..self.head.shards.len() {
            self.need_shard(s, &mut needs);
            self.need_page_table(s, &mut needs);
        }
        for t in 0..self.head.terms.len() {
            self.need_terms(t, &mut needs);
        }
        if needs.wants.is_empty() {
            for id in 0..self.head.len() as u32 {
                self.need_page(id, &mut needs);
            }
        }
        needs.wants
    }

    /// Fetches (with `fetch`, a shell's) every chunk not held yet, until the whole index is held;
    /// the first file that is missing or bad ends it with its reason. For shells that need every
    /// image: `eval`, `synth`, `merge`, and the builder's check of a new index.
    pub fn hold_everything(&mut self, fetch: &mut dyn FnMut(&Want) -> Result<Vec<u8>, String>) -> Result<(), String> {
        self.budget = usize::MAX;
        loop {
            let wants = self.everything();
            if wants.is_empty() {
                // A page table says what its shard's file says (a search reads either).
                for s in 0..self.head.shards.len() {
                    let table = self.chunks.get(&self.head.shards[s].pages.name).map(|c| &c.chunk);
                    if let (Some(shard), Some(Chunk::PageTable(table))) = (self.shard(s), table) {
                        if shard.pages != *table {
                            return Err(format!(
                                "{}: the page table of shard {s} differs from its shard file: rebuild the site",
                                self.head.shards[s].pages.path()
                            ));
                        }
                    }
                }
                return Ok(());
            }
            for want in wants {
                let fetched = fetch(&want);
                self.insert(&want, fetched.as_deref().map_err(|e| e.clone()));
                if let Some(reason) = self.failed.get(&want.chunk.name) {
                    return Err(reason.clone());
                }
            }
        }
    }

    /// Chunks that failed, with their reasons.
    pub fn failures(&self) -> Vec<String> {
        let mut f: Vec<String> = self.failed.values().cloned().collect();
        f.sort();
        f
    }

    /// Runs `step` until it is done, fetching what it asks for with `fetch` (a path relative to
    /// the site -> its bytes, or why not). For shells that fetch synchronously.
    pub fn drive<T>(
        &mut self,
        mut step: impl FnMut(&mut Self) -> Result<Step<T>, SearchError>,
        fetch: &mut dyn FnMut(&Want) -> Result<Vec<u8>, String>,
    ) -> Result<T, SearchError> {
        loop {
            match step(self)? {
                Step::Done(value) => return Ok(value),
                Step::Fetch { wants, .. } => {
                    for want in wants {
                        let fetched = fetch(&want);
                        self.insert(&want, fetched.as_deref().map_err(|e| e.clone()));
                    }
                }
            }
        }
    }

    /// Drops least recently used chunks until the cache fits its budget (between searches).
    fn evict(&mut self) {
        let mut total: usize = self.chunks.values().map(|c| c.memory).sum();
        if total <= self.budget {
            return;
        }
        let mut by_age: Vec<(u64, u64)> = self.chunks.iter().map(|(name, c)| (c.used, *name)).collect();
        by_age.sort_unstable();
        for (used, name) in by_age {
            if total <= self.budget || used == self.searches {
                break;
            }
            if let Some(c) = self.chunks.remove(&name) {
                total -= c.memory;
            }
        }
    }

    /// The engine's parameters for `options`: `k`, and `rerank_k`, which is the site's build
    /// setting unless the query names one; the filter's criteria.
    fn plan(&self, options: &SearchOptions) -> Result<Plan, SearchError> {
        options.validate()?;
        let rerank_k = options.rerank_k.unwrap_or(self.head.params.rerank_k as usize).max(1);
        let exclude = options.exclude.iter().map(|e| (srgb_to_lab(e.color), e.tolerance)).collect();
        let criteria = options.filter.criteria();
        let tag_criterion = criteria.iter().position(|c| c.first().is_some_and(|span| matches!(Facet::of_term(&span.lo), Some(Facet::Tag(_)))));
        let folder = filter::folder_key(&options.filter.folder);
        Ok(Plan { k: options.k, rerank_k, any: options.any, exclude, criteria, tag_criterion, folder })
    }

    /// The term chunks that may hold terms of `span`.
    fn term_chunks(&self, span: &TermSpan) -> std::ops::Range<usize> {
        let terms = &self.head.terms;
        let start = terms.partition_point(|e| e.first.as_str() <= span.lo.as_str()).saturating_sub(1);
        let end = terms.partition_point(|e| span.reaches(&e.first));
        start..end.max(start)
    }

    /// The images with a term in one of `spans` (ascending), from the held term chunks.
    fn images_with(&self, spans: &[TermSpan]) -> Vec<u32> {
        let mut lists: Vec<&[u32]> = Vec::new();
        for span in spans {
            for t in self.term_chunks(span) {
                let Some(chunk) = self.terms(t) else { continue };
                let from = chunk.terms.partition_point(|term| term.as_str() < span.lo.as_str());
                for (term, ids) in chunk.terms[from..].iter().zip(&chunk.postings[from..]) {
                    if !span.contains(term) {
                        break;
                    }
                    lists.push(ids);
                }
            }
        }
        filter::union(&lists)
    }

    /// The chips a response offers: the subfolders of the query's folder and the tags, the most
    /// common first (the head lists them so).
    fn chips(&self, plan: &Plan) -> Vec<(Facet, usize)> {
        let mut folders = 0;
        let mut tags = 0;
        let mut chips = Vec::new();
        for (i, entry) in self.head.facets.iter().enumerate() {
            match Facet::of_term(&entry.term) {
                Some(Facet::Folder(f)) if folders < FACET_CHIPS => {
                    let rest = f.strip_prefix(plan.folder.as_str()).unwrap_or("");
                    if !rest.is_empty() && rest.find('/') == Some(rest.len() - 1) {
                        folders += 1;
                        chips.push((Facet::Folder(f), i));
                    }
                }
                Some(Facet::Tag(t)) if tags < FACET_CHIPS => {
                    tags += 1;
                    chips.push((Facet::Tag(t), i));
                }
                _ => {}
            }
        }
        chips
    }

    /// The images that pass the plan's filter, and (with `with_chips`) its chips with their
    /// counts; `None` (with `needs` filled) until the term chunks they need are held. A term chunk
    /// that failed counts as holding no images (and is warned about). A chip that every image has
    /// needs no posting list: it counts what passes.
    fn filtered(&mut self, plan: &Plan, with_chips: bool, needs: &mut Needs) -> Option<(Vec<u32>, Vec<FacetCount>)> {
        let n = self.head.len();
        let chips = if with_chips { self.chips(plan) } else { Vec::new() };
        let chip_spans: Vec<TermSpan> = chips.iter().map(|(f, _)| TermSpan { lo: f.term(), hi: f.term(), prefix: false }).collect();
        let everywhere: Vec<bool> = chips.iter().map(|(_, i)| self.head.facets[*i].images as usize == n).collect();
        let counted = chip_spans.iter().zip(&everywhere).filter(|(_, all)| !plan.criteria.is_empty() && !**all).map(|(s, _)| s.clone());
        let spans: Vec<TermSpan> = plan.criteria.iter().flatten().cloned().chain(counted).collect();
        for span in &spans {
            for t in self.term_chunks(span) {
                self.need_terms(t, needs);
            }
        }
        if !needs.wants.is_empty() {
            return None;
        }
        let sets: Vec<Vec<u32>> = plan.criteria.iter().map(|c| self.images_with(c)).collect();
        let all_but = |skip: Option<usize>| -> Option<Vec<u32>> {
            let mut kept = sets.iter().enumerate().filter(|(i, _)| Some(*i) != skip).map(|(_, s)| s);
            let first = kept.next()?.clone();
            Some(kept.fold(first, |acc, s| filter::intersect(&acc, s)))
        };
        let passing = all_but(None).unwrap_or_default();
        let for_tags = plan.tag_criterion.map(|t| all_but(Some(t)));
        let mut facets = Vec::new();
        for (((facet, i), span), all) in chips.into_iter().zip(&chip_spans).zip(everywhere) {
            let entry = &self.head.facets[i];
            let count = if plan.criteria.is_empty() {
                entry.images as usize
            } else {
                let within = match (&facet, &for_tags) {
                    (Facet::Tag(_), Some(Some(others))) => others,
                    (Facet::Tag(_), Some(None)) => {
                        // Tags are the only criterion: a tag chip counts all of its images.
                        facets.push(FacetCount::new(facet, entry.label.clone(), entry.images));
                        continue;
                    }
                    _ => &passing,
                };
                if all {
                    within.len()
                } else {
                    filter::intersect(within, &self.images_with(std::slice::from_ref(span))).len()
                }
            };
            if count > 0 {
                facets.push(FacetCount::new(facet, entry.label.clone(), count as u32));
            }
        }
        Some((passing, facets))
    }

    /// The shards a query probes: every shard of a site of at most `probe_images` images (or of
    /// a wildcard query on at most [`WILDCARD_SCAN_LIMIT`]); else the shards nearest to the query
    /// (by their nearest route, [`crate::bundle::Route::distance`]), until they hold
    /// `probe_images` images. With a filter, only shards
    /// with passing images, until they hold the same share of the passing images, or
    /// [`FILTER_PROBE_PASSING`] of them, whichever is more.
    fn route(&self, (v, cue): QueryCode<'_>, plan: &Plan, passing: Option<&[u32]>) -> Vec<usize> {
        let n = self.head.len();
        let probe = self.probe_images.unwrap_or(self.head.params.probe_images as usize);
        let first = &self.head.first_ids;
        let counts: Vec<usize> = (0..self.head.shards.len())
            .map(|s| match passing {
                None => self.head.shards[s].images as usize,
                Some(p) => p.partition_point(|&id| id < first[s + 1]) - p.partition_point(|&id| id < first[s]),
            })
            .collect();
        let total: usize = counts.iter().sum();
        let target = match passing {
            None => probe,
            Some(_) => ((probe as u64 * total as u64 / n.max(1) as u64) as usize).max(self.filter_probe.unwrap_or(FILTER_PROBE_PASSING)),
        };
        if total <= target || (plan.any > 0.0 && n <= WILDCARD_SCAN_LIMIT) {
            return (0..self.head.shards.len()).filter(|&s| counts[s] > 0).collect();
        }
        let mut order: Vec<(u32, usize)> =
            (0..self.head.shards.len()).map(|s| (self.head.routes(s).iter().map(|r| r.distance(v, cue)).min().unwrap_or(u32::MAX), s)).collect();
        order.sort_unstable();
        let mut seen = 0;
        let mut probed = Vec::new();
        for (_, s) in order {
            if seen >= target {
                break;
            }
            if counts[s] > 0 {
                seen += counts[s];
                probed.push(s);
            }
        }
        probed
    }

    /// Candidates from the HNSW, then every candidate reranked by Sinkhorn; ascending distance,
    /// ties by id. Returns the hits with the (ANN, rerank) split of the time and the Sinkhorn
    /// work, or the chunks it needs first.
    pub fn rank(&mut self, query: &Histogram, kind: QueryKind, options: &SearchOptions, clock: Clock<'_>) -> Result<Step<Ranking>, SearchError> {
        let plan = self.plan(options)?;
        self.searches += 1;
        let mut needs = Needs::default();
        let passing = if plan.criteria.is_empty() {
            None
        } else {
            match self.filtered(&plan, false, &mut needs) {
                Some((passing, _)) => Some(passing),
                None => return self.step(None, needs),
            }
        };
        let ranking = self.rank_planned(query, kind, &plan, passing.as_deref(), clock, &mut needs);
        self.step(ranking, needs)
    }

    /// The outcome of a search step: done, the files still wanted, or (neither: only a crafted
    /// index gets here) an error rather than a step that asks for nothing. A search that ends
    /// lets the cache shrink to its budget, and forgets which files failed: the next search
    /// tries them again (a dropped connection costs one search, not the session).
    fn step<T>(&mut self, done: Option<T>, needs: Needs) -> Result<Step<T>, SearchError> {
        if !needs.wants.is_empty() {
            return Ok(Step::Fetch { wants: needs.wants, early: needs.early });
        }
        self.evict();
        self.failed.clear();
        match done {
            Some(value) => Ok(Step::Done(value)),
            None => Err(SearchError::Unavailable(
                needs.warnings.into_iter().next().unwrap_or_else(|| "the site's index is inconsistent: rebuild it".into()),
            )),
        }
    }

    /// The first `k` images that pass a filter (and avoid the plan's colors to avoid), in the
    /// index's order: a search without colors. Pages are fetched `k` images at a time, as far
    /// as the colors to avoid make it go.
    fn browse(&mut self, passing: &[u32], plan: &Plan, needs: &mut Needs) -> Option<Ranking> {
        let mut hits = Vec::new();
        // Images whose pages are still to come: with the hits, never more than `k` of them.
        let mut missing = 0;
        for &id in passing {
            if hits.len() + missing >= plan.k {
                break;
            }
            if !self.need_page(id, needs) {
                // A page (or page table) that failed is warned about and skipped; others come.
                missing += usize::from(!self.page_failed(id));
                continue;
            }
            if missing == 0 && self.histogram(id).is_some_and(|h| !plan.excludes(h)) {
                hits.push(Hit { id, distance: 0.0 });
            }
        }
        if !needs.wants.is_empty() {
            return None;
        }
        Some(Ranking { hits, stats: RankStats::default() })
    }

    /// The candidates: the nearest vectors of the probed shards (`rerank_k`, or `k` if larger;
    /// a shard with an HNSW graph is searched through it), or where routing left shards out 3/2
    /// as many and their page-mates ([`NEAREST`]); for a wildcard query on a collection of
    /// at most [`WILDCARD_SCAN_LIMIT`] images, every image; with a filter that few images pass
    /// ([`FILTER_SCAN`]), every one of them, else only passing images. Images an excluded color
    /// rules out are dropped; if fewer than `k` candidates remain, every image of the probed
    /// shards that qualifies is a candidate. Candidates with page-mates are pre-ranked
    /// ([`Engine::prerank`]) down to `max(rerank_k, k)` before the rerank. `None`
    /// (with `needs` filled) until every chunk is
    /// held; chunks that failed are left out, with a warning in `needs`.
    fn rank_planned(
        &mut self,
        query: &Histogram,
        kind: QueryKind,
        plan: &Plan,
        passing: Option<&[u32]>,
        clock: Clock<'_>,
        needs: &mut Needs,
    ) -> Option<Ranking> {
        let t0 = clock();
        let v = AnnVector::from_histogram(query);
        // A query that leaves part of the image to any color has no cumulatives of a whole image,
        // and its distances are not Sinkhorn's.
        let vc = (kind == QueryKind::Colors && plan.any == 0.0).then(|| AxisCdf::of(query));
        let cue = match (&vc, kind) {
            (Some(vc), _) => Cue::Colors(vc),
            (None, QueryKind::Image) if plan.any == 0.0 => Cue::Image,
            _ => Cue::Plain,
        };
        let v = (&v, cue);
        let passes = |id: &u32| passing.is_none_or(|p| p.binary_search(id).is_ok());
        let wanted = plan.rerank_k.max(plan.k);
        let nearest = wanted * NEAREST.0 / NEAREST.1;
        let mates = PAGE_MATES * nearest;
        // Whether a pre-rank picks the `wanted` that get the full Sinkhorn (where routing leaves
        // shards out; a filter's few passing images, a wildcard scan and a site whose shards are
        // all probed are reranked whole).
        let mut prerank = false;
        let (mut candidates, everyone): (Vec<u32>, Vec<u32>) = match passing {
            Some(p) if p.len() <= FILTER_SCAN * wanted => {
                for &id in p {
                    self.need_page(id, needs);
                }
                if !needs.wants.is_empty() {
                    return None;
                }
                (p.to_vec(), p.to_vec())
            }
            _ => {
                let probed = self.route(v, plan, passing);
                for &s in &probed {
                    self.need_shard(s, needs);
                }
                if !needs.wants.is_empty() {
                    let partial = probed.len() < self.head.shards.len() || passing.is_some();
                    self.early_pages(v, &probed, if partial { nearest } else { wanted }, passing, needs);
                    return None;
                }
                // From here on every chunk asked for is held or failed (and warned about).
                let probed: Vec<usize> = probed.into_iter().filter(|&s| self.shard(s).is_some()).collect();
                let everyone: Vec<u32> = probed.iter().flat_map(|&s| self.head.first_ids[s]..self.head.first_ids[s + 1]).filter(passes).collect();
                // Where routing leaves shards out (or a filter leaves images out), the query takes
                // more nearest vectors, their page-mates join, and a pre-rank picks among them all.
                let partial = probed.len() < self.head.shards.len() || passing.is_some();
                let mut candidates = if plan.any > 0.0 && self.head.len() <= WILDCARD_SCAN_LIMIT {
                    everyone.clone()
                } else {
                    prerank = partial;
                    self.nearest_vectors(v, &probed, if prerank { nearest } else { wanted }, passing)
                };
                for &id in &candidates {
                    self.need_page(id, needs);
                }
                if !needs.wants.is_empty() {
                    return None;
                }
                if partial {
                    candidates = self.with_page_mates(v, candidates, mates, passing);
                }
                (candidates, everyone)
            }
        };
        if !plan.exclude.is_empty() {
            let allowed = |engine: &Self, id: &u32| engine.histogram(*id).is_some_and(|h| !plan.excludes(h));
            candidates.retain(|id| allowed(self, id));
            if candidates.len() < plan.k {
                for &id in &everyone {
                    self.need_page(id, needs);
                }
                if !needs.wants.is_empty() {
                    return None;
                }
                candidates = everyone.into_iter().filter(|id| allowed(self, id)).collect();
                prerank = false;
            }
        }
        let t1 = clock();
        let q = query.pruned();
        let probe = Probe { q: q.view(), any: plan.any };
        let pool = candidates.len();
        if prerank && candidates.len() > wanted {
            candidates = self.prerank(probe, &candidates, wanted);
        }
        let replay = self.rerank(probe, &candidates, plan.k);
        let rerank_ms = clock() - t1;
        let stats = RankStats { ann_ms: t1 - t0, rerank_ms, candidates: pool, reranked: replay.reranked, iterations: replay.iterations };
        Some(Ranking { hits: replay.best, stats })
    }

    /// The candidates and, up to `count` in all, the other images on their pages nearest to the
    /// query `(vector, cue)` by [`crate::ann::candidate_distance`] (that pass the filter, if any). Pages hold vector-near images (shard.rs), so page-mates are
    /// likely matches too, and their histograms are fetched already: more candidates for no more
    /// bytes.
    fn with_page_mates(&self, (v, cue): QueryCode<'_>, candidates: Vec<u32>, count: usize, passing: Option<&[u32]>) -> Vec<u32> {
        let per = self.head.params.page_images;
        let mut pages: Vec<(usize, u32)> =
            candidates.iter().filter_map(|&id| self.head.locate(id)).map(|(s, local)| (s, local as u32 / per)).collect();
        pages.sort_unstable();
        pages.dedup();
        let mut mates: Vec<(u32, u32)> = Vec::new();
        for (s, page) in pages {
            let Some(shard) = self.shard(s) else { continue };
            if !self.shard_pages(s).and_then(|p| p.get(page as usize)).is_some_and(|c| self.chunks.contains_key(&c.name)) {
                continue;
            }
            let start = (page * per) as usize;
            let end = (start + per as usize).min(shard.vectors.len());
            let first = self.head.first_ids[s];
            mates.extend(
                (start..end)
                    .map(|i| first + i as u32)
                    .filter(|id| passing.is_none_or(|p| p.binary_search(id).is_ok()))
                    .map(|id| (shard.distance(v, cue, (id - first) as usize), id)),
            );
        }
        if mates.len() > count {
            mates.select_nth_unstable(count);
            mates.truncate(count);
        }
        let mut all: Vec<u32> = candidates;
        all.extend(mates.into_iter().map(|(_, id)| id));
        all.sort_unstable();
        all.dedup();
        all
    }

    /// While some of the `probed` shards are still to come: the pages of the best candidates
    /// among those held, as early wants. As many as the held shards' share of the probed images
    /// would hold of the `wanted` candidates, so that few of them go unused once every shard is in.
    fn early_pages(&mut self, v: QueryCode<'_>, probed: &[usize], wanted: usize, passing: Option<&[u32]>, needs: &mut Needs) {
        let held: Vec<usize> = probed.iter().copied().filter(|&s| self.shard(s).is_some()).collect();
        let images = |shards: &[usize]| shards.iter().map(|&s| self.head.shards[s].images as usize).sum::<usize>();
        let (held_images, probed_images) = (images(&held), images(probed));
        if held.is_empty() || probed_images == 0 {
            return;
        }
        let count = wanted * held_images / probed_images;
        for id in self.nearest_vectors(v, &held, count, passing) {
            self.need_early_page(id, needs);
        }
    }

    /// The `count` images of the probed shards nearest to the query `(vector, cue)` by
    /// [`crate::ann::candidate_distance`] (ties by id), nearest first, among those that pass the filter if any.
    /// A shard with an HNSW graph gives the graph's candidates (when there is no filter).
    fn nearest_vectors(&mut self, (v, cue): QueryCode<'_>, probed: &[usize], count: usize, passing: Option<&[u32]>) -> Vec<u32> {
        let mut found: Vec<(u32, u32)> = Vec::new();
        for &s in probed {
            let first = self.head.first_ids[s];
            let Some(cached) = self.chunks.get(&self.head.shards[s].vectors.name) else { continue };
            let Chunk::Shard(shard) = &cached.chunk else { continue };
            if cached.want.kind != ChunkKind::Shard(s as u32) {
                continue;
            }
            match (&shard.ann, passing) {
                // A one-shard site's graph, as such a site always ranked; it returns at most its
                // search width, so a wider query scans instead.
                (Some(ann), None) if probed.len() == 1 && ann.search_width() >= count => {
                    return ann.search(v, &mut self.ann_search).into_iter().take(count).map(|i| first + i).collect();
                }
                (_, None) => found.extend((0..shard.vectors.len()).map(|i| (shard.distance(v, cue, i), first + i as u32))),
                (_, Some(p)) => {
                    let from = p.partition_point(|&id| id < first);
                    let to = p.partition_point(|&id| id < first + shard.vectors.len() as u32);
                    found.extend(p[from..to].iter().map(|&id| (shard.distance(v, cue, (id - first) as usize), id)));
                }
            }
        }
        if found.len() > count {
            found.select_nth_unstable(count);
            found.truncate(count);
        }
        found.sort_unstable();
        found.into_iter().map(|(_, id)| id).collect()
    }

    /// The `keep` of `candidates` nearest to the query by a Sinkhorn stopped after
    /// [`PRERANK_ITERATIONS`] (ties by id), in that order: which of a query's candidates get the
    /// full Sinkhorn. On the current rayon pool with feature `parallel` (each estimate is
    /// independent, so the result is the same on any number of threads).
    fn prerank(&self, q: Probe<'_>, candidates: &[u32], keep: usize) -> Vec<u32> {
        let views: Vec<(u32, SparseView<'_>)> = candidates.iter().filter_map(|&id| Some((id, self.histogram(id)?))).collect();
        let estimate = |&(id, h): &(u32, SparseView<'_>)| (SINKHORN.with(|s| s.borrow_mut().estimate(q.q, h, q.any, PRERANK_ITERATIONS)), id);
        #[cfg(feature = "parallel")]
        let mut scored: Vec<(f64, u32)> = views.par_iter().map(estimate).collect();
        #[cfg(not(feature = "parallel"))]
        let mut scored: Vec<(f64, u32)> = views.iter().map(estimate).collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        scored.truncate(keep);
        scored.into_iter().map(|(_, id)| id).collect()
    }

    /// Sinkhorn over `candidates`, visited in order of a lower bound of the EMD
    /// (`emd::lower_bound`): once the bound passes the k-th best distance found, no remaining
    /// candidate can enter the top k, so the rest are skipped. Same result as reranking all
    /// (barring the rare unconverged Sinkhorn noted at `BOUND_SLACK`).
    ///
    /// Every thread of the current rayon pool (feature `parallel`; else just this one) claims the
    /// next candidate and computes its distance; a [`Replay`] consumes the distances strictly in
    /// bound order with the stopping rule of a single thread. Hits, distances and counts are
    /// therefore the same on any number of threads; at most one candidate per extra thread is
    /// computed past the stopping point. Returns the finished replay (hits and counts).
    fn rerank(&self, q: Probe<'_>, candidates: &[u32], k: usize) -> Replay {
        let qm = Marginals::of(q.q);
        // The marginals' bound is tighter, but holds only when all of the image must be matched.
        let nearest = (q.any > 0.0).then(|| NearestBound::new(q.q));
        let bound = |h: SparseView<'_>| match &nearest {
            Some(nearest) => nearest.of(h),
            None => lower_bound(&qm, &Marginals::of(h)),
        };
        let mut order: Vec<(f64, u32, SparseView<'_>)> = candidates
            .iter()
            .filter_map(|&id| {
                let h = self.histogram(id)?;
                Some((bound(h), id, h))
            })
            .collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let replay = Mutex::new(Replay::new(order.len(), k));
        let claimed = AtomicUsize::new(0);
        let lock = || replay.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let work = || loop {
            let i = claimed.fetch_add(1, Ordering::Relaxed);
            let Some(&(bound, _, h)) = order.get(i) else { break };
            // The candidates before `i` that are consumed already prove the single-thread loop
            // stops at or before `i` (its k-th distance there can only be smaller): skip the rest.
            {
                let mut replay = lock();
                if replay.stops_before(bound) {
                    replay.settle(i, Slot::Skipped, &order, q);
                    break;
                }
            }
            let (distance, iterations) = sinkhorn(q, h);
            lock().settle(i, Slot::Done(distance, iterations), &order, q);
        };
        #[cfg(feature = "parallel")]
        (0..threads()).into_par_iter().for_each(|_| work());
        #[cfg(not(feature = "parallel"))]
        work();
        replay.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Exhaustive Sinkhorn over every image whose page is held (on the current rayon pool with
    /// feature `parallel`): the ground truth the two-stage search is measured against. Hold the
    /// whole index first ([`Engine::everything`]).
    pub fn rank_exhaustive(&mut self, query: &Histogram, k: usize) -> Vec<Hit> {
        let q = query.pruned();
        let engine = &*self;
        #[cfg(feature = "parallel")]
        let ids = (0..engine.len() as u32).into_par_iter();
        #[cfg(not(feature = "parallel"))]
        let ids = 0..engine.len() as u32;
        let probe = Probe { q: q.view(), any: 0.0 };
        let mut hits: Vec<Hit> = ids.filter_map(|id| Some(Hit { id, distance: sinkhorn(probe, engine.histogram(id)?).0 })).collect();
        sort_hits(&mut hits);
        hits.truncate(k);
        hits
    }

    /// Runs one step of a search: the query histogram of the source, then the ranking, then the
    /// response with each hit's names and palette; or the chunks it needs first. The one entry
    /// point of the CLI, the worker and the page, so all three rank identically.
    pub fn search(&mut self, request: &SearchRequest, clock: Clock<'_>) -> Result<Step<SearchResponse>, SearchError> {
        let t0 = clock();
        let plan = self.plan(&request.options)?;
        self.searches += 1;
        let mut needs = Needs::default();
        let (echo, histogram) = match &request.source {
            Source::Colors { colors, weights } => {
                let query = Query::from_strings(colors, Some(weights))?;
                let echo = QueryEcho { colors: query.hex_colors(), weights: query.weights().to_vec(), mode: "colors".into(), similar_to: None };
                (echo, Some((QueryKind::Colors, query.histogram())))
            }
            Source::Similar { image } => {
                self.head.locate(*image).ok_or(SearchError::NoSuchImage(*image))?;
                if !self.need_page(*image, &mut needs) {
                    return self.step(None, needs);
                }
                let histogram = self.dense_histogram(*image).ok_or(SearchError::NoSuchImage(*image))?;
                (echo_of(&histogram, "similar", Some(*image)), Some((QueryKind::Image, histogram)))
            }
            Source::Histogram { bins } => {
                if bins.len() != BINS {
                    return Err(SearchError::BadHistogram(bins.len()));
                }
                let mut histogram = Histogram::default();
                for (bin, &mass) in bins.iter().enumerate() {
                    histogram.splat_bin(bin, if mass.is_finite() { mass.max(0.0) } else { 0.0 });
                }
                if !histogram.normalize() {
                    return Err(SearchError::EmptyHistogram);
                }
                (echo_of(&histogram, "image", None), Some((QueryKind::Image, histogram)))
            }
            Source::Browse => {
                if plan.criteria.is_empty() {
                    return Err(QueryError::NoColors.into());
                }
                (QueryEcho { colors: Vec::new(), weights: Vec::new(), mode: "filter".into(), similar_to: None }, None)
            }
        };
        let query_time = clock() - t0;
        let (passing, facets) = if plan.criteria.is_empty() && self.head.facets.is_empty() {
            (None, Vec::new())
        } else {
            match self.filtered(&plan, true, &mut needs) {
                Some((passing, facets)) => ((!plan.criteria.is_empty()).then_some(passing), facets),
                None => return self.step(None, needs),
            }
        };
        let ranking = match &histogram {
            Some((kind, histogram)) => self.rank_planned(histogram, *kind, &plan, passing.as_deref(), clock, &mut needs),
            None => self.browse(passing.as_deref().unwrap_or_default(), &plan, &mut needs),
        };
        let Some(ranking) = ranking else {
            return self.step(None, needs);
        };
        let results: Vec<ResultItem> = ranking
            .hits
            .iter()
            .enumerate()
            .filter_map(|(i, hit)| {
                let meta = self.image(hit.id)?;
                let text = self.text(hit.id);
                Some(ResultItem {
                    id: hit.id,
                    path: meta.path.clone(),
                    thumb: meta.thumb_url(),
                    original: meta.original_url(),
                    distance: hit.distance,
                    rank: i + 1,
                    palette: self.palette(hit.id).into_iter().map(|(c, s)| (to_hex(c), s)).collect(),
                    width: meta.width,
                    height: meta.height,
                    title: text.map(|t| t.title.clone()).unwrap_or_default(),
                    caption: text.map(|t| t.caption.clone()).unwrap_or_default(),
                    url: text.map(|t| t.url.clone()).unwrap_or_default(),
                    tags: text.map(|t| t.tags.clone()).unwrap_or_default(),
                    date: text.map(|t| t.date.clone()).unwrap_or_default(),
                    extra: text.map(|t| t.extra.clone()).unwrap_or_default(),
                })
            })
            .collect();
        let warnings = std::mem::take(&mut needs.warnings);
        let response = SearchResponse {
            query: echo,
            results_count: results.len(),
            results,
            warnings,
            facets,
            metadata: Metadata {
                query_time_ms: query_time,
                ann_time_ms: ranking.stats.ann_ms,
                rerank_time_ms: ranking.stats.rerank_ms,
                total_time_ms: clock() - t0,
                index_size: self.head.len(),
                candidates: ranking.stats.candidates,
                matching: passing.as_ref().map(Vec::len),
                memory_bytes: None,
            },
        };
        self.step(Some(response), needs)
    }
}

fn echo_of(histogram: &Histogram, mode: &str, similar_to: Option<u32>) -> QueryEcho {
    let colors = dominant_colors(histogram, crate::query::MAX_COLORS);
    QueryEcho {
        colors: colors.iter().map(|(c, _)| to_hex(*c)).collect(),
        weights: colors.iter().map(|(_, w)| *w).collect(),
        mode: mode.into(),
        similar_to,
    }
}

fn sort_hits(hits: &mut [Hit]) {
    hits.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
}

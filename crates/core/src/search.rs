//! The two-stage search: query histogram -> HNSW candidates -> Sinkhorn-EMD rerank -> top k.
//! Shared by the CLI and the browser, so both rank identically; the response ([`SearchResponse`])
//! is the JSON that `chromatica search --json` prints and `window.chromatica.search` returns:
//! `{query, results_count, results, metadata}`.

use crate::ann::AnnVector;
use crate::bundle::Bundle;
use crate::color::to_hex;
use crate::color::{delta_e, srgb_to_lab};
use crate::emd::{lower_bound, Marginals, NearestBound, Sinkhorn};
use crate::histogram::bin_center;
use crate::histogram::SparseView;
use crate::histogram::BINS;
use crate::histogram::{dominant_colors, Histogram};
use crate::query::{Query, QueryError, SearchOptions, EXCLUDE_MIN_SHARE};
#[cfg(feature = "parallel")]
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultItem {
    pub id: u32,
    pub path: String,
    pub thumb: String,
    pub original: String,
    pub distance: f64,
    pub rank: usize,
    /// Dominant colors of the image (hex) and their shares.
    pub palette: Vec<(String, f64)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub query_time_ms: f64,
    pub ann_time_ms: f64,
    pub rerank_time_ms: f64,
    pub total_time_ms: f64,
    pub index_size: usize,
    pub candidates: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    pub query: QueryEcho,
    pub results_count: usize,
    pub results: Vec<ResultItem>,
    pub metadata: Metadata,
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
}

impl Source {
    pub fn colors(query: &Query) -> Self {
        Self::Colors { colors: query.hex_colors(), weights: query.weights().to_vec() }
    }

    pub fn histogram(h: &Histogram) -> Self {
        Self::Histogram { bins: h.as_slice().to_vec() }
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
    #[error("rerank_k can be at most {max} on this site (its search width); build the site with a larger --rerank-k")]
    RerankTooLarge { asked: usize, max: usize },
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
    /// Candidates the HNSW returned (at most `rerank_k`, or k if larger).
    pub candidates: usize,
    /// Sinkhorn evaluations, and their iterations in total.
    pub reranked: usize,
    pub iterations: usize,
}

/// A loaded bundle plus the scratch space searches reuse. With feature `parallel` the rerank runs
/// on the current rayon pool; the ranking is the same on any number of threads.
pub struct Engine {
    bundle: Bundle,
    ann_search: instant_distance::Search,
}

impl Engine {
    pub fn new(bundle: Bundle) -> Self {
        Self { bundle, ann_search: Default::default() }
    }

    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The engine's parameters for `options`: `k`, and `rerank_k`, which is the site's build
    /// setting unless the query names one; the HNSW search width the bundle was decoded with
    /// bounds it (one search returns at most that many candidates).
    fn plan(&self, options: &SearchOptions) -> Result<Plan, SearchError> {
        options.validate()?;
        let rerank_k = options.rerank_k.unwrap_or(self.bundle.params.rerank_k as usize).max(1);
        let max = self.bundle.ann.search_width();
        if rerank_k > max {
            return Err(SearchError::RerankTooLarge { asked: rerank_k, max });
        }
        let exclude = options.exclude.iter().map(|e| (srgb_to_lab(e.color), e.tolerance)).collect();
        Ok(Plan { k: options.k, rerank_k, any: options.any, exclude })
    }

    /// Candidates from the HNSW, then every candidate reranked by Sinkhorn; ascending distance,
    /// ties by id. Returns the hits with the (ANN, rerank) split of the time and the Sinkhorn work.
    pub fn rank(&mut self, query: &Histogram, options: &SearchOptions, clock: Clock<'_>) -> Result<Ranking, SearchError> {
        let plan = self.plan(options)?;
        Ok(self.rank_planned(query, plan, clock))
    }

    /// The candidates: the ANN's (`rerank_k`, or `k` if larger); for a wildcard query on a
    /// collection of at most [`WILDCARD_SCAN_LIMIT`] images, every image. Images an excluded color
    /// rules out are dropped; if fewer than `k` candidates remain, every image that qualifies is a
    /// candidate (so a query with exclusions has `k` results whenever `k` images qualify).
    fn rank_planned(&mut self, query: &Histogram, plan: Plan, clock: Clock<'_>) -> Ranking {
        let t0 = clock();
        let n = self.bundle.len() as u32;
        let mut candidates = if plan.any > 0.0 && n as usize <= WILDCARD_SCAN_LIMIT {
            (0..n).collect()
        } else {
            let mut ann = self.bundle.ann.search(&AnnVector::from_histogram(query), &mut self.ann_search);
            ann.truncate(plan.rerank_k.max(plan.k));
            ann
        };
        if !plan.exclude.is_empty() {
            let bundle = &self.bundle;
            let allowed = |id: &u32| bundle.histogram(*id as usize).is_some_and(|h| !plan.excludes(h));
            candidates.retain(allowed);
            if candidates.len() < plan.k {
                candidates = (0..n).filter(allowed).collect();
            }
        }
        let t1 = clock();
        let q = query.pruned();
        let replay = self.rerank(Probe { q: q.view(), any: plan.any }, &candidates, plan.k);
        let rerank_ms = clock() - t1;
        let stats = RankStats { ann_ms: t1 - t0, rerank_ms, candidates: candidates.len(), reranked: replay.reranked, iterations: replay.iterations };
        Ranking { hits: replay.best, stats }
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
                let h = self.bundle.histogram(id as usize)?;
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

    /// Exhaustive Sinkhorn over every image (on the current rayon pool with feature `parallel`): the ground
    /// truth the two-stage search is measured against.
    pub fn rank_exhaustive(&mut self, query: &Histogram, k: usize) -> Vec<Hit> {
        let q = query.pruned();
        let bundle = &self.bundle;
        #[cfg(feature = "parallel")]
        let ids = (0..bundle.len() as u32).into_par_iter();
        #[cfg(not(feature = "parallel"))]
        let ids = 0..bundle.len() as u32;
        let probe = Probe { q: q.view(), any: 0.0 };
        let mut hits: Vec<Hit> = ids.filter_map(|id| Some(Hit { id, distance: sinkhorn(probe, bundle.histogram(id as usize)?).0 })).collect();
        sort_hits(&mut hits);
        hits.truncate(k);
        hits
    }

    /// Runs one search: the query histogram of the source, then [`Engine::rank`], then the
    /// response with each hit's names and palette. The one entry point of the CLI, the worker and
    /// the page, so all three rank identically.
    pub fn search(&mut self, request: &SearchRequest, clock: Clock<'_>) -> Result<SearchResponse, SearchError> {
        let t0 = clock();
        let plan = self.plan(&request.options)?;
        let (echo, histogram) = match &request.source {
            Source::Colors { colors, weights } => {
                let query = Query::from_strings(colors, Some(weights))?;
                let echo = QueryEcho { colors: query.hex_colors(), weights: query.weights().to_vec(), mode: "colors".into(), similar_to: None };
                (echo, query.histogram())
            }
            Source::Similar { image } => {
                let histogram = self.bundle.dense_histogram(*image as usize).ok_or(SearchError::NoSuchImage(*image))?;
                (echo_of(&histogram, "similar", Some(*image)), histogram)
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
                (echo_of(&histogram, "image", None), histogram)
            }
        };
        Ok(self.respond(echo, &histogram, plan, clock, t0))
    }

    fn respond(&mut self, query: QueryEcho, histogram: &Histogram, plan: Plan, clock: Clock<'_>, t0: f64) -> SearchResponse {
        let query_time = clock() - t0;
        let ranking = self.rank_planned(histogram, plan, clock);
        let results: Vec<ResultItem> = ranking
            .hits
            .iter()
            .enumerate()
            .filter_map(|(i, hit)| {
                let meta = self.bundle.images.get(hit.id as usize)?;
                Some(ResultItem {
                    id: hit.id,
                    path: meta.path.clone(),
                    thumb: meta.thumb_url(),
                    original: meta.original_url(),
                    distance: hit.distance,
                    rank: i + 1,
                    palette: self.bundle.palette(hit.id as usize).into_iter().map(|(c, s)| (to_hex(c), s)).collect(),
                })
            })
            .collect();
        SearchResponse {
            query,
            results_count: results.len(),
            results,
            metadata: Metadata {
                query_time_ms: query_time,
                ann_time_ms: ranking.stats.ann_ms,
                rerank_time_ms: ranking.stats.rerank_ms,
                total_time_ms: clock() - t0,
                index_size: self.bundle.len(),
                candidates: ranking.stats.candidates,
            },
        }
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

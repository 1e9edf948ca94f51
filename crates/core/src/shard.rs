//! How a collection is cut into shards and pages (the layout), and the index files it makes.
//!
//! Shards are k-means clusters of the ANN vectors (about [`SHARD_IMAGES`] images each; larger
//! clusters are split), so a query finds its nearest neighbours in the few shards whose routes
//! (groups of their images, [`bundle::Route`]) are nearest to it (routing, search.rs). Inside a shard, images are ordered by a second, finer
//! k-means (about one cluster per page), so the candidates of one query share pages and a query
//! downloads few of them. A site of at most [`SHARD_IMAGES`] images is one shard in input order
//! that carries an HNSW graph, searched as a single-graph site always was.
//!
//! Everything here is deterministic: integer vectors, integer sums (exact in any order), ties
//! broken by index, a fixed number of iterations. The same input gives the same bytes on any
//! number of threads. A rebuild passes the previous layout: images that did not change stay in
//! their shards, so shards without changes keep their members, bytes and file names. (The term
//! chunks hold global ids, so they change with any image added or removed: they are small.)

use crate::ann::{AnnIndex, AnnVector, AxisCdf, SelfCost, ANN_DIMS};
use crate::bundle::{
    self, ChunkRef, FacetEntry, ImageMeta, ImageText, PaletteEntry, Params, Route, ShardEntry, StoredHistogram, TermChunkEntry, FACETS,
    MAX_FACET_LABEL, PALETTE_SIZE, ROUTE_CENTROIDS, SHARD_IMAGES, TERM_CHUNK_BYTES,
};
use crate::emd::Sinkhorn;
use crate::filter::{self, Facet};
use crate::histogram::Histogram;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};

/// Lloyd iterations of every k-means.
const ITERATIONS: usize = 10;
/// k-means trains on at most this many points per cluster (an evenly spaced sample), then assigns all.
const SAMPLE_PER_CLUSTER: usize = 64;
/// A shard larger than this many times [`SHARD_IMAGES`] is split.
const MAX_SHARD_FACTOR: usize = 2;

/// One shard of a layout: its centroid and its members (input indices) in page order.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardLayout {
    pub centroid: AnnVector,
    pub members: Vec<u32>,
}

/// The nearest of `centroids` to `v` (ties: the lowest index).
pub fn nearest(v: &AnnVector, centroids: &[AnnVector]) -> usize {
    let mut best = (u32::MAX, 0);
    for (i, c) in centroids.iter().enumerate() {
        let d = v.squared_distance(c);
        if d < best.0 {
            best = (d, i);
        }
    }
    best.1
}

/// The mean of some vectors (rounded), or zeros for none.
fn mean<'a>(vectors: impl Iterator<Item = &'a AnnVector>) -> AnnVector {
    let mut sum = [0u64; ANN_DIMS];
    let mut n = 0u64;
    for v in vectors {
        n += 1;
        for (s, &x) in sum.iter_mut().zip(&v.0) {
            *s += x as u64;
        }
    }
    AnnVector(std::array::from_fn(|d| (sum[d] + n / 2).checked_div(n).unwrap_or(0) as u8))
}

/// `k` centroids of `points` by Lloyd's algorithm, started from evenly spaced points and trained on
/// an evenly spaced sample. Deterministic.
pub fn kmeans(points: &[&AnnVector], k: usize) -> Vec<AnnVector> {
    if points.is_empty() {
        return Vec::new();
    }
    let k = k.clamp(1, points.len().max(1));
    let step = (points.len() / (k * SAMPLE_PER_CLUSTER)).max(1);
    let sample: Vec<&AnnVector> = points.iter().step_by(step).copied().collect();
    let mut centroids: Vec<AnnVector> = (0..k).map(|i| sample[i * sample.len() / k].clone()).collect();
    for _ in 0..ITERATIONS {
        let assigned: Vec<usize> = sample.par_iter().map(|v| nearest(v, &centroids)).collect();
        let mut sums = vec![[0u64; ANN_DIMS]; k];
        let mut counts = vec![0u64; k];
        for (v, &c) in sample.iter().zip(&assigned) {
            counts[c] += 1;
            for (s, &x) in sums[c].iter_mut().zip(&v.0) {
                *s += x as u64;
            }
        }
        let mut moved = false;
        for c in 0..k {
            if counts[c] > 0 {
                let n = counts[c];
                let next = AnnVector(std::array::from_fn(|d| ((sums[c][d] + n / 2) / n) as u8));
                moved |= next != centroids[c];
                centroids[c] = next;
            }
        }
        if !moved {
            break;
        }
    }
    centroids
}

/// `members` grouped by the nearest of `centroids`, in order; empty groups dropped.
fn group(vectors: &[AnnVector], members: &[u32], centroids: &[AnnVector]) -> Vec<(AnnVector, Vec<u32>)> {
    let assigned: Vec<usize> = members.par_iter().map(|&m| nearest(&vectors[m as usize], centroids)).collect();
    let mut groups: Vec<Vec<u32>> = vec![Vec::new(); centroids.len()];
    for (&m, &c) in members.iter().zip(&assigned) {
        groups[c].push(m);
    }
    centroids.iter().cloned().zip(groups).filter(|(_, g)| !g.is_empty()).collect()
}

/// Orders a shard's members so that vector-near images share pages (of `page` images): by a
/// k-means of about one cluster per page, then by input index.
fn page_order(vectors: &[AnnVector], members: Vec<u32>, page: usize) -> Vec<u32> {
    if members.len() <= page {
        return members;
    }
    let points: Vec<&AnnVector> = members.iter().map(|&m| &vectors[m as usize]).collect();
    let centroids = kmeans(&points, members.len().div_ceil(page));
    group(vectors, &members, &centroids).into_iter().flat_map(|(_, g)| g).collect()
}

/// A shard's routes: its members (`vectors`, with their `self_costs`) grouped by a k-means into
/// [`ROUTE_CENTROIDS`] groups, each group's mean vector and smallest self cost; a shard of fewer
/// images repeats its last route.
fn routes(vectors: &[AnnVector], self_costs: &[SelfCost]) -> Vec<Route> {
    let points: Vec<&AnnVector> = vectors.iter().collect();
    let all: Vec<u32> = (0..vectors.len() as u32).collect();
    let mut routes: Vec<Route> = group(vectors, &all, &kmeans(&points, ROUTE_CENTROIDS))
        .into_iter()
        .map(|(_, members)| Route {
            centroid: mean(members.iter().map(|&m| &vectors[m as usize])),
            self_cost: members.iter().map(|&m| self_costs[m as usize]).min().unwrap_or_default(),
        })
        .collect();
    if let Some(last) = routes.last().cloned() {
        routes.resize(ROUTE_CENTROIDS, last);
    }
    routes
}

/// The layout of a site's previous build, for a rebuild: its shard centroids, and for each input
/// image the shard it was in (`None`: new or changed since).
#[derive(Clone, Copy, Debug)]
pub struct Previous<'a> {
    pub centroids: &'a [AnnVector],
    pub shard_of: &'a [Option<u32>],
}

/// Cuts `vectors` (in input order) into shards. With the `previous` layout, every image that was
/// there keeps its shard and new ones join the nearest, so shards whose images did not change
/// keep their members (and so their bytes); unless that layout no longer fits (a shard would grow
/// past the split size, or the collection doubled or halved), when it is laid out afresh.
pub fn layout(vectors: &[AnnVector], previous: Option<Previous<'_>>, page: usize) -> Vec<ShardLayout> {
    let n = vectors.len();
    let all: Vec<u32> = (0..n as u32).collect();
    if n <= SHARD_IMAGES {
        return vec![ShardLayout { centroid: mean(vectors.iter()), members: all }];
    }
    let too_big = |g: &[(AnnVector, Vec<u32>)]| g.iter().any(|(_, m)| m.len() > MAX_SHARD_FACTOR * SHARD_IMAGES);
    // A previous site of one shard (in input order, with a graph) is no layout to keep.
    let kept = previous.filter(|p| p.centroids.len() > 1 && p.shard_of.len() == n).map(|p| {
        let mut groups: Vec<(AnnVector, Vec<u32>)> = p.centroids.iter().map(|c| (c.clone(), Vec::new())).collect();
        for (i, shard) in p.shard_of.iter().enumerate() {
            let s = shard.map(|s| s as usize).filter(|&s| s < groups.len()).unwrap_or_else(|| nearest(&vectors[i], p.centroids));
            groups[s].1.push(i as u32);
        }
        groups.retain(|(_, m)| !m.is_empty());
        groups
    });
    let fits = |g: &Vec<(AnnVector, Vec<u32>)>| !too_big(g) && g.len() * SHARD_IMAGES * 2 >= n && g.len() * SHARD_IMAGES <= 2 * n;
    let groups = match kept.filter(fits) {
        Some(groups) => groups,
        None => {
            let points: Vec<&AnnVector> = vectors.iter().collect();
            let centroids = kmeans(&points, n.div_ceil(SHARD_IMAGES));
            let mut split = Vec::new();
            for (centroid, members) in group(vectors, &all, &centroids) {
                if members.len() <= MAX_SHARD_FACTOR * SHARD_IMAGES {
                    split.push((centroid, members));
                    continue;
                }
                let points: Vec<&AnnVector> = members.iter().map(|&m| &vectors[m as usize]).collect();
                let sub = kmeans(&points, members.len().div_ceil(SHARD_IMAGES));
                split.extend(group(vectors, &members, &sub));
            }
            split
        }
    };
    groups.into_par_iter().map(|(centroid, members)| ShardLayout { centroid, members: page_order(vectors, members, page) }).collect()
}

/// What the builder hands to [`build_index`], per image in input order.
pub struct IndexInput<'a> {
    pub params: Params,
    pub images: &'a [ImageMeta],
    pub histograms: &'a [StoredHistogram],
    pub palettes: &'a [[PaletteEntry; PALETTE_SIZE]],
    /// What the collection says of each image, or nothing (an empty slice).
    pub texts: &'a [ImageText],
    pub vectors: &'a [AnnVector],
    /// The layout of the site's previous build (see [`layout`]).
    pub previous: Option<Previous<'a>>,
}

/// A chunk file: its ref and its bytes.
pub type Chunk = (ChunkRef, Vec<u8>);

/// The files of an index: the head and every chunk (by its ref), and where each input went.
pub struct EncodedIndex {
    pub head: Vec<u8>,
    pub chunks: Vec<Chunk>,
    /// `order[id]` is the input index of the image with global id `id`.
    pub order: Vec<u32>,
    pub shards: usize,
}

/// Lays out and encodes an index (shards in parallel on the current rayon pool; the bytes do not
/// depend on the number of threads).
pub fn build_index(input: &IndexInput<'_>) -> EncodedIndex {
    let page = (input.params.page_images as usize).max(1);
    let shards = layout(input.vectors, input.previous, page);
    let single = shards.len() == 1;
    let encoded: Vec<(ShardEntry, Vec<Route>, Vec<Chunk>)> = shards
        .par_iter()
        .map(|shard| {
            let mut chunks = Vec::new();
            let mut pages = Vec::new();
            for run in shard.members.chunks(page) {
                let images: Vec<ImageMeta> = run.iter().map(|&m| input.images[m as usize].clone()).collect();
                let histograms: Vec<&StoredHistogram> = run.iter().map(|&m| &input.histograms[m as usize]).collect();
                let palettes: Vec<[PaletteEntry; PALETTE_SIZE]> = run.iter().map(|&m| input.palettes[m as usize]).collect();
                let texts: Vec<ImageText> = run.iter().filter_map(|&m| input.texts.get(m as usize).cloned()).collect();
                let bytes = bundle::encode_page(&images, &texts, &histograms, &palettes);
                let chunk = ChunkRef::of(&bytes);
                pages.push(chunk);
                chunks.push((chunk, bytes));
            }
            let vectors: Vec<AnnVector> = shard.members.iter().map(|&m| input.vectors[m as usize].clone()).collect();
            // One shard: the HNSW graph of a small site (built on one thread: a pure function of the input).
            let ann = single.then(|| AnnIndex::build(vectors.clone(), input.params.ef_search as usize));
            let cdfs: Vec<AxisCdf> =
                shard.members.iter().map(|&m| AxisCdf::of(&Histogram::from_sparse(input.histograms[m as usize].view()))).collect();
            let mut sinkhorn = Sinkhorn::new();
            let self_costs: Vec<SelfCost> = shard
                .members
                .iter()
                .map(|&m| {
                    let h = input.histograms[m as usize].view();
                    SelfCost::of(sinkhorn.distance(h, h))
                })
                .collect();
            let routes = routes(&vectors, &self_costs);
            let bytes = bundle::encode_shard(&vectors, &cdfs, &self_costs, &pages, ann.as_ref());
            let vectors = ChunkRef::of(&bytes);
            chunks.push((vectors, bytes));
            let bytes = bundle::encode_page_table(&pages);
            let pages = ChunkRef::of(&bytes);
            chunks.push((pages, bytes));
            (ShardEntry { images: shard.members.len() as u32, vectors, pages }, routes, chunks)
        })
        .collect();
    let centroids: Vec<AnnVector> = shards.iter().map(|s| s.centroid.clone()).collect();
    let backgrounds_removed = input.images.iter().filter(|m| m.background_removed).count() as u32;
    let entries: Vec<ShardEntry> = encoded.iter().map(|(e, _, _)| e.clone()).collect();
    let routes: Vec<Route> = encoded.iter().flat_map(|(_, r, _)| r.iter().cloned()).collect();
    let order: Vec<u32> = shards.iter().flat_map(|s| s.members.iter().copied()).collect();
    let (term_chunks, terms, facets) = term_index(input, &order);
    let head = bundle::encode_head(&input.params, &entries, &centroids, &routes, backgrounds_removed, &terms, &facets);
    EncodedIndex { head, chunks: encoded.into_iter().flat_map(|(_, _, c)| c).chain(term_chunks).collect(), order, shards: shards.len() }
}

/// The term chunks (filter.rs says what a term is), their table, and the facets: every term's
/// posting list of global ids, the terms in ascending order cut into runs of about
/// [`TERM_CHUNK_BYTES`]; the [`FACETS`] most common folders and tags, most common first.
fn term_index(input: &IndexInput<'_>, order: &[u32]) -> (Vec<Chunk>, Vec<TermChunkEntry>, Vec<FacetEntry>) {
    let none = ImageText::default();
    let mut postings: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut spelling: HashMap<String, String> = HashMap::new();
    for (id, &m) in order.iter().enumerate() {
        let meta = &input.images[m as usize];
        let text = input.texts.get(m as usize).unwrap_or(&none);
        for term in filter::terms_of(&text.facts(meta)) {
            match postings.get_mut(&term) {
                Some(ids) => ids.push(id as u32),
                None => {
                    postings.insert(term, vec![id as u32]);
                }
            }
        }
        for tag in &text.tags {
            spelling.entry(filter::fold_tag(tag)).or_insert_with(|| tag.trim().to_string());
        }
    }
    let varint = |x: u32| (32 - x.leading_zeros()).max(1).div_ceil(7) as usize;
    let mut runs: Vec<Vec<(&str, &[u32])>> = vec![Vec::new()];
    let mut bytes = 0;
    for (term, ids) in &postings {
        if bytes >= TERM_CHUNK_BYTES {
            runs.push(Vec::new());
            bytes = 0;
        }
        bytes += term.len() + 4 + ids.iter().scan(0, |prev, &id| Some(varint(id - std::mem::replace(prev, id)))).sum::<usize>();
        if let Some(run) = runs.last_mut() {
            run.push((term.as_str(), ids.as_slice()));
        }
    }
    runs.retain(|run| !run.is_empty());
    let chunks: Vec<Chunk> = runs.par_iter().map(|run| bundle::encode_terms(run)).map(|bytes| (ChunkRef::of(&bytes), bytes)).collect();
    let table = runs.iter().zip(&chunks).map(|(run, (chunk, _))| TermChunkEntry { first: run[0].0.to_string(), chunk: *chunk }).collect();
    let mut facets = Vec::new();
    for folders in [true, false] {
        let mut kind: Vec<FacetEntry> = postings
            .iter()
            .filter_map(|(term, ids)| {
                let label = match Facet::of_term(term)? {
                    Facet::Folder(f) if folders => f.trim_end_matches('/').to_string(),
                    Facet::Tag(t) if !folders => spelling.get(&t).cloned().unwrap_or(t),
                    _ => return None,
                };
                (label.len() <= MAX_FACET_LABEL).then(|| FacetEntry { term: term.clone(), label, images: ids.len() as u32 })
            })
            .collect();
        kind.sort_by(|a, b| b.images.cmp(&a.images).then_with(|| a.term.cmp(&b.term)));
        kind.truncate(FACETS);
        facets.extend(kind);
    }
    (chunks, table, facets)
}

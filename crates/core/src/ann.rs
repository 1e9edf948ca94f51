//! The approximate-nearest-neighbour stage: HNSW (`instant-distance`) over compact Hellinger vectors.
//!
//! The graph is built on a 144-d vector: the 1152-bin histogram blurred (Gaussian, 1.25 bins) and
//! pooled 2x2x2 (to 4 x 6 x 6), then `sqrt` (Hellinger) and quantised to u8. Blur and pooling are
//! linear reductions that make Hellinger distance track color distance, which is what the Sinkhorn
//! rerank rewards; 144 bytes per image instead of 4.6 KB.

use crate::histogram::{axis_indices, Histogram, A_BINS, A_RANGE, BINS, B_BINS, B_RANGE, L_BINS, L_RANGE};
#[cfg(feature = "parallel")]
use instant_distance::Builder;
use instant_distance::{Hnsw, Point, Search};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Histogram bins pooled per axis into one ANN dimension (must divide 8, 12 and 12).
const POOL: usize = 2;
const PL: usize = L_BINS / POOL;
const PA: usize = A_BINS / POOL;
const PB: usize = B_BINS / POOL;
pub const ANN_DIMS: usize = PL * PA * PB;
/// HNSW candidate list while inserting (`ef_construction`): wider builds a better graph, slower.
pub const EF_CONSTRUCTION: usize = 200;
/// HNSW candidate list while searching (`ef_search`), at least; the builder stores
/// `max(EF_SEARCH, DEFAULT_RERANK_K)`, because a search returns at most that many candidates.
pub const EF_SEARCH: usize = 100;
/// Seed of the HNSW layer assignment: fixed, so the graph is a function of the input.
pub const HNSW_SEED: u64 = 0x00C0_10A7_1CA5;
/// instant-distance's `M` (neighbours per node on upper layers; twice that on layer 0). Not a
/// setting: instant-distance 0.6 fixes it at 32. Mirrored here to validate stored graphs (a
/// mismatch fails every decode) and recorded in bundles (`Params::m`).
pub const M: usize = 32;
const INVALID: u32 = u32::MAX;
/// Gaussian blur (in bins) before pooling. Hellinger distance only sees overlapping mass; blurred,
/// nearby colors overlap, so ANN neighbours track EMD neighbours (recall@10 0.79 -> 0.99 at 2.7k
/// images; 1.25 rather than 1.5 keeps the Sinkhorn top 10 among more images' nearest: docs/TUNING.md).
const BLUR_SIGMA: f64 = 1.25;
/// The 4-bit shard vectors' step, in the u8 scale: level `q` stands for `q · NIBBLE_STEP`, so the 16
/// levels cover 0..=89 evenly (a square-rooted pooled mass up to 0.35) and larger values saturate.
/// Nearly every value is small (a pooled cell above 12% of an image's mass is rare), and even steps
/// there keep neighbours apart that a square-root scale merged (docs/TUNING.md).
const NIBBLE_STEP: f64 = 0.35 * 255.0 / 15.0;

/// A quantised Hellinger vector of the pooled histogram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnVector(pub [u8; ANN_DIMS]);

impl AnnVector {
    pub fn from_histogram(h: &Histogram) -> Self {
        let blurred = blur(h.as_slice(), BLUR_SIGMA);
        let mut pooled = [0.0f64; ANN_DIMS];
        for (bin, &m) in blurred.iter().enumerate().take(BINS) {
            let (l, a, b) = axis_indices(bin);
            pooled[(l / POOL) * PA * PB + (a / POOL) * PB + b / POOL] += m;
        }
        let mut v = [0u8; ANN_DIMS];
        for (out, m) in v.iter_mut().zip(pooled) {
            *out = (m.max(0.0).sqrt() * 255.0).round().min(255.0) as u8;
        }
        Self(v)
    }

    /// The vector in 4 bits a dimension (two to a byte, low nibble first), as shards store it:
    /// each value in [`NIBBLE_STEP`]s, saturating at 15. Shards are half the bytes of u8 vectors.
    pub fn to_nibbles(&self) -> [u8; ANN_DIMS / 2] {
        let q = |x: u8| (x as f64 / NIBBLE_STEP).round().min(15.0) as u8;
        std::array::from_fn(|i| q(self.0[2 * i]) | (q(self.0[2 * i + 1]) << 4))
    }

    /// The inverse of [`AnnVector::to_nibbles`] (up to its rounding and saturation).
    pub fn from_nibbles(packed: &[u8; ANN_DIMS / 2]) -> Self {
        let level = |q: u8| (q as f64 * NIBBLE_STEP).round() as u8;
        Self(std::array::from_fn(|d| level((packed[d / 2] >> (4 * (d % 2))) & 15)))
    }

    #[inline]
    pub fn squared_distance(&self, other: &Self) -> u32 {
        self.0.iter().zip(&other.0).map(|(&a, &b)| (a as i32 - b as i32).pow(2) as u32).sum()
    }
}

/// The cumulative distributions of an image's mass along L, a and b, in 4 bits (`round(15 F)`, the
/// last bin of each axis left out: it is always 15): 7 + 11 + 11 values. The L1 distance of two
/// images' cumulatives along an axis is the EMD of their masses projected on that axis (in bins), a
/// lower bound of what Sinkhorn pays along it; shards store it beside each vector, and candidates
/// are ranked by [`candidate_distance`], which adds it to the vectors' distance for color queries
/// (`search::QueryKind`). Clustering and routing do without it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AxisCdf(pub [u8; CDF_DIMS]);

pub const CDF_DIMS: usize = (L_BINS - 1) + (A_BINS - 1) + (B_BINS - 1);
/// Bytes a shard stores for one [`AxisCdf`]: two values a byte, the last half empty.
pub const CDF_BYTES: usize = CDF_DIMS.div_ceil(2);
/// The weight of the axis EMDs (in ΔE) against the vectors' L2 distance (in their u8 units), in
/// [`candidate_distance`]: measured on 100k and 1M synthetic images against exhaustive Sinkhorn,
/// this weight took the share of the true top 10 among a color query's 200 nearest candidates from
/// 0.976 to 0.992 at 100k and from 0.858 to 0.940 at 1M (docs/TUNING.md).
const CDF_WEIGHT: f64 = 1.275;

impl AxisCdf {
    pub fn of(h: &Histogram) -> Self {
        let (mut l, mut a, mut b) = ([0.0f64; L_BINS], [0.0f64; A_BINS], [0.0f64; B_BINS]);
        for (bin, &m) in h.as_slice().iter().enumerate() {
            let (i, j, k) = axis_indices(bin);
            l[i] += m;
            a[j] += m;
            b[k] += m;
        }
        let total = h.total();
        let mut out = [0u8; CDF_DIMS];
        let mut at = 0;
        for axis in [&l[..], &a[..], &b[..]] {
            let mut sum = 0.0;
            for m in &axis[..axis.len() - 1] {
                sum += m;
                out[at] = if total > 0.0 { (sum / total * 15.0).round().clamp(0.0, 15.0) as u8 } else { 0 };
                at += 1;
            }
        }
        Self(out)
    }

    /// As shards store it: [`CDF_BYTES`], low nibble first.
    pub fn to_nibbles(&self) -> [u8; CDF_BYTES] {
        std::array::from_fn(|i| (self.0[2 * i] & 15) | self.0.get(2 * i + 1).map_or(0, |x| (x & 15) << 4))
    }

    /// The inverse of [`AxisCdf::to_nibbles`].
    pub fn from_nibbles(packed: &[u8; CDF_BYTES]) -> Self {
        Self(std::array::from_fn(|d| (packed[d / 2] >> (4 * (d % 2))) & 15))
    }

    /// The three axis EMDs between the two images, in ΔE (each axis's steps times its bin width).
    fn emds(&self, other: &Self) -> f64 {
        const WIDTH: [f64; 3] =
            [(L_RANGE.1 - L_RANGE.0) / L_BINS as f64, (A_RANGE.1 - A_RANGE.0) / A_BINS as f64, (B_RANGE.1 - B_RANGE.0) / B_BINS as f64];
        let steps =
            |from: usize, to: usize| -> f64 { (from..to).map(|d| (self.0[d] as i32 - other.0[d] as i32).unsigned_abs()).sum::<u32>() as f64 / 15.0 };
        let (l, a) = (L_BINS - 1, L_BINS - 1 + A_BINS - 1);
        steps(0, l) * WIDTH[0] + steps(l, a) * WIDTH[1] + steps(a, CDF_DIMS) * WIDTH[2]
    }
}

/// The weight of an image's [`SelfCost`] (in ΔE) against the vectors' L2 distance (in their u8
/// units), in [`candidate_distance`] and in routing, for image queries and for color queries:
/// measured on 1M synthetic images against exhaustive Sinkhorn (100 + 100 queries), with it image
/// queries found 0.973 of their true top 10 instead of 0.920, and color queries 0.943 instead of
/// 0.925 (docs/TUNING.md).
pub const IMAGE_SELF_COST_WEIGHT: f64 = 2.0;
/// See [`IMAGE_SELF_COST_WEIGHT`].
pub const COLORS_SELF_COST_WEIGHT: f64 = 3.0;
/// A [`SelfCost`] level's step, in ΔE: 256 levels cover 0..32 ΔE (larger costs saturate; a
/// synthetic million ranged 3.2 to 21.4).
const SELF_COST_STEP: f64 = 0.125;

/// An image's Sinkhorn distance to itself (the rerank's distance, from its stored histogram), in
/// steps of [`SELF_COST_STEP`] ΔE. Entropic smoothing keeps it above zero, and larger for images
/// whose colors are spread. The rerank's distance from a query `q` to an image `x` is their
/// Sinkhorn divergence (a true dissimilarity, which the vectors approximate) plus half of each
/// one's self cost: for one query, images of concentrated colors rank nearer than their vectors
/// say (among a million images, an image query's own image was missing from its true top 10 in a
/// quarter of the queries). The first stage adds the self cost back (docs/TUNING.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct SelfCost(pub u8);

impl SelfCost {
    /// The level of a self cost in ΔE (rounded; saturating).
    pub fn of(delta_e: f64) -> Self {
        Self((delta_e / SELF_COST_STEP).round().clamp(0.0, 255.0) as u8)
    }

    pub fn delta_e(self) -> f64 {
        self.0 as f64 * SELF_COST_STEP
    }
}

/// What the first stage adds to the vectors' distance for one query (docs/TUNING.md).
#[derive(Clone, Copy, Debug)]
pub enum Cue<'a> {
    /// Color queries: the axis EMDs against the query's own cumulatives, times [`CDF_WEIGHT`],
    /// and the self cost, times [`COLORS_SELF_COST_WEIGHT`].
    Colors(&'a AxisCdf),
    /// Image queries: the self cost, times [`IMAGE_SELF_COST_WEIGHT`].
    Image,
    /// Queries that leave part of the image to any color (their distance is no Sinkhorn
    /// divergence): the vectors alone.
    Plain,
}

/// How far an image (`x`, its [`AxisCdf`] `xc` and [`SelfCost`] `xs`) is from the query (`v`) for
/// choosing which images Sinkhorn reranks: the vectors' L2 distance plus what the [`Cue`] adds, in
/// 1/64ths (integers sort exactly); with [`Cue::Plain`], the vectors' squared distance alone,
/// exactly. Without `xc` (routing's groups of images, which have no cumulatives) the axis EMDs
/// count 0. Only distances from one query are ever compared.
pub fn candidate_distance(v: &AnnVector, cue: Cue<'_>, x: &AnnVector, xc: Option<&AxisCdf>, xs: SelfCost) -> u32 {
    let l2 = (v.squared_distance(x) as f64).sqrt();
    let sum = match cue {
        Cue::Colors(vc) => l2 + CDF_WEIGHT * xc.map_or(0.0, |xc| vc.emds(xc)) + COLORS_SELF_COST_WEIGHT * xs.delta_e(),
        Cue::Image => l2 + IMAGE_SELF_COST_WEIGHT * xs.delta_e(),
        Cue::Plain => return v.squared_distance(x),
    };
    (sum * 64.0).round() as u32
}

/// Separable Gaussian blur over the bin grid (sigma in bins), mass-preserving at the edges.
fn blur(mass: &[f64], sigma: f64) -> Vec<f64> {
    let dims = [L_BINS, A_BINS, B_BINS];
    let strides = [A_BINS * B_BINS, B_BINS, 1];
    let mut cur = mass.to_vec();
    for axis in 0..3 {
        let n = dims[axis];
        let radius = (3.0 * sigma).ceil() as isize;
        let kernel: Vec<f64> = (-radius..=radius).map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp()).collect();
        let mut next = vec![0.0; BINS];
        for bin in 0..BINS {
            let m = cur[bin];
            if m == 0.0 {
                continue;
            }
            let pos = (bin / strides[axis]) % n;
            let taps: Vec<(usize, f64)> = (-radius..=radius)
                .filter_map(|d| {
                    let p = pos as isize + d;
                    (p >= 0 && p < n as isize).then(|| (p as usize, kernel[(d + radius) as usize]))
                })
                .collect();
            let total: f64 = taps.iter().map(|t| t.1).sum();
            for (p, w) in taps {
                next[bin - pos * strides[axis] + p * strides[axis]] += m * w / total;
            }
        }
        cur = next;
    }
    cur
}

impl Point for AnnVector {
    fn distance(&self, other: &Self) -> f32 {
        // Squared L2 ranks like L2 and keeps integers exact.
        self.squared_distance(other) as f32
    }
}

impl Serialize for AnnVector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for AnnVector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = AnnVector;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "{ANN_DIMS} bytes")
            }
            fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<AnnVector, E> {
                let arr: [u8; ANN_DIMS] = b.try_into().map_err(|_| E::invalid_length(b.len(), &self))?;
                Ok(AnnVector(arr))
            }
        }
        d.deserialize_bytes(V)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnError {
    #[error("the ANN graph does not decode: {0}")]
    Decode(String),
    #[error("the ANN graph is inconsistent: {0}")]
    Inconsistent(&'static str),
}

/// The HNSW graph and the map from its point order back to image ids.
pub struct AnnIndex {
    hnsw: Hnsw<AnnVector>,
    /// `image_of[pid]` is the image id of HNSW point `pid` (instant-distance shuffles points).
    image_of: Vec<u32>,
    /// The graph's `ef_search`: the most candidates one search returns.
    search_width: usize,
}

impl AnnIndex {
    /// Builds the graph with `EF_CONSTRUCTION` and `HNSW_SEED` on one thread, deterministically.
    #[cfg(feature = "parallel")]
    pub fn build(vectors: Vec<AnnVector>, ef_search: usize) -> Self {
        Self::build_with_threads(vectors, ef_search, 1)
    }

    /// Builds with `threads` rayon threads: faster, but the graph (not its quality) then varies
    /// from run to run. For synthetic benchmark collections.
    #[cfg(feature = "parallel")]
    pub fn build_with_threads(vectors: Vec<AnnVector>, ef_search: usize, threads: usize) -> Self {
        let n = vectors.len();
        let build = move || Builder::default().ef_construction(EF_CONSTRUCTION).ef_search(ef_search).seed(HNSW_SEED).build_hnsw(vectors);
        // instant-distance inserts in parallel, and the graph then depends on thread timing: one
        // thread makes it a pure function of the input (byte-identical bundles).
        let (hnsw, pids) = match rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build() {
            Ok(pool) => pool.install(build),
            Err(_) => build(),
        };
        let mut image_of = vec![0u32; n];
        for (image, pid) in pids.iter().enumerate() {
            image_of[pid.into_inner() as usize] = image as u32;
        }
        Self { hnsw, image_of, search_width: ef_search }
    }

    pub fn len(&self) -> usize {
        self.image_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.image_of.is_empty()
    }

    /// The most candidates one search returns (`ef_search`).
    pub fn search_width(&self) -> usize {
        self.search_width
    }

    /// Up to `ef_search` image ids, nearest first.
    pub fn search(&self, query: &AnnVector, search: &mut Search) -> Vec<u32> {
        self.hnsw.search(query, search).map(|item| self.image_of[item.pid.into_inner() as usize]).collect()
    }

    /// The graph (postcard) and the point-to-image map.
    pub fn encode_graph(&self) -> (Vec<u8>, &[u32]) {
        // Serialising a Vec-backed struct into a Vec cannot fail.
        (postcard::to_allocvec(&self.hnsw).unwrap_or_default(), &self.image_of)
    }

    /// Decodes and validates a graph against `image_count`; `ef_search` replaces the stored search
    /// width (instant-distance returns at most `ef_search` candidates, so it bounds `rerank_k`).
    pub fn decode_graph(graph: &[u8], image_of: Vec<u32>, image_count: usize, ef_search: usize) -> Result<Self, AnnError> {
        let err = |e: postcard::Error| AnnError::Decode(e.to_string());
        // instant-distance indexes its arrays with the stored ids without checks: validate every
        // id through a mirror of its serde layout before handing the bytes over.
        let mirror: GraphMirror = postcard::from_bytes(graph).map_err(err)?;
        let n = mirror.points.len();
        if n != image_count || image_of.len() != n || mirror.zero.len() != n {
            return Err(AnnError::Inconsistent("point counts differ"));
        }
        if image_of.iter().any(|&i| i as usize >= n) {
            return Err(AnnError::Inconsistent("image id out of range"));
        }
        let mut seen = vec![false; n];
        for &i in &image_of {
            if std::mem::replace(&mut seen[i as usize], true) {
                return Err(AnnError::Inconsistent("image id repeated"));
            }
        }
        if mirror.zero.iter().flat_map(|node| &node.0).any(|&id| id != INVALID && id as usize >= n) {
            return Err(AnnError::Inconsistent("layer-0 neighbour out of range"));
        }
        let mut below = n;
        for layer in &mirror.layers {
            let len = layer.len();
            if len > below || (n > 0 && len == 0) {
                return Err(AnnError::Inconsistent("upper layer larger than the one below"));
            }
            if layer.iter().flat_map(|node| &node.0).any(|&id| id != INVALID && id as usize >= len) {
                return Err(AnnError::Inconsistent("upper-layer neighbour out of range"));
            }
            below = len;
        }
        // Freed before the real decode: wasm memory never shrinks, so peaks are what stays.
        drop(mirror);
        let (_, rest) = postcard::take_from_bytes::<u64>(graph).map_err(err)?;
        let head = postcard::to_slice(&(ef_search.max(1) as u64), &mut [0u8; 10]).map_err(err)?.to_vec();
        let mut reader = postcard::Deserializer::from_flavor(ReplacedHead { head, at: 0, rest });
        let hnsw = Hnsw::<AnnVector>::deserialize(&mut reader).map_err(err)?;
        Ok(Self { hnsw, image_of, search_width: ef_search })
    }
}

/// Postcard input whose first bytes (the stored `ef_search`) are replaced, read without copying
/// the rest of the graph (tens of MB in a large bundle).
struct ReplacedHead<'de> {
    head: Vec<u8>,
    at: usize,
    rest: &'de [u8],
}

impl<'de> postcard::de_flavors::Flavor<'de> for ReplacedHead<'de> {
    type Remainder = &'de [u8];
    type Source = &'de [u8];

    fn pop(&mut self) -> postcard::Result<u8> {
        if let Some(&byte) = self.head.get(self.at) {
            self.at += 1;
            return Ok(byte);
        }
        let (&byte, rest) = self.rest.split_first().ok_or(postcard::Error::DeserializeUnexpectedEnd)?;
        self.rest = rest;
        Ok(byte)
    }

    /// Bounds what serde preallocates for a declared length.
    fn size_hint(&self) -> Option<usize> {
        Some(self.head.len() - self.at + self.rest.len())
    }

    fn try_take_n(&mut self, count: usize) -> postcard::Result<&'de [u8]> {
        if self.at < self.head.len() || count > self.rest.len() {
            // The head is a lone varint, never part of a byte string.
            return Err(postcard::Error::DeserializeUnexpectedEnd);
        }
        let (taken, rest) = self.rest.split_at(count);
        self.rest = rest;
        Ok(taken)
    }

    fn finalize(self) -> postcard::Result<&'de [u8]> {
        Ok(self.rest)
    }
}

#[derive(Deserialize)]
struct GraphMirror {
    #[allow(dead_code)]
    ef_search: u64,
    points: Vec<AnnVector>,
    zero: Vec<Ids<{ M * 2 }>>,
    layers: Vec<Vec<Ids<M>>>,
}

/// A fixed-size array of point ids, as serde writes `[PointId; N]` (a tuple of u32).
struct Ids<const N: usize>(Vec<u32>);

impl<'de, const N: usize> Deserialize<'de> for Ids<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize>;
        impl<'de, const N: usize> de::Visitor<'de> for V<N> {
            type Value = Ids<N>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "{N} point ids")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Ids<N>, A::Error> {
                let mut ids = Vec::with_capacity(N);
                for i in 0..N {
                    ids.push(seq.next_element::<u32>()?.ok_or_else(|| de::Error::invalid_length(i, &self))?);
                }
                Ok(Ids(ids))
            }
        }
        d.deserialize_tuple(N, V::<N>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::color::srgb_to_lab;

    #[test]
    fn nibbles_keep_every_value_within_its_level_and_round_trip() {
        let v = AnnVector(std::array::from_fn(|d| (d * 7 % 256) as u8));
        let back = AnnVector::from_nibbles(&v.to_nibbles());
        for (a, b) in v.0.iter().zip(&back.0) {
            // Levels are 5.95 apart up to 89; above, values saturate at the top level.
            let top = (15.0 * NIBBLE_STEP).round() as u8;
            assert!(if *a >= top { *b == top } else { (*a as i32 - *b as i32).abs() <= 3 }, "{a} -> {b}");
        }
        assert_eq!(AnnVector::from_nibbles(&back.to_nibbles()), back, "levels are fixed points");
        assert_eq!(AnnVector::from_nibbles(&AnnVector([0; ANN_DIMS]).to_nibbles()).0, [0; ANN_DIMS]);
    }

    #[test]
    fn axis_cdfs_round_trip_and_measure_axis_emds() {
        let mut h = Histogram::default();
        h.splat(srgb_to_lab([200, 30, 30]), 1.0);
        let red = AxisCdf::of(&h);
        assert_eq!(AxisCdf::from_nibbles(&red.to_nibbles()), red);
        assert!(red.0.iter().all(|&c| c <= 15));
        assert_eq!(red.emds(&red), 0.0);
        let mut g = Histogram::default();
        g.splat(srgb_to_lab([30, 160, 40]), 1.0);
        let green = AxisCdf::of(&g);
        // Red and green lie far apart on a (green is negative a, red positive): tens of ΔE.
        assert!(red.emds(&green) > 50.0, "{}", red.emds(&green));
        let v = AnnVector::from_histogram(&h);
        let none = SelfCost::default();
        let colors = Cue::Colors(&red);
        assert!(candidate_distance(&v, colors, &v, Some(&green), none) > candidate_distance(&v, colors, &v, Some(&red), none));
        assert_eq!(candidate_distance(&v, colors, &v, None, none), 0);
        assert_eq!(candidate_distance(&v, Cue::Plain, &v, Some(&green), SelfCost(200)), 0);
        let w = AnnVector::from_histogram(&g);
        assert_eq!(candidate_distance(&v, Cue::Plain, &w, Some(&green), none), v.squared_distance(&w));
        // An image query adds the image's self cost: of two images at one vector distance, the
        // one of concentrated colors (a smaller self cost) is the nearer.
        let (spread, concentrated) = (SelfCost::of(15.0), SelfCost::of(5.0));
        assert_eq!(spread.delta_e(), 15.0);
        for cue in [Cue::Image, colors] {
            assert!(candidate_distance(&v, cue, &w, Some(&green), concentrated) < candidate_distance(&v, cue, &w, Some(&green), spread));
        }
        assert_eq!(SelfCost::of(f64::INFINITY), SelfCost(255));
    }

    fn vector(rgb: [u8; 3]) -> AnnVector {
        let mut h = Histogram::default();
        h.splat(srgb_to_lab(rgb), 1.0);
        AnnVector::from_histogram(&h)
    }

    #[test]
    fn build_encode_decode_search() {
        let colors: Vec<[u8; 3]> = (0..300u32).map(|i| [(i * 7) as u8, (i * 13) as u8, (i * 29) as u8]).collect();
        let index = AnnIndex::build(colors.iter().map(|&c| vector(c)).collect(), 50);
        let (graph, ids) = index.encode_graph();
        let decoded = AnnIndex::decode_graph(&graph, ids.to_vec(), colors.len(), 80).unwrap();
        let mut search = Search::default();
        let found = decoded.search(&vector(colors[42]), &mut search);
        assert_eq!(found.len(), 80);
        assert_eq!(vector(colors[found[0] as usize]), vector(colors[42]));
        // A search width whose varint is longer than the stored one (200 takes two bytes).
        let wider = AnnIndex::decode_graph(&graph, ids.to_vec(), colors.len(), 200).unwrap();
        assert_eq!(wider.search(&vector(colors[42]), &mut search).len(), 200);
    }

    #[test]
    fn decode_rejects_garbage_and_bad_ids() {
        let colors: Vec<[u8; 3]> = (0..100u32).map(|i| [i as u8, (i * 3) as u8, 50]).collect();
        let index = AnnIndex::build(colors.iter().map(|&c| vector(c)).collect(), 50);
        let (graph, ids) = index.encode_graph();
        assert!(AnnIndex::decode_graph(&graph, ids.to_vec(), 99, 50).is_err());
        let mut bad_ids = ids.to_vec();
        bad_ids[0] = 1000;
        assert!(AnnIndex::decode_graph(&graph, bad_ids, 100, 50).is_err());
        assert!(AnnIndex::decode_graph(&graph[..graph.len() / 2], ids.to_vec(), 100, 50).is_err());
        assert!(AnnIndex::decode_graph(&[], vec![], 0, 50).is_err());
    }
}

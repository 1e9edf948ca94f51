//! Earth mover's distance between histograms, ground cost ΔE76 between bin centers.
//!
//! `Sinkhorn` is the entropic approximation the search ranks with, computed exactly as POT's
//! `ot.sinkhorn` does (same initialisation, update order and convergence check) so its values can
//! be checked against POT. `exact_emd` solves the transportation problem exactly: the test oracle,
//! compiled only for tests (feature `testing`, module `exact`).
//! The Gibbs kernel uses `libm::exp` and every sum has a fixed order, so native and wasm32 builds
//! give bit-identical distances (the CLI and the browser rank alike).
//!
//! The wildcard distance ([`Sinkhorn::distance_with_any`]) answers "these colors, the rest is
//! anything": the query's named colors carry the share `s = 1 - any` and a dummy source bin carries
//! `any`, at cost 0 to every image bin, so only the named mass `s` must move; the transport cost
//! is divided by `s` so that it still reads as the ΔE of the matched part. Sinkhorn needs no
//! special case (the dummy's kernel row is `exp(0) = 1`), and [`nearest_bound`] bounds it from
//! below for pruning.

use crate::histogram::{axis_indices, SparseView, A_BINS, A_RANGE, BINS, B_BINS, B_RANGE, L_BINS, L_RANGE};
use std::sync::OnceLock;

#[cfg(any(test, feature = "testing"))]
mod exact;
#[cfg(any(test, feature = "testing"))]
pub use exact::{exact_emd, Transport};

/// Entropic regularisation relative to the largest ground cost: the Gibbs kernel is
/// `K_ij = exp(-C_ij / (REG * max C))`, `C_ij` the ΔE76 between the Lab centers of bins `i` and
/// `j`, `max C` its maximum over all bin pairs (POT: `ot.sinkhorn(a, b, C / max C, REG)`).
pub const REG: f64 = 0.05;
/// Sinkhorn runs at most this many iterations (POT's `numItermax`).
pub const MAX_ITERATIONS: usize = 100;
/// Sinkhorn stops once the violation of the second marginal, `|| v * (K^T u) - b ||_2`, is below
/// this (POT's `stopThr`), checked every `CHECK_EVERY` iterations.
pub const STOP_THRESHOLD: f64 = 1e-6;
/// Iterations between convergence checks (POT checks every 10th: `it % 10 == 0`).
pub const CHECK_EVERY: usize = 10;

const DL: usize = 2 * L_BINS - 1;
const DA: usize = 2 * A_BINS - 1;
const DB: usize = 2 * B_BINS - 1;

/// Ground cost and Gibbs kernel by per-axis bin offset: centers lie on a regular grid, so the cost
/// of a pair depends only on (dl, da, db): 15 x 23 x 23 entries instead of 1152^2.
struct Tables {
    cost: Vec<f64>,
    kernel: Vec<f64>,
    max_cost: f64,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let step = |(min, max): (f64, f64), n: usize| (max - min) / n as f64;
        let (sl, sa, sb) = (step(L_RANGE, L_BINS), step(A_RANGE, A_BINS), step(B_RANGE, B_BINS));
        let mut cost = Vec::with_capacity(DL * DA * DB);
        for dl in 0..DL {
            for da in 0..DA {
                for db in 0..DB {
                    let l = (dl as f64 - (L_BINS - 1) as f64) * sl;
                    let a = (da as f64 - (A_BINS - 1) as f64) * sa;
                    let b = (db as f64 - (B_BINS - 1) as f64) * sb;
                    cost.push((l * l + a * a + b * b).sqrt());
                }
            }
        }
        let max_cost = cost.iter().cloned().fold(0.0, f64::max);
        // libm, not the platform's exp: native and wasm32 must agree bit for bit.
        let kernel = cost.iter().map(|c| libm::exp(-(c / max_cost) / REG)).collect();
        Tables { cost, kernel, max_cost }
    })
}

/// Position of a bin on the offset grid: the table entry of a pair `(i, j)` is
/// `offset_base(j) + OFFSET_CENTER - offset_base(i)` (never negative).
#[inline]
fn offset_base(bin: u16) -> usize {
    let (l, a, b) = axis_indices(bin as usize);
    (l * DA + a) * DB + b
}

/// Table entry of the zero offset.
const OFFSET_CENTER: usize = ((L_BINS - 1) * DA + (A_BINS - 1)) * DB + (B_BINS - 1);

#[inline]
fn offset_index(i: u16, j: u16) -> usize {
    offset_base(j) + OFFSET_CENTER - offset_base(i)
}

/// ΔE76 (Euclidean distance) between the Lab centers of bins `i` and `j`: a lookup in a table
/// keyed by the per-axis index offset. Symmetric, exactly 0 on the diagonal; bins `>= 1152` cost
/// `f64::INFINITY`.
pub fn ground_cost(i: u16, j: u16) -> f64 {
    if i as usize >= BINS || j as usize >= BINS {
        return f64::INFINITY;
    }
    tables().cost[offset_index(i, j)]
}

/// The largest ground cost over all bin pairs (corner to corner of the Lab box).
pub fn max_ground_cost() -> f64 {
    tables().max_cost
}

/// The non-zero, in-range part of a histogram, normalised to unit mass; `None` if nothing is left.
fn support(h: SparseView<'_>, bins: &mut Vec<u16>, mass: &mut Vec<f64>) -> Option<()> {
    bins.clear();
    mass.clear();
    for (b, m) in h.iter() {
        if (b as usize) < BINS && m > 0.0 && m.is_finite() {
            bins.push(b);
            mass.push(m);
        }
    }
    let total: f64 = mass.iter().sum();
    if bins.is_empty() || !(total.is_finite() && total > 0.0) {
        return None;
    }
    mass.iter_mut().for_each(|m| *m /= total);
    Some(())
}

/// Per-axis marginals of a histogram (mass per L, a and b slice).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Marginals {
    l: [f64; L_BINS],
    a: [f64; A_BINS],
    b: [f64; B_BINS],
}

impl Marginals {
    pub fn of(h: SparseView<'_>) -> Self {
        let mut m = Self::default();
        let mut total = 0.0;
        for (bin, mass) in h.iter() {
            if (bin as usize) < BINS && mass > 0.0 && mass.is_finite() {
                let (l, a, b) = axis_indices(bin as usize);
                m.l[l] += mass;
                m.a[a] += mass;
                m.b[b] += mass;
                total += mass;
            }
        }
        if total > 0.0 {
            m.l.iter_mut().chain(&mut m.a).chain(&mut m.b).for_each(|x| *x /= total);
        }
        m
    }
}

/// 1-D earth mover's distance between two marginals on bins `step` apart.
fn w1(x: &[f64], y: &[f64], step: f64) -> f64 {
    let (mut cdf, mut sum) = (0.0, 0.0);
    for (p, q) in x.iter().zip(y).take(x.len().saturating_sub(1)) {
        cdf += p - q;
        sum += cdf.abs();
    }
    sum * step
}

/// A lower bound of the EMD, cheap enough to screen candidates: under any transport plan the
/// expected |ΔL|, |Δa|, |Δb| are at least the 1-D EMDs of the axis marginals, and the expected
/// Euclidean cost is at least the norm of those expectations (the norm is convex).
pub fn lower_bound(x: &Marginals, y: &Marginals) -> f64 {
    let step = |(min, max): (f64, f64), n: usize| (max - min) / n as f64;
    let dl = w1(&x.l, &y.l, step(L_RANGE, L_BINS));
    let da = w1(&x.a, &y.a, step(A_RANGE, A_BINS));
    let db = w1(&x.b, &y.b, step(B_RANGE, B_BINS));
    (dl * dl + da * da + db * db).sqrt()
}

/// A lower bound of the wildcard distance with any share (also of the plain EMD, which is the
/// `any = 0` case), for pruning: `sum_i q_i * min_j C(q_i, h_j)` over the supports, `q` unit mass.
///
/// Proof: in any transport plan of the augmented problem, the named mass `q_i * s` of query bin `i`
/// arrives at bins of `h`'s support, each at a cost of at least the nearest one's, so the plan
/// costs at least `s * sum_i q_i * min_j C_ij`; divided by `s`, that is this bound. Sinkhorn's
/// plan is one such plan (up to its marginal tolerance, see `search::BOUND_SLACK`). Infinite if
/// either side is empty.
pub fn nearest_bound(q: SparseView<'_>, h: SparseView<'_>) -> f64 {
    NearestBound::new(q).of(h)
}

/// [`nearest_bound`] for one query against many images: the query's rows of the ground cost are
/// tabulated once (a row of all 1152 bins per query bin), so each image costs only lookups.
pub struct NearestBound {
    /// Unit-mass query weights, and per query bin its cost to every bin.
    weights: Vec<f64>,
    rows: Vec<f64>,
}

impl NearestBound {
    pub fn new(q: SparseView<'_>) -> Self {
        let valid: Vec<(u16, f64)> = q.iter().filter(|(b, m)| (*b as usize) < BINS && *m > 0.0 && m.is_finite()).collect();
        let mass: f64 = valid.iter().map(|(_, m)| m).sum();
        let weights = valid.iter().map(|(_, m)| m / mass).collect();
        let rows = valid.iter().flat_map(|&(qb, _)| (0..BINS as u16).map(move |j| ground_cost(qb, j))).collect();
        Self { weights, rows }
    }

    /// The bound for image histogram `h` (infinite if either side is empty).
    pub fn of(&self, h: SparseView<'_>) -> f64 {
        let bins: Vec<usize> = h.iter().filter(|(b, m)| (*b as usize) < BINS && *m > 0.0 && m.is_finite()).map(|(b, _)| b as usize).collect();
        if bins.is_empty() || self.weights.is_empty() {
            return f64::INFINITY;
        }
        let mut total = 0.0;
        for (w, row) in self.weights.iter().zip(self.rows.chunks_exact(BINS)) {
            total += w * bins.iter().map(|&j| row[j]).fold(f64::INFINITY, f64::min);
        }
        total
    }
}

/// Sinkhorn-EMD with reusable scratch space (reranking hundreds of candidates allocates nothing
/// once the buffers have grown to the largest supports seen).
#[derive(Default)]
pub struct Sinkhorn {
    a_bins: Vec<u16>,
    a: Vec<f64>,
    b_bins: Vec<u16>,
    b: Vec<f64>,
    /// `offset_base` of each support bin.
    a_base: Vec<usize>,
    b_base: Vec<usize>,
    /// Gibbs kernel of the current pair, row-major n x m, and its transpose (m x n), so that both
    /// `K^T u` and `K v` are sums of contiguous rows (vectorisable, no reassociation of sums).
    k: Vec<f64>,
    kt: Vec<f64>,
    u: Vec<f64>,
    v: Vec<f64>,
    next_u: Vec<f64>,
    next_v: Vec<f64>,
    ktu: Vec<f64>,
    kv: Vec<f64>,
    /// Iterations the last call ran (for benchmarks and reports).
    pub last_iterations: usize,
    /// At most this many iterations in the current call ([`Sinkhorn::estimate`]); 0: the usual
    /// [`MAX_ITERATIONS`].
    cap: usize,
}

/// `out = M^T x` for a row-major `rows x cols` matrix `M` (`rows = x.len()`, `cols = out.len() > 0`):
/// `out[j] = ((M[0][j] x[0] + M[1][j] x[1]) + ...)`, summed in row order. Rows are taken four at a
/// time to keep `out[j]` in a register across them (the same additions in the same order).
#[inline]
fn transposed_product(matrix: &[f64], x: &[f64], out: &mut [f64]) {
    out.iter_mut().for_each(|o| *o = 0.0);
    let cols = out.len();
    if cols == 0 {
        return;
    }
    let blocked = x.len() - x.len() % 4;
    for (block, x4) in matrix.chunks_exact(4 * cols).zip(x[..blocked].chunks_exact(4)) {
        let (r0, rest) = block.split_at(cols);
        let (r1, rest) = rest.split_at(cols);
        let (r2, r3) = rest.split_at(cols);
        let (x0, x1, x2, x3) = (x4[0], x4[1], x4[2], x4[3]);
        for ((((o, &m0), &m1), &m2), &m3) in out.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
            let mut acc = *o;
            acc += m0 * x0;
            acc += m1 * x1;
            acc += m2 * x2;
            acc += m3 * x3;
            *o = acc;
        }
    }
    for (row, &xi) in matrix[(blocked * cols).min(matrix.len())..].chunks_exact(cols).zip(&x[blocked..]) {
        for (o, &mij) in out.iter_mut().zip(row) {
            *o += mij * xi;
        }
    }
}

impl Sinkhorn {
    pub fn new() -> Self {
        Self::default()
    }

    /// The entropic OT cost `sum(P * C)` in Lab units (ΔE76), where `P` is the plan of POT 0.9's
    /// `ot.sinkhorn(a, b, C / max(C), 0.05, numItermax=100, stopThr=1e-6)` (`sinkhorn_knopp`:
    /// same initialisation, update order, breakdown rule and error check every 10th iteration),
    /// `C` the ground cost and `max(C)` its maximum over all 1152 bins.
    ///
    /// Only the bins `< 1152` with finite, positive mass take part (zeros, negatives, NaN and
    /// infinities are skipped), each side renormalised to unit mass. If either side has no such
    /// bin the result is `f64::INFINITY`. Otherwise the result is finite and `>= 0`. Never
    /// panics. Entropic smoothing makes it larger than the exact EMD (up to the remaining
    /// marginal error), and not 0 for `a == b` unless both are the same single bin.
    /// Allocation-free once the scratch buffers have grown; `last_iterations` is set.
    pub fn distance(&mut self, a: SparseView<'_>, b: SparseView<'_>) -> f64 {
        self.distance_with_any(a, b, 0.0)
    }

    /// [`Sinkhorn::distance_with_any`] stopped after at most `iterations` iterations (1 to
    /// [`MAX_ITERATIONS`]): the cost of a plan not yet converged, for choosing which candidates
    /// get the full computation (`search::PRERANK_ITERATIONS`). At 3 iterations it costs about a
    /// tenth of a converged one (the kernel's setup and the final sum stay) and already orders an
    /// image query's candidates nearly as the converged distance does. Deterministic like the
    /// full computation (the same operations in the same order, only fewer); the next call is a
    /// full one again.
    pub fn estimate(&mut self, a: SparseView<'_>, b: SparseView<'_>, any: f64, iterations: usize) -> f64 {
        self.cap = iterations.clamp(1, MAX_ITERATIONS);
        let estimate = self.distance_with_any(a, b, any);
        self.cap = 0;
        estimate
    }

    /// The wildcard distance (see the module doc): `a` renormalised to `1 - any`, plus a dummy
    /// source bin of mass `any` at cost 0 to every bin of `b`; the plan's cost divided by
    /// `1 - any`. Computed as POT computes `ot.sinkhorn` on that augmented problem (the dummy is the
    /// last source bin). `any` outside `(0, 1)` (or NaN) means no wildcard: exactly
    /// [`Sinkhorn::distance`].
    pub fn distance_with_any(&mut self, a: SparseView<'_>, b: SparseView<'_>, any: f64) -> f64 {
        if support(a, &mut self.a_bins, &mut self.a).is_none() || support(b, &mut self.b_bins, &mut self.b).is_none() {
            self.last_iterations = 0;
            return f64::INFINITY;
        }
        let wildcard = any > 0.0 && any < 1.0;
        let share = 1.0 - any;
        if wildcard {
            self.a.iter_mut().for_each(|m| *m *= share);
            self.a.push(any);
        }
        let t = tables();
        // Source bins: the named ones, then (wildcard) the dummy, whose kernel row is all 1.
        let named = self.a_bins.len();
        let (n, m) = (self.a.len(), self.b.len());
        self.a_base.clear();
        self.a_base.extend(self.a_bins.iter().map(|&i| offset_base(i)));
        self.b_base.clear();
        self.b_base.extend(self.b_bins.iter().map(|&j| offset_base(j)));
        self.k.clear();
        for &bi in &self.a_base {
            self.k.extend(self.b_base.iter().map(|&bj| t.kernel[bj + OFFSET_CENTER - bi]));
        }
        if wildcard {
            self.k.extend(std::iter::repeat_n(1.0, m));
        }
        self.kt.clear();
        for &bj in &self.b_base {
            self.kt.extend(self.a_base.iter().map(|&bi| t.kernel[bj + OFFSET_CENTER - bi]));
            if wildcard {
                self.kt.push(1.0);
            }
        }
        for (x, len, init) in [(&mut self.u, n, 1.0 / n as f64), (&mut self.v, m, 1.0 / m as f64)] {
            x.clear();
            x.resize(len, init);
        }
        for (x, len) in [(&mut self.next_u, n), (&mut self.kv, n), (&mut self.next_v, m), (&mut self.ktu, m)] {
            x.clear();
            x.resize(len, 0.0);
        }

        let mut iterations = 0;
        // `ktu` already holds K^T u for the current u (computed by the error check).
        let mut ktu_current = false;
        let cap = if self.cap == 0 { MAX_ITERATIONS } else { self.cap };
        for it in 0..cap {
            iterations = it + 1;
            // v = b / (K^T u)
            if !ktu_current {
                transposed_product(&self.k, &self.u, &mut self.ktu);
            }
            ktu_current = false;
            let mut degenerate = false;
            for ((vj, &bj), &s) in self.next_v.iter_mut().zip(&self.b).zip(&self.ktu) {
                degenerate |= s == 0.0;
                *vj = bj / s;
            }
            // u = 1 / ((K / a) v), computed as 1 / ((K v) / a)
            transposed_product(&self.kt, &self.next_v, &mut self.kv);
            for ((ui, &ai), &kv) in self.next_u.iter_mut().zip(&self.a).zip(&self.kv) {
                *ui = 1.0 / (kv / ai);
            }
            if degenerate || !self.next_u.iter().chain(&self.next_v).all(|x| x.is_finite()) {
                // Numerical breakdown: keep the previous scaling and stop, as POT does.
                break;
            }
            std::mem::swap(&mut self.u, &mut self.next_u);
            std::mem::swap(&mut self.v, &mut self.next_v);
            if it % CHECK_EVERY == 0 {
                // Violation of the b marginal: || v * (K^T u) - b ||_2
                transposed_product(&self.k, &self.u, &mut self.ktu);
                ktu_current = true;
                let err = self.ktu.iter().zip(&self.v).zip(&self.b).map(|((&s, &vj), &bj)| (s * vj - bj).powi(2)).sum::<f64>().sqrt();
                if err < STOP_THRESHOLD {
                    break;
                }
            }
        }
        self.last_iterations = iterations;

        // sum_i u_i (sum_j K_ij v_j C_ij) over the named rows (the dummy's cost is 0), each row
        // summed in order; four rows at a time so the four running sums overlap (same result as
        // one row at a time).
        let cost = &t.cost;
        let mut total = 0.0;
        let (k_named, u_named) = (&self.k[..named * m], &self.u[..named]);
        let mut rows = k_named.chunks_exact(4 * m).zip(u_named.chunks_exact(4)).zip(self.a_base.chunks_exact(4));
        for ((block, u4), base4) in &mut rows {
            let (r0, rest) = block.split_at(m);
            let (r1, rest) = rest.split_at(m);
            let (r2, r3) = rest.split_at(m);
            let mut sums = [0.0f64; 4];
            for (j, (&vj, &bj)) in self.v.iter().zip(&self.b_base).enumerate() {
                let at = bj + OFFSET_CENTER;
                sums[0] += r0[j] * vj * cost[at - base4[0]];
                sums[1] += r1[j] * vj * cost[at - base4[1]];
                sums[2] += r2[j] * vj * cost[at - base4[2]];
                sums[3] += r3[j] * vj * cost[at - base4[3]];
            }
            for (&ui, sum) in u4.iter().zip(sums) {
                total += ui * sum;
            }
        }
        let done = named - named % 4;
        for ((row, &ui), &bi) in k_named[done * m..].chunks_exact(m).zip(&u_named[done..]).zip(&self.a_base[done..]) {
            let mut sum = 0.0;
            for ((&kij, &vj), &bj) in row.iter().zip(&self.v).zip(&self.b_base) {
                sum += kij * vj * cost[bj + OFFSET_CENTER - bi];
            }
            total += ui * sum;
        }
        if wildcard {
            total / share
        } else {
            total
        }
    }
}

/// One-shot convenience for [`Sinkhorn::distance`] (allocates its scratch space).
pub fn sinkhorn_distance(a: SparseView<'_>, b: SparseView<'_>) -> f64 {
    Sinkhorn::new().distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::{Masses, SparseHistogram, SparseView};

    fn h(pairs: &[(u16, f64)]) -> SparseHistogram {
        SparseHistogram { bins: pairs.iter().map(|p| p.0).collect(), mass: pairs.iter().map(|p| p.1).collect() }
    }

    #[test]
    fn cost_table_matches_bin_centers() {
        use crate::histogram::{bin_center, delta_e};
        for (i, j) in [(0u16, 1151u16), (5, 900), (700, 3), (144, 144)] {
            let expected = delta_e(bin_center(i as usize), bin_center(j as usize));
            assert!((ground_cost(i, j) - expected).abs() < 1e-9);
        }
        assert!((max_ground_cost() - ground_cost(0, 1151)).abs() < 1e-9);
        assert_eq!(ground_cost(0, 5000), f64::INFINITY);
    }

    #[test]
    fn point_masses_cost_their_ground_distance() {
        let (a, b) = (h(&[(10, 1.0)]), h(&[(900, 1.0)]));
        assert!((exact_emd(a.view(), b.view()) - ground_cost(10, 900)).abs() < 1e-9);
        assert!((sinkhorn_distance(a.view(), b.view()) - ground_cost(10, 900)).abs() < 1e-9);
    }

    #[test]
    fn exact_emd_of_identical_is_zero_and_symmetric() {
        let a = h(&[(1, 0.2), (200, 0.5), (900, 0.3)]);
        let b = h(&[(2, 0.6), (700, 0.4)]);
        assert!(exact_emd(a.view(), a.view()).abs() < 1e-9);
        let (ab, ba) = (exact_emd(a.view(), b.view()), exact_emd(b.view(), a.view()));
        assert!((ab - ba).abs() < 1e-9);
        assert!(ab <= sinkhorn_distance(a.view(), b.view()) + 1e-9);
    }

    #[test]
    fn lower_bound_never_exceeds_exact_emd() {
        let cases = [
            (h(&[(1, 0.2), (200, 0.5), (900, 0.3)]), h(&[(2, 0.6), (700, 0.4)])),
            (h(&[(10, 1.0)]), h(&[(900, 1.0)])),
            (h(&[(0, 0.5), (1151, 0.5)]), h(&[(575, 1.0)])),
        ];
        for (a, b) in cases {
            let lb = lower_bound(&Marginals::of(a.view()), &Marginals::of(b.view()));
            let exact = exact_emd(a.view(), b.view());
            assert!(lb <= exact + 1e-9 && lb > 0.0, "{lb} vs {exact}");
        }
        let one = h(&[(10, 1.0)]);
        let far = h(&[(900, 1.0)]);
        // For point masses the bound is exact.
        assert!((lower_bound(&Marginals::of(one.view()), &Marginals::of(far.view())) - ground_cost(10, 900)).abs() < 1e-9);
    }

    /// Deterministic pseudo-random histogram with up to `n` bins (xorshift).
    pub(super) fn random(state: &mut u64, n: usize) -> SparseHistogram {
        let mut next = || {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            *state
        };
        let mut bins: Vec<u16> = (0..n).map(|_| (next() % BINS as u64) as u16).collect();
        bins.sort_unstable();
        bins.dedup();
        let raw: Vec<f64> = bins.iter().map(|_| (next() % 1000 + 1) as f64).collect();
        let total: f64 = raw.iter().sum();
        SparseHistogram { bins, mass: raw.iter().map(|m| m / total).collect() }
    }

    #[test]
    fn two_by_two_by_hand() {
        // Half the mass stays in bin 0, half moves from bin 1 to bin 2: exactly 0.5 * C(1, 2),
        // which beats the crossed plan 0.5 * (C(0, 2) + C(1, 0)) by the triangle inequality.
        let (a, b) = (h(&[(0, 0.5), (1, 0.5)]), h(&[(0, 0.5), (2, 0.5)]));
        assert!((exact_emd(a.view(), b.view()) - 0.5 * ground_cost(1, 2)).abs() < 1e-12);
        // Neighbours along b are one b-step apart: 203 / 12.
        assert!((ground_cost(0, 1) - 203.0 / 12.0).abs() < 1e-12);
        assert!((ground_cost(0, 144) - 12.5).abs() < 1e-12);
        assert_eq!(ground_cost(77, 77), 0.0);
        assert_eq!(ground_cost(3, 999), ground_cost(999, 3));
    }

    #[test]
    fn sinkhorn_of_identical_histograms_is_small_but_positive() {
        let a = h(&[(100, 0.3), (101, 0.3), (245, 0.4)]);
        let s = sinkhorn_distance(a.view(), a.view());
        let spread = ground_cost(100, 245);
        assert!(s > 0.0 && s < spread, "{s}");
        assert_eq!(exact_emd(a.view(), a.view()), 0.0);
        // Same bin on both sides: the only plan moves nothing.
        let one = h(&[(500, 1.0)]);
        assert_eq!(sinkhorn_distance(one.view(), one.view()), 0.0);
    }

    #[test]
    fn zero_mass_bins_and_scale_do_not_matter() {
        let a = h(&[(1, 0.2), (200, 0.5), (900, 0.3)]);
        let padded = h(&[(0, 0.0), (1, 0.2), (150, 0.0), (200, 0.5), (900, 0.3), (1000, -0.0)]);
        let scaled = h(&[(1, 2.0), (200, 5.0), (900, 3.0)]);
        let b = h(&[(2, 0.6), (700, 0.4)]);
        let mut s = Sinkhorn::new();
        let reference = s.distance(a.view(), b.view());
        assert_eq!(s.distance(padded.view(), b.view()), reference);
        assert!((s.distance(scaled.view(), b.view()) - reference).abs() < 1e-12 * reference);
        let exact = exact_emd(a.view(), b.view());
        assert_eq!(exact_emd(padded.view(), b.view()), exact);
        assert!((exact_emd(scaled.view(), b.view()) - exact).abs() < 1e-12);
    }

    #[test]
    fn an_estimate_is_the_distance_stopped_early() {
        let mut state = 11u64;
        let mut s = Sinkhorn::new();
        for k in 0..10 {
            let (x, y) = (random(&mut state, 8 + k * 5), random(&mut state, 50 - k * 3));
            let full = s.distance(x.view(), y.view());
            let ran = s.last_iterations;
            assert_eq!(s.estimate(x.view(), y.view(), 0.0, MAX_ITERATIONS).to_bits(), full.to_bits());
            assert_eq!(s.estimate(x.view(), y.view(), 0.0, ran).to_bits(), full.to_bits());
            let early = s.estimate(x.view(), y.view(), 0.0, 3);
            assert!(early.is_finite() && early >= 0.0 && s.last_iterations <= 3);
            assert_eq!(early.to_bits(), Sinkhorn::new().estimate(x.view(), y.view(), 0.0, 3).to_bits());
            // The cap holds for one call only.
            assert_eq!(s.distance(x.view(), y.view()).to_bits(), full.to_bits());
        }
    }

    #[test]
    fn reused_scratch_gives_the_same_bits() {
        let mut state = 7u64;
        let pairs: Vec<_> = (0..20).map(|k| (random(&mut state, 3 + k * 5), random(&mut state, 60 - k * 2))).collect();
        let mut s = Sinkhorn::new();
        for (x, y) in &pairs {
            let first = s.distance(x.view(), y.view());
            let again = Sinkhorn::new().distance(x.view(), y.view());
            assert_eq!(first.to_bits(), again.to_bits());
            assert!(s.last_iterations >= 1 && s.last_iterations <= MAX_ITERATIONS);
        }
    }

    #[test]
    fn malformed_views_do_not_panic() {
        // Mismatched lengths, duplicates, unsorted bins, out-of-range bins, infinities.
        let bins = [5u16, 5, 3, 2000, 7];
        let mass = [0.5, 0.5, f64::INFINITY, 1.0];
        let odd = SparseView { bins: &bins, mass: Masses::Exact(&mass) };
        let ok = h(&[(3, 0.5), (9, 0.5)]);
        let s = sinkhorn_distance(odd, ok.view());
        let e = exact_emd(odd, ok.view());
        assert!(s.is_finite() && e.is_finite() && e <= s + 1e-9);
        assert_eq!(sinkhorn_distance(ok.view(), SparseView { bins: &[], mass: Masses::Exact(&[1.0]) }), f64::INFINITY);
    }

    #[test]
    fn empty_or_bad_input_is_infinite_not_a_panic() {
        let empty = h(&[]);
        let bad = h(&[(5000, 1.0), (3, f64::NAN)]);
        let ok = h(&[(3, 1.0)]);
        assert_eq!(sinkhorn_distance(empty.view(), ok.view()), f64::INFINITY);
        assert_eq!(sinkhorn_distance(bad.view(), ok.view()), f64::INFINITY);
        assert_eq!(exact_emd(ok.view(), empty.view()), f64::INFINITY);
    }
}

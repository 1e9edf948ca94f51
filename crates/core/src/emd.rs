//! Earth mover's distance between histograms, ground cost ΔE76 between bin centers.
//!
//! `Sinkhorn` is the entropic approximation the search ranks with, computed exactly as POT's
//! `ot.sinkhorn` does (same initialisation, update order and convergence check) so its values can
//! be checked against POT. `exact_emd` solves the transportation problem exactly, for tests.

use crate::histogram::{axis_indices, SparseView, A_BINS, A_RANGE, BINS, B_BINS, B_RANGE, L_BINS, L_RANGE};
use std::sync::OnceLock;

/// Entropic regularisation relative to the largest ground cost (SPEC 2).
pub const REG: f64 = 0.05;
pub const MAX_ITERATIONS: usize = 100;
pub const STOP_THRESHOLD: f64 = 1e-6;

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

#[inline]
fn offset_index(i: u16, j: u16) -> usize {
    let (li, ai, bi) = axis_indices(i as usize);
    let (lj, aj, bj) = axis_indices(j as usize);
    let dl = lj + L_BINS - 1 - li;
    let da = aj + A_BINS - 1 - ai;
    let db = bj + B_BINS - 1 - bi;
    (dl * DA + da) * DB + db
}

/// ΔE76 between the Lab centers of bins `i` and `j` (both < 1152; others cost infinity).
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
    for (&b, &m) in h.bins.iter().zip(h.mass) {
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
        for (&bin, &mass) in h.bins.iter().zip(h.mass) {
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

/// Sinkhorn-EMD with reusable scratch space (reranking hundreds of candidates allocates nothing).
#[derive(Default)]
pub struct Sinkhorn {
    a_bins: Vec<u16>,
    a: Vec<f64>,
    b_bins: Vec<u16>,
    b: Vec<f64>,
    /// Gibbs kernel and cost of the current pair, row-major n x m.
    k: Vec<f64>,
    c: Vec<f64>,
    u: Vec<f64>,
    v: Vec<f64>,
    ktu: Vec<f64>,
    prev_u: Vec<f64>,
    prev_v: Vec<f64>,
    /// Iterations the last call ran (for benchmarks and reports).
    pub last_iterations: usize,
}

impl Sinkhorn {
    pub fn new() -> Self {
        Self::default()
    }

    /// The entropic OT cost `sum(P * C)` in Lab units (ΔE), as POT's
    /// `sinkhorn2(a, b, C / max(C), 0.05, numItermax=100, stopThr=1e-6) * max(C)`.
    /// Both histograms are restricted to their non-zero in-range bins and normalised; an empty
    /// histogram gives `f64::INFINITY`.
    pub fn distance(&mut self, a: SparseView<'_>, b: SparseView<'_>) -> f64 {
        if support(a, &mut self.a_bins, &mut self.a).is_none() || support(b, &mut self.b_bins, &mut self.b).is_none() {
            return f64::INFINITY;
        }
        let t = tables();
        let (n, m) = (self.a.len(), self.b.len());
        self.k.clear();
        self.c.clear();
        for &i in &self.a_bins {
            for &j in &self.b_bins {
                let o = offset_index(i, j);
                self.k.push(t.kernel[o]);
                self.c.push(t.cost[o]);
            }
        }
        let (k, a, b) = (&self.k, &self.a, &self.b);
        self.u.clear();
        self.u.resize(n, 1.0 / n as f64);
        self.v.clear();
        self.v.resize(m, 1.0 / m as f64);
        self.ktu.resize(m, 0.0);
        let mut iterations = 0;
        for it in 0..MAX_ITERATIONS {
            iterations = it + 1;
            self.prev_u.clone_from(&self.u);
            self.prev_v.clone_from(&self.v);
            // v = b / (K^T u)
            self.ktu.iter_mut().for_each(|x| *x = 0.0);
            for (row, &ui) in k.chunks_exact(m).zip(&self.u) {
                for (acc, &kij) in self.ktu.iter_mut().zip(row) {
                    *acc += kij * ui;
                }
            }
            let mut degenerate = false;
            for ((vj, &bj), &s) in self.v.iter_mut().zip(b).zip(&self.ktu) {
                degenerate |= s == 0.0;
                *vj = bj / s;
            }
            // u = 1 / ((K / a) v) = a / (K v)
            for ((ui, &ai), row) in self.u.iter_mut().zip(a).zip(k.chunks_exact(m)) {
                let kv: f64 = row.iter().zip(&self.v).map(|(&kij, &vj)| kij * vj).sum();
                *ui = 1.0 / (kv / ai);
            }
            if degenerate || self.u.iter().chain(&self.v).any(|x| !x.is_finite()) {
                // Numerical breakdown: keep the last good scaling, as POT does.
                self.u.clone_from(&self.prev_u);
                self.v.clone_from(&self.prev_v);
                break;
            }
            if it % 10 == 0 {
                // Marginal error on b: || v * (K^T u) - b ||_2
                self.ktu.iter_mut().for_each(|x| *x = 0.0);
                for (row, &ui) in k.chunks_exact(m).zip(&self.u) {
                    for (acc, &kij) in self.ktu.iter_mut().zip(row) {
                        *acc += kij * ui;
                    }
                }
                let err: f64 = self.ktu.iter().zip(&self.v).zip(b).map(|((&s, &vj), &bj)| (s * vj - bj).powi(2)).sum::<f64>().sqrt();
                if err < STOP_THRESHOLD {
                    break;
                }
            }
        }
        self.last_iterations = iterations;
        let mut total = 0.0;
        for (i, &ui) in self.u.iter().enumerate() {
            let (krow, crow) = (&k[i * m..(i + 1) * m], &self.c[i * m..(i + 1) * m]);
            let row: f64 = krow.iter().zip(crow).zip(&self.v).map(|((&kij, &cij), &vj)| kij * vj * cij).sum();
            total += ui * row;
        }
        total
    }
}

/// One-shot convenience for [`Sinkhorn::distance`].
pub fn sinkhorn_distance(a: SparseView<'_>, b: SparseView<'_>) -> f64 {
    Sinkhorn::new().distance(a, b)
}

/// The exact EMD (both normalised to unit mass) in Lab units, by successive shortest paths on the
/// bipartite transport graph (Dijkstra with potentials). `f64::INFINITY` for an empty histogram.
/// For tests and quality checks: O((n + m)^3) per call.
pub fn exact_emd(a: SparseView<'_>, b: SparseView<'_>) -> f64 {
    let (mut ab, mut am, mut bb, mut bm) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    if support(a, &mut ab, &mut am).is_none() || support(b, &mut bb, &mut bm).is_none() {
        return f64::INFINITY;
    }
    let (n, m) = (ab.len(), bb.len());
    let cost: Vec<f64> = ab.iter().flat_map(|&i| bb.iter().map(move |&j| ground_cost(i, j))).collect();
    let mut flow = vec![0.0f64; n * m];
    let (mut supply, mut demand) = (am, bm);
    // Potentials keep reduced costs non-negative: pi_source[i], pi_sink[j].
    let (mut pi_s, mut pi_t) = (vec![0.0f64; n], vec![0.0f64; m]);
    const EPS: f64 = 1e-14;
    loop {
        let remaining: f64 = supply.iter().filter(|&&s| s > EPS).sum();
        if remaining <= 1e-12 || !demand.iter().any(|&d| d > EPS) {
            break;
        }
        // Dijkstra over nodes 0..n (sources) and n..n+m (sinks) from all sources with supply.
        let total = n + m;
        let mut dist = vec![f64::INFINITY; total];
        let mut prev = vec![usize::MAX; total];
        let mut done = vec![false; total];
        for i in 0..n {
            if supply[i] > EPS {
                dist[i] = 0.0;
            }
        }
        loop {
            let mut best = usize::MAX;
            for x in 0..total {
                if !done[x] && dist[x].is_finite() && (best == usize::MAX || dist[x] < dist[best]) {
                    best = x;
                }
            }
            if best == usize::MAX {
                break;
            }
            done[best] = true;
            if best < n {
                let i = best;
                for j in 0..m {
                    let reduced = (cost[i * m + j] + pi_s[i] - pi_t[j]).max(0.0);
                    let d = dist[i] + reduced;
                    if d < dist[n + j] {
                        dist[n + j] = d;
                        prev[n + j] = i;
                    }
                }
            } else {
                let j = best - n;
                for i in 0..n {
                    if flow[i * m + j] > EPS {
                        let reduced = (pi_t[j] - cost[i * m + j] - pi_s[i]).max(0.0);
                        let d = dist[best] + reduced;
                        if d < dist[i] {
                            dist[i] = d;
                            prev[i] = best;
                        }
                    }
                }
            }
        }
        // The nearest sink with demand left.
        let Some(sink) = (0..m).filter(|&j| demand[j] > EPS && dist[n + j].is_finite()).min_by(|&x, &y| dist[n + x].total_cmp(&dist[n + y]))
        else {
            break;
        };
        for x in 0..n {
            if dist[x].is_finite() {
                pi_s[x] += dist[x];
            }
        }
        for j in 0..m {
            if dist[n + j].is_finite() {
                pi_t[j] += dist[n + j];
            }
        }
        // Walk back to find the bottleneck, then push.
        let mut amount = demand[sink];
        let mut node = n + sink;
        let source;
        loop {
            let p = prev[node];
            if node >= n {
                node = p;
            } else {
                let j = p - n;
                amount = amount.min(flow[node * m + j]);
                node = p;
            }
            if node < n && prev[node] == usize::MAX {
                source = node;
                break;
            }
        }
        amount = amount.min(supply[source]);
        let mut node = n + sink;
        while node != source {
            let p = prev[node];
            if node >= n {
                flow[p * m + (node - n)] += amount;
            } else {
                flow[node * m + (p - n)] -= amount;
            }
            node = p;
        }
        supply[source] -= amount;
        demand[sink] -= amount;
    }
    flow.iter().zip(&cost).map(|(f, c)| f * c).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::SparseHistogram;

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

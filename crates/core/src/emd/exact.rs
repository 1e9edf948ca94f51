//! The exact earth mover's distance: the oracle that tests hold Sinkhorn against (never used to
//! rank). Compiled for unit tests and with feature `testing` (the integration tests enable it).

use super::{offset_base, support, tables, OFFSET_CENTER};
use crate::histogram::SparseView;

/// Flows and remaining masses at or below this are zero (masses are normalised to 1).
const EMD_EPS: f64 = 1e-14;

/// The exact EMD in Lab units: the minimum of `sum(F * C)` over transport plans `F` between the
/// two histograms, both first restricted to bins `< 1152` with finite positive mass and
/// normalised to unit mass (so it is POT's `ot.emd2(a, b, C)` for normalised inputs).
/// `f64::INFINITY` if either side has no such bin; never panics. For tests and quality checks
/// (300 x 300 bins take about 0.1 s).
pub fn exact_emd(a: SparseView<'_>, b: SparseView<'_>) -> f64 {
    match Transport::solve(a, b) {
        Some(plan) => plan.flow.iter().zip(&plan.cost).map(|(f, c)| f * c).sum(),
        None => f64::INFINITY,
    }
}

/// An optimal transport plan with the dual potentials that certify it (`None` where
/// [`exact_emd`] is infinite).
pub struct Transport {
    /// Normalised masses of the supports.
    pub supply: Vec<f64>,
    pub demand: Vec<f64>,
    /// Row-major n x m.
    pub cost: Vec<f64>,
    pub flow: Vec<f64>,
    /// Reduced cost of `i -> j` is `cost + pot_a[i] - pot_b[j]` (>= 0, 0 where flow > 0).
    pub pot_a: Vec<f64>,
    pub pot_b: Vec<f64>,
}

impl Transport {
    /// Successive shortest paths on the bipartite residual graph: for each source bin in turn,
    /// while it has mass left, Dijkstra (dense, with node potentials keeping reduced costs
    /// non-negative) from it to the nearest bin with demand left, then push the bottleneck along
    /// that path. Dijkstra stops at the first such bin; potentials are raised by
    /// `min(distance, that bin's distance)`, which keeps every residual reduced cost non-negative.
    pub fn solve(a: SparseView<'_>, b: SparseView<'_>) -> Option<Self> {
        let (mut a_bins, mut supply, mut b_bins, mut demand) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        support(a, &mut a_bins, &mut supply)?;
        support(b, &mut b_bins, &mut demand)?;
        let (original_supply, original_demand) = (supply.clone(), demand.clone());
        let t = tables();
        let (n, m) = (supply.len(), demand.len());
        let b_base: Vec<usize> = b_bins.iter().map(|&j| offset_base(j)).collect();
        let mut cost = Vec::with_capacity(n * m);
        for &i in &a_bins {
            let bi = offset_base(i);
            cost.extend(b_base.iter().map(|&bj| t.cost[bj + OFFSET_CENTER - bi]));
        }
        let mut flow = vec![0.0f64; n * m];
        let (mut pot_a, mut pot_b) = (vec![0.0f64; n], vec![0.0f64; m]);
        // Dijkstra state over nodes 0..n (sources) and n..n+m (sinks).
        let nodes = n + m;
        let (mut dist, mut prev, mut done) = (vec![f64::INFINITY; nodes], vec![usize::MAX; nodes], vec![false; nodes]);
        // A generous guard: successive shortest paths needs about n + m augmentations.
        let mut budget = 100 * nodes + 10_000;

        'sources: for s in 0..n {
            while supply[s] > EMD_EPS {
                if budget == 0 {
                    break 'sources;
                }
                budget -= 1;
                dist.iter_mut().for_each(|d| *d = f64::INFINITY);
                prev.iter_mut().for_each(|p| *p = usize::MAX);
                done.iter_mut().for_each(|d| *d = false);
                dist[s] = 0.0;
                let target = loop {
                    let mut best = usize::MAX;
                    let mut best_dist = f64::INFINITY;
                    for (x, (&d, &finished)) in dist.iter().zip(&done).enumerate() {
                        if !finished && d < best_dist {
                            best = x;
                            best_dist = d;
                        }
                    }
                    if best == usize::MAX {
                        break None;
                    }
                    done[best] = true;
                    if best < n {
                        let i = best;
                        let row = &cost[i * m..(i + 1) * m];
                        for (j, (&c, &pj)) in row.iter().zip(&pot_b).enumerate() {
                            let d = best_dist + (c + pot_a[i] - pj).max(0.0);
                            if d < dist[n + j] {
                                dist[n + j] = d;
                                prev[n + j] = i;
                            }
                        }
                    } else {
                        let j = best - n;
                        if demand[j] > EMD_EPS {
                            break Some(j);
                        }
                        for i in 0..n {
                            if flow[i * m + j] > EMD_EPS {
                                let d = best_dist + (pot_b[j] - cost[i * m + j] - pot_a[i]).max(0.0);
                                if d < dist[i] {
                                    dist[i] = d;
                                    prev[i] = best;
                                }
                            }
                        }
                    }
                };
                let Some(sink) = target else {
                    // No demand left anywhere reachable: only rounding-level mass remains.
                    break 'sources;
                };
                let reach = dist[n + sink];
                for (p, &d) in pot_a.iter_mut().zip(&dist[..n]) {
                    *p += d.min(reach);
                }
                for (p, &d) in pot_b.iter_mut().zip(&dist[n..]) {
                    *p += d.min(reach);
                }
                // Bottleneck along the path (reverse edges are limited by their flow), then push.
                let mut amount = supply[s].min(demand[sink]);
                let mut x = n + sink;
                while x != s && x < nodes {
                    let p = prev[x];
                    if x < n && p >= n && p < nodes {
                        amount = amount.min(flow[x * m + (p - n)]);
                    }
                    x = p;
                }
                let mut x = n + sink;
                while x != s && x < nodes {
                    let p = prev[x];
                    if x >= n && p < n {
                        flow[p * m + (x - n)] += amount;
                    } else if x < n && p >= n && p < nodes {
                        flow[x * m + (p - n)] -= amount;
                    }
                    x = p;
                }
                supply[s] -= amount;
                demand[sink] -= amount;
            }
        }
        Some(Self { supply: original_supply, demand: original_demand, cost, flow, pot_a, pot_b })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emd::tests::random;

    #[test]
    fn exact_plans_are_certified_optimal_by_their_potentials() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for case in 0..60 {
            let (x, y) = (random(&mut state, 1 + case % 9 * 7), random(&mut state, 1 + case % 13 * 5));
            let plan = Transport::solve(x.view(), y.view()).unwrap();
            let (n, m) = (plan.supply.len(), plan.demand.len());
            let mut primal = 0.0;
            for i in 0..n {
                let row: f64 = plan.flow[i * m..(i + 1) * m].iter().sum();
                assert!((row - plan.supply[i]).abs() < 1e-12, "case {case}: row {i} ships {row}");
                for j in 0..m {
                    let (f, c) = (plan.flow[i * m + j], plan.cost[i * m + j]);
                    let reduced = c + plan.pot_a[i] - plan.pot_b[j];
                    assert!(f >= 0.0 && reduced > -1e-9, "case {case}: flow {f}, reduced cost {reduced}");
                    assert!(f <= 1e-13 || reduced.abs() < 1e-9, "case {case}: slack {reduced} with flow {f}");
                    primal += f * c;
                }
            }
            for j in 0..m {
                let col: f64 = (0..n).map(|i| plan.flow[i * m + j]).sum();
                assert!((col - plan.demand[j]).abs() < 1e-12, "case {case}: column {j} receives {col}");
            }
            let dual: f64 = plan.demand.iter().zip(&plan.pot_b).map(|(d, p)| d * p).sum::<f64>()
                - plan.supply.iter().zip(&plan.pot_a).map(|(s, p)| s * p).sum::<f64>();
            assert!((primal - dual).abs() < 1e-9, "case {case}: primal {primal} dual {dual}");
            assert_eq!(primal, exact_emd(x.view(), y.view()));
        }
    }
}

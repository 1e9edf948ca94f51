//! Sinkhorn and exact EMD against POT 0.9 (`ot.sinkhorn`, `ot.emd2`) on the same inputs, plus
//! properties that must hold for any pair of histograms.

use chromatica_core::emd::{exact_emd, ground_cost, nearest_bound, Sinkhorn};
use chromatica_core::histogram::{SparseHistogram, BINS};
use proptest::prelude::*;
use serde_json::Value;

fn sparse(v: &Value) -> SparseHistogram {
    let mut pairs: Vec<(u16, f64)> = v.as_array().unwrap().iter().map(|p| (p[0].as_u64().unwrap() as u16, p[1].as_f64().unwrap())).collect();
    pairs.sort_by_key(|p| p.0);
    SparseHistogram { bins: pairs.iter().map(|p| p.0).collect(), mass: pairs.iter().map(|p| p.1).collect() }
}

#[test]
fn sinkhorn_within_1e_4_and_exact_emd_within_1e_6_of_pot() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sinkhorn/cases.jsonl")).unwrap();
    let mut sinkhorn = Sinkhorn::new();
    let (mut worst_rel, mut worst_abs, mut cases) = ((0.0f64, 0), (0.0f64, 0), 0);
    let mut iterations = Vec::new();
    for (line_no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let (a, b) = (sparse(&case["a"]), sparse(&case["b"]));
        let expected = case["sinkhorn"].as_f64().unwrap();
        let got = sinkhorn.distance(a.view(), b.view());
        iterations.push(sinkhorn.last_iterations);
        let rel = (got - expected).abs() / expected.abs().max(1e-12);
        if rel.is_nan() || rel > worst_rel.0 {
            worst_rel = (rel, line_no + 1);
        }
        let emd = exact_emd(a.view(), b.view());
        let abs = (emd - case["emd"].as_f64().unwrap()).abs();
        if abs.is_nan() || abs > worst_abs.0 {
            worst_abs = (abs, line_no + 1);
        }
        assert!(emd <= got + 1e-9, "line {}: exact {emd} > sinkhorn {got}", line_no + 1);
        cases += 1;
    }
    iterations.sort_unstable();
    println!(
        "{cases} cases: Sinkhorn worst relative error {:e} (line {}), exact EMD worst absolute error {:e} (line {}); \
         Sinkhorn iterations min {} median {} max {}",
        worst_rel.0,
        worst_rel.1,
        worst_abs.0,
        worst_abs.1,
        iterations[0],
        iterations[iterations.len() / 2],
        iterations[iterations.len() - 1],
    );
    assert_eq!(cases, 46);
    assert!(worst_rel.0 <= 1e-4, "Sinkhorn relative error {:e} on line {}", worst_rel.0, worst_rel.1);
    assert!(worst_abs.0 <= 1e-6, "exact EMD absolute error {:e} on line {}", worst_abs.0, worst_abs.1);
}

/// The wildcard distance ("the rest is any color") against POT on the augmented problem (a dummy
/// source bin of mass `any`, cost 0): Sinkhorn within 1e-4, and the pruning bound never above
/// POT's exact value (`tests/data/sinkhorn/make_wildcard_cases.py` made the cases).
#[test]
fn wildcard_sinkhorn_matches_pot_and_its_bound_holds() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sinkhorn/wildcard.jsonl")).unwrap();
    let mut sinkhorn = Sinkhorn::new();
    let (mut worst, mut cases) = (0.0f64, 0);
    for (line_no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let (a, b, any) = (sparse(&case["a"]), sparse(&case["b"]), case["any"].as_f64().unwrap());
        let expected = case["sinkhorn"].as_f64().unwrap();
        let got = sinkhorn.distance_with_any(a.view(), b.view(), any);
        let rel = (got - expected).abs() / expected.abs().max(1e-12);
        worst = worst.max(rel);
        assert!(rel <= 1e-4, "line {}: any {any}: {got} vs POT {expected}", line_no + 1);
        let exact = case["emd"].as_f64().unwrap();
        let bound = nearest_bound(a.view(), b.view());
        assert!(bound <= exact + 1e-9, "line {}: bound {bound} > exact {exact}", line_no + 1);
        assert!(exact <= got + 1e-6, "line {}: exact {exact} > sinkhorn {got}", line_no + 1);
        // Less is asked of the image than with no wildcard: never farther.
        assert!(got <= sinkhorn.distance(a.view(), b.view()) + 1e-9, "line {}", line_no + 1);
        cases += 1;
    }
    println!("{cases} wildcard cases: Sinkhorn worst relative error {worst:e}");
    assert_eq!(cases, 42);
    // No wildcard is exactly the plain distance, bit for bit.
    let case: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let (a, b) = (sparse(&case["a"]), sparse(&case["b"]));
    assert_eq!(sinkhorn.distance_with_any(a.view(), b.view(), 0.0).to_bits(), sinkhorn.distance(a.view(), b.view()).to_bits());
}

/// A deterministic pseudo-random histogram with `n` distinct bins.
fn random_histogram(state: &mut u64, n: usize) -> SparseHistogram {
    let mut next = || {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    };
    let mut bins: Vec<u16> = Vec::with_capacity(n);
    while bins.len() < n.min(BINS) {
        let bin = (next() % BINS as u64) as u16;
        if !bins.contains(&bin) {
            bins.push(bin);
        }
    }
    bins.sort_unstable();
    let raw: Vec<f64> = bins.iter().map(|_| (next() >> 11) as f64 / (1u64 << 53) as f64 + 1e-3).collect();
    let total: f64 = raw.iter().sum();
    SparseHistogram { bins, mass: raw.iter().map(|m| m / total).collect() }
}

/// Not a benchmark (see `benches/core.rs`), just numbers for a report: run with `--release --nocapture`.
/// No assertions on time. Skipped in debug builds, where the numbers mean nothing.
#[test]
#[cfg_attr(debug_assertions, ignore)]
fn timing_report() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let (q, h) = (random_histogram(&mut state, 40), random_histogram(&mut state, 150));
    let mut sinkhorn = Sinkhorn::new();
    // The fastest of several batches, to see through other load on the machine.
    let (batches, reps) = (20, 20);
    let mut best = std::time::Duration::MAX;
    let mut value = 0.0;
    for _ in 0..batches {
        let start = std::time::Instant::now();
        for _ in 0..reps {
            value = sinkhorn.distance(std::hint::black_box(q.view()), std::hint::black_box(h.view()));
        }
        best = best.min(start.elapsed() / reps);
    }
    println!("Sinkhorn 40x150: {best:?} per call (best of {batches} batches), {} iterations (value {value})", sinkhorn.last_iterations);

    for size in [100, 300] {
        let (x, y) = (random_histogram(&mut state, size), random_histogram(&mut state, size));
        let start = std::time::Instant::now();
        let d = exact_emd(x.view(), y.view());
        println!("exact EMD {size}x{size}: {:?} (value {d})", start.elapsed());
    }
}

fn histogram_strategy() -> impl Strategy<Value = SparseHistogram> {
    proptest::collection::btree_map(0u16..BINS as u16, 1e-4f64..1.0, 1..24).prop_map(|map| {
        let total: f64 = map.values().sum();
        SparseHistogram { bins: map.keys().copied().collect(), mass: map.values().map(|m| m / total).collect() }
    })
}

proptest! {
    #[test]
    fn emd_properties(a in histogram_strategy(), b in histogram_strategy()) {
        let mut sinkhorn = Sinkhorn::new();
        let s = sinkhorn.distance(a.view(), b.view());
        prop_assert!(s.is_finite() && s >= 0.0, "sinkhorn {}", s);
        let ab = exact_emd(a.view(), b.view());
        let ba = exact_emd(b.view(), a.view());
        prop_assert!(ab >= 0.0 && ab.is_finite(), "exact {}", ab);
        prop_assert!(exact_emd(a.view(), a.view()) < 1e-9);
        // Converged, Sinkhorn's plan is within its marginal tolerance of the transport polytope,
        // so its cost cannot undercut the exact EMD by more than a hair. Stopped by POT's 100
        // iteration cap instead (rare: a few in 10^5 random pairs), it may undercut it more.
        if sinkhorn.last_iterations < chromatica_core::emd::MAX_ITERATIONS {
            prop_assert!(ab <= s + 1e-3, "exact {} > sinkhorn {} after {} iterations", ab, s, sinkhorn.last_iterations);
        }
        prop_assert!((ab - ba).abs() < 1e-9, "asymmetric {} vs {}", ab, ba);
        // Never above the largest ground cost between the supports.
        let far = a.bins.iter().flat_map(|&i| b.bins.iter().map(move |&j| ground_cost(i, j))).fold(0.0, f64::max);
        prop_assert!(ab <= far + 1e-9 && s <= far + 1e-9);
    }

    #[test]
    fn arbitrary_input_never_panics(
        a in proptest::collection::vec((any::<u16>(), any::<f64>()), 0..12),
        b in proptest::collection::vec((any::<u16>(), any::<f64>()), 0..12),
    ) {
        let a = SparseHistogram { bins: a.iter().map(|p| p.0).collect(), mass: a.iter().map(|p| p.1).collect() };
        let b = SparseHistogram { bins: b.iter().map(|p| p.0).collect(), mass: b.iter().map(|p| p.1).collect() };
        let s = Sinkhorn::new().distance(a.view(), b.view());
        let e = exact_emd(a.view(), b.view());
        prop_assert!(s == f64::INFINITY || (s.is_finite() && s >= 0.0));
        prop_assert!(e == f64::INFINITY || (e.is_finite() && e >= 0.0));
    }
}

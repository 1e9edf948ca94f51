//! Sinkhorn and exact EMD against POT 0.9 (`ot.sinkhorn`, `ot.emd2`) on the same inputs.

use chromatica_core::emd::{exact_emd, Sinkhorn};
use chromatica_core::histogram::SparseHistogram;
use serde_json::Value;

fn sparse(v: &Value) -> SparseHistogram {
    let mut pairs: Vec<(u16, f64)> =
        v.as_array().unwrap().iter().map(|p| (p[0].as_u64().unwrap() as u16, p[1].as_f64().unwrap())).collect();
    pairs.sort_by_key(|p| p.0);
    SparseHistogram { bins: pairs.iter().map(|p| p.0).collect(), mass: pairs.iter().map(|p| p.1).collect() }
}

#[test]
fn sinkhorn_within_1e_4_and_exact_emd_within_1e_6_of_pot() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sinkhorn/cases.jsonl")).unwrap();
    let mut sinkhorn = Sinkhorn::new();
    let (mut worst_rel, mut worst_abs, mut cases) = (0.0f64, 0.0f64, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let (a, b) = (sparse(&case["a"]), sparse(&case["b"]));
        let expected = case["sinkhorn"].as_f64().unwrap();
        let got = sinkhorn.distance(a.view(), b.view());
        worst_rel = worst_rel.max((got - expected).abs() / expected.abs().max(1e-12));
        let emd = exact_emd(a.view(), b.view());
        worst_abs = worst_abs.max((emd - case["emd"].as_f64().unwrap()).abs());
        cases += 1;
    }
    println!("{cases} cases: Sinkhorn worst relative error {worst_rel:e}, exact EMD worst absolute error {worst_abs:e}");
    assert_eq!(cases, 46);
    assert!(worst_rel <= 1e-4, "Sinkhorn relative error {worst_rel:e}");
    assert!(worst_abs <= 1e-6, "exact EMD absolute error {worst_abs:e}");
}

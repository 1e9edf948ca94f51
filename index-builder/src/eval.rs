//! `chromatica eval`: recall@k of HNSW + Sinkhorn against exhaustive Sinkhorn, and latency.

use anyhow::{Context, Result};
use chromatica_core::bundle::Bundle;
use chromatica_core::histogram::Histogram;
use chromatica_core::search::Engine;
use chromatica_core::Query;
use chromatica_core::SearchOptions;
use std::time::Instant;

/// Deterministic queries: `count` random 1-3 color queries and `count` stored histograms.
fn queries(engine: &Engine, count: usize) -> Vec<(String, Histogram)> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = Vec::new();
    for _ in 0..count {
        let n = 1 + (next() % 3) as usize;
        let colors: Vec<[u8; 3]> = (0..n).map(|_| next().to_le_bytes()[..3].try_into().unwrap_or([0; 3])).collect();
        let weights: Vec<f64> = (0..n).map(|_| 0.1 + (next() % 90) as f64 / 100.0).collect();
        if let Ok(q) = Query::new(colors, Some(weights)) {
            out.push(("colors".to_string(), q.histogram()));
        }
    }
    let len = engine.bundle().len() as u64;
    for _ in 0..count {
        if let Some(h) = engine.bundle().dense_histogram((next() % len.max(1)) as usize) {
            out.push(("similar".to_string(), h));
        }
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

/// `rerank_ks`: the budgets to compare; by default the one the site was built with.
pub fn run(bytes: &[u8], count: usize, rerank_ks: Option<&str>, k: usize, threads: usize) -> Result<()> {
    let site_rerank_k = Bundle::from_bytes(bytes)?.params.rerank_k as usize;
    let ks: Vec<usize> = match rerank_ks {
        Some(list) => list.split(',').map(chromatica_core::query::parse_rerank_k).collect::<Result<_, _>>().context("bad --rerank-k")?,
        None => vec![site_rerank_k],
    };
    let max_k = ks.iter().copied().max().unwrap_or(site_rerank_k);
    let mut engine = Engine::new(Bundle::from_bytes_with_min_search_width(bytes, max_k)?);
    let qs = queries(&engine, count);
    let t = Instant::now();
    let truth: Vec<Vec<u32>> = qs.iter().map(|(_, q)| engine.rank_exhaustive(q, k).iter().map(|h| h.id).collect()).collect();
    let exhaustive_ms = t.elapsed().as_secs_f64() * 1000.0 / qs.len().max(1) as f64;
    println!("{} images, {} queries, recall@{k} against exhaustive Sinkhorn ({exhaustive_ms:.1} ms/query)", engine.bundle().len(), qs.len());
    println!("two-stage searches timed on {threads} thread(s)");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build()?;
    pool.install(|| measure(&mut engine, &qs, &truth, &ks, k))
}

fn measure(engine: &mut Engine, qs: &[(String, Histogram)], truth: &[Vec<u32>], ks: &[usize], k: usize) -> Result<()> {
    println!("{:>9} {:>14} {:>14} {:>10} {:>10} {:>9} {:>7}", "rerank_k", "recall colors", "recall similar", "p50 ms", "p95 ms", "reranked", "iters");
    for &rk in ks {
        let (mut found, mut total) = ([0usize; 2], [0usize; 2]);
        let mut times = Vec::new();
        let (mut reranked, mut iterations) = (0usize, 0usize);
        for ((kind, q), truth) in qs.iter().zip(truth) {
            let start = Instant::now();
            let clock = || start.elapsed().as_secs_f64() * 1000.0;
            let ranking = engine.rank(q, &SearchOptions { k, rerank_k: Some(rk), ..Default::default() }, &clock)?;
            times.push(clock());
            reranked += ranking.stats.reranked;
            iterations += ranking.stats.iterations;
            let slot = usize::from(kind == "similar");
            found[slot] += ranking.hits.iter().filter(|h| truth.contains(&h.id)).count();
            total[slot] += truth.len();
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{rk:>9} {:>14.3} {:>14.3} {:>10.2} {:>10.2} {:>9.1} {:>7.1}",
            found[0] as f64 / total[0].max(1) as f64,
            found[1] as f64 / total[1].max(1) as f64,
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            reranked as f64 / qs.len() as f64,
            iterations as f64 / reranked.max(1) as f64
        );
    }
    Ok(())
}

//! `chromatica eval`: recall@k of the two-stage search (routing to shards, nearest vectors,
//! Sinkhorn rerank) against exhaustive Sinkhorn, its latency, and the index bytes it downloads;
//! with `--filter`, the same for filtered searches against exhaustive Sinkhorn over the images the
//! filter passes.

use crate::site_index;
use anyhow::{bail, Context, Result};
use chromatica_core::emd::Sinkhorn;
use chromatica_core::filter::{meets, terms_of, Filter};
use chromatica_core::histogram::Histogram;
use chromatica_core::search::{Engine, Hit, QueryKind, Want};
use chromatica_core::Query;
use chromatica_core::SearchOptions;
use std::fs;
use std::path::Path;
use std::time::Instant;

/// Deterministic queries: `count` random 1-3 color queries and `count` stored histograms.
fn queries(engine: &Engine, count: usize) -> Vec<(QueryKind, Histogram)> {
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
            out.push((QueryKind::Colors, q.histogram()));
        }
    }
    let len = engine.len() as u64;
    for _ in 0..count {
        if let Some(h) = engine.dense_histogram((next() % len.max(1)) as u32) {
            out.push((QueryKind::Image, h));
        }
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

fn list(text: Option<&str>, what: &str) -> Result<Option<Vec<usize>>> {
    text.map(|t| t.split(',').map(|x| x.trim().parse::<usize>().with_context(|| format!("bad {what}: {x:?}"))).collect()).transpose()
}

/// What `eval` compares: `rerank_ks` and `probes` (lists; by default the site's own), or with
/// `filters` (in the URL's form, `folder=a/b&tags=x`) filtered searches at the site's settings and
/// the routing width `filter_probe`.
pub struct Sweep<'a> {
    pub rerank_ks: Option<&'a str>,
    pub probes: Option<&'a str>,
    pub filters: &'a [String],
    pub filter_probe: Option<usize>,
    /// Where the exhaustive top k is kept between runs ([`truth`]).
    pub truth: Option<&'a Path>,
}

pub fn run(site: &Path, count: usize, sweep: &Sweep<'_>, k: usize, threads: usize) -> Result<()> {
    let Sweep { rerank_ks, probes, filters, filter_probe, truth: truth_file } = *sweep;
    let mut engine = site_index::open(site)?;
    site_index::load_all(&mut engine, site)?;
    let params = engine.head().params.clone();
    let ks = list(rerank_ks, "--rerank-k")?.unwrap_or(vec![params.rerank_k as usize]);
    let probes = list(probes, "--probe")?.unwrap_or(vec![params.probe_images as usize]);
    let qs = queries(&engine, count);
    if !filters.is_empty() {
        engine.set_filter_probe(filter_probe);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build()?;
        return measure_filters(&mut engine, site, &qs, filters, k, &pool, filter_probe);
    }
    let t = Instant::now();
    let truth = truth(&mut engine, &qs, k, truth_file)?;
    let exhaustive_ms = t.elapsed().as_secs_f64() * 1000.0 / qs.len().max(1) as f64;
    let head = engine.head();
    println!(
        "{} images in {} shards (head {} bytes), {} queries, recall@{k} against exhaustive Sinkhorn ({exhaustive_ms:.1} ms/query)",
        engine.len(),
        head.shards.len(),
        head.byte_len,
        qs.len()
    );
    println!("searches timed on {threads} thread(s) with every index file loaded; bytes: index files one query downloads into a fresh engine (cold) and into one that ran the queries before it (later, p95)");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build()?;
    pool.install(|| measure(&mut engine, site, &qs, &truth, &ks, &probes, k))
}

fn measure(
    engine: &mut Engine,
    site: &Path,
    qs: &[(QueryKind, Histogram)],
    truth: &[Vec<u32>],
    ks: &[usize],
    probes: &[usize],
    k: usize,
) -> Result<()> {
    println!(
        "{:>7} {:>9} {:>14} {:>14} {:>8} {:>8} {:>9} {:>10} {:>10}",
        "probe", "rerank_k", "recall colors", "recall similar", "p50 ms", "p95 ms", "reranked", "cold KB", "later KB"
    );
    for &probe in probes {
        engine.set_probe_images(Some(probe));
        for &rk in ks {
            let options = SearchOptions { k, rerank_k: Some(rk), ..Default::default() };
            let (mut found, mut total) = ([0usize; 2], [0usize; 2]);
            let mut times = Vec::new();
            let mut reranked = 0usize;
            for ((kind, q), truth) in qs.iter().zip(truth) {
                let start = Instant::now();
                let clock = || start.elapsed().as_secs_f64() * 1000.0;
                let ranking = engine.drive(|e| e.rank(q, *kind, &options, &clock), &mut site_index::fetcher(site))?;
                times.push(clock());
                reranked += ranking.stats.reranked;
                let slot = usize::from(*kind == QueryKind::Image);
                found[slot] += ranking.hits.iter().filter(|h| truth.contains(&h.id)).count();
                total[slot] += truth.len();
            }
            times.sort_by(f64::total_cmp);
            let (cold, later) = bytes_per_query(site, qs, &options, probe, None)?;
            println!(
                "{probe:>7} {rk:>9} {:>14.3} {:>14.3} {:>8.2} {:>8.2} {:>9.1} {:>10.0} {:>10.0}",
                found[0] as f64 / total[0].max(1) as f64,
                found[1] as f64 / total[1].max(1) as f64,
                percentile(&times, 0.5),
                percentile(&times, 0.95),
                reranked as f64 / qs.len() as f64,
                cold / 1024.0,
                later / 1024.0
            );
        }
    }
    Ok(())
}

/// How a `--truth` file starts.
const TRUTH_MAGIC: &str = "chromatica eval truth:";

/// Each query's exhaustive top `k` (every core): read from `file` when it holds them for this many
/// queries and images and each stored image's Sinkhorn distance, computed again, is the stored one
/// to the bit (so the same images under the same ids, and the same Sinkhorn); else computed, and
/// written to `file` if one is given (unless `file` is something else: then nothing is written over
/// it, and `eval` stops with an error before it computes). At a million images the exhaustive ranking takes minutes a
/// query; the check, a few Sinkhorns.
fn truth(engine: &mut Engine, qs: &[(QueryKind, Histogram)], k: usize, file: Option<&Path>) -> Result<Vec<Vec<u32>>> {
    let header = format!("{TRUTH_MAGIC} {} images, {} queries, top {k}", engine.len(), qs.len());
    let mut sinkhorn = Sinkhorn::new();
    let mut stored = |text: &str| -> Option<Vec<Vec<u32>>> {
        let mut lines = text.lines();
        if lines.next()? != header {
            return None;
        }
        let mut out = Vec::new();
        for ((_, q), line) in qs.iter().zip(lines.by_ref()) {
            let q = q.pruned();
            let mut ids = Vec::new();
            for pair in line.split_whitespace() {
                let (id, bits) = pair.split_once(':')?;
                let (id, bits): (u32, u64) = (id.parse().ok()?, u64::from_str_radix(bits, 16).ok()?);
                if sinkhorn.distance(q.view(), engine.histogram(id)?).to_bits() != bits {
                    return None;
                }
                ids.push(id);
            }
            out.push(ids);
        }
        (out.len() == qs.len() && lines.next().is_none()).then_some(out)
    };
    if let Some(file) = file {
        if file.exists() {
            let text = fs::read_to_string(file).unwrap_or_default();
            if !text.starts_with(TRUTH_MAGIC) {
                bail!("{} exists and is no file of `chromatica eval --truth`: give another path (nothing was written)", file.display());
            }
            if let Some(truth) = stored(&text) {
                println!("exhaustive top {k} of each query read from {} (checked against this site)", file.display());
                return Ok(truth);
            }
            println!("{} is not this site's exhaustive top {k} for these queries: computing it again", file.display());
        }
    }
    let hits: Vec<Vec<Hit>> = qs.iter().map(|(_, q)| engine.rank_exhaustive(q, k)).collect();
    if let Some(file) = file {
        let lines: Vec<String> =
            hits.iter().map(|h| h.iter().map(|h| format!("{}:{:016x}", h.id, h.distance.to_bits())).collect::<Vec<_>>().join(" ")).collect();
        fs::write(file, format!("{header}\n{}\n", lines.join("\n"))).with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(hits.into_iter().map(|h| h.into_iter().map(|h| h.id).collect()).collect())
}

/// Mean index bytes (head included, as stored: what a host sends) a fresh engine downloads for one
/// query, and the p95 of the new bytes per query over the whole sequence on one engine (default
/// cache budget).
fn bytes_per_query(
    site: &Path,
    qs: &[(QueryKind, Histogram)],
    options: &SearchOptions,
    probe: usize,
    filter_probe: Option<usize>,
) -> Result<(f64, f64)> {
    let mut cold = 0.0;
    let mut later = Vec::new();
    let mut warm = site_index::open(site)?;
    warm.set_probe_images(Some(probe));
    warm.set_filter_probe(filter_probe);
    let head = warm.head().clone();
    for (kind, q) in qs {
        let mut fresh = Engine::new(head.clone());
        fresh.set_probe_images(Some(probe));
        fresh.set_filter_probe(filter_probe);
        let mut bytes = site_index::stored_len(site, chromatica_core::bundle::HEAD_FILE) as f64;
        let mut fetch = site_index::fetcher(site);
        fresh.drive(|e| e.rank(q, *kind, options, &|| 0.0), &mut |w: &Want| {
            bytes += site_index::stored_len(site, &w.path()) as f64;
            fetch(w)
        })?;
        cold += bytes;
        let mut new = 0.0;
        let mut fetch = site_index::fetcher(site);
        warm.drive(|e| e.rank(q, *kind, options, &|| 0.0), &mut |w: &Want| {
            new += site_index::stored_len(site, &w.path()) as f64;
            fetch(w)
        })?;
        later.push(new);
    }
    later.sort_by(f64::total_cmp);
    Ok((cold / qs.len().max(1) as f64, percentile(&later[1.min(later.len())..], 0.95)))
}

/// The images `filter` passes, from their records (not from the term index it checks).
fn passing(engine: &Engine, filter: &Filter) -> Vec<u32> {
    let criteria = filter.criteria();
    let none = Default::default();
    (0..engine.len() as u32)
        .filter(|&id| {
            let (Some(meta), text) = (engine.image(id), engine.text(id).unwrap_or(&none)) else { return false };
            let terms = terms_of(&text.facts(meta));
            meets(&criteria, &terms)
        })
        .collect()
}

fn measure_filters(
    engine: &mut Engine,
    site: &Path,
    qs: &[(QueryKind, Histogram)],
    filters: &[String],
    k: usize,
    pool: &rayon::ThreadPool,
    filter_probe: Option<usize>,
) -> Result<()> {
    // The exhaustive ranking of every image, once per query; each filter's truth is its part.
    let full: Vec<Vec<u32>> = qs.iter().map(|(_, q)| engine.rank_exhaustive(q, engine.len()).iter().map(|h| h.id).collect()).collect();
    println!("{} images, {} queries; recall@{k} against exhaustive Sinkhorn over the images each filter passes", engine.len(), qs.len());
    println!(
        "{:<28} {:>8} {:>14} {:>14} {:>8} {:>8} {:>10} {:>10}",
        "filter", "passing", "recall colors", "recall similar", "p50 ms", "p95 ms", "cold KB", "later KB"
    );
    for text in filters {
        let filter = chromatica_core::query::parse_filter(text).with_context(|| format!("--filter {text:?}"))?;
        let options = SearchOptions { k, filter, ..Default::default() };
        let pass = passing(engine, &options.filter);
        let (mut found, mut total) = ([0usize; 2], [0usize; 2]);
        let mut times = Vec::new();
        for ((kind, q), full) in qs.iter().zip(&full) {
            let truth: Vec<u32> = full.iter().copied().filter(|id| pass.binary_search(id).is_ok()).take(k).collect();
            let start = Instant::now();
            let clock = || start.elapsed().as_secs_f64() * 1000.0;
            let ranking = pool.install(|| engine.drive(|e| e.rank(q, *kind, &options, &clock), &mut site_index::fetcher(site)))?;
            times.push(clock());
            let slot = usize::from(*kind == QueryKind::Image);
            found[slot] += ranking.hits.iter().filter(|h| truth.contains(&h.id)).count();
            total[slot] += truth.len();
        }
        times.sort_by(f64::total_cmp);
        let (cold, later) = bytes_per_query(site, qs, &options, engine.head().params.probe_images as usize, filter_probe)?;
        println!(
            "{:<28} {:>8} {:>14.3} {:>14.3} {:>8.2} {:>8.2} {:>10.0} {:>10.0}",
            text,
            pass.len(),
            found[0] as f64 / total[0].max(1) as f64,
            found[1] as f64 / total[1].max(1) as f64,
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            cold / 1024.0,
            later / 1024.0
        );
    }
    Ok(())
}

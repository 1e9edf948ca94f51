//! `chromatica build`: scan -> decode + histogram (parallel, cached) -> HNSW -> bundle -> site,
//! written beside the old site and swapped in only when complete.

use crate::cache::{Cache, Entry, CACHE_FILE};
use index_builder::decode::{decode, encode_thumbnail};
use crate::site;
use anyhow::{bail, Context, Result};
use chromatica_core::ann::{AnnIndex, AnnVector, EF_CONSTRUCTION, EF_SEARCH, HNSW_SEED};
use chromatica_core::bundle::{self, BundleInput, ImageMeta, Params};
use chromatica_core::histogram::{dominant_colors, image_histogram, Histogram, SparseHistogram, MAX_SIDE};
use chromatica_core::search::DEFAULT_RERANK_K;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "jpe", "png", "webp", "gif", "bmp", "tif", "tiff"];

pub struct BuildOptions {
    pub images: PathBuf,
    pub out: PathBuf,
    pub jobs: usize,
    pub thumb_size: u32,
    pub originals: bool,
    pub progress: bool,
}

#[derive(Serialize, Debug)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

#[derive(Serialize, Debug)]
pub struct Summary {
    pub indexed: usize,
    pub decoded: usize,
    pub reused: usize,
    pub skipped: Vec<Skipped>,
    pub bundle_bytes: usize,
    pub bytes_per_image: f64,
    pub timings_ms: Timings,
    pub out: String,
}

#[derive(Serialize, Debug, Default)]
pub struct Timings {
    pub scan: f64,
    pub decode: f64,
    pub index: f64,
    pub write: f64,
    pub total: f64,
}

/// One input file's outcome.
struct Processed {
    rel: String,
    source: PathBuf,
    entry: Entry,
    /// The thumbnail, when the file was decoded this time (else it's taken from the old site).
    thumb: Option<Vec<u8>>,
    decoded: bool,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

pub fn build(opts: &BuildOptions) -> Result<Summary> {
    let start = Instant::now();
    let images = fs::canonicalize(&opts.images)
        .with_context(|| format!("cannot open the images folder {}", opts.images.display()))?;
    if !images.is_dir() {
        bail!("{} is not a folder", opts.images.display());
    }
    let out = absolute(&opts.out)?;
    if out.starts_with(&images) {
        bail!("the output folder {} is inside the images folder; choose a folder outside it", out.display());
    }
    if images.starts_with(&out) {
        bail!("the images folder is inside the output folder {}; choose another output folder", out.display());
    }
    site::check_replaceable(&out)?;

    let (files, mut skipped) = scan(&images);
    if files.is_empty() && skipped.is_empty() {
        bail!("no images found in {} (looked for {})", images.display(), IMAGE_EXTENSIONS.join(", "));
    }
    let scan_ms = ms(start);

    let cache = Cache::load(&out);
    let bar = progress_bar(opts.progress, files.len());
    let t_decode = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.jobs.max(1)).build()?;
    let outcomes: Vec<Result<Processed, Skipped>> = pool.install(|| {
        files
            .par_iter()
            .map(|(rel, path)| {
                let r = process(rel, path, cache.entries.get(rel), &out, opts.thumb_size);
                bar.inc(1);
                if let Err(s) = &r {
                    bar.suspend(|| eprintln!("warning: skipped {}: {}", s.path, s.reason));
                }
                r
            })
            .collect()
    });
    bar.finish_and_clear();
    let decode_ms = ms(t_decode);

    let mut processed = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(p) => processed.push(p),
            Err(s) => skipped.push(s),
        }
    }
    if processed.is_empty() {
        bail!("none of the {} files in {} could be indexed (see the warnings above)", skipped.len(), images.display());
    }

    let t_index = Instant::now();
    let histograms: Vec<Histogram> = processed
        .iter()
        .map(|p| Histogram::from_sparse(SparseHistogram { bins: p.entry.bins.clone(), mass: p.entry.mass.clone() }.view()))
        .collect();
    let ef_search = EF_SEARCH.max(DEFAULT_RERANK_K);
    let vectors: Vec<AnnVector> = histograms.iter().map(AnnVector::from_histogram).collect();
    let ann = AnnIndex::build(vectors, ef_search);
    let metas: Vec<ImageMeta> = processed
        .iter()
        .map(|p| ImageMeta {
            path: p.rel.clone(),
            stem: stem(p.entry.hash),
            ext: if opts.originals { extension(&p.source) } else { String::new() },
            width: p.entry.width,
            height: p.entry.height,
        })
        .collect();
    let params = Params {
        ef_construction: EF_CONSTRUCTION as u32,
        ef_search: ef_search as u32,
        m: 32,
        seed: HNSW_SEED,
        rerank_k: DEFAULT_RERANK_K as u32,
        ann_dims: chromatica_core::ann::ANN_DIMS as u32,
    };
    let bundle_bytes = bundle::encode(&BundleInput {
        params: params.clone(),
        images: metas.clone(),
        histograms: &histograms,
        palettes: processed.iter().map(|p| p.entry.palette.clone()).collect(),
        ann: &ann,
    });
    let index_ms = ms(t_index);

    let t_write = Instant::now();
    let staging = site::Staging::create(&out)?;
    site::write_app(staging.path())?;
    fs::write(staging.path().join(site::BUNDLE_FILE), &bundle_bytes)?;
    site::write_bundle_script(staging.path(), &bundle_bytes)?;
    fs::create_dir_all(staging.path().join("thumbs"))?;
    if opts.originals {
        fs::create_dir_all(staging.path().join("originals"))?;
    }
    for (p, meta) in processed.iter().zip(&metas) {
        let thumb_path = staging.path().join(meta.thumb_url());
        match &p.thumb {
            Some(bytes) => fs::write(&thumb_path, bytes)?,
            None => link_or_copy(&out.join(meta.thumb_url()), &thumb_path)?,
        }
        if opts.originals {
            let dest = staging.path().join(meta.original_url());
            if !dest.exists() {
                link_or_copy(&p.source, &dest)?;
            }
        }
    }
    let mut thumbs: Vec<String> = metas.iter().map(ImageMeta::thumb_url).collect();
    thumbs.dedup();
    site::write_thumbs_script(staging.path(), &thumbs)?;
    let manifest = site::Manifest::new(&params, &metas, bundle_bytes.len(), &images);
    fs::write(staging.path().join(site::MANIFEST_FILE), serde_json::to_vec_pretty(&manifest)?)?;
    let entries: BTreeMap<String, Entry> = processed.iter().map(|p| (p.rel.clone(), p.entry.clone())).collect();
    fs::write(staging.path().join(CACHE_FILE), Cache::new(entries).to_bytes())?;
    staging.commit()?;
    let write_ms = ms(t_write);

    let n = processed.len();
    Ok(Summary {
        indexed: n,
        decoded: processed.iter().filter(|p| p.decoded).count(),
        reused: processed.iter().filter(|p| !p.decoded).count(),
        skipped,
        bundle_bytes: bundle_bytes.len(),
        bytes_per_image: bundle_bytes.len() as f64 / n as f64,
        timings_ms: Timings { scan: scan_ms, decode: decode_ms, index: index_ms, write: write_ms, total: ms(start) },
        out: out.display().to_string(),
    })
}

fn progress_bar(enabled: bool, len: usize) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:40.cyan/blue} {pos}/{len} images  {per_sec}  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Image files below `root` (recursive, sorted by relative path so ids are stable), and entries
/// that could not be read (symlink loops, permissions).
fn scan(root: &Path) -> (Vec<(String, PathBuf)>, Vec<Skipped>) {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name() {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                if !IMAGE_EXTENSIONS.contains(&extension(e.path()).as_str()) {
                    continue;
                }
                let rel = relative_name(root, e.path());
                files.push((rel, e.path().to_path_buf()));
            }
            Ok(_) => {}
            Err(err) => {
                let path = err.path().map(|p| relative_name(root, p)).unwrap_or_default();
                let reason = if err.loop_ancestor().is_some() {
                    "symlink loop".to_string()
                } else {
                    err.io_error().map(|e| e.to_string()).unwrap_or_else(|| err.to_string())
                };
                skipped.push(Skipped { path, reason });
            }
        }
    }
    files.sort();
    (files, skipped)
}

/// `/`-separated path relative to the images folder; non-UTF-8 bytes are shown as U+FFFD.
fn relative_name(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn extension(path: &Path) -> String {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    if ext.len() <= 8 && ext.bytes().all(|c| c.is_ascii_alphanumeric()) { ext } else { String::new() }
}

fn stem(hash: u64) -> String {
    format!("{hash:016x}")
}

fn mtime_ns(meta: &fs::Metadata) -> i128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(-1)
}

fn process(rel: &str, path: &Path, cached: Option<&Entry>, old_site: &Path, thumb_size: u32) -> Result<Processed, Skipped> {
    let skip = |reason: String| Skipped { path: rel.to_string(), reason };
    let meta = fs::metadata(path).map_err(|e| skip(e.to_string()))?;
    let (size, mtime) = (meta.len(), mtime_ns(&meta));
    let reusable = |e: &Entry| e.thumb_size == thumb_size && old_site.join(format!("thumbs/{}.jpg", stem(e.hash))).is_file();
    if let Some(e) = cached.filter(|e| e.size == size && e.mtime_ns == mtime && reusable(e)) {
        return Ok(Processed { rel: rel.into(), source: path.into(), entry: e.clone(), thumb: None, decoded: false });
    }
    let bytes = fs::read(path).map_err(|e| skip(e.to_string()))?;
    let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
    if let Some(e) = cached.filter(|e| e.hash == hash && reusable(e)) {
        let entry = Entry { size, mtime_ns: mtime, ..e.clone() };
        return Ok(Processed { rel: rel.into(), source: path.into(), entry, thumb: None, decoded: false });
    }
    let decoded = decode(&bytes, MAX_SIDE.max(thumb_size)).map_err(skip)?;
    let (histogram, small) = image_histogram(&decoded.pixels).map_err(|e| skip(e.to_string()))?;
    let thumb_pixels = if thumb_size == MAX_SIDE {
        small
    } else {
        chromatica_core::resize::downscale_to_fit(&decoded.pixels, thumb_size)
    };
    let thumb = encode_thumbnail(&thumb_pixels, 82).map_err(skip)?;
    let sparse = histogram.to_sparse();
    let entry = Entry {
        size,
        mtime_ns: mtime,
        hash,
        width: decoded.width,
        height: decoded.height,
        thumb_size,
        palette: dominant_colors(&histogram, bundle::PALETTE_SIZE),
        bins: sparse.bins,
        mass: sparse.mass,
    };
    Ok(Processed { rel: rel.into(), source: path.into(), entry, thumb: Some(thumb), decoded: true })
}

fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if fs::hard_link(from, to).is_err() {
        fs::copy(from, to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// `path` made absolute without requiring it to exist (its parent must).
fn absolute(path: &Path) -> Result<PathBuf> {
    let path = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir()?.join(path) };
    let name = path.file_name().context("the output path has no folder name")?.to_owned();
    let parent = path.parent().context("the output path has no parent folder")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    Ok(fs::canonicalize(parent)?.join(name))
}

//! `chromatica build`: scan -> decode + histogram (parallel, cached, within a memory budget) ->
//! shards (core's `shard`) -> index files -> site. New files are staged inside the site and moved into place only when
//! the whole build is complete; only files an earlier build wrote are ever replaced (site.rs).

use crate::cache::{Cache, Entry};
use crate::metadata::Sidecar;
use crate::site::{self, SiteWriter};
use crate::site_index;
use crate::site_info::SiteInfo;
use crate::terminal;
use anyhow::{bail, Context, Result};
use chromatica_core::ann::AnnVector;
use chromatica_core::bundle::{self, ImageMeta, Params, StoredHistogram};
use chromatica_core::histogram::{dominant_colors, image_histogram, Histogram, SparseHistogram, MAX_SIDE};
use chromatica_core::BackgroundMode;
use index_builder::budget::{megabytes, MemoryBudget};
use index_builder::decode::{decode_keeping, encode_thumbnail, probe, Cost, PROBE_BYTES};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "jpe", "png", "webp", "gif", "bmp", "tif", "tiff", "heic", "heif", "hif", "avif"];
/// Formats browsers cannot show (HEIC outside Safari): the site's original is a JPEG rendition.
const RENDITION_EXTENSIONS: &[&str] = &["heic", "heif", "hif"];
/// JPEG quality of those renditions.
const RENDITION_QUALITY: u8 = 90;

pub struct BuildOptions {
    pub images: PathBuf,
    pub out: PathBuf,
    pub jobs: usize,
    pub thumb_size: u32,
    pub originals: bool,
    pub progress: bool,
    /// Write into a non-empty folder that is not a site of ours (adding files, never replacing).
    pub force: bool,
    /// Index files that symlinks lead to outside the images folder.
    pub follow_symlinks: bool,
    /// Bytes that reading and decoding may hold at once, over all jobs.
    pub max_memory: u64,
    /// Candidates a search reranks, stored in the index (the HNSW search width follows it).
    pub rerank_k: usize,
    /// What to do with plain backgrounds (core's `background`), stored in the index.
    pub background: BackgroundMode,
    /// Only part I of N (1-based) of the images: those whose path hashes to it ([`in_part`]).
    pub part: Option<(usize, usize)>,
    /// Longest side of the JPEG renditions that stand in for originals browsers cannot show
    /// (HEIC); `None`: full size.
    pub original_max: Option<u32>,
    /// Write compressed copies of the files browsers fetch (precompress.rs).
    pub precompress: bool,
    /// The site's title, description, address and accent given as flags (over `chromatica.toml`).
    pub site: SiteInfo,
    /// A sidecar of titles, captions, links and tags (metadata.rs).
    pub metadata: Option<PathBuf>,
}

/// Whether the image at `rel` belongs to part `i` of `n` (1-based): by a hash of its path, the
/// same on every machine.
pub fn in_part(rel: &str, (i, n): (usize, usize)) -> bool {
    xxhash_rust::xxh3::xxh3_64(rel.as_bytes()) % n as u64 == (i - 1) as u64
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
    /// The index: its head, its shards, and all its files (head, shards, pages) in bytes as stored.
    pub head_bytes: usize,
    pub shards: usize,
    pub index_bytes: u64,
    pub bytes_per_image: f64,
    /// The site's `--background` mode, and how many images were histogrammed without theirs.
    pub background: BackgroundMode,
    pub backgrounds_removed: usize,
    /// What was wrong with the `--metadata` file (lines skipped, unknown paths, links dropped).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metadata_warnings: Vec<String>,
    pub timings_ms: Timings,
    /// Peak resident memory of the build process, in bytes (0 where the OS does not say).
    pub peak_memory_bytes: u64,
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

/// One input file's outcome; its thumbnail (and original) are in the site's staging folder, or
/// kept from the previous build.
struct Processed {
    rel: String,
    entry: Entry,
    ext: String,
    decoded: bool,
}

/// Why a file is not in the index: a reason to skip it (the build goes on), or a failure of the
/// build itself (cannot write the site).
enum Failure {
    Skip(Skipped),
    Fatal(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Fatal(e)
    }
}

/// What `process` needs besides the file.
struct Job<'a> {
    site: &'a SiteWriter,
    budget: &'a MemoryBudget,
    thumb_size: u32,
    originals: bool,
    original_max: Option<u32>,
    background: BackgroundMode,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

pub fn build(opts: &BuildOptions) -> Result<Summary> {
    let start = Instant::now();
    let images = fs::canonicalize(&opts.images).with_context(|| format!("cannot open the images folder {}", opts.images.display()))?;
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
    let info = SiteInfo::for_build(&images, opts.site.clone())?;
    let sidecar = opts.metadata.as_deref().map(Sidecar::read).transpose()?;
    let site = SiteWriter::open(&out, opts.force)?;

    let (mut files, mut skipped) = scan(&images, opts.follow_symlinks);
    if let Some(part) = opts.part {
        files.retain(|(rel, _)| in_part(rel, part));
        skipped.retain(|s| in_part(&s.path, part));
    }
    if files.is_empty() && skipped.is_empty() {
        bail!("no images found in {} (looked for {})", images.display(), IMAGE_EXTENSIONS.join(", "));
    }
    let scan_ms = ms(start);

    let cache = Cache::load(&out);
    let bar = progress_bar(opts.progress, files.len());
    let t_decode = Instant::now();
    let budget = MemoryBudget::new(opts.max_memory);
    let cx = Job {
        site: &site,
        budget: &budget,
        thumb_size: opts.thumb_size,
        originals: opts.originals,
        original_max: opts.original_max,
        background: opts.background,
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.jobs.max(1)).build()?;
    let outcomes: Vec<Result<Processed, Failure>> = pool.install(|| {
        files
            .par_iter()
            .map(|(rel, path)| {
                let r = process(rel, path, cache.entries.get(rel), &cx);
                bar.inc(1);
                if let Err(Failure::Skip(s)) = &r {
                    bar.suspend(|| eprintln!("warning: skipped {}: {}", terminal::safe(&s.path), terminal::safe(&s.reason)));
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
            Err(Failure::Skip(s)) => skipped.push(s),
            Err(Failure::Fatal(e)) => return Err(e),
        }
    }
    if processed.is_empty() {
        bail!("none of the {} files in {} could be indexed (see the warnings above)", skipped.len(), images.display());
    }

    let t_index = Instant::now();
    let (vectors, stored): (Vec<AnnVector>, Vec<StoredHistogram>) = processed
        .par_iter()
        .map(|p| {
            let stored =
                StoredHistogram::of(&Histogram::from_sparse(SparseHistogram { bins: p.entry.bins.clone(), mass: p.entry.mass.clone() }.view()));
            (vector_of(&stored), stored)
        })
        .unzip();
    let metas: Vec<ImageMeta> = processed
        .iter()
        .map(|p| ImageMeta {
            path: p.rel.clone(),
            stem: stem(p.entry.hash),
            ext: if opts.originals { p.ext.clone() } else { String::new() },
            width: p.entry.width,
            height: p.entry.height,
            background_removed: p.entry.background_removed,
        })
        .collect();
    let palettes: Vec<_> = processed.iter().map(|p| bundle::stored_palette(&p.entry.palette)).collect();
    let params = Params::new(opts.rerank_k, opts.background);
    let (mut texts, metadata_warnings) = match sidecar {
        Some(sidecar) => sidecar.texts_for(&metas.iter().map(|m| m.path.as_str()).collect::<Vec<_>>()),
        None => (Vec::new(), Vec::new()),
    };
    // What the files say about themselves (XMP, EXIF), where the sidecar says nothing.
    if processed.iter().any(|p| p.entry.embedded != Default::default()) {
        texts.resize(processed.len(), Default::default());
        for (text, p) in texts.iter_mut().zip(&processed) {
            let own = &p.entry.embedded;
            for (field, value) in [(&mut text.title, &own.title), (&mut text.caption, &own.caption), (&mut text.date, &own.date)] {
                if field.is_empty() {
                    field.clone_from(value);
                }
            }
            if text.tags.is_empty() {
                text.tags.clone_from(&own.tags);
            }
            if !own.camera.is_empty() && !text.extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("camera")) && text.extra.len() < bundle::MAX_EXTRA {
                text.extra.push(("camera".into(), own.camera.clone()));
            }
        }
    }
    let index = pool.install(|| site_index::build_for(&out, &params, &metas, &stored, &palettes, &texts, &vectors));
    let index_ms = ms(t_index);

    let t_write = Instant::now();
    let sizes = site::finish(site, &index, &params, &metas, &images, &site::Publish { part: opts.part, precompress: opts.precompress, info: &info })?;
    let entries: BTreeMap<String, Entry> = processed.iter().map(|p| (p.rel.clone(), p.entry.clone())).collect();
    Cache::new(entries).save(&out);
    let write_ms = ms(t_write);

    let n = processed.len();
    Ok(Summary {
        indexed: n,
        decoded: processed.iter().filter(|p| p.decoded).count(),
        reused: processed.iter().filter(|p| !p.decoded).count(),
        skipped,
        head_bytes: sizes.head_bytes,
        shards: index.shards,
        index_bytes: sizes.index_bytes,
        bytes_per_image: sizes.index_bytes as f64 / n as f64,
        background: opts.background,
        backgrounds_removed: metas.iter().filter(|m| m.background_removed).count(),
        metadata_warnings,
        timings_ms: Timings { scan: scan_ms, decode: decode_ms, index: index_ms, write: write_ms, total: ms(start) },
        peak_memory_bytes: peak_memory_bytes(),
        out: out.display().to_string(),
    })
}

/// An image's ANN vector, from its histogram as the index stores it: so the vector is a function of
/// what a site holds, and `merge` (which has only that) lays out shards exactly as `build` does.
pub fn vector_of(stored: &StoredHistogram) -> AnnVector {
    AnnVector::from_histogram(&Histogram::from_sparse(stored.view()))
}

/// The process's peak resident set size (Linux and other Unixes: `getrusage`).
fn peak_memory_bytes() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY: getrusage fills the zeroed struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } == 0 {
            let kib = if cfg!(target_os = "macos") { 1 } else { 1024 };
            return usage.ru_maxrss as u64 * kib;
        }
    }
    0
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
/// that could not be read (symlink loops, permissions) or that symlinks lead out of `root` to
/// (unless `follow_symlinks`: a link to a private folder must not publish it by accident).
fn scan(root: &Path, follow_symlinks: bool) -> (Vec<(String, PathBuf)>, Vec<Skipped>) {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut walk = walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name().into_iter();
    while let Some(entry) = walk.next() {
        match entry {
            Ok(e) => {
                let is_image = e.file_type().is_file() && IMAGE_EXTENSIONS.contains(&extension(e.path()).as_str());
                if !is_image && !e.file_type().is_dir() {
                    continue;
                }
                if e.path_is_symlink() && !follow_symlinks && !fs::canonicalize(e.path()).is_ok_and(|t| t.starts_with(root)) {
                    if e.file_type().is_dir() {
                        walk.skip_current_dir();
                    }
                    let reason = "a symlink that leads out of the images folder (pass --follow-symlinks to index it)".to_string();
                    skipped.push(Skipped { path: relative_name(root, e.path()), reason });
                    continue;
                }
                if is_image {
                    files.push((relative_name(root, e.path()), e.path().to_path_buf()));
                }
            }
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
    if ext.len() <= 8 && ext.bytes().all(|c| c.is_ascii_alphanumeric()) {
        ext
    } else {
        String::new()
    }
}

fn stem(hash: u64) -> String {
    format!("{hash:016x}")
}

/// When the file last changed, as far as the cache is concerned: the later of its modification
/// and (on Unix) status-change times. Tools that edit metadata in place and keep the modification
/// time (exiftool -P) still change the status time, so such a file is read and hashed again.
fn mtime_ns(meta: &fs::Metadata) -> i128 {
    let modified = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos() as i128).unwrap_or(-1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        modified.max(meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128)
    }
    #[cfg(not(unix))]
    modified
}

/// Indexes one file: reuses the cached entry when size + mtime (or else the content hash) match,
/// it was computed under the same `--background` mode, and the previous build's thumbnail is still
/// there; otherwise probes the header, reserves the
/// memory decoding will need, reads, decodes, and stages the thumbnail (and original). The file is
/// read once: what is hashed, decoded and published as the original are the same bytes, and a file
/// that changes or vanishes meanwhile is skipped with a reason.
fn process(rel: &str, path: &Path, cached: Option<&Entry>, cx: &Job) -> Result<Processed, Failure> {
    let skip = |reason: String| Failure::Skip(Skipped { path: rel.to_string(), reason });
    let gone = |e: std::io::Error| skip(format!("cannot read it (it may have been moved or deleted during the build): {e}"));
    // The original's extension in the site: a JPEG rendition for formats browsers cannot show.
    let rendition = RENDITION_EXTENSIONS.contains(&extension(path).as_str());
    let ext = if rendition { "jpg".to_string() } else { extension(path) };
    let meta = fs::metadata(path).map_err(gone)?;
    let (size, mtime) = (meta.len(), mtime_ns(&meta));
    let thumb_of = |e: &Entry| bundle::thumb_path(&stem(e.hash));
    let original_of = |e: &Entry| bundle::original_path(&stem(e.hash), &ext);
    let reusable = |e: &Entry| e.thumb_size == cx.thumb_size && e.background == cx.background && cx.site.has_own(&thumb_of(e));
    let reuse = |entry: Entry, bytes: Option<&[u8]>| -> Result<Processed, Failure> {
        if cx.originals && !ext.is_empty() && !cx.site.has_own(&original_of(&entry)) {
            match bytes {
                Some(bytes) => cx.site.write_once(&original_of(&entry), bytes)?,
                None => {
                    // Read within the memory budget, like a file being decoded.
                    let _reservation = cx.budget.reserve(size).map_err(|total| {
                        skip(format!("the file is too large ({}; the memory budget is {}, see --max-memory)", megabytes(size), megabytes(total)))
                    })?;
                    let bytes = read_unchanged(path, size, mtime).map_err(&skip)?;
                    cx.site.write_once(&original_of(&entry), &bytes)?;
                }
            }
        }
        Ok(Processed { rel: rel.into(), entry, ext: ext.clone(), decoded: false })
    };
    // A rendition that is missing, or of another size than --original-max now asks for, must be
    // made again from the pixels: no reuse then.
    let has_rendition = |e: &Entry| {
        if !rendition || !cx.originals {
            return true;
        }
        let want = e.width.max(e.height).min(cx.original_max.unwrap_or(u32::MAX));
        cx.site.has_own(&original_of(e)) && image::image_dimensions(cx.site.existing(&original_of(e))).is_ok_and(|(w, h)| w.max(h) == want)
    };
    if let Some(e) = cached.filter(|e| e.size == size && e.mtime_ns == mtime && reusable(e) && has_rendition(e)) {
        return reuse(e.clone(), None);
    }
    if size > cx.budget.total() {
        return Err(skip(format!(
            "the file is too large ({}; the memory budget is {}, see --max-memory)",
            megabytes(size),
            megabytes(cx.budget.total())
        )));
    }
    let mut head = Vec::with_capacity(PROBE_BYTES.min(size as usize));
    fs::File::open(path).and_then(|f| f.take(PROBE_BYTES as u64).read_to_end(&mut head)).map_err(gone)?;
    let need = match probe(&head, size, MAX_SIDE.max(cx.thumb_size)).map_err(&skip)? {
        Cost::Known { width, height, bytes } if bytes > cx.budget.total() => {
            return Err(skip(format!(
                "the image is too large to decode within the memory budget ({width}x{height} needs about {}; the budget is {}, see --max-memory)",
                megabytes(bytes),
                megabytes(cx.budget.total())
            )))
        }
        Cost::Known { bytes, .. } => bytes,
        Cost::Unknown => cx.budget.total(),
    };
    let _reservation = cx.budget.reserve(need).map_err(|total| skip(format!("needs more memory than the budget ({})", megabytes(total))))?;
    let bytes = read_unchanged(path, size, mtime).map_err(&skip)?;
    let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
    if let Some(e) = cached.filter(|e| e.hash == hash && reusable(e) && has_rendition(e)) {
        return reuse(Entry { size, mtime_ns: mtime, ..e.clone() }, Some(&bytes));
    }
    let keep_full = rendition && cx.originals && !cx.site.has_own(&bundle::original_path(&stem(hash), &ext));
    let decoded = decode_keeping(&bytes, MAX_SIDE.max(cx.thumb_size), need.saturating_sub(size), keep_full).map_err(&skip)?;
    // With `--background ignore`, the histogram (and so the palette) may leave out a plain
    // background; the thumbnail is the image as it is.
    let made = image_histogram(&decoded.pixels, cx.background).map_err(|e| skip(e.to_string()))?;
    let histogram = made.histogram;
    let thumb_pixels = if cx.thumb_size == MAX_SIDE { made.small } else { chromatica_core::resize::downscale_to_fit(&decoded.pixels, cx.thumb_size) };
    let thumb = encode_thumbnail(&thumb_pixels, 82).map_err(&skip)?;
    let sparse = histogram.to_sparse();
    let entry = Entry {
        size,
        mtime_ns: mtime,
        hash,
        width: decoded.width,
        height: decoded.height,
        thumb_size: cx.thumb_size,
        background: cx.background,
        background_removed: made.background_removed,
        palette: dominant_colors(&histogram, bundle::PALETTE_SIZE),
        bins: sparse.bins,
        mass: sparse.mass,
        embedded: index_builder::embedded::read(&bytes),
    };
    cx.site.write_once(&thumb_of(&entry), &thumb)?;
    if cx.originals && !ext.is_empty() && !cx.site.has_own(&original_of(&entry)) {
        match &decoded.full {
            Some(full) => {
                let scaled =
                    cx.original_max.filter(|&max| max < full.width.max(full.height)).map(|max| chromatica_core::resize::downscale_to_fit(full, max));
                let jpeg = encode_thumbnail(scaled.as_ref().unwrap_or(full), RENDITION_QUALITY).map_err(&skip)?;
                cx.site.write_once(&original_of(&entry), &jpeg)?;
            }
            None => cx.site.write_once(&original_of(&entry), &bytes)?,
        }
    }
    Ok(Processed { rel: rel.into(), entry, ext, decoded: true })
}

/// The whole file, if it still has the size and mtime it had when the build looked at it.
fn read_unchanged(path: &Path, size: u64, mtime: i128) -> Result<Vec<u8>, String> {
    let gone = |e: std::io::Error| format!("cannot read it (it may have been moved or deleted during the build): {e}");
    let mut bytes = Vec::with_capacity(size as usize);
    let mut file = fs::File::open(path).map_err(gone)?;
    file.by_ref().take(size + 1).read_to_end(&mut bytes).map_err(gone)?;
    let after = file.metadata().map_err(gone)?;
    if bytes.len() as u64 != size || after.len() != size || mtime_ns(&after) != mtime {
        return Err("the file changed while the build was reading it; build again to index it".into());
    }
    Ok(bytes)
}

/// `path` made absolute without requiring it to exist (its parent must).
fn absolute(path: &Path) -> Result<PathBuf> {
    let path = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir()?.join(path) };
    let name = path.file_name().context("the output path has no folder name")?.to_owned();
    let parent = path.parent().context("the output path has no parent folder")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    Ok(fs::canonicalize(parent)?.join(name))
}

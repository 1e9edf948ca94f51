//! The site folder: what a build writes into `--out` (the embedded app, the index, thumbnails,
//! originals, the manifest), and the rule that keeps users' files safe there: a build replaces only
//! files that its own manifest says an earlier build wrote, and adds the rest beside them.

use crate::site_info::SiteInfo;
use crate::{precompress, prerender, preview, site_index};
use anyhow::{bail, Context, Result};
use base64::Engine as _;
use chromatica_core::bundle::{self, Head, ImageMeta, Params, FORMAT_VERSION};
use chromatica_core::page;
use chromatica_core::search::{self, Engine, SearchRequest};
use chromatica_core::shard::EncodedIndex;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/app_assets.rs"));

/// The single index file of sites before format 3, and its script (removed when such a site is rebuilt).
const BUNDLE_FILE: &str = bundle::LEGACY_BUNDLE_FILE;
const BUNDLE_SCRIPT: &str = "bundle.js";
/// The wasm as a classic script, for the same reason.
pub const WASM_SCRIPT: &str = "chromatica_wasm.js";
/// The site's own manifest: our marker, what was indexed, and every file the build wrote.
pub const MANIFEST_FILE: &str = "chromatica.json";
pub const THUMBS_SCRIPT: &str = "thumbs.js";
const WASM_FILE: &str = "chromatica_bg.wasm";
const INDEX_HTML: &str = "index.html";
/// Set to write sites with an embedded app that is older than the web sources.
const ALLOW_STALE_APP: &str = "CHROMATICA_ALLOW_STALE_APP";

#[derive(Serialize)]
pub struct Manifest {
    /// [`SITE_MARKER`] and [`SITE_VERSION`]: this folder is a site chromatica wrote.
    pub format: &'static str,
    pub site_version: u32,
    /// The index's format version.
    pub format_version: u32,
    pub generator: String,
    pub image_count: usize,
    /// The index: its head's size, its shards, and all its files' bytes (head, shards, pages), as
    /// stored (compressed).
    pub head_bytes: usize,
    pub shards: usize,
    pub index_bytes: u64,
    pub params: Params,
    pub images_root: String,
    /// `[I, N]` for part I of N of a build (`build --part`), which `merge` checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<[usize; 2]>,
    /// The site's title, description, address and accent, as the build was given them.
    #[serde(skip_serializing_if = "SiteInfo::is_empty")]
    pub site: SiteInfo,
    /// Every file of the site that chromatica wrote (and may replace or remove on the next build),
    /// site-relative; nothing else in the folder is ever touched.
    pub files: Vec<String>,
    pub images: Vec<ManifestImage>,
}

#[derive(Serialize)]
pub struct ManifestImage {
    pub path: String,
    pub thumb: String,
    pub original: String,
    pub width: u32,
    pub height: u32,
    /// Histogrammed without its plain background (`--background ignore`).
    pub background_removed: bool,
}

impl Manifest {
    pub fn new(params: &Params, images: &[ImageMeta], index: &EncodedIndex, sizes: &IndexSizes, root: &Path) -> Self {
        Self {
            format: SITE_MARKER,
            site_version: SITE_VERSION,
            format_version: FORMAT_VERSION,
            generator: format!("chromatica {}", env!("CARGO_PKG_VERSION")),
            image_count: images.len(),
            head_bytes: sizes.head_bytes,
            shards: index.shards,
            index_bytes: sizes.index_bytes,
            params: params.clone(),
            images_root: root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            part: None,
            site: SiteInfo::default(),
            files: Vec::new(),
            images: images
                .iter()
                .map(|m| ManifestImage {
                    path: m.path.clone(),
                    thumb: m.thumb_url(),
                    original: m.original_url(),
                    width: m.width,
                    height: m.height,
                    background_removed: m.background_removed,
                })
                .collect(),
        }
    }
}

/// Refuses to write a site without the web app, or with one older than its sources.
fn check_app() -> Result<()> {
    if !app_is_embedded() {
        bail!("this chromatica binary was built without the web app; run `bash scripts/build-web.sh` and rebuild it");
    }
    if !APP_STALE_SOURCE.is_empty() && std::env::var_os(ALLOW_STALE_APP).is_none() {
        bail!(
            "this chromatica binary embeds a web app older than {APP_STALE_SOURCE}: run `bash scripts/build-web.sh` and rebuild it \
             (or set {ALLOW_STALE_APP}=1 to write the old app anyway)"
        );
    }
    Ok(())
}

/// Whether the web app was embedded at compile time.
pub fn app_is_embedded() -> bool {
    APP_FILES.iter().any(|(name, _)| *name == INDEX_HTML) && APP_FILES.iter().any(|(name, _)| *name == WASM_FILE)
}

fn js_base64_script(global: &str, bytes: &[u8]) -> String {
    format!("window.{global}_BASE64=\"{}\";\n", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The bytes of an index's files as a site stores them (compressed: what a host sends).
#[derive(Clone, Copy, Debug, Default)]
pub struct IndexSizes {
    pub head_bytes: usize,
    pub index_bytes: u64,
}

/// Whether the file at `path` starts with `magic`.
fn starts_with(path: &Path, magic: &[u8]) -> bool {
    use std::io::Read;
    let mut start = vec![0; magic.len()];
    fs::File::open(path).and_then(|mut f| f.read_exact(&mut start)).is_ok() && start == magic
}

/// An index file as a classic script for `file://` pages: it files its bytes (base64) under its
/// path in `self.CHROMATICA_FILES`, where the loader (backend.rs) takes them from.
fn index_script(rel: &str, bytes: &[u8]) -> String {
    format!("(self.CHROMATICA_FILES=self.CHROMATICA_FILES||{{}})[\"{rel}\"]=\"{}\";\n", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Our own manifest's marker and version: only a folder whose `chromatica.json` carries both is
/// taken for a site we wrote (any other `manifest.json` is somebody else's).
pub const SITE_MARKER: &str = "chromatica-site";
pub const SITE_VERSION: u32 = 2;
/// Sites written before the manifest listed its files (site version 1): `manifest.json` with a
/// `generator` of "chromatica …". Everything they could contain is listed here.
const LEGACY_MANIFEST: &str = "manifest.json";
const LEGACY_FILES: &[&str] = &[LEGACY_MANIFEST, ".chromatica-cache", BUNDLE_FILE, BUNDLE_SCRIPT, WASM_SCRIPT, THUMBS_SCRIPT];
const LEGACY_DIRS: &[&str] = &["thumbs", "originals", "threads"];
/// Folders a build writes into: each must be a real folder (never a symlink).
const OWN_DIRS: &[&str] = &["thumbs", "originals", "threads", "index"];
/// The folder inside the site where a build writes its new files before moving them into place,
/// and the file inside it that proves it is ours (a user's folder of that name is never removed).
const STAGING_DIR: &str = ".chromatica-staging";
const STAGING_MARKER: &str = ".chromatica-staging-marker";
const STAGING_MARKER_TEXT: &str = "A chromatica build writes here; the next build removes or completes it.\n";
/// Inside the staging folder once every file is written: the moves that make it the site. A build
/// that finds it finishes those moves before anything else (a kill during the moves is completed).
const COMMIT_JOURNAL: &str = ".commit";

/// What `--out` holds before a build: who owns what.
#[derive(Debug, PartialEq)]
pub enum Existing {
    /// Missing or empty.
    Empty,
    /// A site we wrote; the site-relative paths of the files we own in it.
    Ours(Vec<String>),
    /// Anything else: never touched unless `--force`, and then only added to.
    Foreign,
}

/// Reads `out`'s manifest (our marker, or a legacy one) to learn which files a build may replace.
pub fn existing(out: &Path) -> Result<Existing> {
    if !out.exists() {
        return Ok(Existing::Empty);
    }
    if !out.is_dir() {
        bail!("{} exists and is not a folder", out.display());
    }
    if let Ok(bytes) = fs::read(out.join(MANIFEST_FILE)) {
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if value["format"] == SITE_MARKER {
            if value["site_version"].as_u64() != Some(SITE_VERSION as u64) {
                bail!("{} was written by another version of chromatica (site version {}); this one writes version {SITE_VERSION}: build into a new folder", out.display(), value["site_version"]);
            }
            let files =
                value["files"].as_array().map(|a| a.iter().filter_map(|f| f.as_str()).filter(|f| is_safe_relative(f)).map(String::from).collect());
            return Ok(Existing::Ours(files.unwrap_or_default()));
        }
    }
    if let Ok(bytes) = fs::read(out.join(LEGACY_MANIFEST)) {
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if value["generator"].as_str().is_some_and(|g| g.starts_with("chromatica ")) && value["format_version"].is_u64() {
            return Ok(Existing::Ours(legacy_files(out)));
        }
    }
    let empty = fs::read_dir(out)?.flatten().all(|e| e.file_name() == STAGING_DIR);
    Ok(if empty { Existing::Empty } else { Existing::Foreign })
}

/// A version-1 site's files: the fixed names, the app's files, and whatever is in its own folders.
fn legacy_files(out: &Path) -> Vec<String> {
    let mut files: Vec<String> = LEGACY_FILES.iter().chain(APP_FILES.iter().map(|(name, _)| name)).map(|s| s.to_string()).collect();
    for dir in LEGACY_DIRS.iter().filter(|d| fs::symlink_metadata(out.join(d)).is_ok_and(|m| m.is_dir())) {
        for e in fs::read_dir(out.join(dir)).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                files.push(format!("{dir}/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    files.retain(|f| out.join(f).is_file());
    files
}

/// `a/b.c`: no root, no `..`, no empty parts; what a manifest may name.
fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
        && !path.contains(|c: char| c == '\\' || c.is_control())
}

/// A build writing into `--out`. The folder is locked for the build (a second build fails at once);
/// new files go to a staging folder inside it; [`SiteWriter::commit`] moves them into place and
/// removes the files the previous build wrote that this one did not. No other file in `--out` is
/// ever written or removed: `.git`, `CNAME`, extra pages stay.
///
/// Consistency: files named by content hash (thumbnails, originals) are moved in first, then the
/// few fixed-name files (app, index head), the manifest last; each move is an atomic rename, so a reader
/// sees old or new versions of each file, and the previous site stays complete until the moves
/// start. A build killed during the moves (a window of milliseconds) leaves a journal that the next
/// build completes before anything else. Dropped without commit, the staging folder is removed.
pub struct SiteWriter {
    out: PathBuf,
    staging: PathBuf,
    owned_before: BTreeSet<String>,
    _lock: fs::File,
    committed: bool,
}

impl SiteWriter {
    /// Opens `out` for a build: refuses a folder that is not provably ours unless `force`, takes
    /// the lock, finishes or removes what a killed build left, and creates a fresh staging folder.
    pub fn open(out: &Path, force: bool) -> Result<Self> {
        let staging = out.join(STAGING_DIR);
        // An existing folder is locked first, and a build killed during its moves is completed
        // before the folder is judged (its manifest may be among the moves still to do).
        let early_lock = if out.is_dir() { Some(lock(out)?) } else { None };
        if staging.join(STAGING_MARKER).is_file() && staging.join(COMMIT_JOURNAL).is_file() {
            finish_moves(&staging, out).context("cannot complete the moves of an interrupted build")?;
            fs::remove_dir_all(&staging).with_context(|| format!("cannot remove {}", staging.display()))?;
        }
        let found = existing(out)?;
        if found == Existing::Foreign && !force {
            bail!(
                "{} is not empty and is not a Chromatica site (no chromatica.json of ours); refusing to write into it. \
                 Choose an empty or new folder, or pass --force to add the site's files beside the ones there (none of them is removed or overwritten)",
                out.display()
            );
        }
        // Our folders must be real folders: through a symlink, a build would write (and remove
        // files) elsewhere.
        for dir in OWN_DIRS {
            if fs::symlink_metadata(out.join(dir)).is_ok_and(|m| !m.is_dir()) {
                bail!("{} is not a folder (a symlink or a file); chromatica writes its own folder there: move it away", out.join(dir).display());
            }
        }
        fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let lock = match early_lock {
            Some(lock) => lock,
            None => lock(out)?,
        };
        if staging.join(STAGING_MARKER).is_file() {
            fs::remove_dir_all(&staging).with_context(|| format!("cannot remove {}", staging.display()))?;
        } else if staging.exists() {
            bail!("{} exists but was not made by chromatica; move it away", staging.display());
        }
        // Re-read: finishing an interrupted build may have written a new manifest.
        let owned_before = match existing(out)? {
            Existing::Ours(files) => files.into_iter().collect(),
            _ => BTreeSet::new(),
        };
        fs::create_dir(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
        fs::write(staging.join(STAGING_MARKER), STAGING_MARKER_TEXT)?;
        Ok(Self { out: out.to_path_buf(), staging, owned_before, _lock: lock, committed: false })
    }

    /// Whether the previous build wrote `rel` and it is still there (so it can be kept as it is).
    pub fn has_own(&self, rel: &str) -> bool {
        self.owned_before.contains(rel) && !traverses_symlink(&self.out, rel) && fs::symlink_metadata(self.out.join(rel)).is_ok_and(|m| m.is_file())
    }

    /// Where `rel` of the previous build is (check [`SiteWriter::has_own`] first).
    pub fn existing(&self, rel: &str) -> PathBuf {
        self.out.join(rel)
    }

    /// Where to write `rel` (site-relative, `/`-separated) for this build; its folder exists.
    pub fn staged(&self, rel: &str) -> Result<PathBuf> {
        let path = self.staging.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        Ok(path)
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = self.staged(rel)?;
        fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Writes `rel` unless this build already wrote it (same name, same content: names are hashes).
    pub fn write_once(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let path = self.staged(rel)?;
        match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => file.write_all(bytes).with_context(|| format!("cannot write {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
        }
    }

    /// The embedded app, with `index_html` (the app's `index.html` made for this site, see
    /// [`index_html`]) as its page.
    pub fn write_app(&self, index_html: &str) -> Result<()> {
        check_app()?;
        for (name, bytes) in APP_FILES {
            if *name == INDEX_HTML {
                self.write(name, index_html.as_bytes())?;
                continue;
            }
            self.write(name, bytes)?;
            if *name == WASM_FILE {
                self.write(WASM_SCRIPT, js_base64_script("CHROMATICA_WASM", bytes).as_bytes())?;
                // The twin boot.js and embed.js fetch: a third of the bytes from any host.
                self.write(&format!("{WASM_FILE}.gz"), &precompress::gzip(bytes, precompress::GZIP_LEVEL))?;
            }
        }
        Ok(())
    }

    /// The index: the head, and every chunk this build does not find from the previous one (chunk
    /// names are content hashes: a chunk the previous build wrote is these very bytes). Each
    /// file also as a classic script for `file://` pages. Returns the chunk files kept as they are,
    /// and the sizes of the index's files as stored.
    pub fn write_index(&self, index: &EncodedIndex) -> Result<(Vec<String>, IndexSizes)> {
        use rayon::prelude::*;
        let head = site_index::store(&index.head);
        self.write(bundle::HEAD_FILE, &head)?;
        self.write(bundle::HEAD_SCRIPT, index_script(bundle::HEAD_FILE, &head).as_bytes())?;
        let written: Vec<(Vec<String>, u64)> = index
            .chunks
            .par_iter()
            .map(|(chunk, bytes)| -> Result<(Vec<String>, u64)> {
                let (rel, script) = (chunk.path(), chunk.script_path());
                // Kept when the previous build stored it as this version does (compressed).
                let old = self.existing(&rel);
                if self.has_own(&rel) && self.has_own(&script) && starts_with(&old, &bundle::GZIP_MAGIC) {
                    return Ok((vec![rel, script], fs::metadata(&old)?.len()));
                }
                let stored = site_index::store(bytes);
                self.write_once(&rel, &stored)?;
                self.write_once(&script, index_script(&rel, &stored).as_bytes())?;
                Ok((Vec::new(), stored.len() as u64))
            })
            .collect::<Result<_>>()?;
        let sizes = IndexSizes { head_bytes: head.len(), index_bytes: head.len() as u64 + written.iter().map(|(_, n)| n).sum::<u64>() };
        Ok((written.into_iter().flat_map(|(kept, _)| kept).collect(), sizes))
    }

    /// Thumbnails as data URLs in a classic script: on `file://`, images from files taint a canvas,
    /// so the collage draws these instead and can still be exported as PNG.
    pub fn write_thumbs_script(&self, thumbs: &[String]) -> Result<()> {
        let mut map = serde_json::Map::new();
        for thumb in thumbs {
            let staged = self.staging.join(thumb);
            let bytes = fs::read(if staged.is_file() { staged } else { self.out.join(thumb) })?;
            let url = format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes));
            map.insert(thumb.clone(), serde_json::Value::String(url));
        }
        self.write(THUMBS_SCRIPT, format!("window.CHROMATICA_THUMBS={};\n", serde_json::Value::Object(map)).as_bytes())
    }

    /// Compressed copies (precompress.rs) of the files of the site that browsers fetch over HTTP,
    /// made in parallel: of every such file this build wrote, and of the index files it keeps from
    /// the previous build, whose copies are kept too when that build made them (adding them to
    /// `kept`).
    pub fn write_compressed_copies(&self, kept: &mut BTreeSet<String>) -> Result<()> {
        use rayon::prelude::*;
        let mut jobs: Vec<(String, PathBuf)> =
            staged_files(&self.staging)?.into_iter().filter(|f| precompress::wants_copies(f)).map(|f| (f.clone(), self.staging.join(&f))).collect();
        let mut kept_copies = Vec::new();
        for rel in kept.iter().filter(|f| precompress::wants_copies(f)) {
            let copies: Vec<String> =
                precompress::ENCODINGS.iter().map(|(suffix, _)| format!("{rel}.{suffix}")).filter(|c| self.has_own(c)).collect();
            if copies.is_empty() {
                jobs.push((rel.clone(), self.out.join(rel)));
            }
            kept_copies.extend(copies);
        }
        kept.extend(kept_copies);
        jobs.par_iter().try_for_each(|(rel, path)| -> Result<()> {
            let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            // A file the previous build wrote with these very bytes (the app, mostly) keeps its
            // copies: compressing the wasm anew would take seconds of every build.
            let previous: Vec<String> =
                precompress::ENCODINGS.iter().map(|(suffix, _)| format!("{rel}.{suffix}")).filter(|c| self.has_own(c)).collect();
            if !previous.is_empty() && self.has_own(rel) && fs::read(self.existing(rel)).is_ok_and(|old| old == bytes) {
                for copy in previous {
                    fs::copy(self.existing(&copy), self.staged(&copy)?).with_context(|| format!("cannot copy {copy}"))?;
                }
                return Ok(());
            }
            // A copy staged already (the wasm's gzip twin, written with the app) is not made again.
            let staged = |suffix: &str| self.staging.join(format!("{rel}.{suffix}")).is_file();
            for (suffix, copy) in precompress::copies(&bytes, |suffix| !staged(suffix)) {
                self.write(&format!("{rel}.{suffix}"), &copy)?;
            }
            Ok(())
        })
    }

    /// Moves this build's files into place (see the type's doc), keeping `kept` (files of the
    /// previous build that are still wanted as they are), and writes `manifest` listing all of them.
    /// Refuses, changing nothing, if a new file would replace a file that is not ours.
    pub fn commit(mut self, manifest: &mut Manifest, kept: &BTreeSet<String>) -> Result<()> {
        let staged = staged_files(&self.staging)?;
        let manifest_name = MANIFEST_FILE.to_string();
        let clashes: Vec<&String> = staged
            .iter()
            .chain([&manifest_name])
            .filter(|f| !self.owned_before.contains(*f) && (self.out.join(f).symlink_metadata().is_ok() || traverses_symlink(&self.out, f)))
            .collect();
        if !clashes.is_empty() {
            let list: Vec<&str> = clashes.iter().take(5).map(|s| s.as_str()).collect();
            let copies = clashes.iter().any(|f| precompress::ENCODINGS.iter().any(|(suffix, _)| f.ends_with(&format!(".{suffix}"))));
            bail!(
                "{} already has files of its own where the site's files go ({}{}); nothing was changed. Move them away or build into another folder{}",
                self.out.display(),
                list.join(", "),
                if clashes.len() > 5 { ", …" } else { "" },
                if copies { " (or build with --no-precompress to keep your own compressed copies)" } else { "" }
            );
        }
        let mut files: BTreeSet<String> = staged.iter().cloned().collect();
        files.extend(kept.iter().filter(|f| self.has_own(f)).cloned());
        files.insert(MANIFEST_FILE.to_string());
        manifest.files = files.iter().cloned().collect();
        fs::write(self.staging.join(MANIFEST_FILE), serde_json::to_vec_pretty(&manifest)?)?;
        // Content-named files first (the old site stays complete), fixed names next, manifest last;
        // then the previous build's files that this one no longer has.
        let mut moves: Vec<&String> = staged.iter().filter(|f| is_content_named(f)).collect();
        moves.extend(staged.iter().filter(|f| !is_content_named(f)));
        let mut journal = String::new();
        for f in moves {
            journal.push_str(f);
            journal.push('\n');
        }
        journal.push_str(MANIFEST_FILE);
        journal.push('\n');
        for f in self.owned_before.iter().filter(|f| !files.contains(*f)) {
            journal.push('-');
            journal.push_str(f);
            journal.push('\n');
        }
        let journal_path = self.staging.join(COMMIT_JOURNAL);
        let tmp = self.staging.join(".commit.tmp");
        fs::write(&tmp, journal)?;
        fs::File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, &journal_path)?;
        finish_moves(&self.staging, &self.out)?;
        fs::remove_dir_all(&self.staging)?;
        self.committed = true;
        Ok(())
    }
}

/// Everything but the images' own files: the app, the index (decoded first, every file of it: an
/// index the page would refuse is never published), the offline thumbnail script, compressed
/// copies (if `precompress`) and the manifest; then commits. Thumbnails (and originals) must already be staged, or kept from the
/// previous build.
/// How a build publishes its site (besides its images and index).
pub struct Publish<'a> {
    /// `[I, N]` for part I of N of a build.
    pub part: Option<(usize, usize)>,
    /// Write compressed copies of the files browsers fetch (precompress.rs).
    pub precompress: bool,
    /// The site's title, description, address and accent (site_info.rs).
    pub info: &'a SiteInfo,
}

/// Writes the site and commits it; returns the sizes of its index's files as stored.
pub fn finish(
    site: SiteWriter,
    index: &EncodedIndex,
    params: &Params,
    images: &[ImageMeta],
    images_root: &Path,
    publish: &Publish,
) -> Result<IndexSizes> {
    check_app()?;
    let mut engine = verify(index).context("internal error: the new index does not decode; the previous site is unchanged")?;
    // The preview image: thumbnails evenly along the index's order (just staged, or kept).
    let picked: Vec<PathBuf> = preview::picks(index.order.len())
        .into_iter()
        .filter_map(|id| images.get(index.order[id] as usize))
        .map(|m| {
            let staged = site.staging.join(m.thumb_url());
            if staged.is_file() {
                staged
            } else {
                site.out.join(m.thumb_url())
            }
        })
        .collect();
    let preview = preview::make(&picked);
    if let Some(jpeg) = &preview {
        site.write(preview::PREVIEW_FILE, jpeg)?;
    }
    site.write_app(&index_html(&mut engine, images.len(), index.shards, publish.info, preview.is_some())?)?;
    let (kept, sizes) = site.write_index(index)?;
    let mut kept: BTreeSet<String> = kept.into_iter().collect();
    let mut thumbs: Vec<String> = images.iter().map(ImageMeta::thumb_url).collect();
    thumbs.sort();
    thumbs.dedup();
    site.write_thumbs_script(&thumbs)?;
    kept.extend(thumbs);
    kept.extend(images.iter().map(ImageMeta::original_url));
    if publish.precompress {
        site.write_compressed_copies(&mut kept)?;
    }
    let mut manifest = Manifest::new(params, images, index, &sizes, images_root);
    manifest.part = publish.part.map(|(i, n)| [i, n]);
    manifest.site = publish.info.clone();
    site.commit(&mut manifest, &kept)?;
    Ok(sizes)
}

/// Decodes every file of an index, as a visitor's engine would; returns the engine holding them all.
fn verify(index: &EncodedIndex) -> Result<Engine> {
    let files: std::collections::HashMap<u64, &[u8]> = index.chunks.iter().map(|(c, b)| (c.name, b.as_slice())).collect();
    let mut engine = Engine::new(Head::from_bytes(&index.head)?);
    engine
        .hold_everything(&mut |want| files.get(&want.chunk.name).map(|b| b.to_vec()).ok_or_else(|| format!("{} was not written", want.path())))
        .map_err(|reason| anyhow::anyhow!("{reason}"))?;
    Ok(engine)
}

/// The site's `index.html`: the app's, with the first screen pre-rendered (prerender.rs) from
/// `engine`'s answer to the page's default query.
fn index_html(engine: &mut Engine, images: usize, shards: usize, site: &SiteInfo, preview: bool) -> Result<String> {
    let template = APP_FILES.iter().find(|(name, _)| *name == INDEX_HTML).map(|(_, b)| String::from_utf8_lossy(b)).unwrap_or_default();
    let state = page::default_state()?;
    let request = SearchRequest { source: search::Source::of_state(&state), options: state.options.clone() };
    // Every file is held (verify), so the search asks for none; and no clock: the build's timings
    // mean nothing to a visitor.
    let response = engine.drive(|e| e.search(&request, &|| 0.0), &mut |want| Err(format!("{} is not held", want.path())))?;
    prerender::index_html(&template, &prerender::FirstScreen { state: &state, response: &response, images, shards, site, preview })
}

impl Drop for SiteWriter {
    fn drop(&mut self) {
        if !self.committed && self.staging.join(STAGING_MARKER).is_file() && !self.staging.join(COMMIT_JOURNAL).exists() {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Files named by their content (and their compressed copies): the index's chunks, thumbnails and
/// originals; not the head (`index/head.*`).
fn is_content_named(rel: &str) -> bool {
    rel.starts_with("thumbs/") || rel.starts_with("originals/") || (rel.starts_with("index/") && !rel.starts_with("index/head."))
}

/// Every file below the staging folder, site-relative, but our own bookkeeping.
fn staged_files(staging: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for e in walkdir::WalkDir::new(staging).min_depth(1).sort_by_file_name() {
        let e = e?;
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(staging)?.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            if rel != STAGING_MARKER && rel != COMMIT_JOURNAL && rel != ".commit.tmp" && rel != MANIFEST_FILE {
                files.push(rel);
            }
        }
    }
    Ok(files)
}

/// Carries out a commit journal: each line a staged file to move into place (done already if it
/// is no longer staged), or `-path` for a file of the previous build to remove; then removes the
/// folders of ours that this left empty.
fn finish_moves(staging: &Path, out: &Path) -> Result<()> {
    let journal = fs::read_to_string(staging.join(COMMIT_JOURNAL))?;
    let mut dirs = BTreeSet::new();
    for line in journal.lines() {
        let (remove, rel) = match line.strip_prefix('-') {
            Some(rel) => (true, rel),
            None => (false, line),
        };
        if !is_safe_relative(rel) {
            continue;
        }
        if traverses_symlink(out, rel) {
            // Never remove or write through a symlink: it leads out of the site.
            if remove {
                continue;
            }
            bail!("{} lies behind a symlink; move the link away and build again", out.join(rel).display());
        }
        let target = out.join(rel);
        if let Some(parent) = Path::new(rel).parent().filter(|p| !p.as_os_str().is_empty()) {
            dirs.insert(parent.to_path_buf());
        }
        if remove {
            match fs::remove_file(&target) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).with_context(|| format!("cannot remove {}", target.display())),
                _ => {}
            }
        } else {
            let from = staging.join(rel);
            if from.is_file() {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
                }
                fs::rename(&from, &target).with_context(|| format!("cannot move {} into place", target.display()))?;
            }
        }
    }
    // Deepest first; `remove_dir` only removes empty folders, so a user's file keeps its folder.
    for dir in dirs.iter().rev() {
        let _ = fs::remove_dir(out.join(dir));
    }
    Ok(())
}

/// Whether a folder on the way to `rel` (inside `out`) is a symlink (or not a folder at all).
fn traverses_symlink(out: &Path, rel: &str) -> bool {
    let mut path = out.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return true,
            Err(_) => return false,
        }
    }
    false
}

/// An exclusive `flock` on the site folder for the build's lifetime.
fn lock(out: &Path) -> Result<fs::File> {
    let dir = fs::File::open(out).with_context(|| format!("cannot open {}", out.display()))?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor; flock has no memory effects.
        if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            bail!("another chromatica build is writing to {} right now; wait for it to finish", out.display());
        }
    }
    Ok(dir)
}

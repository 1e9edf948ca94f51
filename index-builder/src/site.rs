//! The site folder: the embedded app, the bundle, and the atomic swap of a new build into place.

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use chromatica_core::bundle::{ImageMeta, Params, FORMAT_VERSION};
use serde::Serialize;
use std::fs;
use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/app_assets.rs"));

pub const BUNDLE_FILE: &str = "bundle.bin";
/// The bundle as a classic script, for `file://` pages where `fetch` is refused.
pub const BUNDLE_SCRIPT: &str = "bundle.js";
/// The wasm as a classic script, for the same reason.
pub const WASM_SCRIPT: &str = "chromatica_wasm.js";
pub const MANIFEST_FILE: &str = "manifest.json";
pub const THUMBS_SCRIPT: &str = "thumbs.js";
const WASM_FILE: &str = "chromatica_bg.wasm";

#[derive(Serialize)]
pub struct Manifest {
    pub format_version: u32,
    pub generator: String,
    pub image_count: usize,
    pub bundle_bytes: usize,
    pub params: Params,
    pub images_root: String,
    pub files: Vec<&'static str>,
    pub images: Vec<ManifestImage>,
}

#[derive(Serialize)]
pub struct ManifestImage {
    pub path: String,
    pub thumb: String,
    pub original: String,
    pub width: u32,
    pub height: u32,
}

impl Manifest {
    pub fn new(params: &Params, images: &[ImageMeta], bundle_bytes: usize, root: &Path) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            generator: format!("chromatica {}", env!("CARGO_PKG_VERSION")),
            image_count: images.len(),
            bundle_bytes,
            params: params.clone(),
            images_root: root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            files: vec![BUNDLE_FILE, BUNDLE_SCRIPT, WASM_SCRIPT, THUMBS_SCRIPT, MANIFEST_FILE, "index.html", "thumbs/", "originals/", "threads/"],
            images: images
                .iter()
                .map(|m| ManifestImage {
                    path: m.path.clone(),
                    thumb: m.thumb_url(),
                    original: m.original_url(),
                    width: m.width,
                    height: m.height,
                })
                .collect(),
        }
    }
}

/// Whether the web app was embedded at compile time.
pub fn app_is_embedded() -> bool {
    APP_FILES.iter().any(|(name, _)| *name == "index.html") && APP_FILES.iter().any(|(name, _)| *name == WASM_FILE)
}

pub fn write_app(dir: &Path) -> Result<()> {
    if !app_is_embedded() {
        bail!("this chromatica binary was built without the web app; run `bash scripts/build-web.sh` and rebuild it");
    }
    for (name, bytes) in APP_FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, bytes)?;
        if *name == WASM_FILE {
            fs::write(dir.join(WASM_SCRIPT), js_base64_script("CHROMATICA_WASM", bytes))?;
        }
    }
    Ok(())
}

/// Thumbnails as data URLs in a classic script: on `file://`, images from files taint a canvas,
/// so the collage draws these instead and can still be exported as PNG.
pub fn write_thumbs_script(dir: &Path, thumbs: &[String]) -> Result<()> {
    let mut map = serde_json::Map::new();
    for thumb in thumbs {
        let bytes = fs::read(dir.join(thumb))?;
        let url = format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes));
        map.insert(thumb.clone(), serde_json::Value::String(url));
    }
    fs::write(dir.join(THUMBS_SCRIPT), format!("window.CHROMATICA_THUMBS={};\n", serde_json::Value::Object(map)))?;
    Ok(())
}

pub fn write_bundle_script(dir: &Path, bundle: &[u8]) -> Result<()> {
    fs::write(dir.join(BUNDLE_SCRIPT), js_base64_script("CHROMATICA_BUNDLE", bundle))?;
    Ok(())
}

fn js_base64_script(global: &str, bytes: &[u8]) -> String {
    format!("window.{global}_BASE64=\"{}\";\n", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A site is only ever replaced by a build if it is one (or empty): never wipe someone's folder.
pub fn check_replaceable(out: &Path) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        bail!("{} exists and is not a folder", out.display());
    }
    let empty = fs::read_dir(out)?.next().is_none();
    if !empty && !out.join(MANIFEST_FILE).is_file() {
        bail!("{} is not empty and is not a Chromatica site; refusing to replace it", out.display());
    }
    Ok(())
}

/// A new site being written beside the old one (`.name.tmp-PID`); `commit` swaps it into place.
/// Dropped without commit (error, panic), it is removed; killed, it is left as a dot-folder and the
/// old site is untouched.
pub struct Staging {
    dir: PathBuf,
    out: PathBuf,
    committed: bool,
}

impl Staging {
    pub fn create(out: &Path) -> Result<Self> {
        let parent = out.parent().context("output folder has no parent")?;
        let name = out.file_name().context("output folder has no name")?.to_string_lossy();
        // Leftovers of killed builds.
        if let Ok(entries) = fs::read_dir(parent) {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(&format!(".{name}.tmp-")) || n.starts_with(&format!(".{name}.old-")) {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self { dir, out: out.to_path_buf(), committed: false })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn commit(mut self) -> Result<()> {
        if self.out.exists() {
            if !exchange(&self.dir, &self.out) {
                let old = self.dir.with_file_name(format!(
                    ".{}.old-{}",
                    self.out.file_name().unwrap_or_default().to_string_lossy(),
                    std::process::id()
                ));
                fs::rename(&self.out, &old)?;
                fs::rename(&self.dir, &self.out)?;
                fs::rename(&old, &self.dir)?;
            }
            // self.dir now holds the previous site.
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            fs::rename(&self.dir, &self.out)?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Atomically swaps two directories (Linux `renameat2(RENAME_EXCHANGE)`), so there is no moment
/// without a complete site at `out`.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> bool {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let (Ok(ca), Ok(cb)) = (CString::new(a.as_os_str().as_bytes()), CString::new(b.as_os_str().as_bytes())) else {
        return false;
    };
    // SAFETY: both are valid NUL-terminated paths; AT_FDCWD resolves them like rename(2).
    unsafe { libc::renameat2(libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), libc::RENAME_EXCHANGE) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> bool {
    false
}

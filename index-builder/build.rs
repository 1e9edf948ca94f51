//! Embeds the built browser app (`target/web-dist/`, made by scripts/build-web.sh; in a packaged
//! crate, the copy `web-dist/` that scripts/package.sh put inside it) into the CLI, so one
//! `chromatica` binary writes complete sites. Also records the app's fingerprint (for
//! `chromatica --version`) and whether the app is older than the sources it is built from: a plain
//! `cargo build` after a web change would otherwise write sites with the old page, silently.
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use std::{env, fs};

/// What the app is built from (scripts/build-web.sh lists the same paths as APP_SOURCES).
const APP_SOURCES: &[&str] = &["web", "crates/core/src", "crates/core/Cargo.toml", "crates/worker", "public", "Cargo.lock", "scripts/build-web.sh"];

/// libheif for HEIC/AVIF inputs (src/heif.rs), where pkg-config finds it for a native glibc target;
/// `CHROMATICA_NO_HEIF=1` builds without it.
fn probe_libheif() {
    println!("cargo:rustc-check-cfg=cfg(has_libheif)");
    println!("cargo:rerun-if-env-changed=CHROMATICA_NO_HEIF");
    let musl = env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "musl");
    let cross = env::var("TARGET").ok() != env::var("HOST").ok();
    if env::var("CHROMATICA_NO_HEIF").is_ok_and(|v| !v.is_empty() && v != "0") || musl || cross {
        return;
    }
    // 1.13: heif_context_set_max_decoding_threads, heif_init with plugins.
    match pkg_config::Config::new().atleast_version("1.13").probe("libheif") {
        Ok(_) => println!("cargo:rustc-cfg=has_libheif"),
        Err(_) => {
            println!("cargo:warning=libheif not found: this chromatica will skip HEIC/AVIF images (install libheif-dev and build again to read them)")
        }
    }
}

fn main() {
    probe_libheif();
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    let packaged = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("web-dist");
    let dist = env::var_os("CHROMATICA_WEB_DIST").map(PathBuf::from).unwrap_or_else(|| {
        let built = root.join("target/web-dist");
        if built.is_dir() || !packaged.is_dir() {
            built
        } else {
            packaged
        }
    });
    let stamp = dist.with_extension("stamp");
    println!("cargo:rerun-if-env-changed=CHROMATICA_WEB_DIST");
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-changed={}", stamp.display());
    let mut files = Vec::new();
    collect(&dist, &mut files);
    files.sort();
    let mut fingerprint = xxhash_rust::xxh3::Xxh3::new();
    let entries: Vec<String> = files
        .iter()
        .map(|path| {
            println!("cargo:rerun-if-changed={}", path.display());
            // Site-relative, with '/' (threads/chromatica_worker.js).
            let name = path.strip_prefix(&dist).unwrap().components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            fingerprint.update(name.as_bytes());
            fingerprint.update(&fs::read(path).unwrap());
            let abs = fs::canonicalize(path).unwrap();
            format!("    ({name:?}, include_bytes!({:?}) as &[u8]),\n", abs.display().to_string())
        })
        .collect();

    // The newest source file, if it is newer than the app built from the sources.
    let built = fs::metadata(&stamp).and_then(|m| m.modified()).ok();
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for source in APP_SOURCES {
        let path = root.join(source);
        println!("cargo:rerun-if-changed={}", path.display());
        let mut sources = Vec::new();
        if path.is_dir() {
            collect(&path, &mut sources);
        } else if path.is_file() {
            sources.push(path);
        }
        for file in sources {
            if let Ok(time) = fs::metadata(&file).and_then(|m| m.modified()) {
                if newest.as_ref().is_none_or(|(t, _)| time > *t) {
                    newest = Some((time, file));
                }
            }
        }
    }
    let stale = match (built, newest) {
        (Some(built), Some((time, file))) if !files.is_empty() && time > built => {
            let rel = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
            println!("cargo:warning=the embedded web app (target/web-dist) is older than {rel}: run `bash scripts/build-web.sh`, then build again, or `chromatica build` will refuse to write sites");
            rel
        }
        _ => String::new(),
    };
    let code = format!(
        "/// The browser app's files, by site-relative path.\npub static APP_FILES: &[(&str, &[u8])] = &[\n{}];\n\
         /// A web source newer than the embedded app (empty when the app is up to date).\npub const APP_STALE_SOURCE: &str = {stale:?};\n",
        entries.concat()
    );
    fs::write(PathBuf::from(env::var("OUT_DIR").unwrap()).join("app_assets.rs"), code).unwrap();
    let fingerprint = if files.is_empty() { "none".to_string() } else { format!("{:016x}", fingerprint.digest()) };
    println!("cargo:rustc-env=CHROMATICA_APP_FINGERPRINT={fingerprint}");
}

/// Every file under `dir`, recursively (none if it does not exist), skipping build output folders.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if entry.file_name() != "target" && entry.file_name() != "node_modules" {
                collect(&path, files);
            }
        } else if path.is_file() {
            files.push(path);
        }
    }
}

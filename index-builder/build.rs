//! Embeds the built browser app (`target/web-dist/`, made by scripts/build-web.sh) into the CLI, so
//! one `chromatica` binary writes complete sites.
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    let dist = env::var_os("CHROMATICA_WEB_DIST").map(PathBuf::from).unwrap_or_else(|| root.join("target/web-dist"));
    println!("cargo:rerun-if-env-changed=CHROMATICA_WEB_DIST");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    collect(&dist, &mut files);
    files.sort();
    let entries: Vec<String> = files
        .iter()
        .map(|path| {
            println!("cargo:rerun-if-changed={}", path.display());
            // Site-relative, with '/' (threads/chromatica_worker.js).
            let name = path.strip_prefix(&dist).unwrap().components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            let abs = fs::canonicalize(path).unwrap();
            format!("    ({name:?}, include_bytes!({:?}) as &[u8]),\n", abs.display().to_string())
        })
        .collect();
    let code = format!("/// The browser app's files, by site-relative path.\npub static APP_FILES: &[(&str, &[u8])] = &[\n{}];\n", entries.concat());
    fs::write(PathBuf::from(env::var("OUT_DIR").unwrap()).join("app_assets.rs"), code).unwrap();
}

/// Every file under `dir`, recursively (none if it does not exist).
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.is_file() {
            files.push(path);
        }
    }
}

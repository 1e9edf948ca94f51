//! Embeds the built browser app (`target/web-dist/`, made by scripts/build-web.sh) into the CLI, so
//! one `chromatica` binary writes complete sites.
use std::{env, fs, path::PathBuf};

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    let dist = env::var_os("CHROMATICA_WEB_DIST").map(PathBuf::from).unwrap_or_else(|| root.join("target/web-dist"));
    println!("cargo:rerun-if-env-changed=CHROMATICA_WEB_DIST");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut entries = Vec::new();
    if let Ok(dir) = fs::read_dir(&dist) {
        let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect();
        files.sort();
        for path in files {
            println!("cargo:rerun-if-changed={}", path.display());
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let abs = fs::canonicalize(&path).unwrap();
            entries.push(format!("    ({name:?}, include_bytes!({:?}) as &[u8]),\n", abs.display().to_string()));
        }
    }
    let code = format!("/// The browser app's files, by name.\npub static APP_FILES: &[(&str, &[u8])] = &[\n{}];\n", entries.concat());
    fs::write(PathBuf::from(env::var("OUT_DIR").unwrap()).join("app_assets.rs"), code).unwrap();
}

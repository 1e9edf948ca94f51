//! Helpers shared by the CLI test files: running the `chromatica` binary and making images.
#![allow(dead_code)] // each test file uses a different subset

use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

/// The binary, with its incremental cache kept out of the user's home (in the system temp folder).
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chromatica"));
    cmd.env("CHROMATICA_CACHE_DIR", std::env::temp_dir().join("chromatica-test-cache"));
    cmd
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run chromatica")
}

pub fn stdout_json(out: &Output) -> Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

pub fn solid_png(path: &Path, rgb: [u8; 3], w: u32, h: u32) {
    image::RgbImage::from_pixel(w, h, image::Rgb(rgb)).save(path).unwrap();
}

pub fn gradient_jpeg(path: &Path, hue: u8) {
    let img = image::RgbImage::from_fn(300, 200, |x, y| image::Rgb([hue.wrapping_add((x / 3) as u8), (y / 2) as u8, 255 - hue]));
    img.save(path).unwrap();
}

/// Eight plain images of distinct colors.
pub fn good_images(dir: &Path) {
    let colors = [[230, 20, 20], [20, 200, 40], [30, 40, 220], [240, 220, 30], [250, 140, 0], [120, 30, 160], [20, 20, 20], [235, 235, 235]];
    for (i, c) in colors.iter().enumerate() {
        solid_png(&dir.join(format!("color-{i}.png")), *c, 64, 48);
    }
    fs::create_dir_all(dir.join("nested/deeper")).unwrap();
    gradient_jpeg(&dir.join("nested/deeper/gradient.jpg"), 40);
}

pub fn build(images: &Path, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["build", images.to_str().unwrap(), "--out", out.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    stdout_json(&run(&args))
}

pub fn search(site: &Path, colors: &str, k: &str) -> Value {
    stdout_json(&run(&["search", site.to_str().unwrap(), "--colors", colors, "-k", k, "--json"]))
}

pub fn write(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap();
}

/// Every file of a site's index (`index/…`), by site-relative path.
pub fn index_files(site: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    for e in walkdir::WalkDir::new(site.join("index")).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(site).unwrap().to_string_lossy().replace('\\', "/");
            files.insert(rel, std::fs::read(e.path()).unwrap());
        }
    }
    files
}

/// A stored index file's bytes (index files are stored gzip-compressed).
pub fn inflate(stored: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(stored).read_to_end(&mut out).unwrap();
    out
}

/// `raw` stored as a site stores index files.
pub fn store(raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    w.write_all(raw).unwrap();
    w.finish().unwrap()
}

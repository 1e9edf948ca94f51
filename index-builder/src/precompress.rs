//! Precompressed copies of the files a browser fetches, written beside them (`app.wasm.br`,
//! `app.wasm.gz`), for hosts that serve such files as they are instead of compressing on every
//! request: nginx (`gzip_static on;`, `brotli_static on;` with ngx_brotli), Caddy (`file_server {
//! precompressed br gzip }`), `chromatica serve`, and CDNs that pass them through. A host that does
//! not know them serves the plain files and never sends these.
//!
//! What gets copies: the page and its scripts and styles, and the wasm. Not: the index's files
//! (stored gzip-compressed themselves, for every host: site_index.rs), images (already
//! compressed), the classic-script twins that only `file://` pages load (no HTTP, no encodings
//! there), and any file whose compressed copy would not save [`MIN_SAVING`].

use std::io::Write;

/// The encodings written, as `(file suffix, Content-Encoding)`, in order of preference.
pub const ENCODINGS: [(&str, &str); 2] = [("br", "br"), ("gz", "gzip")];
/// A compressed copy is written only if it is at most this fraction of the file.
const MIN_SAVING: f64 = 0.9;
/// Files smaller than this are sent as they are (a copy would save less than a packet).
const MIN_BYTES: usize = 1024;
/// Brotli's quality (0–11) and window (log2 bytes): the app's files are written once per build
/// and fetched by every visitor.
const BROTLI: (u32, u32) = (11, 22);
/// gzip's level (0–9).
pub const GZIP_LEVEL: u32 = 9;

/// Whether the site file `rel` (site-relative) gets compressed copies: browsers fetch it over
/// HTTP, and it is not compressed already.
pub fn wants_copies(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    // Index files are stored compressed already (site_index::store); images are compressed.
    if rel.starts_with("index/") || rel.starts_with("thumbs/") || rel.starts_with("originals/") {
        return false;
    }
    // The classic-script twins of the wasm and the thumbnails exist for file:// pages only.
    if name == crate::site::WASM_SCRIPT || name == crate::site::THUMBS_SCRIPT {
        return false;
    }
    [".html", ".js", ".mjs", ".css", ".wasm"].iter().any(|ext| name.ends_with(ext))
}

/// The compressed copies of `bytes` (a site file [`wants_copies`] names) worth writing, of the
/// encodings `wanted` takes (by suffix): `(suffix, bytes)`.
pub fn copies(bytes: &[u8], wanted: impl Fn(&str) -> bool) -> Vec<(&'static str, Vec<u8>)> {
    if bytes.len() < MIN_BYTES {
        return Vec::new();
    }
    let (quality, window) = BROTLI;
    let mut out = Vec::new();
    for (suffix, _) in ENCODINGS.into_iter().filter(|(suffix, _)| wanted(suffix)) {
        let compressed = match suffix {
            "br" => brotli(bytes, quality, window),
            _ => gzip(bytes, GZIP_LEVEL),
        };
        if (compressed.len() as f64) <= bytes.len() as f64 * MIN_SAVING {
            out.push((suffix, compressed));
        }
    }
    out
}

fn brotli(bytes: &[u8], quality: u32, window: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 2);
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 64 * 1024, quality, window);
        // Writing into a Vec cannot fail.
        let _ = w.write_all(bytes);
    }
    out
}

/// `bytes` as one gzip member (no name or time: the same bytes always compress the same).
pub fn gzip(bytes: &[u8], level: u32) -> Vec<u8> {
    let mut w = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 2 + 64), flate2::Compression::new(level));
    let _ = w.write_all(bytes);
    w.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn copies_decompress_to_the_file() {
        let text: Vec<u8> = (0..20_000u32).flat_map(|i| format!("line {} of a page\n", i % 97).into_bytes()).collect();
        let copies = copies(&text, |_| true);
        assert_eq!(copies.len(), 2);
        for (suffix, bytes) in copies {
            let mut back = Vec::new();
            match suffix {
                "br" => brotli::Decompressor::new(bytes.as_slice(), 4096).read_to_end(&mut back).unwrap(),
                _ => flate2::read::GzDecoder::new(bytes.as_slice()).read_to_end(&mut back).unwrap(),
            };
            assert_eq!(back, text, "{suffix}");
        }
    }

    #[test]
    fn incompressible_or_tiny_files_get_none() {
        let mut x = 0x9e3779b97f4a7c15u64;
        let noise: Vec<u8> = (0..50_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(copies(&noise, |_| true).is_empty());
        assert!(copies(b"small", |_| true).is_empty());
        assert_eq!(copies(&noise.iter().map(|b| b & 1).collect::<Vec<_>>(), |s| s != "gz").iter().map(|c| c.0).collect::<Vec<_>>(), ["br"]);
    }

    #[test]
    fn only_files_fetched_over_http() {
        for yes in ["index.html", "chromatica_bg.wasm", "chromatica.js", "style.css", "threads/worker.js"] {
            assert!(wants_copies(yes), "{yes}");
        }
        for no in [
            "index/head.bin",
            "index/ab/abcdef0123456789.bin",
            "chromatica_wasm.js",
            "thumbs.js",
            "index/ab/abcdef0123456789.js",
            "index/head.js",
            "thumbs/ab/x.jpg",
            "originals/ab/x.json",
        ] {
            assert!(!wants_copies(no), "{no}");
        }
    }
}

//! `chromatica serve`: a static file server on 127.0.0.1 that sends the cross-origin isolation
//! headers wasm threads need (COOP/COEP), for local use and tests. Not a production server.

use anyhow::{Context, Result};
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use tiny_http::{Header, Request, Response, Server};

pub fn serve(site: &Path, port: u16) -> Result<()> {
    let root = fs::canonicalize(site).with_context(|| format!("cannot open {}", site.display()))?;
    if !root.join("index.html").is_file() {
        anyhow::bail!("{} has no index.html; is it a site built by `chromatica build`?", site.display());
    }
    let server = Server::http(("127.0.0.1", port)).map_err(|e| anyhow::anyhow!("cannot listen on port {port}: {e}"))?;
    let addr = server.server_addr().to_ip().context("no local address")?;
    println!("Serving {} at http://127.0.0.1:{}/", root.display(), addr.port());
    std::io::stdout().flush()?;
    // A thread per request: a client that is slow to read one response (a big wasm or bundle)
    // must not hold up the others, as a fixed pool of handler threads did.
    for request in server.incoming_requests() {
        let root = root.clone();
        std::thread::spawn(move || respond(&root, request));
    }
    Ok(())
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header is valid")
}

fn respond(root: &Path, request: Request) {
    let response = match resolve(root, request.url()) {
        Some(path) => match fs::read(&path) {
            Ok(body) => Response::from_data(body).with_header(header("Content-Type", mime(&path))),
            Err(_) => not_found(),
        },
        None => not_found(),
    };
    let response = response
        .with_header(header("Cross-Origin-Opener-Policy", "same-origin"))
        .with_header(header("Cross-Origin-Embedder-Policy", "require-corp"))
        .with_header(header("Cross-Origin-Resource-Policy", "same-origin"))
        .with_header(header("X-Content-Type-Options", "nosniff"))
        .with_header(header("Cache-Control", "no-cache"));
    let _ = request.respond(response);
}

fn not_found() -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string("not found").with_status_code(404).with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

/// Maps a URL path to a file inside `root`, or `None` (no `..`, no escaping via symlinks).
fn resolve(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("/");
    let decoded = percent_decode(path)?;
    let mut rel = PathBuf::new();
    for c in Path::new(decoded.trim_start_matches('/')).components() {
        match c {
            Component::Normal(part) => rel.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    let mut full = root.join(rel);
    if full.is_dir() {
        full = full.join("index.html");
    }
    let real = fs::canonicalize(&full).ok()?;
    real.starts_with(root).then_some(real)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_stays_inside_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::write(root.join("index.html"), "x").unwrap();
        fs::write(root.join("a b.txt"), "x").unwrap();
        assert_eq!(resolve(&root, "/"), Some(root.join("index.html")));
        assert_eq!(resolve(&root, "/a%20b.txt?x=1"), Some(root.join("a b.txt")));
        assert_eq!(resolve(&root, "/../etc/passwd"), None);
        assert_eq!(resolve(&root, "/%2e%2e/etc/passwd"), None);
        assert_eq!(resolve(&root, "/%zz"), None);
    }
}

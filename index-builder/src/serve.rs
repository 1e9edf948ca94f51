//! `chromatica serve`: a static file server on 127.0.0.1 that sends the cross-origin isolation
//! headers wasm threads need (COOP/COEP), for local use and tests. Not a production server, but
//! safe to leave running: one request per connection (`Connection: close`), and every resource a
//! client can make it hold is bounded:
//! - the request head: at most [`MAX_HEAD`] bytes (431 beyond), read within one deadline for the
//!   whole head (`--timeout`, default 10 s), not per read, so trickling bytes buys nothing;
//! - responses are streamed from the file in 64 KiB chunks, each write with the same timeout, and
//!   the whole response within a deadline that grows with its size (a stalled reader is dropped);
//! - at most [`MAX_CONNECTIONS`] connections at once; further ones wait in the kernel's queue;
//! - accept errors (out of file descriptors) back off instead of spinning; a thread that cannot be
//!   started drops its connection instead of panicking;
//! - the `Host` header must name this server (127.0.0.1, localhost or [::1] with its port, or
//!   `--host-name`), so a web page cannot read the gallery through DNS rebinding;
//! - dot-files are never served.
//!
//! Why not a server crate: hyper/axum bring an async runtime and ~80 crates, and the points above
//! would still be ours to configure; this file is the whole server.

use crate::precompress;
use anyhow::{Context, Result};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Headers on every response: cross-origin isolation (what wasm threads need), and no sniffing.
const HEADERS: &str = "Cross-Origin-Opener-Policy: same-origin\r\n\
Cross-Origin-Embedder-Policy: require-corp\r\n\
Cross-Origin-Resource-Policy: same-origin\r\n\
X-Content-Type-Options: nosniff\r\n\
Cache-Control: no-cache\r\n\
Connection: close\r\n";
/// The longest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// Connections handled at once.
pub const MAX_CONNECTIONS: usize = 64;
const CHUNK: usize = 64 * 1024;
/// A response may take its timeout plus this long per byte (a reader slower than 64 KiB/s of a
/// large file is given proportionally more time, never unbounded time).
const MIN_RATE_BYTES_PER_SEC: u64 = 64 * 1024;

pub struct Options {
    pub port: u16,
    /// Deadline for reading a request head, and for each write.
    pub timeout: Duration,
    /// An extra name the `Host` header may carry (e.g. behind a proxy).
    pub host_name: Option<String>,
}

/// Counts connections in flight; `acquire` waits while [`MAX_CONNECTIONS`] are.
#[derive(Default)]
struct Slots {
    busy: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn acquire(&self) {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        while *busy >= MAX_CONNECTIONS {
            busy = self.freed.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        *busy += 1;
    }

    fn release(&self) {
        *self.busy.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        self.freed.notify_one();
    }
}

struct Server {
    root: PathBuf,
    hosts: Vec<String>,
    timeout: Duration,
}

pub fn serve(site: &Path, options: &Options) -> Result<()> {
    let root = fs::canonicalize(site).with_context(|| format!("cannot open {}", site.display()))?;
    if !root.join("index.html").is_file() {
        anyhow::bail!("{} has no index.html; is it a site built by `chromatica build`?", site.display());
    }
    let listener = TcpListener::bind(("127.0.0.1", options.port)).with_context(|| format!("cannot listen on port {}", options.port))?;
    let port = listener.local_addr()?.port();
    let mut hosts: Vec<String> = ["127.0.0.1", "localhost", "[::1]"].iter().map(|h| format!("{h}:{port}")).collect();
    if let Some(name) = &options.host_name {
        hosts.push(name.to_ascii_lowercase());
    }
    println!("Serving {} at http://127.0.0.1:{port}/", root.display());
    std::io::stdout().flush()?;
    let server = Arc::new(Server { root, hosts, timeout: options.timeout });
    let slots = Arc::new(Slots::default());
    let mut backoff = Duration::from_millis(10);
    loop {
        slots.acquire();
        let stream = match listener.accept() {
            Ok((stream, _)) => {
                backoff = Duration::from_millis(10);
                stream
            }
            Err(_) => {
                // Out of descriptors or memory: wait for connections to finish instead of spinning.
                slots.release();
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let (server, thread_slots) = (server.clone(), slots.clone());
        let spawned = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || {
            let _ = server.handle(stream);
            thread_slots.release();
        });
        if spawned.is_err() {
            // The closure (and with it the connection) was dropped unrun.
            slots.release();
            std::thread::sleep(backoff);
        }
    }
}

impl Server {
    fn handle(&self, mut stream: TcpStream) -> std::io::Result<()> {
        let deadline = Instant::now() + self.timeout;
        stream.set_write_timeout(Some(self.timeout))?;
        let head = match read_head(&mut stream, deadline)? {
            Head::Complete(head) => head,
            Head::TooLarge => return respond(&mut stream, "431 Request Header Fields Too Large", "request head too large"),
            Head::TimedOut => return respond(&mut stream, "408 Request Timeout", "request took too long"),
            Head::Closed => return Ok(()),
        };
        let text = String::from_utf8_lossy(&head);
        let mut lines = text.split("\r\n");
        let mut parts = lines.next().unwrap_or("").split(' ');
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let headers: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim(), v.trim())).collect();
        let header = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
        let host = header("host").map(str::to_ascii_lowercase);
        if !host.is_some_and(|h| self.hosts.contains(&h)) {
            return respond(&mut stream, "421 Misdirected Request", "this server only answers requests for its own address");
        }
        if method != "GET" && method != "HEAD" {
            return respond(&mut stream, "405 Method Not Allowed", "method not allowed");
        }
        let Some((path, file)) = resolve(&self.root, target).and_then(|p| fs::File::open(&p).ok().map(|f| (p, f))) else {
            return respond(&mut stream, "404 Not Found", "not found");
        };
        // A compressed copy the build wrote beside the file (precompress.rs), if the client takes it.
        let copy_of = |suffix: &str| {
            let name = path.file_name()?.to_str()?;
            let copy = fs::canonicalize(path.with_file_name(format!("{name}.{suffix}"))).ok()?;
            (copy.starts_with(&self.root) && copy.is_file()).then_some(copy)
        };
        let copies: Vec<(PathBuf, &str)> = precompress::ENCODINGS.iter().filter_map(|(suffix, coding)| Some((copy_of(suffix)?, *coding))).collect();
        let has_copies = !copies.is_empty();
        let copy = copies
            .into_iter()
            .filter(|(_, coding)| accepts(header("accept-encoding"), coding))
            .find_map(|(p, coding)| Some((fs::File::open(p).ok()?, coding)));
        let (mut file, encoding) = match copy {
            Some((copy, coding)) => (copy, format!("Content-Encoding: {coding}\r\n")),
            None => (file, String::new()),
        };
        let vary = if has_copies { "Vary: Accept-Encoding\r\n" } else { "" };
        let len = file.metadata()?.len();
        let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {len}\r\n{encoding}{vary}{HEADERS}\r\n", mime(&path));
        stream.write_all(head.as_bytes())?;
        if method == "GET" {
            let deadline = Instant::now() + self.timeout + Duration::from_secs(len / MIN_RATE_BYTES_PER_SEC);
            let mut buf = vec![0u8; CHUNK];
            let mut left = len;
            while left > 0 {
                let n = file.read(&mut buf[..CHUNK.min(left as usize)])?;
                if n == 0 || Instant::now() > deadline {
                    break; // the file shrank, or the reader is too slow: close.
                }
                stream.write_all(&buf[..n])?;
                left -= n as u64;
            }
        }
        stream.flush()
    }
}

enum Head {
    Complete(Vec<u8>),
    TooLarge,
    TimedOut,
    Closed,
}

/// Reads up to the blank line that ends the head, within `deadline` for all of it.
fn read_head(stream: &mut TcpStream, deadline: Instant) -> std::io::Result<Head> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Head::TimedOut);
        }
        stream.set_read_timeout(Some(left))?;
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(Head::Closed),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return Ok(Head::TimedOut),
            Err(e) => return Err(e),
        };
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            head.truncate(from + end);
            return Ok(Head::Complete(head));
        }
        if head.len() > MAX_HEAD {
            return Ok(Head::TooLarge);
        }
    }
}

/// Whether an `Accept-Encoding` header takes `coding`: named without `q=0`, or else under `*`
/// without `q=0`.
fn accepts(header: Option<&str>, coding: &str) -> bool {
    let Some(header) = header else { return false };
    // (name, accepted) of each entry.
    let entries: Vec<(&str, bool)> = header
        .split(',')
        .map(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.split_once('=').is_some_and(|(k, q)| k.trim().eq_ignore_ascii_case("q") && q.trim().parse::<f64>().is_ok_and(|q| q <= 0.0))
            });
            (name, !refused)
        })
        .collect();
    match entries.iter().find(|(name, _)| name.eq_ignore_ascii_case(coding)) {
        Some(&(_, accepted)) => accepted,
        None => entries.iter().any(|&(name, accepted)| name == "*" && accepted),
    }
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!("HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{HEADERS}\r\n{body}", body.len());
    stream.write_all(head.as_bytes())?;
    stream.flush()
}

/// Maps a URL path to a file inside `root`, or `None` (no `..`, no dot-files, no escaping via
/// symlinks).
fn resolve(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("/");
    let decoded = percent_decode(path)?;
    let mut rel = PathBuf::new();
    for c in Path::new(decoded.trim_start_matches('/')).components() {
        match c {
            // Dot-files and dot-folders (a build's staging folder, `.git`) are never served.
            Component::Normal(part) if part.to_string_lossy().starts_with('.') => return None,
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
        "avif" => "image/avif",
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
    fn accept_encoding() {
        for (header, br, gzip) in [
            ("br, gzip", true, true),
            ("gzip;q=0.5", false, true),
            ("br;q=0, *", false, true),
            ("BR;Q=0, gzip", false, true),
            ("*;q=0", false, false),
            ("identity", false, false),
            ("", false, false),
        ] {
            assert_eq!((accepts(Some(header), "br"), accepts(Some(header), "gzip")), (br, gzip), "{header}");
        }
        assert!(!accepts(None, "br"));
    }

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
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::write(root.join(".git/config"), "x").unwrap();
        assert_eq!(resolve(&root, "/.git/config"), None);
    }
}

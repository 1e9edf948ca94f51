//! `chromatica serve` against hostile and clumsy clients over real TCP: oversized and endless
//! request heads, trickling clients, stalled readers of a large file, more connections than it
//! serves at once, running out of file descriptors, and requests for another host (DNS rebinding).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(site: &Path, extra: &[&str], max_files: Option<u64>) -> Server {
        let mut cmd = bin();
        cmd.args(["serve", site.to_str().unwrap(), "--port", "0"]).args(extra).stdout(Stdio::piped()).stderr(Stdio::null());
        if let Some(limit) = max_files {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; it only lowers this child's descriptor limit.
            unsafe {
                cmd.pre_exec(move || {
                    let rl = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap_or_else(|_| panic!("no port in {line:?}"));
        Server { child, port }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// A whole request; the status line and body.
    fn get(&self, path: &str, host: &str) -> (String, Vec<u8>) {
        let mut s = self.connect();
        write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
        let mut response = Vec::new();
        s.read_to_end(&mut response).unwrap();
        let end = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
        let head = String::from_utf8_lossy(&response[..end]).into_owned();
        (head.lines().next().unwrap_or("").to_string(), response[end + 4..].to_vec())
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `(resident, peak resident)` memory of the server process, in bytes.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).unwrap().parse::<u64>().unwrap() * 1024
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// CPU seconds the server has used.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
    }
}

/// A built site with one 40 MB file in it (standing in for a large original).
fn site_with_large_file(tmp: &Path) -> std::path::PathBuf {
    let (images, site) = (tmp.join("images"), tmp.join("site"));
    std::fs::create_dir_all(&images).unwrap();
    good_images(&images);
    build(&images, &site, &[]);
    let big: Vec<u8> = (0..40_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(site.join("big.bin"), big).unwrap();
    site
}

#[test]
fn answers_only_requests_for_its_own_host() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_with_large_file(tmp.path());
    let server = Server::start(&site, &["--host-name", "gallery.test:8080"], None);
    assert_eq!(server.get("/", &server.host()).0, "HTTP/1.1 200 OK");
    assert_eq!(server.get("/", &format!("localhost:{}", server.port)).0, "HTTP/1.1 200 OK");
    assert_eq!(server.get("/", "gallery.test:8080").0, "HTTP/1.1 200 OK");
    let (status, _) = server.get("/", "attacker.example");
    assert!(status.starts_with("HTTP/1.1 421"), "{status}");
    let (status, _) = server.get("/", &format!("attacker.example:{}", server.port));
    assert!(status.starts_with("HTTP/1.1 421"), "{status}");
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    assert!(r.starts_with("HTTP/1.1 421"), "no Host header: {r}");
    // Dot-files are never served, and the large file streams intact.
    assert!(server.get("/.chromatica-staging/x", &server.host()).0.starts_with("HTTP/1.1 404"));
    let (status, body) = server.get("/big.bin", &server.host());
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body.len(), 40_000_000);
    assert!(body.iter().enumerate().step_by(99_991).all(|(i, &b)| b == (i % 251) as u8));
}

#[test]
fn oversized_and_endless_request_heads_are_cut_off() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_with_large_file(tmp.path());
    let server = Server::start(&site, &["--timeout", "2"], None);
    // 8 MB of request line without a newline: refused after the first 16 KB.
    let mut s = server.connect();
    let junk = vec![b'A'; 64 * 1024];
    let mut sent = 0;
    for _ in 0..128 {
        match s.write_all(&junk) {
            Ok(()) => sent += junk.len(),
            Err(_) => break, // the server closed the connection: good
        }
    }
    let mut r = Vec::new();
    let _ = s.read_to_end(&mut r);
    assert!(String::from_utf8_lossy(&r).starts_with("HTTP/1.1 431") || sent < 8 << 20, "{:?}", String::from_utf8_lossy(&r));
    // Headers trickled one byte at a time: the whole head has one deadline, not one per read.
    let mut s = server.connect();
    let start = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nHost: ").unwrap();
    let mut closed = false;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(250));
        if s.write_all(b"x").is_err() {
            closed = true;
            break;
        }
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf);
        s.set_nonblocking(false).unwrap();
        if let Ok(n) = n {
            closed = true;
            assert!(n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"));
            break;
        }
    }
    assert!(closed, "a trickling client was served for {:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(6), "cut off after {:?}", start.elapsed());
    let (rss, peak) = server.memory();
    assert!(peak < 64 << 20, "server memory: rss {rss}, peak {peak}");
    assert_eq!(server.get("/", &server.host()).0, "HTTP/1.1 200 OK", "still serving");
}

#[test]
fn stalled_readers_hold_neither_memory_nor_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_with_large_file(tmp.path());
    let server = Server::start(&site, &["--timeout", "2"], None);
    // 50 clients ask for the 40 MB file and never read it (2 GB if each response were buffered).
    let stalled: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = server.connect();
            write!(s, "GET /big.bin HTTP/1.1\r\nHost: {}\r\n\r\n", server.host()).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let (_, peak) = server.memory();
    assert!(peak < 128 << 20, "peak memory {peak} with 50 stalled readers");
    assert_eq!(server.get("/index.html", &server.host()).0, "HTTP/1.1 200 OK", "others are still served");
    // More idle connections than the server handles at once: the excess waits, then is served.
    let idle: Vec<TcpStream> = (0..80).map(|_| server.connect()).collect();
    let start = Instant::now();
    assert_eq!(server.get("/index.html", &server.host()).0, "HTTP/1.1 200 OK");
    assert!(start.elapsed() < Duration::from_secs(15), "waited {:?}", start.elapsed());
    drop((stalled, idle));
}

#[test]
fn running_out_of_file_descriptors_does_not_spin() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_with_large_file(tmp.path());
    let server = Server::start(&site, &["--timeout", "2"], Some(24));
    // Enough idle connections to exhaust the server's 24 descriptors.
    let idle: Vec<TcpStream> = (0..40).map(|_| server.connect()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let before = server.cpu_seconds();
    std::thread::sleep(Duration::from_secs(1));
    let used = server.cpu_seconds() - before;
    assert!(used < 0.3, "the accept loop used {used} s of CPU in 1 s");
    drop(idle);
    let start = Instant::now();
    loop {
        let mut s = server.connect();
        let _ = write!(s, "GET / HTTP/1.1\r\nHost: {}\r\n\r\n", server.host());
        let mut r = String::new();
        if s.read_to_string(&mut r).is_ok() && r.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the server did not recover");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn many_parallel_requests_are_all_answered() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_with_large_file(tmp.path());
    let server = Server::start(&site, &[], None);
    let ok = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..300).map(|_| scope.spawn(|| server.get("/index/head.bin", &server.host()).0)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).filter(|s| s == "HTTP/1.1 200 OK").count()
    });
    assert_eq!(ok, 300);
}

/// The response head (all of it) and body of `GET path` with `headers` (each `Name: value`).
fn get_with(server: &Server, path: &str, headers: &[&str]) -> (String, Vec<u8>) {
    let mut s = server.connect();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {}\r\n{}\r\n", server.host(), headers.iter().map(|h| format!("{h}\r\n")).collect::<String>()).unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).unwrap();
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    (String::from_utf8_lossy(&response[..end]).into_owned(), response[end + 4..].to_vec())
}

#[test]
fn precompressed_copies_go_to_clients_that_take_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    std::fs::create_dir_all(&images).unwrap();
    good_images(&images);
    build(&images, &site, &[]);
    let wasm = std::fs::read(site.join("chromatica_bg.wasm")).unwrap();
    assert!(site.join("chromatica_bg.wasm.br").is_file() && site.join("chromatica_bg.wasm.gz").is_file());
    let server = Server::start(&site, &[], None);
    let decode = |coding: &str, body: &[u8]| {
        let mut out = Vec::new();
        match coding {
            "br" => brotli::Decompressor::new(body, 4096).read_to_end(&mut out).unwrap(),
            "gzip" => flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap(),
            _ => return body.to_vec(),
        };
        out
    };
    for (accept, coding) in [("br, gzip, deflate", "br"), ("gzip", "gzip"), ("br;q=0, gzip;q=0.5", "gzip"), ("identity", ""), ("", "")] {
        let headers: Vec<String> = if accept.is_empty() { vec![] } else { vec![format!("Accept-Encoding: {accept}")] };
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let (head, body) = get_with(&server, "/chromatica_bg.wasm", &headers);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("Content-Type: application/wasm"), "{head}");
        assert!(head.contains("Vary: Accept-Encoding"), "{head}");
        assert_eq!(head.contains("Content-Encoding:"), !coding.is_empty(), "{accept}: {head}");
        if !coding.is_empty() {
            assert!(head.contains(&format!("Content-Encoding: {coding}")), "{accept}: {head}");
            assert!(body.len() < wasm.len() / 2, "{coding}: {} of {} bytes", body.len(), wasm.len());
        }
        assert_eq!(decode(coding, &body), wasm, "{accept}");
    }
    // The page itself ("/" is index.html) comes compressed too (index files are stored so).
    let (head, body) = get_with(&server, "/", &["Accept-Encoding: br"]);
    assert!(head.contains("Content-Encoding: br") && head.contains("text/html"), "{head}");
    assert_eq!(decode("br", &body), std::fs::read(site.join("index.html")).unwrap());
    // Images are never sent encoded.
    let thumb = walkdir::WalkDir::new(site.join("thumbs")).into_iter().filter_map(Result::ok).find(|e| e.file_type().is_file()).unwrap();
    let rel = thumb.path().strip_prefix(&site).unwrap().to_string_lossy().into_owned();
    let (head, _) = get_with(&server, &format!("/{rel}"), &["Accept-Encoding: br, gzip"]);
    assert!(!head.contains("Content-Encoding") && !head.contains("Vary"), "{head}");
}

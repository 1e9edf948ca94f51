//! A build never loses a user's files and never leaks them: what `--out` holds besides our own
//! files survives every rebuild, a folder that is not provably our site is refused, originals are
//! independent copies, symlinks do not carry private folders into the site, memory is bounded by
//! a budget, vanished files are skipped, concurrent builds do not trample each other, a poisoned
//! cache is recomputed, and file names cannot drive the terminal.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

fn manifest(site: &Path) -> Value {
    serde_json::from_slice(&fs::read(site.join("chromatica.json")).unwrap()).unwrap()
}

fn indexed_paths(site: &Path) -> Vec<String> {
    manifest(site)["images"].as_array().unwrap().iter().map(|i| i["path"].as_str().unwrap().to_string()).collect()
}

fn build_err(images: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["build", images.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = run(&args);
    assert!(!output.status.success(), "build into {} should fail", out.display());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn skip_reason(summary: &Value, name: &str) -> Option<String> {
    summary["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"].as_str().unwrap().contains(name))
        .map(|s| s["reason"].as_str().unwrap().to_string())
}

/// The GitHub Pages workflow: build, `git init` in the site, add a CNAME, a page and a folder,
/// rebuild with images added and removed. Everything of the user's is still there; our stale
/// files are gone; the manifest lists only our files.
#[test]
fn a_rebuild_keeps_every_file_the_user_added() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    build(&images, &site, &[]);
    let git = std::process::Command::new("git").args(["init", "-q"]).current_dir(&site).status();
    if !git.is_ok_and(|s| s.success()) {
        fs::create_dir_all(site.join(".git")).unwrap();
        write(&site.join(".git/HEAD"), b"ref: refs/heads/main\n");
    }
    write(&site.join("CNAME"), b"gallery.example.org\n");
    write(&site.join("about.html"), b"<h1>About</h1>");
    fs::create_dir_all(site.join("thumbs/mine")).unwrap();
    write(&site.join("thumbs/mine/logo.png"), b"user file inside one of our folders");
    fs::create_dir_all(site.join("press")).unwrap();
    write(&site.join("press/kit.txt"), b"press kit");
    let removed_thumb =
        manifest(&site)["images"].as_array().unwrap().iter().find(|i| i["path"] == "color-1.png").unwrap()["thumb"].as_str().unwrap().to_string();

    fs::remove_file(images.join("color-1.png")).unwrap();
    solid_png(&images.join("new.png"), [10, 200, 200], 32, 32);
    let summary = build(&images, &site, &[]);
    assert_eq!(summary["indexed"], 9);

    assert!(site.join(".git/HEAD").is_file(), ".git survived");
    assert_eq!(fs::read(site.join("CNAME")).unwrap(), b"gallery.example.org\n");
    assert_eq!(fs::read(site.join("about.html")).unwrap(), b"<h1>About</h1>");
    assert_eq!(fs::read(site.join("press/kit.txt")).unwrap(), b"press kit");
    assert!(site.join("thumbs/mine/logo.png").is_file());
    assert!(!site.join(&removed_thumb).exists(), "our stale thumbnail is removed");
    let files: Vec<String> = manifest(&site)["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
    for user in ["CNAME", "about.html", "press/kit.txt", "thumbs/mine/logo.png"] {
        assert!(!files.iter().any(|f| f == user), "{user} must not be listed as ours");
    }
    for ours in ["index.html", "index/head.bin", "chromatica.json"] {
        assert!(files.iter().any(|f| f == ours), "{ours} missing from the manifest");
    }
    for f in &files {
        assert!(site.join(f).is_file(), "manifest lists {f}, which is not there");
    }
    // Nothing of the build's own bookkeeping is left in the published folder.
    let dot: Vec<_> = fs::read_dir(&site)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n != ".git")
        .collect();
    assert!(dot.is_empty(), "{dot:?}");
}

/// A browser extension's folder has a `manifest.json` too: it is not a site of ours. Refused
/// without `--force`; with it, the site is added and nothing of theirs changes; a file of theirs
/// where ours would go makes the build refuse, changing nothing.
#[test]
fn a_folder_that_only_looks_like_a_site_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    let ext = tmp.path().join("myextension");
    fs::create_dir_all(&ext).unwrap();
    write(&ext.join("manifest.json"), br#"{"manifest_version": 3, "name": "my extension"}"#);
    write(&ext.join("background.js"), b"chrome.runtime.onInstalled.addListener(() => {});");
    let err = build_err(&images, &ext, &[]);
    assert!(err.contains("not a Chromatica site") && err.contains("--force"), "{err}");
    assert_eq!(fs::read_dir(&ext).unwrap().count(), 2, "nothing was added");

    let summary = build(&images, &ext, &["--force"]);
    assert_eq!(summary["indexed"], 9);
    assert_eq!(fs::read(ext.join("manifest.json")).unwrap(), br#"{"manifest_version": 3, "name": "my extension"}"#);
    assert!(ext.join("background.js").is_file() && ext.join("index.html").is_file());
    // Now it is ours too: a rebuild needs no --force and still keeps their files.
    solid_png(&images.join("more.png"), [1, 100, 200], 16, 16);
    build(&images, &ext, &[]);
    assert!(ext.join("manifest.json").is_file() && ext.join("background.js").is_file());

    let page = tmp.path().join("homepage");
    fs::create_dir_all(&page).unwrap();
    write(&page.join("index.html"), b"<p>my own page</p>");
    let err = build_err(&images, &page, &["--force"]);
    assert!(err.contains("index.html") && err.contains("nothing was changed"), "{err}");
    let left: Vec<String> = fs::read_dir(&page).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(left, ["index.html"]);
    assert_eq!(fs::read(page.join("index.html")).unwrap(), b"<p>my own page</p>");
}

/// A site written by the previous version (manifest.json, `.chromatica-cache` inside) is
/// recognised and upgraded in place: its files are replaced, the user's stay.
#[test]
fn a_site_of_the_previous_version_is_upgraded_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    fs::create_dir_all(site.join("thumbs")).unwrap();
    write(&site.join("manifest.json"), br#"{"format_version": 1, "generator": "chromatica 0.1.0", "images": []}"#);
    write(&site.join(".chromatica-cache"), b"old cache with private mtimes");
    write(&site.join("bundle.bin"), b"old bundle");
    write(&site.join("thumbs/0123456789abcdef.jpg"), b"old thumb");
    write(&site.join("CNAME"), b"example.org");
    build(&images, &site, &[]);
    assert!(!site.join("manifest.json").exists() && !site.join(".chromatica-cache").exists());
    assert!(!site.join("thumbs/0123456789abcdef.jpg").exists());
    assert!(!site.join("bundle.bin").exists(), "the old index is ours and replaced");
    assert!(site.join("index/head.bin").is_file());
    assert_eq!(fs::read(site.join("CNAME")).unwrap(), b"example.org");
}

/// Originals are copies: no shared inode, a private photo stays private when the site is made
/// world-readable, and writing into the site never changes the user's photo. Symlinked inputs are
/// published as regular files.
#[test]
fn originals_are_independent_copies() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    let photo = images.join("private.png");
    solid_png(&photo, [200, 30, 30], 40, 30);
    fs::set_permissions(&photo, fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("private.png", images.join("alias.png")).unwrap();
    let before = fs::read(&photo).unwrap();
    build(&images, &site, &[]);
    let original = site.join(manifest(&site)["images"][0]["original"].as_str().unwrap());
    let (src, copy) = (fs::metadata(&photo).unwrap(), fs::symlink_metadata(&original).unwrap());
    assert!(copy.file_type().is_file(), "a regular file, not a link");
    assert_ne!(src.ino(), copy.ino(), "not a hard link");
    assert_eq!(src.nlink(), 1);
    fs::set_permissions(&original, fs::Permissions::from_mode(0o644)).unwrap();
    write(&original, b"vandalised");
    assert_eq!(fs::metadata(&photo).unwrap().mode() & 0o777, 0o600, "the user's photo stays private");
    assert_eq!(fs::read(&photo).unwrap(), before, "the user's photo is unchanged");
    for entry in walkdir::WalkDir::new(&site) {
        assert!(!entry.unwrap().path_is_symlink(), "no symlinks in the site");
    }
}

/// A symlink out of the images folder (to a private folder, or a private file) is skipped with a
/// reason unless `--follow-symlinks`; links inside the folder are fine.
#[test]
fn symlinks_out_of_the_images_folder_are_skipped_unless_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site, private) = (tmp.path().join("images"), tmp.path().join("site"), tmp.path().join("private"));
    fs::create_dir_all(&images).unwrap();
    fs::create_dir_all(&private).unwrap();
    good_images(&images);
    solid_png(&private.join("secret.png"), [5, 5, 5], 8, 8);
    solid_png(&private.join("diary.png"), [6, 6, 6], 8, 8);
    std::os::unix::fs::symlink(&private, images.join("linked-folder")).unwrap();
    std::os::unix::fs::symlink(private.join("diary.png"), images.join("linked-file.png")).unwrap();
    std::os::unix::fs::symlink(images.join("nested"), images.join("inner-link")).unwrap();
    let summary = build(&images, &site, &[]);
    for name in ["linked-folder", "linked-file.png"] {
        let reason = skip_reason(&summary, name).unwrap_or_else(|| panic!("{name} not skipped: {summary}"));
        assert!(reason.contains("--follow-symlinks"), "{reason}");
    }
    let paths = indexed_paths(&site);
    assert!(!paths.iter().any(|p| p.contains("secret") || p.contains("linked")), "{paths:?}");
    assert!(paths.contains(&"inner-link/deeper/gradient.jpg".to_string()), "{paths:?}");

    let summary = build(&images, &site, &["--follow-symlinks"]);
    assert!(skip_reason(&summary, "linked").is_none(), "{summary}");
    let paths = indexed_paths(&site);
    assert!(paths.contains(&"linked-folder/secret.png".to_string()) && paths.contains(&"linked-file.png".to_string()), "{paths:?}");
}

/// A PNG of `w`x`h` RGB pixels, all black, compressed fast: small on disk, large when decoded.
fn large_png(path: &Path, w: u32, h: u32) {
    let file = std::io::BufWriter::new(fs::File::create(path).unwrap());
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header().unwrap().into_stream_writer().unwrap();
    let row = vec![0u8; w as usize * 3];
    for _ in 0..h {
        std::io::Write::write_all(&mut writer, &row).unwrap();
    }
    writer.finish().unwrap();
}

/// Peak memory stays under 1 GB whatever `--jobs`: a PNG declaring 10950x10950 is refused from its
/// header, a 1 GB sparse file from its size, and three 7000x7000 PNGs (about 350 MB each to
/// decode) are all indexed, but never three at once.
#[test]
fn memory_is_bounded_by_the_budget_at_any_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    large_png(&images.join("huge.png"), 10950, 10950);
    large_png(&images.join("big-1.png"), 7000, 7000);
    for i in 2..=3 {
        fs::copy(images.join("big-1.png"), images.join(format!("big-{i}.png"))).unwrap();
    }
    let sparse = fs::File::create(images.join("sparse.jpg")).unwrap();
    sparse.set_len(1 << 30).unwrap();
    drop(sparse);
    let summary = build(&images, &site, &["--jobs", "8"]);
    let huge = skip_reason(&summary, "huge.png").expect("huge.png skipped");
    assert!(huge.contains("memory budget") && huge.contains("10950x10950"), "{huge}");
    let sparse = skip_reason(&summary, "sparse.jpg").expect("sparse.jpg skipped");
    assert!(sparse.contains("too large"), "{sparse}");
    assert_eq!(summary["indexed"], 9 + 3, "{summary}");
    let peak = summary["peak_memory_bytes"].as_u64().unwrap();
    assert!(peak > 300_000_000, "a 7000x7000 image was decoded: peak {peak}");
    assert!(peak < 1_000_000_000, "peak memory {peak} bytes");
    // A smaller budget refuses the big ones with a reason naming the option.
    let small = build(&images, &tmp.path().join("small"), &["--max-memory", "200"]);
    assert!(skip_reason(&small, "big-1.png").unwrap().contains("--max-memory"), "{small}");
    assert!(small["peak_memory_bytes"].as_u64().unwrap() < 400_000_000, "{small}");
}

/// A file deleted while the build runs is skipped with a reason; the build finishes.
#[test]
fn a_file_that_vanishes_mid_build_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    for i in 0..200u32 {
        let img = image::RgbImage::from_fn(900, 700, |x, y| image::Rgb([(x ^ i) as u8, (y + i) as u8, (x * y) as u8]));
        img.save(images.join(format!("big{i:03}.jpg"))).unwrap();
    }
    solid_png(&images.join("zz-last.png"), [1, 2, 3], 16, 16);
    let child = bin()
        .args(["build", images.to_str().unwrap(), "--out", site.to_str().unwrap(), "--json", "--jobs", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    fs::remove_file(images.join("zz-last.png")).unwrap();
    let out = child.wait_with_output().unwrap();
    let summary = stdout_json(&out);
    assert_eq!(summary["indexed"], 200, "{summary}");
    let reason = skip_reason(&summary, "zz-last.png").expect("the vanished file is reported");
    assert!(reason.contains("deleted") || reason.contains("changed"), "{reason}");
}

/// Two builds into one folder: the second refuses at once, the first completes. Folders that
/// merely look like our temporary ones are left alone, and a staging folder without our marker is
/// never removed.
#[test]
fn concurrent_builds_and_lookalike_folders_are_safe() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    for i in 0..150u32 {
        let img = image::RgbImage::from_fn(900, 700, |x, y| image::Rgb([(x ^ i) as u8, (y + i) as u8, (x * y) as u8]));
        img.save(images.join(format!("big{i:03}.jpg"))).unwrap();
    }
    for name in [".site.tmp-1", ".site.old-2", ".site.tmp-99999"] {
        fs::create_dir_all(tmp.path().join(name)).unwrap();
        write(&tmp.path().join(name).join("keep.txt"), b"mine");
    }
    let first = bin()
        .args(["build", images.to_str().unwrap(), "--out", site.to_str().unwrap(), "--json", "--jobs", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let err = build_err(&images, &site, &[]);
    assert!(err.contains("another chromatica build"), "{err}");
    let summary = stdout_json(&first.wait_with_output().unwrap());
    assert_eq!(summary["indexed"], 159);
    assert_eq!(stdout_json(&run(&["info", site.to_str().unwrap(), "--json"]))["images"], 159);
    for name in [".site.tmp-1", ".site.old-2", ".site.tmp-99999"] {
        assert!(tmp.path().join(name).join("keep.txt").is_file(), "{name} was removed");
    }
    fs::create_dir_all(site.join(".chromatica-staging")).unwrap();
    write(&site.join(".chromatica-staging/notes.txt"), b"mine");
    let err = build_err(&images, &site, &[]);
    assert!(err.contains("not made by chromatica"), "{err}");
    assert!(site.join(".chromatica-staging/notes.txt").is_file());
}

/// A corrupt cache only costs time: the build decodes everything again and the site works.
#[test]
fn a_corrupt_cache_is_recomputed() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site, cache) = (tmp.path().join("images"), tmp.path().join("site"), tmp.path().join("cache"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    let build_with_cache = || {
        let out = bin()
            .env("CHROMATICA_CACHE_DIR", &cache)
            .args(["build", images.to_str().unwrap(), "--out", site.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        stdout_json(&out)
    };
    assert_eq!(build_with_cache()["decoded"], 9);
    assert_eq!(build_with_cache()["reused"], 9, "the cache works");
    let files: Vec<_> = walkdir::WalkDir::new(&cache).into_iter().flatten().filter(|e| e.file_type().is_file()).map(|e| e.into_path()).collect();
    assert_eq!(files.len(), 1, "one cache file, outside the site: {files:?}");
    let mut bytes = fs::read(&files[0]).unwrap();
    let len = bytes.len();
    for i in (len / 3..len).step_by(7) {
        bytes[i] = 0xFF;
    }
    fs::write(&files[0], &bytes).unwrap();
    let again = build_with_cache();
    assert_eq!(again["indexed"], 9);
    let r = stdout_json(&run(&["search", site.to_str().unwrap(), "--colors", "E61414", "-k", "1", "--json"]));
    assert_eq!(r["results"][0]["path"], "color-0.png");
    fs::write(&files[0], b"garbage").unwrap();
    assert_eq!(build_with_cache()["decoded"], 9);
}

/// Escape sequences in a file name are printed escaped, not sent to the terminal.
#[test]
fn file_names_cannot_drive_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    write(&images.join("\u{1b}]0;pwned\u{7}\u{1b}[2J.png"), b"not an image");
    let out = run(&["build", images.to_str().unwrap(), "--out", site.to_str().unwrap()]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\\u{1b}]0;pwned\\u{7}"), "{stderr}");
    assert!(!out.stderr.iter().chain(&out.stdout).any(|&b| b == 0x1b || b == 0x07), "raw control bytes printed: {stderr:?}");
}

/// A folder of ours replaced by a symlink (to the user's photos, say) is refused: a build never
/// writes or removes anything through it, in a current site or one of the previous version.
#[test]
fn a_symlinked_folder_in_the_site_is_never_written_through() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site, photos) = (tmp.path().join("images"), tmp.path().join("site"), tmp.path().join("photos"));
    fs::create_dir_all(&images).unwrap();
    fs::create_dir_all(&photos).unwrap();
    good_images(&images);
    write(&photos.join("IMG_0001.jpg"), b"a precious photo");
    build(&images, &site, &[]);
    fs::rename(site.join("thumbs"), tmp.path().join("old-thumbs")).unwrap();
    std::os::unix::fs::symlink(&photos, site.join("thumbs")).unwrap();
    let err = build_err(&images, &site, &[]);
    assert!(err.contains("not a folder"), "{err}");
    // The same in a site of the previous version, whose files were not listed.
    let legacy = tmp.path().join("legacy");
    fs::create_dir_all(&legacy).unwrap();
    write(&legacy.join("manifest.json"), br#"{"format_version": 1, "generator": "chromatica 0.1.0"}"#);
    std::os::unix::fs::symlink(&photos, legacy.join("thumbs")).unwrap();
    let err = build_err(&images, &legacy, &[]);
    assert!(err.contains("not a folder"), "{err}");
    assert_eq!(fs::read(photos.join("IMG_0001.jpg")).unwrap(), b"a precious photo");
    assert_eq!(fs::read_dir(&photos).unwrap().count(), 1, "nothing was written into the photos");
}

/// `--force` into a folder that has a `chromatica.json` of another tool refuses, changing nothing.
#[test]
fn force_never_replaces_a_foreign_chromatica_json() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, out) = (tmp.path().join("images"), tmp.path().join("out"));
    fs::create_dir_all(&images).unwrap();
    fs::create_dir_all(&out).unwrap();
    good_images(&images);
    write(&out.join("chromatica.json"), br#"{"theme": "dark"}"#);
    let err = build_err(&images, &out, &["--force"]);
    assert!(err.contains("chromatica.json") && err.contains("nothing was changed"), "{err}");
    assert_eq!(fs::read(out.join("chromatica.json")).unwrap(), br#"{"theme": "dark"}"#);
    assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
}

//! The `chromatica` binary end to end: builds from generated images (good and hostile), search,
//! info, determinism, incremental rebuilds, atomic replacement under SIGKILL, argument errors.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

#[test]
fn builds_a_site_and_searches_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    let summary = build(&images, &site, &[]);
    assert_eq!(summary["indexed"], 9);
    assert_eq!(summary["skipped"].as_array().unwrap().len(), 0);
    for file in [
        "index.html",
        "index/head.bin",
        "index/head.js",
        "chromatica.json",
        "chromatica_bg.wasm",
        "chromatica_wasm.js",
        "worker.js",
        "worker-threads.js",
        "threads/chromatica_worker.js",
        "threads/chromatica_worker_bg.wasm",
    ] {
        assert!(site.join(file).is_file(), "{file} missing");
    }
    // Static hosts that read `_headers` give the page cross-origin isolation (wasm threads).
    let headers = fs::read_to_string(site.join("_headers")).unwrap();
    assert!(headers.contains("Cross-Origin-Opener-Policy: same-origin") && headers.contains("Cross-Origin-Embedder-Policy: require-corp"));
    let r = search(&site, "E61414", "3");
    assert_eq!(r["results_count"], 3);
    assert_eq!(r["results"][0]["path"], "color-0.png", "{r}");
    // Entropic OT blurs even identical histograms a little, but the match stays far ahead.
    let (d0, d1) = (r["results"][0]["distance"].as_f64().unwrap(), r["results"][1]["distance"].as_f64().unwrap());
    assert!(d0 < 20.0 && d0 * 2.0 < d1, "{d0} vs {d1}");
    let thumb = r["results"][0]["thumb"].as_str().unwrap();
    assert!(site.join(thumb).is_file());
    assert!(site.join(r["results"][0]["original"].as_str().unwrap()).is_file());
    for key in ["query_time_ms", "ann_time_ms", "rerank_time_ms", "total_time_ms"] {
        assert!(r["metadata"][key].as_f64().unwrap() >= 0.0);
    }
    assert_eq!(r["metadata"]["index_size"], 9);
    assert_eq!(r["query"]["colors"][0], "E61414");
    let nested = search(&site, "#2828ff", "9");
    assert!(nested["results"].as_array().unwrap().iter().any(|x| x["path"] == "nested/deeper/gradient.jpg"));
    let info = stdout_json(&run(&["info", site.to_str().unwrap(), "--json"]));
    assert_eq!(info["images"], 9);
    assert_eq!(info["index_bytes"], summary["index_bytes"], "info counts every file the build wrote");
    assert!(info["term_bytes"].as_u64().unwrap() > 0 && info["page_table_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn version_names_the_embedded_app() {
    let out = run(&["--version"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let fingerprint = text.trim().strip_suffix(')').and_then(|t| t.rsplit_once("(web app ")).map(|(_, f)| f.to_string());
    let fingerprint = fingerprint.unwrap_or_else(|| panic!("no app fingerprint in {text:?}"));
    assert!(fingerprint.len() == 16 && fingerprint.chars().all(|c| c.is_ascii_hexdigit()), "{text:?}");
}

#[test]
fn same_input_gives_a_byte_identical_index_whatever_the_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    for i in 0..30u8 {
        gradient_jpeg(&images.join(format!("g{i:02}.jpg")), i.wrapping_mul(8));
    }
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    build(&images, &a, &["--jobs", "1"]);
    build(&images, &b, &["--jobs", "2"]);
    assert_eq!(index_files(&a), index_files(&b));
    assert_eq!(fs::read(a.join("chromatica.json")).unwrap(), fs::read(b.join("chromatica.json")).unwrap());
}

#[test]
fn rebuild_decodes_only_new_and_changed_files_and_drops_removed_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    let first = build(&images, &site, &[]);
    assert_eq!(first["decoded"], 9);
    let index_before = index_files(&site);

    let again = build(&images, &site, &[]);
    assert_eq!((again["decoded"].as_u64(), again["reused"].as_u64()), (Some(0), Some(9)));
    assert_eq!(index_files(&site), index_before, "unchanged input, same index");

    solid_png(&images.join("new-a.png"), [10, 200, 200], 32, 32);
    solid_png(&images.join("new-b.png"), [200, 10, 200], 32, 32);
    solid_png(&images.join("color-0.png"), [0, 0, 0], 64, 48); // changed content
    fs::remove_file(images.join("color-1.png")).unwrap();
    let third = build(&images, &site, &[]);
    assert_eq!(third["decoded"], 3, "{third}");
    assert_eq!(third["indexed"], 10);
    let paths: Vec<String> = serde_json::from_slice::<Value>(&fs::read(site.join("chromatica.json")).unwrap()).unwrap()["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_string())
        .collect();
    assert!(!paths.contains(&"color-1.png".to_string()));
    assert!(paths.contains(&"new-a.png".to_string()));
}

/// A JPEG with an EXIF orientation tag (6 = rotate 90° clockwise to display).
fn rotated_jpeg(path: &Path) {
    let mut jpeg = Vec::new();
    let img = image::RgbImage::from_fn(80, 40, |x, _| if x < 40 { image::Rgb([255, 0, 0]) } else { image::Rgb([0, 0, 255]) });
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&img).unwrap();
    // APP1 "Exif\0\0" + little-endian TIFF with one IFD entry: 0x0112 SHORT 1 = 6.
    let mut tiff = vec![b'I', b'I', 42, 0, 8, 0, 0, 0, 1, 0];
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    write(path, &out);
}

/// A PNG whose header declares 100000 x 100000 pixels (a decompression bomb) with almost no data.
fn bomb_png(path: &Path) {
    let mut png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png, 1, 1);
        enc.set_color(png::ColorType::Rgb);
        enc.write_header().unwrap().write_image_data(&[1, 2, 3]).unwrap();
    }
    // Patch IHDR width/height (bytes 16..24) and its CRC.
    png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    write(path, &png);
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn hostile_and_unusual_files_are_skipped_with_reasons_or_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    // Bad ones.
    write(&images.join("empty.jpg"), b"");
    let mut truncated = Vec::new();
    image::codecs::jpeg::JpegEncoder::new(&mut truncated).encode_image(&image::RgbImage::new(64, 64)).unwrap();
    write(&images.join("truncated.jpg"), &truncated[..truncated.len() / 3]);
    write(&images.join("not-an-image.png"), b"<html>hello</html>");
    bomb_png(&images.join("bomb.png"));
    image::RgbaImage::from_pixel(8, 8, image::Rgba([255, 0, 0, 0])).save(images.join("transparent.png")).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&images, images.join("nested/loop")).unwrap();
        std::os::unix::fs::symlink(images.join("missing.jpg"), images.join("dangling.jpg")).unwrap();
    }
    // Unusual but valid ones.
    image::GrayImage::from_pixel(40, 30, image::Luma([128])).save(images.join("gray.jpg")).unwrap();
    image::ImageBuffer::<image::Rgb<u16>, _>::from_pixel(20, 20, image::Rgb([65535u16, 0, 0])).save(images.join("sixteen.png")).unwrap();
    {
        let mut data = Vec::new();
        let mut enc = png::Encoder::new(&mut data, 4, 4);
        enc.set_color(png::ColorType::Indexed);
        enc.set_palette(vec![0, 255, 0, 0, 0, 255]);
        enc.write_header().unwrap().write_image_data(&[0u8; 16]).unwrap();
        write(&images.join("palette.png"), &data);
    }
    {
        let mut gif = Vec::new();
        let mut enc = image::codecs::gif::GifEncoder::new(&mut gif);
        let f1 = image::Frame::new(image::RgbaImage::from_pixel(10, 10, image::Rgba([0, 0, 255, 255])));
        let f2 = image::Frame::new(image::RgbaImage::from_pixel(10, 10, image::Rgba([255, 255, 0, 255])));
        enc.encode_frames([f1, f2]).unwrap();
        drop(enc);
        write(&images.join("animated.gif"), &gif);
    }
    {
        let mut cmyk = Vec::new();
        let enc = jpeg_encoder::Encoder::new(&mut cmyk, 90);
        let pixels: Vec<u8> = (0..16 * 16).flat_map(|_| [255u8, 0, 0, 0]).collect(); // pure cyan ink
        enc.encode(&pixels, 16, 16, jpeg_encoder::ColorType::Cmyk).unwrap();
        write(&images.join("cmyk.jpg"), &cmyk);
    }
    rotated_jpeg(&images.join("rotated.jpg"));
    solid_png(&images.join("<img src=x onerror=alert(1)>.png"), [1, 2, 3], 4, 4);
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        solid_png(&images.join(std::ffi::OsStr::from_bytes(b"latin1-\xe9t\xe9.png")), [9, 9, 9], 4, 4);
    }

    let summary = build(&images, &site, &[]);
    let skipped: Vec<(String, String)> = summary["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["path"].as_str().unwrap().to_string(), s["reason"].as_str().unwrap().to_string()))
        .collect();
    let reason =
        |name: &str| skipped.iter().find(|s| s.0.contains(name)).map(|s| s.1.clone()).unwrap_or_else(|| panic!("{name} not skipped: {skipped:?}"));
    assert!(reason("empty.jpg").contains("empty"));
    assert!(reason("truncated.jpg").to_lowercase().contains("jpeg"), "{}", reason("truncated.jpg"));
    assert!(reason("not-an-image.png").contains("not a recognised image"));
    assert!(reason("bomb.png").contains("too large"), "{}", reason("bomb.png"));
    assert!(reason("transparent.png").contains("transparent"));
    #[cfg(unix)]
    {
        assert!(reason("loop").contains("loop"), "{}", reason("loop"));
        assert!(reason("dangling.jpg").contains("No such file"), "{}", reason("dangling.jpg"));
    }
    let indexed = summary["indexed"].as_u64().unwrap();
    assert_eq!(indexed as usize, 9 + 8, "{summary}");

    let manifest: Value = serde_json::from_slice(&fs::read(site.join("chromatica.json")).unwrap()).unwrap();
    let find = |name: &str| manifest["images"].as_array().unwrap().iter().find(|i| i["path"].as_str().unwrap().contains(name)).cloned().unwrap();
    // EXIF orientation 6: the 80x40 image is shown 40x80 and its thumbnail is upright.
    let rotated = find("rotated.jpg");
    assert_eq!((rotated["width"].as_u64(), rotated["height"].as_u64()), (Some(40), Some(80)));
    let thumb = image::open(site.join(rotated["thumb"].as_str().unwrap())).unwrap().to_rgb8();
    assert_eq!(thumb.dimensions(), (40, 80));
    let top = thumb.get_pixel(20, 5);
    let bottom = thumb.get_pixel(20, 75);
    assert!(top[0] > 200 && top[2] < 80, "top should be red after rotation: {top:?}");
    assert!(bottom[2] > 200 && bottom[0] < 80, "bottom should be blue: {bottom:?}");
    // The hostile name is kept as data; files are named by hash only.
    let hostile = find("onerror");
    assert_eq!(hostile["path"], "<img src=x onerror=alert(1)>.png");
    assert!(hostile["thumb"].as_str().unwrap().chars().all(|c| c.is_ascii_alphanumeric() || c == '/' || c == '.'));
    assert!(find("latin1-").get("path").unwrap().as_str().unwrap().contains('\u{FFFD}'));
    // CMYK cyan is found by a cyan query.
    let r = search(&site, "00FFFF", "3");
    let palettes: Vec<String> = r["results"].as_array().unwrap().iter().map(|x| format!("{} {}", x["path"], x["palette"])).collect();
    assert!(r["results"].as_array().unwrap().iter().any(|x| x["path"] == "cmyk.jpg"), "{palettes:?}");
}

#[test]
fn bad_arguments_fail_with_clear_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    fs::create_dir_all(&images).unwrap();
    let err = |args: &[&str]| {
        let out = run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let missing = tmp.path().join("nope");
    assert!(err(&["build", missing.to_str().unwrap(), "--out", "x"]).contains("cannot open the images folder"));
    assert!(err(&["build", images.to_str().unwrap(), "--out", tmp.path().join("o").to_str().unwrap()]).contains("no images found"));
    good_images(&images);
    let inside = images.join("site");
    assert!(err(&["build", images.to_str().unwrap(), "--out", inside.to_str().unwrap()]).contains("inside the images folder"));
    let precious = tmp.path().join("precious");
    fs::create_dir_all(&precious).unwrap();
    write(&precious.join("thesis.txt"), b"do not delete");
    assert!(err(&["build", images.to_str().unwrap(), "--out", precious.to_str().unwrap()]).contains("not a Chromatica site"));
    assert!(precious.join("thesis.txt").exists());
    // Bad queries and bad sites.
    let site = tmp.path().join("site");
    build(&images, &site, &[]);
    assert!(err(&["search", site.to_str().unwrap(), "--colors", "GG0000"]).contains("not a hex color"));
    assert!(err(&["search", site.to_str().unwrap(), "--colors", "FF0000,00FF00", "--weights", "1"]).contains("2 colors but 1 weights"));
    assert!(err(&["search", site.to_str().unwrap(), "--colors", "1,2,3,4,5,6"]).contains("at most 5 colors"));
    let files = index_files(&site);
    let shard = files.iter().find(|(name, bytes)| name.ends_with(".bin") && common::inflate(bytes).starts_with(b"CHROMSHD")).unwrap();
    // Damaged as stored (gzip), then inside.
    let mut flipped = shard.1.clone();
    let at = flipped.len() - 3;
    flipped[at] ^= 1;
    write(&site.join(shard.0), &flipped);
    assert!(err(&["info", site.to_str().unwrap()]).contains("not a valid compressed index file"));
    let mut flipped = common::inflate(shard.1);
    let at = flipped.len() - 3;
    flipped[at] ^= 1;
    write(&site.join(shard.0), &common::store(&flipped));
    assert!(err(&["info", site.to_str().unwrap()]).contains("checksum"));
    // A search says which file is damaged and answers from what is left (here: nothing).
    let out = run(&["search", site.to_str().unwrap(), "--colors", "FF0000"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("warning: {}", shard.0)), "{}", String::from_utf8_lossy(&out.stderr));
    let head = common::inflate(&files["index/head.bin"]);
    write(&site.join("index/head.bin"), &common::store(&head[..head.len() / 2]));
    assert!(err(&["info", site.to_str().unwrap()]).contains("truncated"));
}

#[cfg(unix)]
#[test]
fn a_killed_build_leaves_the_previous_site_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    build(&images, &site, &[]);
    let before = index_files(&site);
    // Enough work that the kill lands mid-build.
    for i in 0..400u32 {
        let img = image::RgbImage::from_fn(900, 700, |x, y| image::Rgb([(x ^ i) as u8, (y + i) as u8, (x * y) as u8]));
        img.save(images.join(format!("big{i:03}.jpg"))).unwrap();
    }
    for delay_ms in [50u64, 300, 900] {
        let mut child = bin()
            .args(["build", images.to_str().unwrap(), "--out", site.to_str().unwrap(), "--json", "--jobs", "2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        assert!(!finished, "build finished before the kill; make the test input larger");
        assert!(index_files(&site) == before, "killed after {delay_ms} ms");
        assert!(stdout_json(&run(&["info", site.to_str().unwrap(), "--json"]))["images"] == 9);
    }
    // The next build cleans the leftovers and completes.
    let done = build(&images, &site, &[]);
    assert_eq!(done["indexed"], 409);
    assert!(!site.join(".chromatica-staging").exists(), "the killed builds' staging folder is removed");
    let leftovers: Vec<PathBuf> =
        fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.')).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// 450 small images of distinct colors.
fn many_images(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for i in 0..450u32 {
        let c = [(i * 37 % 256) as u8, (i * 91 % 256) as u8, (i * 13 % 256) as u8];
        let img = image::RgbImage::from_fn(12, 8, |x, _| if x < 6 { image::Rgb(c) } else { image::Rgb([c[1], c[2], c[0]]) });
        img.save(dir.join(format!("c{i:03}.png"))).unwrap();
    }
}

/// `rerank_k` has one owner per level: the site's build setting, which `search` and `eval` use
/// by default, and a query's own value, which is honoured even above the site's (wider than the
/// HNSW graph's search width, the shard's vectors are scanned).
#[test]
fn rerank_k_is_the_sites_unless_a_query_names_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    many_images(&images);
    build(&images, &site, &["--rerank-k", "50"]);
    let info = stdout_json(&run(&["info", site.to_str().unwrap(), "--json"]));
    assert_eq!(info["params"]["rerank_k"], 50);
    let s = site.to_str().unwrap();
    let candidates = |extra: &[&str]| {
        let mut args = vec!["search", s, "--colors", "FF8000,0080FF", "--json"];
        args.extend_from_slice(extra);
        stdout_json(&run(&args))["metadata"]["candidates"].as_u64().unwrap()
    };
    assert_eq!(candidates(&[]), 50, "the site's value");
    assert_eq!(candidates(&["--rerank-k", "20"]), 20);
    assert_eq!(candidates(&["--rerank-k", "400"]), 400, "more than the site's, really reranked");
    let eval = run(&["eval", s, "--queries", "3"]);
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let table = String::from_utf8_lossy(&eval.stdout);
    let rows: Vec<&str> = table.lines().skip_while(|l| !l.trim_start().starts_with("probe")).skip(1).collect();
    assert_eq!(rows.len(), 1, "{table}");
    let cells: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(&cells[..2], &["10240", "50"], "the site's probe width and rerank_k: {table}");
    let recall: f64 = cells[2].parse().unwrap();
    assert!(recall > 0.5, "{table}");
    // --truth keeps the exhaustive top 10 between runs, and only for the site and queries it was
    // computed for.
    let truth = tmp.path().join("truth.txt");
    let t = truth.to_str().unwrap();
    let table = |args: &[&str]| String::from_utf8_lossy(&run(args).stdout).into_owned();
    let first = table(&["eval", s, "--queries", "3", "--truth", t]);
    assert!(!first.contains("read from") && truth.exists(), "{first}");
    let again = table(&["eval", s, "--queries", "3", "--truth", t]);
    assert!(again.contains("read from"), "{again}");
    let row = |t: &str| -> Option<String> {
        t.lines().find(|l| l.trim_start().starts_with("10240")).map(|l| l.split_whitespace().take(4).collect::<Vec<_>>().join(" "))
    };
    assert_eq!(row(&first), row(&again), "the same recall from the kept top 10");
    let other = table(&["eval", s, "--queries", "4", "--truth", t]);
    assert!(other.contains("computing it again"), "{other}");
    // A file that is not one of these is never written over.
    let notes = tmp.path().join("notes.txt");
    fs::write(&notes, "my notes").unwrap();
    let refused = run(&["eval", s, "--queries", "3", "--truth", notes.to_str().unwrap()]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("no file of `chromatica eval --truth`"));
    assert_eq!(fs::read_to_string(&notes).unwrap(), "my notes");
    let sweep = run(&["eval", s, "--queries", "3", "--probe", "100,8192", "--rerank-k", "20,50"]);
    assert_eq!(String::from_utf8_lossy(&sweep.stdout).lines().skip_while(|l| !l.trim_start().starts_with("probe")).count(), 5);
    let err = String::from_utf8_lossy(&run(&["search", s, "--colors", "FF0000", "--rerank-k", "0"]).stderr).into_owned();
    assert!(err.contains("rerank_k must be a whole number"), "{err}");
}

/// The three query kinds of the page, from the command line: colors, an example image, "more
/// like this"; the same JSON shape, and an example image of one of the site's own photos finds
/// that photo first.
#[test]
fn search_by_example_image_and_similar() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    build(&images, &site, &[]);
    let s = site.to_str().unwrap();
    let by_image = stdout_json(&run(&["search", s, "--image", images.join("color-2.png").to_str().unwrap(), "-k", "3", "--json"]));
    assert_eq!(by_image["query"]["mode"], "image");
    assert_eq!(by_image["results"][0]["path"], "color-2.png", "{by_image}");
    let id = by_image["results"][0]["id"].as_u64().unwrap().to_string();
    let similar = stdout_json(&run(&["search", s, "--similar", &id, "-k", "3", "--json"]));
    assert_eq!(similar["query"]["mode"], "similar");
    assert_eq!(similar["query"]["similar_to"].as_u64().unwrap().to_string(), id);
    assert_eq!(similar["results"][0]["path"], "color-2.png");
    for key in ["query", "results_count", "results", "metadata"] {
        assert!(similar.get(key).is_some() && by_image.get(key).is_some(), "{key}");
    }
    let err = |args: &[&str]| String::from_utf8_lossy(&run(args).stderr).into_owned();
    assert!(err(&["search", s, "--similar", "999"]).contains("there is no image 999"));
    assert!(err(&["search", s, "--image", images.join("missing.png").to_str().unwrap()]).contains("cannot read"));
    write(&images.join("text.png"), b"not an image");
    assert!(err(&["search", s, "--image", images.join("text.png").to_str().unwrap()]).contains("text.png"));
    assert!(err(&["search", s]).contains("--colors"), "one query kind is required");
    assert!(err(&["search", s, "--colors", "FF0000", "--similar", "1"]).contains("cannot be used with"));
}

/// `--any` (the rest of an image may be any color) and `--exclude` (colors to avoid), with the
/// page's validation messages.
#[test]
fn wildcard_and_excluded_colors_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    // A grey picture with a small red patch: a touch of red, the rest anything.
    let img = image::RgbImage::from_fn(100, 100, |x, y| if x < 20 && y < 25 { image::Rgb([230, 20, 20]) } else { image::Rgb([128, 128, 128]) });
    img.save(images.join("grey-with-red.png")).unwrap();
    build(&images, &site, &[]);
    let s = site.to_str().unwrap();
    let paths = |extra: &[&str]| {
        let mut args = vec!["search", s, "--colors", "E61414", "-k", "3", "--json"];
        args.extend_from_slice(extra);
        let r = stdout_json(&run(&args));
        r["results"].as_array().unwrap().iter().map(|x| x["path"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let plain = paths(&[]);
    assert_eq!(plain[0], "color-0.png", "{plain:?}");
    let touch = paths(&["--any", "0.95"]);
    assert!(touch[..2].contains(&"grey-with-red.png".to_string()), "{touch:?}");
    let avoid = paths(&["--exclude", "E61414:20"]);
    assert!(!avoid.iter().any(|p| p == "color-0.png" || p == "grey-with-red.png"), "{avoid:?}");
    assert_eq!(avoid.len(), 3, "k results whenever k images qualify");
    let err = |args: &[&str]| {
        let mut all = vec!["search", s, "--colors", "E61414"];
        all.extend_from_slice(args);
        String::from_utf8_lossy(&run(&all).stderr).into_owned()
    };
    assert!(err(&["--any", "1.5"]).contains("any must be a share"));
    assert!(err(&["--exclude", "00FF00,0000FF,FF0000,FFFFFF"]).contains("at most 3 colors to avoid"));
    assert!(err(&["--exclude", "00FF00:0"]).contains("tolerance"));
}

/// A collection of several shards, rebuilt with one image changed: only the shards that image
/// left and joined (their vectors and pages) and the head are written again; every other index
/// file stays the very same file, so hosts and browsers keep their cached copies.
#[cfg(unix)]
#[test]
fn a_sharded_site_rebuilds_only_the_shards_that_changed() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    let mut state = 0x1234_5678_9ABC_DEF1u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..2300 {
        let (a, b) = (next().to_le_bytes(), next().to_le_bytes());
        let split = 2 + (next() % 12) as u32;
        let img = image::RgbImage::from_fn(16, 16, |x, _| image::Rgb(if x < split { [a[0], a[1], a[2]] } else { [b[0], b[1], b[2]] }));
        img.save(images.join(format!("m{i:04}.png"))).unwrap();
    }
    let first = build(&images, &site, &["--no-originals"]);
    let shards = first["shards"].as_u64().unwrap();
    assert!(shards >= 2, "{first}");
    let info = stdout_json(&run(&["info", site.to_str().unwrap(), "--json"]));
    assert_eq!((info["images"].as_u64(), info["shards"].as_u64()), (Some(2300), Some(shards)));
    // The index's files without their compressed copies (which follow their files).
    let inodes = |site: &Path| -> std::collections::BTreeMap<String, u64> {
        index_files(site)
            .keys()
            .filter(|f| !f.ends_with(".br") && !f.ends_with(".gz"))
            .map(|f| (f.clone(), fs::metadata(site.join(f)).unwrap().ino()))
            .collect()
    };
    // Built in two parts and merged: the same index as the one build, over several shards.
    let parts: Vec<PathBuf> = (1..=2).map(|i| tmp.path().join(format!("part-{i}"))).collect();
    for (i, part) in parts.iter().enumerate() {
        build(&images, part, &["--no-originals", "--part", &format!("{}/2", i + 1)]);
    }
    let merged = tmp.path().join("merged");
    let out = run(&["merge", parts[0].to_str().unwrap(), parts[1].to_str().unwrap(), "--out", merged.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(index_files(&merged) == index_files(&site), "merged parts differ from one build");
    let before = inodes(&site);
    solid_png(&images.join("m0042.png"), [250, 250, 20], 16, 16);
    build(&images, &site, &["--no-originals"]);
    let after = inodes(&site);
    let kept = after.iter().filter(|(f, ino)| before.get(*f) == Some(ino)).count();
    let rewritten: Vec<&String> = after.keys().filter(|f| before.get(*f) != after.get(*f)).collect();
    // A shard's files: its vectors and its pages, each with its .js twin (shards vary in size: 2x).
    let page_images = info["params"]["page_images"].as_u64().unwrap() as usize;
    let per_shard = 2 * (1 + 2 * (2300 / shards as usize).div_ceil(page_images));
    println!("{shards} shards, {} index files: {kept} kept, {} written: {rewritten:?}", after.len(), rewritten.len());
    assert!(rewritten.iter().any(|f| *f == "index/head.bin"));
    assert!(rewritten.len() <= 2 + 2 * per_shard, "{} files rewritten", rewritten.len());
    // At most the two shards the image left and joined; the others are the same files as before.
    let untouched = after.len() - rewritten.len();
    assert!(kept == untouched && untouched > 2 * page_images, "{kept} kept of {}", after.len());
    let r = search(&site, "FAFA14", "1");
    assert_eq!(r["results"][0]["path"], "m0042.png", "{r}");
}

/// A build in parts (`--part I/N`, as a job array would run it) merged with `chromatica merge`
/// gives the site one build of all images gives: the same index files and manifest.
#[test]
fn parts_merged_give_the_same_site_as_one_build() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    many_images(&images);
    good_images(&images);
    let whole = tmp.path().join("whole");
    build(&images, &whole, &[]);
    let parts: Vec<PathBuf> = (1..=3).map(|i| tmp.path().join(format!("part-{i}"))).collect();
    let mut counts = 0;
    for (i, part) in parts.iter().enumerate() {
        let summary = build(&images, part, &["--part", &format!("{}/3", i + 1)]);
        let n = summary["indexed"].as_u64().unwrap();
        assert!(n > 100 && n < 360, "part {} has {n} images", i + 1);
        counts += n;
    }
    assert_eq!(counts, 459, "every image in exactly one part");
    let merged = tmp.path().join("merged");
    let mut args: Vec<&str> = vec!["merge"];
    args.extend(parts.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", merged.to_str().unwrap(), "--json"]);
    let out = run(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout_json(&out)["images"], 459);
    assert!(index_files(&merged) == index_files(&whole), "the merged index differs from one build's");
    assert_eq!(fs::read(merged.join("chromatica.json")).unwrap(), fs::read(whole.join("chromatica.json")).unwrap());
    assert_eq!(search(&merged, "E61414", "3")["results"], search(&whole, "E61414", "3")["results"]);
    // Parts of other settings, a part given twice, or a part missing are refused.
    let other = tmp.path().join("other");
    build(&images, &other, &["--part", "3/3", "--rerank-k", "50"]);
    let merge_err = |list: &[&PathBuf]| {
        let mut args: Vec<&str> = vec!["merge"];
        args.extend(list.iter().map(|p| p.to_str().unwrap()));
        let out = tmp.path().join("refused");
        args.extend(["--out", out.to_str().unwrap()]);
        String::from_utf8_lossy(&run(&args).stderr).into_owned()
    };
    assert!(merge_err(&[&parts[0], &parts[1], &other]).contains("other settings"));
    assert!(merge_err(&[&parts[0], &parts[0], &parts[2]]).contains("given twice"));
    assert!(merge_err(&[&parts[0], &parts[2]]).contains("part(s) 2 of 3 are missing"));
    assert!(merge_err(&[&parts[0], &parts[1], &whole]).contains("not a part"));
    let bad = run(&["build", images.to_str().unwrap(), "--out", tmp.path().join("z").to_str().unwrap(), "--part", "4/3"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("1 <= I <= N"));
}

#[test]
fn a_site_of_its_own_title_from_a_config_file_and_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    fs::write(
        images.join("chromatica.toml"),
        "title = \"Harbour <photos> & co\"\nbase_url = \"https://example.org/harbour\"\naccent = \"#1f6f8f\"\n",
    )
    .unwrap();
    build(&images, &site, &["--description", "Boats, by color"]);
    let html = fs::read_to_string(site.join("index.html")).unwrap();
    let title = "Harbour &lt;photos&gt; &amp; co";
    assert!(html.contains(&format!("<title>{title}</title>")), "{html}");
    assert!(html.contains(&format!("<h1>{title}</h1>")));
    assert!(html.contains(r#"<meta name="description" content="Boats, by color">"#));
    assert!(html.contains(r#"<meta property="og:image" content="https://example.org/harbour/preview.jpg">"#));
    assert!(html.contains(r##"<meta name="theme-color" content="#1F6F8F">"##));
    let preview = image::open(site.join("preview.jpg")).unwrap();
    assert_eq!((preview.width(), preview.height()), (1200, 630));
    let manifest: Value = serde_json::from_slice(&fs::read(site.join("chromatica.json")).unwrap()).unwrap();
    assert_eq!(manifest["site"]["base_url"], "https://example.org/harbour/");
    assert!(manifest["files"].as_array().unwrap().iter().any(|f| f == "preview.jpg"));
    // A rebuild without the flag keeps the file's values and drops the flag's.
    build(&images, &site, &[]);
    let html = fs::read_to_string(site.join("index.html")).unwrap();
    assert!(html.contains(&format!("<title>{title}</title>")) && !html.contains("Boats, by color"));
    // Mistakes are reported before anything is written.
    let before = fs::read(site.join("index.html")).unwrap();
    fs::write(images.join("chromatica.toml"), "titel = \"typo\"\n").unwrap();
    let out = run(&["build", images.to_str().unwrap(), "--out", site.to_str().unwrap()]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("titel"), "{}", String::from_utf8_lossy(&out.stderr));
    fs::remove_file(images.join("chromatica.toml")).unwrap();
    for (flag, value, says) in
        [("--base-url", "javascript:alert(1)", "base URL"), ("--accent", "teal", "not a color"), ("--title", "two\nlines", "control characters")]
    {
        let out = run(&["build", images.to_str().unwrap(), "--out", site.to_str().unwrap(), flag, value]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{flag} {value}: {err}");
    }
    assert_eq!(fs::read(site.join("index.html")).unwrap(), before);
}

#[test]
fn a_metadata_sidecar_gives_titles_and_links_and_never_stops_the_build() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    let sidecar = tmp.path().join("meta.csv");
    fs::write(
        &sidecar,
        "path,title,caption,url,tags\n\
         nested/deeper/gradient.jpg,A gradient,\"Made, for tests\",https://example.org/g,test; gradient\n\
         color-0.png,<script>alert(1)</script>,,javascript:alert(1),\n\
         broken line\n\
         nowhere.jpg,Gone,,,\n",
    )
    .unwrap();
    let summary = build(&images, &site, &["--metadata", sidecar.to_str().unwrap()]);
    let warnings: Vec<String> = summary["metadata_warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_string()).collect();
    let all = warnings.join("\n");
    assert!(all.contains("line 4: skipped"), "{all}");
    assert!(all.contains("not among the images (nowhere.jpg)"), "{all}");
    assert!(all.contains("url of \"color-0.png\" was dropped"), "{all}");
    let r = search(&site, "808080", "20");
    let results = r["results"].as_array().unwrap();
    let gradient = results.iter().find(|x| x["path"] == "nested/deeper/gradient.jpg").unwrap();
    assert_eq!((gradient["title"].as_str(), gradient["url"].as_str()), (Some("A gradient"), Some("https://example.org/g")));
    assert_eq!(gradient["tags"], serde_json::json!(["test", "gradient"]));
    let red = results.iter().find(|x| x["path"] == "color-0.png").unwrap();
    assert_eq!(red["title"], "<script>alert(1)</script>");
    assert!(red.get("url").is_none(), "{red}");
    // Without the sidecar, a rebuild drops the texts.
    build(&images, &site, &[]);
    let r = search(&site, "808080", "20");
    assert!(r["results"].as_array().unwrap().iter().all(|x| x.get("title").is_none()));
    // A file of another kind is an error that says so.
    fs::write(tmp.path().join("meta.xlsx"), "x").unwrap();
    let out =
        run(&["build", images.to_str().unwrap(), "--out", site.to_str().unwrap(), "--metadata", tmp.path().join("meta.xlsx").to_str().unwrap()]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains(".csv"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A JPEG carrying its own metadata: an XMP packet (title, keywords) and an EXIF date taken.
fn jpeg_with_metadata(path: &Path, title: &str, keywords: &[&str], date_taken: &str) {
    let mut plain = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_fn(120, 200, |x, y| image::Rgb([(x * 2) as u8, (y) as u8, 90])).write_to(&mut plain, image::ImageFormat::Jpeg).unwrap();
    let plain = plain.into_inner();
    let ascii = |tag, text: &str| exif::Field { tag, ifd_num: exif::In::PRIMARY, value: exif::Value::Ascii(vec![text.as_bytes().to_vec()]) };
    let fields = [ascii(exif::Tag::DateTimeOriginal, date_taken), ascii(exif::Tag::Make, "Canon"), ascii(exif::Tag::Model, "Canon EOS R5")];
    let mut writer = exif::experimental::Writer::new();
    for field in &fields {
        writer.push_field(field);
    }
    let mut tiff = std::io::Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    let exif_body = [&b"Exif\0\0"[..], &tiff.into_inner()].concat();
    let subjects: String = keywords.iter().map(|k| format!("<rdf:li>{k}</rdf:li>")).collect();
    let xmp = format!(
        r#"http://ns.adobe.com/xap/1.0/{}<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title><dc:subject><rdf:Bag>{subjects}</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"#,
        '\0'
    );
    let segment = |body: &[u8]| [&[0xFF, 0xE1][..], &((body.len() + 2) as u16).to_be_bytes(), body].concat();
    let file = [&plain[..2], &segment(&exif_body), &segment(xmp.as_bytes()), &plain[2..]].concat();
    fs::write(path, file).unwrap();
}

#[test]
fn files_and_folders_carry_their_own_metadata_and_filters_find_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(images.join("trips/iceland")).unwrap();
    good_images(&images);
    jpeg_with_metadata(&images.join("trips/iceland/falls.jpg"), "Skógafoss at dawn", &["waterfall", "Iceland"], "2023:07:14 06:12:00");
    jpeg_with_metadata(&images.join("trips/iceland/beach.jpg"), "Black beach", &["sand"], "2021:02:01 12:00:00");
    // The sidecar wins over the file, field by field.
    let sidecar = tmp.path().join("meta.csv");
    fs::write(&sidecar, "path,title,date\ntrips/iceland/beach.jpg,Reynisfjara,\n").unwrap();
    build(&images, &site, &["--metadata", sidecar.to_str().unwrap()]);
    let s = site.to_str().unwrap();
    let paths = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["search", s, "--json", "-k", "50"];
        all.extend_from_slice(args);
        let r = stdout_json(&run(&all));
        r["results"].as_array().unwrap().iter().map(|x| x["path"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(paths(&["--text", "SKOGAFOSS"]), ["trips/iceland/falls.jpg"], "the XMP title, accents and case aside");
    assert_eq!(paths(&["--text", "reynis"]), ["trips/iceland/beach.jpg"], "the sidecar's title, as a prefix");
    assert!(paths(&["--text", "black"]).is_empty(), "the file's own title gave way to the sidecar's");
    assert_eq!(paths(&["--tags", "iceland"]), ["trips/iceland/falls.jpg"], "XMP keywords are tags");
    assert_eq!(paths(&["--from", "2023-07", "--to", "2023"]), ["trips/iceland/falls.jpg"], "the EXIF date taken");
    assert_eq!(paths(&["--to", "2022"]), ["trips/iceland/beach.jpg"]);
    assert_eq!(paths(&["--folder", "trips"]).len(), 2);
    assert_eq!(paths(&["--folder", "nested/deeper", "--colors", "FF0000"]), ["nested/deeper/gradient.jpg"]);
    assert_eq!(paths(&["--orientation", "portrait"]).len(), 2, "the two 120x200 JPEGs");
    let r = stdout_json(&run(&["search", s, "--json", "--text", "falls"]));
    assert_eq!((r["results"][0]["title"].as_str(), r["results"][0]["date"].as_str()), (Some("Skógafoss at dawn"), Some("2023-07-14")));
    assert_eq!(r["results"][0]["tags"], serde_json::json!(["waterfall", "Iceland"]));
    assert_eq!(r["results"][0]["extra"], serde_json::json!([["camera", "Canon EOS R5"]]), "the EXIF camera");
    assert_eq!(paths(&["--text", "eos r5"]).len(), 2, "its words are searchable");
    // A filter alone needs no colors; neither at all is an error that says what to give.
    let none = run(&["search", s]);
    assert!(!none.status.success() && String::from_utf8_lossy(&none.stderr).contains("or a filter"));
    let bad = run(&["search", s, "--text", "x", "--from", "2023-13"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("from must be a date"));
}

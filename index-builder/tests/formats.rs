//! HEIC/HEIF and AVIF inputs, made at test time with libheif's `heif-enc` and libavif's `avifenc`
//! (Debian: libheif-examples, libavif-bin; `bash scripts/setup.sh` installs both): a folder mixing
//! JPEG, HEIC, AVIF, a rotated HEIC, an HEIC with alpha, a 10-bit HEIC and a corrupt one builds,
//! each image found first by `search --image` of itself, with JPEG renditions as the originals of
//! HEIC files and AVIF copied as it is.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Command;

fn tool(name: &str, args: &[&str]) {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} is missing ({e}): run bash scripts/setup.sh (libheif-examples, libavif-bin)"));
    assert!(out.status.success(), "{name} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Two colors side by side: `a` on the left third, `b` on the rest.
fn two_tone(path: &Path, w: u32, h: u32, a: [u8; 3], b: [u8; 3]) {
    image::RgbImage::from_fn(w, h, |x, _| image::Rgb(if x < w / 3 { a } else { b })).save(path).unwrap();
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// The child boxes of the box whose content spans `start..end`: (type, offset, size).
fn children(b: &[u8], start: usize, end: usize) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut at = start;
    while at + 8 <= end {
        let size = u32_at(b, at) as usize;
        assert!(size >= 8, "a box of size {size} (0: to the end, 1: 64-bit) is not what heif-enc 1.15 writes");
        out.push((b[at + 4..at + 8].try_into().unwrap(), at, size));
        at += size;
    }
    out
}

/// Adds an `irot` property (90° anticlockwise) to the primary image of a one-image HEIF as
/// heif-enc writes it (meta before mdat): an encoder's "rotated" photo, as phones store them.
fn rotate_heif(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let top = children(&b, 0, b.len());
    let &(_, meta, meta_size) = top.iter().find(|c| &c.0 == b"meta").unwrap();
    let in_meta = children(&b, meta + 12, meta + meta_size);
    let &(_, iprp, iprp_size) = in_meta.iter().find(|c| &c.0 == b"iprp").unwrap();
    let &(_, iloc, _) = in_meta.iter().find(|c| &c.0 == b"iloc").unwrap();
    let in_iprp = children(&b, iprp + 8, iprp + iprp_size);
    let &(_, ipco, ipco_size) = in_iprp.iter().find(|c| &c.0 == b"ipco").unwrap();
    let &(_, ipma, ipma_size) = in_iprp.iter().find(|c| &c.0 == b"ipma").unwrap();
    let properties = children(&b, ipco + 8, ipco + ipco_size).len() as u8;
    assert!(ipma > ipco && b[ipma + 11] & 1 == 0 && b[ipma + 8] == 0, "ipma as heif-enc 1.15 writes it");
    // The primary item (pitm, version 0), and its entry in ipma (version 0: 2-byte item ids,
    // 1-byte associations).
    let &(_, pitm, _) = in_meta.iter().find(|c| &c.0 == b"pitm").unwrap();
    let primary = u16::from_be_bytes([b[pitm + 12], b[pitm + 13]]);
    let mut at = ipma + 16;
    for _ in 0..u32_at(&b, ipma + 12) {
        if u16::from_be_bytes([b[at], b[at + 1]]) == primary {
            break;
        }
        at += 3 + b[at + 2] as usize;
    }
    assert_eq!(u16::from_be_bytes([b[at], b[at + 1]]), primary, "primary item in ipma");
    let count_at = at + 2;
    let entry_end = count_at + 1 + b[count_at] as usize;
    b[count_at] += 1;
    b.insert(entry_end, 0x80 | (properties + 1));
    set_u32(&mut b, ipma, ipma_size as u32 + 1);
    b.splice(ipco + ipco_size..ipco + ipco_size, [0, 0, 0, 9, b'i', b'r', b'o', b't', 1]);
    set_u32(&mut b, ipco, ipco_size as u32 + 9);
    set_u32(&mut b, iprp, iprp_size as u32 + 10);
    set_u32(&mut b, meta, meta_size as u32 + 10);
    // Everything after meta moved by 10 bytes: so did the image data iloc points at.
    let version = b[iloc + 8];
    let (offset_size, length_size, base_size) = (b[iloc + 12] >> 4, b[iloc + 12] & 15, b[iloc + 13] >> 4);
    assert!(version <= 1 && offset_size == 4 && matches!(base_size, 0 | 4), "iloc as heif-enc 1.15 writes it");
    let shift = |b: &mut Vec<u8>, at: usize| {
        let offset = u32_at(b, at);
        if offset as usize > meta {
            set_u32(b, at, offset + 10);
        }
    };
    let mut at = iloc + 14;
    let items = u16::from_be_bytes([b[at], b[at + 1]]);
    at += 2;
    for _ in 0..items {
        at += 2 + if version == 1 { 2 } else { 0 } + 2; // item id, construction method, data reference
        if base_size == 4 {
            shift(&mut b, at);
            at += 4;
        }
        let extents = u16::from_be_bytes([b[at], b[at + 1]]);
        at += 2;
        for _ in 0..extents {
            shift(&mut b, at);
            at += 4 + length_size as usize;
        }
    }
    b
}

fn record<'a>(manifest: &'a Value, path: &str) -> &'a Value {
    manifest["images"].as_array().unwrap().iter().find(|i| i["path"] == path).unwrap_or_else(|| panic!("{path} not indexed: {manifest}"))
}

#[test]
fn heic_and_avif_build_and_search_like_any_photo() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, images, site) = (tmp.path().join("src"), tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&src).unwrap();
    fs::create_dir_all(&images).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    two_tone(&src.join("red.png"), 96, 64, [250, 240, 230], [200, 20, 30]);
    two_tone(&src.join("green.png"), 96, 64, [20, 30, 40], [30, 170, 60]);
    two_tone(&src.join("sideways.png"), 96, 48, [250, 220, 20], [20, 200, 220]);
    two_tone(&src.join("photo.png"), 96, 64, [240, 130, 20], [90, 60, 40]);
    image::RgbImage::from_fn(80, 60, |x, y| image::Rgb([(x * 3) as u8, 40, 200 - (y * 2) as u8])).save(images.join("plain.jpg")).unwrap();
    // A magenta square on a transparent background.
    image::RgbaImage::from_fn(64, 64, |x, y| {
        if (16..48).contains(&x) && (16..48).contains(&y) {
            image::Rgba([220, 20, 200, 255])
        } else {
            image::Rgba([0, 0, 0, 0])
        }
    })
    .save(src.join("alpha.png"))
    .unwrap();
    // 16-bit source for a 10-bit HEIC.
    image::ImageBuffer::<image::Rgb<u16>, Vec<u16>>::from_fn(96, 64, |x, _| {
        image::Rgb(if x < 32 { [60000, 60000, 60000] } else { [8000, 20000, 52000] })
    })
    .save(src.join("deep.png"))
    .unwrap();
    tool("heif-enc", &["-q", "80", &s(&src.join("red.png")), "-o", &s(&images.join("red.heic"))]);
    tool("heif-enc", &["-q", "80", &s(&src.join("sideways.png")), "-o", &s(&src.join("sideways.heic"))]);
    tool("heif-enc", &["-q", "80", &s(&src.join("alpha.png")), "-o", &s(&images.join("alpha.heic"))]);
    tool("heif-enc", &["-q", "80", "-b", "10", &s(&src.join("deep.png")), "-o", &s(&images.join("deep.heic"))]);
    tool("heif-enc", &["-q", "80", &s(&src.join("photo.png")), "-o", &s(&images.join("photo.heif"))]);
    tool("avifenc", &["--min", "10", "--max", "30", "-s", "8", &s(&src.join("green.png")), &s(&images.join("green.avif"))]);
    let rotated = rotate_heif(&fs::read(src.join("sideways.heic")).unwrap());
    fs::write(images.join("sideways.heic"), rotated).unwrap();
    let red = fs::read(images.join("red.heic")).unwrap();
    fs::write(images.join("broken.heic"), &red[..red.len() / 3]).unwrap();
    fs::write(images.join("garbage.heic"), b"\0\0\0\x18ftypheic\0\0\0\0mif1heic not really").unwrap();

    let summary = build(&images, &site, &[]);
    let skipped: Vec<(String, String)> =
        summary["skipped"].as_array().unwrap().iter().map(|s| (s["path"].as_str().unwrap().into(), s["reason"].as_str().unwrap().into())).collect();
    assert_eq!(summary["indexed"], 7, "{summary}");
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped.iter().all(|(p, r)| p.ends_with(".heic") && r.contains("corrupt HEIF/AVIF")), "{skipped:?}");

    let manifest: Value = serde_json::from_slice(&fs::read(site.join("chromatica.json")).unwrap()).unwrap();
    // The rotated HEIC comes out upright: 48 wide, 96 tall.
    let sideways = record(&manifest, "sideways.heic");
    assert_eq!((sideways["width"].as_u64(), sideways["height"].as_u64()), (Some(48), Some(96)), "{sideways}");
    // Turned 90° anticlockwise: the yellow left third of the source is now the bottom third.
    let upright = image::open(site.join(sideways["original"].as_str().unwrap())).unwrap().to_rgb8();
    let (bottom, top) = (upright.get_pixel(24, 90).0, upright.get_pixel(24, 5).0);
    assert!(bottom[0] > 200 && bottom[1] > 180 && bottom[2] < 90, "bottom {bottom:?}");
    assert!(top[0] < 90 && top[2] > 180, "top {top:?}");
    // The alpha HEIC kept its transparency: the rendition shows its clear corners as white.
    let alpha = image::open(site.join(record(&manifest, "alpha.heic")["original"].as_str().unwrap())).unwrap().to_rgb8();
    assert!(alpha.get_pixel(2, 2).0.iter().all(|&c| c > 240), "{:?}", alpha.get_pixel(2, 2));
    // HEIC originals are JPEG renditions at full size; AVIF (which browsers show) is copied as it is.
    for name in ["red.heic", "alpha.heic", "deep.heic", "photo.heif", "sideways.heic"] {
        let original = record(&manifest, name)["original"].as_str().unwrap().to_string();
        assert!(original.ends_with(".jpg"), "{name}: {original}");
        let jpeg = image::open(site.join(&original)).unwrap();
        let r = record(&manifest, name);
        assert_eq!((jpeg.width() as u64, jpeg.height() as u64), (r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap()), "{name}");
    }
    let avif = record(&manifest, "green.avif")["original"].as_str().unwrap().to_string();
    assert!(avif.ends_with(".avif"));
    assert_eq!(fs::read(site.join(avif)).unwrap(), fs::read(images.join("green.avif")).unwrap());

    // Every image, as an example image, finds itself first (same decoders as the build).
    for name in ["red.heic", "green.avif", "sideways.heic", "alpha.heic", "deep.heic", "photo.heif", "plain.jpg"] {
        let r = stdout_json(&run(&["search", site.to_str().unwrap(), "--image", images.join(name).to_str().unwrap(), "-k", "3", "--json"]));
        assert_eq!(r["results"][0]["path"], name, "{name}: {r}");
    }
    // The alpha HEIC is indexed by its opaque pixels only: a magenta query finds it first.
    assert_eq!(search(&site, "DC14C8", "1")["results"][0]["path"], "alpha.heic");

    // --original-max bounds the renditions.
    let small = tmp.path().join("small");
    build(&images, &small, &["--original-max", "64"]);
    let manifest: Value = serde_json::from_slice(&fs::read(small.join("chromatica.json")).unwrap()).unwrap();
    let rendition = image::open(small.join(record(&manifest, "red.heic")["original"].as_str().unwrap())).unwrap();
    assert_eq!((rendition.width(), rendition.height()), (64, 43));
}

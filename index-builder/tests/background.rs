//! `chromatica build --background ignore` end to end: product and object photos on plain
//! backgrounds are found by their object's color, ordinary photos are left alone, the mode and the
//! count reach `info`, the cache does not mix modes, sites of older formats are refused, and `search --image`
//! describes an example the way the site's images were described.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `-amplitude..=amplitude`.
    fn noise(&mut self, amplitude: u64) -> f64 {
        (self.next() % (2 * amplitude + 1)) as f64 - amplitude as f64
    }
}

fn mix(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
    let t = t.clamp(0.0, 1.0);
    std::array::from_fn(|k| a[k] * (1.0 - t) + b[k] * t)
}

/// A 320 x 240 image of `color(x, y)` (x in 0..4/3, y in 0..1), with noise of ±`noise` per channel.
fn draw(noise: u64, seed: u64, color: impl Fn(f64, f64) -> [f64; 3]) -> image::RgbImage {
    let (w, h) = (320, 240);
    let mut rng = Rng(seed | 1);
    image::RgbImage::from_fn(w, h, |x, y| {
        let c = color(x as f64 / h as f64, y as f64 / h as f64);
        image::Rgb(c.map(|v| (v + rng.noise(noise)).round().clamp(0.0, 255.0) as u8))
    })
}

/// A smooth random field in about -1..1 (a few sines), for textures and photos.
fn field(rng: &mut Rng, waves: usize, max_frequency: f64) -> impl Fn(f64, f64) -> f64 {
    let params: Vec<[f64; 4]> = (0..waves)
        .map(|_| {
            let angle = rng.unit() * std::f64::consts::TAU;
            let freq = 1.0 + rng.unit() * (max_frequency - 1.0);
            [angle.cos() * freq, angle.sin() * freq, rng.unit() * std::f64::consts::TAU, 0.5 + rng.unit()]
        })
        .collect();
    let norm: f64 = params.iter().map(|p| p[3]).sum::<f64>() / 2.0;
    move |x, y| params.iter().map(|p| p[3] * ((p[0] * x + p[1] * y) * std::f64::consts::TAU + p[2]).sin()).sum::<f64>() / norm
}

/// An object of `object` color covering `area` of the frame on a plain `bg`, with a soft shadow to
/// its lower right and JPEG-like noise (±3 per channel).
fn object_photo(bg: [u8; 3], object: [f64; 3], area: f64, seed: u64) -> image::RgbImage {
    let mut rng = Rng(seed);
    let elongation = 0.6 + 0.6 * rng.unit();
    let ry = (area * 4.0 / 3.0 / std::f64::consts::PI / elongation).sqrt();
    let rx = elongation * ry;
    let (cx, cy) = (2.0 / 3.0 + 0.1 * rng.noise(1), 0.47 + 0.05 * rng.noise(1));
    let bg = bg.map(|v| v as f64);
    draw(3, seed, move |x, y| {
        let inside = |dx: f64, dy: f64| (((x - cx - dx) / rx).powi(2) + ((y - cy - dy) / ry).powi(2)).sqrt();
        let behind = mix(bg, [0.0; 3], (1.0 - inside(0.04, 0.05)).clamp(0.0, 0.3));
        mix(behind, object, (1.0 - inside(0.0, 0.0)) * ry * 240.0)
    })
}

const OBJECT_COLORS: [(&str, [f64; 3]); 5] = [
    ("E02030", [224.0, 32.0, 48.0]),
    ("20A040", [32.0, 160.0, 64.0]),
    ("2040D0", [32.0, 64.0, 208.0]),
    ("F0C818", [240.0, 200.0, 24.0]),
    ("9030B0", [144.0, 48.0, 176.0]),
];
const BACKGROUNDS: [[u8; 3]; 4] = [[255, 255, 255], [6, 6, 6], [128, 128, 128], [244, 244, 240]];

/// The test collection: 20 object photos (5 vivid colors x 4 plain backgrounds, each object
/// 10-25% of the frame, a different shade each; PNG and JPEG q75 alternately), 9 images dominated
/// by the same background colors that are not objects on a backdrop (snow, paper, plaster, a night
/// sky, a dark room, black cloth, concrete, an overcast sky, a wall with a window), and 3 ordinary
/// photos. Returns the file names of each group.
fn collection(dir: &Path) -> (Vec<(String, &'static str)>, Vec<String>, Vec<String>) {
    let mut objects = Vec::new();
    let mut seed = 100;
    for (hex, color) in OBJECT_COLORS {
        for (b, bg) in BACKGROUNDS.iter().enumerate() {
            seed += 1;
            let mut rng = Rng(seed * 7919);
            let shade = color.map(|v| (v + rng.noise(12)).clamp(0.0, 255.0));
            let area = [0.10, 0.15, 0.20, 0.25][(seed % 4) as usize];
            let name = format!("objects/{hex}-{b}.{}", if seed % 2 == 0 { "png" } else { "jpg" });
            object_photo(*bg, shade, area, seed).save(dir.join(&name)).unwrap();
            objects.push((name, hex));
        }
    }
    let mut rng = Rng(4242);
    let (drifts, grain, plaster) = (field(&mut rng, 6, 5.0), field(&mut rng, 6, 40.0), field(&mut rng, 8, 30.0));
    let (cloth, concrete, clouds) = (field(&mut rng, 8, 40.0), field(&mut rng, 8, 25.0), field(&mut rng, 5, 4.0));
    let mut stars = Rng(77);
    let star_map: Vec<(f64, f64)> = (0..40).map(|_| (stars.unit() * 4.0 / 3.0, stars.unit())).collect();
    let scenes: Vec<(&str, image::RgbImage)> = vec![
        (
            "snow.jpg",
            draw(3, 1, |x, y| {
                let base = mix([246.0, 248.0, 250.0], [200.0, 212.0, 232.0], 0.5 + 0.5 * drifts(x, y));
                base.map(|v| v + 6.0 * grain(x, y))
            }),
        ),
        (
            "paper.png",
            draw(3, 2, |x, y| {
                let line = (y * 24.0).fract() < 0.25 && y > 0.1 && y < 0.9 && x > 0.12 && x < 1.2 && (x * 40.0).sin() > -0.6;
                if line {
                    [60.0; 3]
                } else {
                    [250.0, 250.0, 246.0]
                }
            }),
        ),
        ("plaster.jpg", draw(3, 3, |x, y| [236.0 + 12.0 * plaster(x, y), 234.0 + 12.0 * plaster(x, y), 228.0 + 12.0 * plaster(x, y)])),
        (
            "night.png",
            draw(2, 4, |x, y| {
                let star = star_map.iter().any(|(sx, sy)| (x - sx).powi(2) + (y - sy).powi(2) < 0.00004);
                if star {
                    [255.0, 240.0, 200.0]
                } else {
                    mix([4.0, 6.0, 14.0], [16.0, 22.0, 48.0], y)
                }
            }),
        ),
        ("dark-room.jpg", draw(3, 5, |x, y| mix([70.0, 50.0, 30.0], [8.0, 8.0, 8.0], ((x - 0.3).powi(2) + (y - 0.3).powi(2)).sqrt() * 2.2))),
        ("black-cloth.jpg", draw(3, 6, |x, y| [18.0 + 12.0 * cloth(x, y), 18.0 + 12.0 * cloth(x, y), 20.0 + 12.0 * cloth(x, y)])),
        ("concrete.jpg", draw(3, 7, |x, y| [128.0 + 22.0 * concrete(x, y), 126.0 + 22.0 * concrete(x, y), 122.0 + 22.0 * concrete(x, y)])),
        ("overcast.jpg", draw(3, 8, |x, y| mix([150.0, 152.0, 156.0], [105.0, 106.0, 110.0], 0.5 * y + 0.25 + 0.25 * clouds(x, y)))),
        ("wall-window.png", draw(3, 9, |x, y| if (x - 0.9).abs() < 0.1 && (y - 0.4).abs() < 0.12 { [40.0, 50.0, 60.0] } else { [128.0; 3] })),
    ];
    let mut dominated = Vec::new();
    for (name, img) in scenes {
        img.save(dir.join(format!("backgrounds/{name}"))).unwrap();
        dominated.push(format!("backgrounds/{name}"));
    }
    let ground = field(&mut rng, 6, 12.0);
    let waves = field(&mut rng, 5, 30.0);
    let (r, g, b) = (field(&mut rng, 8, 10.0), field(&mut rng, 8, 10.0), field(&mut rng, 8, 10.0));
    let photos: Vec<(&str, image::RgbImage)> = vec![
        (
            "landscape.jpg",
            draw(3, 10, |x, y| {
                if y < 0.55 + 0.04 * (x * 9.0).sin() {
                    mix([70.0, 130.0, 215.0], [175.0, 205.0, 240.0], y / 0.55)
                } else {
                    mix([60.0, 110.0, 40.0], [140.0, 120.0, 70.0], 0.5 + 0.5 * ground(x, y))
                }
            }),
        ),
        (
            "sea.jpg",
            draw(3, 11, |x, y| {
                if y < 0.4 {
                    mix([150.0, 190.0, 235.0], [205.0, 220.0, 240.0], y / 0.4)
                } else {
                    mix([20.0, 70.0, 120.0], [90.0, 140.0, 170.0], 0.5 + 0.5 * waves(x, y * 3.0))
                }
            }),
        ),
        ("market.png", draw(6, 12, |x, y| [128.0 + 110.0 * r(x, y), 128.0 + 110.0 * g(x, y), 128.0 + 110.0 * b(x, y)])),
    ];
    let mut ordinary = Vec::new();
    for (name, img) in photos {
        img.save(dir.join(format!("photos/{name}"))).unwrap();
        ordinary.push(format!("photos/{name}"));
    }
    (objects, dominated, ordinary)
}

fn make_collection(dir: &Path) -> (Vec<(String, &'static str)>, Vec<String>, Vec<String>) {
    for sub in ["objects", "backgrounds", "photos"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    collection(dir)
}

/// For each object color queried alone: over every pair (object photo of that color, image
/// dominated by a background color), the share of pairs where the object photo ranks higher; and
/// the share of the first 4 results (as many as there are object photos of each color) that are
/// object photos of the queried color.
fn ranking_quality(site: &Path, objects: &[(String, &str)], dominated: &[String]) -> (f64, f64) {
    let (mut above, mut pairs, mut first) = (0, 0, 0);
    for (hex, _) in OBJECT_COLORS {
        let r = search(site, hex, "100");
        let paths: Vec<&str> = r["results"].as_array().unwrap().iter().map(|x| x["path"].as_str().unwrap()).collect();
        let rank: BTreeMap<&str, usize> = paths.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        let of_color: Vec<&str> = objects.iter().filter(|(_, h)| *h == hex).map(|(o, _)| o.as_str()).collect();
        for object in &of_color {
            for background in dominated {
                pairs += 1;
                above += (rank[object] < rank[background.as_str()]) as usize;
            }
        }
        first += paths[..of_color.len()].iter().filter(|p| of_color.contains(p)).count();
    }
    (above as f64 / pairs as f64, first as f64 / objects.len() as f64)
}

fn manifest_flags(site: &Path) -> BTreeMap<String, bool> {
    let manifest: Value = serde_json::from_slice(&fs::read(site.join("chromatica.json")).unwrap()).unwrap();
    manifest["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["path"].as_str().unwrap().to_string(), i["background_removed"].as_bool().unwrap()))
        .collect()
}

#[test]
fn ignoring_backgrounds_ranks_objects_by_their_color() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    let (objects, dominated, ordinary) = make_collection(&images);
    let (ignore, keep) = (tmp.path().join("ignore"), tmp.path().join("keep"));
    let summary = build(&images, &ignore, &["--background", "ignore"]);
    assert_eq!(summary["indexed"], 32);
    build(&images, &keep, &[]);

    // Which images lost their background: every object photo, no ordinary photo (and no image
    // at all on the keep site).
    let flags = manifest_flags(&ignore);
    for (object, _) in &objects {
        assert!(flags[object], "{object}: background kept");
    }
    for photo in &ordinary {
        assert!(!flags[photo], "{photo}: background removed");
    }
    let removed = flags.values().filter(|&&f| f).count();
    let others: Vec<&String> = flags.iter().filter(|(p, &f)| f && !p.starts_with("objects/")).map(|(p, _)| p).collect();
    eprintln!("backgrounds removed from {removed} images: the 20 object photos and {others:?}");
    assert_eq!(summary["backgrounds_removed"], removed);
    assert!(manifest_flags(&keep).values().all(|&f| !f));

    // With `--background ignore` the object photos of the queried color rank above the images
    // dominated by a background color (measured: all 180 pairs), and they are the first 4 results
    // of every query. With `--background keep` (the default) the backgrounds decide: every object
    // photo is 75-90% white, black or grey, so mostly grey concrete, an overcast sky or a grey
    // wall come before a red or green object on black or white; measured: 0.81 of the pairs, and
    // only 12 of the 20 first-4 places.
    let (pairs_ignore, first_ignore) = ranking_quality(&ignore, &objects, &dominated);
    let (pairs_keep, first_keep) = ranking_quality(&keep, &objects, &dominated);
    eprintln!("object photos above background-dominated ones: ignore {pairs_ignore:.3}, keep {pairs_keep:.3}");
    eprintln!("object photos of the queried color among the first 4: ignore {first_ignore:.2}, keep {first_keep:.2}");
    assert!(pairs_ignore >= 0.9 && first_ignore >= 0.9, "ignore: {pairs_ignore}, {first_ignore}");
    assert!(pairs_keep < 0.9 && first_keep <= 0.75, "keep is not clearly worse: {pairs_keep}, {first_keep}");

    // `info` reports the mode and the count, as text and JSON.
    let info = stdout_json(&run(&["info", ignore.to_str().unwrap(), "--json"]));
    assert_eq!(info["background"], "ignore");
    assert_eq!(info["backgrounds_removed"], removed);
    assert_eq!(info["format_version"], chromatica_core::bundle::FORMAT_VERSION);
    assert_eq!(info["params"]["background"], "ignore");
    let text = String::from_utf8(run(&["info", ignore.to_str().unwrap()]).stdout).unwrap();
    assert!(text.contains(&format!("Backgrounds:     ignored; a plain background was left out of {removed} of 32 images")), "{text}");
    let info = stdout_json(&run(&["info", keep.to_str().unwrap(), "--json"]));
    assert_eq!((info["background"].as_str(), info["backgrounds_removed"].as_u64()), (Some("keep"), Some(0)));

    // An object photo as the example image finds itself first on the ignore site (PNG and JPEG:
    // the builder's JPEG decoder and the query's differ by rounding only).
    for (object, _) in objects.iter().step_by(3) {
        let path = images.join(object);
        let r = stdout_json(&run(&["search", ignore.to_str().unwrap(), "--image", path.to_str().unwrap(), "-k", "3", "--json"]));
        assert_eq!(r["results"][0]["path"], object.as_str(), "{r}");
        assert_eq!(r["query"]["mode"], "image");
    }
}

#[test]
fn the_cache_does_not_reuse_histograms_of_the_other_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    for (i, bg) in BACKGROUNDS.iter().enumerate() {
        object_photo(*bg, OBJECT_COLORS[i].1, 0.2, i as u64 + 1).save(images.join(format!("object-{i}.png"))).unwrap();
    }
    let first = build(&images, &site, &[]);
    assert_eq!((first["decoded"].as_u64(), first["backgrounds_removed"].as_u64()), (Some(4), Some(0)));
    // Same files, other mode: everything is histogrammed again.
    let second = build(&images, &site, &["--background", "ignore"]);
    assert_eq!((second["decoded"].as_u64(), second["reused"].as_u64(), second["backgrounds_removed"].as_u64()), (Some(4), Some(0), Some(4)));
    let third = build(&images, &site, &["--background", "ignore"]);
    assert_eq!((third["decoded"].as_u64(), third["reused"].as_u64(), third["backgrounds_removed"].as_u64()), (Some(0), Some(4), Some(4)));
    let back = build(&images, &site, &["--background", "keep"]);
    assert_eq!((back["decoded"].as_u64(), back["backgrounds_removed"].as_u64()), (Some(4), Some(0)));
    assert_eq!(stdout_json(&run(&["info", site.to_str().unwrap(), "--json"]))["background"], "keep");
}

#[test]
fn a_site_of_an_older_format_is_refused_with_a_rebuild_message() {
    let tmp = tempfile::tempdir().unwrap();
    let (images, site) = (tmp.path().join("images"), tmp.path().join("site"));
    fs::create_dir_all(&images).unwrap();
    good_images(&images);
    build(&images, &site, &[]);
    // A head of format version 2: the decoder reads the version first and refuses anything older
    // before it looks further, so the header of a current one stands for it.
    let mut bytes = common::inflate(&fs::read(site.join("index/head.bin")).unwrap());
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    fs::write(site.join("index/head.bin"), common::store(&bytes)).unwrap();
    // A version-2 site (one bundle.bin, no index folder).
    let old = tmp.path().join("old");
    fs::create_dir_all(&old).unwrap();
    fs::write(old.join("bundle.bin"), b"CHROMBDL\x02\0\0\0").unwrap();
    for site in [&site, &old] {
        for args in [vec!["info", site.to_str().unwrap()], vec!["search", site.to_str().unwrap(), "--colors", "FF0000"]] {
            let out = run(&args);
            assert!(!out.status.success());
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("built by an older version of chromatica") && err.contains("rebuild"), "{err}");
        }
    }
}

#[test]
fn background_takes_keep_or_ignore() {
    let out = run(&["build", "x", "--out", "y", "--background", "remove"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keep") && err.contains("ignore"), "{err}");
}

//! Plain backgrounds, left out of the histogram on sites built with `--background ignore`.
//!
//! Why: a red dress photographed on white is, pixel for pixel, mostly white. Its histogram says
//! "80% white", and a red query ranks it below every red photo. Product and object photos (shop
//! catalogues, museum objects, studio shots) are like that, so a site of them can ask for the
//! plain background to be ignored: such images are histogrammed from their foreground only. The
//! thumbnail keeps its background; only what is searched changes. The site's mode
//! ([`BackgroundMode`], stored in the bundle's `Params`) applies to every image of the site and to
//! example images searched on it, in the page and in the CLI, through the same
//! [`crate::histogram::image_histogram`].
//!
//! The rule, applied to the image as it is histogrammed (downscaled to at most
//! `histogram::MAX_SIDE` px, so the builder and an example image are judged alike, and the area
//! average has already smoothed most JPEG noise). Colors are CIE Lab, distances ΔE76:
//!
//! 1. **Border color.** The border is the outermost ring of pixels. Its reference color is the
//!    per-channel median (R, G, B) of its opaque pixels (the color most of the border has, even
//!    where an object touches it), refined to the Lab mean of those within [`BORDER_TOLERANCE`] of
//!    that median.
//! 2. **Plain border.** At least [`MIN_PLAIN_BORDER`] of *all* border pixels must be opaque and
//!    within [`BORDER_TOLERANCE`] of the reference, and the RMS distance of those to the reference
//!    must be at most [`MAX_BORDER_SPREAD`] (low variance: noise passes, texture does not).
//! 3. **Background.** The opaque pixels within [`REGION_TOLERANCE`] of the reference that are
//!    4-connected to the border through such pixels (a flood fill from the border, always compared
//!    with the reference, never neighbour to neighbour, so it cannot creep along a gradient).
//!    Enclosed areas of the same color (the hole of a ring) are not reached and stay foreground.
//! 4. **Meaningful split.** The background is removed only when it is at least
//!    [`MIN_BACKGROUND_SHARE`] and the foreground at least [`MIN_FOREGROUND_SHARE`] of the opaque
//!    pixels. Otherwise the image is histogrammed whole, as with `keep`.
//!
//! What this leaves alone, on purpose: a sky or a sea touches one or two sides of the frame, not
//! 90% of its border; snow, sand, grass and water have texture (their border spread is above
//! [`MAX_BORDER_SPREAD`]); gradients drift out of [`BORDER_TOLERANCE`] along the border; a plain
//! wall with a speck on it is below [`MIN_FOREGROUND_SHARE`], and a close-up that fills the frame
//! leaves less than [`MIN_BACKGROUND_SHARE`] of background. A soft shadow is background where it
//! is within [`REGION_TOLERANCE`] of the backdrop, and stays foreground where it is darker (close
//! to the object), which only adds a little grey. Pixels that are already transparent count as
//! not plain on the border and are never background (the histogram skips them anyway). Thresholds
//! and their reasons: docs/TUNING.md.

use crate::color::{delta_e, srgb_to_lab};
use crate::histogram::MIN_ALPHA;
use crate::resize::RgbaImage;
use serde::{Deserialize, Serialize};

/// A border pixel is "of the border color" within this ΔE76. JPEG noise of ±3 per channel stays
/// under about 4 ΔE on white, grey and black (tested), and a backdrop lit a little unevenly
/// within a few more; a sky's gradient or a textured surface does not.
pub const BORDER_TOLERANCE: f64 = 6.0;
/// Share of all border pixels that must be of the border color: a sky or a sea covers one or two
/// sides (about half the border), an object on a backdrop touches the border at most here and
/// there (a cropped foot, a cable).
pub const MIN_PLAIN_BORDER: f64 = 0.9;
/// Largest RMS ΔE76 of those border pixels from the border color: noise of ±3 per channel gives
/// about 2; snow, sand, water or fabric give more.
pub const MAX_BORDER_SPREAD: f64 = 3.0;
/// A pixel joins the background within this ΔE76 of the border color: wider than
/// `BORDER_TOLERANCE`, so noise spikes and the faint edge of a shadow are absorbed once the
/// border has proven plain, and narrow enough that pale objects (pink on white is about 13 ΔE)
/// stay.
pub const REGION_TOLERANCE: f64 = 10.0;
/// Least share of the opaque pixels the foreground must keep: below it the "object" is a speck on
/// a plain image (a blank page, a wall), whose plain color is what the image is.
pub const MIN_FOREGROUND_SHARE: f64 = 0.05;
/// Least share of the opaque pixels the background must have: below it, it barely moves the
/// histogram, and a close-up that fills the frame is better taken whole.
pub const MIN_BACKGROUND_SHARE: f64 = 0.15;

/// What a site does with plain backgrounds (`chromatica build --background`, stored in the
/// bundle): the same for every image of the site and for example images searched on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum BackgroundMode {
    /// Histogram every image whole (the default).
    #[default]
    Keep,
    /// Histogram only the foreground of images on a plain background (product and object photos).
    Ignore,
}

/// A copy of `image` whose plain background (see the module's rule) is fully transparent, or
/// `None` when it has none.
pub fn remove_plain_background(image: &RgbaImage) -> Option<RgbaImage> {
    let (w, h) = (image.width as usize, image.height as usize);
    if image.check().is_err() || w < 3 || h < 3 {
        return None;
    }
    let px = |i: usize| &image.pixels[i * 4..i * 4 + 4];
    let opaque = |i: usize| px(i)[3] >= MIN_ALPHA;

    // 1. The border ring, each pixel once, and its color: the per-channel median of the opaque
    // pixels' sRGB values (counted, not sorted), then the mean of the Lab colors near it.
    let border: Vec<usize> =
        (0..w).chain((1..h - 1).map(|y| y * w)).chain((1..h - 1).map(|y| y * w + w - 1)).chain((0..w).map(|x| (h - 1) * w + x)).collect();
    let opaque_border: Vec<usize> = border.iter().copied().filter(|&i| opaque(i)).collect();
    let median: [u8; 3] = std::array::from_fn(|k| {
        let mut counts = [0usize; 256];
        for &i in &opaque_border {
            counts[px(i)[k] as usize] += 1;
        }
        let (mut seen, mut value) = (0, 0);
        while value < 255 && (seen + counts[value]) * 2 <= opaque_border.len() {
            seen += counts[value];
            value += 1;
        }
        value as u8
    });
    let labs: Vec<[f64; 3]> = opaque_border.iter().map(|&i| lab_of(px(i))).collect();
    let near = |center: [f64; 3]| labs.iter().map(move |c| (c, delta_e(*c, center))).filter(|(_, d)| *d <= BORDER_TOLERANCE);
    let (mut sum, mut count) = ([0.0; 3], 0.0);
    for (c, _) in near(lab_of(&median)) {
        (0..3).for_each(|k| sum[k] += c[k]);
        count += 1.0;
    }
    let reference = sum.map(|s| s / count);

    // 2. Plain: enough of the border is of that color, with a small spread.
    let (mut count, mut squares) = (0.0, 0.0);
    for (_, d) in near(reference) {
        count += 1.0;
        squares += d * d;
    }
    if count < MIN_PLAIN_BORDER * border.len() as f64 || (squares / count).sqrt() > MAX_BORDER_SPREAD {
        return None;
    }

    // 3. Flood fill from the border. 0: not seen, 1: background, 2: not background.
    let mut state = vec![0u8; w * h];
    let mut stack = border;
    let mut background = 0;
    while let Some(i) = stack.pop() {
        if state[i] != 0 {
            continue;
        }
        let joins = opaque(i) && delta_e(lab_of(px(i)), reference) <= REGION_TOLERANCE;
        state[i] = if joins { 1 } else { 2 };
        if joins {
            background += 1;
            let (x, y) = (i % w, i / w);
            let neighbours = [(x > 0, i.wrapping_sub(1)), (x + 1 < w, i + 1), (y > 0, i.wrapping_sub(w)), (y + 1 < h, i + w)];
            stack.extend(neighbours.iter().filter(|(inside, j)| *inside && state[*j] == 0).map(|(_, j)| *j));
        }
    }

    // 4. Both parts must be a meaningful share of the opaque pixels.
    let total = (0..w * h).filter(|&i| opaque(i)).count();
    let background = background as f64 / total as f64;
    if !(background >= MIN_BACKGROUND_SHARE && 1.0 - background >= MIN_FOREGROUND_SHARE) {
        return None;
    }
    let mut out = image.clone();
    for (px, _) in out.pixels.chunks_exact_mut(4).zip(&state).filter(|(_, &s)| s == 1) {
        px[3] = 0;
    }
    Some(out)
}

/// The one out-of-line copy of the conversion here: core is built at opt-level 3 even in the
/// app's wasm, where each inlined copy would cost size.
#[inline(never)]
fn lab_of(rgb: &[u8]) -> [f64; 3] {
    srgb_to_lab([rgb[0], rgb[1], rgb[2]])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::histogram::{dominant_colors, image_histogram};

    /// A deterministic xorshift generator.
    pub struct Rng(pub u64);

    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// Uniform in `-amplitude..=amplitude`.
        pub fn noise(&mut self, amplitude: i32) -> f64 {
            (self.next() % (2 * amplitude as u64 + 1)) as f64 - amplitude as f64
        }

        pub fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// A `w` x `h` image of `color(x, y)` (x, y in 0..1), with JPEG-like noise of ±`noise` per
    /// channel.
    pub fn draw(w: u32, h: u32, noise: i32, seed: u64, color: impl Fn(f64, f64) -> [f64; 3]) -> RgbaImage {
        let mut rng = Rng(seed | 1);
        let mut pixels = Vec::with_capacity((w * h * 4) as usize);
        for y in 0..h {
            for x in 0..w {
                let c = color((x as f64 + 0.5) / w as f64, (y as f64 + 0.5) / h as f64);
                for v in c {
                    pixels.push((v + rng.noise(noise)).round().clamp(0.0, 255.0) as u8);
                }
                pixels.push(255);
            }
        }
        RgbaImage::new(w, h, pixels).unwrap()
    }

    fn mix(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
        let t = t.clamp(0.0, 1.0);
        std::array::from_fn(|k| a[k] * (1.0 - t) + b[k] * t)
    }

    fn f(c: [u8; 3]) -> [f64; 3] {
        c.map(|v| v as f64)
    }

    /// A smooth random field in about -1..1: a few sines of random frequency, direction and phase.
    pub fn field(rng: &mut Rng, waves: usize, max_frequency: f64) -> impl Fn(f64, f64) -> f64 {
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

    /// An object of `object` color covering about `area` of a `w` x `h` frame on a plain `bg`, with
    /// a soft shadow to its lower right and noise of ±3 per channel. `drop` moves it down by that
    /// share of the height (0.3 lets it touch the bottom edge).
    pub fn product(w: u32, h: u32, bg: [u8; 3], object: [u8; 3], area: f64, drop: f64, seed: u64) -> RgbaImage {
        let aspect = w as f64 / h as f64;
        // An ellipse with radii (rx, ry) in units of the height: area π·rx·ry / aspect.
        let ry = (area * aspect / std::f64::consts::PI / 0.8).sqrt();
        let rx = 0.8 * ry;
        let (cx, cy) = (0.5 * aspect, 0.47 + drop);
        let (bg, object) = (f(bg), f(object));
        let dark = [0.0; 3];
        draw(w, h, 3, seed, move |x, y| {
            let x = x * aspect;
            let inside = |dx: f64, dy: f64| ((x - cx - dx) / rx).powi(2) + ((y - cy - dy) / ry).powi(2);
            // Darkest (35%) well inside a copy of the ellipse offset to the lower right, fading
            // out towards its edge.
            let shadow = (1.0 - inside(0.05, 0.06).sqrt()).clamp(0.0, 0.35);
            let behind = mix(bg, dark, shadow);
            // Anti-aliased edge, about a pixel wide.
            let edge = ((1.0 - inside(0.0, 0.0).sqrt()) * ry * h as f64).clamp(0.0, 1.0);
            mix(behind, object, edge)
        })
    }

    fn is_removed(img: &RgbaImage) -> bool {
        image_histogram(img, BackgroundMode::Ignore).unwrap().background_removed
    }

    #[test]
    fn objects_on_plain_backgrounds_lose_the_background() {
        let backgrounds = [[255, 255, 255], [250, 250, 247], [0, 0, 0], [12, 12, 14], [128, 128, 128], [200, 200, 200]];
        let objects = [[220, 30, 40], [30, 160, 60], [40, 70, 200], [240, 200, 20], [150, 40, 170]];
        let mut seed = 1;
        for bg in backgrounds {
            for object in objects {
                for (area, drop) in [(0.1, 0.0), (0.25, 0.0), (0.15, 0.3)] {
                    seed += 1;
                    let (w, h) = if seed % 2 == 0 { (240, 180) } else { (180, 240) };
                    let img = product(w, h, bg, object, area, drop, seed);
                    let what = format!("{object:?} on {bg:?}, area {area}, drop {drop}");
                    let fg = image_histogram(&img, BackgroundMode::Ignore).unwrap();
                    assert!(fg.background_removed, "{what}: background kept");
                    // The thumbnail keeps its background.
                    assert!(fg.small.pixels.chunks_exact(4).all(|p| p[3] == 255), "{what}");
                    let colors = dominant_colors(&fg.histogram, 5);
                    let (top, share) = colors[0];
                    assert!(delta_e(srgb_to_lab(top), srgb_to_lab(object)) < 12.0 && share > 0.7, "{what}: foreground is {colors:?}");
                    // Kept whole, the background dominates.
                    let whole = image_histogram(&img, BackgroundMode::Keep).unwrap();
                    assert!(!whole.background_removed);
                    assert!(delta_e(srgb_to_lab(dominant_colors(&whole.histogram, 5)[0].0), srgb_to_lab(bg)) < 12.0, "{what}");
                }
            }
        }
    }

    #[test]
    fn large_photos_are_judged_downscaled() {
        // 1200 x 900 goes through the 256 px downscale first.
        let img = product(1200, 900, [255, 255, 255], [220, 30, 40], 0.15, 0.0, 7);
        assert!(is_removed(&img));
    }

    /// The photos that must be left alone.
    pub fn scenes() -> Vec<(&'static str, RgbaImage)> {
        let mut rng = Rng(99);
        let (w, h) = (240, 180);
        let ground = field(&mut rng, 6, 12.0);
        let sky_over_land = draw(w, h, 3, 2, move |x, y| {
            if y < 0.55 + 0.04 * (x * 9.0).sin() {
                mix([70.0, 130.0, 215.0], [175.0, 205.0, 240.0], y / 0.55)
            } else {
                let t = ground(x, y);
                mix([60.0, 110.0, 40.0], [140.0, 120.0, 70.0], 0.5 + 0.5 * t)
            }
        });
        let waves = field(&mut rng, 5, 30.0);
        let sea = draw(w, h, 3, 3, move |x, y| {
            if y < 0.4 {
                mix([150.0, 190.0, 235.0], [205.0, 220.0, 240.0], y / 0.4)
            } else {
                let t = waves(x, y * 3.0);
                mix([20.0, 70.0, 120.0], [90.0, 140.0, 170.0], 0.5 + 0.5 * t)
            }
        });
        // Snow: large soft drifts and blue shade, with a skier.
        let drifts = field(&mut rng, 6, 5.0);
        let grain = field(&mut rng, 6, 40.0);
        let snow = draw(w, h, 3, 4, move |x, y| {
            if ((x - 0.5) / 0.03).powi(2) + ((y - 0.6) / 0.08).powi(2) < 1.0 {
                return [180.0, 30.0, 40.0];
            }
            let t = 0.5 + 0.5 * drifts(x, y);
            let base = mix([245.0, 247.0, 250.0], [190.0, 205.0, 230.0], t);
            let g = 8.0 * grain(x, y);
            [base[0] + g, base[1] + g, base[2] + g]
        });
        let gradient = draw(w, h, 3, 5, |x, y| mix([250.0, 150.0, 40.0], [90.0, 40.0, 160.0], 0.6 * x + 0.4 * y));
        // A sunset glow: a radial gradient, warm in the middle.
        let glow = draw(w, h, 3, 6, |x, y| mix([255.0, 220.0, 120.0], [120.0, 30.0, 60.0], ((x - 0.5).powi(2) + (y - 0.5).powi(2)).sqrt() * 1.2));
        let mostly_sky = draw(w, h, 3, 10, |x, y| {
            if y < 0.8 - 0.05 * (x * 5.0).sin() {
                mix([80.0, 140.0, 220.0], [160.0, 195.0, 235.0], y / 0.8)
            } else {
                [70.0, 90.0, 50.0]
            }
        });
        let (r, g, b) = (field(&mut rng, 8, 10.0), field(&mut rng, 8, 10.0), field(&mut rng, 8, 10.0));
        let photo = draw(w, h, 6, 7, move |x, y| [128.0 + 110.0 * r(x, y), 128.0 + 110.0 * g(x, y), 128.0 + 110.0 * b(x, y)]);
        // A plain wall with a speck (foreground under 5%) and a close-up (background under 15%).
        let speck = product(w, h, [235, 230, 220], [40, 40, 40], 0.02, 0.0, 8);
        let close_up = draw(w, h, 3, 9, |x, y| if (x - 0.5).abs() < 0.47 && (y - 0.5).abs() < 0.47 { [200.0, 40.0, 40.0] } else { [255.0; 3] });
        vec![
            ("sky over a landscape", sky_over_land),
            ("sea under a sky", sea),
            ("snow field", snow),
            ("gradient", gradient),
            ("radial gradient", glow),
            ("mostly sky over a strip of land", mostly_sky),
            ("photo-like noise", photo),
            ("speck on a wall", speck),
            ("close-up", close_up),
        ]
    }

    #[test]
    fn sky_sea_snow_gradients_and_photos_are_left_alone() {
        for (name, img) in scenes() {
            assert!(remove_plain_background(&img).is_none(), "{name}: a background was removed");
            let keep = image_histogram(&img, BackgroundMode::Keep).unwrap();
            let ignore = image_histogram(&img, BackgroundMode::Ignore).unwrap();
            assert!(!ignore.background_removed && keep.histogram == ignore.histogram, "{name}");
        }
    }

    #[test]
    fn transparent_and_tiny_images_are_left_alone() {
        // Already transparent around the object: the histogram skips those pixels anyway.
        let mut img = product(100, 80, [255, 255, 255], [220, 30, 40], 0.2, 0.0, 3);
        for px in img.pixels.chunks_exact_mut(4).filter(|p| p[1] > 200) {
            px[3] = 0;
        }
        assert!(remove_plain_background(&img).is_none());
        for (w, h) in [(1, 1), (2, 5), (5, 2), (3, 3)] {
            let img = RgbaImage::new(w, h, vec![255; (w * h * 4) as usize]).unwrap();
            assert!(remove_plain_background(&img).is_none());
        }
        assert!(remove_plain_background(&RgbaImage { width: 4, height: 4, pixels: vec![0; 3] }).is_none());
    }

    #[test]
    fn noise_of_three_stays_within_the_tolerances() {
        // The numbers behind BORDER_TOLERANCE and MAX_BORDER_SPREAD (see docs/TUNING.md).
        for bg in [[255, 255, 255], [128, 128, 128], [0, 0, 0], [200, 200, 200], [40, 70, 200]] {
            let img = draw(200, 150, 3, 11, |_, _| f(bg));
            let reference = srgb_to_lab(bg);
            let d: Vec<f64> = img.pixels.chunks_exact(4).map(|p| delta_e(srgb_to_lab([p[0], p[1], p[2]]), reference)).collect();
            let max = d.iter().cloned().fold(0.0, f64::max);
            let rms = (d.iter().map(|x| x * x).sum::<f64>() / d.len() as f64).sqrt();
            eprintln!("noise ±3 on {bg:?}: max {max:.2} ΔE, rms {rms:.2}");
        }
    }
}

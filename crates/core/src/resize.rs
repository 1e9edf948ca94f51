//! RGBA images and their area-averaging downscale (exact box coverage, separable).
//!
//! The pixel type lives here, below `histogram`, so that dependencies point one way: the
//! histogram pipeline resizes, resizing knows nothing about histograms.

/// Largest image (width x height) decoded for a query, so that a hostile file cannot exhaust
/// memory: `query_image` checks the declared size against it before decoding.
pub const MAX_PIXELS: u64 = 50_000_000;

/// 8-bit RGBA pixels, row-major.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RgbaImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl RgbaImage {
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Result<Self, BadBuffer> {
        let image = Self { width, height, pixels };
        image.check()?;
        Ok(image)
    }

    pub(crate) fn check(&self) -> Result<(), BadBuffer> {
        let expected = (self.width as usize).checked_mul(self.height as usize).and_then(|n| n.checked_mul(4)).unwrap_or(usize::MAX);
        if expected != self.pixels.len() {
            return Err(BadBuffer { width: self.width, height: self.height, expected, actual: self.pixels.len() });
        }
        Ok(())
    }
}

/// A pixel buffer whose length is not `width * height * 4`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pixel buffer holds {actual} bytes, {width}x{height} RGBA needs {expected}")]
pub struct BadBuffer {
    pub width: u32,
    pub height: u32,
    pub expected: usize,
    pub actual: usize,
}

/// The size after scaling `(w, h)` so that the long side is at most `max_side` (never upscales).
pub fn fit_size(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= max_side || long == 0 {
        return (width, height);
    }
    let scale = max_side as f64 / long as f64;
    let fit = |v: u32| ((v as f64 * scale).round() as u32).clamp(1, max_side);
    (fit(width), fit(height))
}

/// For each output position, the source range it covers and the weight of each source pixel.
/// Weights of one output pixel sum to 1.
fn coverage(src: u32, dst: u32) -> Vec<(usize, Vec<f32>)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|o| {
            let start = o as f64 * scale;
            let end = (o as f64 + 1.0) * scale;
            let first = start.floor() as usize;
            let last = (end.ceil() as usize).min(src as usize);
            let weights = (first..last)
                .map(|i| {
                    let overlap = (end.min(i as f64 + 1.0) - start.max(i as f64)).max(0.0);
                    (overlap / scale) as f32
                })
                .collect();
            (first, weights)
        })
        .collect()
}

/// Downscales with area averaging so that the long side is at most `max_side`. Colors are averaged
/// weighted by alpha (premultiplied), so transparent pixels do not bleed into opaque ones.
pub fn downscale_to_fit(image: &RgbaImage, max_side: u32) -> RgbaImage {
    let (w, h) = fit_size(image.width, image.height, max_side);
    if (w, h) == (image.width, image.height) || image.check().is_err() {
        return image.clone();
    }
    let (sw, sh) = (image.width as usize, image.height as usize);
    let cols = coverage(image.width, w);
    let rows = coverage(image.height, h);

    // Horizontal pass into premultiplied f32 rows: sh x w x 4.
    let mut horizontal = vec![0.0f32; sh * w as usize * 4];
    for y in 0..sh {
        let src_row = &image.pixels[y * sw * 4..(y + 1) * sw * 4];
        let out_row = &mut horizontal[y * w as usize * 4..(y + 1) * w as usize * 4];
        for (x, (first, weights)) in cols.iter().enumerate() {
            let mut acc = [0.0f32; 4];
            for (k, &wt) in weights.iter().enumerate() {
                let p = &src_row[(first + k) * 4..(first + k) * 4 + 4];
                let a = p[3] as f32 * wt;
                acc[0] += p[0] as f32 * a;
                acc[1] += p[1] as f32 * a;
                acc[2] += p[2] as f32 * a;
                acc[3] += a;
            }
            out_row[x * 4..x * 4 + 4].copy_from_slice(&acc);
        }
    }

    // Vertical pass, then un-premultiply.
    let mut pixels = vec![0u8; w as usize * h as usize * 4];
    let row_len = w as usize * 4;
    let mut acc = vec![0.0f32; row_len];
    for (y, (first, weights)) in rows.iter().enumerate() {
        acc.iter_mut().for_each(|v| *v = 0.0);
        for (k, &wt) in weights.iter().enumerate() {
            let src = &horizontal[(first + k) * row_len..(first + k + 1) * row_len];
            for (a, s) in acc.iter_mut().zip(src) {
                *a += s * wt;
            }
        }
        let out = &mut pixels[y * row_len..(y + 1) * row_len];
        for (o, a) in out.chunks_exact_mut(4).zip(acc.chunks_exact(4)) {
            let alpha = a[3];
            if alpha > 0.0 {
                for c in 0..3 {
                    o[c] = (a[c] / alpha).round().clamp(0.0, 255.0) as u8;
                }
            }
            o[3] = alpha.round().clamp(0.0, 255.0) as u8;
        }
    }
    RgbaImage { width: w, height: h, pixels }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_and_never_upscales() {
        assert_eq!(fit_size(1024, 512, 256), (256, 128));
        assert_eq!(fit_size(100, 50, 256), (100, 50));
        assert_eq!(fit_size(10000, 1, 256), (256, 1));
    }

    #[test]
    fn averages_areas() {
        // 4x1: red, red, blue, blue -> 2x1 red, blue; 3x1 -> 1x1 mixes by area.
        let px = |c: [u8; 3]| [c[0], c[1], c[2], 255];
        let pixels = [px([255, 0, 0]), px([255, 0, 0]), px([0, 0, 255]), px([0, 0, 255])].concat();
        let img = RgbaImage::new(4, 1, pixels).unwrap();
        let half = downscale_to_fit(&img, 2);
        assert_eq!(half.pixels, [px([255, 0, 0]), px([0, 0, 255])].concat());
        let one = downscale_to_fit(&img, 1);
        assert_eq!(one.pixels, px([128, 0, 128]).to_vec());
    }

    #[test]
    fn transparent_pixels_do_not_bleed() {
        let pixels = vec![255, 0, 0, 255, 0, 255, 0, 0];
        let img = RgbaImage::new(2, 1, pixels).unwrap();
        let one = downscale_to_fit(&img, 1);
        assert_eq!(&one.pixels[..3], &[255, 0, 0]);
        assert_eq!(one.pixels[3], 128);
    }
}

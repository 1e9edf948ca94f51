//! Query by example image: encoded bytes -> the builder's histogram, with bounded resources.
//! (Bytes in, histogram out: still no IO. Behind the `query-image` feature; the CLI decodes with
//! its own DCT-scaling JPEG path.)

use crate::background::BackgroundMode;
use crate::histogram::{image_histogram, Histogram};
use crate::resize::{RgbaImage, MAX_PIXELS};

const MAX_ALLOC: u64 = 512 << 20;
pub const NOT_AN_IMAGE: &str = "this file is not an image Chromatica can read";

/// Decodes JPEG bytes (what example photos nearly always are) and histograms them the builder's
/// way. `Ok(None)`: another format (PNG, GIF, WebP, …), for the caller to decode (the browser's
/// decoders, in the app; the builder's, in the CLI) and pass to [`histogram_of_pixels`]: their
/// decoders would cost the app's wasm more than they are worth, and the browser gives their exact
/// pixels too (sRGB, opaque). `background` is the site's mode, so that an example image is
/// described as the site's images are.
pub fn histogram_of_encoded(bytes: &[u8], background: BackgroundMode) -> Result<Option<Histogram>, String> {
    if !bytes.starts_with(&JPEG_MAGIC) {
        return Ok(None);
    }
    let options = zune_core::options::DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(u16::MAX as usize)
        .set_max_height(u16::MAX as usize)
        .jpeg_set_out_colorspace(zune_core::colorspace::ColorSpace::RGBA);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(zune_core::bytestream::ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(|e| format!("cannot read the image: {e:?}"))?;
    let (w, h) = decoder.dimensions().ok_or("cannot read the image: no size")?;
    check_size(w as u32, h as u32)?;
    if decoder.output_buffer_size().is_none_or(|n| n as u64 > MAX_ALLOC) {
        return Err("cannot read the image: too large to decode".into());
    }
    let rgba = decoder.decode().map_err(|e| format!("cannot read the image: {e:?}"))?;
    histogram_of_pixels(w as u32, h as u32, rgba, background).map(Some)
}

/// How every JPEG file starts (SOI and the first marker's 0xFF).
const JPEG_MAGIC: [u8; 3] = [0xFF, 0xD8, 0xFF];

/// Refuses images of more than [`MAX_PIXELS`] pixels.
pub fn check_size(w: u32, h: u32) -> Result<(), String> {
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(format!("the image is too large ({w}x{h}); use one under {} megapixels", MAX_PIXELS / 1_000_000));
    }
    Ok(())
}

/// RGBA pixels (from any decoder) -> the histogram, with the site's `background` mode.
pub fn histogram_of_pixels(w: u32, h: u32, rgba: Vec<u8>, background: BackgroundMode) -> Result<Histogram, String> {
    let rgba = RgbaImage::new(w, h, rgba).map_err(|e| e.to_string())?;
    image_histogram(&rgba, background).map(|r| r.histogram).map_err(|e| format!("cannot use this image: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
        let mut out = Vec::new();
        let img = image::RgbImage::from_pixel(w, h, image::Rgb(rgb));
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 100).encode_image(&img).unwrap();
        out
    }

    /// The pixels this decodes to are the `image` crate's (which it used before): color and
    /// grayscale, baseline and progressive, over the demo photos.
    #[test]
    fn same_pixels_as_the_image_crate() {
        let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../demo-images");
        let mut files: Vec<Vec<u8>> = std::fs::read_dir(demo)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg")))
            .take(40)
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        assert!(files.len() >= 20);
        let gray = image::GrayImage::from_fn(33, 17, |x, y| image::Luma([(x * 7 + y * 3) as u8]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&gray).unwrap();
        files.push(out);
        for bytes in files {
            let expected = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).unwrap().to_rgba8();
            let options = zune_core::options::DecoderOptions::default().jpeg_set_out_colorspace(zune_core::colorspace::ColorSpace::RGBA);
            let got = zune_jpeg::JpegDecoder::new_with_options(zune_core::bytestream::ZCursor::new(&bytes), options).decode().unwrap();
            assert!(got == expected.as_raw().as_slice(), "pixels differ from the image crate's");
        }
    }

    #[test]
    fn decodes_jpeg_like_the_builder() {
        // A flat JPEG decodes to (nearly) its color: the histogram is that color's query histogram.
        let h = histogram_of_encoded(&jpeg(300, 20, [40, 90, 200]), BackgroundMode::Keep).unwrap().unwrap();
        let q = crate::Query::parse("2A5AC8", None).unwrap().histogram();
        let worst = h.as_slice().iter().zip(q.as_slice()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst < 0.05, "{worst}");
    }

    #[test]
    fn a_jpeg_product_photo_is_searched_by_its_object_on_ignore_sites() {
        use crate::background::tests::product;
        use crate::color::{delta_e, srgb_to_lab};
        use crate::histogram::dominant_colors;
        let (red, white) = ([220, 30, 40], [255, 255, 255]);
        let img = product(400, 300, white, red, 0.15, 0.0, 5);
        let rgb = image::RgbaImage::from_raw(img.width, img.height, img.pixels).unwrap();
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgba8(rgb).to_rgb8().write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
        let top = |mode| dominant_colors(&histogram_of_encoded(&jpeg, mode).unwrap().unwrap(), 5)[0];
        let (ignore, keep) = (top(BackgroundMode::Ignore), top(BackgroundMode::Keep));
        assert!(delta_e(srgb_to_lab(ignore.0), srgb_to_lab(red)) < 12.0 && ignore.1 > 0.7, "{ignore:?}");
        assert!(delta_e(srgb_to_lab(keep.0), srgb_to_lab(white)) < 12.0, "{keep:?}");
    }

    #[test]
    fn other_formats_bad_bytes_and_bombs() {
        assert_eq!(histogram_of_encoded(b"hello", BackgroundMode::Keep), Ok(None));
        assert_eq!(histogram_of_encoded(b"RIFF\0\0\0\0WEBPVP8 ", BackgroundMode::Keep), Ok(None));
        // PNG (and GIF) are the caller's to decode.
        assert_eq!(histogram_of_encoded(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", BackgroundMode::Keep), Ok(None));
        let good = jpeg(10, 10, [1, 2, 3]);
        assert!(histogram_of_encoded(&good[..good.len() / 2], BackgroundMode::Ignore).is_err());
        // A JPEG whose frame header declares 60000 x 60000 pixels.
        let mut bomb = good.clone();
        let sof = bomb.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        bomb[sof + 5..sof + 7].copy_from_slice(&60_000u16.to_be_bytes());
        bomb[sof + 7..sof + 9].copy_from_slice(&60_000u16.to_be_bytes());
        let err = histogram_of_encoded(&bomb, BackgroundMode::Ignore).unwrap_err();
        assert!(err.contains("too large"), "{err}");
    }
}

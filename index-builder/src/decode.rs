//! Image file -> upright RGBA pixels at (about) the sizes we need, as fast as the format allows,
//! and what that will cost in memory before any of it is spent.

use chromatica_core::resize::{downscale_to_fit, RgbaImage};
use image::{ImageDecoder, ImageReader, Limits};
use std::io::Cursor;

/// The longest side any decoder is allowed to declare (what `image` itself accepts).
const MAX_SIDE_PX: u32 = 65_535;
/// How much of a file `probe` needs to find the dimensions in the header of every format we read
/// (TIFFs that keep their directory at the end are the exception: they are probed as unknown).
pub const PROBE_BYTES: usize = 256 * 1024;

pub struct Decoded {
    /// Upright pixels, long side <= the requested size (not upscaled).
    pub pixels: RgbaImage,
    /// Upright size of the original image.
    pub width: u32,
    pub height: u32,
    /// The whole image, upright, for formats browsers cannot show (HEIC): the site's original is a
    /// JPEG rendition of it. `None` for every other format.
    pub full: Option<RgbaImage>,
}

/// What reading and decoding a file will cost, from its first bytes.
#[derive(Debug, PartialEq)]
pub enum Cost {
    /// The header declares these dimensions; reading and decoding needs about `bytes`.
    Known { width: u32, height: u32, bytes: u64 },
    /// The dimensions are not in the first [`PROBE_BYTES`]: assume the worst (the whole budget).
    Unknown,
}

/// Estimates, from the first bytes of a file of `file_size` bytes, the peak memory of reading it
/// and [`decode`]-ing it for `min_side`: the file itself, the decoder's full-size buffer (or the
/// DCT-scaled one for JPEG), the RGBA conversion, and the coefficient planes of progressive JPEGs.
/// Errors are reasons to skip the file without reading the rest of it.
pub fn probe(head: &[u8], file_size: u64, min_side: u32) -> Result<Cost, String> {
    if head.is_empty() {
        return Err("empty file".into());
    }
    let slack = 4 << 20;
    if crate::heif::is_heif(head) {
        if !crate::heif::available() {
            return Err(crate::heif::NOT_BUILT_IN.into());
        }
        return Ok(match crate::heif::cost(head) {
            Some(Ok((width, height, bytes))) => Cost::Known { width, height, bytes: file_size * 2 + bytes + slack },
            Some(Err(reason)) => return Err(reason),
            None => Cost::Unknown,
        });
    }
    let format = image::guess_format(head).map_err(|_| "not a recognised image format".to_string())?;
    if format == image::ImageFormat::Jpeg {
        let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(head));
        if decoder.read_info().is_err() {
            return Ok(Cost::Unknown);
        }
        let Some(info) = decoder.info() else { return Ok(Cost::Unknown) };
        let (w, h) = (info.width as u64, info.height as u64);
        check_sides(w, h)?;
        let components = match info.pixel_format {
            jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::L16 => 1,
            jpeg_decoder::PixelFormat::RGB24 => 3,
            jpeg_decoder::PixelFormat::CMYK32 => 4,
        };
        let bytes = if matches!(info.pixel_format, jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::RGB24) {
            // DCT-scaled to at least min_side; progressive JPEGs keep every coefficient (i16).
            let scale = jpeg_scale(w.max(h), min_side as u64);
            let scaled = w.div_ceil(scale) * h.div_ceil(scale);
            let coefficients = if info.coding_process == jpeg_decoder::CodingProcess::DctProgressive { w * h * components * 2 } else { 0 };
            scaled * (components + 8) + coefficients
        } else {
            // CMYK and 16-bit go through `image` at full size: decoded, then RGBA.
            w * h * (components * 2 + 4 + 4)
        };
        return Ok(Cost::Known { width: w as u32, height: h as u32, bytes: file_size + bytes + slack });
    }
    let reader = ImageReader::with_format(Cursor::new(head), format);
    let Ok(decoder) = reader.into_decoder() else { return Ok(Cost::Unknown) };
    let (w, h) = decoder.dimensions();
    let (w, h) = (w as u64, h as u64);
    check_sides(w, h)?;
    let decoded = w * h * decoder.color_type().bytes_per_pixel() as u64;
    // Decoded buffer + its RGBA conversion; GIF and WebP also keep a canvas of the frame.
    let canvas = if matches!(format, image::ImageFormat::Gif | image::ImageFormat::WebP) { w * h * 4 } else { 0 };
    Ok(Cost::Known { width: w as u32, height: h as u32, bytes: file_size + decoded + w * h * 4 + canvas + slack })
}

fn check_sides(w: u64, h: u64) -> Result<(), String> {
    if w == 0 || h == 0 {
        return Err("image has no pixels".into());
    }
    if w > MAX_SIDE_PX as u64 || h > MAX_SIDE_PX as u64 {
        return Err(format!("image is too large ({w}x{h}; at most {MAX_SIDE_PX} pixels a side)"));
    }
    Ok(())
}

/// The JPEG DCT scale denominator (1, 2, 4 or 8) whose output long side still covers `min_side`.
fn jpeg_scale(long_side: u64, min_side: u64) -> u64 {
    [8, 4, 2].into_iter().find(|s| long_side.div_ceil(*s) >= min_side).unwrap_or(1)
}

/// Decodes `bytes` so that the long side is at least `min_side` where the format can decode at
/// reduced size (JPEG: DCT scaling 1/2..1/8), then area-downscales to at most `min_side`. No
/// decoder may allocate more than `max_alloc` bytes (what [`probe`] estimated, or the budget).
pub fn decode(bytes: &[u8], min_side: u32, max_alloc: u64) -> Result<Decoded, String> {
    decode_keeping(bytes, min_side, max_alloc, false)
}

/// [`decode`], and with `keep_full` a HEIF/AVIF's whole upright image too ([`Decoded::full`]),
/// for the JPEG rendition that stands in for an original browsers cannot show.
pub fn decode_keeping(bytes: &[u8], min_side: u32, max_alloc: u64, keep_full: bool) -> Result<Decoded, String> {
    if bytes.is_empty() {
        return Err("empty file".into());
    }
    if crate::heif::is_heif(bytes) {
        return decode_heif(bytes, min_side, max_alloc, keep_full);
    }
    let format = image::guess_format(bytes).map_err(|_| "not a recognised image format".to_string())?;
    if format == image::ImageFormat::Jpeg {
        if let Some(result) = decode_jpeg_scaled(bytes, min_side, max_alloc) {
            return result;
        }
    }
    decode_generic(bytes, format, min_side, max_alloc)
}

/// The DCT-scaled path for grayscale and RGB JPEGs; `None` hands other JPEGs (CMYK, 16-bit) to `image`.
fn decode_jpeg_scaled(bytes: &[u8], min_side: u32, max_alloc: u64) -> Option<Result<Decoded, String>> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    if let Err(e) = decoder.read_info() {
        return Some(Err(format!("corrupt JPEG: {e}")));
    }
    let info = decoder.info()?;
    let (w, h) = (info.width as u32, info.height as u32);
    if w == 0 || h == 0 {
        return Some(Err("image has no pixels".into()));
    }
    let format = info.pixel_format;
    if !matches!(format, jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::RGB24) {
        return None;
    }
    // Ask for the smallest scale whose long side still covers min_side.
    let scale = (w.max(h) as f64 / min_side as f64).max(1.0);
    let (rw, rh) = (((w as f64 / scale).ceil() as u16).max(1), ((h as f64 / scale).ceil() as u16).max(1));
    let (sw, sh) = match decoder.scale(rw, rh) {
        Ok(s) => s,
        Err(e) => return Some(Err(format!("corrupt JPEG: {e}"))),
    };
    decoder.set_max_decoding_buffer_size(usize::try_from(max_alloc).unwrap_or(usize::MAX));
    let data = match decoder.decode() {
        Ok(d) => d,
        Err(e) => return Some(Err(format!("corrupt JPEG: {e}"))),
    };
    let (sw, sh) = (sw as u32, sh as u32);
    let expected = sw as usize * sh as usize * if format == jpeg_decoder::PixelFormat::L8 { 1 } else { 3 };
    if data.len() != expected {
        return Some(Err("corrupt JPEG: wrong pixel count".into()));
    }
    let mut rgba = Vec::with_capacity(sw as usize * sh as usize * 4);
    match format {
        jpeg_decoder::PixelFormat::L8 => data.iter().for_each(|&v| rgba.extend_from_slice(&[v, v, v, 255])),
        _ => data.chunks_exact(3).for_each(|p| rgba.extend_from_slice(&[p[0], p[1], p[2], 255])),
    }
    let orientation = decoder.exif_data().and_then(image::metadata::Orientation::from_exif_chunk);
    let mut image = image::DynamicImage::ImageRgba8(image::RgbaImage::from_raw(sw, sh, rgba)?);
    let small = downscale_to_fit(&to_core(&image), min_side);
    image = image::DynamicImage::ImageRgba8(image::RgbaImage::from_raw(small.width, small.height, small.pixels)?);
    let (mut ow, mut oh) = (w, h);
    if let Some(o) = orientation {
        image.apply_orientation(o);
        if swaps_axes(o) {
            std::mem::swap(&mut ow, &mut oh);
        }
    }
    Some(Ok(Decoded { pixels: to_core(&image), width: ow, height: oh, full: None }))
}

fn decode_generic(bytes: &[u8], format: image::ImageFormat, min_side: u32, max_alloc: u64) -> Result<Decoded, String> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_alloc);
    limits.max_image_width = Some(MAX_SIDE_PX);
    limits.max_image_height = Some(MAX_SIDE_PX);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| describe(format, e))?;
    let (w, h) = decoder.dimensions();
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    // GIF/WebP animations: from_decoder reads the first frame.
    let image = image::DynamicImage::from_decoder(decoder).map_err(|e| describe(format, e))?;
    // into_rgba8 reuses the buffer when it is RGBA8 already (no second full-size copy).
    let rgba = image.into_rgba8();
    let (fw, fh) = rgba.dimensions();
    let small = downscale_to_fit(&RgbaImage { width: fw, height: fh, pixels: rgba.into_raw() }, min_side);
    let mut image =
        image::DynamicImage::ImageRgba8(image::RgbaImage::from_raw(small.width, small.height, small.pixels).ok_or("decoder returned a bad buffer")?);
    image.apply_orientation(orientation);
    let (ow, oh) = if swaps_axes(orientation) { (h, w) } else { (w, h) };
    Ok(Decoded { pixels: to_core(&image), width: ow, height: oh, full: None })
}

/// HEIF/HEIC/AVIF through libheif (`heif.rs`): upright full-size pixels, downscaled for us, and
/// kept whole when asked (`keep_full`).
fn decode_heif(bytes: &[u8], min_side: u32, max_alloc: u64, keep_full: bool) -> Result<Decoded, String> {
    let pixels = crate::heif::decode(bytes, max_alloc)?;
    let full = RgbaImage { width: pixels.width, height: pixels.height, pixels: pixels.rgba };
    let small = downscale_to_fit(&full, min_side);
    Ok(Decoded { pixels: small, width: full.width, height: full.height, full: keep_full.then_some(full) })
}

fn swaps_axes(o: image::metadata::Orientation) -> bool {
    use image::metadata::Orientation::*;
    matches!(o, Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH)
}

fn describe(format: image::ImageFormat, e: image::ImageError) -> String {
    let name = format!("{format:?}").to_uppercase();
    match e {
        image::ImageError::Limits(l) => format!("image is too large to decode safely ({l})"),
        image::ImageError::Unsupported(u) => format!("unsupported {name}: {u}"),
        other => format!("corrupt {name}: {other}"),
    }
}

fn to_core(image: &image::DynamicImage) -> RgbaImage {
    let rgba = image.to_rgba8();
    let (w, h) = rgba.dimensions();
    RgbaImage { width: w, height: h, pixels: rgba.into_raw() }
}

/// JPEG thumbnail; transparent areas are flattened onto white.
pub fn encode_thumbnail(pixels: &RgbaImage, quality: u8) -> Result<Vec<u8>, String> {
    let rgb: Vec<u8> = pixels
        .pixels
        .chunks_exact(4)
        .flat_map(|p| {
            let a = p[3] as u32;
            let blend = |c: u8| ((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
            [blend(p[0]), blend(p[1]), blend(p[2])]
        })
        .collect();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode(&rgb, pixels.width, pixels.height, image::ExtendedColorType::Rgb8)
        .map_err(|e| format!("thumbnail encoding failed: {e}"))?;
    Ok(out)
}

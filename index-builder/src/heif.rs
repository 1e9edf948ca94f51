//! HEIC/HEIF and AVIF decoding through the system's libheif (C), when the CLI was built with it.
//!
//! Why not the `libheif-rs` crate: it needs libheif 1.17 or newer, and Debian 12 ships 1.15. The
//! dozen functions used here are in every libheif since 1.x, declared below as they are in
//! `libheif/heif.h`. `build.rs` finds libheif with pkg-config and sets `cfg(has_libheif)`; a
//! binary built without it (the static musl package, a machine without `libheif-dev`) still reads
//! every other format and skips these files with a reason that says how to get them.
//!
//! libheif applies the image's own transformations (`irot`, `imir`, `clap`) when it decodes, so
//! pixels come out upright; an EXIF orientation inside a HEIF is informational and ignored, as the
//! format requires. 10- and 12-bit images are converted to 8 bits, alpha is kept, and of an image
//! sequence or burst the primary image is taken.

/// Whether `bytes` start like an ISO-BMFF image (HEIF, HEIC, AVIF): an `ftyp` box with an image brand.
pub fn is_heif(bytes: &[u8]) -> bool {
    const BRANDS: [&[u8; 4]; 10] = [b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"];
    bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && BRANDS.iter().any(|b| &bytes[8..12] == *b)
}

/// Whether `bytes` are AVIF (which browsers show; HEIC they mostly do not).
pub fn is_avif(bytes: &[u8]) -> bool {
    bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && matches!(&bytes[8..12], b"avif" | b"avis")
}

/// What a build without libheif says of a HEIF/AVIF file.
pub const NOT_BUILT_IN: &str = "HEIC/HEIF/AVIF support is not built into this chromatica: install libheif \
     (Debian/Ubuntu: apt install libheif-dev) and build it again from source (cargo install, or bash scripts/setup.sh)";

/// Upright pixels, RGBA, full size.
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

#[cfg(has_libheif)]
mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    #[repr(C)]
    pub struct HeifError {
        pub code: c_int,
        pub subcode: c_int,
        pub message: *const c_char,
    }

    pub enum Context {}
    pub enum Handle {}
    pub enum Image {}

    pub const COLORSPACE_RGB: c_int = 1;
    pub const CHROMA_INTERLEAVED_RGBA: c_int = 11;
    pub const CHANNEL_INTERLEAVED: c_int = 10;

    #[link(name = "heif")]
    extern "C" {
        pub fn heif_context_alloc() -> *mut Context;
        pub fn heif_context_free(ctx: *mut Context);
        pub fn heif_context_set_maximum_image_size_limit(ctx: *mut Context, maximum_width: c_int);
        pub fn heif_context_set_max_decoding_threads(ctx: *mut Context, max_threads: c_int);
        pub fn heif_context_read_from_memory_without_copy(ctx: *mut Context, mem: *const c_void, size: usize, options: *const c_void) -> HeifError;
        pub fn heif_context_get_primary_image_handle(ctx: *mut Context, handle: *mut *mut Handle) -> HeifError;
        pub fn heif_image_handle_get_width(handle: *const Handle) -> c_int;
        pub fn heif_image_handle_get_height(handle: *const Handle) -> c_int;
        pub fn heif_image_handle_release(handle: *const Handle);
        pub fn heif_decode_image(handle: *const Handle, out: *mut *mut Image, colorspace: c_int, chroma: c_int, options: *const c_void) -> HeifError;
        pub fn heif_image_get_width(image: *const Image, channel: c_int) -> c_int;
        pub fn heif_image_get_height(image: *const Image, channel: c_int) -> c_int;
        pub fn heif_image_get_plane_readonly(image: *const Image, channel: c_int, stride: *mut c_int) -> *const u8;
        pub fn heif_image_release(image: *const Image);
    }
}

/// A parsed file and its primary image, released on drop.
#[cfg(has_libheif)]
struct Parsed {
    ctx: *mut ffi::Context,
    handle: *mut ffi::Handle,
}

#[cfg(has_libheif)]
impl Drop for Parsed {
    fn drop(&mut self) {
        // SAFETY: both were returned by libheif (or are null) and are released once, here.
        unsafe {
            if !self.handle.is_null() {
                ffi::heif_image_handle_release(self.handle);
            }
            if !self.ctx.is_null() {
                ffi::heif_context_free(self.ctx);
            }
        }
    }
}

#[cfg(has_libheif)]
fn check(e: ffi::HeifError, what: &str) -> Result<(), String> {
    if e.code == 0 {
        return Ok(());
    }
    // SAFETY: libheif's messages are static NUL-terminated strings ("always defined").
    let message = if e.message.is_null() { String::new() } else { unsafe { std::ffi::CStr::from_ptr(e.message) }.to_string_lossy().into_owned() };
    Err(format!("corrupt HEIF/AVIF ({what}: {message})"))
}

/// Parses `bytes` (which must outlive the result: libheif reads them without a copy).
#[cfg(has_libheif)]
fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    // SAFETY: every pointer passed is valid for the call; results are checked before use.
    unsafe {
        let mut parsed = Parsed { ctx: ffi::heif_context_alloc(), handle: std::ptr::null_mut() };
        if parsed.ctx.is_null() {
            return Err("libheif could not start".into());
        }
        ffi::heif_context_set_maximum_image_size_limit(parsed.ctx, 65_535);
        // Our own jobs decode files in parallel: one thread each keeps memory to the budget.
        ffi::heif_context_set_max_decoding_threads(parsed.ctx, 0);
        check(ffi::heif_context_read_from_memory_without_copy(parsed.ctx, bytes.as_ptr().cast(), bytes.len(), std::ptr::null()), "container")?;
        check(ffi::heif_context_get_primary_image_handle(parsed.ctx, &mut parsed.handle), "primary image")?;
        if parsed.handle.is_null() {
            return Err("corrupt HEIF/AVIF (no primary image)".into());
        }
        Ok(parsed)
    }
}

/// The primary image's size (as stored, before rotation), from the file's first bytes when its
/// metadata comes first (as cameras write it); `None` when those bytes do not say.
#[cfg(has_libheif)]
pub fn dimensions(head: &[u8]) -> Option<(u32, u32)> {
    let parsed = parse(head).ok()?;
    // SAFETY: a valid handle.
    let (w, h) = unsafe { (ffi::heif_image_handle_get_width(parsed.handle), ffi::heif_image_handle_get_height(parsed.handle)) };
    (w > 0 && h > 0).then_some((w as u32, h as u32))
}

#[cfg(not(has_libheif))]
pub fn dimensions(_head: &[u8]) -> Option<(u32, u32)> {
    None
}

/// Decodes the primary image, upright, to 8-bit RGBA, if its size fits `max_pixels`.
#[cfg(has_libheif)]
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<Pixels, String> {
    let parsed = parse(bytes)?;
    // SAFETY: a valid handle; the decoded image is released below on every path.
    unsafe {
        let (w, h) = (ffi::heif_image_handle_get_width(parsed.handle), ffi::heif_image_handle_get_height(parsed.handle));
        if w <= 0 || h <= 0 {
            return Err("image has no pixels".into());
        }
        if w as u64 * h as u64 > max_pixels {
            return Err(format!("the image is too large to decode within the memory budget ({w}x{h}; see --max-memory)"));
        }
        let mut image: *mut ffi::Image = std::ptr::null_mut();
        check(ffi::heif_decode_image(parsed.handle, &mut image, ffi::COLORSPACE_RGB, ffi::CHROMA_INTERLEAVED_RGBA, std::ptr::null()), "image data")?;
        if image.is_null() {
            return Err("corrupt HEIF/AVIF (no image data)".into());
        }
        let release = |image| ffi::heif_image_release(image);
        let (iw, ih) = (ffi::heif_image_get_width(image, ffi::CHANNEL_INTERLEAVED), ffi::heif_image_get_height(image, ffi::CHANNEL_INTERLEAVED));
        let mut stride: std::ffi::c_int = 0;
        let plane = ffi::heif_image_get_plane_readonly(image, ffi::CHANNEL_INTERLEAVED, &mut stride);
        if plane.is_null() || iw <= 0 || ih <= 0 || (stride as i64) < iw as i64 * 4 {
            release(image);
            return Err("corrupt HEIF/AVIF (unexpected pixel layout)".into());
        }
        let (iw, ih, stride) = (iw as usize, ih as usize, stride as usize);
        let mut rgba = Vec::with_capacity(iw * ih * 4);
        for row in 0..ih {
            rgba.extend_from_slice(std::slice::from_raw_parts(plane.add(row * stride), iw * 4));
        }
        release(image);
        Ok(Pixels { width: iw as u32, height: ih as u32, rgba })
    }
}

#[cfg(not(has_libheif))]
pub fn decode(_bytes: &[u8], _max_pixels: u64) -> Result<Pixels, String> {
    Err(NOT_BUILT_IN.into())
}

/// Whether this binary reads HEIF/AVIF.
pub const fn available() -> bool {
    cfg!(has_libheif)
}

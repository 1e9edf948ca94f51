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
    /// `heif_error_Unsupported_feature`: a codec or feature this libheif lacks.
    pub const ERROR_UNSUPPORTED_FEATURE: c_int = 4;
    /// `heif_error_Memory_allocation_error` (a limit of libheif's, or out of memory).
    pub const ERROR_MEMORY: c_int = 6;

    #[link(name = "heif")]
    extern "C" {
        pub fn heif_init(params: *mut c_void) -> HeifError;
        pub fn heif_context_alloc() -> *mut Context;
        pub fn heif_context_free(ctx: *mut Context);
        pub fn heif_context_set_maximum_image_size_limit(ctx: *mut Context, maximum_width: c_int);
        pub fn heif_context_set_max_decoding_threads(ctx: *mut Context, max_threads: c_int);
        pub fn heif_context_read_from_memory_without_copy(ctx: *mut Context, mem: *const c_void, size: usize, options: *const c_void) -> HeifError;
        pub fn heif_context_get_primary_image_handle(ctx: *mut Context, handle: *mut *mut Handle) -> HeifError;
        pub fn heif_image_handle_get_width(handle: *const Handle) -> c_int;
        pub fn heif_image_handle_get_height(handle: *const Handle) -> c_int;
        pub fn heif_image_handle_get_ispe_width(handle: *const Handle) -> c_int;
        pub fn heif_image_handle_get_ispe_height(handle: *const Handle) -> c_int;
        pub fn heif_image_handle_has_alpha_channel(handle: *const Handle) -> c_int;
        pub fn heif_image_handle_get_luma_bits_per_pixel(handle: *const Handle) -> c_int;
        pub fn heif_image_handle_release(handle: *const Handle);
        pub fn heif_decode_image(handle: *const Handle, out: *mut *mut Image, colorspace: c_int, chroma: c_int, options: *const c_void) -> HeifError;
        pub fn heif_image_get_width(image: *const Image, channel: c_int) -> c_int;
        pub fn heif_image_get_height(image: *const Image, channel: c_int) -> c_int;
        pub fn heif_image_get_plane_readonly(image: *const Image, channel: c_int, stride: *mut c_int) -> *const u8;
        pub fn heif_image_release(image: *const Image);
    }
}

/// The largest side libheif may decode: the 32-bit size arithmetic of libheif 1.15 overflows at
/// 2^30 RGBA pixels, so sides stay below sqrt(2^29).
#[cfg(has_libheif)]
const MAX_SIDE: u32 = 23_170;

/// A parsed file and its primary image, released on drop; borrows the bytes libheif reads
/// without a copy.
#[cfg(has_libheif)]
struct Parsed<'a> {
    ctx: *mut ffi::Context,
    handle: *mut ffi::Handle,
    _bytes: std::marker::PhantomData<&'a [u8]>,
}

#[cfg(has_libheif)]
impl Drop for Parsed<'_> {
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

/// A decoded image, released on drop.
#[cfg(has_libheif)]
struct Decoded(*mut ffi::Image);

#[cfg(has_libheif)]
impl Drop for Decoded {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: returned by heif_decode_image, released once.
            unsafe { ffi::heif_image_release(self.0) }
        }
    }
}

#[cfg(has_libheif)]
fn check(e: ffi::HeifError, what: &str) -> Result<(), String> {
    if e.code == 0 {
        return Ok(());
    }
    // SAFETY: libheif's messages are NUL-terminated and live as long as the context (copied here).
    let message =
        if e.message.is_null() { String::new() } else { unsafe { std::ffi::CStr::from_ptr(e.message) }.to_string_lossy().trim().to_string() };
    Err(match e.code {
        ffi::ERROR_UNSUPPORTED_FEATURE => {
            format!("this libheif cannot decode it ({message}; a codec plugin may be missing, e.g. libheif-plugin-libde265 or -dav1d)")
        }
        ffi::ERROR_MEMORY => format!("the image is too large to decode ({message})"),
        _ => format!("corrupt HEIF/AVIF ({what}: {message})"),
    })
}

/// `heif_init` once per process (it loads the codec plugins of libheif 1.16 and newer; never
/// undone, as other users of libheif in the process may rely on it).
#[cfg(has_libheif)]
fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    // SAFETY: a null parameter block is what the header documents for the defaults.
    INIT.call_once(|| {
        // A failure here shows again, with its reason, when a file is parsed.
        let _ = unsafe { ffi::heif_init(std::ptr::null_mut()) };
    });
}

/// Parses `bytes`; no image data is decoded yet.
#[cfg(has_libheif)]
fn parse(bytes: &[u8]) -> Result<Parsed<'_>, String> {
    init();
    // SAFETY: every pointer passed is valid for the call; results are checked before use.
    unsafe {
        let mut parsed = Parsed { ctx: ffi::heif_context_alloc(), handle: std::ptr::null_mut(), _bytes: std::marker::PhantomData };
        if parsed.ctx.is_null() {
            return Err("libheif could not start".into());
        }
        ffi::heif_context_set_maximum_image_size_limit(parsed.ctx, MAX_SIDE as std::ffi::c_int);
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

/// What the primary image declares: the larger of its displayed and stored (`ispe`) sizes, and
/// the bytes a decode of it holds per pixel.
#[cfg(has_libheif)]
struct Declared {
    width: u32,
    height: u32,
    bytes_per_pixel: u64,
}

#[cfg(has_libheif)]
fn declared(parsed: &Parsed<'_>) -> Result<Declared, String> {
    // SAFETY: a valid handle.
    let (w, h, iw, ih, alpha, bits) = unsafe {
        let handle = parsed.handle;
        (
            ffi::heif_image_handle_get_width(handle),
            ffi::heif_image_handle_get_height(handle),
            ffi::heif_image_handle_get_ispe_width(handle),
            ffi::heif_image_handle_get_ispe_height(handle),
            ffi::heif_image_handle_has_alpha_channel(handle) != 0,
            ffi::heif_image_handle_get_luma_bits_per_pixel(handle),
        )
    };
    if w <= 0 || h <= 0 {
        return Err("image has no pixels".into());
    }
    let (width, height) = (w.max(iw) as u32, h.max(ih) as u32);
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!("image is too large ({width}x{height}; at most {MAX_SIDE} pixels a side for HEIF/AVIF)"));
    }
    // The decoder's planes (4:2:0 at 8 bits: 1.5 bytes; more samples, wider samples and alpha
    // cost more), the RGBA it converts to, our copy, and a JPEG rendition's RGB.
    let planes = if bits > 8 { 6 } else { 2 } + if alpha { 2 } else { 0 };
    Ok(Declared { width, height, bytes_per_pixel: planes + 4 + 4 + 3 })
}

/// The primary image's declared size, and the bytes decoding it needs, from the file's first
/// bytes when its metadata comes first; `None` when those bytes do not say.
#[cfg(has_libheif)]
pub fn cost(head: &[u8]) -> Option<Result<(u32, u32, u64), String>> {
    let parsed = parse(head).ok()?;
    Some(declared(&parsed).map(|d| (d.width, d.height, d.width as u64 * d.height as u64 * d.bytes_per_pixel)))
}

#[cfg(not(has_libheif))]
pub fn cost(_head: &[u8]) -> Option<Result<(u32, u32, u64), String>> {
    None
}

/// Decodes the primary image, upright, to 8-bit RGBA, if decoding it needs at most `max_bytes`.
/// The image must come out at its declared size (a grid or overlay larger than it is refused
/// through libheif's size limit, which is lowered to the declared size before decoding).
#[cfg(has_libheif)]
pub fn decode(bytes: &[u8], max_bytes: u64) -> Result<Pixels, String> {
    let parsed = parse(bytes)?;
    let d = declared(&parsed)?;
    let need = d.width as u64 * d.height as u64 * d.bytes_per_pixel;
    if need > max_bytes {
        return Err(format!("the image is too large to decode within the memory budget ({}x{}; see --max-memory)", d.width, d.height));
    }
    // SAFETY: valid handle and context; the image is released by its guard on every path, and
    // the plane is read within height x stride bytes.
    unsafe {
        // libheif refuses a side equal to the limit: one more.
        ffi::heif_context_set_maximum_image_size_limit(parsed.ctx, (d.width.max(d.height) + 1) as std::ffi::c_int);
        let mut image = Decoded(std::ptr::null_mut());
        check(
            ffi::heif_decode_image(parsed.handle, &mut image.0, ffi::COLORSPACE_RGB, ffi::CHROMA_INTERLEAVED_RGBA, std::ptr::null()),
            "image data",
        )?;
        if image.0.is_null() {
            return Err("corrupt HEIF/AVIF (no image data)".into());
        }
        let (iw, ih) = (ffi::heif_image_get_width(image.0, ffi::CHANNEL_INTERLEAVED), ffi::heif_image_get_height(image.0, ffi::CHANNEL_INTERLEAVED));
        if iw <= 0 || ih <= 0 || iw as u64 * ih as u64 > d.width as u64 * d.height as u64 {
            return Err(format!("corrupt HEIF/AVIF (decoded {iw}x{ih}, declared {}x{})", d.width, d.height));
        }
        let mut stride: std::ffi::c_int = 0;
        let plane = ffi::heif_image_get_plane_readonly(image.0, ffi::CHANNEL_INTERLEAVED, &mut stride);
        let (iw, ih) = (iw as usize, ih as usize);
        let row = iw.checked_mul(4).ok_or("image too large")?;
        if plane.is_null() || stride < 0 || (stride as usize) < row {
            return Err("corrupt HEIF/AVIF (unexpected pixel layout)".into());
        }
        let mut rgba = Vec::with_capacity(row.checked_mul(ih).ok_or("image too large")?);
        for y in 0..ih {
            rgba.extend_from_slice(std::slice::from_raw_parts(plane.add(y * stride as usize), row));
        }
        Ok(Pixels { width: iw as u32, height: ih as u32, rgba })
    }
}

#[cfg(not(has_libheif))]
pub fn decode(_bytes: &[u8], _max_bytes: u64) -> Result<Pixels, String> {
    Err(NOT_BUILT_IN.into())
}

/// Whether this binary reads HEIF/AVIF.
pub const fn available() -> bool {
    cfg!(has_libheif)
}

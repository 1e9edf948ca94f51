//! The site's preview image, `preview.jpg`: what a link to the site shows in chats and social
//! networks (Open Graph `og:image`, Twitter's large card). A 1200×630 mosaic of the collection's
//! thumbnails, taken evenly along the index's order (shards are color clusters, so the mosaic runs
//! through the collection's colors), each cropped to fill its tile.

use chromatica_core::resize::RgbaImage;
use std::path::PathBuf;

pub const PREVIEW_FILE: &str = "preview.jpg";
/// The size link previews ask for (1.91:1).
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 630;
/// 8 x 4 tiles of 150 x 157 px (the last row takes the rounding).
const COLUMNS: u32 = 8;
const ROWS: u32 = 4;
const QUALITY: u8 = 85;
/// The background where a tile has no image (the page's light background).
const BACKGROUND: [u8; 4] = [246, 246, 248, 255];

/// Which of `count` images (in index order) the tiles show: evenly spaced, at most one a tile.
pub fn picks(count: usize) -> Vec<usize> {
    let tiles = (COLUMNS * ROWS) as usize;
    if count <= tiles {
        return (0..count).collect();
    }
    (0..tiles).map(|i| i * count / tiles).collect()
}

/// The preview from thumbnail files (JPEG), in tile order; a thumbnail that cannot be read is left
/// out. `None` when there is no thumbnail at all.
pub fn make(thumbs: &[PathBuf]) -> Option<Vec<u8>> {
    let tiles: Vec<image::RgbaImage> = thumbs.iter().filter_map(|p| image::open(p).ok()).map(|i| i.to_rgba8()).collect();
    if tiles.is_empty() {
        return None;
    }
    let mut canvas = image::RgbaImage::from_pixel(WIDTH, HEIGHT, image::Rgba(BACKGROUND));
    // With few images, fewer and larger tiles: a grid just big enough for them.
    let (columns, rows) = grid(tiles.len());
    for (i, tile) in tiles.iter().enumerate() {
        let (c, r) = (i as u32 % columns, i as u32 / columns);
        let (x0, y0) = (c * WIDTH / columns, r * HEIGHT / rows);
        let (w, h) = ((c + 1) * WIDTH / columns - x0, (r + 1) * HEIGHT / rows - y0);
        let filled = crop_to_fill(tile, w, h);
        image::imageops::overlay(&mut canvas, &filled, x0 as i64, y0 as i64);
    }
    let pixels = RgbaImage { width: WIDTH, height: HEIGHT, pixels: canvas.into_raw() };
    index_builder::decode::encode_thumbnail(&pixels, QUALITY).ok()
}

/// Columns and rows for `n` tiles: the 8 x 4 grid, or a smaller one of the same shape.
fn grid(n: usize) -> (u32, u32) {
    for (columns, rows) in [(2, 1), (4, 2), (6, 3), (COLUMNS, ROWS)] {
        if n <= (columns * rows) as usize {
            return (columns, rows);
        }
    }
    (COLUMNS, ROWS)
}

/// `image` scaled to cover `w` x `h` and cut to it, centred.
fn crop_to_fill(image: &image::RgbaImage, w: u32, h: u32) -> image::RgbaImage {
    let (iw, ih) = image.dimensions();
    let scale = (w as f64 / iw.max(1) as f64).max(h as f64 / ih.max(1) as f64);
    let (sw, sh) = (((iw as f64 * scale).ceil() as u32).max(w), ((ih as f64 * scale).ceil() as u32).max(h));
    let scaled = image::imageops::resize(image, sw, sh, image::imageops::FilterType::Triangle);
    image::imageops::crop_imm(&scaled, (sw - w) / 2, (sh - h) / 2, w, h).to_image()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_are_spread_and_bounded() {
        assert_eq!(picks(3), vec![0, 1, 2]);
        let p = picks(1000);
        assert_eq!(p.len(), 32);
        assert_eq!((p[0], p[31]), (0, 968));
        assert!(p.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_preview_is_a_1200_by_630_jpeg_of_the_tiles() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (i, rgb) in [[255u8, 0, 0], [0, 0, 255]].iter().enumerate() {
            let path = dir.path().join(format!("{i}.jpg"));
            image::RgbImage::from_pixel(64, 48, image::Rgb(*rgb)).save(&path).unwrap();
            paths.push(path);
        }
        paths.push(dir.path().join("missing.jpg"));
        let jpeg = make(&paths).unwrap();
        let decoded = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (WIDTH, HEIGHT));
        // Two tiles side by side: red on the left, blue on the right.
        let (left, right) = (decoded.get_pixel(300, 315), decoded.get_pixel(900, 315));
        assert!(left[0] > 200 && left[2] < 60, "{left:?}");
        assert!(right[2] > 200 && right[0] < 60, "{right:?}");
        assert!(make(&[dir.path().join("none.jpg")]).is_none());
    }
}

//! Palettes to take away: a list of colors (a query's, an image's) as text to paste (hex list, CSS
//! custom properties, JSON) or as an Adobe Swatch Exchange file (`.ase`, which Photoshop,
//! Illustrator, InDesign, Affinity and Krita import).
//!
//! ASE, as written here (every number big-endian):
//! ```text
//! "ASEF"  u16 1  u16 0                   signature, version 1.0
//! u32 blocks                            one block per color
//! per color:
//!   u16 0x0001                          a color entry
//!   u32 length                          of the rest of the block, in bytes
//!   u16 name length                     in UTF-16 code units, with the terminating zero
//!   name                                UTF-16BE, then 0x0000
//!   "RGB "                              the color model
//!   f32 r, f32 g, f32 b                 0..1
//!   u16 2                               color type: normal (0 global, 1 spot)
//! ```
//! [`parse_ase`] reads that layout back (RGB entries; groups and other models are skipped), so
//! tests check the writer against an independent reading.

use crate::color::{to_hex, Rgb};

/// One color of a palette: its name (e.g. its hex code) and value, and its share (0..1).
#[derive(Clone, Debug, PartialEq)]
pub struct Swatch {
    pub name: String,
    pub rgb: Rgb,
    pub share: f64,
}

impl Swatch {
    /// A swatch named by its hex code (`#E4572E`).
    pub fn of(rgb: Rgb, share: f64) -> Self {
        Self { name: format!("#{}", to_hex(rgb)), rgb, share }
    }
}

/// `#E4572E, #F3A712`: one line, as the color rows accept it when pasted.
pub fn hex_list(swatches: &[Swatch]) -> String {
    swatches.iter().map(|s| format!("#{}", to_hex(s.rgb))).collect::<Vec<_>>().join(", ")
}

/// CSS custom properties in a `:root` rule, one a color, with its share as a comment.
pub fn css(swatches: &[Swatch]) -> String {
    let mut out = String::from(":root {\n");
    for (i, s) in swatches.iter().enumerate() {
        out.push_str(&format!("  --color-{}: #{}; /* {:.0}% */\n", i + 1, to_hex(s.rgb).to_ascii_lowercase(), s.share * 100.0));
    }
    out.push_str("}\n");
    out
}

/// `[{"hex": "#E4572E", "rgb": [228, 87, 46], "share": 0.6}, …]`.
pub fn json(swatches: &[Swatch]) -> String {
    let items: Vec<String> = swatches
        .iter()
        .map(|s| format!(r##"{{"hex": "#{}", "rgb": [{}, {}, {}], "share": {}}}"##, to_hex(s.rgb), s.rgb[0], s.rgb[1], s.rgb[2], round4(s.share)))
        .collect();
    format!("[{}]", items.join(", "))
}

fn round4(x: f64) -> f64 {
    (x.clamp(0.0, 1.0) * 1e4).round() / 1e4
}

const ASE_SIGNATURE: &[u8; 4] = b"ASEF";
const COLOR_ENTRY: u16 = 0x0001;
const NORMAL_COLOR: u16 = 2;

/// An Adobe Swatch Exchange file of `swatches` (RGB, named).
pub fn ase(swatches: &[Swatch]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(ASE_SIGNATURE);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&(swatches.len() as u32).to_be_bytes());
    for s in swatches {
        let name: Vec<u16> = s.name.encode_utf16().chain([0]).collect();
        let mut block = Vec::new();
        block.extend_from_slice(&(name.len() as u16).to_be_bytes());
        for unit in &name {
            block.extend_from_slice(&unit.to_be_bytes());
        }
        block.extend_from_slice(b"RGB ");
        for c in s.rgb {
            block.extend_from_slice(&(c as f32 / 255.0).to_be_bytes());
        }
        block.extend_from_slice(&NORMAL_COLOR.to_be_bytes());
        out.extend_from_slice(&COLOR_ENTRY.to_be_bytes());
        out.extend_from_slice(&(block.len() as u32).to_be_bytes());
        out.extend_from_slice(&block);
    }
    out
}

/// The RGB colors of an ASE file, with their names; `None` if it is not one.
pub fn parse_ase(bytes: &[u8]) -> Option<Vec<(String, Rgb)>> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != ASE_SIGNATURE {
        return None;
    }
    let (_major, _minor, blocks) = (r.u16()?, r.u16()?, r.u32()?);
    let mut colors = Vec::new();
    for _ in 0..blocks {
        let (kind, len) = (r.u16()?, r.u32()? as usize);
        let mut block = Reader { bytes: r.take(len)?, at: 0 };
        if kind != COLOR_ENTRY {
            continue;
        }
        let units = block.u16()? as usize;
        let name: Vec<u16> = (0..units).map(|_| block.u16()).collect::<Option<_>>()?;
        let name = String::from_utf16(name.strip_suffix(&[0]).unwrap_or(&name)).ok()?;
        if block.take(4)? != b"RGB " {
            continue;
        }
        let mut rgb = [0u8; 3];
        for c in &mut rgb {
            let v = f32::from_be_bytes(block.take(4)?.try_into().ok()?);
            *c = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        }
        colors.push((name, rgb));
    }
    Some(colors)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn palette() -> Vec<Swatch> {
        vec![Swatch::of([228, 87, 46], 0.6), Swatch::of([243, 167, 18], 0.3), Swatch { name: "Ünïcode 🎨".into(), rgb: [0, 0, 255], share: 0.1 }]
    }

    #[test]
    fn ase_reads_back() {
        let bytes = ase(&palette());
        let back = parse_ase(&bytes).unwrap();
        let expected: Vec<(String, Rgb)> = palette().into_iter().map(|s| (s.name, s.rgb)).collect();
        assert_eq!(back, expected);
        // The fixed parts, byte for byte: header, and the first block's kind, length and name.
        assert_eq!(&bytes[..12], b"ASEF\0\x01\0\0\0\0\0\x03");
        assert_eq!(&bytes[12..14], &[0, 1]);
        let len = u32::from_be_bytes(bytes[14..18].try_into().unwrap());
        assert_eq!(len as usize, 2 + 8 * 2 + 4 + 12 + 2, "name '#E4572E' + zero = 8 units");
        assert_eq!(&bytes[18..20], &[0, 8]);
        assert_eq!(&bytes[20..22], &[0, b'#']);
    }

    #[test]
    fn damaged_ase_is_refused_without_panic() {
        let bytes = ase(&palette());
        for cut in 0..bytes.len() {
            let _ = parse_ase(&bytes[..cut]);
        }
        assert!(parse_ase(&bytes[..bytes.len() - 3]).is_none());
        assert!(parse_ase(b"GIF89a").is_none());
    }

    #[test]
    fn text_formats() {
        let p = palette();
        assert_eq!(hex_list(&p), "#E4572E, #F3A712, #0000FF");
        assert_eq!(css(&p).lines().nth(1).unwrap(), "  --color-1: #e4572e; /* 60% */");
        let parsed: serde_json::Value = serde_json::from_str(&json(&p)).unwrap();
        assert_eq!(parsed[0]["hex"], "#E4572E");
        assert_eq!(parsed[1]["rgb"], serde_json::json!([243, 167, 18]));
        assert_eq!(parsed[2]["share"], 0.1);
        // The hex list is what the color rows take when pasted.
        let hex: Vec<Rgb> = hex_list(&p).split(", ").filter_map(crate::color::parse_hex).collect();
        assert_eq!(hex, p.iter().map(|s| s.rgb).collect::<Vec<_>>());
    }
}

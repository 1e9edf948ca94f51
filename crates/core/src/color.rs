//! sRGB (8-bit) <-> CIE Lab (D65, 2 degree observer), via `palette`.

use palette::{white_point::D65, FromColor, Lab, LinSrgb, Srgb};
use std::sync::OnceLock;

/// An 8-bit sRGB color.
pub type Rgb = [u8; 3];

/// sRGB decoding (the transfer function) for each 8-bit value, computed once by `palette`.
fn linear_lut() -> &'static [f64; 256] {
    static LUT: OnceLock<[f64; 256]> = OnceLock::new();
    LUT.get_or_init(|| {
        let mut lut = [0.0; 256];
        for (v, out) in lut.iter_mut().enumerate() {
            *out = Srgb::new(v as f64 / 255.0, 0.0, 0.0).into_linear::<f64>().red;
        }
        lut
    })
}

/// 8-bit sRGB -> Lab `[L, a, b]` (D65).
#[inline]
pub fn srgb_to_lab(rgb: Rgb) -> [f64; 3] {
    let lut = linear_lut();
    let linear = LinSrgb::new(lut[rgb[0] as usize], lut[rgb[1] as usize], lut[rgb[2] as usize]);
    let lab: Lab<D65, f64> = Lab::from_color(linear);
    [lab.l, lab.a, lab.b]
}

/// Lab -> the nearest displayable 8-bit sRGB color (out-of-gamut channels are clamped).
pub fn lab_to_srgb(lab: [f64; 3]) -> Rgb {
    let srgb = Srgb::from_color(Lab::<D65, f64>::new(lab[0], lab[1], lab[2]));
    let to_u8 = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    [to_u8(srgb.red), to_u8(srgb.green), to_u8(srgb.blue)]
}

/// Parses `RRGGBB` or `#RRGGBB` (case-insensitive, surrounding spaces allowed).
pub fn parse_hex(text: &str) -> Option<Rgb> {
    let t = text.trim();
    let t = t.strip_prefix('#').unwrap_or(t);
    if t.len() != 6 || !t.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&t[i..i + 2], 16).ok();
    Some([channel(0)?, channel(2)?, channel(4)?])
}

/// Upper-case `RRGGBB`, the form the seed's API echoes.
pub fn to_hex(rgb: Rgb) -> String {
    format!("{:02X}{:02X}{:02X}", rgb[0], rgb[1], rgb[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejects() {
        assert_eq!(parse_hex("#ff8000"), Some([255, 128, 0]));
        assert_eq!(parse_hex("FF8000"), Some([255, 128, 0]));
        assert_eq!(to_hex([255, 128, 0]), "FF8000");
        for bad in ["", "#", "FF800", "FF80001", "GG0000", "#+1+2+3", "ÿÿÿ"] {
            assert_eq!(parse_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lab_round_trip_is_close() {
        for rgb in [[0, 0, 0], [255, 255, 255], [255, 0, 0], [12, 200, 99]] {
            assert_eq!(lab_to_srgb(srgb_to_lab(rgb)), rgb);
        }
    }
}

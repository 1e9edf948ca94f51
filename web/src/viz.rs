//! The query visualisation: a weighted color bar labelled with nearest color names, and an a*/b*
//! palette wheel, so the query reads at a glance (and in CIE Lab, which is what search compares).

use crate::canvas::context;
use crate::state::{percentages, ColorRow};
use chromatica_core::color::{lab_to_srgb, parse_hex, srgb_to_lab, to_hex};
use chromatica_core::SearchOptions;
use leptos::prelude::*;
use wasm_bindgen::Clamped;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

/// The visualisation's canvas, redrawn whenever the rows or the "any other color" share change.
#[component]
pub fn QueryViz(rows: RwSignal<Vec<ColorRow>>, options: RwSignal<SearchOptions>) -> impl IntoView {
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        let (rs, any) = (rows.get(), options.with(|o| o.any));
        if let Some(canvas) = canvas.get() {
            draw_query(&canvas, &rs, any);
        }
    });
    view! {
        <canvas class="viz" node_ref=canvas width="720" height="260" data-testid="query-viz" aria-label="Query visualisation: weighted color bar and palette wheel" role="img"></canvas>
    }
}

/// Black or white, whichever reads better on `rgb`.
fn ink_for(rgb: [u8; 3]) -> &'static str {
    if srgb_to_lab(rgb)[0] > 60.0 {
        "#111"
    } else {
        "#fff"
    }
}

/// A few dozen plain color names (our own list, public domain) for the nearest-name label.
const NAMES: &[(&str, [u8; 3])] = &[
    ("black", [0, 0, 0]),
    ("charcoal", [54, 69, 79]),
    ("gray", [128, 128, 128]),
    ("silver", [192, 192, 192]),
    ("white", [255, 255, 255]),
    ("ivory", [255, 255, 240]),
    ("beige", [225, 198, 153]),
    ("tan", [210, 180, 140]),
    ("brown", [139, 69, 19]),
    ("chocolate", [90, 50, 20]),
    ("maroon", [128, 0, 0]),
    ("crimson", [220, 20, 60]),
    ("red", [230, 30, 30]),
    ("coral", [255, 127, 80]),
    ("salmon", [250, 128, 114]),
    ("orange", [255, 140, 0]),
    ("amber", [255, 191, 0]),
    ("gold", [255, 215, 0]),
    ("yellow", [255, 240, 40]),
    ("olive", [128, 128, 0]),
    ("lime", [160, 230, 40]),
    ("green", [30, 160, 60]),
    ("forest", [34, 100, 34]),
    ("mint", [160, 230, 190]),
    ("teal", [0, 128, 128]),
    ("turquoise", [64, 224, 208]),
    ("cyan", [0, 220, 240]),
    ("sky", [120, 190, 240]),
    ("blue", [30, 80, 220]),
    ("navy", [0, 0, 110]),
    ("indigo", [75, 0, 130]),
    ("violet", [143, 80, 220]),
    ("purple", [128, 30, 150]),
    ("magenta", [230, 30, 200]),
    ("pink", [255, 170, 200]),
    ("rose", [230, 90, 130]),
];

pub fn color_name(rgb: [u8; 3]) -> &'static str {
    let lab = srgb_to_lab(rgb);
    NAMES
        .iter()
        .min_by(|x, y| {
            let d = |c: [u8; 3]| chromatica_core::histogram::delta_e(lab, srgb_to_lab(c));
            d(x.1).total_cmp(&d(y.1))
        })
        .map(|n| n.0)
        .unwrap_or("")
}

/// Weighted bar (segment width = weight, labelled with hex, name and %; the "any other color"
/// share, if any, as a striped segment at the end) and a palette wheel (a*/b* disc at L=65 with
/// each color placed at its own a*, b*, sized by weight).
fn draw_query(canvas: &HtmlCanvasElement, rows: &[ColorRow], any: f64) {
    let Some(ctx) = context(canvas) else { return };
    // The canvas backing store is 2x its CSS size for crisp text; draw in CSS pixels.
    let (w, h) = (canvas.width() as f64 / 2.0, canvas.height() as f64 / 2.0);
    let _ = ctx.set_transform(1.0, 0.0, 0.0, 1.0, 0.0, 0.0);
    ctx.clear_rect(0.0, 0.0, w * 2.0, h * 2.0);
    let _ = ctx.scale(2.0, 2.0);
    let named = 1.0 - any;
    let colors: Vec<([u8; 3], f64)> = rows.iter().zip(percentages(rows)).filter_map(|(r, p)| parse_hex(&r.hex).map(|c| (c, p * named))).collect();
    let wheel = h - 8.0;
    let bar_w = w - wheel - 16.0;
    let mut x = 0.0;
    for (c, pct) in &colors {
        let seg = bar_w * pct / 100.0;
        ctx.set_fill_style_str(&format!("#{}", to_hex(*c)));
        ctx.fill_rect(x, 4.0, seg, h - 8.0);
        if seg > 46.0 {
            ctx.set_fill_style_str(ink_for(*c));
            ctx.set_font("600 12px system-ui, sans-serif");
            let _ = ctx.fill_text(&format!("{:.0}%", pct), x + 6.0, 20.0);
            ctx.set_font("10px ui-monospace, monospace");
            let _ = ctx.fill_text(&format!("#{}", to_hex(*c)), x + 6.0, h - 22.0);
            ctx.set_font("11px system-ui, sans-serif");
            let _ = ctx.fill_text(color_name(*c), x + 6.0, h - 9.0);
        }
        x += seg;
    }
    if any > 0.0 {
        // "Any other color": light grey with diagonal stripes, clipped to its segment.
        let seg = bar_w - x;
        ctx.set_fill_style_str("#e6e7ec");
        ctx.fill_rect(x, 4.0, seg, h - 8.0);
        ctx.save();
        ctx.begin_path();
        ctx.rect(x, 4.0, seg, h - 8.0);
        ctx.clip();
        ctx.set_stroke_style_str("#c9cbd3");
        ctx.set_line_width(6.0);
        let mut s = x - h;
        while s < x + seg {
            ctx.begin_path();
            ctx.move_to(s, h);
            ctx.line_to(s + h, 0.0);
            ctx.stroke();
            s += 18.0;
        }
        ctx.restore();
        if seg > 46.0 {
            ctx.set_fill_style_str("#2a2c33");
            ctx.set_font("600 12px system-ui, sans-serif");
            let _ = ctx.fill_text(&format!("{}%", (any * 100.0).round() as i64), x + 6.0, 20.0);
            ctx.set_font("11px system-ui, sans-serif");
            let _ = ctx.fill_text("any other color", x + 6.0, h - 9.0);
        }
    }
    draw_wheel(&ctx, w - wheel - 4.0, 4.0, wheel, &colors);
}

fn draw_wheel(ctx: &CanvasRenderingContext2d, x0: f64, y0: f64, size: f64, colors: &[([u8; 3], f64)]) {
    const RANGE: f64 = 110.0; // a*, b* shown from -110 to 110
                              // put_image_data ignores the 2x transform: render the disc at backing-store resolution.
    let n = (size * 2.0) as usize;
    let mut pixels = vec![0u8; n * n * 4];
    let r = size;
    for py in 0..n {
        for px in 0..n {
            let (dx, dy) = (px as f64 - r, r - py as f64);
            if dx * dx + dy * dy > r * r {
                continue;
            }
            let rgb = lab_to_srgb([65.0, dx / r * RANGE, dy / r * RANGE]);
            let i = (py * n + px) * 4;
            pixels[i..i + 4].copy_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
        }
    }
    if let Ok(data) = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&pixels), n as u32, n as u32) {
        let _ = ctx.put_image_data(&data, x0 * 2.0, y0 * 2.0);
    }
    let r = size / 2.0;
    for (c, pct) in colors {
        let lab = srgb_to_lab(*c);
        let (cx, cy) = (x0 + r + lab[1] / RANGE * r, y0 + r - lab[2] / RANGE * r);
        let radius = 4.0 + 10.0 * (pct / 100.0).sqrt();
        ctx.begin_path();
        let _ = ctx.arc(cx.clamp(x0, x0 + size), cy.clamp(y0, y0 + size), radius, 0.0, std::f64::consts::TAU);
        ctx.set_fill_style_str(&format!("#{}", to_hex(*c)));
        ctx.fill();
        ctx.set_line_width(2.0);
        ctx.set_stroke_style_str("#fff");
        ctx.stroke();
        ctx.set_line_width(1.0);
        ctx.set_stroke_style_str("#222");
        ctx.stroke();
    }
}

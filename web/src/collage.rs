//! The collage: the top results drawn as one grid image with rank and distance labels, to look
//! at or download as a PNG. Kept apart from the results list because it draws on a canvas and
//! must cope with tainting (`file://`) and with draws overtaken by newer ones.

use crate::backend::js_error;
use crate::canvas;
use chromatica_core::collage::{fit_contain, layout, MAX_GRID, MIN_GRID};
use chromatica_core::search::SearchResponse;
use leptos::prelude::*;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Side of one collage cell and the gap around cells, in canvas pixels.
const CELL: u32 = 200;
const GAP: u32 = 6;
/// The grid shown when the collage is first opened (3×3).
const DEFAULT_GRID: u32 = 3;

/// Loads an image element and waits for it (or its error).
async fn load_image(src: &str) -> Result<web_sys::HtmlImageElement, String> {
    let img = web_sys::HtmlImageElement::new().map_err(|e| js_error(&e))?;
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let ok = Closure::once_into_js(move || {
            let _ = resolve.call0(&JsValue::NULL);
        });
        let err = Closure::once_into_js(move || {
            let _ = reject.call0(&JsValue::NULL);
        });
        img.set_onload(Some(ok.unchecked_ref()));
        img.set_onerror(Some(err.unchecked_ref()));
    });
    img.set_src(src);
    JsFuture::from(promise).await.map_err(|_| format!("could not load {src}"))?;
    Ok(img)
}

/// Draws the top results as a grid with rank and distance labels.
async fn draw_collage(canvas: &web_sys::HtmlCanvasElement, response: &SearchResponse, base: &str, grid: u32) -> Result<(), String> {
    let plan = layout(response.results.len(), grid, CELL, GAP);
    canvas.set_width(plan.width);
    canvas.set_height(plan.height);
    let ctx = canvas::context(canvas).ok_or("no 2d canvas")?;
    ctx.set_fill_style_str("#15161a");
    ctx.fill_rect(0.0, 0.0, plan.width as f64, plan.height as f64);
    for (cell, item) in plan.cells.iter().zip(&response.results) {
        let img = load_image(&thumb_source(base, &item.thumb)).await?;
        let fit = fit_contain(*cell, img.natural_width() as f64, img.natural_height() as f64);
        ctx.draw_image_with_html_image_element_and_dw_and_dh(&img, fit.x, fit.y, fit.w, fit.h).map_err(|e| js_error(&e))?;
        let label_h = plan.label_height;
        ctx.set_fill_style_str("rgba(0,0,0,0.62)");
        ctx.fill_rect(cell.x, cell.y + cell.h - label_h, cell.w, label_h);
        ctx.set_fill_style_str("#fff");
        ctx.set_font(&format!("600 {:.0}px system-ui, sans-serif", label_h * 0.6));
        let _ = ctx.fill_text(&format!("#{}  ΔE {:.1}", item.rank, item.distance), cell.x + 6.0, cell.y + cell.h - label_h * 0.28);
    }
    Ok(())
}

/// Thumbnails come from `thumbs.js` data URLs when the page runs from `file://` (a file:// image
/// would taint the canvas and block the PNG export), else from the site folder.
fn thumb_source(base: &str, thumb: &str) -> String {
    let embedded = web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w, &"CHROMATICA_THUMBS".into()).ok())
        .filter(|v| v.is_object())
        .and_then(|m| js_sys::Reflect::get(&m, &thumb.into()).ok())
        .and_then(|v| v.as_string());
    embedded.unwrap_or_else(|| format!("{base}{thumb}"))
}

fn download_canvas(canvas: &web_sys::HtmlCanvasElement) {
    let callback = Closure::once_into_js(move |blob: JsValue| {
        let Some(blob) = blob.dyn_ref::<web_sys::Blob>() else { return };
        let Ok(url) = web_sys::Url::create_object_url_with_blob(blob) else { return };
        let document = web_sys::window().and_then(|w| w.document());
        if let Some(a) = document.and_then(|d| d.create_element("a").ok()).and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok()) {
            a.set_href(&url);
            a.set_download("chromatica-collage.png");
            a.click();
        }
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    let _ = canvas.to_blob(callback.unchecked_ref());
}

#[component]
pub fn Collage(response: RwSignal<Option<SearchResponse>>, base: String) -> impl IntoView {
    let grid = RwSignal::new(DEFAULT_GRID);
    let shown = RwSignal::new(false);
    let message = RwSignal::new(None::<String>);
    let canvas_ref = NodeRef::<leptos::html::Canvas>::new();
    let base = StoredValue::new(base);
    // Each draw renders off-screen and is copied in only if no newer draw started meanwhile, so a
    // grid change during a draw never mixes two collages or reports a stale status.
    let generation = StoredValue::new(0u64);
    let draw = move || {
        let (Some(r), Some(canvas)) = (response.get_untracked(), canvas_ref.get_untracked()) else { return };
        let g = grid.get_untracked();
        let mut r = r;
        r.results.truncate((g * g) as usize);
        let ticket = generation.get_value() + 1;
        generation.set_value(ticket);
        message.set(Some("Drawing…".into()));
        leptos::task::spawn_local(async move {
            let Some(scratch) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.create_element("canvas").ok())
                .and_then(|e| e.dyn_into::<web_sys::HtmlCanvasElement>().ok())
            else {
                return message.set(Some("Collage failed: no canvas".into()));
            };
            let result = draw_collage(&scratch, &r, &base.get_value(), g).await;
            if generation.get_value() != ticket {
                return;
            }
            match result {
                Ok(()) => {
                    canvas.set_width(scratch.width());
                    canvas.set_height(scratch.height());
                    if let Some(ctx) = canvas::context(&canvas) {
                        let _ = ctx.draw_image_with_html_canvas_element(&scratch, 0.0, 0.0);
                    }
                    message.set(None);
                }
                Err(e) => message.set(Some(format!("Collage failed: {e}"))),
            }
        });
    };
    Effect::new(move |_| {
        response.track();
        grid.track();
        if shown.get() {
            draw();
        }
    });
    view! {
        <div class="collage-bar">
            <button class="secondary" data-testid="collage-toggle" on:click=move |_| shown.update(|s| *s = !*s)
                aria-expanded=move || shown.get().to_string()>{move || if shown.get() { "Hide collage" } else { "Collage" }}</button>
            <Show when=move || shown.get()>
                <label>"Grid "
                    <select data-testid="collage-grid" aria-label="Collage grid size" on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse() { grid.set(v); } }>
                        {(MIN_GRID..=MAX_GRID).map(|n| view! { <option value=n.to_string() selected=move || grid.get() == n>{format!("{n}×{n}")}</option> }).collect_view()}
                    </select>
                </label>
                <button class="secondary" data-testid="collage-download" on:click=move |_| { if let Some(c) = canvas_ref.get_untracked() { download_canvas(&c); } }>"Download PNG"</button>
            </Show>
            <span class="muted" data-testid="collage-status">{move || message.get().unwrap_or_default()}</span>
        </div>
        <canvas class="collage" node_ref=canvas_ref data-testid="collage" hidden=move || !shown.get() role="img" aria-label="Collage of the top results"></canvas>
    }
}

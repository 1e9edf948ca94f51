//! Query by example image (decoded and histogrammed in wasm, nothing uploaded) and the collage.

use crate::viz;
use chromatica_core::collage::{fit_contain, layout, MAX_GRID, MIN_GRID};
use chromatica_core::query_image::{check_size, histogram_of_encoded, histogram_of_pixels, NOT_AN_IMAGE};
use chromatica_core::histogram::Histogram;
use chromatica_core::search::SearchResponse;
use leptos::prelude::*;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Largest example file accepted (bytes).
const MAX_FILE_BYTES: f64 = 40.0 * 1024.0 * 1024.0;

/// The browser's decoders for the other formats; the pixels still go through the same histogram.
async fn browser_decode(file: &web_sys::File) -> Result<Histogram, String> {
    let window = web_sys::window().ok_or("no window")?;
    let bitmap: web_sys::ImageBitmap = JsFuture::from(window.create_image_bitmap_with_blob(file).map_err(|_| NOT_AN_IMAGE)?)
        .await
        .map_err(|_| NOT_AN_IMAGE)?
        .unchecked_into();
    let (w, h) = (bitmap.width(), bitmap.height());
    check_size(w, h)?;
    let document = window.document().ok_or("no document")?;
    let canvas: web_sys::HtmlCanvasElement = document.create_element("canvas").map_err(|e| crate::engine::js_error(&e))?.unchecked_into();
    canvas.set_width(w);
    canvas.set_height(h);
    let ctx = viz::context(&canvas).ok_or("no 2d canvas")?;
    ctx.draw_image_with_image_bitmap(&bitmap, 0.0, 0.0).map_err(|e| crate::engine::js_error(&e))?;
    let data = ctx.get_image_data(0.0, 0.0, w as f64, h as f64).map_err(|e| crate::engine::js_error(&e))?;
    histogram_of_pixels(w, h, data.data().0)
}

#[component]
pub fn ImagePicker(on_image: impl Fn(String, Histogram) + Copy + 'static) -> impl IntoView {
    let message = RwSignal::new(None::<String>);
    let dragging = RwSignal::new(false);
    let handle_file = move |file: web_sys::File| {
        let name = file.name();
        if file.size() > MAX_FILE_BYTES {
            message.set(Some(format!("“{name}” is larger than 40 MB")));
            return;
        }
        message.set(Some(format!("Reading “{name}”…")));
        leptos::task::spawn_local(async move {
            let bytes = match JsFuture::from(file.array_buffer()).await {
                Ok(buf) => js_sys::Uint8Array::new(&buf).to_vec(),
                Err(e) => {
                    message.set(Some(format!("cannot read “{name}”: {}", crate::engine::js_error(&e))));
                    return;
                }
            };
            let result = match histogram_of_encoded(&bytes) {
                Ok(Some(h)) => Ok(h),
                Ok(None) => browser_decode(&file).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(h) => {
                    message.set(None);
                    on_image(name, h);
                }
                Err(e) => message.set(Some(format!("“{name}”: {e}"))),
            }
        });
    };
    view! {
        <div class="drop" class:dragging=move || dragging.get() data-testid="image-drop"
            on:dragover=move |ev: web_sys::DragEvent| { ev.prevent_default(); dragging.set(true); }
            on:dragleave=move |_| dragging.set(false)
            on:drop=move |ev: web_sys::DragEvent| {
                ev.prevent_default();
                dragging.set(false);
                if let Some(file) = ev.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0)) { handle_file(file); }
            }>
            <label class="file">
                <input type="file" accept="image/*" data-testid="image-input" aria-label="Search by an example image"
                    on:change=move |ev| {
                        let input: web_sys::HtmlInputElement = event_target(&ev);
                        if let Some(file) = input.files().and_then(|f| f.get(0)) { handle_file(file); }
                        input.set_value("");
                    } />
                <span>"Search by example image"</span>
            </label>
            <span class="hint">" or drop one here — it never leaves your browser"</span>
            <p class="error" data-testid="image-error" hidden=move || message.get().is_none()>{move || message.get().unwrap_or_default()}</p>
        </div>
    }
}

/// Loads an image element and waits for it (or its error).
async fn load_image(src: &str) -> Result<web_sys::HtmlImageElement, String> {
    let img = web_sys::HtmlImageElement::new().map_err(|e| crate::engine::js_error(&e))?;
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
    const CELL: u32 = 200;
    let plan = layout(response.results.len(), grid, CELL, 6);
    canvas.set_width(plan.width);
    canvas.set_height(plan.height);
    let ctx = viz::context(canvas).ok_or("no 2d canvas")?;
    ctx.set_fill_style_str("#15161a");
    ctx.fill_rect(0.0, 0.0, plan.width as f64, plan.height as f64);
    for (cell, item) in plan.cells.iter().zip(&response.results) {
        let img = load_image(&thumb_source(base, &item.thumb)).await?;
        let fit = fit_contain(*cell, img.natural_width() as f64, img.natural_height() as f64);
        ctx.draw_image_with_html_image_element_and_dw_and_dh(&img, fit.x, fit.y, fit.w, fit.h).map_err(|e| crate::engine::js_error(&e))?;
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
    let grid = RwSignal::new(3u32);
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
                    if let Some(ctx) = viz::context(&canvas) {
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

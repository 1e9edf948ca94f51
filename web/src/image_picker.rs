//! Query by example image: the file is decoded and histogrammed in wasm with the index builder's
//! code (the browser decodes only the formats the wasm has no decoder for), so nothing is uploaded
//! and a picture is described exactly as the indexed images are: with the site's background mode
//! too (`--background ignore` leaves out an example's plain background, as it did for the site's
//! images).

use crate::backend::{js_error, IndexInfo};
use crate::canvas;
use chromatica_core::histogram::Histogram;
use chromatica_core::query_image::{check_size, histogram_of_encoded, histogram_of_pixels, NOT_AN_IMAGE};
use chromatica_core::BackgroundMode;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Largest example file accepted (bytes).
const MAX_FILE_BYTES: f64 = 40.0 * 1024.0 * 1024.0;

/// The browser's decoders for the other formats; the pixels still go through the same histogram.
async fn browser_decode(file: &web_sys::File, background: BackgroundMode) -> Result<Histogram, String> {
    let window = web_sys::window().ok_or("no window")?;
    let bitmap: web_sys::ImageBitmap =
        JsFuture::from(window.create_image_bitmap_with_blob(file).map_err(|_| NOT_AN_IMAGE)?).await.map_err(|_| NOT_AN_IMAGE)?.unchecked_into();
    let (w, h) = (bitmap.width(), bitmap.height());
    check_size(w, h)?;
    let document = window.document().ok_or("no document")?;
    let canvas: web_sys::HtmlCanvasElement = document.create_element("canvas").map_err(|e| js_error(&e))?.unchecked_into();
    canvas.set_width(w);
    canvas.set_height(h);
    let ctx = canvas::context(&canvas).ok_or("no 2d canvas")?;
    ctx.draw_image_with_image_bitmap(&bitmap, 0.0, 0.0).map_err(|e| js_error(&e))?;
    let data = ctx.get_image_data(0.0, 0.0, w as f64, h as f64).map_err(|e| js_error(&e))?;
    histogram_of_pixels(w, h, data.data().0, background)
}

/// `info` is the widget's index info (`None` until the index has loaded): example images are
/// histogrammed with the site's background mode from it.
#[component]
pub fn ImagePicker(on_image: impl Fn(String, Histogram) + Copy + 'static, info: RwSignal<Option<IndexInfo>>) -> impl IntoView {
    let message = RwSignal::new(None::<String>);
    let dragging = RwSignal::new(false);
    let handle_file = move |file: web_sys::File| {
        let name = file.name();
        if file.size() > MAX_FILE_BYTES {
            message.set(Some(format!("“{name}” is larger than 40 MB")));
            return;
        }
        let Some(background) = info.with_untracked(|i| i.as_ref().map(|i| i.background)) else {
            message.set(Some(format!("The index is still loading: choose “{name}” again in a moment")));
            return;
        };
        message.set(Some(format!("Reading “{name}”…")));
        leptos::task::spawn_local(async move {
            let bytes = match JsFuture::from(file.array_buffer()).await {
                Ok(buf) => js_sys::Uint8Array::new(&buf).to_vec(),
                Err(e) => {
                    message.set(Some(format!("cannot read “{name}”: {}", js_error(&e))));
                    return;
                }
            };
            let result = match histogram_of_encoded(&bytes, background) {
                Ok(Some(h)) => Ok(h),
                Ok(None) => browser_decode(&file, background).await,
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

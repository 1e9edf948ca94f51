//! Palettes to take away (core's `swatches`): a palette, the query's or a result's, copied as a
//! hex list, CSS custom properties or JSON, or downloaded as an Adobe Swatch Exchange file.

use chromatica_core::color::parse_hex;
use chromatica_core::swatches::{self, Swatch};
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

/// `(hex, share)` pairs (a result's palette, the query's rows) as swatches.
pub fn swatches_of(colors: &[(String, f64)]) -> Vec<Swatch> {
    colors.iter().filter_map(|(hex, share)| parse_hex(hex).map(|rgb| Swatch::of(rgb, *share))).collect()
}

/// The palette to export, read when a button is pressed.
pub type Palette = std::rc::Rc<dyn Fn() -> Vec<Swatch>>;

/// The export buttons for `palette`; `name` names the downloaded file (`name.ase`).
#[component]
pub fn PaletteExport(palette: Palette, name: String) -> impl IntoView {
    let (palette, name) = (StoredValue::new_local(palette), StoredValue::new(name));
    let message = RwSignal::new(String::new());
    let copy = move |what: &'static str, text: fn(&[Swatch]) -> String| {
        let text = text(&palette.with_value(|p| p()));
        leptos::task::spawn_local(async move {
            message.set(match copy_text(&text).await {
                Ok(()) => format!("Copied as {what}"),
                Err(()) => "This browser did not allow copying; select and copy instead: ".to_string() + &text,
            });
        });
    };
    let download = move |_| {
        let bytes = swatches::ase(&palette.with_value(|p| p()));
        message.set(if save(&bytes, &format!("{}.ase", name.get_value())) {
            "Downloaded the .ase swatches".into()
        } else {
            "Could not download".into()
        });
    };
    view! {
        <div class="export" role="group" aria-label="Take this palette away">
            <span class="export-label">"Palette"</span>
            <button class="chip" data-testid="copy-hex" title="Copy the hex codes" on:click=move |_| copy("hex codes", swatches::hex_list)>"Hex"</button>
            <button class="chip" data-testid="copy-css" title="Copy as CSS custom properties" on:click=move |_| copy("CSS", swatches::css)>"CSS"</button>
            <button class="chip" data-testid="copy-json" title="Copy as JSON" on:click=move |_| copy("JSON", swatches::json)>"JSON"</button>
            <button class="chip" data-testid="download-ase" title="Download Adobe Swatch Exchange (.ase) for Photoshop, Illustrator, Affinity, Krita" on:click=download>".ase"</button>
            <span class="export-status" role="status" data-testid="export-status">{move || message.get()}</span>
        </div>
    }
}

/// `navigator.clipboard.writeText(text)`.
async fn copy_text(text: &str) -> Result<(), ()> {
    let get = |target: &JsValue, key: &str| js_sys::Reflect::get(target, &key.into()).map_err(|_| ());
    let clipboard = get(&get(&js_sys::global(), "navigator")?, "clipboard")?;
    let write: js_sys::Function = get(&clipboard, "writeText")?.dyn_into().map_err(|_| ())?;
    let promise: js_sys::Promise = write.call1(&clipboard, &text.into()).map_err(|_| ())?.dyn_into().map_err(|_| ())?;
    wasm_bindgen_futures::JsFuture::from(promise).await.map(|_| ()).map_err(|_| ())
}

/// Saves `bytes` as a download named `file`.
fn save(bytes: &[u8], file: &str) -> bool {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence(&parts) else { return false };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return false };
    let anchor = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("a").ok())
        .and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok());
    let Some(a) = anchor else { return false };
    a.set_href(&url);
    a.set_download(file);
    a.click();
    // Later: some browsers cancel a download whose URL is revoked at once.
    set_timeout(move || drop(web_sys::Url::revoke_object_url(&url)), std::time::Duration::from_secs(30));
    true
}

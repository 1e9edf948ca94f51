//! Chromatica in the browser: the Leptos app, its JS API, and the mount points for the full page
//! and for embedded widgets. All search work happens here, in wasm; nothing is sent anywhere.

mod api;
mod app;
mod backend;
mod canvas;
mod collage;
mod color_row;
mod detail;
mod export;
mod filters;
mod history;
mod image_picker;
mod query_panel;
mod refine;
mod results;
mod state;
mod viz;

use wasm_bindgen::prelude::*;

fn mount_into(element: web_sys::HtmlElement, base: String, url_state: bool, compact: bool, with_api: bool) {
    let widget = backend::register();
    if with_api {
        api::install(widget);
    }
    let first = url_state.then(|| prerendered(&element)).flatten();
    let Some(first) = first else {
        element.set_inner_html("");
        let options = app::Options { widget, base, url_state, compact, first: None, identity: identity(&element), fixed: fixed_filter(&element) };
        leptos::mount::mount_to(element, move || leptos::view! { <app::App options=options.clone() /> }).forget();
        return;
    };
    // Over a pre-rendered page, the app is built off-page and shown in its place once it has drawn
    // the same results (app.rs): the page never goes blank, and the work is split over several
    // short tasks instead of one that would block the page.
    let identity = identity(&element);
    let fixed = fixed_filter(&element);
    let Some(stage) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.create_element("div").ok()) else { return };
    let staged = stage.clone();
    let show: std::rc::Rc<dyn Fn()> = std::rc::Rc::new(move || {
        if let Some(app) = staged.first_element_child() {
            element.replace_children_with_node_1(&app);
        }
    });
    let options = app::Options { widget, base, url_state, compact, first: Some(app::First { response: first, show }), identity, fixed };
    if let Ok(stage) = stage.dyn_into::<web_sys::HtmlElement>() {
        leptos::mount::mount_to(stage, move || leptos::view! { <app::App options=options.clone() /> }).forget();
    }
}

/// The filter an embed fixes for its widget: `data-filter="folder=docs/intro&tags=diagram"` (the
/// URL's filter keys: q, folder, tags, from, to, orientation). A bad one is reported on the console
/// and ignored, rather than showing nothing.
fn fixed_filter(element: &web_sys::HtmlElement) -> chromatica_core::filter::Filter {
    let Some(text) = element.get_attribute("data-filter") else { return Default::default() };
    chromatica_core::query::parse_filter(&text).unwrap_or_else(|e| {
        web_sys::console::warn_1(&format!("Chromatica: data-filter {text:?}: {e}").into());
        Default::default()
    })
}

/// The site's title and tagline for the page header, as the build wrote them on the mount point
/// (index-builder's prerender.rs); `None` for the defaults.
fn identity(app: &web_sys::HtmlElement) -> (Option<String>, Option<String>) {
    (app.get_attribute("data-title"), app.get_attribute("data-tagline"))
}

/// The results the build pre-rendered into the page (index-builder's prerender.rs), which the app
/// shows until its own first search answers: `boot.js` leaves them only when the URL names the query
/// they are for.
fn prerendered(app: &web_sys::HtmlElement) -> Option<chromatica_core::search::SearchResponse> {
    // boot.js dropped them if the URL named another query then; it may have changed since.
    let fragment = history::current_fragment();
    if !app.get_attribute("data-prerendered").is_some_and(|shown| fragment.is_empty() || fragment == shown) {
        return None;
    }
    let json = app.query_selector("script#chromatica-first").ok().flatten()?.text_content()?;
    // Through JS's JSON.parse and serde-wasm-bindgen, which the worker's replies use anyway
    // (serde_json's deserializer for this type would add ~20 KB to the wasm).
    serde_wasm_bindgen::from_value(js_sys::JSON::parse(&json).ok()?).ok()
}

/// Mounts the full app into `#app[data-chromatica-app]` when the page has one (the site's
/// index.html does; a host page embedding widgets does not).
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let app = document.get_element_by_id("app").filter(|e| e.has_attribute("data-chromatica-app"));
    if let Some(el) = app.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
        let base = el.get_attribute("data-base").unwrap_or_default();
        mount_into(el, base, true, false, true);
    }
}

/// Mounts a compact widget (no URL state, no page chrome) into `element`, searching the site at
/// `base` (a URL ending in `/`). Used by `embed.js`.
#[wasm_bindgen]
pub fn mount(element: web_sys::HtmlElement, base: String) {
    mount_into(element, base, false, true, false);
}

//! The search engines of this page (one per mounted widget), the bundle loader, and timing.

use chromatica_core::bundle;
use chromatica_core::histogram::Histogram;
use chromatica_core::search::{Engine, SearchParams, SearchResponse, DEFAULT_RERANK_K};
use chromatica_core::Query;
use std::cell::RefCell;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

thread_local! {
    /// Engines by widget id (with their load time). wasm is single-threaded here, and Engine is not Send.
    static ENGINES: RefCell<Vec<Option<(Engine, f64)>>> = const { RefCell::new(Vec::new()) };
}

/// Reserves an id for a widget whose engine will be loaded later.
pub fn register() -> usize {
    ENGINES.with(|e| {
        let mut e = e.borrow_mut();
        e.push(None);
        e.len() - 1
    })
}

/// `performance.now()` in ms.
pub fn now() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map(|p| p.now()).unwrap_or(0.0)
}

fn with_engine<T>(id: usize, f: impl FnOnce(&mut Engine) -> T) -> Result<T, String> {
    ENGINES.with(|e| match e.borrow_mut().get_mut(id).and_then(Option::as_mut) {
        Some((engine, _)) => Ok(f(engine)),
        None => Err("the index is not loaded yet".to_string()),
    })
}

fn params(k: usize) -> SearchParams {
    SearchParams { k, rerank_k: DEFAULT_RERANK_K }
}

pub fn search_colors(id: usize, query: &Query, k: usize) -> Result<SearchResponse, String> {
    with_engine(id, |e| e.search_colors(query, params(k), &now))
}

pub fn search_histogram(id: usize, h: &Histogram, k: usize) -> Result<SearchResponse, String> {
    with_engine(id, |e| e.search_histogram(h, params(k), &now))
}

pub fn search_similar(id: usize, image: u32, k: usize) -> Result<SearchResponse, String> {
    with_engine(id, |e| e.search_similar(image, params(k), &now))?.ok_or_else(|| format!("there is no image {image}"))
}

/// What the page shows about the index.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct IndexInfo {
    pub images: usize,
    pub bundle_bytes: usize,
    pub threads: usize,
    pub load_ms: f64,
}

pub fn info(id: usize) -> Option<IndexInfo> {
    ENGINES.with(|e| {
        e.borrow().get(id).and_then(Option::as_ref).map(|(engine, load_ms)| IndexInfo {
            images: engine.bundle().len(),
            bundle_bytes: engine.bundle().byte_len,
            threads: 1,
            load_ms: *load_ms,
        })
    })
}

/// Bundle bytes embedded by `bundle.js` (for `file://`, where fetch is refused), if present.
fn embedded_bundle() -> Option<Vec<u8>> {
    use base64::Engine as _;
    let window = web_sys::window()?;
    let text = js_sys::Reflect::get(&window, &JsValue::from_str("CHROMATICA_BUNDLE_BASE64")).ok()?.as_string()?;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// Fetches `base + "bundle.bin"` reporting progress (0..1) when the size is known.
async fn fetch_bundle(base: &str, progress: &dyn Fn(f64)) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let url = format!("{base}bundle.bin");
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(&url))
        .await
        .map_err(|e| format!("could not download {url}: {}", js_error(&e)))?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("could not download {url}: HTTP {}", response.status()));
    }
    let total: Option<f64> = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse().ok());
    let Some(body) = response.body() else {
        let buf = JsFuture::from(response.array_buffer().map_err(|e| js_error(&e))?).await.map_err(|e| js_error(&e))?;
        return Ok(js_sys::Uint8Array::new(&buf).to_vec());
    };
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(total.unwrap_or(0.0) as usize);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| format!("download interrupted: {}", js_error(&e)))?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).ok().and_then(|v| v.as_bool()).unwrap_or(true);
        if done {
            break;
        }
        if let Ok(value) = js_sys::Reflect::get(&chunk, &"value".into()) {
            bytes.extend_from_slice(&js_sys::Uint8Array::new(&value).to_vec());
        }
        if let Some(t) = total.filter(|t| *t > 0.0) {
            progress((bytes.len() as f64 / t).min(1.0));
        }
    }
    Ok(bytes)
}

pub fn js_error(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"))
}

/// Loads and decodes the bundle for widget `id`; errors are readable sentences.
pub async fn load(id: usize, base: &str, progress: &dyn Fn(f64)) -> Result<IndexInfo, String> {
    let start = now();
    let bytes = match embedded_bundle() {
        Some(b) => b,
        None => fetch_bundle(base, progress).await?,
    };
    let bundle = bundle::decode(&bytes).map_err(|e| format!("Could not load the index: {e}"))?;
    let load_ms = now() - start;
    ENGINES.with(|e| {
        if let Some(slot) = e.borrow_mut().get_mut(id) {
            *slot = Some((Engine::new(bundle), load_ms));
        }
    });
    info(id).ok_or_else(|| "the index vanished".to_string())
}

//! The search engine as the browser hosts it, and the protocol of the search worker.
//!
//! The page posts [`WorkerMessage`]s; the worker hands each to [`worker_handle`] and posts back
//! `{id, ok}` or `{id, error}`. Two builds run this code: the app's own wasm (its worker
//! instantiates the page's module; one thread) and, where the page is cross-origin isolated, this
//! crate built alone with feature `threads` (shared memory, a `wasm-bindgen-rayon` pool that the
//! rerank in `chromatica_core::search` spreads over). Same code, same ranking.

use chromatica_core::bundle::Bundle;
use chromatica_core::histogram::Histogram;
use chromatica_core::search::{Engine, SearchParams, SearchResponse, DEFAULT_RERANK_K};
use chromatica_core::Query;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// A search, on a local engine or in the worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Colors { colors: Vec<String>, weights: Vec<f64>, k: usize },
    Similar { image: u32, k: usize },
    Histogram { bins: Vec<f64>, k: usize },
}

impl Request {
    pub fn colors(query: &Query, k: usize) -> Self {
        Self::Colors { colors: query.hex_colors(), weights: query.weights().to_vec(), k }
    }

    pub fn histogram(h: &Histogram, k: usize) -> Self {
        Self::Histogram { bins: h.as_slice().to_vec(), k }
    }
}

/// Messages to the worker.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkerMessage {
    /// The bundle bytes travel in a `bytes` field set beside this.
    Load,
    Search(Request),
}

/// What the page shows about the index and where it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    pub images: usize,
    pub bundle_bytes: usize,
    /// Threads the rerank runs on (1 unless this is the threaded worker).
    pub threads: usize,
    pub worker: bool,
    pub load_ms: f64,
    /// Linear memory of the wasm instance holding the index (bounded: the bundle, decoded once).
    pub memory_bytes: f64,
}

impl IndexInfo {
    pub fn of(engine: &Engine, worker: bool, load_ms: f64) -> Self {
        // The threaded build's memory is a SharedArrayBuffer; both have byteLength.
        let buffer = wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>().buffer();
        let memory_bytes = js_sys::Reflect::get(&buffer, &"byteLength".into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let bundle = engine.bundle();
        Self { images: bundle.len(), bundle_bytes: bundle.byte_len, threads: chromatica_core::search::threads(), worker, load_ms, memory_bytes }
    }
}

/// `performance.now()` in ms, on the page or in a worker.
pub fn now() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

/// A readable sentence from a thrown JS value.
pub fn js_error(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"))
}

/// Decodes a bundle; the error says so in the words the page shows.
pub fn load_engine(bytes: &[u8]) -> Result<Engine, String> {
    Ok(Engine::new(Bundle::from_bytes(bytes).map_err(|e| format!("{LOAD_ERROR}: {e}"))?))
}

/// How every bad-bundle error starts (the page tells them apart from a worker that failed).
pub const LOAD_ERROR: &str = "Could not load the index";

pub fn run(engine: &mut Engine, request: &Request) -> Result<SearchResponse, String> {
    let params = |k| SearchParams { k, rerank_k: DEFAULT_RERANK_K };
    match request {
        Request::Colors { colors, weights, k } => {
            let q = Query::from_strings(colors, Some(weights)).map_err(|e| e.to_string())?;
            Ok(engine.search_colors(&q, params(*k), &now))
        }
        Request::Similar { image, k } => {
            engine.search_similar(*image, params(*k), &now).ok_or_else(|| format!("there is no image {image}"))
        }
        Request::Histogram { bins, k } => {
            let mut h = Histogram::default();
            bins.iter().enumerate().for_each(|(b, &m)| h.splat_bin(b, m.max(0.0)));
            if !h.normalize() {
                return Err("the example image has no usable pixels".into());
            }
            Ok(engine.search_histogram(&h, params(*k), &now))
        }
    }
}

thread_local! {
    /// The engine of this wasm instance when it runs in a worker.
    static WORKER_ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// The worker side: the worker script hands every message here and posts back the reply,
/// `{id, ok}` or `{id, error}`.
#[wasm_bindgen]
pub fn worker_handle(message: JsValue) -> JsValue {
    let id = js_sys::Reflect::get(&message, &"id".into()).unwrap_or(JsValue::NULL);
    let result: Result<JsValue, String> = (|| {
        // Taken out before serde sees the message: it would buffer the bundle (an internally
        // tagged enum collects every field) in wasm memory, which never shrinks.
        let bytes = js_sys::Reflect::get(&message, &"bytes".into()).unwrap_or(JsValue::UNDEFINED);
        if let Some(object) = message.dyn_ref::<js_sys::Object>() {
            let _ = js_sys::Reflect::delete_property(object, &"bytes".into());
        }
        let kind: WorkerMessage = serde_wasm_bindgen::from_value(message.clone()).map_err(|e| e.to_string())?;
        match kind {
            WorkerMessage::Load => {
                let start = now();
                let bytes = bytes.dyn_into::<js_sys::Uint8Array>().map_err(|_| "the index bytes are missing".to_string())?;
                let engine = load_engine(&bytes.to_vec())?;
                let info = IndexInfo::of(&engine, true, now() - start);
                WORKER_ENGINE.with(|e| *e.borrow_mut() = Some(engine));
                to_js(&info)
            }
            WorkerMessage::Search(request) => WORKER_ENGINE.with(|e| match e.borrow_mut().as_mut() {
                Some(engine) => to_js(&run(engine, &request)?),
                None => Err("the index is not loaded yet".into()),
            }),
        }
    })();
    let reply = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&reply, &"id".into(), &id);
    match result {
        Ok(v) => drop(js_sys::Reflect::set(&reply, &"ok".into(), &v)),
        Err(e) => drop(js_sys::Reflect::set(&reply, &"error".into(), &e.into())),
    }
    reply.into()
}

/// JSON-compatible serialisation (maps as plain objects, tuples as arrays).
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, String> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| e.to_string())
}

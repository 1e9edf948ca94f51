//! The search engine as the browser hosts it, and the protocol of the search worker.
//!
//! The page posts [`WorkerMessage`]s; the worker hands each to [`worker_handle`] and posts back
//! `{id, ok}` or `{id, error}`. Two builds run this code: the app's own wasm (its worker
//! instantiates the page's module; one thread) and, where the page is cross-origin isolated, this
//! crate built alone with feature `threads` (shared memory, a `wasm-bindgen-rayon` pool that the
//! rerank in `chromatica_core::search` spreads over). Same code, same ranking.

use chromatica_core::bundle::{Bundle, BundleError};
use chromatica_core::search::{Engine, SearchError, SearchRequest, SearchResponse};
use chromatica_core::BackgroundMode;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// What can go wrong between the page and an engine, told apart by kind (the page reacts to a bad
/// bundle differently from a worker that failed), and crossing the worker boundary as
/// `{kind, message}` (written by hand: serde's code for it would cost the app's wasm kilobytes).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The index is bad: every engine would refuse it.
    #[error("Could not load the index: {0}")]
    Load(String),
    /// The query cannot run (a bad option, an unknown image): the message says why.
    #[error("{0}")]
    Search(String),
    /// The index could not be downloaded (network, HTTP status).
    #[error("{0}")]
    Download(String),
    /// The engine itself failed: a worker that did not start, a message that did not decode.
    #[error("{0}")]
    Engine(String),
}

impl EngineError {
    /// `{kind, message}`, as the worker posts it.
    pub fn to_js(&self) -> JsValue {
        let (kind, message) = match self {
            Self::Load(m) => ("load", m),
            Self::Search(m) => ("search", m),
            Self::Download(m) => ("download", m),
            Self::Engine(m) => ("engine", m),
        };
        let object = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&object, &"kind".into(), &kind.into());
        let _ = js_sys::Reflect::set(&object, &"message".into(), &message.into());
        object.into()
    }

    /// The error a worker posted (see [`EngineError::to_js`]), or what a failing worker threw.
    pub fn from_js(value: &JsValue) -> Self {
        let field = |name: &str| js_sys::Reflect::get(value, &name.into()).ok().and_then(|v| v.as_string());
        match (field("kind").as_deref(), field("message")) {
            (Some("load"), Some(m)) => Self::Load(m),
            (Some("search"), Some(m)) => Self::Search(m),
            (Some("download"), Some(m)) => Self::Download(m),
            (Some("engine"), Some(m)) => Self::Engine(m),
            _ => Self::Engine(js_error(value)),
        }
    }
}

impl From<BundleError> for EngineError {
    fn from(e: BundleError) -> Self {
        Self::Load(e.to_string())
    }
}

impl From<SearchError> for EngineError {
    fn from(e: SearchError) -> Self {
        Self::Search(e.to_string())
    }
}

/// Messages to the worker.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkerMessage {
    /// The bundle bytes travel in a `bytes` field set beside this.
    Load,
    Search(SearchRequest),
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
    /// The site's background mode (the page histograms example images with it), and how many of
    /// its images were indexed without their plain background.
    pub background: BackgroundMode,
    pub backgrounds_removed: usize,
}

impl IndexInfo {
    pub fn of(engine: &Engine, worker: bool, load_ms: f64) -> Self {
        // The threaded build's memory is a SharedArrayBuffer; both have byteLength.
        let buffer = wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>().buffer();
        let memory_bytes = js_sys::Reflect::get(&buffer, &"byteLength".into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let bundle = engine.bundle();
        Self {
            images: bundle.len(),
            bundle_bytes: bundle.byte_len,
            threads: chromatica_core::search::threads(),
            worker,
            load_ms,
            memory_bytes,
            background: bundle.params.background,
            backgrounds_removed: bundle.backgrounds_removed(),
        }
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

/// Decodes a bundle.
pub fn load_engine(bytes: &[u8]) -> Result<Engine, EngineError> {
    Ok(Engine::new(Bundle::from_bytes(bytes)?))
}

pub fn run(engine: &mut Engine, request: &SearchRequest) -> Result<SearchResponse, EngineError> {
    Ok(engine.search(request, &now)?)
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
    let result: Result<JsValue, EngineError> = (|| {
        // Taken out before serde sees the message: it would buffer the bundle (an internally
        // tagged enum collects every field) in wasm memory, which never shrinks.
        let bytes = js_sys::Reflect::get(&message, &"bytes".into()).unwrap_or(JsValue::UNDEFINED);
        if let Some(object) = message.dyn_ref::<js_sys::Object>() {
            let _ = js_sys::Reflect::delete_property(object, &"bytes".into());
        }
        let kind: WorkerMessage = serde_wasm_bindgen::from_value(message.clone()).map_err(|e| EngineError::Engine(e.to_string()))?;
        match kind {
            WorkerMessage::Load => {
                let start = now();
                let bytes = bytes.dyn_into::<js_sys::Uint8Array>().map_err(|_| EngineError::Engine("the index bytes are missing".into()))?;
                let engine = load_engine(&bytes.to_vec())?;
                let info = IndexInfo::of(&engine, true, now() - start);
                WORKER_ENGINE.with(|e| *e.borrow_mut() = Some(engine));
                to_js(&info).map_err(EngineError::Engine)
            }
            WorkerMessage::Search(request) => WORKER_ENGINE.with(|e| match e.borrow_mut().as_mut() {
                Some(engine) => to_js(&run(engine, &request)?).map_err(EngineError::Engine),
                None => Err(EngineError::Engine("the index is not loaded yet".into())),
            }),
        }
    })();
    let reply = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&reply, &"id".into(), &id);
    match result {
        Ok(v) => drop(js_sys::Reflect::set(&reply, &"ok".into(), &v)),
        Err(e) => drop(js_sys::Reflect::set(&reply, &"error".into(), &e.to_js())),
    }
    reply.into()
}

/// JSON-compatible serialisation (maps as plain objects, tuples as arrays).
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, String> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| e.to_string())
}

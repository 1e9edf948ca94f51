//! The search engine of each mounted widget, the bundle loader, and timing.
//!
//! Where the page may start a Web Worker (http(s), same origin), the engine lives in one
//! (`worker.js` runs this same wasm) and searches never block the UI thread; from `file://` or a
//! cross-origin embed it runs on the page's thread. Both run the same core code: same results.

use chromatica_core::bundle;
use chromatica_core::histogram::Histogram;
use chromatica_core::search::{Engine, SearchParams, SearchResponse, DEFAULT_RERANK_K};
use chromatica_core::Query;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// A request to an engine, local or in the worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Colors { colors: Vec<String>, weights: Vec<f64>, k: usize },
    Similar { image: u32, k: usize },
    Histogram { bins: Vec<f64>, k: usize },
}

/// What the page shows about the index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    pub images: usize,
    pub bundle_bytes: usize,
    pub threads: usize,
    pub worker: bool,
    pub load_ms: f64,
    /// Linear memory of the wasm instance holding the index (bounded: the bundle, decoded once).
    pub memory_bytes: f64,
}

enum Backend {
    Loading,
    Local(Box<Engine>, IndexInfo),
    Worker(Rc<WorkerClient>, IndexInfo),
}

thread_local! {
    /// Engines by widget id. Engine is not Send; wasm here is single-threaded.
    static WIDGETS: RefCell<Vec<Backend>> = const { RefCell::new(Vec::new()) };
    /// The engine of this wasm instance when it runs inside worker.js.
    static WORKER_ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// Reserves an id for a widget whose engine will be loaded later.
pub fn register() -> usize {
    WIDGETS.with(|w| {
        let mut w = w.borrow_mut();
        w.push(Backend::Loading);
        w.len() - 1
    })
}

/// `performance.now()` in ms, on the page or in a worker.
pub fn now() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

fn run(engine: &mut Engine, request: &Request) -> Result<SearchResponse, String> {
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

pub fn request_colors(query: &Query, k: usize) -> Request {
    Request::Colors { colors: query.hex_colors(), weights: query.weights().to_vec(), k }
}

pub fn request_histogram(h: &Histogram, k: usize) -> Request {
    Request::Histogram { bins: h.as_slice().to_vec(), k }
}

/// Runs a search on widget `id`'s engine, wherever it lives.
pub async fn search(id: usize, request: Request) -> Result<SearchResponse, String> {
    let client = WIDGETS.with(|w| match w.borrow_mut().get_mut(id) {
        Some(Backend::Local(engine, _)) => Err(Some(run(engine, &request))),
        Some(Backend::Worker(client, _)) => Ok(client.clone()),
        _ => Err(None),
    });
    match client {
        Ok(client) => {
            let reply = client.call(serde_wasm_bindgen::to_value(&WorkerMessage::Search(request)).map_err(|e| e.to_string())?).await?;
            serde_wasm_bindgen::from_value(reply).map_err(|e| e.to_string())
        }
        Err(Some(result)) => result,
        Err(None) => Err("the index is not loaded yet".to_string()),
    }
}

pub fn info(id: usize) -> Option<IndexInfo> {
    WIDGETS.with(|w| match w.borrow().get(id) {
        Some(Backend::Local(_, i)) | Some(Backend::Worker(_, i)) => Some(i.clone()),
        _ => None,
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

fn info_of(engine: &Engine, worker: bool, load_ms: f64) -> IndexInfo {
    let memory = wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>().buffer();
    let memory_bytes = memory.unchecked_into::<js_sys::ArrayBuffer>().byte_length() as f64;
    IndexInfo { images: engine.bundle().len(), bundle_bytes: engine.bundle().byte_len, threads: 1, worker, load_ms, memory_bytes }
}

/// Loads the bundle for widget `id` (into a worker when possible); errors are readable sentences.
pub async fn load(id: usize, base: &str, progress: &dyn Fn(f64)) -> Result<IndexInfo, String> {
    let start = now();
    let embedded = embedded_bundle();
    let from_file = embedded.is_some();
    let bytes = match embedded {
        Some(b) => b,
        None => fetch_bundle(base, progress).await?,
    };
    if !from_file {
        if let Some(client) = WorkerClient::start(base) {
            let client = Rc::new(client);
            let array = js_sys::Uint8Array::from(bytes.as_slice());
            let message = serde_wasm_bindgen::to_value(&WorkerMessage::Load).map_err(|e| e.to_string())?;
            let _ = js_sys::Reflect::set(&message, &"bytes".into(), &array);
            match client.call(message).await {
                Ok(reply) => {
                    let mut info: IndexInfo = serde_wasm_bindgen::from_value(reply).map_err(|e| e.to_string())?;
                    info.load_ms = now() - start;
                    WIDGETS.with(|w| w.borrow_mut()[id] = Backend::Worker(client, info.clone()));
                    return Ok(info);
                }
                // The bundle itself is bad: say so (the local path would fail the same way).
                Err(e) if e.starts_with("Could not load the index") => return Err(e),
                Err(_) => {} // the worker could not start: fall back to this thread
            }
        }
    }
    let bundle = bundle::decode(&bytes).map_err(|e| format!("Could not load the index: {e}"))?;
    let engine = Engine::new(bundle);
    let info = info_of(&engine, false, now() - start);
    WIDGETS.with(|w| w.borrow_mut()[id] = Backend::Local(Box::new(engine), info.clone()));
    Ok(info)
}

/// Messages to worker.js.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum WorkerMessage {
    /// The bundle bytes travel in a `bytes` field set beside this.
    Load,
    Search(Request),
}

type Pending = Rc<RefCell<HashMap<u32, (js_sys::Function, js_sys::Function)>>>;

/// The page side of the worker: numbered requests, answered by promise.
pub struct WorkerClient {
    worker: web_sys::Worker,
    pending: Pending,
    next: std::cell::Cell<u32>,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
}

impl WorkerClient {
    /// `None` where workers are unavailable (file://, cross-origin embeds, old browsers).
    fn start(base: &str) -> Option<Self> {
        let window = web_sys::window()?;
        if window.location().protocol().ok()? == "file:" {
            return None;
        }
        let worker = web_sys::Worker::new(&format!("{base}worker.js")).ok()?;
        // Hand over the page's compiled wasm (boot.js keeps it) so the worker need not fetch and
        // compile it again.
        let module = js_sys::Reflect::get(&window, &"__chromaticaModule".into()).ok();
        if let Some(module) = module.filter(|m| m.is_instance_of::<js_sys::WebAssembly::Module>()) {
            let init = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&init, &"kind".into(), &"init".into());
            let _ = js_sys::Reflect::set(&init, &"module".into(), &module);
            let _ = worker.post_message(&init);
        }
        let pending: Pending = Rc::default();
        let p = pending.clone();
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let data = ev.data();
            let id = js_sys::Reflect::get(&data, &"id".into()).ok().and_then(|v| v.as_f64()).unwrap_or(-1.0) as u32;
            if let Some((resolve, reject)) = p.borrow_mut().remove(&id) {
                match js_sys::Reflect::get(&data, &"error".into()).ok().and_then(|e| e.as_string()) {
                    Some(message) => drop(reject.call1(&JsValue::NULL, &message.into())),
                    None => drop(resolve.call1(&JsValue::NULL, &js_sys::Reflect::get(&data, &"ok".into()).unwrap_or(JsValue::NULL))),
                }
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // A worker that fails to start rejects everything it was asked.
        let p = pending.clone();
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            for (_, (_, reject)) in p.borrow_mut().drain() {
                let _ = reject.call1(&JsValue::NULL, &"the search worker failed".into());
            }
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        Some(Self { worker, pending, next: Default::default(), _on_message: on_message })
    }

    async fn call(&self, message: JsValue) -> Result<JsValue, String> {
        let id = self.next.get();
        self.next.set(id.wrapping_add(1));
        let _ = js_sys::Reflect::set(&message, &"id".into(), &id.into());
        let pending = self.pending.clone();
        let promise = js_sys::Promise::new(&mut |resolve, reject| {
            pending.borrow_mut().insert(id, (resolve, reject));
        });
        self.worker.post_message(&message).map_err(|e| js_error(&e))?;
        JsFuture::from(promise).await.map_err(|e| js_error(&e))
    }
}

/// The worker side: worker.js hands every message here and posts back `{id, ok}` or `{id, error}`.
#[wasm_bindgen]
pub fn worker_handle(message: JsValue) -> JsValue {
    let id = js_sys::Reflect::get(&message, &"id".into()).unwrap_or(JsValue::NULL);
    let result: Result<JsValue, String> = (|| {
        let kind: WorkerMessage = serde_wasm_bindgen::from_value(message.clone()).map_err(|e| e.to_string())?;
        let to_js = |v: &dyn erased::Ser| v.to_js();
        match kind {
            WorkerMessage::Load => {
                let start = now();
                let bytes = js_sys::Reflect::get(&message, &"bytes".into()).map_err(|e| js_error(&e))?;
                let bytes = js_sys::Uint8Array::new(&bytes).to_vec();
                let bundle = bundle::decode(&bytes).map_err(|e| format!("Could not load the index: {e}"))?;
                let engine = Engine::new(bundle);
                let info = info_of(&engine, true, now() - start);
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

/// JSON-compatible serialisation through a trait object (maps as plain objects, tuples as arrays).
mod erased {
    use wasm_bindgen::JsValue;
    pub trait Ser {
        fn to_js(&self) -> Result<JsValue, String>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_js(&self) -> Result<JsValue, String> {
            self.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| e.to_string())
        }
    }
}

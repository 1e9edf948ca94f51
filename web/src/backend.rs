//! Where each mounted widget's search engine runs (its backend), the index loader, and timing.
//! This is the page-side registry of backends by widget id; the engine itself is core's
//! `search::Engine`, hosted here or in a worker.
//!
//! Where the page may start a Web Worker (http(s), same origin), the engine lives in one and
//! searches never block the UI thread: `worker-threads.js` (the threaded build of
//! `chromatica-worker`, a rayon pool over shared memory) where the page is cross-origin isolated,
//! else `worker.js` (this same wasm, one thread). From `file://` or a cross-origin embed it runs on
//! the page's thread. All run the same core code: same results.

use chromatica_core::bundle::{HEAD_FILE, MAX_HEAD_BYTES};
use chromatica_core::search::{Engine, SearchRequest, SearchResponse};
use chromatica_worker::{fetch_file, load_engine, Expect, WorkerMessage};
pub use chromatica_worker::{js_error, now, EngineError, IndexInfo};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

enum Backend {
    Loading,
    /// The engine on this thread, and its site's URL.
    Local(Rc<RefCell<Engine>>, String, IndexInfo),
    Worker(Rc<WorkerClient>, IndexInfo),
}

thread_local! {
    /// Engines by widget id. Engine is not Send; the page's wasm is single-threaded.
    static WIDGETS: RefCell<Vec<Backend>> = const { RefCell::new(Vec::new()) };
}

/// Reserves an id for a widget whose engine will be loaded later.
pub fn register() -> usize {
    WIDGETS.with(|w| {
        let mut w = w.borrow_mut();
        w.push(Backend::Loading);
        w.len() - 1
    })
}

/// Runs a search on widget `id`'s engine, wherever it lives.
pub async fn search(id: usize, request: SearchRequest) -> Result<SearchResponse, EngineError> {
    let backend = WIDGETS.with(|w| match w.borrow().get(id) {
        Some(Backend::Local(engine, base, _)) => Some(Err((engine.clone(), base.clone()))),
        Some(Backend::Worker(client, _)) => Some(Ok(client.clone())),
        _ => None,
    });
    match backend {
        Some(Ok(client)) => {
            let reply = client.call(to_value(&WorkerMessage::Search(request))?).await?;
            serde_wasm_bindgen::from_value(reply).map_err(|e| EngineError::Engine(e.to_string()))
        }
        Some(Err((engine, base))) => chromatica_worker::search(&engine, &base, &request).await,
        None => Err(EngineError::Engine("the index is not loaded yet".into())),
    }
}

pub fn info(id: usize) -> Option<IndexInfo> {
    WIDGETS.with(|w| match w.borrow().get(id) {
        Some(Backend::Local(_, _, i)) | Some(Backend::Worker(_, i)) => Some(i.clone()),
        _ => None,
    })
}

/// Whether the page may share memory with workers (COOP/COEP), which wasm threads need.
fn cross_origin_isolated() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &"crossOriginIsolated".into()).ok().and_then(|v| v.as_bool()).unwrap_or(false)
}

/// Loads the index's head for widget `id` (into a worker when possible); errors are readable
/// sentences. The shards and pages follow as searches ask for them.
///
/// Engines are tried in order: the threaded worker where the page is cross-origin isolated, the
/// single-threaded worker over http(s), then this thread. A worker that fails to start is
/// dropped for the next; a bad head is reported at once (every engine would refuse it).
pub async fn load(id: usize, base: &str) -> Result<IndexInfo, EngineError> {
    let start = now();
    let kinds: &[WorkerKind] = if cross_origin_isolated() { &[WorkerKind::Threaded, WorkerKind::Single] } else { &[WorkerKind::Single] };
    // The first worker starts now, so its wasm compiles (and its thread pool starts) during the download.
    let mut first = WorkerClient::start(base, kinds[0]);
    let head = match fetch_file(base, HEAD_FILE, Expect::AtMost(MAX_HEAD_BYTES)).await {
        Ok(head) => head,
        Err(e) => {
            if let Some(worker) = first {
                worker.worker.terminate();
            }
            return Err(EngineError::Download(e));
        }
    };
    let bytes = js_sys::Uint8Array::from(&head[..]);
    for (i, &kind) in kinds.iter().enumerate() {
        let client = if i == 0 { first.take() } else { WorkerClient::start(base, kind) };
        let Some(client) = client else { continue };
        let message = to_value(&WorkerMessage::Load { base: base.to_string() })?;
        // Cloned, not transferred: a worker that fails to start must leave them for the next.
        let _ = js_sys::Reflect::set(&message, &"bytes".into(), &bytes);
        match client.call(message).await {
            Ok(reply) => {
                let mut info: IndexInfo = serde_wasm_bindgen::from_value(reply).map_err(|e| EngineError::Engine(e.to_string()))?;
                info.load_ms = now() - start;
                WIDGETS.with(|w| w.borrow_mut()[id] = Backend::Worker(Rc::new(client), info.clone()));
                return Ok(info);
            }
            Err(e @ EngineError::Load(_)) => return Err(e),
            Err(e) => {
                web_sys::console::warn_1(&format!("Chromatica: the {} search worker failed ({e}); trying the next engine", kind.name()).into());
                client.worker.terminate();
            }
        }
    }
    let engine = load_engine(&head)?;
    let info = IndexInfo::of(&engine, false, now() - start);
    WIDGETS.with(|w| w.borrow_mut()[id] = Backend::Local(Rc::new(RefCell::new(engine)), base.to_string(), info.clone()));
    Ok(info)
}

/// The script hosting a worker engine.
#[derive(Clone, Copy)]
enum WorkerKind {
    /// `worker-threads.js`: a module worker running the threads build (shared memory and a rayon
    /// pool). Only where the page is cross-origin isolated.
    Threaded,
    /// `worker.js`: the page's own wasm module, one thread.
    Single,
}

impl WorkerKind {
    fn name(self) -> &'static str {
        match self {
            Self::Threaded => "multi-threaded",
            Self::Single => "single-threaded",
        }
    }
}

/// The worker `boot.js` started for the page's own app (`base` ""), under `key`, taken once, and
/// whether it has failed already.
fn prestarted_worker(window: &web_sys::Window, base: &str, key: &str) -> Option<(web_sys::Worker, bool)> {
    if !base.is_empty() {
        return None;
    }
    let key = JsValue::from_str(key);
    let worker = js_sys::Reflect::get(window, &key).ok()?.dyn_into::<web_sys::Worker>().ok()?;
    let _ = js_sys::Reflect::delete_property(window, &key);
    let failed = js_sys::Reflect::get(&worker, &"chromaticaFailed".into()).ok().and_then(|v| v.as_bool()).unwrap_or(false);
    Some((worker, failed))
}

type Pending = Rc<RefCell<HashMap<u32, (js_sys::Function, js_sys::Function)>>>;

/// The page side of a worker: numbered requests, answered by promise.
pub struct WorkerClient {
    worker: web_sys::Worker,
    pending: Pending,
    /// Set when the worker failed (its script did not load or threw): later calls fail at once.
    failed: Rc<RefCell<Option<String>>>,
    next: std::cell::Cell<u32>,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
}

impl WorkerClient {
    /// `None` where workers are unavailable (file://, cross-origin embeds, old browsers).
    fn start(base: &str, kind: WorkerKind) -> Option<Self> {
        let window = web_sys::window()?;
        if window.location().protocol().ok()? == "file:" {
            return None;
        }
        let mut failed_early = false;
        let worker = match kind {
            WorkerKind::Threaded => match prestarted_worker(&window, base, "__chromaticaThreadedWorker") {
                Some((worker, failed)) => {
                    failed_early = failed;
                    worker
                }
                None => {
                    let options = web_sys::WorkerOptions::new();
                    options.set_type(web_sys::WorkerType::Module);
                    web_sys::Worker::new_with_options(&format!("{base}worker-threads.js"), &options).ok()?
                }
            },
            WorkerKind::Single => match prestarted_worker(&window, base, "__chromaticaWorker") {
                // Started by boot.js, which hands it the compiled module itself.
                Some((worker, failed)) => {
                    failed_early = failed;
                    worker
                }
                None => {
                    let worker = web_sys::Worker::new(&format!("{base}worker.js")).ok()?;
                    // Hand over the page's compiled wasm (boot.js keeps it) so the worker need not
                    // fetch and compile it again.
                    let module = js_sys::Reflect::get(&window, &"__chromaticaModule".into()).ok();
                    if let Some(module) = module.filter(|m| m.is_instance_of::<js_sys::WebAssembly::Module>()) {
                        let init = js_sys::Object::new();
                        let _ = js_sys::Reflect::set(&init, &"kind".into(), &"init".into());
                        let _ = js_sys::Reflect::set(&init, &"module".into(), &module);
                        let _ = worker.post_message(&init);
                    }
                    worker
                }
            },
        };
        let pending: Pending = Rc::default();
        let p = pending.clone();
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let data = ev.data();
            let id = js_sys::Reflect::get(&data, &"id".into()).ok().and_then(|v| v.as_f64()).unwrap_or(-1.0) as u32;
            if let Some((resolve, reject)) = p.borrow_mut().remove(&id) {
                match js_sys::Reflect::get(&data, &"error".into()).ok().filter(|e| !e.is_undefined()) {
                    Some(error) => drop(reject.call1(&JsValue::NULL, &error)),
                    None => drop(resolve.call1(&JsValue::NULL, &js_sys::Reflect::get(&data, &"ok".into()).unwrap_or(JsValue::NULL))),
                }
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // A worker that fails rejects what it was asked and everything asked later.
        let failed: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(failed_early.then(|| "its script did not start".to_string())));
        let (p, f) = (pending.clone(), failed.clone());
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            // An ErrorEvent when the script threw; a plain Event when it could not be loaded.
            let message = js_sys::Reflect::get(&ev, &"message".into()).ok().and_then(|m| m.as_string());
            let reason = message.filter(|m| !m.is_empty()).unwrap_or_else(|| "its script did not start".into());
            for (_, (_, reject)) in p.borrow_mut().drain() {
                let _ = reject.call1(&JsValue::NULL, &reason.clone().into());
            }
            *f.borrow_mut() = Some(reason);
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Some(Self { worker, pending, failed, next: Default::default(), _on_message: on_message, _on_error: on_error })
    }

    async fn call(&self, message: JsValue) -> Result<JsValue, EngineError> {
        if let Some(reason) = self.failed.borrow().clone() {
            return Err(EngineError::Engine(reason));
        }
        let id = self.next.get();
        self.next.set(id.wrapping_add(1));
        let _ = js_sys::Reflect::set(&message, &"id".into(), &id.into());
        let pending = self.pending.clone();
        let promise = js_sys::Promise::new(&mut |resolve, reject| {
            pending.borrow_mut().insert(id, (resolve, reject));
        });
        self.worker.post_message(&message).map_err(|e| EngineError::Engine(js_error(&e)))?;
        // The worker rejects with its `{kind, message}` error; a failed worker with a string.
        JsFuture::from(promise).await.map_err(|e| EngineError::from_js(&e))
    }
}

fn to_value<T: serde::Serialize>(message: &T) -> Result<JsValue, EngineError> {
    serde_wasm_bindgen::to_value(message).map_err(|e| EngineError::Engine(e.to_string()))
}

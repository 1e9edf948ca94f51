//! The search engine as the browser hosts it: the loader of the site's index files, the search
//! loop that feeds the engine the files it asks for, and the protocol of the search worker.
//!
//! The page posts [`WorkerMessage`]s; the worker hands each to [`worker_handle`] and posts back
//! `{id, ok}` or `{id, error}`. Two builds run this code: the app's own wasm (its worker
//! instantiates the page's module; one thread) and, where the page is cross-origin isolated, this
//! crate built alone with feature `threads` (shared memory, a `wasm-bindgen-rayon` pool that the
//! rerank in `chromatica_core::search` spreads over). Same code, same ranking.

use chromatica_core::bundle::{self, BundleError, Head};
use chromatica_core::search::{ChunkKind, Engine, SearchError, SearchRequest, SearchResponse, Step, Want};
use chromatica_core::BackgroundMode;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

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
    /// The head's bytes travel in a `bytes` field set beside this; the worker fetches the rest of
    /// the index from `base` (the site's URL, "" for the page's own) as searches need it.
    Load {
        base: String,
    },
    Search(SearchRequest),
}

/// What the page shows about the index and where it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    pub images: usize,
    /// The head's size (every visit loads it) and the number of shards (loaded as queries need them).
    pub head_bytes: usize,
    pub shards: usize,
    /// Threads the rerank runs on (1 unless this is the threaded worker).
    pub threads: usize,
    pub worker: bool,
    pub load_ms: f64,
    /// Linear memory of the wasm instance holding the index (bounded by the chunk cache's budget).
    pub memory_bytes: f64,
    /// The site's background mode (the page histograms example images with it), and how many of
    /// its images were indexed without their plain background.
    pub background: BackgroundMode,
    pub backgrounds_removed: usize,
}

impl IndexInfo {
    pub fn of(engine: &Engine, worker: bool, load_ms: f64) -> Self {
        let head = engine.head();
        Self {
            images: head.len(),
            head_bytes: head.byte_len,
            shards: head.shards.len(),
            threads: chromatica_core::search::threads(),
            worker,
            load_ms,
            memory_bytes: memory_bytes(),
            background: head.params.background,
            backgrounds_removed: head.backgrounds_removed,
        }
    }
}

/// Bytes of this wasm instance's linear memory (the threaded build's is a SharedArrayBuffer;
/// both have byteLength).
pub fn memory_bytes() -> f64 {
    let buffer = wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>().buffer();
    js_sys::Reflect::get(&buffer, &"byteLength".into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0)
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

/// An engine over the site's head (`index/head.bin`).
pub fn load_engine(head: &[u8]) -> Result<Engine, EngineError> {
    Ok(Engine::new(Head::from_bytes(head)?))
}

/// Whether this page or worker was loaded from `file://` (where `fetch` is refused).
fn from_file_url() -> bool {
    let location = js_sys::Reflect::get(&js_sys::global(), &"location".into()).ok();
    let protocol = location.and_then(|l| js_sys::Reflect::get(&l, &"protocol".into()).ok()).and_then(|p| p.as_string());
    protocol.as_deref() == Some("file:")
}

/// A file of the site at `base` (its URL, "" for the page's own site) of `len` bytes (at most, for
/// the head) once inflated: fetched over http(s), in a page or a worker; from `file://`, the
/// classic script written beside it (`<path minus .bin>.js`), which files the bytes under
/// `self.CHROMATICA_FILES[path]`. Index files are stored gzip-compressed (bundle.rs) and inflated
/// by the browser ([`inflate`]). A body of another size is refused before it is copied into wasm
/// memory (which never shrinks).
pub async fn fetch_file(base: &str, path: &str, len: Expect) -> Result<Vec<u8>, String> {
    Ok(fetch_bytes(base, path, len).await?.to_vec())
}

/// [`fetch_file`], the bytes left in JS memory (the parallel fetches hand them on as they are,
/// and only the engine's copy enters wasm memory).
async fn fetch_bytes(base: &str, path: &str, len: Expect) -> Result<js_sys::Uint8Array, String> {
    let url = format!("{base}{path}");
    let stored = if from_file_url() {
        load_script(base, path, len.most()).await.map(|bytes| js_sys::Uint8Array::from(&bytes[..]))?
    } else {
        download(&url).await?
    };
    stored_check(&url, stored.length() as usize, len.most())?;
    let bytes = inflate(stored, len.most(), &url).await?;
    len.check(&url, bytes.length() as usize)?;
    Ok(bytes)
}

/// The body of `url`, over http(s).
async fn download(url: &str) -> Result<js_sys::Uint8Array, String> {
    let fetch = js_sys::Reflect::get(&js_sys::global(), &"fetch".into()).map_err(|e| js_error(&e))?;
    let fetch: js_sys::Function = fetch.dyn_into().map_err(|_| "this browser cannot fetch files".to_string())?;
    let failed = |e: JsValue| format!("could not download {url}: {}", js_error(&e));
    let promise: js_sys::Promise = fetch.call1(&js_sys::global(), &url.into()).map_err(failed)?.dyn_into().map_err(failed)?;
    let response: web_sys::Response = JsFuture::from(promise).await.map_err(failed)?.dyn_into().map_err(failed)?;
    if !response.ok() {
        return Err(format!("could not download {url}: HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(failed)?).await.map_err(failed)?;
    Ok(js_sys::Uint8Array::new(&buffer))
}

/// A stored index file inflated by the browser's own gzip (`DecompressionStream`: no inflater in
/// the wasm), reading no more than `most` bytes of output. Bytes that are not gzip (a site built
/// before index files were compressed, or a host that inflated them already) are returned as
/// they are; the engine checks them either way.
async fn inflate(stored: js_sys::Uint8Array, most: usize, url: &str) -> Result<js_sys::Uint8Array, String> {
    if stored.length() < 2 || [stored.get_index(0), stored.get_index(1)] != bundle::GZIP_MAGIC {
        return Ok(stored);
    }
    let failed = |e: JsValue| format!("could not inflate {url}: {} (rebuild or re-upload the site)", js_error(&e));
    let class = js_sys::Reflect::get(&js_sys::global(), &"DecompressionStream".into())
        .ok()
        .and_then(|c| c.dyn_into::<js_sys::Function>().ok())
        .ok_or_else(|| "this browser cannot inflate the index (it has no DecompressionStream): update it".to_string())?;
    let inflater = js_sys::Reflect::construct(&class, &js_sys::Array::of1(&"gzip".into())).map_err(failed)?;
    let body = web_sys::Response::new_with_opt_buffer_source(Some(&stored)).map_err(failed)?.body().ok_or_else(|| failed(JsValue::NULL))?;
    let reader: web_sys::ReadableStreamDefaultReader = body.pipe_through(inflater.unchecked_ref()).get_reader().unchecked_into();
    let (mut parts, mut total) = (Vec::new(), 0usize);
    loop {
        let read = JsFuture::from(reader.read()).await.map_err(failed)?;
        if js_sys::Reflect::get(&read, &"done".into()).map_or(true, |done| done.is_truthy()) {
            break;
        }
        let part: js_sys::Uint8Array = js_sys::Reflect::get(&read, &"value".into()).map_err(failed)?.dyn_into().map_err(failed)?;
        total += part.length() as usize;
        if total > most {
            let _ = reader.cancel();
            return Err(format!("{url} inflates to more than the {most} bytes the index expects: rebuild or re-upload the site"));
        }
        parts.push(part);
    }
    let out = js_sys::Uint8Array::new_with_length(total as u32);
    let mut at = 0;
    for part in parts {
        out.set(&part, at);
        at += part.length();
    }
    Ok(out)
}

/// Refuses a stored file larger than any gzip of `most` bytes (deflate adds at most 5 bytes per
/// 64 KiB block, gzip 18 bytes around them).
fn stored_check(url: &str, got: usize, most: usize) -> Result<(), String> {
    if got > most.saturating_add(most / 1024).saturating_add(64) {
        return Err(format!("{url} is {got} bytes, more than the {most} bytes the index expects: rebuild or re-upload the site"));
    }
    Ok(())
}

/// The size a fetched file must have (inflated).
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    Exactly(usize),
    AtMost(usize),
}

impl Expect {
    /// The most bytes a file may inflate to.
    fn most(self) -> usize {
        match self {
            Self::Exactly(n) | Self::AtMost(n) => n,
        }
    }

    fn check(self, url: &str, got: usize) -> Result<(), String> {
        match self {
            Self::Exactly(n) if got != n => {
                Err(format!("{url} is {got} bytes, not the {n} this index was built with: rebuild or re-upload the site"))
            }
            Self::AtMost(n) if got > n => Err(format!("{url} is {got} bytes, more than an index head can be")),
            _ => Ok(()),
        }
    }
}

/// `file://`: loads `<path>.js` with a `<script>` and takes the bytes it filed.
async fn load_script(base: &str, path: &str, most: usize) -> Result<Vec<u8>, String> {
    let src = format!("{base}{}.js", path.strip_suffix(".bin").unwrap_or(path));
    let failed = || format!("could not load {src} (is the site complete?)");
    let document = web_sys::window().and_then(|w| w.document()).ok_or_else(failed)?;
    let script: web_sys::HtmlScriptElement = document.create_element("script").map_err(|_| failed())?.unchecked_into();
    script.set_src(&src);
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        script.set_onload(Some(&resolve));
        script.set_onerror(Some(&reject));
    });
    let parent = document.head().map(web_sys::Node::from).or_else(|| document.body().map(Into::into)).ok_or_else(failed)?;
    parent.append_child(&script).map_err(|_| failed())?;
    let loaded = JsFuture::from(done).await;
    let _ = parent.remove_child(&script);
    loaded.map_err(|_| failed())?;
    let files = js_sys::Reflect::get(&js_sys::global(), &"CHROMATICA_FILES".into()).map_err(|_| failed())?;
    let text = js_sys::Reflect::get(&files, &path.into()).ok().and_then(|t| t.as_string()).ok_or_else(failed)?;
    if let Some(files) = files.dyn_ref::<js_sys::Object>() {
        let _ = js_sys::Reflect::delete_property(files, &path.into());
    }
    // Base64 of n bytes is 4 * ceil(n / 3) characters, the last 0-2 of them '=': refuse other
    // sizes before decoding.
    let padding = text.bytes().rev().take(2).filter(|&c| c == b'=').count();
    stored_check(&src, (text.len() / 4 * 3).saturating_sub(padding), most)?;
    // The browser's own base64 decoder: each char of its result is one byte.
    let atob = js_sys::Reflect::get(&js_sys::global(), &"atob".into()).ok().and_then(|f| f.dyn_into::<js_sys::Function>().ok()).ok_or_else(failed)?;
    let binary: js_sys::JsString =
        atob.call1(&JsValue::NULL, &text.into()).ok().and_then(|b| b.dyn_into().ok()).ok_or_else(|| format!("{src} is not a valid index script"))?;
    Ok(binary.iter().map(|unit| unit as u8).collect())
}

/// An index file on its way: settles when its bytes (or why not) are in the engine.
struct Flight {
    promise: js_sys::Promise,
    /// Whether a step waits for it. An early fetch nobody waited for that fails is forgotten,
    /// not recorded: its failure must not cost a later search the file.
    wanted: Rc<std::cell::Cell<bool>>,
}

thread_local! {
    /// Index files on their way, by engine and URL: a step that wants a file already coming
    /// (asked for early, or by an overlapping search) waits for that fetch instead of another.
    /// A fetch is listed before it starts and unlisted as it settles.
    static FLIGHTS: RefCell<HashMap<(usize, String), Flight>> = RefCell::new(HashMap::new());
}

/// Fetches `want` for `engine` from `base` unless it is on its way already, and marks it
/// `wanted` if a step waits for it; its bytes go into the engine as soon as they come (a failure
/// only if it was wanted by then), and the promise resolves then (it never rejects).
fn flight(engine: &Rc<RefCell<Engine>>, base: &str, want: Want, wanted: bool) -> js_sys::Promise {
    let key = (Rc::as_ptr(engine) as usize, format!("{base}{}", want.path()));
    let on_way = FLIGHTS.with(|f| f.borrow().get(&key).map(|f| (f.promise.clone(), f.wanted.clone())));
    if let Some((promise, waited)) = on_way {
        if wanted {
            waited.set(true);
        }
        return promise;
    }
    let mut settle = None;
    let promise = js_sys::Promise::new(&mut |resolve, _| settle = Some(resolve));
    let waited = Rc::new(std::cell::Cell::new(wanted));
    FLIGHTS.with(|f| f.borrow_mut().insert(key.clone(), Flight { promise: promise.clone(), wanted: waited.clone() }));
    let (engine, base) = (engine.clone(), base.to_string());
    wasm_bindgen_futures::spawn_local(async move {
        let fetched = fetch_bytes(&base, &want.path(), Expect::Exactly(want.chunk.len as usize)).await.map(|bytes| bytes.to_vec());
        if fetched.is_ok() || waited.get() {
            engine.borrow_mut().insert(&want, fetched.as_deref().map_err(Clone::clone));
        }
        FLIGHTS.with(|f| f.borrow_mut().remove(&key));
        if let Some(settle) = settle {
            let _ = settle.call0(&JsValue::NULL);
        }
    });
    promise
}

/// Runs one search on `engine`, fetching from `base` the index files it asks for, until it is
/// done. A step's files are all asked for at once, its early ones too ([`Step::Fetch`]); while
/// shards are among them, the search steps again as each arrives (the pages of the candidates
/// in the shards that came first start while the others travel), else once all are in. The
/// engine is borrowed only between awaits, so searches may overlap.
pub async fn search(engine: &Rc<RefCell<Engine>>, base: &str, request: &SearchRequest) -> Result<SearchResponse, EngineError> {
    loop {
        let step = engine.borrow_mut().search(request, &now)?;
        let (wants, early) = match step {
            Step::Done(mut response) => {
                response.metadata.memory_bytes = Some(memory_bytes());
                return Ok(response);
            }
            Step::Fetch { wants, early } => (wants, early),
        };
        let flights: js_sys::Array = wants.iter().map(|&want| JsValue::from(flight(engine, base, want, true))).collect();
        for want in early {
            let _ = flight(engine, base, want, false);
        }
        let shards = wants.iter().any(|w| matches!(w.kind, ChunkKind::Shard(_)));
        let next = if shards { js_sys::Promise::race(&flights) } else { js_sys::Promise::all(&flights) };
        let _ = JsFuture::from(next).await;
    }
}

thread_local! {
    /// The engine of this wasm instance when it runs in a worker, and its site's URL.
    static WORKER_ENGINE: RefCell<Option<(Rc<RefCell<Engine>>, String)>> = const { RefCell::new(None) };
}

/// The worker side: the worker script hands every message here and posts back the reply,
/// `{id, ok}` or `{id, error}`.
#[wasm_bindgen]
pub async fn worker_handle(message: JsValue) -> JsValue {
    let id = js_sys::Reflect::get(&message, &"id".into()).unwrap_or(JsValue::NULL);
    let result = handle(message).await;
    let reply = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&reply, &"id".into(), &id);
    match result {
        Ok(v) => drop(js_sys::Reflect::set(&reply, &"ok".into(), &v)),
        Err(e) => drop(js_sys::Reflect::set(&reply, &"error".into(), &e.to_js())),
    }
    reply.into()
}

async fn handle(message: JsValue) -> Result<JsValue, EngineError> {
    // Taken out before serde sees the message (an internally tagged enum buffers every field).
    let bytes = js_sys::Reflect::get(&message, &"bytes".into()).unwrap_or(JsValue::UNDEFINED);
    if let Some(object) = message.dyn_ref::<js_sys::Object>() {
        let _ = js_sys::Reflect::delete_property(object, &"bytes".into());
    }
    let kind: WorkerMessage = serde_wasm_bindgen::from_value(message).map_err(|e| EngineError::Engine(e.to_string()))?;
    match kind {
        WorkerMessage::Load { base } => {
            let start = now();
            let bytes = bytes.dyn_into::<js_sys::Uint8Array>().map_err(|_| EngineError::Engine("the index bytes are missing".into()))?;
            let engine = load_engine(&bytes.to_vec())?;
            let info = IndexInfo::of(&engine, true, now() - start);
            WORKER_ENGINE.with(|e| *e.borrow_mut() = Some((Rc::new(RefCell::new(engine)), base)));
            to_js(&info).map_err(EngineError::Engine)
        }
        WorkerMessage::Search(request) => {
            let Some((engine, base)) = WORKER_ENGINE.with(|e| e.borrow().clone()) else {
                return Err(EngineError::Engine("the index is not loaded yet".into()));
            };
            let response = search(&engine, &base, &request).await?;
            to_js(&response).map_err(EngineError::Engine)
        }
    }
}

/// JSON-compatible serialisation (maps as plain objects, tuples as arrays).
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, String> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| e.to_string())
}

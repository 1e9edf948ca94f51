//! `window.chromatica`: the page's JavaScript API, answering with the JSON of
//! `chromatica_core::search::SearchResponse` (the same as `chromatica search --json`).

use crate::backend::{self, IndexInfo};
use chromatica_core::query::{parse_k, DEFAULT_K, MAX_K};
use chromatica_core::Query;
use serde::Deserialize;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

thread_local! {
    /// The widget the API talks to, and how to settle its `ready` promise.
    static API: RefCell<Option<(usize, js_sys::Promise, js_sys::Function, js_sys::Function)>> = const { RefCell::new(None) };
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Colors {
    List(Vec<String>),
    Text(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Weights {
    List(Vec<f64>),
    Text(String),
}

#[derive(Deserialize)]
struct ApiQuery {
    colors: Option<Colors>,
    weights: Option<Weights>,
    k: Option<f64>,
}

fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| js_sys::Error::new(&e.to_string()).into())
}

fn fail(message: impl AsRef<str>) -> JsValue {
    js_sys::Error::new(message.as_ref()).into()
}

fn check_k(k: Option<f64>) -> Result<usize, JsValue> {
    match k {
        None => Ok(DEFAULT_K),
        Some(k) if k.fract() == 0.0 && (1.0..=MAX_K as f64).contains(&k) => Ok(k as usize),
        Some(k) => parse_k(&k.to_string()).map_err(|e| fail(e.to_string())),
    }
}

fn parse_query(value: JsValue) -> Result<(Query, usize), JsValue> {
    let q: ApiQuery = serde_wasm_bindgen::from_value(value)
        .map_err(|e| fail(format!("expected {{colors: ['FF0000', …], weights: [1, …], k: 10}}: {e}")))?;
    let weights = match q.weights {
        None => None,
        Some(Weights::List(w)) => Some(w),
        Some(Weights::Text(t)) => Some(
            t.split(',')
                .map(|w| w.trim().parse::<f64>().map_err(|_| fail(format!("{w:?} is not a number"))))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let query = match q.colors {
        None => return Err(fail("give at least one color")),
        Some(Colors::List(c)) => Query::from_strings(&c, weights.as_deref()),
        Some(Colors::Text(t)) => {
            let c: Vec<&str> = t.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            Query::from_strings(&c, weights.as_deref())
        }
    }
    .map_err(|e| fail(e.to_string()))?;
    Ok((query, check_k(q.k)?))
}

fn ready_promise() -> Option<(usize, js_sys::Promise)> {
    API.with(|a| a.borrow().as_ref().map(|(w, p, _, _)| (*w, p.clone())))
}

/// Runs `f` once the index is loaded.
fn after_ready<F, Fut>(f: F) -> js_sys::Promise
where
    F: FnOnce(usize) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<JsValue, JsValue>> + 'static,
{
    future_to_promise(async move {
        let (widget, ready) = ready_promise().ok_or_else(|| fail("Chromatica is not mounted"))?;
        JsFuture::from(ready).await?;
        f(widget).await
    })
}

async fn run_search(widget: usize, request: backend::Request) -> Result<JsValue, JsValue> {
    to_js(&backend::search(widget, request).await.map_err(fail)?)
}

pub fn install(widget: usize) {
    let mut settle = None;
    let ready = js_sys::Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
    let Some((resolve, reject)) = settle else { return };
    // An unobserved rejection must not spam the console as "uncaught".
    let ignore = Closure::<dyn FnMut(JsValue)>::new(|_| {});
    let _ = ready.catch(&ignore);
    ignore.forget();
    API.with(|a| *a.borrow_mut() = Some((widget, ready.clone(), resolve, reject)));

    let api = js_sys::Object::new();
    let set = |name: &str, value: &JsValue| {
        let _ = js_sys::Reflect::set(&api, &name.into(), value);
    };
    set("ready", &ready);
    let search = Closure::<dyn Fn(JsValue) -> js_sys::Promise>::new(|q: JsValue| match parse_query(q) {
        Ok((query, k)) => after_ready(move |w| run_search(w, backend::Request::colors(&query, k))),
        Err(e) => js_sys::Promise::reject(&e),
    });
    set("search", &search.into_js_value());
    let similar = Closure::<dyn Fn(JsValue, JsValue) -> js_sys::Promise>::new(|id: JsValue, k: JsValue| {
        let k = match check_k(k.as_f64()) {
            Ok(k) => k,
            Err(e) => return js_sys::Promise::reject(&e),
        };
        match id.as_f64().filter(|i| i.fract() == 0.0 && *i >= 0.0 && *i <= u32::MAX as f64) {
            Some(id) => after_ready(move |w| run_search(w, backend::Request::Similar { image: id as u32, k })),
            None => js_sys::Promise::reject(&fail("searchSimilar(id, k): id must be an image id")),
        }
    });
    set("searchSimilar", &similar.into_js_value());
    let info = Closure::<dyn Fn() -> js_sys::Promise>::new(|| after_ready(|w| async move { to_js(&backend::info(w)) }));
    set("info", &info.into_js_value());
    if let Some(window) = web_sys::window() {
        let _ = js_sys::Reflect::set(&window, &"chromatica".into(), &api);
    }
}

pub fn resolve_ready(widget: usize, info: &IndexInfo) {
    API.with(|a| {
        if let Some((w, _, resolve, _)) = a.borrow().as_ref() {
            if *w == widget {
                let _ = resolve.call1(&JsValue::NULL, &to_js(info).unwrap_or(JsValue::NULL));
            }
        }
    });
}

pub fn reject_ready(widget: usize, message: &str) {
    API.with(|a| {
        if let Some((w, _, _, reject)) = a.borrow().as_ref() {
            if *w == widget {
                let _ = reject.call1(&JsValue::NULL, &fail(message));
            }
        }
    });
}

//! `window.chromatica`: the page's JavaScript API, answering with the JSON of
//! `chromatica_core::search::SearchResponse` (the same as `chromatica search --json`).

use crate::backend::{self, IndexInfo};
use chromatica_core::query::{QueryError, SearchOptions, UrlState};
use chromatica_core::search::{SearchRequest, Source};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

thread_local! {
    /// The widget the API talks to, and how to settle its `ready` promise.
    static API: RefCell<Option<(usize, js_sys::Promise, js_sys::Function, js_sys::Function)>> = const { RefCell::new(None) };
}

fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| js_sys::Error::new(&e.to_string()).into())
}

fn fail(message: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&message.to_string()).into()
}

/// A JS object's fields as `(key, text)` pairs, the form the URL fragment has: strings as they
/// are, numbers as JS writes them, lists joined with commas. The pairs then go through the one
/// query parser (`UrlState::from_pairs`), so the API and the URL accept the same keys, refuse
/// unknown ones, and say the same things about bad values.
fn pairs_of(value: &JsValue, usage: &str) -> Result<Vec<(String, String)>, JsValue> {
    let object = value.dyn_ref::<js_sys::Object>().filter(|_| !value.is_null() && !js_sys::Array::is_array(value)).ok_or_else(|| fail(usage))?;
    let mut pairs = Vec::new();
    for entry in js_sys::Object::entries(object).iter() {
        let entry: js_sys::Array = entry.unchecked_into();
        let key = entry.get(0).as_string().unwrap_or_default();
        let value = entry.get(1);
        if value.is_undefined() {
            continue;
        }
        let text = |v: &JsValue| {
            v.as_string()
                .or_else(|| v.as_f64().map(|n| n.to_string()))
                .ok_or_else(|| fail(format!("{key}: expected text or a number, or a list of them")))
        };
        let text = match value.dyn_ref::<js_sys::Array>() {
            Some(list) => list.iter().map(|v| text(&v)).collect::<Result<Vec<_>, _>>()?.join(","),
            None => text(&value)?,
        };
        pairs.push((key, text));
    }
    Ok(pairs)
}

const SEARCH_USAGE: &str = "search({colors: ['FF0000', …], weights: [1, …], k: 10}): expected an object";

fn parse_query(value: &JsValue) -> Result<SearchRequest, JsValue> {
    let state = UrlState::from_pairs(pairs_of(value, SEARCH_USAGE)?).map_err(fail)?;
    Ok(SearchRequest { source: Source::of_state(&state), options: state.options })
}

/// `searchSimilar(id, k)` or `searchSimilar(id, {k, …options})`.
fn parse_similar(id: &JsValue, options: &JsValue) -> Result<SearchRequest, JsValue> {
    let id = id.as_f64().filter(|i| i.fract() == 0.0 && *i >= 0.0 && *i <= u32::MAX as f64);
    let image = id.ok_or_else(|| fail("searchSimilar(id, k): id must be an image id"))? as u32;
    let mut parsed = SearchOptions::default();
    let pairs = match options.as_f64() {
        Some(k) => vec![("k".to_string(), k.to_string())],
        None if options.is_undefined() => vec![],
        None => pairs_of(options, "searchSimilar(id, k) or searchSimilar(id, {k, …}): expected a number or an object")?,
    };
    for (key, value) in pairs {
        if !parsed.set(&key, &value).map_err(fail)? {
            return Err(fail(QueryError::UnknownParameter(key)));
        }
    }
    Ok(SearchRequest { source: Source::Similar { image }, options: parsed })
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

async fn run_search(widget: usize, request: SearchRequest) -> Result<JsValue, JsValue> {
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
    let search = Closure::<dyn Fn(JsValue) -> js_sys::Promise>::new(|q: JsValue| match parse_query(&q) {
        Ok(request) => after_ready(move |w| run_search(w, request)),
        Err(e) => js_sys::Promise::reject(&e),
    });
    set("search", &search.into_js_value());
    let similar = Closure::<dyn Fn(JsValue, JsValue) -> js_sys::Promise>::new(|id: JsValue, options: JsValue| match parse_similar(&id, &options) {
        Ok(request) => after_ready(move |w| run_search(w, request)),
        Err(e) => js_sys::Promise::reject(&e),
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

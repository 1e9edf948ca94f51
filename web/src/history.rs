//! The query in the page's URL, on the browser side: reading the fragment, recording searched
//! queries as history entries, and following Back/Forward and edited URLs. The fragment's format
//! and parsing are state.rs's; only the full page does any of this (embedded widgets never touch
//! their host's URL).

use crate::app::Source;
use crate::color_row::{colors_of, Rows};
use crate::state;
use chromatica_core::query::SearchOptions;
use leptos::prelude::*;
use std::time::Duration;

/// How long after the page's own Back its events are taken for that Back's (ms).
const OWN_BACK_MS: f64 = 1000.0;
/// How long the query must stay unchanged before it becomes a history entry (ms), so dragging a
/// slider adds one entry, not fifty.
const URL_DELAY_MS: u64 = 400;

pub fn current_fragment() -> String {
    web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default().trim_start_matches('#').to_string()
}

fn invalid_link(error: impl std::fmt::Display) -> String {
    format!("The link's query is invalid: {error}")
}

/// The message for an invalid link the page was opened with.
pub fn initial_error() -> Option<String> {
    let f = state::split_open(&current_fragment()).0;
    if f.is_empty() {
        return None;
    }
    state::parse_fragment(&f).err().map(invalid_link)
}

/// Records `fragment` in the URL once it has stayed the query for `URL_DELAY_MS`; clearing the
/// returned handle cancels that.
pub fn push_later(fragment: String) -> Option<TimeoutHandle> {
    set_timeout_with_handle(move || push_fragment(&fragment), Duration::from_millis(URL_DELAY_MS)).ok()
}

/// Records the query in the URL as a new history entry (so Back returns to the previous query).
/// A page opened without a query gets it in place, so Back leaves the site instead of landing
/// on the same page without a fragment.
fn push_fragment(fragment: &str) {
    let current = state::split_open(&current_fragment()).0;
    if current == fragment {
        return;
    }
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let url = format!("#{fragment}");
        let _ = if current.is_empty() {
            history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url))
        } else {
            history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url))
        };
    }
}

thread_local! {
    /// Whether the open detail view has a history entry of its own (pushed when it was opened
    /// from the page), which closing it takes back.
    static OPEN_PUSHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// When the page last went Back itself (closing the detail view, `Date.now()` ms): that Back
    /// (its popstate and its hashchange) must only close the view, never restore the entry's
    /// query over what the visitor has moved on to since ("Search these colors").
    static OWN_BACK: std::cell::Cell<f64> = const { std::cell::Cell::new(f64::NEG_INFINITY) };
}

/// Keeps the URL's `open=ID` in step with the detail view going from `was` to `now`, for results
/// of `query` (the page's color query as a fragment; `None` for results the URL cannot name:
/// "More like this", an example image): opening adds a history entry (so Back closes it), moving
/// to another result replaces it, closing goes back over it (or, for a view a link opened, drops
/// it in place). A query recording still pending is written now, as part of the entry.
pub fn record_open(was: Option<u32>, now: Option<u32>, query: Option<String>, pending_url: StoredValue<Option<TimeoutHandle>, LocalStorage>) {
    let Some(window) = web_sys::window() else { return };
    let Ok(history) = window.history() else { return };
    if let Some(h) = pending_url.get_value() {
        h.clear();
    }
    let in_url = state::split_open(&current_fragment()).0;
    let with = |id: u32| match &query {
        Some(q) if !q.is_empty() => format!("#{q}&open={id}"),
        Some(_) => format!("#open={id}"),
        None => format!("#{in_url}"),
    };
    let _ = match (was, now) {
        (None, Some(id)) => {
            OPEN_PUSHED.with(|p| p.set(true));
            history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&with(id)))
        }
        (Some(_), Some(id)) => history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&with(id))),
        (Some(_), None) if OPEN_PUSHED.with(|p| p.replace(false)) => {
            OWN_BACK.with(|b| b.set(js_sys::Date::now()));
            history.back()
        }
        (Some(_), None) => history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&format!("#{in_url}"))),
        (None, None) => Ok(()),
    };
}

/// The result the page's URL opens in the detail view.
pub fn initial_open() -> Option<u32> {
    state::split_open(&current_fragment()).1
}

/// Back/forward and edited URLs restore the query they name (a URL recording is cancelled
/// first), and the detail view they open; an invalid query replaces the results by its error
/// message.
pub fn follow(
    rows: Rows,
    options: RwSignal<SearchOptions>,
    source: RwSignal<Source>,
    opened: RwSignal<Option<u32>>,
    pending_url: StoredValue<Option<TimeoutHandle>, LocalStorage>,
) {
    let apply = move || {
        if let Some(h) = pending_url.get_value() {
            h.clear();
        }
        let fragment = current_fragment();
        let open = state::split_open(&fragment).1;
        if open.is_none() {
            OPEN_PUSHED.with(|p| p.set(false));
        }
        if opened.get_untracked() != open {
            opened.set(open);
        }
        if open.is_none() && js_sys::Date::now() - OWN_BACK.with(|b| b.get()) < OWN_BACK_MS {
            return;
        }
        match state::parse_fragment(&fragment) {
            Ok(s) => {
                let same = state::state_of(&rows.list.get_untracked(), &options.get_untracked()).ok().map(|s| s.to_fragment());
                if same.as_deref() != Some(s.to_fragment().as_str()) || source.get_untracked() != Source::Colors {
                    rows.replace(colors_of(s.query.as_ref()));
                    options.set(s.options);
                    source.set(Source::Colors);
                }
            }
            Err(e) if !state::split_open(&fragment).0.is_empty() => source.set(Source::InvalidLink(invalid_link(e))),
            Err(_) => {}
        }
    };
    let handle = window_event_listener(leptos::ev::hashchange, move |_| apply());
    let handle2 = window_event_listener(leptos::ev::popstate, move |_| apply());
    on_cleanup(move || {
        handle.remove();
        handle2.remove();
    });
}

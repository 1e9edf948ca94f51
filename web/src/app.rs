//! The app shell: one widget's state, the index load, the search that follows every change of the
//! query, and the page around the query and results panels. The panels only show and edit that
//! state; deciding when and what to search happens here, in one place.

use crate::backend::{self, IndexInfo};
use crate::color_row::Rows;
use crate::detail::{DetailView, Open};
use crate::history;
use crate::query_panel::QueryPanel;
use crate::results::ResultsPanel;
use crate::state::{self, ColorRow};
use chromatica_core::color::to_hex;
use chromatica_core::histogram::{dominant_colors, Histogram};
use chromatica_core::query::{SearchOptions, MAX_COLORS, MAX_K};
use chromatica_core::search::{self, SearchRequest, SearchResponse};
use leptos::prelude::*;
use std::time::Duration;

/// How long an edit must rest before it is searched (ms), so slider drags stay smooth. The URL
/// follows after a longer pause (history.rs).
const SEARCH_DEBOUNCE_MS: u64 = 120;
/// Results "Show more" adds.
const SHOW_MORE: usize = 50;

/// How a widget behaves: the full page keeps its state in the URL; an embedded widget does not.
#[derive(Clone)]
pub struct Options {
    pub widget: usize,
    pub base: String,
    pub url_state: bool,
    pub compact: bool,
    /// The page's pre-rendered results, when the app is being built off-page to replace it.
    pub first: Option<First>,
    /// The site's title and tagline (`None`: Chromatica's own).
    pub identity: (Option<String>, Option<String>),
    /// A filter every search of this widget keeps (an embed's `data-filter`), under the visitor's.
    pub fixed: chromatica_core::filter::Filter,
}

/// What a pre-rendered page hands the app (lib.rs): the results it shows, which the app draws
/// too (and shows until its own first search answers), and how to put the app in its place.
#[derive(Clone)]
pub struct First {
    pub response: SearchResponse,
    pub show: std::rc::Rc<dyn Fn()>,
}

/// What produced the results on screen.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    Colors,
    Similar(u32, String),
    Image(String),
    /// The URL names an invalid query: the message is shown instead of results until the user
    /// edits the query or navigates to a valid one.
    InvalidLink(String),
}

/// One widget's reactive state, shared by its panels, the index load and the searches (every
/// field is a `Copy` handle).
#[derive(Clone, Copy)]
struct Widget {
    id: usize,
    url_state: bool,
    rows: Rows,
    /// How to search (k and the other per-query options): one value, as the URL carries it.
    options: RwSignal<SearchOptions>,
    source: RwSignal<Source>,
    response: RwSignal<Option<SearchResponse>>,
    /// `response` is the page's pre-rendered one (no timings yet), until the first search answers.
    prerendered: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    status: RwSignal<String>,
    info: RwSignal<Option<IndexInfo>>,
    loaded: RwSignal<bool>,
    /// The result open in the detail view.
    opened: RwSignal<Option<u32>>,
    /// "Show more" was asked for: if the next search is the shown one's with a larger k, its new
    /// results come after what is shown, which stays.
    more: StoredValue<bool>,
    /// The search whose answer is shown.
    shown: StoredValue<Option<SearchRequest>>,
    /// The example image's histogram, searched while `source` is `Source::Image`.
    image_histogram: StoredValue<Option<Histogram>, LocalStorage>,
    /// The pending recording of the query in the URL (history.rs).
    pending_url: StoredValue<Option<TimeoutHandle>, LocalStorage>,
}

#[component]
pub fn App(options: Options) -> impl IntoView {
    let Options { widget, base, url_state, compact, first, identity: (title, tagline), fixed } = options;
    let initial = if url_state { history::current_fragment() } else { String::new() };
    let initial = state::parse_fragment(&initial).or_else(|_| chromatica_core::page::default_state()).expect("the default query is valid");
    let source = RwSignal::new(match if url_state { history::initial_error() } else { None } {
        Some(message) => Source::InvalidLink(message),
        None => Source::Colors,
    });
    let w = Widget {
        id: widget,
        url_state,
        rows: Rows::new(initial.query.as_ref(), source),
        options: RwSignal::new(initial.options),
        source,
        prerendered: RwSignal::new(first.is_some()),
        response: RwSignal::new(None),
        error: RwSignal::new(None),
        status: RwSignal::new("Loading index…".to_string()),
        info: RwSignal::new(None),
        loaded: RwSignal::new(false),
        opened: RwSignal::new(if url_state { history::initial_open() } else { None }),
        more: StoredValue::new(false),
        shown: StoredValue::new(None),
        image_histogram: StoredValue::new_local(None),
        pending_url: StoredValue::new_local(None),
    };
    load_index(w, base.clone());
    search_on_change(w, fixed);
    if let Some(first) = first {
        take_over(w, first);
    }
    if url_state {
        history::follow(w.rows, w.options, w.source, w.opened, w.pending_url);
    }
    // Opening, moving in and closing the detail view; on the full page the URL follows.
    let open: Open = Callback::new(move |id: Option<u32>| {
        let was = w.opened.get_untracked();
        if was == id {
            return;
        }
        w.opened.set(id);
        if url_state {
            // Only color queries are in the URL; the detail view of other results is not.
            let query = match w.source.get_untracked() {
                Source::Colors => state::state_of(&w.rows.list.get_untracked(), &w.options.get_untracked()).ok().map(|s| s.to_fragment()),
                _ => None,
            };
            history::record_open(was, id, query, w.pending_url);
        }
    });
    // A link may name a result that is not among the results: then nothing is open.
    Effect::new(move |_| {
        let stale = w.response.with(|r| r.as_ref().is_some_and(|r| w.opened.get_untracked().is_some_and(|id| !r.results.iter().any(|x| x.id == id))));
        if stale && !w.prerendered.get_untracked() {
            open.run(None);
        }
    });
    // An example image: its dominant colors become the (editable) rows; its histogram is searched.
    let on_image = move |name: String, h: Histogram| {
        let colors = dominant_colors(&h, MAX_COLORS);
        w.image_histogram.set_value(Some(h));
        if !colors.is_empty() {
            w.rows.replace(colors.iter().map(|(c, share)| (to_hex(*c), *share)));
        }
        w.source.set(Source::Image(name));
    };

    // "Show more": the same query with a larger k, its new results after the shown ones.
    let more = Callback::new(move |()| {
        w.more.set_value(true);
        w.options.update(|o| o.k = (o.k + SHOW_MORE).min(MAX_K));
    });
    let can_more = Signal::derive(move || {
        let k = w.options.with(|o| o.k);
        k < MAX_K && w.response.with(|r| r.as_ref().is_some_and(|r| r.results.len() >= k))
    });
    view! {
        <div class="chromatica" class:compact=compact>
            {(!compact).then(|| view! {
                <header class="topbar">
                    <div class="brand"><span class="logo" aria-hidden="true"></span><h1>{title.unwrap_or_else(|| "Chromatica".into())}</h1></div>
                    <p class="tagline">{tagline.unwrap_or_else(|| "Search images by color — entirely in your browser.".into())}</p>
                </header>
            })}
            <main class="layout">
                <QueryPanel rows=w.rows options=w.options error=w.error on_image=on_image info=w.info />
                <ResultsPanel status=w.status source=w.source response=w.response prerendered=w.prerendered info=w.info error=w.error open=open more=more can_more=can_more base=base.clone() filters=(!compact).then_some(w.options) />
            </main>
            <DetailView widget=w.id opened=w.opened open=open response=w.response source=w.source rows=w.rows base=base />
            {(!compact).then(|| view! { <footer class="credit">"Color search by Chromatica: it runs entirely in your browser."</footer> })}
        </div>
    }
}

/// Replaces the pre-rendered page with this app, in steps that each leave the page thread free
/// for a moment: this mount (without results), then the pre-rendered results drawn again (unless
/// a search answered first), then the app shown in the page's place.
fn take_over(w: Widget, first: First) {
    let First { response, show } = first;
    set_timeout(
        move || {
            // Unless a search answered already, or the URL changed to another query (or a bad one).
            if w.prerendered.get_untracked() && w.source.get_untracked() == Source::Colors && w.error.get_untracked().is_none() {
                w.response.set(Some(response));
            }
            set_timeout(move || show(), Duration::ZERO);
        },
        Duration::ZERO,
    );
}

/// Loads the index's head, then opens the widget (and the JS API) for searching.
fn load_index(w: Widget, base: String) {
    leptos::task::spawn_local(async move {
        w.status.set("Loading index…".into());
        match backend::load(w.id, &base).await {
            Ok(i) => {
                w.status.set(format!("Ready · index loaded in {:.0} ms", i.load_ms));
                w.info.set(Some(i.clone()));
                w.loaded.set(true);
                crate::api::resolve_ready(w.id, &i);
            }
            Err(e) => {
                w.status.set("The index could not be loaded.".into());
                w.error.set(Some(e.to_string()));
                crate::api::reject_ready(w.id, &e.to_string());
            }
        }
    });
}

/// Runs a search whenever the query changes: the first one (the index just loaded) at once, later
/// ones once the edit has rested `SEARCH_DEBOUNCE_MS`. Only the newest search may update the page
/// (answers can arrive out of order).
fn search_on_change(w: Widget, fixed: chromatica_core::filter::Filter) {
    let pending = StoredValue::new_local(None::<TimeoutHandle>);
    let latest = StoredValue::new(0u64);
    let searched = StoredValue::new(false);
    Effect::new(move |_| {
        let (rows_now, options, src, ready) = (w.rows.list.get(), w.options.get(), w.source.get(), w.loaded.get());
        for timer in [pending, w.pending_url] {
            if let Some(h) = timer.get_value() {
                h.clear();
            }
        }
        if let Source::InvalidLink(message) = &src {
            // Show why instead of (stale) results; drop answers still in flight.
            latest.set_value(latest.get_value() + 1);
            w.prerendered.set(false);
            w.response.set(None);
            w.error.set(Some(message.clone()));
            return;
        }
        if !ready {
            return;
        }
        let fixed = fixed.clone();
        let run = move || {
            let Some(request) = request_of(w, &src, &rows_now, options.clone(), &fixed) else { return };
            let ticket = latest.get_value() + 1;
            latest.set_value(ticket);
            let more = w.more.get_value();
            w.more.set_value(false);
            let request = match request {
                Ok(r) => r,
                Err(e) => return w.error.set(Some(e)),
            };
            // Only the shown search with a larger k appends (any other edit since starts afresh).
            let appending = more
                && w.shown.with_value(|s| {
                    s.as_ref()
                        .is_some_and(|s| s.source == request.source && SearchOptions { k: request.options.k, ..s.options.clone() } == request.options)
                });
            let searched = request.clone();
            leptos::task::spawn_local(async move {
                let result = backend::search(w.id, request).await;
                if latest.get_value() != ticket {
                    return;
                }
                match result {
                    Ok(r) => {
                        w.error.set(None);
                        w.prerendered.set(false);
                        let shown = if appending { w.response.get_untracked() } else { None };
                        w.shown.set_value(Some(searched));
                        w.response.set(Some(match shown {
                            Some(shown) => shown.followed_by(r),
                            None => r,
                        }));
                    }
                    Err(e) => w.error.set(Some(e.to_string())),
                }
            });
        };
        if searched.get_value() {
            pending.set_value(set_timeout_with_handle(run, Duration::from_millis(SEARCH_DEBOUNCE_MS)).ok());
        } else {
            searched.set_value(true);
            run();
        }
    });
}

/// The search `src` asks for (`None` for an invalid link), or why there is none. A color query
/// that is searched is also recorded in the URL (later, see history.rs), on the full page.
fn request_of(
    w: Widget,
    src: &Source,
    rows: &[ColorRow],
    mut options: SearchOptions,
    fixed: &chromatica_core::filter::Filter,
) -> Option<Result<SearchRequest, String>> {
    options.filter = options.filter.under(fixed);
    let source = match src {
        Source::Colors => state::state_of(rows, &options).map_err(|e| e.to_string()).map(|s| {
            if w.url_state {
                w.pending_url.set_value(history::push_later(s.to_fragment()));
            }
            search::Source::of_state(&s)
        }),
        Source::Similar(id, _) => Ok(search::Source::Similar { image: *id }),
        Source::Image(_) => w.image_histogram.get_value().map(|h| search::Source::histogram(&h)).ok_or_else(|| "no image chosen".to_string()),
        Source::InvalidLink(_) => return None,
    };
    Some(source.map(|source| SearchRequest { source, options }))
}

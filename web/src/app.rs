//! The search UI (Leptos, client-side rendered).

use crate::backend::{self, IndexInfo};
use crate::state::{self, ColorRow, K_CHOICES};
use crate::viz;
use chromatica_core::query::UrlState;
use chromatica_core::search::SearchResponse;
use leptos::prelude::*;
use std::time::Duration;

/// How a widget behaves: the full page keeps its state in the URL; an embedded widget does not.
#[derive(Clone, Debug)]
pub struct Options {
    pub widget: usize,
    pub base: String,
    pub url_state: bool,
    pub compact: bool,
}

/// What produced the results on screen.
#[derive(Clone, Debug, PartialEq)]
enum Source {
    Colors,
    Similar(u32, String),
    Image(String),
    /// The URL names an invalid query: the message is shown instead of results until the user
    /// edits the query or navigates to a valid one.
    InvalidLink(String),
}

#[component]
pub fn App(options: Options) -> impl IntoView {
    let Options { widget, base, url_state, compact } = options;
    let next_key = StoredValue::new(0u32);
    let initial = if url_state { current_fragment() } else { String::new() };
    let initial = state::parse_fragment(&initial)
        .or_else(|_| state::parse_fragment(state::DEFAULT_FRAGMENT))
        .expect("the default query is valid");
    let rows = RwSignal::new({
        let mut key = 0;
        let r = state::rows_of(&initial.query, &mut key);
        next_key.set_value(key);
        r
    });
    let k = RwSignal::new(initial.k);
    let source = RwSignal::new(match if url_state { initial_error() } else { None } {
        Some(message) => Source::InvalidLink(message),
        None => Source::Colors,
    });
    let response = RwSignal::new(None::<SearchResponse>);
    let error = RwSignal::new(None::<String>);
    let status = RwSignal::new("Loading index…".to_string());
    let info = RwSignal::new(None::<IndexInfo>);
    let loaded = RwSignal::new(false);
    let image_histogram = StoredValue::new_local(None::<chromatica_core::histogram::Histogram>);

    // Load the bundle.
    {
        let base = base.clone();
        leptos::task::spawn_local(async move {
            let progress = move |p: f64| status.set(format!("Loading index… {:.0}%", p * 100.0));
            match backend::load(widget, &base, &progress).await {
                Ok(i) => {
                    status.set(format!("Ready · index loaded in {:.0} ms", i.load_ms));
                    info.set(Some(i.clone()));
                    loaded.set(true);
                    crate::api::resolve_ready(widget, &i);
                }
                Err(e) => {
                    status.set("The index could not be loaded.".into());
                    error.set(Some(e.clone()));
                    crate::api::reject_ready(widget, &e);
                }
            }
        });
    }

    // Run a search whenever the query changes (debounced so slider drags stay smooth). The URL
    // follows after a longer pause, so dragging a slider adds one history entry, not fifty.
    let pending = StoredValue::new_local(None::<TimeoutHandle>);
    let pending_url = StoredValue::new_local(None::<TimeoutHandle>);
    let latest = StoredValue::new(0u64);
    let searched = StoredValue::new(false);
    Effect::new(move |_| {
        let (rows_now, k_now, src, ready) = (rows.get(), k.get(), source.get(), loaded.get());
        for timer in [pending, pending_url] {
            if let Some(h) = timer.get_value() {
                h.clear();
            }
        }
        if let Source::InvalidLink(message) = &src {
            // Show why instead of (stale) results; drop answers still in flight.
            latest.set_value(latest.get_value() + 1);
            response.set(None);
            error.set(Some(message.clone()));
            return;
        }
        if !ready {
            return;
        }
        let run = move || {
            let request = match &src {
                Source::Colors => state::query_of(&rows_now).map_err(|e| e.to_string()).map(|q| {
                    if url_state {
                        let fragment = UrlState { query: q.clone(), k: k_now }.to_fragment();
                        let push = move || push_fragment(&fragment);
                        pending_url.set_value(set_timeout_with_handle(push, Duration::from_millis(URL_DELAY_MS)).ok());
                    }
                    backend::Request::colors(&q, k_now)
                }),
                Source::Similar(id, _) => Ok(backend::Request::Similar { image: *id, k: k_now }),
                Source::Image(_) => {
                    image_histogram.get_value().map(|h| backend::Request::histogram(&h, k_now)).ok_or_else(|| "no image chosen".to_string())
                }
                Source::InvalidLink(_) => return,
            };
            // Only the newest search may update the page (answers can arrive out of order).
            let ticket = latest.get_value() + 1;
            latest.set_value(ticket);
            let request = match request {
                Ok(r) => r,
                Err(e) => return error.set(Some(e)),
            };
            leptos::task::spawn_local(async move {
                let result = backend::search(widget, request).await;
                if latest.get_value() != ticket {
                    return;
                }
                match result {
                    Ok(r) => {
                        error.set(None);
                        response.set(Some(r));
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        };
        // The first search (the index just loaded) runs at once; later ones wait out the edit.
        if searched.get_value() {
            pending.set_value(set_timeout_with_handle(run, Duration::from_millis(120)).ok());
        } else {
            searched.set_value(true);
            run();
        }
    });

    // Back/forward and edited URLs restore the query they name.
    if url_state {
        let apply = move || {
            if let Some(h) = pending_url.get_value() {
                h.clear();
            }
            let fragment = current_fragment();
            match state::parse_fragment(&fragment) {
                Ok(s) => {
                    let same = state::query_of(&rows.get_untracked()).ok().map(|q| UrlState { query: q, k: k.get_untracked() }.to_fragment());
                    if same.as_deref() != Some(s.to_fragment().as_str()) || source.get_untracked() != Source::Colors {
                        let mut key = next_key.get_value();
                        rows.set(state::rows_of(&s.query, &mut key));
                        next_key.set_value(key);
                        k.set(s.k);
                        source.set(Source::Colors);
                    }
                }
                Err(e) if !fragment.is_empty() => source.set(Source::InvalidLink(format!("The link's query is invalid: {e}"))),
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

    let add_color = move |_| {
        rows.update(|r| {
            if state::can_add(r) {
                let key = next_key.get_value() + 1;
                next_key.set_value(key);
                let palette = ["2E86AB", "A23B72", "F18F01", "3B1F2B", "44AF69"];
                r.push(ColorRow { key, hex: palette[r.len() % palette.len()].into(), weight: 30.0 });
            }
        });
        source.set(Source::Colors);
    };
    let set_row = move |key: u32, f: Box<dyn Fn(&mut ColorRow)>| {
        rows.update(|r| {
            if let Some(row) = r.iter_mut().find(|x| x.key == key) {
                f(row);
            }
        });
        source.set(Source::Colors);
    };
    let remove_row = move |key: u32| {
        rows.update(|r| {
            if r.len() > 1 {
                r.retain(|x| x.key != key);
            }
        });
        source.set(Source::Colors);
    };
    let similar = move |id: u32, path: String| source.set(Source::Similar(id, path));
    // Reordering rows: drag a row onto another, or Alt+↑/↓ from the keyboard.
    let dragged = RwSignal::new(None::<u32>);
    let move_row = move |key: u32, to: usize| {
        rows.update(|r| {
            if let Some(from) = r.iter().position(|x| x.key == key) {
                let row = r.remove(from);
                r.insert(to.min(r.len()), row);
            }
        });
        source.set(Source::Colors);
    };
    // Replaces the whole query (presets, random palettes, pasted lists).
    let set_colors = move |colors: Vec<(String, f64)>| {
        let mut key = next_key.get_value();
        rows.set(
            colors
                .into_iter()
                .take(chromatica_core::query::MAX_COLORS)
                .map(|(hex, w)| {
                    key += 1;
                    ColorRow { key, hex, weight: (w * 100.0).round().clamp(1.0, 100.0) }
                })
                .collect(),
        );
        next_key.set_value(key);
        source.set(Source::Colors);
    };
    let random_palette = move |_| {
        let n = 2 + (js_sys::Math::random() * 3.0) as usize;
        set_colors(
            (0..n)
                .map(|_| {
                    let c = (js_sys::Math::random() * 16_777_215.0) as u32;
                    (format!("{c:06X}"), 0.15 + js_sys::Math::random())
                })
                .collect(),
        );
    };
    let on_image = move |name: String, h: chromatica_core::histogram::Histogram| {
        let colors = chromatica_core::histogram::dominant_colors(&h, chromatica_core::query::MAX_COLORS);
        image_histogram.set_value(Some(h));
        if !colors.is_empty() {
            let mut key = next_key.get_value();
            rows.set(
                colors
                    .iter()
                    .map(|(c, w)| {
                        key += 1;
                        ColorRow { key, hex: chromatica_core::color::to_hex(*c), weight: (w * 100.0).round().clamp(1.0, 100.0) }
                    })
                    .collect(),
            );
            next_key.set_value(key);
        }
        source.set(Source::Image(name));
    };

    let percentages = Memo::new(move |_| state::percentages(&rows.get()));
    let viz_ref = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        let rs = rows.get();
        if let Some(canvas) = viz_ref.get() {
            viz::draw_query(&canvas, &rs);
        }
    });

    view! {
        <div class="chromatica" class:compact=compact>
            {(!compact).then(|| view! {
                <header class="topbar">
                    <div class="brand"><span class="logo" aria-hidden="true"></span><h1>"Chromatica"</h1></div>
                    <p class="tagline">"Search images by color — entirely in your browser."</p>
                </header>
            })}
            <main class="layout">
                <section class="panel query" aria-label="Color query">
                    <h2>"Colors"</h2>
                    <ul class="rows">
                        <For each=move || rows.get() key=|r| r.key children=move |row: ColorRow| {
                            let key = row.key;
                            // Rows are keyed by identity only and their inputs follow the query reactively, so an
                            // edit updates the existing elements in place: focus, an open color picker and a slider
                            // drag all survive every change.
                            let field = move |f: fn(&ColorRow) -> String| {
                                Memo::new(move |_| rows.with(|r| r.iter().find(|x| x.key == key).map(f).unwrap_or_default()))
                            };
                            let hex = field(|r| r.hex.clone());
                            let picker = field(|r| state::picker_value(&r.hex));
                            let weight = field(|r| r.weight.to_string());
                            let position = Memo::new(move |_| rows.with(|r| r.iter().position(|x| x.key == key)));
                            let pct = move || position.get().and_then(|i| percentages.get().get(i).copied()).unwrap_or(0.0);
                            let index = move || position.get().map(|i| i + 1).unwrap_or(0);
                            view! {
                                <li class="row" data-testid="color-row" class:drag-over=move || dragged.get().is_some_and(|d| d != key)
                                    on:dragover=move |ev: web_sys::DragEvent| ev.prevent_default()
                                    on:drop=move |ev: web_sys::DragEvent| {
                                        ev.prevent_default();
                                        if let (Some(d), Some(to)) = (dragged.get_untracked(), position.get_untracked()) { move_row(d, to); }
                                        dragged.set(None);
                                    }
                                    on:keydown=move |ev: web_sys::KeyboardEvent| {
                                        if !ev.alt_key() { return; }
                                        let Some(at) = position.get_untracked() else { return };
                                        let to = match ev.key().as_str() {
                                            "ArrowUp" if at > 0 => at - 1,
                                            "ArrowDown" => at + 1,
                                            _ => return,
                                        };
                                        ev.prevent_default();
                                        let focused = ev.target().and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(t).ok());
                                        move_row(key, to);
                                        // Moving the row's element blurs the control in it; hand the focus back.
                                        if let Some(el) = focused { request_animation_frame(move || { let _ = el.focus(); }); }
                                    }>
                                    <span class="grip" data-testid="drag-handle" draggable="true" aria-hidden="true" title="Drag to reorder (or Alt+↑/↓)"
                                        on:dragstart=move |ev: web_sys::DragEvent| {
                                            if let Some(dt) = ev.data_transfer() {
                                                let _ = dt.set_data("text/plain", &hex.get_untracked());
                                                dt.set_effect_allowed("move");
                                                // Show the whole row under the pointer, not just the handle.
                                                let li = ev.target().and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
                                                    .and_then(|e| e.closest("li").ok().flatten());
                                                if let Some(li) = li { dt.set_drag_image(&li, 8, 17); }
                                            }
                                            dragged.set(Some(key));
                                        }
                                        on:dragend=move |_| dragged.set(None)></span>
                                    <input type="color" data-testid="color-picker" prop:value=move || picker.get()
                                        aria-label=move || format!("Color {} picker", index())
                                        on:input=move |ev| { let v = event_target_value(&ev); set_row(key, Box::new(move |r| r.hex = v.trim_start_matches('#').to_uppercase())); } />
                                    <input type="text" class="hex" data-testid="hex" prop:value=move || hex.get() maxlength="7" spellcheck="false"
                                        autocomplete="off" aria-keyshortcuts="Alt+ArrowUp Alt+ArrowDown"
                                        title="Hex color; paste a list like “#E4572E, #F3A712 …” to set all colors"
                                        on:paste=move |ev: web_sys::ClipboardEvent| {
                                            let text = ev.clipboard_data().and_then(|d| d.get_data("text").ok()).unwrap_or_default();
                                            let found = hex_codes(&text);
                                            if found.len() > 1 {
                                                ev.prevent_default();
                                                let w = 1.0 / found.len() as f64;
                                                set_colors(found.into_iter().map(|h| (h, w)).collect());
                                            }
                                        }
                                        aria-label=move || format!("Color {} hex code", index())
                                        // A complete color searches as soon as it is typed; anything else waits for Enter or
                                        // leaving the field, so half-typed codes do not flash errors.
                                        on:input=move |ev| {
                                            let v = event_target_value(&ev).trim().to_string();
                                            if v.trim_start_matches('#').len() == 6 && chromatica_core::color::parse_hex(&v).is_some() {
                                                set_row(key, Box::new(move |r| r.hex = v.clone()));
                                            }
                                        }
                                        on:change=move |ev| { let v = event_target_value(&ev); set_row(key, Box::new(move |r| r.hex = v.trim().to_string())); } />
                                    <input type="range" class="weight" data-testid="weight" min="1" max="100" step="1" prop:value=move || weight.get()
                                        aria-label=move || format!("Color {} weight", index())
                                        aria-valuetext=move || format!("{:.0}% of the query", pct())
                                        on:input=move |ev| { let v: f64 = event_target_value(&ev).parse().unwrap_or(1.0); set_row(key, Box::new(move |r| r.weight = v)); } />
                                    <output class="pct" data-testid="weight-pct">{move || format!("{:.0}%", pct())}</output>
                                    <button class="icon remove" data-testid="remove-color" title="Remove color"
                                        aria-label=move || format!("Remove color {}", index())
                                        disabled=move || rows.get().len() <= 1
                                        on:click=move |_| remove_row(key)>"×"</button>
                                </li>
                            }
                        } />
                    </ul>
                    <div class="actions">
                        <button class="secondary" data-testid="add-color" on:click=add_color disabled=move || !state::can_add(&rows.get())>"+ Add color"</button>
                        <label class="k">"Results "
                            <select data-testid="k" aria-label="Number of results" on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse() { k.set(v); } }
                                prop:value=move || k.get().to_string()>
                                {K_CHOICES.iter().map(|n| view! { <option value=n.to_string() selected=move || k.get() == *n>{n.to_string()}</option> }).collect_view()}
                            </select>
                        </label>
                    </div>
                    <div class="presets" role="group" aria-label="Preset palettes">
                        {PRESETS.iter().map(|(name, colors)| view! {
                            <button class="chip" data-testid="preset" title=format!("{name} palette")
                                on:click=move |_| set_colors(colors.iter().map(|(h, w)| (h.to_string(), *w)).collect())>
                                <span class="chip-colors" aria-hidden="true">{colors.iter().map(|(h, w)| view! { <i style=format!("background:#{h};flex-grow:{w}")></i> }).collect_view()}</span>
                                {*name}
                            </button>
                        }).collect_view()}
                        <button class="chip" data-testid="random" on:click=random_palette title="A random palette">
                            <svg class="die" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
                                <rect x="1.5" y="1.5" width="13" height="13" rx="3.5" fill="none" stroke="currentColor" stroke-width="1.5"></rect>
                                <circle cx="5.3" cy="5.3" r="1.3" fill="currentColor"></circle>
                                <circle cx="8" cy="8" r="1.3" fill="currentColor"></circle>
                                <circle cx="10.7" cy="10.7" r="1.3" fill="currentColor"></circle>
                            </svg>
                            "Random"
                        </button>
                    </div>
                    <canvas class="viz" node_ref=viz_ref width="720" height="260" data-testid="query-viz" aria-label="Query visualisation: weighted color bar and palette wheel" role="img"></canvas>
                    <crate::image_picker::ImagePicker on_image=on_image />
                    <p class="error" data-testid="error" role="alert" hidden=move || error.get().is_none()>{move || error.get().unwrap_or_default()}</p>
                </section>
                <section class="panel results-panel" aria-label="Results">
                    <div class="meta">
                        <span data-testid="status" class="status">{move || status.get()}</span>
                        <span data-testid="source" class="source">{move || match source.get() {
                            Source::Colors => String::new(),
                            Source::Similar(_, p) => format!("More like “{p}”"),
                            Source::Image(n) => format!("Colors of “{n}”"),
                            Source::InvalidLink(_) => String::new(),
                        }}</span>
                        <span data-testid="timings" class="timings">{move || response.get().map(|r| {
                            let m = r.metadata;
                            format!("query {:.1} ms · ANN {:.1} ms · rerank {:.1} ms · total {:.1} ms", m.query_time_ms, m.ann_time_ms, m.rerank_time_ms, m.total_time_ms)
                        }).unwrap_or_default()}</span>
                        <span data-testid="index-info" class="index-info">{move || info.get().map(|i| {
                            let mode = match (i.worker, i.threads > 1) {
                                (true, true) => "search worker, wasm threads",
                                (true, false) => "search worker",
                                (false, _) => "page thread",
                            };
                            format!("{} images · bundle {} · {} thread{} ({mode})", i.images, human_bytes(i.bundle_bytes), i.threads,
                                if i.threads == 1 { "" } else { "s" })
                        }).unwrap_or_default()}</span>
                    </div>
                    <crate::collage::Collage response=response base=base.clone() />
                    <ol class="grid" data-testid="results">
                        <Show when=move || response.get().is_some_and(|r| r.results.is_empty())>
                            <li class="empty">"No images match."</li>
                        </Show>
                        <Show when=move || response.get().is_none() && error.get().is_some()>
                            <li class="empty">"No results for this query — fix the colors, or pick a preset."</li>
                        </Show>
                        <For each=move || response.get().map(|r| r.results).unwrap_or_default() key=|r| (r.id, r.rank, (r.distance * 1e6) as i64) children=move |item| {
                            let (id, path) = (item.id, item.path.clone());
                            let href = format!("{}{}", base, item.original);
                            let src = format!("{}{}", base, item.thumb);
                            view! {
                                <li class="card" data-testid="result">
                                    <a class="thumb" href=href target="_blank" rel="noopener" title=item.path.clone()>
                                        <img src=src alt=item.path.clone() loading="lazy" decoding="async" width="256" height="256" />
                                    </a>
                                    <div class="card-body">
                                        <div class="card-line">
                                            <span class="rank" data-testid="rank">{format!("#{}", item.rank)}</span>
                                            <span class="distance" data-testid="distance" title="Sinkhorn earth mover's distance in CIE Lab units">{format!("ΔE {:.1}", item.distance)}</span>
                                        </div>
                                        <div class="path" data-testid="path">{item.path.clone()}</div>
                                        <div class="swatches" aria-hidden="true">
                                            {item.palette.iter().map(|(hex, share)| view! {
                                                <span class="swatch" style=format!("background:#{hex};flex-grow:{:.3}", share)></span>
                                            }).collect_view()}
                                        </div>
                                        <button class="link" data-testid="more-like-this" on:click=move |_| similar(id, path.clone())>"More like this"</button>
                                    </div>
                                </li>
                            }
                        } />
                    </ol>
                </section>
            </main>
        </div>
    }
}

/// Preset palettes (hex, weight).
const PRESETS: &[(&str, &[(&str, f64)])] = &[
    ("Sunset", &[("E4572E", 0.6), ("F3A712", 0.4)]),
    ("Ocean", &[("0B3C5D", 0.5), ("328CC1", 0.3), ("D9E6F2", 0.2)]),
    ("Forest", &[("2D5016", 0.5), ("6B8F23", 0.3), ("A7C957", 0.2)]),
    ("Desert", &[("C2A878", 0.6), ("E3D5B8", 0.25), ("8B5E34", 0.15)]),
    ("Night", &[("0D1B2A", 0.7), ("415A77", 0.2), ("E0E1DD", 0.1)]),
];

/// Every `#RRGGBB` / `RRGGBB` token in pasted text, in order (at most 5).
fn hex_codes(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '#')
        .filter_map(chromatica_core::color::parse_hex)
        .map(chromatica_core::color::to_hex)
        .take(chromatica_core::query::MAX_COLORS)
        .collect()
}

fn human_bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.0} KB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn current_fragment() -> String {
    web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default().trim_start_matches('#').to_string()
}

/// The message for an invalid link the page was opened with.
fn initial_error() -> Option<String> {
    let f = current_fragment();
    if f.is_empty() {
        return None;
    }
    state::parse_fragment(&f).err().map(|e| format!("The link's query is invalid: {e}"))
}

/// How long the query must stay unchanged before it becomes a history entry (ms).
const URL_DELAY_MS: u64 = 400;

/// Records the query in the URL as a new history entry (so Back returns to the previous query).
/// A page opened without a query gets it in place, so Back leaves the site instead of landing
/// on the same page without a fragment.
fn push_fragment(fragment: &str) {
    let current = current_fragment();
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

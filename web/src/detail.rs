//! The detail view: one result, large (the original when the site has it), with its palette
//! (shares, hex codes, color names, ways to take it away), its size, and the ways on from it:
//! "More like this", "Search these colors", and the previous and next results (←/→, or the
//! buttons on a phone). A modal `<dialog>`: the page behind is inert, Tab stays inside, Esc
//! closes it, and the focus goes back to the result it was opened from. On the full page the open
//! result is in the URL (`&open=ID`), so Back closes it and a link can open it (history.rs).

use crate::app::Source;
use crate::color_row::Rows;
use crate::export::{swatches_of, PaletteExport};
use crate::viz::color_name;
use chromatica_core::color::parse_hex;
use chromatica_core::search::{ResultItem, SearchResponse};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// How the detail view changes which result is open: `Some(id)` to open (or move to) one, `None`
/// to close. The shell (app.rs) owns it, so it can keep the URL in step.
pub type Open = Callback<Option<u32>>;

#[component]
pub fn DetailView(
    /// Makes the element ids unique when several widgets share a page.
    widget: usize,
    opened: RwSignal<Option<u32>>,
    open: Open,
    response: RwSignal<Option<SearchResponse>>,
    source: RwSignal<Source>,
    rows: Rows,
    base: String,
) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    let base = StoredValue::new(base);
    let title_id = StoredValue::new(format!("detail-title-{widget}"));
    // Where the open result is among the results (none: closed). (Plain types for memos and
    // signals here: each new type costs the wasm its own copy of the reactive machinery.)
    let current = Memo::new(move |_| {
        let id = opened.get()?;
        response.with(|r| r.as_ref()?.results.iter().position(|x| x.id == id))
    });
    // The element that had the focus when the view opened, to give it back.
    let opener = StoredValue::new_local(None::<web_sys::HtmlElement>);
    Effect::new(move |_| {
        let Some(d) = dialog.get() else { return };
        match (current.with(Option::is_some), d.open()) {
            (true, false) => {
                // Inside an embedded widget's shadow root, the document only sees the host element.
                let root = d.get_root_node();
                let active = match root.dyn_ref::<web_sys::ShadowRoot>() {
                    Some(shadow) => shadow.active_element(),
                    None => d.owner_document().and_then(|doc| doc.active_element()),
                };
                let active = active.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
                opener.set_value(active);
                let _ = d.show_modal();
            }
            (false, true) => d.close(),
            _ => {}
        }
    });
    let on_close = move |_| {
        if opened.get_untracked().is_some() {
            open.run(None);
        }
        if let Some(el) = opener.get_value().filter(|el| el.is_connected()) {
            let _ = el.focus();
        }
    };
    let on_key = move |ev: web_sys::KeyboardEvent| {
        let Some(i) = current.get_untracked() else { return };
        let to = match ev.key().as_str() {
            "ArrowLeft" => i.checked_sub(1),
            "ArrowRight" => Some(i + 1),
            _ => return,
        };
        ev.prevent_default();
        if let Some(id) = to.and_then(|j| neighbour(response, j)) {
            open.run(Some(id));
        }
    };
    view! {
        <dialog class="detail" node_ref=dialog data-testid="detail" aria-labelledby=title_id.get_value() on:close=on_close on:keydown=on_key>
            {move || {
                let i = current.get()?;
                let item = response.with(|r| r.as_ref().and_then(|r| r.results.get(i).cloned()))?;
                let (prev, next) = (i.checked_sub(1).and_then(|j| neighbour(response, j)), neighbour(response, i + 1));
                let ranked = response.with(|r| r.as_ref().is_some_and(|r| r.query.mode != "filter"));
                Some(view! { <Detail item=item prev=prev next=next open=open source=source rows=rows base=base.get_value() title_id=title_id.get_value() ranked=ranked /> })
            }}
        </dialog>
    }
}

/// The id of the `i`th result.
fn neighbour(response: RwSignal<Option<SearchResponse>>, i: usize) -> Option<u32> {
    response.with_untracked(|r| r.as_ref()?.results.get(i).map(|x| x.id))
}

#[component]
fn Detail(
    item: ResultItem,
    prev: Option<u32>,
    next: Option<u32>,
    open: Open,
    source: RwSignal<Source>,
    rows: Rows,
    base: String,
    title_id: String,
    /// Ranked by distance (a filter alone lists images without one).
    ranked: bool,
) -> impl IntoView {
    let (id, path) = (item.id, item.path.clone());
    let palette = item.palette.clone();
    let swatches = swatches_of(&item.palette);
    let stem = path.rsplit('/').next().unwrap_or(&path).rsplit_once('.').map(|(s, _)| s.to_string()).unwrap_or_else(|| path.clone());
    let size = if item.width > 0 { format!(" · {} × {} px", item.width, item.height) } else { String::new() };
    view! {
        <div class="detail-body">
            <a class="detail-image" href=format!("{base}{}", item.original) target="_blank" rel="noopener" title="Open the original in a new tab">
                <img src=format!("{base}{}", item.original) alt=item.path.clone() data-testid="detail-image" />
            </a>
            <div class="detail-side">
                <div class="detail-nav">
                    <button class="icon" data-testid="detail-prev" aria-label="Previous result" disabled=prev.is_none() on:click=move |_| open.run(prev)>"←"</button>
                    <span class="rank" data-testid="detail-rank">{format!("#{}", item.rank)}</span>
                    <button class="icon" data-testid="detail-next" aria-label="Next result" disabled=next.is_none() on:click=move |_| open.run(next)>"→"</button>
                    <button class="icon detail-close" data-testid="detail-close" aria-label="Close" autofocus on:click=move |_| open.run(None)>"×"</button>
                </div>
                <h2 id=title_id class="detail-title" data-testid="detail-title">{if item.title.is_empty() { item.path.clone() } else { item.title.clone() }}</h2>
                {(!item.title.is_empty()).then(|| view! { <p class="muted detail-path" data-testid="detail-path">{item.path.clone()}</p> })}
                {(!item.caption.is_empty()).then(|| view! { <p class="detail-caption" data-testid="detail-caption">{item.caption.clone()}</p> })}
                {(!item.tags.is_empty()).then(|| view! {
                    <ul class="detail-tags" data-testid="detail-tags" aria-label="Tags">{item.tags.iter().map(|t| view! { <li class="chip">{t.clone()}</li> }).collect_view()}</ul>
                })}
                {(!item.date.is_empty() || !item.extra.is_empty()).then(|| view! {
                    <dl class="detail-fields" data-testid="detail-fields">
                        {(!item.date.is_empty()).then(|| view! { <dt>"Date"</dt><dd>{item.date.clone()}</dd> })}
                        {item.extra.iter().map(|(k, v)| view! { <dt>{k.clone()}</dt><dd>{v.clone()}</dd> }).collect_view()}
                    </dl>
                })}
                {(!item.url.is_empty()).then(|| view! { <a class="detail-link" data-testid="detail-link" href=crate::results::link(&base, &item.url) target="_blank" rel="noopener">"Open its page ↗"</a> })}
                <p class="muted">{if ranked { format!("ΔE {:.1} from the query{size}", item.distance) } else { size.trim_start_matches(" · ").to_string() }}</p>
                <ul class="detail-palette" data-testid="detail-palette">
                    {item.palette.iter().map(|(hex, share)| {
                        let name = parse_hex(hex).map(color_name).unwrap_or("");
                        view! {
                            <li>
                                <span class="swatch-chip" style=format!("background:#{hex}") aria-hidden="true"></span>
                                <span class="code">{format!("#{hex}")}</span>
                                <span class="muted">{name}</span>
                                <span class="pct">{format!("{:.0}%", share * 100.0)}</span>
                            </li>
                        }
                    }).collect_view()}
                </ul>
                <PaletteExport palette=std::rc::Rc::new(move || swatches.clone()) name=format!("{stem}-palette") />
                <div class="detail-actions">
                    <button class="secondary" data-testid="detail-similar" on:click=move |_| { open.run(None); source.set(Source::Similar(id, path.clone())); }>"More like this"</button>
                    <button class="secondary" data-testid="detail-search-colors" on:click=move |_| { open.run(None); rows.set_colors(palette.clone()); }>"Search these colors"</button>
                </div>
            </div>
        </div>
    }
}

//! The results side of a widget: the status line (index loading, what the results are of, timings,
//! the index and where it runs), the collage, and the grid of result cards. It only shows what the
//! shell's searches produced; "More like this" is its one way back into the query.

use crate::app::Source;
use crate::backend::IndexInfo;
use crate::collage::Collage;
use crate::detail::Open;
use crate::filters::FilterBar;
use chromatica_core::page::EAGER_THUMBS;
use chromatica_core::search::{Metadata, ResultItem, SearchResponse};
use chromatica_core::BackgroundMode;
use chromatica_core::SearchOptions;
use leptos::prelude::*;

/// Result cards are keyed by image, rank and distance, the distance to this many parts of a ΔE,
/// so a card is reused only when it would show the same thing.
const CARD_KEY_DISTANCE_SCALE: f64 = 1e6;

#[component]
pub fn ResultsPanel(
    status: RwSignal<String>,
    source: RwSignal<Source>,
    response: RwSignal<Option<SearchResponse>>,
    prerendered: RwSignal<bool>,
    info: RwSignal<Option<IndexInfo>>,
    error: RwSignal<Option<String>>,
    open: Open,
    /// "Show more", and whether there may be more.
    more: Callback<()>,
    can_more: Signal<bool>,
    base: String,
    /// The widget's options, whose filter the bar edits (`None`: no filter bar, as in embeds).
    filters: Option<RwSignal<SearchOptions>>,
) -> impl IntoView {
    let card_base = StoredValue::new(base.clone());
    view! {
        <section class="panel results-panel" aria-label="Results">
            <div class="meta">
                <span data-testid="status" class="status">{move || status.get()}</span>
                <span data-testid="source" class="source">{move || source_label(&source.get())}</span>
                <span data-testid="timings" class="timings">{move || response.get().filter(|_| !prerendered.get()).map(|r| timings_line(&r.metadata)).unwrap_or_default()}</span>
                <span data-testid="index-info" class="index-info">{move || info.get().map(|i| index_line(&i)).unwrap_or_default()}</span>
            </div>
            {filters.map(|options| view! { <FilterBar options=options response=response /> })}
            <Show when=move || response.get().is_some_and(|r| !r.warnings.is_empty())>
                <p class="warning" role="status" data-testid="warnings">
                    "Some of the index could not be loaded, so these results leave out part of the collection: "
                    {move || response.get().map(|r| r.warnings.join("; ")).unwrap_or_default()}
                </p>
            </Show>
            <Collage response=response base=base />
            <ol class="grid" data-testid="results">
                <Show when=move || response.get().is_some_and(|r| r.results.is_empty())>
                    <li class="empty">"No images match."</li>
                </Show>
                <Show when=move || response.get().is_none() && error.get().is_some()>
                    <li class="empty">"No results for this query — fix the colors, or pick a preset."</li>
                </Show>
                <For each=move || response.get().map(|r| { let ranked = r.query.mode != "filter"; r.results.into_iter().map(|x| (x, ranked)).collect::<Vec<_>>() }).unwrap_or_default()
                    key=|(r, ranked): &(ResultItem, bool)| (r.id, r.rank, (r.distance * CARD_KEY_DISTANCE_SCALE) as i64, *ranked)
                    children=move |(item, ranked)| view! { <ResultCard item=item base=card_base.get_value() source=source open=open ranked=ranked /> } />
            </ol>
            <Show when=move || can_more.get()>
                <div class="more"><button class="secondary" data-testid="show-more" on:click=move |_| more.run(())>"Show more"</button></div>
            </Show>
            // What screen readers hear after each search.
            <p class="sr-only" role="status" data-testid="announce">
                {move || response.get().map(|r| format!("{} result{}", r.results.len(), if r.results.len() == 1 { "" } else { "s" })).unwrap_or_default()}
            </p>
        </section>
    }
}

/// One result: thumbnail (opening the detail view; with a modifier key or the middle button, the
/// original in a new tab), rank, distance, path, the image's dominant colors, and "More like this".
#[component]
fn ResultCard(
    item: ResultItem,
    base: String,
    source: RwSignal<Source>,
    open: Open,
    /// Ranked by distance (a filter alone lists images without one).
    ranked: bool,
) -> impl IntoView {
    let (id, path) = (item.id, item.path.clone());
    // The page the collection links the image to, else its original.
    let href = if item.url.is_empty() { format!("{base}{}", item.original) } else { link(&base, &item.url) };
    let src = format!("{}{}", base, item.thumb);
    let title = (!item.title.is_empty()).then(|| item.title.clone());
    view! {
        <li class="card" data-testid="result">
            <a class="thumb" href=href target="_blank" rel="noopener" title=item.path.clone() data-testid="open-detail"
                on:click=move |ev: web_sys::MouseEvent| {
                    if !(ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key() || ev.button() != 0) {
                        ev.prevent_default();
                        open.run(Some(id));
                    }
                }>
                <img src=src alt=if item.title.is_empty() { item.path.clone() } else { item.title.clone() } loading=if item.rank <= EAGER_THUMBS { "eager" } else { "lazy" } decoding="async" width="256" height="256" />
            </a>
            <div class="card-body">
                <div class="card-line">
                    <span class="rank" data-testid="rank">{format!("#{}", item.rank)}</span>
                    {ranked.then(|| view! { <span class="distance" data-testid="distance" title="Sinkhorn earth mover's distance in CIE Lab units">{format!("ΔE {:.1}", item.distance)}</span> })}
                </div>
                {title.map(|t| view! { <div class="card-title" data-testid="title">{t}</div> })}
                <div class="path" data-testid="path">{item.path.clone()}</div>
                <div class="swatches" aria-hidden="true">
                    {item.palette.iter().map(|(hex, share)| view! {
                        <span class="swatch" style=format!("background:#{hex};flex-grow:{:.3}", share)></span>
                    }).collect_view()}
                </div>
                <button class="link" data-testid="more-like-this" on:click=move |_| source.set(Source::Similar(id, path.clone()))>"More like this"</button>
            </div>
        </li>
    }
}

/// A link of the collection's (`ResultItem::url`, checked by the index to be http(s) or
/// site-relative) as the page at `base` follows it: site-relative ones are relative to the site.
pub fn link(base: &str, url: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") || url.starts_with('/') {
        url.to_string()
    } else {
        format!("{base}{url}")
    }
}

/// What the results are of, when it is not simply the colors above.
fn source_label(source: &Source) -> String {
    match source {
        Source::Colors => String::new(),
        Source::Similar(_, p) => format!("More like “{p}”"),
        Source::Image(n) => format!("Colors of “{n}”"),
        Source::InvalidLink(_) => String::new(),
    }
}

fn timings_line(m: &Metadata) -> String {
    format!("query {:.1} ms · ANN {:.1} ms · rerank {:.1} ms · total {:.1} ms", m.query_time_ms, m.ann_time_ms, m.rerank_time_ms, m.total_time_ms)
}

/// Index size and where the engine runs, e.g. "172 images · 1 shard · 2 threads (search worker,
/// wasm threads)", and on `--background ignore` sites how many images lost theirs.
fn index_line(i: &IndexInfo) -> String {
    let mode = match (i.worker, i.threads > 1) {
        (true, true) => "search worker, wasm threads",
        (true, false) => "search worker",
        (false, _) => "page thread",
    };
    let backgrounds = match i.background {
        BackgroundMode::Keep => String::new(),
        BackgroundMode::Ignore => format!(" · plain backgrounds ignored ({} images)", i.backgrounds_removed),
    };
    format!(
        "{} images{backgrounds} · {} shard{} · {} thread{} ({mode})",
        i.images,
        i.shards,
        if i.shards == 1 { "" } else { "s" },
        i.threads,
        if i.threads == 1 { "" } else { "s" }
    )
}

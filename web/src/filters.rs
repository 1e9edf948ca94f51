//! The filter bar: words (titles, captions, tags, file and folder names), shape and dates, and
//! the folder and tag chips with the counts the last search gave them. It edits the widget's
//! `SearchOptions::filter` only; the shell searches on every change (app.rs). The chips are
//! core's `page::chips`, which the build's pre-render draws too.

use chromatica_core::filter::{fold_tag, Facet, Orientation, MAX_FILTER_TAGS};
use chromatica_core::page::{chips, Chip};
use chromatica_core::search::SearchResponse;
use chromatica_core::SearchOptions;
use leptos::prelude::*;

#[component]
pub fn FilterBar(options: RwSignal<SearchOptions>, response: RwSignal<Option<SearchResponse>>) -> impl IntoView {
    let filter = move || options.with(|o| o.filter.clone());
    let date = |d: String| if d.len() == 10 { d } else { String::new() };
    let all = Memo::new(move |_| response.with(|r| r.as_ref().map(|r| chips(&r.facets, &options.with(|o| o.filter.clone()))).unwrap_or_default()));
    let folder = move || options.with(|o| o.filter.folder.trim_matches('/').to_string());
    view! {
        <div class="filters" role="search" aria-label="Filter images">
            <input type="search" class="filter-text" data-testid="filter-text" placeholder="Filter by words: titles, tags, folders…" aria-label="Filter by words"
                prop:value=move || filter().text
                on:input=move |ev| { let v = event_target_value(&ev); options.update(|o| o.filter.text = v); } />
            <select class="filter-shape" data-testid="filter-orientation" aria-label="Shape"
                prop:value=move || filter().orientation.map(|o| o.as_str()).unwrap_or("").to_string()
                on:change=move |ev| { let v = event_target_value(&ev); options.update(|o| o.filter.orientation = Orientation::parse(&v)); }>
                <option value="">"Any shape"</option>
                <option value="landscape">"Landscape"</option>
                <option value="portrait">"Portrait"</option>
                <option value="square">"Square"</option>
            </select>
            <label class="filter-date">"From "<input type="date" data-testid="filter-from" aria-label="From date" prop:value=move || date(filter().from)
                on:change=move |ev| { let v = event_target_value(&ev); options.update(|o| o.filter.from = v); } /></label>
            <label class="filter-date">"To "<input type="date" data-testid="filter-to" aria-label="To date" prop:value=move || date(filter().to)
                on:change=move |ev| { let v = event_target_value(&ev); options.update(|o| o.filter.to = v); } /></label>
            <span class="matching" data-testid="matching">{move || response.with(|r| r.as_ref().and_then(|r| r.metadata.matching)).map(matching_line).unwrap_or_default()}</span>
        </div>
        <div class="facets" role="group" aria-label="Folders and tags" data-testid="facets" hidden=move || all.with(Vec::is_empty) && folder().is_empty()>
            <Show when=move || !folder().is_empty()>
                <button class="chip facet" data-testid="folder-up" aria-pressed="true" title="Leave this folder"
                    on:click=move |_| options.update(|o| o.filter.folder = parent(&o.filter.folder))>
                    {move || format!("In {}", folder())}<span aria-hidden="true">" ×"</span>
                </button>
            </Show>
            <For each=move || all.get() key=|c| (c.facet.clone(), c.count, c.pressed) children=move |chip: Chip| {
                let facet = chip.facet.clone();
                let title = match &chip.facet { Facet::Folder(f) => format!("Folder {}", f.trim_end_matches('/')), Facet::Tag(_) => format!("Tag {}", chip.label) };
                view! {
                    <button class="chip facet" data-testid="facet" data-kind=if matches!(chip.facet, Facet::Folder(_)) { "folder" } else { "tag" }
                        disabled=move || !chip.pressed && matches!(chip.facet, Facet::Tag(_)) && options.with(|o| o.filter.tags.len() >= MAX_FILTER_TAGS)
                        aria-pressed=if chip.pressed { "true" } else { "false" } title=title
                        on:click=move |_| choose(options, &facet)>
                        {if matches!(chip.facet, Facet::Folder(_)) { "▸ " } else { "#" }}{chip.label.clone()}
                        {chip.count.map(|n| view! { <span class="count">{n.to_string()}</span> })}
                    </button>
                }
            } />
        </div>
    }
}

/// "12 images match" (the images the filter passes, whichever are shown).
pub fn matching_line(n: usize) -> String {
    format!("{n} image{} match{}", if n == 1 { "" } else { "s" }, if n == 1 { "es" } else { "" })
}

/// A chip clicked: a folder is entered, a tag is added to or removed from the chosen ones.
fn choose(options: RwSignal<SearchOptions>, facet: &Facet) {
    match facet {
        Facet::Folder(f) => options.update(|o| o.filter.folder = f.trim_end_matches('/').to_string()),
        Facet::Tag(t) => options.update(|o| {
            let before = o.filter.tags.len();
            o.filter.tags.retain(|x| fold_tag(x) != *t);
            if o.filter.tags.len() == before {
                o.filter.tags.push(t.clone());
            }
        }),
    }
}

/// The folder above `folder` (`""` at the top).
fn parent(folder: &str) -> String {
    folder.trim_matches('/').rsplit_once('/').map(|(p, _)| p.to_string()).unwrap_or_default()
}

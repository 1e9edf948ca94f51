//! The filter bar: words (titles, captions, tags, file and folder names), shape and dates, and
//! the folder and tag chips with the counts the last search gave them. It edits the widget's
//! `SearchOptions::filter` only; the shell searches on every change (app.rs). The chips are
//! core's `page::chips`, which the build's pre-render draws too.

use chromatica_core::filter::{fold_tag, valid_date, Facet, Orientation, MAX_FILTER_TAGS};
use chromatica_core::page::{chips, Chip, DAY_PATTERN};
use chromatica_core::search::SearchResponse;
use chromatica_core::SearchOptions;
use leptos::prelude::*;

#[component]
pub fn FilterBar(options: RwSignal<SearchOptions>, response: RwSignal<Option<SearchResponse>>) -> impl IntoView {
    // Plain closures, one dynamic child per part (no memos, keyed lists or <Show>): each of those
    // is a type of its own in the wasm, and a bar of a few dozen buttons redraws in no time.
    let text = move || options.with(|o| o.filter.text.clone());
    let shape = move || options.with(|o| o.filter.orientation.map_or("", |o| o.as_str()).to_string());
    let day = move |from: bool| options.with(|o| if from { o.filter.from.clone() } else { o.filter.to.clone() });
    // A date is taken once it is one (2023, 2023-07 or 2023-07-14) or cleared; until then the
    // field shows itself invalid and the search stays as it was.
    let set_day = move |ev: leptos::ev::Event, from: bool| {
        let v = event_target_value(&ev).trim().to_string();
        if v.is_empty() || valid_date(&v) {
            options.update(|o| if from { o.filter.from = v } else { o.filter.to = v });
        }
    };
    let set = move |ev: leptos::ev::Event, field: fn(&mut SearchOptions, String)| {
        let v = event_target_value(&ev);
        options.update(|o| field(o, v));
    };
    let chips_view = move || {
        let (chips, folder) = options.with(|o| {
            (response.with(|r| r.as_ref().map(|r| chips(&r.facets, &o.filter)).unwrap_or_default()), o.filter.folder.trim_matches('/').to_string())
        });
        let full = options.with(|o| o.filter.tags.len() >= MAX_FILTER_TAGS);
        let hidden = chips.is_empty() && folder.is_empty();
        let up = (!folder.is_empty()).then(|| {
            view! {
                <button class="chip facet" data-testid="folder-up" aria-pressed="true" title="Leave this folder"
                    on:click=move |_| options.update(|o| o.filter.folder = parent(&o.filter.folder))>
                    {format!("In {folder}")}<span aria-hidden="true">" ×"</span>
                </button>
            }
        });
        let buttons = chips.into_iter().map(|chip| chip_button(options, chip, full)).collect_view();
        view! { <div class="facets" role="group" aria-label="Folders and tags" data-testid="facets" hidden=hidden>{up}{buttons}</div> }
    };
    view! {
        <div class="filters" role="search" aria-label="Filter images">
            <input type="search" class="filter-text" data-testid="filter-text" placeholder="Filter by words: titles, tags, folders…" aria-label="Filter by words"
                prop:value=text on:input=move |ev| set(ev, |o, v| o.filter.text = v) />
            <select class="filter-shape" data-testid="filter-orientation" aria-label="Shape" prop:value=shape
                on:change=move |ev| set(ev, |o, v| o.filter.orientation = Orientation::parse(&v))>
                <option value="">"Any shape"</option>
                <option value="landscape">"Landscape"</option>
                <option value="portrait">"Portrait"</option>
                <option value="square">"Square"</option>
            </select>
            <label class="filter-date">"From "<input type="text" class="filter-day" data-testid="filter-from" placeholder="YYYY-MM-DD"
                pattern=DAY_PATTERN maxlength="10" aria-label="From date: a year, a month (YYYY-MM) or a day" prop:value=move || day(true)
                on:input=move |ev| set_day(ev, true) /></label>
            <label class="filter-date">"To "<input type="text" class="filter-day" data-testid="filter-to" placeholder="YYYY-MM-DD"
                pattern=DAY_PATTERN maxlength="10" aria-label="To date: a year, a month (YYYY-MM) or a day" prop:value=move || day(false)
                on:input=move |ev| set_day(ev, false) /></label>
            <span class="matching" data-testid="matching">{move || response.with(|r| r.as_ref().and_then(|r| r.metadata.matching)).map(matching_line).unwrap_or_default()}</span>
        </div>
        {chips_view}
    }
}

/// One folder or tag chip (`full`: no more tags may be chosen).
fn chip_button(options: RwSignal<SearchOptions>, chip: Chip, full: bool) -> impl IntoView {
    let folder = matches!(chip.facet, Facet::Folder(_));
    let title = match &chip.facet {
        Facet::Folder(f) => format!("Folder {}", f.trim_end_matches('/')),
        Facet::Tag(_) => format!("Tag {}", chip.label),
    };
    let count = chip.count.map(|n| view! { <span class="count">{n.to_string()}</span> });
    let facet = chip.facet;
    view! {
        <button class="chip facet" data-testid="facet" data-kind=if folder { "folder" } else { "tag" } title=title
            aria-pressed=if chip.pressed { "true" } else { "false" } disabled=!chip.pressed && !folder && full
            on:click=move |_| choose(options, &facet)>
            {if folder { "▸ " } else { "#" }}{chip.label}{count}
        </button>
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

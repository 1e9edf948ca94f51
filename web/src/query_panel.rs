//! The query side of a widget: the color rows, the number of results, preset and random palettes,
//! the query visualisation, query by example image, and the line saying what is wrong with the
//! query. Everything here edits the query; the shell (app.rs) decides when to search.

use crate::backend::IndexInfo;
use crate::color_row::{ColorRowEditor, Rows};
use crate::export::PaletteExport;
use crate::image_picker::ImagePicker;
use crate::refine::{AnyColorRow, AvoidColors};
use crate::state::{self, ColorRow};
use crate::viz::QueryViz;
use chromatica_core::histogram::Histogram;
use chromatica_core::page::{self, PRESETS};
use chromatica_core::SearchOptions;
use leptos::prelude::*;

/// A random palette has `RANDOM_MIN_COLORS` up to `RANDOM_MIN_COLORS + RANDOM_EXTRA_COLORS - 1`
/// colors, each weighted `RANDOM_MIN_WEIGHT` plus up to 1 (before normalising).
const RANDOM_MIN_COLORS: usize = 2;
const RANDOM_EXTRA_COLORS: f64 = 3.0;
const RANDOM_MIN_WEIGHT: f64 = 0.15;
/// Random colors are drawn below this 24-bit value.
const RANDOM_COLOR_RANGE: f64 = 16_777_215.0;

#[component]
pub fn QueryPanel(
    rows: Rows,
    options: RwSignal<SearchOptions>,
    error: RwSignal<Option<String>>,
    on_image: impl Fn(String, Histogram) + Copy + 'static,
    // The index info: the image picker histograms example images with the site's background mode.
    info: RwSignal<Option<IndexInfo>>,
) -> impl IntoView {
    // With "any other color" on, the named colors share what it leaves.
    let percentages = Memo::new(move |_| {
        let named = 1.0 - options.with(|o| o.any);
        state::percentages(&rows.list.get()).into_iter().map(|p| p * named).collect::<Vec<_>>()
    });
    // The row being dragged (by key), for reordering by drag and drop.
    let dragged = RwSignal::new(None::<u32>);
    view! {
        <section class="panel query" aria-label="Color query">
            <h2>"Colors"</h2>
            <ul class="rows">
                <For each=move || rows.list.get() key=|r| r.key children=move |row: ColorRow| view! {
                    <ColorRowEditor row_key=row.key rows=rows percentages=percentages dragged=dragged />
                } />
            </ul>
            <p class="muted no-colors" data-testid="no-colors" hidden=move || !rows.list.with(Vec::is_empty)>
                "No colors: the filter's images, in the index's order. Add a color to rank them by it."
            </p>
            <AnyColorRow options=options />
            <div class="actions">
                <button class="secondary" data-testid="add-color" on:click=move |_| rows.add() disabled=move || !state::can_add(&rows.list.get())>"+ Add color"</button>
                <ResultCount options=options />
            </div>
            <AvoidColors options=options />
            <Palettes rows=rows />
            <QueryViz rows=rows.list options=options />
            <PaletteExport palette=std::rc::Rc::new(move || query_swatches(&rows.list.get_untracked())) name="chromatica-query".to_string() />
            <ImagePicker on_image=on_image info=info />
            <p class="error" data-testid="error" role="alert" hidden=move || error.get().is_none()>{move || error.get().unwrap_or_default()}</p>
        </section>
    }
}

/// The number of results. A link may name any valid k, not only one of `K_CHOICES`: the current
/// k is then offered too, in order, so the select shows it instead of going blank.
#[component]
fn ResultCount(options: RwSignal<SearchOptions>) -> impl IntoView {
    let k = move || options.with(|o| o.k);
    view! {
        <label class="k">"Results "
            <select data-testid="k" aria-label="Number of results" on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse() { options.update(|o| o.k = v); } }
                prop:value=move || k().to_string()>
                {move || page::k_choices(k()).into_iter().map(|n| view! { <option value=n.to_string() selected=move || k() == n>{n.to_string()}</option> }).collect_view()}
            </select>
        </label>
    }
}

/// The preset palettes and a random one, each replacing the whole query.
#[component]
fn Palettes(rows: Rows) -> impl IntoView {
    view! {
        <div class="presets" role="group" aria-label="Preset palettes">
            {PRESETS.iter().map(|(name, colors)| view! {
                <button class="chip" data-testid="preset" title=format!("{name} palette")
                    on:click=move |_| rows.set_colors(colors.iter().map(|(h, w)| (h.to_string(), *w)))>
                    <span class="chip-colors" aria-hidden="true">{colors.iter().map(|(h, w)| view! { <i style=format!("background:#{h};flex-grow:{w}")></i> }).collect_view()}</span>
                    {*name}
                </button>
            }).collect_view()}
            <button class="chip" data-testid="random" on:click=move |_| rows.set_colors(random_palette()) title="A random palette">
                <svg class="die" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
                    <rect x="1.5" y="1.5" width="13" height="13" rx="3.5" fill="none" stroke="currentColor" stroke-width="1.5"></rect>
                    <circle cx="5.3" cy="5.3" r="1.3" fill="currentColor"></circle>
                    <circle cx="8" cy="8" r="1.3" fill="currentColor"></circle>
                    <circle cx="10.7" cy="10.7" r="1.3" fill="currentColor"></circle>
                </svg>
                "Random"
            </button>
        </div>
    }
}

/// The query's colors as swatches, with their shares of the query.
fn query_swatches(rows: &[ColorRow]) -> Vec<chromatica_core::swatches::Swatch> {
    let shares = state::percentages(rows);
    let colors: Vec<(String, f64)> = rows.iter().zip(shares).map(|(r, p)| (r.hex.clone(), p / 100.0)).collect();
    crate::export::swatches_of(&colors)
}

/// A few random colors with random weights.
fn random_palette() -> Vec<(String, f64)> {
    let n = RANDOM_MIN_COLORS + (js_sys::Math::random() * RANDOM_EXTRA_COLORS) as usize;
    (0..n)
        .map(|_| {
            let c = (js_sys::Math::random() * RANDOM_COLOR_RANGE) as u32;
            (format!("{c:06X}"), RANDOM_MIN_WEIGHT + js_sys::Math::random())
        })
        .collect()
}

//! The query's two refinements beside its colors: "any other color" (a wildcard share: the named
//! colors need only match the rest of an image) and colors to avoid ("without" chips). Both are
//! per-query options (`SearchOptions::any`, `SearchOptions::exclude`), so they travel in the URL
//! (`any`, `not`) and reach the engine like every other option.

use chromatica_core::color::{parse_hex, to_hex};
use chromatica_core::query::{Excluded, DEFAULT_EXCLUDE_TOLERANCE, MAX_EXCLUDED};
use chromatica_core::SearchOptions;
use leptos::prelude::*;

/// The share "any other color" starts at when switched on.
const DEFAULT_ANY_PERCENT: f64 = 60.0;
/// The slider's range, in percent of the query.
const ANY_PERCENT_RANGE: (f64, f64) = (5.0, 99.0);

/// The wildcard row: a switch and the share it takes.
#[component]
pub fn AnyColorRow(options: RwSignal<SearchOptions>) -> impl IntoView {
    // Plain closures, not memos: each memo type costs the wasm more than recomputing these does.
    let percent = move || options.with(|o| (o.any * 100.0).round() as i64);
    let on = move || options.with(|o| o.any > 0.0);
    let set_percent = move |p: f64| options.update(|o| o.any = p.clamp(ANY_PERCENT_RANGE.0, ANY_PERCENT_RANGE.1).round() / 100.0);
    view! {
        <div class="any-row" data-testid="any-row">
            <label class="any-switch">
                <input type="checkbox" data-testid="any-toggle" prop:checked=on
                    on:change=move |ev| { if event_target_checked(&ev) { set_percent(DEFAULT_ANY_PERCENT) } else { options.update(|o| o.any = 0.0) } } />
                <span class="any-swatch" aria-hidden="true"></span>
                "Any other color"
            </label>
            <input type="range" data-testid="any-share" aria-label="Share of any other color" min=ANY_PERCENT_RANGE.0 max=ANY_PERCENT_RANGE.1 step="1"
                hidden=move || !on() prop:value=move || percent().to_string()
                on:input=move |ev| { if let Ok(p) = event_target_value(&ev).parse::<f64>() { set_percent(p) } } />
            <span class="pct" hidden=move || !on()>{move || format!("{}%", percent())}</span>
        </div>
    }
}

/// Colors to avoid: a chip per color (× removes it) and a picker to add one, up to three.
#[component]
pub fn AvoidColors(options: RwSignal<SearchOptions>) -> impl IntoView {
    let picked = RwSignal::new(chromatica_core::page::DEFAULT_AVOID.to_string());

    let add = move |_| {
        if let Some(color) = parse_hex(&picked.get_untracked()) {
            options.update(|o| {
                if o.exclude.len() < MAX_EXCLUDED && !o.exclude.iter().any(|e| e.color == color) {
                    o.exclude.push(Excluded { color, tolerance: DEFAULT_EXCLUDE_TOLERANCE });
                }
            });
        }
    };
    view! {
        <div class="avoid" role="group" aria-label="Colors to avoid" data-testid="avoid">
            <span class="avoid-label">"Without"</span>
            {move || options.with(|o| o.exclude.clone()).into_iter().map(|e| {
                let hex = to_hex(e.color);
                let remove = move |_| options.update(|o| o.exclude.retain(|x| x.color != e.color));
                view! {
                    <span class="chip avoid-chip" data-testid="avoid-chip">
                        <i class="avoid-swatch" style=format!("background:#{hex}") aria-hidden="true"></i>
                        {format!("#{hex}")}
                        <button class="icon" aria-label=format!("Stop avoiding #{hex}") on:click=remove>"×"</button>
                    </span>
                }
            }).collect_view()}
            <span class="avoid-add" hidden=move || options.with(|o| o.exclude.len() >= MAX_EXCLUDED)>
                <input type="color" data-testid="avoid-color" aria-label="A color to avoid" prop:value=move || picked.get()
                    on:input=move |ev| picked.set(event_target_value(&ev)) />
                <button class="secondary" data-testid="avoid-add" on:click=add>"Avoid"</button>
            </span>
        </div>
    }
}

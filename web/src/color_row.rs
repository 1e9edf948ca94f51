//! One row of the color editor (drag handle, color picker, hex field, weight slider), and `Rows`,
//! the handle through which every change to the rows goes, so rows are built one way only.
//!
//! Rows are keyed by identity only and their inputs follow the query reactively, so an edit
//! updates the existing elements in place: focus, an open color picker and a slider drag all
//! survive every change. Rows are reordered by dragging one onto another or with Alt+↑/↓, and a
//! list of hex codes pasted into any hex field replaces the whole query.

use crate::app::Source;
use crate::state::{self, ColorRow};
use chromatica_core::color::{parse_hex, to_hex};
use chromatica_core::query::MAX_COLORS;
use chromatica_core::Query;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// The weight slider's range: a row's weight in percent, before the query normalises them.
const MIN_WEIGHT: f64 = 1.0;
const MAX_WEIGHT: f64 = 100.0;
/// Colors given to added rows, in turn, and the share of the query an added row starts with.
const ADDED_COLORS: [&str; 5] = ["2E86AB", "A23B72", "F18F01", "3B1F2B", "44AF69"];
const ADDED_SHARE: f64 = 0.3;
/// Where the pointer holds a dragged row's image (px from its top left): on the handle.
const DRAG_IMAGE_OFFSET: (i32, i32) = (8, 17);

/// The one way an editor row is built: `share` (the color's fraction of the query) becomes the
/// slider weight in percent, clamped to the slider's range and not rounded. Rounding to whole
/// percents would change the query a link names (`weights=0.5051,0.4949` is the app's own link
/// for 50 % and 49 %), and the page would rewrite the link and trap Back on it.
pub fn color_row(key: u32, hex: String, share: f64) -> ColorRow {
    ColorRow { key, hex, weight: (share * 100.0).clamp(MIN_WEIGHT, MAX_WEIGHT) }
}

/// A query's colors as `(hex, share)` pairs, ready for [`Rows::replace`].
pub fn colors_of(query: Option<&Query>) -> Vec<(String, f64)> {
    query.map(|q| q.colors().iter().zip(q.weights()).map(|(c, w)| (to_hex(*c), *w)).collect()).unwrap_or_default()
}

/// The editor's rows and the operations on them. Every edit the user makes turns the rows back
/// into the query being searched (`Source::Colors`); new rows always get fresh keys.
#[derive(Clone, Copy)]
pub struct Rows {
    /// Read it freely; change it only through the methods below.
    pub list: RwSignal<Vec<ColorRow>>,
    next_key: StoredValue<u32>,
    source: RwSignal<Source>,
}

impl Rows {
    pub fn new(query: Option<&Query>, source: RwSignal<Source>) -> Self {
        let rows = Self { list: RwSignal::new(Vec::new()), next_key: StoredValue::new(0), source };
        rows.replace(colors_of(query));
        rows
    }

    /// Fresh rows for `(hex, share)` pairs, at most `MAX_COLORS`.
    fn build(self, colors: impl IntoIterator<Item = (String, f64)>) -> Vec<ColorRow> {
        let mut key = self.next_key.get_value();
        let rows = colors
            .into_iter()
            .take(MAX_COLORS)
            .map(|(hex, share)| {
                key += 1;
                color_row(key, hex, share)
            })
            .collect();
        self.next_key.set_value(key);
        rows
    }

    /// Replaces every row, leaving `Source` to the caller (a followed link, an example image).
    pub fn replace(self, colors: impl IntoIterator<Item = (String, f64)>) {
        self.list.set(self.build(colors));
    }

    /// Replaces the whole query (presets, random palettes, pasted lists).
    pub fn set_colors(self, colors: impl IntoIterator<Item = (String, f64)>) {
        self.replace(colors);
        self.source.set(Source::Colors);
    }

    /// Adds a row (the next of `ADDED_COLORS`) unless the query has `MAX_COLORS` already.
    pub fn add(self) {
        self.list.update(|r| {
            if state::can_add(r) {
                let key = self.next_key.get_value() + 1;
                self.next_key.set_value(key);
                r.push(color_row(key, ADDED_COLORS[r.len() % ADDED_COLORS.len()].into(), ADDED_SHARE));
            }
        });
        self.source.set(Source::Colors);
    }

    pub fn edit(self, key: u32, f: impl FnOnce(&mut ColorRow)) {
        self.list.update(|r| {
            if let Some(row) = r.iter_mut().find(|x| x.key == key) {
                f(row);
            }
        });
        self.source.set(Source::Colors);
    }

    /// Removes a row. Without rows the query has no colors: a filter alone then lists its images.
    pub fn remove(self, key: u32) {
        self.list.update(|r| r.retain(|x| x.key != key));
        self.source.set(Source::Colors);
    }

    /// Moves the row `key` to position `to` (clamped to the end).
    pub fn move_to(self, key: u32, to: usize) {
        self.list.update(|r| {
            if let Some(from) = r.iter().position(|x| x.key == key) {
                let row = r.remove(from);
                r.insert(to.min(r.len()), row);
            }
        });
        self.source.set(Source::Colors);
    }
}

/// The editor row of the color with key `row_key`; `dragged` is the key of the row being dragged.
#[component]
pub fn ColorRowEditor(row_key: u32, rows: Rows, percentages: Memo<Vec<f64>>, dragged: RwSignal<Option<u32>>) -> impl IntoView {
    let key = row_key;
    let field = move |f: fn(&ColorRow) -> String| Memo::new(move |_| rows.list.with(|r| r.iter().find(|x| x.key == key).map(f).unwrap_or_default()));
    let hex = field(|r| r.hex.clone());
    let picker = field(|r| state::picker_value(&r.hex));
    let weight = field(|r| r.weight.to_string());
    let position = Memo::new(move |_| rows.list.with(|r| r.iter().position(|x| x.key == key)));
    let pct = move || position.get().and_then(|i| percentages.get().get(i).copied()).unwrap_or(0.0);
    let index = move || position.get().map(|i| i + 1).unwrap_or(0);
    view! {
        <li class="row" data-testid="color-row" class:drag-over=move || dragged.get().is_some_and(|d| d != key)
            on:dragover=move |ev: web_sys::DragEvent| ev.prevent_default()
            on:drop=move |ev: web_sys::DragEvent| {
                ev.prevent_default();
                if let (Some(d), Some(to)) = (dragged.get_untracked(), position.get_untracked()) { rows.move_to(d, to); }
                dragged.set(None);
            }
            on:keydown=move |ev: web_sys::KeyboardEvent| move_by_keyboard(&ev, rows, key, position.get_untracked())>
            <span class="grip" data-testid="drag-handle" draggable="true" aria-hidden="true" title="Drag to reorder (or Alt+↑/↓)"
                on:dragstart=move |ev: web_sys::DragEvent| {
                    start_drag(&ev, &hex.get_untracked());
                    dragged.set(Some(key));
                }
                on:dragend=move |_| dragged.set(None)></span>
            <input type="color" data-testid="color-picker" prop:value=move || picker.get()
                aria-label=move || format!("Color {} picker", index())
                on:input=move |ev| { let v = event_target_value(&ev); rows.edit(key, move |r| r.hex = v.trim_start_matches('#').to_ascii_uppercase()); } />
            <input type="text" class="hex" data-testid="hex" prop:value=move || hex.get() maxlength="7" spellcheck="false"
                autocomplete="off" aria-keyshortcuts="Alt+ArrowUp Alt+ArrowDown"
                title="Hex color; paste a list like “#E4572E, #F3A712 …” to set all colors"
                on:paste=move |ev: web_sys::ClipboardEvent| paste_hex_list(&ev, rows)
                aria-label=move || format!("Color {} hex code", index())
                // A complete color searches as soon as it is typed; anything else waits for Enter or
                // leaving the field, so half-typed codes do not flash errors.
                on:input=move |ev| {
                    let v = event_target_value(&ev).trim().to_string();
                    if v.trim_start_matches('#').len() == 6 && parse_hex(&v).is_some() {
                        rows.edit(key, move |r| r.hex = v);
                    }
                }
                on:change=move |ev| { let v = event_target_value(&ev); rows.edit(key, move |r| r.hex = v.trim().to_string()); } />
            <input type="range" class="weight" data-testid="weight" min="1" max="100" step="1" prop:value=move || weight.get()
                aria-label=move || format!("Color {} weight", index())
                aria-valuetext=move || format!("{:.0}% of the query", pct())
                on:input=move |ev| { let v: f64 = event_target_value(&ev).parse().unwrap_or(MIN_WEIGHT); rows.edit(key, move |r| r.weight = v); } />
            <output class="pct" data-testid="weight-pct">{move || format!("{:.0}%", pct())}</output>
            <button class="icon remove" data-testid="remove-color" title="Remove color"
                aria-label=move || format!("Remove color {}", index())
                on:click=move |_| rows.remove(key)>"×"</button>
        </li>
    }
}

/// Alt+↑/↓ on a row moves it up or down (row `key`, now at position `at`), keeping the focus.
fn move_by_keyboard(ev: &web_sys::KeyboardEvent, rows: Rows, key: u32, at: Option<usize>) {
    if !ev.alt_key() {
        return;
    }
    let Some(at) = at else { return };
    let to = match ev.key().as_str() {
        "ArrowUp" if at > 0 => at - 1,
        "ArrowDown" => at + 1,
        _ => return,
    };
    ev.prevent_default();
    let focused = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok());
    rows.move_to(key, to);
    // Moving the row's element blurs the control in it; hand the focus back.
    if let Some(el) = focused {
        request_animation_frame(move || {
            let _ = el.focus();
        });
    }
}

/// Starts dragging a row by its handle, carrying its hex code.
fn start_drag(ev: &web_sys::DragEvent, hex: &str) {
    if let Some(dt) = ev.data_transfer() {
        let _ = dt.set_data("text/plain", hex);
        dt.set_effect_allowed("move");
        // Show the whole row under the pointer, not just the handle.
        let li = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()).and_then(|e| e.closest("li").ok().flatten());
        if let Some(li) = li {
            dt.set_drag_image(&li, DRAG_IMAGE_OFFSET.0, DRAG_IMAGE_OFFSET.1);
        }
    }
}

/// A pasted list of two or more hex codes becomes the whole query, in equal shares; anything else
/// is pasted as text.
fn paste_hex_list(ev: &web_sys::ClipboardEvent, rows: Rows) {
    let text = ev.clipboard_data().and_then(|d| d.get_data("text").ok()).unwrap_or_default();
    let found = hex_codes(&text);
    if found.len() > 1 {
        ev.prevent_default();
        let share = 1.0 / found.len() as f64;
        rows.set_colors(found.into_iter().map(|h| (h, share)));
    }
}

/// Every `#RRGGBB` / `RRGGBB` token in pasted text, in order (at most 5).
fn hex_codes(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '#').filter_map(parse_hex).map(to_hex).take(MAX_COLORS).collect()
}

//! The one canvas helper every drawing surface shares (the query visualisation, the collage, and
//! the image picker's browser-decoded pixels), so none of them depends on another.

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

/// The canvas's 2D context, if the browser gives one.
pub fn context(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas.get_context("2d").ok().flatten()?.dyn_into().ok()
}

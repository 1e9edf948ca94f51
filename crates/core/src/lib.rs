//! Chromatica's pure algorithms: no IO, no web, no panics on any input.
//!
//! One implementation of each definition (sRGB -> Lab, the 1152-bin histogram and its kernel, the
//! ANN vectors, the ground cost and Sinkhorn, the bundle format, the ranking), shared by the
//! `chromatica` CLI (native) and the browser app (wasm32). Every tuning knob, its owning constant
//! and its effect: docs/TUNING.md.

pub mod ann;
pub mod background;
pub mod bundle;
pub mod collage;
pub mod color;
pub mod emd;
pub mod filter;
pub mod histogram;
pub mod page;
pub mod query;
#[cfg(feature = "query-image")]
pub mod query_image;
pub mod resize;
pub mod search;
#[cfg(feature = "parallel")]
pub mod shard;
pub mod swatches;

pub use background::BackgroundMode;
pub use color::Rgb;
pub use histogram::{Histogram, SparseHistogram, BINS};

pub use query::{Query, QueryError, SearchOptions, UrlState};
pub use search::{SearchRequest, Source};

//! The `chromatica` CLI's file-handling parts, as a library so benches and tests can reach them.
pub mod budget;
pub mod decode;
pub mod embedded;
pub mod heif;

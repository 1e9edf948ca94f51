//! The bundle: one versioned, checksummed binary file with everything search needs.
//!
//! ```text
//! 0   magic "CHROMBDL"                      8 bytes
//! 8   format version (u32 LE)               currently 2
//! 12  section count (u32 LE)
//! 16  section table: per section kind u32, crc32 u32, offset u64, length u64 (24 bytes each)
//! ..  sections, each at an 8-byte aligned offset
//! ```
//! Sections: META (postcard: [`Params`] and per image [`ImageMeta`]), HIST_OFFSETS (u32 x n+1),
//! HIST_BINS (u16 x total), HIST_MASS (u16 x total, mass * 65535), PALETTES (n x 5 x [r,g,b,share]),
//! ANN_GRAPH (postcard of the HNSW), ANN_IDS (u32 x n). All integers little-endian.
//! Decoding checks every length, offset, id and checksum before it allocates for or indexes with them.
//!
//! Version 2 added two fields to META, for `chromatica build --background`:
//! - `Params::background`, the site's [`BackgroundMode`] (a postcard enum: 0 = keep, 1 = ignore;
//!   any other value is refused), which example images searched on the site follow too;
//! - `ImageMeta::background_removed` (postcard bool: 0 or 1, anything else refused): whether this
//!   image's histogram was made without its plain background. It is only ever set on `ignore`
//!   sites; a `keep` bundle with one set is refused as corrupt.
//!
//! Bundles of version 1 lack those fields and are refused with [`BundleError::Outdated`], which
//! tells the user to rebuild the site.

use crate::ann::{AnnError, AnnIndex};
use crate::background::BackgroundMode;
use crate::color::Rgb;
use crate::histogram::{Histogram, Masses, SparseView, BINS};
use serde::{Deserialize, Serialize};

pub const MAGIC: [u8; 8] = *b"CHROMBDL";
pub const FORMAT_VERSION: u32 = 2;
pub const PALETTE_SIZE: usize = 5;
const HEADER: usize = 16;
const ENTRY: usize = 24;
const MAX_SECTIONS: usize = 32;
/// Masses are stored as u16 fractions of this; smaller bins are dropped.
const MASS_SCALE: f64 = 65535.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
enum Kind {
    Meta = 1,
    HistOffsets = 2,
    HistBins = 3,
    HistMass = 4,
    Palettes = 5,
    AnnGraph = 6,
    AnnIds = 7,
}

const KINDS: [Kind; 7] = [Kind::Meta, Kind::HistOffsets, Kind::HistBins, Kind::HistMass, Kind::Palettes, Kind::AnnGraph, Kind::AnnIds];

/// Search parameters recorded at build time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub ef_construction: u32,
    pub ef_search: u32,
    pub m: u32,
    pub seed: u64,
    pub rerank_k: u32,
    pub ann_dims: u32,
    /// What the site does with plain backgrounds (`chromatica build --background`).
    pub background: BackgroundMode,
}

/// One indexed image. `stem` names its files in the site: `thumbs/{stem}.jpg`, `originals/{stem}.{ext}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageMeta {
    /// Path relative to the images folder, `/`-separated, for display (may hold any characters).
    pub path: String,
    pub stem: String,
    pub ext: String,
    pub width: u32,
    pub height: u32,
    /// Its histogram leaves out a plain background (only on sites with `BackgroundMode::Ignore`).
    pub background_removed: bool,
}

impl ImageMeta {
    pub fn thumb_url(&self) -> String {
        format!("thumbs/{}.jpg", self.stem)
    }

    pub fn original_url(&self) -> String {
        if self.ext.is_empty() {
            self.thumb_url()
        } else {
            format!("originals/{}.{}", self.stem, self.ext)
        }
    }

    /// Stems and extensions end up in URLs: only `[0-9a-z]` is accepted from a bundle.
    fn is_safe(&self) -> bool {
        let safe = |s: &str, max: usize| s.len() <= max && s.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase());
        !self.stem.is_empty() && safe(&self.stem, 64) && safe(&self.ext, 8)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Meta {
    params: Params,
    images: Vec<ImageMeta>,
}

/// A dominant color and its share of the image (0..=255, 0 = unused slot).
pub type PaletteEntry = (Rgb, u8);

/// What the builder hands to `encode`.
pub struct BundleInput<'a> {
    pub params: Params,
    pub images: Vec<ImageMeta>,
    pub histograms: &'a [Histogram],
    pub palettes: Vec<Vec<(Rgb, f64)>>,
    pub ann: &'a AnnIndex,
}

/// A decoded bundle, ready to search.
pub struct Bundle {
    pub params: Params,
    pub images: Vec<ImageMeta>,
    hist_offsets: Vec<u32>,
    hist_bins: Vec<u16>,
    /// Stored mass of each bin; image `i`'s masses are these over `hist_sums[i]`.
    hist_counts: Vec<u16>,
    hist_sums: Vec<f64>,
    palettes: Vec<[PaletteEntry; PALETTE_SIZE]>,
    pub ann: AnnIndex,
    pub byte_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("not a Chromatica bundle (bad magic bytes)")]
    NotABundle,
    #[error("this site was built by an older version of chromatica (bundle format version {0}; this one reads version {FORMAT_VERSION}): rebuild the site with this version (chromatica build IMAGES --out SITE)")]
    Outdated(u32),
    #[error(
        "bundle format version {0} is not supported (this app reads version {FORMAT_VERSION}): rebuild the site with this version of chromatica"
    )]
    UnsupportedVersion(u32),
    #[error("the bundle is truncated ({0})")]
    Truncated(&'static str),
    #[error("the bundle is corrupt: section {0} fails its checksum")]
    Checksum(u32),
    #[error("the bundle is corrupt: {0}")]
    Corrupt(String),
    #[error("the bundle is corrupt: {0}")]
    Ann(#[from] AnnError),
}

fn corrupt(what: impl Into<String>) -> BundleError {
    BundleError::Corrupt(what.into())
}

/// Quantises a histogram for storage: pruned (`Histogram::pruned`), u16 masses.
pub fn quantize(h: &Histogram) -> (Vec<u16>, Vec<u16>) {
    let (mut bins, mut mass) = (Vec::new(), Vec::new());
    let pruned = h.pruned();
    for (&bin, &m) in pruned.bins.iter().zip(&pruned.mass) {
        let q = (m * MASS_SCALE).round();
        if q >= 1.0 {
            bins.push(bin);
            mass.push(q.min(MASS_SCALE) as u16);
        }
    }
    (bins, mass)
}

pub fn encode(input: &BundleInput<'_>) -> Vec<u8> {
    let n = input.images.len();
    let meta = Meta { params: input.params.clone(), images: input.images.clone() };
    let mut offsets = vec![0u32];
    let (mut bins, mut mass) = (Vec::new(), Vec::new());
    for h in input.histograms {
        let (b, m) = quantize(h);
        bins.extend_from_slice(&b);
        mass.extend_from_slice(&m);
        offsets.push(bins.len() as u32);
    }
    let mut palettes = Vec::with_capacity(n * PALETTE_SIZE * 4);
    for i in 0..n {
        let colors = input.palettes.get(i).map(Vec::as_slice).unwrap_or(&[]);
        for slot in 0..PALETTE_SIZE {
            match colors.get(slot) {
                Some((rgb, share)) => {
                    palettes.extend_from_slice(rgb);
                    palettes.push((share * 255.0).round().clamp(1.0, 255.0) as u8);
                }
                None => palettes.extend_from_slice(&[0, 0, 0, 0]),
            }
        }
    }
    let (graph, ids) = input.ann.encode_graph();
    let le32 = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let le16 = |v: &[u16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let sections: Vec<(Kind, Vec<u8>)> = vec![
        (Kind::Meta, postcard::to_allocvec(&meta).unwrap_or_default()),
        (Kind::HistOffsets, le32(&offsets)),
        (Kind::HistBins, le16(&bins)),
        (Kind::HistMass, le16(&mass)),
        (Kind::Palettes, palettes),
        (Kind::AnnGraph, graph),
        (Kind::AnnIds, le32(ids)),
    ];

    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    let mut offset = align8(HEADER + ENTRY * sections.len());
    for (kind, bytes) in &sections {
        out.extend_from_slice(&(*kind as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
        out.extend_from_slice(&(offset as u64).to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        offset = align8(offset + bytes.len());
    }
    for (_, bytes) in &sections {
        out.resize(align8(out.len()), 0);
        out.extend_from_slice(bytes);
    }
    out
}

fn align8(x: usize) -> usize {
    x.div_ceil(8) * 8
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0xFF; 8]))
}

/// Reads just the header fields, for tools that report on a bundle without decoding it all.
pub fn peek_version(bytes: &[u8]) -> Result<u32, BundleError> {
    if bytes.len() < HEADER {
        return Err(if bytes.starts_with(&MAGIC[..bytes.len().min(8)]) { BundleError::Truncated("header") } else { BundleError::NotABundle });
    }
    if bytes[..8] != MAGIC {
        return Err(BundleError::NotABundle);
    }
    Ok(u32_at(bytes, 8))
}

/// The decoder behind [`Bundle::from_bytes`] and [`Bundle::from_bytes_with_min_search_width`].
fn decode_bundle(bytes: &[u8], min_search_width: usize) -> Result<Bundle, BundleError> {
    let version = peek_version(bytes)?;
    if (1..FORMAT_VERSION).contains(&version) {
        return Err(BundleError::Outdated(version));
    }
    if version != FORMAT_VERSION {
        return Err(BundleError::UnsupportedVersion(version));
    }
    let count = u32_at(bytes, 12) as usize;
    if count > MAX_SECTIONS {
        return Err(corrupt(format!("{count} sections")));
    }
    let table_end = HEADER + ENTRY * count;
    if bytes.len() < table_end {
        return Err(BundleError::Truncated("section table"));
    }
    let mut found: [Option<&[u8]>; KINDS.len()] = [None; KINDS.len()];
    let mut spans = Vec::with_capacity(count);
    for i in 0..count {
        let at = HEADER + ENTRY * i;
        let kind = u32_at(bytes, at);
        let crc = u32_at(bytes, at + 4);
        let (offset, len) = (u64_at(bytes, at + 8), u64_at(bytes, at + 16));
        let end = offset.checked_add(len).ok_or_else(|| corrupt("section length overflows"))?;
        if offset < table_end as u64 || end > bytes.len() as u64 {
            return Err(BundleError::Truncated("a section ends past the end of the file"));
        }
        spans.push((offset as usize, end as usize));
        let body = &bytes[offset as usize..end as usize];
        if crc32fast::hash(body) != crc {
            return Err(BundleError::Checksum(kind));
        }
        let slot = KINDS.iter().position(|k| *k as u32 == kind).ok_or_else(|| corrupt(format!("unknown section {kind}")))?;
        if found[slot].replace(body).is_some() {
            return Err(corrupt(format!("section {kind} appears twice")));
        }
    }
    // Sections must not overlap, and the padding between them must be zero: every byte of the
    // file is then either checksummed or known.
    spans.sort_unstable();
    let mut cursor = table_end;
    for &(start, end) in &spans {
        if start < cursor || bytes[cursor..start].iter().any(|&b| b != 0) || start - cursor >= 8 {
            return Err(corrupt("sections overlap or are separated by garbage"));
        }
        cursor = end;
    }
    if cursor != bytes.len() {
        return Err(corrupt("trailing bytes after the last section"));
    }
    let section = |k: Kind| found[k as usize - 1].ok_or_else(|| corrupt(format!("section {} is missing", k as u32)));

    let meta: Meta = postcard::from_bytes(section(Kind::Meta)?).map_err(|e| corrupt(format!("metadata: {e}")))?;
    let n = meta.images.len();
    if let Some(bad) = meta.images.iter().find(|m| !m.is_safe()) {
        return Err(corrupt(format!("image {:?} has an invalid file name", bad.path)));
    }
    if meta.params.background == BackgroundMode::Keep && meta.images.iter().any(|m| m.background_removed) {
        return Err(corrupt("an image has its background removed on a site that keeps backgrounds"));
    }
    // The graph first: its decode makes the largest transient copies, and memory they free is
    // reused by what follows (wasm memory never shrinks, so the peak is what a page keeps).
    let ids = le_u32s(section(Kind::AnnIds)?, n, "ANN ids")?;
    let ef = (meta.params.ef_search.max(meta.params.rerank_k) as usize).max(min_search_width).clamp(1, 100_000);
    let ann = AnnIndex::decode_graph(section(Kind::AnnGraph)?, ids, n, ef)?;
    let hist_offsets = le_u32s(section(Kind::HistOffsets)?, n + 1, "histogram offsets")?;
    let total = *hist_offsets.last().unwrap_or(&0) as usize;
    if hist_offsets.first() != Some(&0) || hist_offsets.windows(2).any(|w| w[0] > w[1]) {
        return Err(corrupt("histogram offsets are not ascending"));
    }
    let hist_bins = le_u16s(section(Kind::HistBins)?, total, "histogram bins")?;
    let hist_counts = le_u16s(section(Kind::HistMass)?, total, "histogram masses")?;
    let mut hist_sums = Vec::with_capacity(n);
    for (i, w) in hist_offsets.windows(2).enumerate() {
        let (start, end) = (w[0] as usize, w[1] as usize);
        let bins = &hist_bins[start..end];
        if bins.iter().any(|&b| b as usize >= BINS) || bins.windows(2).any(|p| p[0] >= p[1]) {
            return Err(corrupt(format!("histogram of image {i} has invalid bins")));
        }
        let sum: f64 = hist_counts[start..end].iter().map(|&q| q as f64).sum();
        if sum <= 0.0 {
            return Err(corrupt(format!("histogram of image {i} is empty")));
        }
        hist_sums.push(sum);
    }
    let raw_palettes = section(Kind::Palettes)?;
    if raw_palettes.len() != n * PALETTE_SIZE * 4 {
        return Err(corrupt("palettes have the wrong size"));
    }
    let palettes = raw_palettes
        .chunks_exact(PALETTE_SIZE * 4)
        .map(|p| std::array::from_fn(|s| ([p[s * 4], p[s * 4 + 1], p[s * 4 + 2]], p[s * 4 + 3])))
        .collect();
    Ok(Bundle { params: meta.params, images: meta.images, hist_offsets, hist_bins, hist_counts, hist_sums, palettes, ann, byte_len: bytes.len() })
}

fn le_u32s(bytes: &[u8], count: usize, what: &str) -> Result<Vec<u32>, BundleError> {
    if Some(bytes.len()) != count.checked_mul(4) {
        return Err(corrupt(format!("{what} have the wrong size")));
    }
    Ok(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

fn le_u16s(bytes: &[u8], count: usize, what: &str) -> Result<Vec<u16>, BundleError> {
    if Some(bytes.len()) != count.checked_mul(2) {
        return Err(corrupt(format!("{what} have the wrong size")));
    }
    Ok(bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
}

impl Bundle {
    /// Decodes and validates a bundle file (`bundle.bin`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BundleError> {
        decode_bundle(bytes, 0)
    }

    /// Like [`Bundle::from_bytes`], with an HNSW search width (the most candidates one search can
    /// return, so the largest `rerank_k` a query may ask for) of at least `min_search_width`; it is
    /// `max(ef_search, rerank_k)` of the build otherwise.
    pub fn from_bytes_with_min_search_width(bytes: &[u8], min_search_width: usize) -> Result<Self, BundleError> {
        decode_bundle(bytes, min_search_width)
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The stored histogram of image `id` (normalised to unit mass).
    pub fn histogram(&self, id: usize) -> Option<crate::histogram::SparseView<'_>> {
        let start = *self.hist_offsets.get(id)? as usize;
        let end = *self.hist_offsets.get(id + 1)? as usize;
        let mass = Masses::Quantized { counts: self.hist_counts.get(start..end)?, sum: *self.hist_sums.get(id)? };
        Some(SparseView { bins: self.hist_bins.get(start..end)?, mass })
    }

    pub fn dense_histogram(&self, id: usize) -> Option<Histogram> {
        self.histogram(id).map(Histogram::from_sparse)
    }

    /// Dominant colors of image `id` with their shares (0..1), largest first.
    pub fn palette(&self, id: usize) -> Vec<(Rgb, f64)> {
        self.palettes.get(id).map(|p| p.iter().filter(|(_, s)| *s > 0).map(|(c, s)| (*c, *s as f64 / 255.0)).collect()).unwrap_or_default()
    }

    /// How many images are histogrammed without their plain background.
    pub fn backgrounds_removed(&self) -> usize {
        self.images.iter().filter(|m| m.background_removed).count()
    }

    /// Stored bins over all images, for size reports.
    pub fn stored_bins(&self) -> usize {
        self.hist_bins.len()
    }
}

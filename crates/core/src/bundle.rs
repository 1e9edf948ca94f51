//! The index format (version 7): a small **head** and content-named **chunks**, each a static file,
//! so a visitor downloads only what their queries need and caches it forever.
//!
//! ```text
//! index/head.bin                 the head: build parameters, the shard table, each shard's centroid
//!                                and routes, the term table and the facets
//! index/<hh>/<hash>.bin          a chunk: a shard's vectors, its page table, a page of image records,
//!                                or a run of terms with their posting lists
//! index/head.js, index/<hh>/<hash>.js   the same bytes as classic scripts, for file:// pages
//! ```
//! A chunk's name is the xxh3-64 of its bytes (16 hex digits; `<hh>` is its first two), so an
//! unchanged chunk keeps its name across rebuilds and a changed one gets a new name: hosts and
//! browsers may cache chunks forever. The head refers to each chunk by a [`ChunkRef`] (name, length,
//! crc32) and a chunk is accepted only when its length and crc32 match.
//!
//! Every file is **stored gzip-compressed** (one RFC 1952 member, no name or time): static hosts
//! that do not compress (most object stores, `python3 -m http.server`, `file://`) then send a
//! page about 60% of its size and a shard a quarter, and hosts that do compress send the same. Lengths and
//! crc32s ([`ChunkRef`]) are of the bytes inside, which a reader inflates to at most that length
//! (the head: [`MAX_HEAD_BYTES`]) before decoding; a file that does not start with
//! [`GZIP_MAGIC`] is taken as plain (sites built before, or a host that already inflated it).
//! Inflating is the shells' job (the browser's `DecompressionStream`, flate2 natively): this
//! module decodes the inflated bytes.
//!
//! Every file, inflated, is one container:
//! ```text
//! 0   magic (8 bytes): "CHROMHED" head, "CHROMSHD" shard, "CHROMPGT" page table, "CHROMPAG" page,
//!     "CHROMTRM" terms
//! 8   format version (u32 LE)               currently 7
//! 12  section count (u32 LE)
//! 16  section table: per section kind u32, crc32 u32, offset u64, length u64 (24 bytes each)
//! ..  sections, each at an 8-byte aligned offset, zero padding between
//! ```
//! - **Head**: META (postcard: [`Params`], image count, page size, per shard its image count, vectors
//!   chunk and page table chunk), CENTROIDS (shards x [`ANN_DIMS`] bytes: the mean ANN vector of each
//!   shard, which a rebuild keeps images near), ROUTES (shards x [`ROUTE_CENTROIDS`] x 145 bytes:
//!   per shard, the mean vectors of a k-means of its images into [`ROUTE_CENTROIDS`] groups, each
//!   as its bytes' differences (mod 256) from the shard's centroid, then the smallest [`SelfCost`]
//!   in its group: what routing compares, [`Route`]), TERMS
//!   (postcard: per term chunk its first term and its ref, ascending) and FACETS (postcard: the most
//!   common folders and tags, [`FacetEntry`]).
//! - **Shard** (a k-means cluster of ANN vectors, about [`SHARD_IMAGES`] images): VECTORS (n x
//!   [`ANN_DIMS`]/2 bytes: 4 bits a dimension, `AnnVector::to_nibbles`), CDFS (n x [`CDF_BYTES`]:
//!   each image's mass cumulated along L, a and b in 4 bits, `AxisCdf::to_nibbles`), SELF_COSTS (n
//!   bytes: each image's Sinkhorn distance to itself, [`SelfCost`]), PAGES
//!   (postcard: its pages' chunk refs, the page table's content) and, only on a site of a single
//!   shard, ANN_GRAPH + ANN_IDS (the HNSW graph, postcard, and its point-to-image map).
//! - **Page table** (one per shard): META (postcard: its pages' chunk refs), the same refs as the
//!   shard's PAGES. A search that probes a shard reads them there (one request, not two: on an
//!   HTTP/1.1 host every request costs a round trip); a filtered search that reaches a few
//!   images' pages without their shards' vectors reads them here.
//! - **Page** ([`Params::page_images`] consecutive images of one shard; the last may be shorter):
//!   META (postcard: per image [`ImageMeta`]), HIST_OFFSETS (u32 x n+1), HIST_BINS (each
//!   histogram's ascending bins as gaps: a byte below 255, else 255 and a u16), HIST_MASS (u16 x
//!   total, mass * 65535), PALETTES (n x 5 x [r,g,b,share]), and TEXT (postcard: per image its
//!   [`ImageText`], the collection's title, caption, link, tags, date and other fields) when any
//!   image has some.
//! - **Terms** (a run of the sorted terms, about [`TERM_CHUNK_BYTES`]): META (postcard: per term
//!   its text and its posting list, the ascending global ids of the images that have it, as gaps
//!   from the id before). What a term is: filter.rs. A filter fetches the chunks of its terms only.
//!
//! Image ids are global: shards in head order, each shard's images in its page order. Finding
//! candidates needs the head and a few shards (≈75 B an image); reranking them needs only their
//! pages (≈260 B an image), which hold vector-near images together (search.rs, shard.rs).
//! Decoding checks every length, offset, id and checksum before it allocates for or indexes with
//! them. Version 2 and older sites (one `bundle.bin`) are refused with [`BundleError::Outdated`].

use crate::ann::{AnnError, AnnIndex, AnnVector, AxisCdf, Cue, SelfCost, ANN_DIMS, CDF_BYTES};
use crate::background::BackgroundMode;
use crate::color::Rgb;
use crate::histogram::{Histogram, Masses, SparseView, BINS};
use serde::{Deserialize, Serialize};

pub const FORMAT_VERSION: u32 = 7;
pub const HEAD_MAGIC: [u8; 8] = *b"CHROMHED";
pub const SHARD_MAGIC: [u8; 8] = *b"CHROMSHD";
pub const PAGE_MAGIC: [u8; 8] = *b"CHROMPAG";
pub const PAGE_TABLE_MAGIC: [u8; 8] = *b"CHROMPGT";
pub const TERMS_MAGIC: [u8; 8] = *b"CHROMTRM";
/// Posting bytes a term chunk holds, about (a term is never split, so one may hold more).
pub const TERM_CHUNK_BYTES: usize = 16 << 10;
/// Folders, and tags, the head lists as facets (the most common of each).
pub const FACETS: usize = 256;
/// The longest facet label (a folder's path) a head lists; longer folders are no chips.
pub const MAX_FACET_LABEL: usize = 1024;
/// The head's path in a site.
pub const HEAD_FILE: &str = "index/head.bin";
/// The head as a classic script, for `file://` pages where `fetch` is refused.
pub const HEAD_SCRIPT: &str = "index/head.js";
/// The most bytes a head may have (a million images' head is about 500 KB).
pub const MAX_HEAD_BYTES: usize = 64 << 20;
/// The first two bytes of a gzip member: how a reader tells a stored (compressed) index file
/// from a plain one (every container starts with "CHROM").
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The file of a version 2 site: its presence means "rebuild".
pub const LEGACY_BUNDLE_FILE: &str = "bundle.bin";
pub const PALETTE_SIZE: usize = 5;
/// Images a shard holds, about (k-means clusters; shard.rs splits larger ones).
pub const SHARD_IMAGES: usize = 1024;
/// Images a page of records holds.
pub const PAGE_IMAGES: usize = 16;
/// A query scans the shards nearest to it until it has seen this many images (docs/TUNING.md).
pub const PROBE_IMAGES: usize = 10_240;
/// Routes a head holds per shard (a shard of fewer images repeats its last; docs/TUNING.md).
pub const ROUTE_CENTROIDS: usize = 4;
const HEADER: usize = 16;
const ENTRY: usize = 24;
const MAX_SECTIONS: usize = 8;
/// Masses are stored as u16 fractions of this; smaller bins are dropped.
const MASS_SCALE: f64 = 65535.0;
/// The most images and shards a head may declare (a bound on what a decoder allocates).
const MAX_IMAGES: usize = 1 << 26;

const META: u32 = 1;
const CENTROIDS: u32 = 2;
const VECTORS: u32 = 3;
const ANN_GRAPH: u32 = 4;
const ANN_IDS: u32 = 5;
const HIST_OFFSETS: u32 = 6;
const HIST_BINS: u32 = 7;
const HIST_MASS: u32 = 8;
const PALETTES: u32 = 9;
const TEXT: u32 = 10;
const TERMS: u32 = 11;
const FACET_LIST: u32 = 12;
const CDFS: u32 = 13;
const PAGES: u32 = 14;
const ROUTES: u32 = 15;
const SELF_COSTS: u32 = 16;
/// Section kinds are 1..=KINDS.
const KINDS: usize = 16;
/// Bytes of one [`Route`] in ROUTES.
const ROUTE_BYTES: usize = ANN_DIMS + 1;

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
    /// Images a query's routing scans before it stops adding shards ([`PROBE_IMAGES`]).
    pub probe_images: u32,
    /// Images per page ([`PAGE_IMAGES`]).
    pub page_images: u32,
}

impl Params {
    /// The defaults of `chromatica build`, with its `--rerank-k` and `--background`.
    pub fn new(rerank_k: usize, background: BackgroundMode) -> Self {
        Self {
            ef_construction: crate::ann::EF_CONSTRUCTION as u32,
            ef_search: crate::ann::EF_SEARCH.max(rerank_k) as u32,
            m: crate::ann::M as u32,
            seed: crate::ann::HNSW_SEED,
            rerank_k: rerank_k as u32,
            ann_dims: ANN_DIMS as u32,
            background,
            probe_images: PROBE_IMAGES as u32,
            page_images: PAGE_IMAGES as u32,
        }
    }
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

/// A thumbnail's path in the site: `thumbs/<first two characters of the stem>/<stem>.jpg` (so
/// that no folder holds a million files).
pub fn thumb_path(stem: &str) -> String {
    format!("thumbs/{}/{stem}.jpg", stem.get(..2).unwrap_or(stem))
}

/// An original's path in the site, fanned out like [`thumb_path`].
pub fn original_path(stem: &str, ext: &str) -> String {
    format!("originals/{}/{stem}.{ext}", stem.get(..2).unwrap_or(stem))
}

impl ImageMeta {
    pub fn thumb_url(&self) -> String {
        thumb_path(&self.stem)
    }

    pub fn original_url(&self) -> String {
        if self.ext.is_empty() {
            self.thumb_url()
        } else {
            original_path(&self.stem, &self.ext)
        }
    }

    /// Stems and extensions end up in URLs: only `[0-9a-z]` is accepted from an index.
    fn is_safe(&self) -> bool {
        let safe = |s: &str, max: usize| s.len() <= max && s.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase());
        !self.stem.is_empty() && safe(&self.stem, 64) && safe(&self.ext, 8)
    }
}

/// What the collection says about an image (`chromatica build --metadata`): untrusted text, only
/// ever shown as text; `url` is the page a result opens (http(s) or site-relative, [`safe_url`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageText {
    pub title: String,
    pub caption: String,
    pub url: String,
    pub tags: Vec<String>,
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (the sidecar's, else the file's own: XMP or EXIF), or empty.
    pub date: String,
    /// Other fields, by name (shown, and their words searched): the sidecar's other columns, and
    /// the camera from EXIF.
    pub extra: Vec<(String, String)>,
}

/// Longest title, caption, URL and tag (bytes), and most tags, an index accepts.
pub const MAX_TITLE: usize = 400;
pub const MAX_CAPTION: usize = 2000;
pub const MAX_URL: usize = 2000;
pub const MAX_TAG: usize = 100;
pub const MAX_TAGS: usize = 30;
/// Most other fields per image, and the longest name of one.
pub const MAX_EXTRA: usize = 16;
pub const MAX_FIELD_NAME: usize = 64;

impl ImageText {
    /// What the term index knows of the image with this text and `meta` (filter.rs `terms_of`).
    pub fn facts<'a>(&'a self, meta: &'a ImageMeta) -> crate::filter::ImageFacts<'a> {
        crate::filter::ImageFacts {
            path: &meta.path,
            title: &self.title,
            caption: &self.caption,
            tags: &self.tags,
            extra: &self.extra,
            date: &self.date,
            width: meta.width,
            height: meta.height,
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    fn is_safe(&self) -> bool {
        self.title.len() <= MAX_TITLE
            && self.caption.len() <= MAX_CAPTION
            && self.url.len() <= MAX_URL
            && (self.url.is_empty() || safe_url(&self.url))
            && self.tags.len() <= MAX_TAGS
            && self.tags.iter().all(|t| t.len() <= MAX_TAG)
            && (self.date.is_empty() || crate::filter::valid_date(&self.date))
            && self.extra.len() <= MAX_EXTRA
            && self.extra.iter().all(|(k, v)| k.len() <= MAX_FIELD_NAME && v.len() <= MAX_CAPTION)
    }
}

/// Whether a link may be followed: `http://` or `https://`, or site-relative (no scheme: no `:`
/// before the first `/`, `?` or `#`, and not `//host`). `javascript:` and `data:` never pass.
pub fn safe_url(url: &str) -> bool {
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return false;
    }
    let lower = url.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) {
        return !rest.is_empty();
    }
    let head = url.split(['/', '?', '#']).next().unwrap_or("");
    !url.is_empty() && !head.contains(':') && !url.starts_with("//") && !url.starts_with("\\")
}

/// A dominant color and its share of the image (0..=255, 0 = unused slot).
pub type PaletteEntry = (Rgb, u8);

/// Where a chunk is and how to know it: its name (xxh3-64 of its bytes), length and crc32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChunkRef {
    pub name: u64,
    pub len: u32,
    pub crc: u32,
}

impl ChunkRef {
    /// Of these bytes, named by their xxh3-64 (builds only: the browser never names chunks).
    #[cfg(feature = "parallel")]
    pub fn of(bytes: &[u8]) -> Self {
        Self::named(xxhash_rust::xxh3::xxh3_64(bytes), bytes)
    }

    /// Of these bytes, with a name of the caller's choosing (tests, fuzzing).
    pub fn named(name: u64, bytes: &[u8]) -> Self {
        Self { name, len: bytes.len() as u32, crc: crc32fast::hash(bytes) }
    }

    /// Its path in the site, e.g. `index/3f/3f0a…e1.bin`.
    pub fn path(&self) -> String {
        format!("index/{:02x}/{:016x}.bin", self.name >> 56, self.name)
    }

    /// The same bytes as a classic script (`file://`).
    pub fn script_path(&self) -> String {
        format!("index/{:02x}/{:016x}.js", self.name >> 56, self.name)
    }

    /// Whether `bytes` are this chunk.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        bytes.len() == self.len as usize && crc32fast::hash(bytes) == self.crc
    }
}

/// One shard in the head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardEntry {
    pub images: u32,
    pub vectors: ChunkRef,
    /// Its page table.
    pub pages: ChunkRef,
}

/// One term chunk in the head: the first term it holds (terms are ascending across chunks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermChunkEntry {
    pub first: String,
    pub chunk: ChunkRef,
}

/// A folder or tag a page may offer as a chip, with how many images have it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetEntry {
    /// Its term (filter.rs): `\u{1}f` + folder, or `\u{1}t` + folded tag.
    pub term: String,
    /// As the collection writes it (a tag's first spelling; a folder's path).
    pub label: String,
    pub images: u32,
}

#[derive(Serialize, Deserialize)]
struct HeadMeta {
    params: Params,
    images: u32,
    /// Images histogrammed without their plain background.
    backgrounds_removed: u32,
    shards: Vec<ShardEntry>,
}

/// The decoded head: everything a query needs before it knows which shards to fetch.
#[derive(Clone, Debug)]
pub struct Head {
    pub params: Params,
    pub images: usize,
    pub shards: Vec<ShardEntry>,
    /// The mean ANN vector of each shard's images (the layout's; a rebuild keeps images there).
    pub centroids: Vec<AnnVector>,
    /// [`ROUTE_CENTROIDS`] per shard, shard by shard: what routing compares ([`Head::routes`]).
    pub routes: Vec<Route>,
    /// The global id of each shard's first image (ascending; one more entry: the image count).
    pub first_ids: Vec<u32>,
    /// Images histogrammed without their plain background.
    pub backgrounds_removed: usize,
    /// The term chunks, by first term (ascending).
    pub terms: Vec<TermChunkEntry>,
    pub facets: Vec<FacetEntry>,
    pub byte_len: usize,
}

/// One group of a shard's images, as routing sees it: the group's mean ANN vector, and the smallest
/// [`SelfCost`] among its images. Routing measures it as `candidate_distance` measures an image (a
/// heuristic, not a bound: a member's vector may be nearer to the query than the mean).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub centroid: AnnVector,
    pub self_cost: SelfCost,
}

impl Route {
    /// How near the group's images may be to the query `(v, cue)`: as
    /// [`crate::ann::candidate_distance`] measures an image, with the group's mean vector and
    /// smallest self cost (and no axis cumulatives).
    pub fn distance(&self, v: &AnnVector, cue: Cue<'_>) -> u32 {
        crate::ann::candidate_distance(v, cue, &self.centroid, None, self.self_cost)
    }
}

/// A decoded shard: the vectors, axis cumulatives and self costs of its images, where its pages
/// are, and maybe an HNSW graph.
pub struct Shard {
    pub vectors: Vec<AnnVector>,
    pub cdfs: Vec<AxisCdf>,
    pub self_costs: Vec<SelfCost>,
    /// Its page table.
    pub pages: Vec<ChunkRef>,
    pub ann: Option<AnnIndex>,
}

/// A run of terms and their posting lists (ascending global ids).
pub struct TermChunk {
    pub terms: Vec<String>,
    pub postings: Vec<Vec<u32>>,
}

/// A decoded page: the records (name, histogram, palette) of a run of one shard's images.
pub struct Page {
    pub images: Vec<ImageMeta>,
    /// One per image, or none at all (no image has any).
    texts: Vec<ImageText>,
    hist_offsets: Vec<u32>,
    hist_bins: Vec<u16>,
    /// Stored mass of each bin; image `i`'s masses are these over `hist_sums[i]`.
    hist_counts: Vec<u16>,
    hist_sums: Vec<f64>,
    palettes: Vec<[PaletteEntry; PALETTE_SIZE]>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("not a Chromatica index file (bad magic bytes)")]
    NotAnIndex,
    #[error("this site was built by an older version of chromatica (index format version {0}; this one reads version {FORMAT_VERSION}): rebuild the site with this version (chromatica build IMAGES --out SITE)")]
    Outdated(u32),
    #[error("index format version {0} is not supported (this app reads version {FORMAT_VERSION}): rebuild the site with this version of chromatica")]
    UnsupportedVersion(u32),
    #[error("the index file is truncated ({0})")]
    Truncated(&'static str),
    #[error("the index file is corrupt: section {0} fails its checksum")]
    Checksum(u32),
    #[error("the index file is corrupt: {0}")]
    Corrupt(String),
    #[error("the index file is corrupt: {0}")]
    Ann(#[from] AnnError),
}

fn corrupt(what: impl Into<String>) -> BundleError {
    BundleError::Corrupt(what.into())
}

/// A histogram as an index stores it: pruned (`Histogram::pruned`), u16 masses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredHistogram {
    pub bins: Vec<u16>,
    pub counts: Vec<u16>,
}

impl StoredHistogram {
    pub fn of(h: &Histogram) -> Self {
        let mut out = Self::default();
        let pruned = h.pruned();
        for (&bin, &m) in pruned.bins.iter().zip(&pruned.mass) {
            let q = (m * MASS_SCALE).round();
            if q >= 1.0 {
                out.bins.push(bin);
                out.counts.push(q.min(MASS_SCALE) as u16);
            }
        }
        out
    }

    pub fn view(&self) -> SparseView<'_> {
        let sum = self.counts.iter().map(|&c| c as f64).sum::<f64>().max(1.0);
        SparseView { bins: &self.bins, mass: Masses::Quantized { counts: &self.counts, sum } }
    }
}

/// Quantises a palette (colors with shares 0..1, largest first) for storage.
pub fn stored_palette(colors: &[(Rgb, f64)]) -> [PaletteEntry; PALETTE_SIZE] {
    std::array::from_fn(|slot| match colors.get(slot) {
        Some((rgb, share)) => (*rgb, (share * 255.0).round().clamp(1.0, 255.0) as u8),
        None => ([0, 0, 0], 0),
    })
}

// ---------------------------------------------------------------------------------------------
// Encoding

fn container(magic: [u8; 8], sections: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&magic);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    let mut offset = align8(HEADER + ENTRY * sections.len());
    for (kind, bytes) in sections {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
        out.extend_from_slice(&(offset as u64).to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        offset = align8(offset + bytes.len());
    }
    for (_, bytes) in sections {
        out.resize(align8(out.len()), 0);
        out.extend_from_slice(bytes);
    }
    out
}

fn postcard_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain data into a Vec cannot fail.
    postcard::to_allocvec(value).unwrap_or_default()
}

fn le32(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn le16(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A page of records; `texts` (one per image, or none) what the collection says of them.
pub fn encode_page(images: &[ImageMeta], texts: &[ImageText], histograms: &[&StoredHistogram], palettes: &[[PaletteEntry; PALETTE_SIZE]]) -> Vec<u8> {
    let mut offsets = vec![0u32];
    let (mut bins, mut counts) = (Vec::new(), Vec::new());
    for h in histograms {
        bins.extend_from_slice(&h.bins);
        counts.extend_from_slice(&h.counts);
        offsets.push(bins.len() as u32);
    }
    let flat: Vec<u8> = palettes.iter().flat_map(|p| p.iter().flat_map(|(c, s)| [c[0], c[1], c[2], *s])).collect();
    let mut gaps = Vec::with_capacity(bins.len() + 8);
    for h in histograms {
        let mut previous = 0u16;
        for &bin in &h.bins {
            push_gap(&mut gaps, bin - previous);
            previous = bin;
        }
    }
    let mut sections =
        vec![(META, postcard_bytes(&images)), (HIST_OFFSETS, le32(&offsets)), (HIST_BINS, gaps), (HIST_MASS, le16(&counts)), (PALETTES, flat)];
    if texts.iter().any(|t| !t.is_empty()) {
        sections.push((TEXT, postcard_bytes(&texts)));
    }
    container(PAGE_MAGIC, &sections)
}

/// A shard: its vectors, axis cumulatives and self costs (as many), its pages' refs, and its HNSW
/// graph if it has one.
pub fn encode_shard(vectors: &[AnnVector], cdfs: &[AxisCdf], self_costs: &[SelfCost], pages: &[ChunkRef], ann: Option<&AnnIndex>) -> Vec<u8> {
    let mut sections = vec![
        (VECTORS, vectors.iter().flat_map(|v| v.to_nibbles()).collect()),
        (CDFS, cdfs.iter().flat_map(|c| c.to_nibbles()).collect()),
        (SELF_COSTS, self_costs.iter().map(|c| c.0).collect()),
        (PAGES, postcard_bytes(&pages)),
    ];
    if let Some(ann) = ann {
        let (graph, ids) = ann.encode_graph();
        sections.push((ANN_GRAPH, graph));
        sections.push((ANN_IDS, le32(ids)));
    }
    container(SHARD_MAGIC, &sections)
}

/// A shard's page table: where its pages are.
pub fn encode_page_table(pages: &[ChunkRef]) -> Vec<u8> {
    container(PAGE_TABLE_MAGIC, &[(META, postcard_bytes(&pages))])
}

/// A run of terms (ascending) with their posting lists (ascending ids), stored as gaps.
pub fn encode_terms(terms: &[(&str, &[u32])]) -> Vec<u8> {
    let gapped: Vec<(&str, Vec<u32>)> =
        terms.iter().map(|(t, ids)| (*t, ids.iter().scan(0u32, |prev, &id| Some(id - std::mem::replace(prev, id))).collect())).collect();
    container(TERMS_MAGIC, &[(META, postcard_bytes(&gapped))])
}

/// The head (`routes`: [`ROUTE_CENTROIDS`] per shard).
pub fn encode_head(
    params: &Params,
    shards: &[ShardEntry],
    centroids: &[AnnVector],
    routes: &[Route],
    backgrounds_removed: u32,
    terms: &[TermChunkEntry],
    facets: &[FacetEntry],
) -> Vec<u8> {
    let images = shards.iter().map(|s| s.images).sum();
    let meta = HeadMeta { params: params.clone(), images, backgrounds_removed, shards: shards.to_vec() };
    container(
        HEAD_MAGIC,
        &[
            (META, postcard_bytes(&meta)),
            (CENTROIDS, centroids.iter().flat_map(|v| v.0).collect()),
            (ROUTES, encode_routes(centroids, routes)),
            (TERMS, postcard_bytes(&terms)),
            (FACET_LIST, postcard_bytes(&facets)),
        ],
    )
}

/// ROUTES: each route's vector as its bytes' differences (mod 256) from its shard's centroid, which
/// are small (a route is the mean of some of the shard's images) and compress to about 60% of the
/// vectors themselves, then its self cost.
fn encode_routes(centroids: &[AnnVector], routes: &[Route]) -> Vec<u8> {
    let zero = AnnVector([0; ANN_DIMS]);
    let mut out = Vec::with_capacity(routes.len() * ROUTE_BYTES);
    for (i, r) in routes.iter().enumerate() {
        let c = centroids.get(i / ROUTE_CENTROIDS).unwrap_or(&zero);
        out.extend(r.centroid.0.iter().zip(&c.0).map(|(x, c)| x.wrapping_sub(*c)));
        out.push(r.self_cost.0);
    }
    out
}

/// A histogram's bins are stored as gaps from the bin before (from 0 for the first): one byte
/// below 255, else 255 and the gap as u16 LE. Bins are ascending and mostly close, so this is
/// about 1.1 bytes a bin instead of 2.
fn push_gap(out: &mut Vec<u8>, gap: u16) {
    if gap < 255 {
        out.push(gap as u8);
    } else {
        out.push(255);
        out.extend_from_slice(&gap.to_le_bytes());
    }
}

/// The bins of gap-coded `bytes` (see [`push_gap`]), `counts[i]` of them for image `i`, each
/// image's ascending and below [`BINS`], and every byte used.
fn read_gaps(bytes: &[u8], counts: impl Iterator<Item = usize>, total: usize) -> Result<Vec<u16>, BundleError> {
    let mut bins = Vec::with_capacity(total.min(bytes.len()));
    let mut at = 0;
    for (image, count) in counts.enumerate() {
        let mut previous = 0u32;
        for i in 0..count {
            let gap = match bytes.get(at) {
                Some(255) => {
                    let g = bytes.get(at + 1..at + 3).ok_or_else(|| corrupt("histogram bins end early"))?;
                    at += 3;
                    u16::from_le_bytes([g[0], g[1]]) as u32
                }
                Some(&g) => {
                    at += 1;
                    g as u32
                }
                None => return Err(corrupt("histogram bins end early")),
            };
            let bin = previous + gap;
            if (i > 0 && gap == 0) || bin as usize >= BINS {
                return Err(corrupt(format!("histogram {image} of a page has invalid bins")));
            }
            bins.push(bin as u16);
            previous = bin;
        }
    }
    if at != bytes.len() {
        return Err(corrupt("trailing bytes after the histogram bins"));
    }
    Ok(bins)
}

fn align8(x: usize) -> usize {
    x.div_ceil(8) * 8
}

// ---------------------------------------------------------------------------------------------
// Decoding

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0xFF; 8]))
}

/// The sections of a container with this magic, by kind (index = kind - 1), every byte checked.
fn sections<'a>(bytes: &'a [u8], magic: [u8; 8], kinds: &[u32]) -> Result<[Option<&'a [u8]>; KINDS], BundleError> {
    if bytes.len() < HEADER {
        return Err(if bytes.starts_with(&magic[..bytes.len().min(8)]) { BundleError::Truncated("header") } else { BundleError::NotAnIndex });
    }
    if bytes[..8] != magic {
        return Err(if bytes.starts_with(b"CHROMBDL") { BundleError::Outdated(u32_at(bytes, 8)) } else { BundleError::NotAnIndex });
    }
    let version = u32_at(bytes, 8);
    if version != FORMAT_VERSION {
        return Err(if version < FORMAT_VERSION { BundleError::Outdated(version) } else { BundleError::UnsupportedVersion(version) });
    }
    let count = u32_at(bytes, 12) as usize;
    if count > MAX_SECTIONS {
        return Err(corrupt(format!("{count} sections")));
    }
    let table_end = HEADER + ENTRY * count;
    if bytes.len() < table_end {
        return Err(BundleError::Truncated("section table"));
    }
    let mut found: [Option<&[u8]>; KINDS] = [None; KINDS];
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
        if !kinds.contains(&kind) {
            return Err(corrupt(format!("unknown section {kind}")));
        }
        if found[kind as usize - 1].replace(body).is_some() {
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
    Ok(found)
}

fn required<'a>(found: &[Option<&'a [u8]>; KINDS], kind: u32) -> Result<&'a [u8], BundleError> {
    found[kind as usize - 1].ok_or_else(|| corrupt(format!("section {kind} is missing")))
}

fn vectors_of(bytes: &[u8], count: usize, what: &str) -> Result<Vec<AnnVector>, BundleError> {
    if Some(bytes.len()) != count.checked_mul(ANN_DIMS) {
        return Err(corrupt(format!("{what} have the wrong size")));
    }
    Ok(bytes.chunks_exact(ANN_DIMS).map(|c| AnnVector(c.try_into().unwrap_or([0; ANN_DIMS]))).collect())
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

impl Head {
    /// Decodes and validates `index/head.bin`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BundleError> {
        let found = sections(bytes, HEAD_MAGIC, &[META, CENTROIDS, ROUTES, TERMS, FACET_LIST])?;
        let meta: HeadMeta = exact(required(&found, META)?, "head")?;
        let p = &meta.params;
        if p.ann_dims as usize != ANN_DIMS || p.m as usize != crate::ann::M {
            return Err(corrupt(format!("{}-d vectors and M {} (this app reads {ANN_DIMS}-d, M {})", p.ann_dims, p.m, crate::ann::M)));
        }
        if p.page_images == 0 || p.page_images > 4096 || p.probe_images == 0 {
            return Err(corrupt("page size or probe width out of range"));
        }
        if p.rerank_k == 0 || p.rerank_k as usize > crate::query::MAX_RERANK_K || p.ef_search as usize > 100_000 {
            return Err(corrupt("rerank_k or ef_search out of range"));
        }
        let mut first_ids = Vec::with_capacity(meta.shards.len().min(MAX_IMAGES) + 1);
        let mut total = 0u64;
        let mut names = std::collections::HashSet::new();
        for s in &meta.shards {
            first_ids.push(total as u32);
            if s.images == 0 {
                return Err(corrupt("an empty shard"));
            }
            if !names.insert(s.vectors.name) || !names.insert(s.pages.name) {
                return Err(corrupt("two shards name the same file"));
            }
            total += s.images as u64;
            if total > MAX_IMAGES as u64 {
                return Err(corrupt("too many images"));
            }
        }
        let total = total as usize;
        first_ids.push(total as u32);
        if total != meta.images as usize {
            return Err(corrupt("shard sizes do not add up to the image count"));
        }
        let centroids = vectors_of(required(&found, CENTROIDS)?, meta.shards.len(), "centroids")?;
        let raw = required(&found, ROUTES)?;
        if Some(raw.len()) != meta.shards.len().checked_mul(ROUTE_CENTROIDS * ROUTE_BYTES) {
            return Err(corrupt("head routes have the wrong size"));
        }
        let routes = raw
            .chunks_exact(ROUTE_BYTES)
            .zip(centroids.iter().flat_map(|c| std::iter::repeat_n(c, ROUTE_CENTROIDS)))
            .map(|(r, c)| Route { centroid: AnnVector(std::array::from_fn(|d| c.0[d].wrapping_add(r[d]))), self_cost: SelfCost(r[ANN_DIMS]) })
            .collect();
        if meta.backgrounds_removed as usize > total || (meta.params.background == BackgroundMode::Keep && meta.backgrounds_removed > 0) {
            return Err(corrupt("background counts do not fit the site"));
        }
        let terms: Vec<TermChunkEntry> = match found[TERMS as usize - 1] {
            Some(raw) => exact(raw, "head terms")?,
            None => Vec::new(),
        };
        if terms.windows(2).any(|w| w[0].first >= w[1].first) || terms.iter().any(|t| !names.insert(t.chunk.name)) {
            return Err(corrupt("the term table is out of order or names a file twice"));
        }
        let facets: Vec<FacetEntry> = match found[FACET_LIST as usize - 1] {
            Some(raw) => exact(raw, "head facets")?,
            None => Vec::new(),
        };
        if facets.len() > 2 * FACETS
            || facets.iter().any(|f| f.images as usize > total || f.label.len() > MAX_FACET_LABEL || crate::filter::Facet::of_term(&f.term).is_none())
        {
            return Err(corrupt("the facet list does not fit the site"));
        }
        Ok(Self {
            params: meta.params,
            images: total,
            shards: meta.shards,
            centroids,
            routes,
            first_ids,
            backgrounds_removed: meta.backgrounds_removed as usize,
            terms,
            facets,
            byte_len: bytes.len(),
        })
    }

    pub fn len(&self) -> usize {
        self.images
    }

    pub fn is_empty(&self) -> bool {
        self.images == 0
    }

    /// Shard `s`'s routes ([`ROUTE_CENTROIDS`] of them; none for a shard it does not have).
    pub fn routes(&self, s: usize) -> &[Route] {
        self.routes.get(s * ROUTE_CENTROIDS..(s + 1) * ROUTE_CENTROIDS).unwrap_or(&[])
    }

    /// The shard holding image `id`, and its index in that shard.
    pub fn locate(&self, id: u32) -> Option<(usize, usize)> {
        if id as usize >= self.images {
            return None;
        }
        let shard = self.first_ids.partition_point(|&f| f <= id) - 1;
        Some((shard, (id - self.first_ids[shard]) as usize))
    }

    /// Pages a shard of `images` images has.
    pub fn page_count(&self, images: usize) -> usize {
        images.div_ceil(self.params.page_images as usize)
    }
}

impl Shard {
    /// Image `i`'s [`crate::ann::candidate_distance`] from the query `(v, cue)`.
    pub fn distance(&self, v: &AnnVector, cue: Cue<'_>, i: usize) -> u32 {
        crate::ann::candidate_distance(v, cue, &self.vectors[i], Some(&self.cdfs[i]), self.self_costs[i])
    }

    /// Decodes shard `index` of `head` and checks it against the head's entry.
    pub fn from_bytes(bytes: &[u8], head: &Head, index: usize) -> Result<Self, BundleError> {
        let entry = head.shards.get(index).ok_or_else(|| corrupt("no such shard"))?;
        let n = entry.images as usize;
        let found = sections(bytes, SHARD_MAGIC, &[VECTORS, CDFS, SELF_COSTS, PAGES, ANN_GRAPH, ANN_IDS])?;
        let packed = required(&found, VECTORS)?;
        if Some(packed.len()) != n.checked_mul(ANN_DIMS / 2) {
            return Err(corrupt("shard vectors have the wrong size"));
        }
        let vectors = packed.chunks_exact(ANN_DIMS / 2).map(|c| AnnVector::from_nibbles(c.try_into().unwrap_or(&[0; ANN_DIMS / 2]))).collect();
        let packed = required(&found, CDFS)?;
        if Some(packed.len()) != n.checked_mul(CDF_BYTES) {
            return Err(corrupt("shard axis cumulatives have the wrong size"));
        }
        let cdfs = packed.chunks_exact(CDF_BYTES).map(|c| AxisCdf::from_nibbles(c.try_into().unwrap_or(&[0; CDF_BYTES]))).collect();
        let packed = required(&found, SELF_COSTS)?;
        if packed.len() != n {
            return Err(corrupt("shard self costs have the wrong size"));
        }
        let self_costs = packed.iter().map(|&c| SelfCost(c)).collect();
        let pages = page_refs(required(&found, PAGES)?, head, n)?;
        let ann = match (found[ANN_GRAPH as usize - 1], found[ANN_IDS as usize - 1]) {
            (Some(graph), Some(ids)) => {
                let ef = (head.params.ef_search.max(head.params.rerank_k) as usize).clamp(1, 100_000);
                Some(AnnIndex::decode_graph(graph, le_u32s(ids, n, "ANN ids")?, n, ef)?)
            }
            (None, None) => None,
            _ => return Err(corrupt("an HNSW graph without its ids, or ids without a graph")),
        };
        Ok(Self { vectors, cdfs, self_costs, pages, ann })
    }

    /// Decodes the page table of shard `index` of `head`.
    pub fn page_table(bytes: &[u8], head: &Head, index: usize) -> Result<Vec<ChunkRef>, BundleError> {
        let n = head.shards.get(index).ok_or_else(|| corrupt("no such shard"))?.images as usize;
        let found = sections(bytes, PAGE_TABLE_MAGIC, &[META])?;
        page_refs(required(&found, META)?, head, n)
    }

    /// Bytes this shard holds in memory, about (for the chunk cache's budget).
    pub fn memory(&self) -> usize {
        self.vectors.len() * (ANN_DIMS + crate::ann::CDF_DIMS + 8) + self.pages.len() * 24 + self.ann.as_ref().map_or(0, |a| a.len() * 300)
    }
}

/// A postcard section that must be exactly one `T`: bytes left after it are refused too.
fn exact<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, BundleError> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(corrupt(format!("{what}: {} bytes after its end", rest.len()))),
        Err(e) => Err(corrupt(format!("{what}: {e}"))),
    }
}

/// A page table (postcard: the refs of a shard's pages), checked against the shard's `n` images.
fn page_refs(bytes: &[u8], head: &Head, n: usize) -> Result<Vec<ChunkRef>, BundleError> {
    let pages: Vec<ChunkRef> = exact(bytes, "page table")?;
    if pages.len() != head.page_count(n) {
        return Err(corrupt(format!("a shard of {n} images lists {} pages", pages.len())));
    }
    Ok(pages)
}

impl TermChunk {
    /// Decodes term chunk `index` of `head`: its terms ascending, within the chunk's run of the
    /// term table, each with a non-empty list of ascending ids of the site's images.
    pub fn from_bytes(bytes: &[u8], head: &Head, index: usize) -> Result<Self, BundleError> {
        let entry = head.terms.get(index).ok_or_else(|| corrupt("no such term chunk"))?;
        let next = head.terms.get(index + 1).map(|e| e.first.as_str());
        let found = sections(bytes, TERMS_MAGIC, &[META])?;
        let gapped: Vec<(String, Vec<u32>)> = exact(required(&found, META)?, "terms")?;
        let (mut terms, mut postings) = (Vec::with_capacity(gapped.len()), Vec::with_capacity(gapped.len()));
        for (i, (term, gaps)) in gapped.into_iter().enumerate() {
            let in_order = if i == 0 { term == entry.first } else { terms.last().is_some_and(|t: &String| *t < term) };
            if !in_order || next.is_some_and(|n| term.as_str() >= n) || gaps.is_empty() {
                return Err(corrupt("terms out of order, outside their chunk, or without images"));
            }
            let mut id = 0u64;
            let mut ids = Vec::with_capacity(gaps.len());
            for (j, gap) in gaps.into_iter().enumerate() {
                id += gap as u64;
                if (j > 0 && gap == 0) || id >= head.len() as u64 {
                    return Err(corrupt(format!("the images of term {:?} are out of order or out of range", crate::query::clip(&term))));
                }
                ids.push(id as u32);
            }
            terms.push(term);
            postings.push(ids);
        }
        if terms.is_empty() {
            return Err(corrupt("an empty term chunk"));
        }
        Ok(Self { terms, postings })
    }

    /// Bytes it holds in memory, about.
    pub fn memory(&self) -> usize {
        self.terms.iter().map(|t| t.len() + 48).sum::<usize>() + self.postings.iter().map(|p| p.len() * 4).sum::<usize>()
    }
}

impl Page {
    /// Decodes a page that must hold `count` images; `background` is the site's mode.
    pub fn from_bytes(bytes: &[u8], count: usize, background: BackgroundMode) -> Result<Self, BundleError> {
        let found = sections(bytes, PAGE_MAGIC, &[META, HIST_OFFSETS, HIST_BINS, HIST_MASS, PALETTES, TEXT])?;
        let images: Vec<ImageMeta> = exact(required(&found, META)?, "page")?;
        if images.len() != count {
            return Err(corrupt(format!("a page holds {} images, not {count}", images.len())));
        }
        if let Some(bad) = images.iter().find(|m| !m.is_safe()) {
            return Err(corrupt(format!("image {:?} has an invalid file name", bad.path)));
        }
        if background == BackgroundMode::Keep && images.iter().any(|m| m.background_removed) {
            return Err(corrupt("an image has its background removed on a site that keeps backgrounds"));
        }
        let hist_offsets = le_u32s(required(&found, HIST_OFFSETS)?, count + 1, "histogram offsets")?;
        if hist_offsets.first() != Some(&0) || hist_offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(corrupt("histogram offsets are not ascending"));
        }
        let total = *hist_offsets.last().unwrap_or(&0) as usize;
        let hist_bins = read_gaps(required(&found, HIST_BINS)?, hist_offsets.windows(2).map(|w| (w[1] - w[0]) as usize), total)?;
        let hist_counts = le_u16s(required(&found, HIST_MASS)?, total, "histogram masses")?;
        let mut hist_sums = Vec::with_capacity(count);
        for (i, w) in hist_offsets.windows(2).enumerate() {
            let (start, end) = (w[0] as usize, w[1] as usize);
            let bins = &hist_bins[start..end];
            if bins.iter().any(|&b| b as usize >= BINS) || bins.windows(2).any(|p| p[0] >= p[1]) {
                return Err(corrupt(format!("histogram of image {:?} has invalid bins", images[i].path)));
            }
            let sum: f64 = hist_counts[start..end].iter().map(|&q| q as f64).sum();
            if sum <= 0.0 {
                return Err(corrupt(format!("histogram of image {:?} is empty", images[i].path)));
            }
            hist_sums.push(sum);
        }
        let raw = required(&found, PALETTES)?;
        if raw.len() != count * PALETTE_SIZE * 4 {
            return Err(corrupt("palettes have the wrong size"));
        }
        let palettes =
            raw.chunks_exact(PALETTE_SIZE * 4).map(|p| std::array::from_fn(|s| ([p[s * 4], p[s * 4 + 1], p[s * 4 + 2]], p[s * 4 + 3]))).collect();
        let texts: Vec<ImageText> = match found[TEXT as usize - 1] {
            None => Vec::new(),
            Some(raw) => exact(raw, "page texts")?,
        };
        if !texts.is_empty() && texts.len() != count {
            return Err(corrupt(format!("a page has texts for {} images, not {count}", texts.len())));
        }
        if let Some(i) = texts.iter().position(|t| !t.is_safe()) {
            return Err(corrupt(format!("the text of image {:?} is too long or links somewhere unsafe", images[i].path)));
        }
        Ok(Self { images, texts, hist_offsets, hist_bins, hist_counts, hist_sums, palettes })
    }

    /// What the collection says of image `i` (empty when nothing).
    pub fn text(&self, i: usize) -> Option<&ImageText> {
        self.texts.get(i)
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The stored histogram of image `i` of this page (normalised to unit mass).
    pub fn histogram(&self, i: usize) -> Option<SparseView<'_>> {
        let start = *self.hist_offsets.get(i)? as usize;
        let end = *self.hist_offsets.get(i + 1)? as usize;
        let mass = Masses::Quantized { counts: self.hist_counts.get(start..end)?, sum: *self.hist_sums.get(i)? };
        Some(SparseView { bins: self.hist_bins.get(start..end)?, mass })
    }

    /// Dominant colors of image `i` with their shares (0..1), largest first.
    pub fn palette(&self, i: usize) -> Vec<(Rgb, f64)> {
        self.palettes.get(i).map(|p| p.iter().filter(|(_, s)| *s > 0).map(|(c, s)| (*c, *s as f64 / 255.0)).collect()).unwrap_or_default()
    }

    /// Stored bins over the page's images, for size reports.
    pub fn stored_bins(&self) -> usize {
        self.hist_bins.len()
    }

    /// Bytes this page holds in memory, about (for the chunk cache's budget).
    pub fn memory(&self) -> usize {
        self.hist_bins.len() * 4 + self.images.iter().map(|m| m.path.len() + m.stem.len() + 96).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postcard_section_with_bytes_after_its_value_is_refused() {
        let bytes = postcard_bytes(&vec![5u32, 6]);
        assert_eq!(exact::<Vec<u32>>(&bytes, "list").unwrap(), vec![5, 6]);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(exact::<Vec<u32>>(&longer, "list").unwrap_err().to_string().contains("list: 1 bytes after its end"));
        assert!(exact::<Vec<u32>>(&bytes[..2], "list").unwrap_err().to_string().contains("list:"));
    }
}

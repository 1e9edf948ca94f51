//! A site's index read from disk: the CLI's shell around core's [`Engine`], which asks for the
//! index files a search needs ([`Step::Fetch`]) and gets them here as files, exactly as the
//! browser gets them over HTTP. `search`, `info`, `eval` and `synth` all read sites this way, so
//! the CLI ranks as the page does.
//!
//! Index files are stored gzip-compressed ([`store`]; bundle.rs's header says why): a reader
//! inflates each ([`load`]) to at most the length the head gives it before core decodes it.

use anyhow::{bail, Context, Result};
use chromatica_core::ann::AnnVector;
use chromatica_core::bundle::{self, Head, ImageMeta, ImageText, PaletteEntry, Params, StoredHistogram, PALETTE_SIZE};
use chromatica_core::search::{Engine, SearchRequest, SearchResponse, Want};
use chromatica_core::shard::{build_index, EncodedIndex, IndexInput, Previous};
use std::collections::HashMap;
use std::fs;
use std::path::Path;

/// Opens the site's head. A site of an older version says "rebuild".
pub fn open(site: &Path) -> Result<Engine> {
    let path = site.join(bundle::HEAD_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(_) if site.join(bundle::LEGACY_BUNDLE_FILE).is_file() => bail!(
            "{} was built by an older version of chromatica (one bundle.bin; this version reads a sharded index): rebuild it with chromatica build IMAGES --out {}",
            site.display(),
            site.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot read {} (is {} a site built by chromatica build?)", path.display(), site.display())),
    };
    let bytes = load(&bytes, bundle::MAX_HEAD_BYTES).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let head = Head::from_bytes(&bytes).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Engine::new(head))
}

/// Reads index files of `site` for the engine.
pub fn fetcher(site: &Path) -> impl FnMut(&Want) -> Result<Vec<u8>, String> + '_ {
    move |want: &Want| {
        let stored = fs::read(site.join(want.path())).map_err(|e| format!("{}: {e}", want.path()))?;
        load(&stored, want.chunk.len as usize).map_err(|e| format!("{}: {e}", want.path()))
    }
}

/// gzip's level for index files: 9 saves 0.1% more at two thirds of the speed (measured on a
/// 100k synthetic site: 54.2% of the bytes at 24 MB/s a core).
const GZIP_LEVEL: u32 = 6;

/// An index file as a site stores it: `raw` as one gzip member (RFC 1952).
pub fn store(raw: &[u8]) -> Vec<u8> {
    crate::precompress::gzip(raw, GZIP_LEVEL)
}

/// The bytes of a stored index file, inflated to at most `most` bytes (more is an error, read no
/// further). A file that is not gzip (a site built before index files were compressed) is taken
/// as it is; core's decoder checks either.
pub fn load(stored: &[u8], most: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    if !stored.starts_with(&bundle::GZIP_MAGIC) {
        return Ok(stored.to_vec());
    }
    let bad = |e: String| format!("not a valid compressed index file ({e}): rebuild or re-upload the site");
    let mut raw = Vec::new();
    let mut inflater = flate2::bufread::GzDecoder::new(stored);
    (&mut inflater).take(most as u64 + 1).read_to_end(&mut raw).map_err(|e| bad(e.to_string()))?;
    if raw.len() > most {
        return Err(format!("inflates to more than the {most} bytes the index expects: rebuild or re-upload the site"));
    }
    // One member and nothing after it, as the browser's inflater demands.
    if !inflater.into_inner().is_empty() {
        return Err(bad("bytes after its end".into()));
    }
    Ok(raw)
}

/// The bytes `rel` takes in `site` (on disk and over the wire), 0 if it is missing.
pub fn stored_len(site: &Path, rel: &str) -> u64 {
    fs::metadata(site.join(rel)).map(|m| m.len()).unwrap_or(0)
}

/// One search, fetching what it needs from `site`.
pub fn search(engine: &mut Engine, site: &Path, request: &SearchRequest, clock: &dyn Fn() -> f64) -> Result<SearchResponse> {
    Ok(engine.drive(|e| e.search(request, clock), &mut fetcher(site))?)
}

/// Loads every index file (for `eval`, `synth`, `merge`); fails on the first that is missing or bad.
pub fn load_all(engine: &mut Engine, site: &Path) -> Result<()> {
    engine.hold_everything(&mut fetcher(site)).map_err(|reason| anyhow::anyhow!("the index of {} is damaged: {reason}", site.display()))
}

/// Lays out and encodes the index of `images` for the site at `out`, keeping the shards of its
/// previous index where they still fit (`previous_layout`).
pub fn build_for(
    out: &Path,
    params: &Params,
    images: &[ImageMeta],
    histograms: &[StoredHistogram],
    palettes: &[[PaletteEntry; PALETTE_SIZE]],
    texts: &[ImageText],
    vectors: &[AnnVector],
) -> EncodedIndex {
    let previous = previous_layout(out, images);
    build_index(&IndexInput {
        params: params.clone(),
        images,
        histograms,
        palettes,
        texts,
        vectors,
        previous: previous.as_ref().map(|(centroids, shard_of)| Previous { centroids, shard_of }),
    })
}

/// The layout of the site's current index, if it has one this version reads, for a rebuild of
/// `images`: the shard centroids, and for each image the shard it is in (by path and content: a
/// changed image is new). Unchanged shards then keep their files.
pub fn previous_layout(site: &Path, images: &[ImageMeta]) -> Option<(Vec<AnnVector>, Vec<Option<u32>>)> {
    let mut engine = open(site).ok()?;
    load_all(&mut engine, site).ok()?;
    let mut shard_of: HashMap<(&str, &str), u32> = HashMap::new();
    for id in 0..engine.len() as u32 {
        let (shard, _) = engine.head().locate(id)?;
        let meta = engine.image(id)?;
        shard_of.insert((meta.path.as_str(), meta.stem.as_str()), shard as u32);
    }
    let assigned = images.iter().map(|m| shard_of.get(&(m.path.as_str(), m.stem.as_str())).copied()).collect();
    Some((engine.head().centroids.clone(), assigned))
}

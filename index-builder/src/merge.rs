//! `chromatica merge`: joins the part sites of `chromatica build --part I/N` into one site. Each
//! part holds its images' records (name, size, stored histogram, palette) and files (thumbnail,
//! original); the merge reads them all, orders them by path as one build would, lays out the
//! shards and writes the whole site. Vectors are derived from the stored histograms on both
//! paths (`site_build::vector_of`), so the merged index is the one a single build makes.

use crate::site::{self, SiteWriter};
use crate::site_build::vector_of;
use crate::site_index;
use crate::site_info::SiteInfo;
use anyhow::{bail, Context, Result};
use chromatica_core::bundle::{self, ImageMeta, ImageText, PaletteEntry, StoredHistogram, PALETTE_SIZE};
use chromatica_core::histogram::Masses;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

#[derive(Serialize, Debug)]
pub struct MergeSummary {
    pub parts: usize,
    pub images: usize,
    pub shards: usize,
    pub index_bytes: u64,
    pub out: String,
}

/// One image as a part holds it.
struct Record {
    meta: ImageMeta,
    text: ImageText,
    histogram: StoredHistogram,
    palette: [PaletteEntry; PALETTE_SIZE],
}

/// The site's title, description, address and accent, as every part was built with them.
fn site_info(parts: &[std::path::PathBuf]) -> Result<SiteInfo> {
    let mut found: Option<SiteInfo> = None;
    for part in parts {
        let manifest: serde_json::Value =
            fs::read(part.join(site::MANIFEST_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        let info: SiteInfo = match manifest.get("site") {
            None => SiteInfo::default(),
            Some(value) => serde_json::from_value::<SiteInfo>(value.clone())
                .map_err(anyhow::Error::from)
                .and_then(SiteInfo::checked)
                .with_context(|| format!("the site settings in {} are not valid", part.join(site::MANIFEST_FILE).display()))?,
        };
        match &found {
            Some(first) if *first != info => bail!(
                "{} was built with another title, description, base URL or accent than {}: build every part with the same ones",
                part.display(),
                parts[0].display()
            ),
            _ => found = Some(info),
        }
    }
    Ok(found.unwrap_or_default())
}

/// Every part of one `build --part I/N`, each once: what the parts' manifests say.
fn check_parts(parts: &[std::path::PathBuf]) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    let mut total = None;
    for part in parts {
        let manifest: serde_json::Value = fs::read(part.join(site::MANIFEST_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .with_context(|| format!("{} is not a site built by chromatica build --part", part.display()))?;
        let (Some(i), Some(n)) = (manifest["part"][0].as_u64(), manifest["part"][1].as_u64()) else {
            bail!("{} is not a part (built without --part I/N)", part.display());
        };
        if *total.get_or_insert(n) != n {
            bail!("{} is part {i} of {n}, the others are parts of {}: merge the parts of one build", part.display(), total.unwrap_or(n));
        }
        if !seen.insert(i) {
            bail!("part {i} of {n} is given twice");
        }
    }
    let n = total.unwrap_or(0);
    let missing: Vec<String> = (1..=n).filter(|i| !seen.contains(i)).map(|i| i.to_string()).collect();
    if !missing.is_empty() {
        bail!("part(s) {} of {n} are missing: merge needs every part", missing.join(", "));
    }
    Ok(())
}

pub fn run(parts: &[std::path::PathBuf], out: &Path, force: bool, precompress: bool) -> Result<MergeSummary> {
    check_parts(parts)?;
    let mut records: BTreeMap<String, (Record, usize)> = BTreeMap::new();
    let mut params = None;
    for (p, part) in parts.iter().enumerate() {
        let mut engine = site_index::open(part)?;
        site_index::load_all(&mut engine, part)?;
        let these = engine.head().params.clone();
        match &params {
            None => params = Some(these),
            Some(first) if *first != these => bail!(
                "{} was built with other settings than {} (rerank_k, background or format): build every part with the same options",
                part.display(),
                parts[0].display()
            ),
            Some(_) => {}
        }
        for id in 0..engine.len() as u32 {
            let (Some(meta), Some(view)) = (engine.image(id), engine.histogram(id)) else {
                bail!("{}: image {id} is missing from its index", part.display())
            };
            let Masses::Quantized { counts, .. } = view.mass else { bail!("{}: image {id} has no stored histogram", part.display()) };
            let record = Record {
                meta: meta.clone(),
                text: engine.text(id).cloned().unwrap_or_default(),
                histogram: StoredHistogram { bins: view.bins.to_vec(), counts: counts.to_vec() },
                palette: bundle::stored_palette(&engine.palette(id)),
            };
            if let Some((_, other)) = records.insert(meta.path.clone(), (record, p)) {
                bail!(
                    "{} is in two parts ({} and {}): give every part the same images folder and N",
                    meta.path,
                    parts[other].display(),
                    part.display()
                );
            }
        }
    }
    let Some(params) = params else { bail!("no parts given") };
    if records.is_empty() {
        bail!("the parts hold no images");
    }
    let site = SiteWriter::open(out, force)?;
    let (metas, rest): (Vec<ImageMeta>, Vec<(Record, usize)>) = records.into_values().map(|(r, p)| (r.meta.clone(), (r, p))).unzip();
    for (r, p) in &rest {
        for rel in [r.meta.thumb_url(), r.meta.original_url()] {
            let bytes = fs::read(parts[*p].join(&rel)).with_context(|| format!("cannot read {rel} of the part {}", parts[*p].display()))?;
            site.write_once(&rel, &bytes)?;
        }
    }
    let stored: Vec<StoredHistogram> = rest.iter().map(|(r, _)| r.histogram.clone()).collect();
    let palettes: Vec<[PaletteEntry; PALETTE_SIZE]> = rest.iter().map(|(r, _)| r.palette).collect();
    let vectors: Vec<_> = stored.iter().map(vector_of).collect();
    let texts: Vec<ImageText> = rest.iter().map(|(r, _)| r.text.clone()).collect();
    let index = site_index::build_for(out, &params, &metas, &stored, &palettes, &texts, &vectors);
    // The images folder's name, as the parts' manifests recorded it.
    let manifest: serde_json::Value =
        fs::read(parts[0].join(site::MANIFEST_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let root = Path::new(manifest["images_root"].as_str().unwrap_or_default()).to_path_buf();
    let info = site_info(parts)?;
    let sizes = site::finish(site, &index, &params, &metas, &root, &site::Publish { part: None, precompress, info: &info })?;
    Ok(MergeSummary { parts: parts.len(), images: metas.len(), shards: index.shards, index_bytes: sizes.index_bytes, out: out.display().to_string() })
}

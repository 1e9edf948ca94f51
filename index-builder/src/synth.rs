//! `chromatica synth`: a large, realistic collection for scale benchmarks. Each synthetic image's
//! histogram is a random mixture of 2-3 real histograms from a built site; its thumbnail is its
//! main source image's, and so are its palette and size (so result cards stay truthful).
//!
//! Each image also gets synthetic metadata, unrelated to its colors (the hardest case for a
//! filter), with filters of known selectivity: image `i` is in folder `synthetic/<i%10>/<i/10%10>/`
//! (a top folder holds 10% of the images, a subfolder 1%), has tags `t<i%1000>` (0.1%),
//! `r<i%10000>` (0.01%) and one of seven words, a title of about 40 characters and a date.

use crate::{site, site_index};
use anyhow::{bail, Result};
use chromatica_core::ann::AnnVector;
use chromatica_core::bundle::{self, ImageMeta, ImageText, Params, StoredHistogram};
use chromatica_core::histogram::Histogram;
use rayon::prelude::*;
use std::fs;
use std::path::Path;
use std::time::Instant;

pub fn run(source: &Path, out: &Path, count: usize, seed: u64) -> Result<()> {
    if count == 0 {
        bail!("--count must be at least 1");
    }
    let start = Instant::now();
    let mut src = site_index::open(source)?;
    site_index::load_all(&mut src, source)?;
    if src.is_empty() {
        bail!("the source site has no images");
    }
    let site = site::SiteWriter::open(out, false)?;
    let n = src.len();
    let dense: Vec<Histogram> = (0..n as u32).filter_map(|i| src.dense_histogram(i)).collect();
    // Only what the index stores is kept per image (a million dense histograms would be 9 GB).
    let mix = |i: usize| -> (usize, AnnVector, StoredHistogram) {
        let mut s = seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let parts = 2 + (next() % 2) as usize;
        let main = (next() % n as u64) as usize;
        let mut h = Histogram::default();
        for p in 0..parts {
            let id = if p == 0 { main } else { (next() % n as u64) as usize };
            let w = if p == 0 { 1.0 + (next() % 100) as f64 / 50.0 } else { (next() % 100) as f64 / 100.0 };
            for (bin, m) in dense[id].as_slice().iter().enumerate() {
                if *m > 0.0 {
                    h.splat_bin(bin, m * w);
                }
            }
        }
        h.normalize();
        let stored = StoredHistogram::of(&h);
        (main, crate::site_build::vector_of(&stored), stored)
    };
    let made: Vec<(usize, AnnVector, StoredHistogram)> = (0..count).into_par_iter().map(mix).collect();
    let mix_ms = start.elapsed().as_secs_f64() * 1000.0;
    let images: Vec<ImageMeta> = made
        .iter()
        .enumerate()
        .filter_map(|(i, (main, _, _))| {
            let m = src.image(*main as u32)?;
            Some(ImageMeta {
                path: format!("synthetic/{}/{}/{i:07}.jpg", i % 10, i / 10 % 10),
                stem: m.stem.clone(),
                ext: String::new(),
                width: m.width,
                height: m.height,
                background_removed: m.background_removed,
            })
        })
        .collect();
    let palettes: Vec<_> = made.iter().map(|(main, _, _)| bundle::stored_palette(&src.palette(*main as u32))).collect();
    let (vectors, stored): (Vec<AnnVector>, Vec<StoredHistogram>) = made.into_iter().map(|(_, v, h)| (v, h)).unzip();
    let t = Instant::now();
    // A new build of new images: today's defaults, with the source site's own settings.
    let params = Params::new(src.head().params.rerank_k as usize, src.head().params.background);
    let texts: Vec<ImageText> = (0..images.len()).map(synthetic_text).collect();
    let index = site_index::build_for(out, &params, &images, &stored, &palettes, &texts, &vectors);
    let index_ms = t.elapsed().as_secs_f64() * 1000.0;
    drop((vectors, stored, palettes));
    for thumb in images.iter().map(|m| m.thumb_url()).collect::<std::collections::BTreeSet<_>>() {
        let bytes = fs::read(source.join(&thumb)).map_err(|e| anyhow::anyhow!("cannot read {thumb} of the source site: {e}"))?;
        site.write_once(&thumb, &bytes)?;
    }
    let shards = index.shards;
    let site::IndexSizes { head_bytes, index_bytes } =
        site::finish(site, &index, &params, &images, source, &site::Publish { part: None, precompress: true, info: &Default::default() })?;
    println!(
        "Synthesised {count} images from {n} in {:.1} s (mixing {:.1} s, shards {:.1} s) -> {}; index {index_bytes} bytes ({:.0} per image) in {shards} shards, head {head_bytes} bytes",
        start.elapsed().as_secs_f64(),
        mix_ms / 1000.0,
        index_ms / 1000.0,
        out.display(),
        index_bytes as f64 / count as f64
    );
    Ok(())
}

/// The synthetic metadata of image `i` (see the module's header).
fn synthetic_text(i: usize) -> ImageText {
    const WORDS: [&str; 7] = ["harbour", "meadow", "skyline", "orchard", "glacier", "market", "canyon"];
    const PLACES: [&str; 5] = ["Reykjavík", "Lisbon", "Kyoto", "Oaxaca", "Tromsø"];
    let word = WORDS[i % 7];
    ImageText {
        title: format!("{} {word} near {} no. {i}", ["Early", "Late", "Quiet"][i % 3], PLACES[i / 7 % 5]),
        tags: vec![format!("t{}", i % 1000), format!("r{}", i % 10_000), word.to_string()],
        date: format!("{}-{:02}-{:02}", 2000 + i % 20, 1 + i / 20 % 12, 1 + i / 240 % 28),
        ..Default::default()
    }
}

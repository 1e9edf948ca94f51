//! `chromatica synth`: a large, realistic collection for scale benchmarks. Each synthetic image's
//! histogram is a random mixture of 2-3 real histograms from a built site; its thumbnail is its
//! main source image's, and so are its palette and size (so result cards stay truthful).

use crate::site;
use anyhow::{bail, Context, Result};
use chromatica_core::ann::{AnnIndex, AnnVector};
use chromatica_core::bundle::{self, Bundle, BundleInput, ImageMeta};
use chromatica_core::histogram::Histogram;
use rayon::prelude::*;
use std::fs;
use std::path::Path;
use std::time::Instant;

pub fn run(source: &Path, out: &Path, count: usize, seed: u64) -> Result<()> {
    let start = Instant::now();
    let bytes = fs::read(source.join(site::BUNDLE_FILE)).with_context(|| format!("cannot read the site {}", source.display()))?;
    let src = Bundle::from_bytes(&bytes)?;
    if src.is_empty() {
        bail!("the source site has no images");
    }
    let site = site::SiteWriter::open(out, false)?;
    let n = src.len();
    let dense: Vec<Histogram> = (0..n).filter_map(|i| src.dense_histogram(i)).collect();
    let mix = |i: usize| -> (usize, Histogram) {
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
        (main, h)
    };
    let made: Vec<(usize, Histogram)> = (0..count).into_par_iter().map(mix).collect();
    let mix_ms = start.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let vectors: Vec<AnnVector> = made.par_iter().map(|(_, h)| AnnVector::from_histogram(h)).collect();
    let ef = src.params.ef_search as usize;
    let ann = AnnIndex::build_with_threads(vectors, ef, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let index_ms = t.elapsed().as_secs_f64() * 1000.0;
    let images: Vec<ImageMeta> = made
        .iter()
        .enumerate()
        .map(|(i, (main, _))| {
            let m = &src.images[*main];
            ImageMeta {
                path: format!("synthetic/{i:07}.jpg"),
                stem: m.stem.clone(),
                ext: String::new(),
                width: m.width,
                height: m.height,
                background_removed: m.background_removed,
            }
        })
        .collect();
    let (mains, histograms): (Vec<usize>, Vec<Histogram>) = made.into_iter().unzip();
    let palettes = mains.iter().map(|&main| src.palette(main)).collect();
    let encoded = bundle::encode(&BundleInput { params: src.params.clone(), images: images.clone(), histograms: &histograms, palettes, ann: &ann });
    for stem in images.iter().map(|m| m.thumb_url()).collect::<std::collections::BTreeSet<_>>() {
        let bytes = fs::read(source.join(&stem)).with_context(|| format!("cannot read {stem} of the source site"))?;
        site.write_once(&stem, &bytes)?;
    }
    site::finish(site, &encoded, &src.params, &images, source)?;
    println!(
        "Synthesised {count} images from {n} in {:.1} s (mixing {:.1} s, HNSW {:.1} s) -> {}; bundle {} bytes ({:.0} per image)",
        start.elapsed().as_secs_f64(),
        mix_ms / 1000.0,
        index_ms / 1000.0,
        out.display(),
        encoded.len(),
        encoded.len() as f64 / count as f64
    );
    Ok(())
}

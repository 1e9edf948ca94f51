//! `chromatica synth`: a large, realistic collection for scale benchmarks. Each synthetic image's
//! histogram is a random mixture of 2-3 real histograms from a built site; its thumbnail is its
//! main source image's.

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
    site::check_replaceable(out)?;
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
            ImageMeta { path: format!("synthetic/{i:07}.jpg"), stem: m.stem.clone(), ext: String::new(), width: m.width, height: m.height }
        })
        .collect();
    let histograms: Vec<Histogram> = made.into_iter().map(|(_, h)| h).collect();
    let palettes = images.iter().enumerate().map(|(i, _)| src.palette(i % n)).collect();
    let encoded = bundle::encode(&BundleInput { params: src.params.clone(), images: images.clone(), histograms: &histograms, palettes, ann: &ann });
    let staging = site::Staging::create(out)?;
    site::write_app(staging.path())?;
    fs::write(staging.path().join(site::BUNDLE_FILE), &encoded)?;
    fs::create_dir_all(staging.path().join("thumbs"))?;
    for entry in fs::read_dir(source.join("thumbs"))? {
        let entry = entry?;
        let dest = staging.path().join("thumbs").join(entry.file_name());
        if fs::hard_link(entry.path(), &dest).is_err() {
            fs::copy(entry.path(), &dest)?;
        }
    }
    let manifest = site::Manifest::new(&src.params, &images, encoded.len(), source);
    fs::write(staging.path().join(site::MANIFEST_FILE), serde_json::to_vec(&manifest)?)?;
    staging.commit()?;
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

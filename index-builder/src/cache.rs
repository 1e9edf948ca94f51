//! The incremental-build cache: what each file produced last time, keyed by path, checked by
//! size + mtime, and by content hash when those differ. An entry also records the `--background`
//! mode it was computed under, and is only reused by a build with the same mode.
//!
//! It lives in the user's cache folder, never in the site: it lists every photo's size and
//! modification time, which a published site must not reveal. One file per output folder, named by
//! a hash of that folder's absolute path (which is also stored inside and checked). Every entry is
//! validated when loaded; a bad one (corrupt, NaN masses, bins out of range) is simply recomputed.
//! A missing or unreadable cache only costs time.

use chromatica_core::bundle::PALETTE_SIZE;
use chromatica_core::histogram::BINS;
use chromatica_core::BackgroundMode;
use index_builder::embedded::Embedded;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where caches go: `$CHROMATICA_CACHE_DIR`, else `$XDG_CACHE_HOME/chromatica`, else
/// `~/.cache/chromatica`.
pub const CACHE_DIR_VAR: &str = "CHROMATICA_CACHE_DIR";
/// Raise it with any change to what an entry holds (embedded.rs `read` included): entries are
/// postcard, which cannot tell an older layout from a newer one.
const CACHE_VERSION: u32 = 6;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub size: u64,
    pub mtime_ns: i128,
    pub hash: u64,
    pub width: u32,
    pub height: u32,
    pub thumb_size: u32,
    /// The site's mode when this was computed, and whether the image's background was left out.
    pub background: BackgroundMode,
    pub background_removed: bool,
    pub bins: Vec<u16>,
    pub mass: Vec<f64>,
    pub palette: Vec<([u8; 3], f64)>,
    /// What the file says about itself (XMP title, description, keywords, date; EXIF date).
    pub embedded: Embedded,
}

impl Entry {
    /// What the builder itself would have produced: a normalised sparse histogram (bins in range
    /// and ascending, masses finite and positive, summing to 1) and a sane palette and size.
    fn is_valid(&self) -> bool {
        let bins_ok = !self.bins.is_empty()
            && self.bins.len() == self.mass.len()
            && self.bins.windows(2).all(|w| w[0] < w[1])
            && self.bins.iter().all(|&b| (b as usize) < BINS);
        let mass_ok = self.mass.iter().all(|m| m.is_finite() && *m > 0.0) && (self.mass.iter().sum::<f64>() - 1.0).abs() < 1e-6;
        let palette_ok = self.palette.len() <= PALETTE_SIZE && self.palette.iter().all(|(_, s)| s.is_finite() && (0.0..=1.0).contains(s));
        let background_ok = !self.background_removed || self.background == BackgroundMode::Ignore;
        bins_ok && mass_ok && palette_ok && background_ok && self.width > 0 && self.height > 0
    }
}

#[derive(Default, Serialize, Deserialize)]
pub struct Cache {
    version: u32,
    site: String,
    pub entries: BTreeMap<String, Entry>,
}

impl Cache {
    /// The cache of the previous build into `site` (an absolute path), with invalid entries
    /// dropped; empty if there is none.
    pub fn load(site: &Path) -> Self {
        let Some(file) = cache_file(site) else { return Self::default() };
        let Some(mut cache) = std::fs::read(file).ok().and_then(|b| postcard::from_bytes::<Cache>(&b).ok()) else {
            return Self::default();
        };
        if cache.version != CACHE_VERSION || cache.site != site.to_string_lossy() {
            return Self::default();
        }
        cache.entries.retain(|_, e| e.is_valid());
        cache
    }

    pub fn new(entries: BTreeMap<String, Entry>) -> Self {
        Self { version: CACHE_VERSION, site: String::new(), entries }
    }

    /// Writes the cache for `site` (atomically: a temporary file renamed over the old one).
    /// Failing to write it is not an error: the next build just decodes everything again.
    pub fn save(mut self, site: &Path) {
        let Some(file) = cache_file(site) else { return };
        self.site = site.to_string_lossy().into_owned();
        let Ok(bytes) = postcard::to_allocvec(&self) else { return };
        let tmp = file.with_extension(format!("tmp-{}", std::process::id()));
        let written = file.parent().is_some_and(|dir| std::fs::create_dir_all(dir).is_ok())
            && std::fs::write(&tmp, bytes).is_ok()
            && std::fs::rename(&tmp, &file).is_ok();
        if !written {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// `<cache dir>/sites/<xxh3 of the site's path>.cache`, or `None` with no home to put it in.
pub fn cache_file(site: &Path) -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let dir = var(CACHE_DIR_VAR)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("chromatica")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/chromatica")))?;
    let key = xxhash_rust::xxh3::xxh3_64(site.as_os_str().as_encoded_bytes());
    Some(dir.join("sites").join(format!("{key:016x}.cache")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(mass: Vec<f64>) -> Entry {
        Entry {
            size: 1,
            mtime_ns: 1,
            hash: 7,
            width: 4,
            height: 3,
            thumb_size: 256,
            background: BackgroundMode::Ignore,
            background_removed: true,
            bins: vec![3, 9],
            mass,
            palette: vec![([1, 2, 3], 1.0)],
            embedded: Embedded::default(),
        }
    }

    #[test]
    fn poisoned_entries_are_dropped_on_load_and_good_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var(CACHE_DIR_VAR, dir.path());
        let site = dir.path().join("site");
        let mut entries = BTreeMap::new();
        entries.insert("good.png".to_string(), entry(vec![0.25, 0.75]));
        entries.insert("nan.png".to_string(), entry(vec![f64::NAN, 0.5]));
        entries.insert("unnormalised.png".to_string(), entry(vec![0.5, 0.75]));
        entries.insert("negative.png".to_string(), entry(vec![-0.25, 1.25]));
        let mut out_of_range = entry(vec![0.5, 0.5]);
        out_of_range.bins = vec![3, 60_000];
        entries.insert("bins.png".to_string(), out_of_range);
        let mut kept_but_removed = entry(vec![0.5, 0.5]);
        kept_but_removed.background = BackgroundMode::Keep;
        entries.insert("background.png".to_string(), kept_but_removed);
        Cache::new(entries).save(&site);
        let loaded = Cache::load(&site);
        assert_eq!(loaded.entries.keys().collect::<Vec<_>>(), ["good.png"]);
        // Another site's cache (a hash collision, a moved folder) is not used.
        assert!(Cache::load(&dir.path().join("other")).entries.is_empty());
    }
}

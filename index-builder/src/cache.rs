//! The incremental-build cache: what each file produced last time, keyed by path, checked by
//! size + mtime, and by content hash when those differ.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const CACHE_FILE: &str = ".chromatica-cache";
const CACHE_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub size: u64,
    pub mtime_ns: i128,
    pub hash: u64,
    pub width: u32,
    pub height: u32,
    pub thumb_size: u32,
    pub bins: Vec<u16>,
    pub mass: Vec<f64>,
    pub palette: Vec<([u8; 3], f64)>,
}

#[derive(Default, Serialize, Deserialize)]
pub struct Cache {
    version: u32,
    pub entries: BTreeMap<String, Entry>,
}

impl Cache {
    /// The cache of a previous build in `site`, or an empty one (a missing or unreadable cache only
    /// costs time).
    pub fn load(site: &Path) -> Self {
        std::fs::read(site.join(CACHE_FILE))
            .ok()
            .and_then(|b| postcard::from_bytes::<Cache>(&b).ok())
            .filter(|c| c.version == CACHE_VERSION)
            .unwrap_or_default()
    }

    pub fn new(entries: BTreeMap<String, Entry>) -> Self {
        Self { version: CACHE_VERSION, entries }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }
}

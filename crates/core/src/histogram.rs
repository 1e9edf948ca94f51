//! The 1152-bin CIE Lab histogram (8 x 12 x 12) with tri-linear soft assignment to bin centers.

use crate::background::{remove_plain_background, BackgroundMode};
pub use crate::color::delta_e;
use crate::color::{lab_to_srgb, srgb_to_lab, Rgb};
use crate::resize::{downscale_to_fit, BadBuffer, RgbaImage};

pub const L_BINS: usize = 8;
pub const A_BINS: usize = 12;
pub const B_BINS: usize = 12;
pub const BINS: usize = L_BINS * A_BINS * B_BINS;
pub const L_RANGE: (f64, f64) = (0.0, 100.0);
pub const A_RANGE: (f64, f64) = (-86.0, 98.0);
pub const B_RANGE: (f64, f64) = (-108.0, 95.0);
/// Images are downscaled so that their long side is at most this many pixels before binning.
pub const MAX_SIDE: u32 = 256;
/// Pruning of histograms for search (see `Histogram::pruned`).
pub const PRUNE_KEEP_MASS: f64 = 0.99;
pub const PRUNE_MAX_BINS: usize = 64;
/// Pixels with less alpha than this are ignored.
pub const MIN_ALPHA: u8 = 128;

/// Flat bin index of per-axis indices.
#[inline]
pub const fn flat_index(l: usize, a: usize, b: usize) -> usize {
    l * (A_BINS * B_BINS) + a * B_BINS + b
}

/// Per-axis indices of a flat bin index (`bin < BINS`).
#[inline]
pub const fn axis_indices(bin: usize) -> (usize, usize, usize) {
    (bin / (A_BINS * B_BINS), (bin / B_BINS) % A_BINS, bin % B_BINS)
}

fn axis_center(i: usize, (min, max): (f64, f64), n: usize) -> f64 {
    min + (i as f64 + 0.5) * (max - min) / n as f64
}

/// The Lab color at the center of a bin.
pub fn bin_center(bin: usize) -> [f64; 3] {
    let (l, a, b) = axis_indices(bin);
    [axis_center(l, L_RANGE, L_BINS), axis_center(a, A_RANGE, A_BINS), axis_center(b, B_RANGE, B_BINS)]
}

/// The tri-linear kernel on one axis. Bin `i` of `n` over `[min, max]` has its center at
/// `min + (i + 0.5) * (max - min) / n`; a value is split between the two centers around it,
/// linearly by distance, and values beyond the outer centers go wholly to the outer bin.
/// Returns the lower neighbour's index and the weight of the upper one.
#[inline]
fn axis_split(v: f64, (min, max): (f64, f64), n: usize) -> (usize, f64) {
    let c = (v - min) / (max - min) * n as f64 - 0.5;
    // NaN lands on bin 0 with f = 0: harmless, and no input path produces it.
    let i = c.floor().clamp(0.0, (n - 2) as f64);
    let f = (c - i).clamp(0.0, 1.0);
    (i as usize, if f.is_nan() { 0.0 } else { f })
}

/// A dense 1152-bin histogram (f64 so that sums over many pixels stay exact to 1e-6 per bin).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    mass: Box<[f64; BINS]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Self { mass: Box::new([0.0; BINS]) }
    }
}

impl Histogram {
    pub fn as_slice(&self) -> &[f64; BINS] {
        &self.mass
    }

    pub fn total(&self) -> f64 {
        self.mass.iter().sum()
    }

    /// Adds `weight` at `lab`, spread over the 8 surrounding bin centers.
    #[inline]
    pub fn splat(&mut self, lab: [f64; 3], weight: f64) {
        let (li, lf) = axis_split(lab[0], L_RANGE, L_BINS);
        let (ai, af) = axis_split(lab[1], A_RANGE, A_BINS);
        let (bi, bf) = axis_split(lab[2], B_RANGE, B_BINS);
        for (dl, wl) in [(0, 1.0 - lf), (1, lf)] {
            for (da, wa) in [(0, 1.0 - af), (1, af)] {
                let base = flat_index(li + dl, ai + da, bi);
                let w = weight * wl * wa;
                self.mass[base] += w * (1.0 - bf);
                self.mass[base + 1] += w * bf;
            }
        }
    }

    /// Adds `mass` to one bin (out-of-range bins are ignored).
    pub fn splat_bin(&mut self, bin: usize, mass: f64) {
        if let Some(slot) = self.mass.get_mut(bin) {
            *slot += mass;
        }
    }

    /// Scales to unit mass; `false` (and unchanged) when the histogram is empty.
    pub fn normalize(&mut self) -> bool {
        let total = self.total();
        if !(total > 0.0 && total.is_finite()) {
            return false;
        }
        self.mass.iter_mut().for_each(|m| *m /= total);
        true
    }

    /// The non-zero bins, in ascending bin order.
    pub fn to_sparse(&self) -> SparseHistogram {
        let mut sparse = SparseHistogram::default();
        for (bin, &m) in self.mass.iter().enumerate() {
            if m > 0.0 {
                sparse.bins.push(bin as u16);
                sparse.mass.push(m);
            }
        }
        sparse
    }

    /// The largest bins that together hold `PRUNE_KEEP_MASS` of the mass (at most
    /// `PRUNE_MAX_BINS`), renormalised, ascending by bin. The tri-linear kernel spreads every pixel
    /// over 8 bins, leaving a long tail of tiny bins that cost Sinkhorn time and bundle bytes but
    /// barely move a distance. Stored histograms and query histograms are pruned alike.
    pub fn pruned(&self) -> SparseHistogram {
        let mut bins: Vec<usize> = (0..BINS).filter(|&b| self.mass[b] > 0.0).collect();
        bins.sort_by(|&x, &y| self.mass[y].total_cmp(&self.mass[x]).then(x.cmp(&y)));
        let total: f64 = bins.iter().map(|&b| self.mass[b]).sum();
        let mut kept = 0.0;
        let mut keep = 0;
        for &b in &bins {
            if keep == PRUNE_MAX_BINS || (keep > 0 && kept >= PRUNE_KEEP_MASS * total) {
                break;
            }
            kept += self.mass[b];
            keep += 1;
        }
        bins.truncate(keep);
        bins.sort_unstable();
        SparseHistogram { bins: bins.iter().map(|&b| b as u16).collect(), mass: bins.iter().map(|&b| self.mass[b] / kept).collect() }
    }

    /// Rebuilds a dense histogram; bins out of range are ignored.
    pub fn from_sparse(sparse: SparseView<'_>) -> Self {
        let mut h = Self::default();
        for (bin, m) in sparse.iter() {
            if let Some(slot) = h.mass.get_mut(bin as usize) {
                *slot += m;
            }
        }
        h
    }
}

/// Bins with mass, ascending, as stored in bundles and fed to Sinkhorn.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseHistogram {
    pub bins: Vec<u16>,
    pub mass: Vec<f64>,
}

impl SparseHistogram {
    pub fn view(&self) -> SparseView<'_> {
        SparseView { bins: &self.bins, mass: Masses::Exact(&self.mass) }
    }
}

/// A borrowed sparse histogram: `bins[i]` (< BINS) holds mass `i` of `mass`.
#[derive(Clone, Copy, Debug)]
pub struct SparseView<'a> {
    pub bins: &'a [u16],
    pub mass: Masses<'a>,
}

/// The masses of a [`SparseView`]: as computed, or as a bundle stores them (u16 counts, read as
/// `count / sum`: 2 bytes a bin in memory instead of 8, the same values as dividing up front).
#[derive(Clone, Copy, Debug)]
pub enum Masses<'a> {
    Exact(&'a [f64]),
    Quantized { counts: &'a [u16], sum: f64 },
}

impl Masses<'_> {
    pub fn len(&self) -> usize {
        match self {
            Self::Exact(m) => m.len(),
            Self::Quantized { counts, .. } => counts.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Mass `i` (`i < len()`).
    #[inline]
    pub fn get(&self, i: usize) -> f64 {
        match self {
            Self::Exact(m) => m[i],
            Self::Quantized { counts, sum } => counts[i] as f64 / sum,
        }
    }
}

impl<'a> SparseView<'a> {
    /// `(bin, mass)` pairs (as many as the shorter of the two lists).
    pub fn iter(&self) -> impl Iterator<Item = (u16, f64)> + 'a {
        let (bins, mass) = (self.bins, self.mass);
        (0..bins.len().min(mass.len())).map(move |i| (bins[i], mass.get(i)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistogramError {
    #[error("the image has no pixels")]
    Empty,
    #[error("every pixel is transparent")]
    FullyTransparent,
    #[error(transparent)]
    BadBuffer(#[from] BadBuffer),
}

/// Histogram of RGBA pixels as they are (no resizing): every pixel with alpha >= 128 adds unit mass.
pub fn pixels_histogram(image: &RgbaImage) -> Result<Histogram, HistogramError> {
    image.check()?;
    if image.width == 0 || image.height == 0 {
        return Err(HistogramError::Empty);
    }
    let mut h = Histogram::default();
    let mut cache: Option<(Rgb, [f64; 3])> = None;
    for px in image.pixels.chunks_exact(4) {
        if px[3] < MIN_ALPHA {
            continue;
        }
        let rgb = [px[0], px[1], px[2]];
        // Runs of equal pixels are common (flat areas, graphics): skip the Lab conversion for them.
        let lab = match cache {
            Some((c, lab)) if c == rgb => lab,
            _ => {
                let lab = srgb_to_lab(rgb);
                cache = Some((rgb, lab));
                lab
            }
        };
        h.splat(lab, 1.0);
    }
    if !h.normalize() {
        return Err(HistogramError::FullyTransparent);
    }
    Ok(h)
}

/// What [`image_histogram`] makes of an image.
#[derive(Clone, Debug)]
pub struct ImageHistogram {
    pub histogram: Histogram,
    /// The image downscaled to at most `MAX_SIDE`, as it is (background included): thumbnails use it.
    pub small: RgbaImage,
    /// Whether a plain background was found and left out of `histogram` (only ever with
    /// [`BackgroundMode::Ignore`]).
    pub background_removed: bool,
}

/// The image pipeline shared by the builder and the browser: downscale (area average) so the long
/// side is at most 256 px, leave out a plain background if the site's `background` mode says so
/// (`background::remove_plain_background`), then histogram.
pub fn image_histogram(image: &RgbaImage, background: BackgroundMode) -> Result<ImageHistogram, HistogramError> {
    image.check()?;
    let small = downscale_to_fit(image, MAX_SIDE);
    let foreground = match background {
        BackgroundMode::Keep => None,
        BackgroundMode::Ignore => remove_plain_background(&small),
    };
    let histogram = pixels_histogram(foreground.as_ref().unwrap_or(&small))?;
    Ok(ImageHistogram { histogram, small, background_removed: foreground.is_some() })
}

/// Up to `max` dominant colors with their share of the mass (descending): a few rounds of
/// mass-weighted k-means over the bin centers, seeded by well-separated peaks.
pub fn dominant_colors(h: &Histogram, max: usize) -> Vec<(Rgb, f64)> {
    const MIN_SEPARATION: f64 = 18.0; // ΔE76 between seeds, so that seeds are different colors
    let mass = h.as_slice();
    let mut order: Vec<usize> = (0..BINS).filter(|&b| mass[b] > 0.0).collect();
    order.sort_by(|&x, &y| mass[y].total_cmp(&mass[x]).then(x.cmp(&y)));
    let mut centers: Vec<[f64; 3]> = Vec::new();
    for &bin in &order {
        if centers.len() == max {
            break;
        }
        let c = bin_center(bin);
        if centers.iter().all(|s| delta_e(*s, c) >= MIN_SEPARATION) {
            centers.push(c);
        }
    }
    let mut shares = vec![0.0; centers.len()];
    for _ in 0..6 {
        let mut sums = vec![[0.0f64; 3]; centers.len()];
        shares.iter_mut().for_each(|s| *s = 0.0);
        for &bin in &order {
            let c = bin_center(bin);
            let nearest = (0..centers.len()).min_by(|&i, &j| delta_e(centers[i], c).total_cmp(&delta_e(centers[j], c))).unwrap_or(0);
            shares[nearest] += mass[bin];
            for k in 0..3 {
                sums[nearest][k] += mass[bin] * c[k];
            }
        }
        for (i, center) in centers.iter_mut().enumerate() {
            if shares[i] > 0.0 {
                *center = [sums[i][0] / shares[i], sums[i][1] / shares[i], sums[i][2] / shares[i]];
            }
        }
    }
    // One color splats over up to 8 bins, so neighbouring seeds can split it: merge near-equal centers.
    const MERGE_BELOW: f64 = 20.0;
    loop {
        let mut closest: Option<(usize, usize, f64)> = None;
        for i in 0..centers.len() {
            for j in i + 1..centers.len() {
                let d = delta_e(centers[i], centers[j]);
                if d < MERGE_BELOW && closest.is_none_or(|c| d < c.2) {
                    closest = Some((i, j, d));
                }
            }
        }
        let Some((i, j, _)) = closest else { break };
        let (si, sj) = (shares[i], shares[j]);
        if si + sj > 0.0 {
            let (ci, cj) = (centers[i], centers[j]);
            centers[i] = std::array::from_fn(|k| (ci[k] * si + cj[k] * sj) / (si + sj));
        }
        shares[i] = si + sj;
        centers.remove(j);
        shares.remove(j);
    }
    let total: f64 = shares.iter().sum();
    let mut out: Vec<(Rgb, f64)> =
        centers.iter().zip(&shares).filter(|(_, &s)| s > 0.0).map(|(c, &s)| (lab_to_srgb(*c), if total > 0.0 { s / total } else { 0.0 })).collect();
    out.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splat_keeps_unit_mass_inside_and_outside_range() {
        for lab in [[50.0, 0.0, 0.0], [0.0, -86.0, -108.0], [100.0, 98.0, 95.0], [150.0, -300.0, 400.0]] {
            let mut h = Histogram::default();
            h.splat(lab, 1.0);
            assert!((h.total() - 1.0).abs() < 1e-12, "{lab:?}");
        }
    }

    #[test]
    fn bin_center_splats_to_itself() {
        for bin in [0, 1, 145, 600, BINS - 1] {
            let mut h = Histogram::default();
            h.splat(bin_center(bin), 1.0);
            assert!((h.as_slice()[bin] - 1.0).abs() < 1e-9, "bin {bin}");
        }
    }

    #[test]
    fn dominant_colors_of_two_color_image() {
        let mut h = Histogram::default();
        h.splat(srgb_to_lab([255, 0, 0]), 0.7);
        h.splat(srgb_to_lab([30, 90, 200]), 0.3);
        let colors = dominant_colors(&h, 5);
        assert_eq!(colors.len(), 2);
        assert!((colors[0].1 - 0.7).abs() < 1e-9);
        assert!(delta_e(srgb_to_lab(colors[0].0), srgb_to_lab([255, 0, 0])) < 3.0, "{colors:?}");
        assert!(delta_e(srgb_to_lab(colors[1].0), srgb_to_lab([30, 90, 200])) < 3.0, "{colors:?}");
    }
}

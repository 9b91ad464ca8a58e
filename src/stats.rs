//! Per-point statistics of one histogram, and the change between two points.
//!
//! Pure numbers, no I/O and no formatting. Everything here works on the normalised
//! [`Histogram`] (`docs/format.md`, "Statistics"):
//!
//! * **Percentiles** ([`compress`], [`compress_at`]) are TensorBoard's Distributions-dashboard
//!   values, a port of `tensorboard/plugins/distribution/compressor.py::compress_histogram`:
//!   counts are scaled to 10 000 (`count * 10000 / total`, the total summed the way numpy's
//!   pairwise `sum` does), accumulated left to right, and for every basis point the first bucket
//!   whose cumulative weight is strictly greater is found with numpy's `searchsorted(side="right")`
//!   (NaN sorts last). Buckets whose cumulative weight does not grow are skipped. Inside the chosen
//!   bucket the value is interpolated linearly between `lhs` and `rhs`, where `lhs` is the overall
//!   left edge when the bucket is the first one *or nothing lies before it* (cumulative weight 0),
//!   else `max(previous right edge, overall left edge)`, and `rhs = min(right edge, overall right
//!   edge)`. Basis points left over once the buckets run out get the overall right edge. No
//!   buckets at all gives nine zeros. The median and IQR use the same interpolation at 5000,
//!   2500 and 7500 basis points.
//! * **Moments**: legacy protos carry `num`, `sum`, `sum_squares`, so mean and (population)
//!   variance are exact there (variance clamped at 0; non-finite fields fall back to the
//!   buckets). Otherwise they are estimated from bucket midpoints; zero-width buckets contribute
//!   their exact value; Sheppard's correction (`−h²/12` on the variance, `−h²μ₂/2 + 7h⁴/240` on
//!   the fourth moment, weighted by the mass in non-zero-width buckets) is applied only when every
//!   non-zero-width bucket has the same width `h` (relative tolerance 1e-6), i.e. TF2's 30 bins or
//!   numpy's equal-width rules, never to TF's exponential buckets. Skewness and excess kurtosis
//!   always come from the buckets (the proto has only two moments).
//! * **Mode and modes** use densities (count / width), never raw counts, because legacy bucket
//!   widths span 30 orders of magnitude. See [`density`] for the uniform rebinning and
//!   [`PointStats::modes`] for the peak rule.
//! * **Change** between two points ([`change`]): exact bitwise equality first, then
//!   Wasserstein-1 and Kolmogorov–Smirnov distances between the piecewise-linear CDFs ([`Cdf`]).

use crate::histogram::{Bucket, Histogram};
use serde::Serialize;

/// Basis points of TensorBoard's Distributions dashboard: the normal CDF at
/// −∞, −1.5σ, −1σ, −0.5σ, 0, 0.5σ, 1σ, 1.5σ, +∞ (`compressor.py::NORMAL_HISTOGRAM_BPS`).
pub const TB_BASIS_POINTS: [u32; 9] = [0, 668, 1587, 3085, 5000, 6915, 8413, 9332, 10000];

/// [`TB_BASIS_POINTS`] with the quartiles merged in, ascending.
const WITH_QUARTILES: [f64; 11] = [
    0.0, 668.0, 1587.0, 2500.0, 3085.0, 5000.0, 6915.0, 7500.0, 8413.0, 9332.0, 10000.0,
];

pub use crate::histogram::EQUAL_WIDTH_RTOL;

/// Half-width of the interval TF's default legacy buckets resolve around zero: its smallest
/// limits are ±1e-12, so `[-1e-12, 0)` and `[0, 1e-12)` hold the (essentially) zero values.
pub const ZERO_BUCKET_HALF_WIDTH: f64 = 1e-12;

// ---------------------------------------------------------------------------------------------
// TensorBoard's compressor
// ---------------------------------------------------------------------------------------------

/// TensorBoard's nine Distributions-dashboard values for `h`, computed exactly as
/// `compressor.py::compress_histogram` does on the same `[left, right, count]` rows (float64).
///
/// Note: TensorBoard's Python loader converts *legacy* histograms to float32 rows
/// (`data_compat._migrate_histogram_value`) before compressing, so values shown for legacy
/// histograms can differ from these in the 7th significant digit.
pub fn compress(h: &Histogram) -> [f64; 9] {
    let bps = TB_BASIS_POINTS.map(f64::from);
    let v = compress_at(h, &bps);
    let mut out = [0.0; 9];
    out.copy_from_slice(&v);
    out
}

/// The compressor's interpolation at arbitrary basis points (ascending, 0…10000), counts scaled
/// to 10 000 as for the dashboard's list.
///
/// A [compact](Histogram::compact) list lacks the empty buckets between filled ones: the
/// bucket before a filled one in the full list ends where the filled one starts (legacy
/// buckets share their limits), so its own left edge stands in for that right edge, and the
/// cumulative weight before it is the previous kept bucket's. The total is summed over the
/// kept counts, which is the same number for whole counts (every writer's).
pub fn compress_at(h: &Histogram, bps: &[f64]) -> Vec<f64> {
    let buckets = &h.buckets[..];
    if buckets.is_empty() {
        return vec![0.0; bps.len()];
    }
    let minmin = buckets[0].left;
    let maxmax = buckets[buckets.len() - 1].right;
    let total = numpy_pairwise_sum(buckets);
    // `counts.sum() or 1.0`: only an exact zero is falsy (NaN is truthy).
    let denom = if total == 0.0 { 1.0 } else { total };
    // Always scaled to 10 000 basis points (`bps[-1]` of the dashboard's list), whatever
    // points are asked for.
    let scale = 10000.0;
    let mut acc = 0.0;
    let weights: Vec<f64> = buckets
        .iter()
        .map(|b| {
            acc += b.count * scale / denom;
            acc
        })
        .collect();
    let mut result = Vec::with_capacity(bps.len());
    let mut j = 0;
    'outer: while j < bps.len() {
        let bp = bps[j];
        let mut i = np_searchsorted_right(&weights, bp);
        loop {
            if i >= weights.len() {
                break 'outer;
            }
            let cumsum = weights[i];
            let cumsum_prev = if i > 0 { weights[i - 1] } else { 0.0 };
            if cumsum == cumsum_prev {
                i += 1;
                continue;
            }
            let lhs = if i == 0 || cumsum_prev == 0.0 {
                minmin
            } else if h.compact {
                py_max(buckets[i].left, minmin)
            } else {
                py_max(buckets[i - 1].right, minmin)
            };
            let rhs = py_min(buckets[i].right, maxmax);
            result.push(lhs + (bp - cumsum_prev) * (rhs - lhs) / (cumsum - cumsum_prev));
            j += 1;
            break;
        }
    }
    while result.len() < bps.len() {
        result.push(maxmax);
    }
    result
}

/// Python's `max(a, b)`: `a` unless `b > a`.
fn py_max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}

/// Python's `min(a, b)`: `a` unless `b < a`.
fn py_min(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

/// numpy's ordering for floats: NaN sorts after everything.
fn np_less(a: f64, b: f64) -> bool {
    a < b || (b.is_nan() && !a.is_nan())
}

/// `np.searchsorted(a, v, side="right")` for one key, the same binary search numpy runs (so
/// the answer matches numpy even on unsorted input).
fn np_searchsorted_right(a: &[f64], v: f64) -> usize {
    let (mut lo, mut hi) = (0usize, a.len());
    while lo < hi {
        let mid = lo + ((hi - lo) >> 1);
        if !np_less(v, a[mid]) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Something numpy's pairwise sum can run over: plain floats, or the counts of buckets (read in
/// place, so the compressor copies nothing).
trait Summand: Copy {
    fn value(self) -> f64;
}
impl Summand for &f64 {
    fn value(self) -> f64 {
        *self
    }
}
impl Summand for &Bucket {
    fn value(self) -> f64 {
        self.count
    }
}

/// numpy's pairwise summation for float64 (`add.reduce`, blocks of 128, 8 accumulators).
fn numpy_pairwise_sum<'a, T>(a: &'a [T]) -> f64
where
    &'a T: Summand,
{
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for x in a {
            res += x.value();
        }
        res
    } else if n <= 128 {
        let mut r = [0.0; 8];
        for (r, x) in r.iter_mut().zip(&a[..8]) {
            *r = x.value();
        }
        let mut i = 8;
        while i < n - (n % 8) {
            for k in 0..8 {
                r[k] += a[i + k].value();
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i].value();
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        numpy_pairwise_sum(&a[..n2]) + numpy_pairwise_sum(&a[n2..])
    }
}

// ---------------------------------------------------------------------------------------------
// Point statistics
// ---------------------------------------------------------------------------------------------

/// A prominent peak of the (rebinned, lightly smoothed) density.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peak {
    /// Where the peak is (cell centre refined by a parabola through the three smoothed cells).
    pub location: f64,
    /// Smoothed density at the peak, as a fraction of all values per unit of x.
    pub density: f64,
    /// Fraction of all values in the peak's basin: the cells between the lowest points that
    /// separate it from its neighbouring peaks (or the range ends).
    pub mass: f64,
}

/// What an expert reads off one histogram.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointStats {
    /// Number of values: exact `num` for legacy histograms, the sum of counts otherwise.
    pub count: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// True when mean and std come from the proto's exact `sum`/`sum_squares`.
    pub exact_moments: bool,
    /// The nine TensorBoard Distributions values ([`TB_BASIS_POINTS`]).
    pub percentiles: [f64; 9],
    pub median: f64,
    /// p75 − p25, both by the compressor's interpolation.
    pub iqr: f64,
    /// Location of the largest density (count / width). A zero-width bucket with mass has
    /// infinite density and wins. With variable-width buckets, buckets holding less than half
    /// the mass of an average [`density`] cell are ignored (one value in a 1e-12-wide bucket
    /// would otherwise win); if none qualifies the highest of `modes` is used.
    pub mode: f64,
    /// Prominent peaks, ascending by location: local maxima of the [`density`] grid smoothed
    /// with the kernel [1, 2, 1]/4 (ends [2, 1]/3; no smoothing when the writer's equal bins
    /// are already coarser than the grid rule) whose prominence (scipy `find_peaks`
    /// definition, with the density taken as 0 beyond the range ends) is at least
    /// [`PEAK_MIN_REL_PROMINENCE`] of the highest cell *and* at least [`PEAK_NOISE_Z`] Poisson
    /// standard deviations of the difference between the peak and its base (counts taken as
    /// counts; the smoothing variance factor 3/8 applied).
    pub modes: Vec<Peak>,
    /// Fraction of values at exactly zero: zero-width buckets at 0, plus buckets inside
    /// ±[`ZERO_BUCKET_HALF_WIDTH`] that contain 0 (TF's and torch's default buckets put exact
    /// zeros in `[0, 1e-12)`). Equal-width bins (TF2, numpy) mix zeros with their neighbours, so
    /// this is 0 there unless the writer made a zero-width bucket; [`crate::shape`] looks at the
    /// edge buckets instead.
    pub zero_fraction: f64,
    /// Any NaN/±Inf in edges, counts or exact fields.
    pub nonfinite: bool,
    /// Population skewness g₁ from the buckets.
    pub skewness: f64,
    /// Population excess kurtosis g₂ from the buckets.
    pub excess_kurtosis: f64,
}

/// Smallest peak prominence, as a fraction of the highest smoothed cell.
pub const PEAK_MIN_REL_PROMINENCE: f64 = 0.10;
/// Smallest peak prominence in Poisson standard deviations.
pub const PEAK_NOISE_Z: f64 = 3.5;

/// The cheap part of [`PointStats`], computed for every point while a logdir streams by:
/// O(buckets), no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Moments {
    pub count: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub std: f64,
    pub exact_moments: bool,
    pub nonfinite: bool,
}

/// Count, range, mean and std exactly as [`point_stats`] computes them.
pub fn moments(h: &Histogram) -> Moments {
    moments_given(h, None)
}

/// [`moments`], with the bucket moments when the caller has them already.
fn moments_given(h: &Histogram, bm: Option<&BucketMoments>) -> Moments {
    // The extent of the non-empty buckets and, for the tensor form, the total (NaN counts
    // count as "something"). The extent is found from both ends (legacy histograms are
    // trimmed to their non-empty buckets, so those scans stop at once).
    let first = h.buckets.iter().position(|b| b.count != 0.0);
    let last = h.buckets.iter().rposition(|b| b.count != 0.0);
    // Buckets hold no negative counts (`check_order`), so their total is zero exactly when no
    // count is non-zero (NaN counts as non-zero, and makes the total NaN): a legacy histogram,
    // whose count is `num`, needs no serial sum over its hundreds of buckets.
    let total = match h.exact {
        Some(_) => f64::from(u8::from(first.is_some())),
        None => h.buckets.iter().fold(0.0, |t, b| t + b.count),
    };
    let count = h.exact.map_or(total, |e| e.num);
    let nonfinite = h.has_nonfinite();
    if count == 0.0 || total == 0.0 || h.buckets.is_empty() {
        let nan = f64::NAN;
        return Moments {
            count: if count.is_nan() { nan } else { 0.0 },
            min: nan,
            max: nan,
            mean: nan,
            std: nan,
            exact_moments: false,
            nonfinite,
        };
    }
    let (first, last) = match (first, last) {
        (Some(f), Some(l)) => (f, l),
        _ => (0, h.buckets.len() - 1),
    };
    let (bmin, bmax) = (h.buckets[first].left, h.buckets[last].right);
    let exact = h.exact.filter(|e| {
        e.num.is_finite()
            && e.num > 0.0
            && e.sum.is_finite()
            && e.sum_squares.is_finite()
            && e.min.is_finite()
            && e.max.is_finite()
            && e.min <= e.max
    });
    let (min, max, mean, std, exact_moments) = match exact {
        Some(e) => {
            let mean = e.sum / e.num;
            let var = (e.sum_squares / e.num - mean * mean).max(0.0);
            let std = if e.min == e.max { 0.0 } else { var.sqrt() };
            (e.min, e.max, mean, std, true)
        }
        None => {
            let bm = match bm {
                Some(bm) => *bm,
                None => bucket_moments_to::<false>(&h.buckets, h.equal_width()),
            };
            (bmin, bmax, bm.mean, bm.var.sqrt(), false)
        }
    };
    Moments {
        count,
        min,
        max,
        mean,
        std,
        exact_moments,
        nonfinite,
    }
}

impl PointStats {
    /// The [`Moments`] part.
    pub fn moments(&self) -> Moments {
        Moments {
            count: self.count,
            min: self.min,
            max: self.max,
            mean: self.mean,
            std: self.std,
            exact_moments: self.exact_moments,
            nonfinite: self.nonfinite,
        }
    }
}

/// Computes every per-point statistic. Never panics; damaged data gives NaNs.
pub fn point_stats(h: &Histogram) -> PointStats {
    point_stats_and_density(h, None).0
}

/// [`point_stats`], with the density grid they were read from ([`density`] of the histogram
/// and its count) and the histogram's [`Histogram::bucket_total`], for the shape's tests that
/// read them too; `moments`, when given, must be [`moments`] of `h` (a reader that has them
/// already need not compute them again).
pub fn point_stats_and_density(
    h: &Histogram,
    moments: Option<&Moments>,
) -> (PointStats, Option<Density>, f64) {
    // Each of these is computed once and shared by the parts below.
    let ew = h.equal_width();
    let bm = bucket_moments(&h.buckets, ew);
    let m = match moments {
        Some(m) => *m,
        None => moments_given(h, Some(&bm)),
    };
    // The bucket total once (a sum over hundreds of torch buckets is not free).
    let (count, nonfinite, total) = (m.count, m.nonfinite, h.bucket_total());
    // Holds no values: no buckets, or zero count or bucket total.
    if h.count_given(total) == 0.0 || total == 0.0 || h.buckets.is_empty() {
        let nan = f64::NAN;
        let stats = PointStats {
            count,
            min: nan,
            max: nan,
            mean: nan,
            std: nan,
            exact_moments: false,
            percentiles: [nan; 9],
            median: nan,
            iqr: nan,
            mode: nan,
            modes: Vec::new(),
            zero_fraction: nan,
            nonfinite,
            skewness: nan,
            excess_kurtosis: nan,
        };
        return (stats, None, total);
    }

    let (min, max, mean, std, exact_moments) = (m.min, m.max, m.mean, m.std, m.exact_moments);

    // TensorBoard's nine basis points and the quartiles in one pass of the compressor (each
    // point is interpolated on its own, so asking for them together changes nothing).
    let all = compress_at(h, &WITH_QUARTILES);
    let percentiles = [0, 1, 2, 4, 5, 6, 8, 9, 10].map(|i| all[i]);
    let q = [all[3], all[5], all[7]];
    let n_eff = if count.is_finite() && count > 0.0 {
        count
    } else {
        total
    };
    let grid = density_given(h, n_eff, ew);
    let modes = grid.as_ref().map(find_peaks).unwrap_or_default();
    let mode = mode_of(h, total, ew.is_some(), grid.as_ref(), &modes);

    // A fold from +0.0, not `sum()`: an empty float sum is -0.0, which would print as `-0`.
    let zero_mass: f64 = h
        .buckets
        .iter()
        .filter(|b| is_zero_bucket(b))
        .fold(0.0, |acc, b| acc + b.count);

    let stats = PointStats {
        count,
        min,
        max,
        mean,
        std,
        exact_moments,
        percentiles,
        median: q[1],
        iqr: q[2] - q[0],
        mode,
        modes,
        zero_fraction: zero_mass / total,
        nonfinite,
        skewness: bm.skewness,
        excess_kurtosis: bm.excess_kurtosis,
    };
    (stats, grid, total)
}

/// True for a bucket that holds (essentially) exact zeros: see [`PointStats::zero_fraction`].
pub fn is_zero_bucket(b: &Bucket) -> bool {
    let lim = ZERO_BUCKET_HALF_WIDTH * (1.0 + 1e-9);
    b.left <= 0.0 && b.right >= 0.0 && b.left >= -lim && b.right <= lim
}

/// Moments estimated from buckets.
#[derive(Debug, Clone, Copy)]
struct BucketMoments {
    mean: f64,
    var: f64,
    skewness: f64,
    excess_kurtosis: f64,
}

fn bucket_moments(buckets: &[Bucket], h: Option<f64>) -> BucketMoments {
    bucket_moments_to::<true>(buckets, h)
}

/// [`bucket_moments`] with the third and fourth moments only when `HIGHER` (NaN otherwise):
/// [`moments`] of every point needs only the mean and the variance, which are the same numbers
/// either way.
fn bucket_moments_to<const HIGHER: bool>(buckets: &[Bucket], h: Option<f64>) -> BucketMoments {
    let mid = |b: &Bucket| {
        if b.width() == 0.0 {
            b.left
        } else {
            0.5 * (b.left + b.right)
        }
    };
    // Both sums in one pass, each in bucket order from -0.0 as `Iterator::sum` adds.
    let (mut total, mut weighted) = (-0.0, -0.0);
    for b in buckets {
        total += b.count;
        weighted += b.count * mid(b);
    }
    let mean = weighted / total;
    let (mut m2, mut m3, mut m4, mut spread_mass) = (0.0, 0.0, 0.0, 0.0);
    for b in buckets {
        let d = mid(b) - mean;
        let d2 = d * d;
        m2 += b.count * d2;
        if HIGHER {
            m3 += b.count * d2 * d;
            m4 += b.count * d2 * d2;
        }
        if b.width() > 0.0 {
            spread_mass += b.count;
        }
    }
    m2 /= total;
    m3 /= total;
    m4 /= total;
    if let Some(h) = h {
        // Sheppard's corrections, for the share of mass that sits in real (non-zero-width) bins.
        let p = spread_mass / total;
        let h2 = h * h;
        let m2c = (m2 - p * h2 / 12.0).max(0.0);
        m4 = (m4 - p * (0.5 * h2 * m2 - 7.0 / 240.0 * h2 * h2)).max(0.0);
        m2 = m2c;
    }
    let (skewness, excess_kurtosis) = if HIGHER && m2 > 0.0 {
        (m3 / m2.powf(1.5), m4 / (m2 * m2) - 3.0)
    } else {
        (f64::NAN, f64::NAN)
    };
    BucketMoments {
        mean,
        var: m2,
        skewness,
        excess_kurtosis,
    }
}

// ---------------------------------------------------------------------------------------------
// Density on a uniform grid, peaks, mode
// ---------------------------------------------------------------------------------------------

/// The histogram's mass spread onto `cells.len()` equal cells over `[lo, hi]` (the extent of
/// the non-empty buckets), assuming a uniform density inside each bucket; zero-width buckets
/// drop their mass into the cell that contains them. This makes TF2's 30 bins, TF's exponential
/// buckets and numpy's rules comparable: densities are read on one uniform grid.
///
/// Grid size: equal-width histograms keep their own bins when they have at most
/// `2·grid_cells(n)` of them (and are spread onto `grid_cells(n)` cells otherwise); every other
/// histogram gets `grid_cells(n)` cells, the Rice rule `2·n^(1/3)` clamped to 10…100.
#[derive(Debug, Clone, PartialEq)]
pub struct Density {
    pub lo: f64,
    pub hi: f64,
    pub cell: f64,
    /// Fraction of all values in each cell (sums to 1).
    pub mass: Vec<f64>,
    /// Number of values the fractions stand for (for the noise model).
    pub n: f64,
    /// Whether peak finding smooths the cells: only when the grid is at least as fine as
    /// `grid_cells(n)`; coarser native bins (numpy 'auto' at small n) are smooth enough.
    pub smooth: bool,
}

/// Rice rule `2·n^(1/3)`, clamped to 10…100 cells.
pub fn grid_cells(n: f64) -> usize {
    let g = (2.0 * n.max(1.0).cbrt()).round();
    (g as usize).clamp(10, 100)
}

/// Rebins `h` onto a uniform grid; `None` when there is no spread (no mass, a single value, or
/// non-finite edges).
pub fn density(h: &Histogram, n: f64) -> Option<Density> {
    density_given(h, n, h.equal_width())
}

/// [`density`] given the histogram's [`Histogram::equal_width`].
fn density_given(h: &Histogram, n: f64, ew: Option<f64>) -> Option<Density> {
    let is_filled = |b: &&Bucket| b.count > 0.0 && b.count.is_finite();
    let (lo, hi) = (
        h.buckets.iter().find(is_filled)?.left,
        h.buckets.iter().rfind(is_filled)?.right,
    );
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return None;
    }
    let target = grid_cells(n);
    let g = match ew {
        Some(w) => {
            let k = ((hi - lo) / w).round().max(1.0) as usize;
            if k <= 2 * target {
                k
            } else {
                target
            }
        }
        None => target,
    };
    let cell = (hi - lo) / g as f64;
    // `as usize` truncates toward 0 and saturates (NaN and negatives give 0): for the
    // non-negative quotients that matter it is `floor`, without a call into libm.
    let idx = |x: f64| (((x - lo) / cell) as usize).min(g - 1);
    let mut mass = vec![0.0; g];
    let mut cells = Cells {
        mass: &mut mass,
        cur: 0,
        acc: 0.0,
    };
    let mut total = 0.0;
    // The cell of the last right edge: neighbours share an edge, and a division is not free.
    let mut last_edge = (f64::NAN, 0);
    for b in h.buckets.iter().filter(is_filled) {
        total += b.count;
        let w = b.width();
        if w.is_nan() || w <= 0.0 {
            cells.add(idx(b.left), b.count);
            continue;
        }
        let i0 = if b.left == last_edge.0 {
            last_edge.1
        } else {
            idx(b.left)
        };
        let i1 = idx(b.right);
        last_edge = (b.right, i1);
        for i in i0..=i1 {
            let c_lo = lo + i as f64 * cell;
            let c_hi = if i + 1 == g { hi } else { c_lo + cell };
            let overlap = b.right.min(c_hi) - b.left.max(c_lo);
            if overlap > 0.0 {
                cells.add(i, b.count * overlap / w);
            }
        }
    }
    cells.finish();
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    // Overlaps lost to rounding at cell boundaries are put back proportionally.
    let got: f64 = mass.iter().sum();
    let norm = if got > 0.0 { got } else { total };
    for m in &mut mass {
        *m /= norm;
    }
    Some(Density {
        lo,
        hi,
        cell,
        mass,
        n,
        smooth: g >= target,
    })
}

/// A density grid being filled, for [`density`]: the cell being filled is summed in a
/// register and stored when the next bucket moves on (buckets come in order, so each cell is
/// filled in one stretch) — the same additions in the same order as `mass[i] += …`, without
/// waiting on memory between them.
struct Cells<'a> {
    mass: &'a mut [f64],
    cur: usize,
    acc: f64,
}

impl Cells<'_> {
    #[inline]
    fn add(&mut self, i: usize, v: f64) {
        if i != self.cur {
            self.mass[self.cur] = self.acc;
            (self.cur, self.acc) = (i, self.mass[i]);
        }
        self.acc += v;
    }

    fn finish(self) {
        self.mass[self.cur] = self.acc;
    }
}

impl Density {
    /// The masses smoothed with [1, 2, 1]/4 (ends [2, 1]/3), or as they are when `smooth` is
    /// false.
    pub fn smoothed(&self) -> Vec<f64> {
        let m = &self.mass;
        let g = m.len();
        if g < 3 || !self.smooth {
            return m.clone();
        }
        (0..g)
            .map(|i| {
                if i == 0 {
                    (2.0 * m[0] + m[1]) / 3.0
                } else if i == g - 1 {
                    (2.0 * m[g - 1] + m[g - 2]) / 3.0
                } else {
                    (m[i - 1] + 2.0 * m[i] + m[i + 1]) / 4.0
                }
            })
            .collect()
    }

    /// Centre of cell `i`.
    pub fn centre(&self, i: f64) -> f64 {
        self.lo + (i + 0.5) * self.cell
    }

    /// Mass fraction of the CDF between two x (cells split proportionally).
    pub fn mass_between(&self, a: f64, b: f64) -> f64 {
        let mut s = 0.0;
        for (i, m) in self.mass.iter().enumerate() {
            let c_lo = self.lo + i as f64 * self.cell;
            let c_hi = c_lo + self.cell;
            let ov = b.min(c_hi) - a.max(c_lo);
            if ov > 0.0 {
                s += m * ov / self.cell;
            }
        }
        s
    }
}

/// Significant peaks of the smoothed density grid, ascending by location.
pub fn find_peaks(d: &Density) -> Vec<Peak> {
    let s = d.smoothed();
    let g = s.len();
    if g == 0 {
        return Vec::new();
    }
    let n = d.n.max(1.0);
    let smax = s.iter().cloned().fold(0.0, f64::max);
    let var_factor = if d.smooth { 3.0 / 8.0 } else { 1.0 };
    let mut peaks: Vec<Peak> = Vec::new();
    // The last peak's cell, and the first cell of its basin: basins split at the lowest
    // smoothed cell between consecutive peaks, so a peak's mass is known at the next one.
    let mut last: Option<(usize, usize)> = None;
    // Candidate peaks: plateaus higher than both neighbours (range ends count as lower).
    let mut i = 0;
    while i < g {
        let rising = i == 0 || s[i - 1] < s[i];
        let (a, mut b) = (i, i);
        while b + 1 < g && s[b + 1] == s[a] {
            b += 1;
        }
        i = b + 1;
        if !(rising && (b + 1 == g || s[b + 1] < s[a])) {
            continue;
        }
        let p = (a + b) / 2;
        let h = s[p];
        // The density is 0 outside [lo, hi]: a scan that reaches a range end sees that 0.
        let mut left_min = 0.0;
        if a > 0 {
            let mut mn = h;
            let mut reached_end = true;
            // Ties: an equal cell on the left counts as higher, so of two equal peaks only the
            // leftmost is measured against the range ends.
            for k in (0..a).rev() {
                if s[k] >= h {
                    reached_end = false;
                    break;
                }
                mn = mn.min(s[k]);
            }
            left_min = if reached_end { 0.0 } else { mn };
        }
        let mut right_min = 0.0;
        if b + 1 < g {
            let mut mn = h;
            let mut reached_end = true;
            for &v in &s[b + 1..] {
                if v > h {
                    reached_end = false;
                    break;
                }
                mn = mn.min(v);
            }
            right_min = if reached_end { 0.0 } else { mn };
        }
        let base: f64 = f64::max(left_min, right_min);
        let prom = h - base;
        let noise = (var_factor * (h + base).max(0.0) / n).sqrt();
        if prom >= PEAK_MIN_REL_PROMINENCE * smax && prom >= PEAK_NOISE_Z * noise && prom > 0.0 {
            let mut loc = (a + b) as f64 / 2.0;
            if a == b && a > 0 && a + 1 < g {
                let den = s[a - 1] - 2.0 * s[a] + s[a + 1];
                if den < 0.0 {
                    loc += (0.5 * (s[a - 1] - s[a + 1]) / den).clamp(-0.5, 0.5);
                }
            }
            let start = match (last, peaks.last_mut()) {
                (Some((l, start)), Some(before)) => {
                    let mut cut = l;
                    for k in l..=p {
                        if s[k] < s[cut] {
                            cut = k;
                        }
                    }
                    before.mass = d.mass[start..cut.max(start)].iter().sum();
                    cut
                }
                _ => 0,
            };
            last = Some((p, start));
            peaks.push(Peak {
                location: d.centre(loc),
                density: s[p] / d.cell,
                mass: 0.0,
            });
        }
    }
    if let (Some((_, start)), Some(p)) = (last, peaks.last_mut()) {
        p.mass = d.mass[start..g.max(start)].iter().sum();
    }
    peaks
}

fn mode_of(h: &Histogram, total: f64, equal: bool, grid: Option<&Density>, modes: &[Peak]) -> f64 {
    let min_mass = match grid {
        Some(d) if !equal => 0.5 / d.mass.len() as f64,
        _ => 0.0,
    };
    let mut best: Option<(f64, f64, f64)> = None; // (density, mass, location)
    for b in &h.buckets {
        if b.count.is_nan() || b.count <= 0.0 || b.count / total < min_mass {
            continue;
        }
        let w = b.width();
        let (dens, loc) = if w == 0.0 {
            (f64::INFINITY, b.left)
        } else {
            (b.count / w, 0.5 * (b.left + b.right))
        };
        let better = match best {
            None => true,
            Some((bd, bm, _)) => dens > bd || (dens == bd && dens.is_infinite() && b.count > bm),
        };
        if better {
            best = Some((dens, b.count, loc));
        }
    }
    match best {
        Some((_, _, loc)) => loc,
        None => modes
            .iter()
            .max_by(|a, b| a.density.total_cmp(&b.density))
            .map(|p| p.location)
            .unwrap_or(f64::NAN),
    }
}

// ---------------------------------------------------------------------------------------------
// Piecewise-linear CDF
// ---------------------------------------------------------------------------------------------

/// Spans across which the reference CDF rises by at most this are not checked inside by
/// [`Cdf::ks_against`] (the result is then at most this much too small).
pub const KS_SPAN_CHECK: f64 = 1e-3;

/// The histogram's CDF, linear inside each bucket (uniform density) and a step at each
/// zero-width bucket. Stored as knots `(x, F(x−), F(x+))`, ascending in x: the first `len` of
/// `store`, whose tail is room left from an earlier CDF in the same memory (so that reusing it
/// does not zero it again).
#[derive(Clone)]
pub struct Cdf {
    store: Vec<(f64, f64, f64)>,
    len: usize,
}

impl PartialEq for Cdf {
    fn eq(&self, other: &Cdf) -> bool {
        self.knots() == other.knots()
    }
}

impl std::fmt::Debug for Cdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cdf").field("knots", &self.knots()).finish()
    }
}

impl Cdf {
    /// `None` when the histogram holds no mass or has a non-finite edge or count.
    pub fn new(buckets: &[Bucket]) -> Option<Cdf> {
        Cdf::new_in(buckets, Vec::new())
    }

    /// [`Cdf::new`] in the memory of `knots` (a dropped CDF's, [`Cdf::into_knots`]): a series
    /// that builds a CDF per point then allocates none.
    pub fn new_in(buckets: &[Bucket], knots: Vec<(f64, f64, f64)>) -> Option<Cdf> {
        match Cdf::new_ordered(buckets, knots) {
            Ok(cdf) => cdf,
            Err(knots) => Cdf::new_any(buckets, knots),
        }
    }

    /// [`Cdf::new_in`] for what every writer emits — finite buckets of positive width, each
    /// starting at or after the end of the one before — in one pass without a branch on the
    /// data: a bucket's left edge becomes a knot unless it is the previous one's right edge
    /// (neighbours share it), its right edge always does, and empty buckets add none. These
    /// are the knots [`Cdf::new_any`] makes of such buckets, with the same sums; anything
    /// else gives the memory back for that.
    fn new_ordered(
        buckets: &[Bucket],
        mut knots: Vec<(f64, f64, f64)>,
    ) -> Result<Option<Cdf>, Vec<(f64, f64, f64)>> {
        // Written at `n` and kept by moving `n` on; what lies beyond is never read.
        let room = 2 * buckets.len() + 1;
        if knots.len() < room {
            knots.resize(room, (0.0, 0.0, 0.0));
        }
        let (mut n, mut cum, mut prev_right, mut ordered) = (0, 0.0, f64::NEG_INFINITY, true);
        // A filled bucket must start at or after the previous one's end and have a positive
        // width. Both comparisons fail on a NaN edge, so along that chain only the first left
        // and the last right edge can be infinite, and a count that is not finite makes the
        // sum so: finiteness is checked once, at the end.
        for b in buckets {
            let filled = b.count != 0.0;
            ordered &= !filled | ((b.left >= prev_right) & (b.right > b.left));
            knots[n] = (b.left, cum, cum);
            n += usize::from(filled & (b.left != prev_right));
            // An empty bucket adds ±0, which leaves the sum as it is.
            cum += b.count;
            knots[n] = (b.right, cum, cum);
            n += usize::from(filled);
            // Where empty and filled buckets alternate this is as good as random.
            prev_right = std::hint::select_unpredictable(filled, b.right, prev_right);
        }
        let first_left = buckets
            .iter()
            .find(|b| b.count != 0.0)
            .map_or(0.0, |b| b.left);
        if !(ordered & first_left.is_finite() & prev_right.is_finite() & cum.is_finite()) {
            return Err(knots);
        }
        Ok(Cdf::normalised(knots, n, cum))
    }

    /// [`Cdf::new_in`] for any buckets, validating as it builds. Only malformed input pays
    /// for a copy and a sort.
    fn new_any(buckets: &[Bucket], mut knots: Vec<(f64, f64, f64)>) -> Option<Cdf> {
        knots.clear();
        knots.reserve(2 * buckets.len());
        let push =
            |x: f64, fl: f64, fr: f64, knots: &mut Vec<(f64, f64, f64)>| match knots.last_mut() {
                Some(k) if k.0 == x => k.2 = fr,
                Some(k) if x < k.0 => {
                    // Overlapping (malformed) buckets: keep the CDF monotone in x.
                    k.2 = fr;
                }
                _ => knots.push((x, fl, fr)),
            };
        let mut cum = 0.0;
        let mut prev_left = f64::NEG_INFINITY;
        for b in buckets.iter().filter(|b| b.count != 0.0) {
            if !(b.left.is_finite() && b.right.is_finite() && b.count.is_finite()) {
                return None;
            }
            if b.left < prev_left {
                let mut v: Vec<Bucket> =
                    buckets.iter().copied().filter(|b| b.count != 0.0).collect();
                v.sort_by(|a, b| a.left.total_cmp(&b.left).then(a.right.total_cmp(&b.right)));
                return Cdf::new(&v);
            }
            prev_left = b.left;
            let (l, r) = (b.left.min(b.right), b.left.max(b.right));
            if r == l {
                push(l, cum, cum + b.count, &mut knots);
                cum += b.count;
            } else {
                push(l, cum, cum, &mut knots);
                cum += b.count;
                push(r, cum, cum, &mut knots);
            }
        }
        let n = knots.len();
        Cdf::normalised(knots, n, cum)
    }

    /// The CDF of the first `len` of `store`, holding cumulative counts up to `total`; `None`
    /// when that is no positive number.
    fn normalised(mut store: Vec<(f64, f64, f64)>, len: usize, total: f64) -> Option<Cdf> {
        if total.is_nan() || total <= 0.0 {
            return None;
        }
        let inv = 1.0 / total;
        for k in &mut store[..len] {
            k.1 *= inv;
            k.2 *= inv;
        }
        Some(Cdf { store, len })
    }

    /// The knots, ascending in x.
    fn knots(&self) -> &[(f64, f64, f64)] {
        &self.store[..self.len]
    }

    /// The knots' memory, for [`Cdf::new_in`].
    pub fn into_knots(self) -> Vec<(f64, f64, f64)> {
        self.store
    }

    /// `(F(x−), F(x+))` at any x.
    pub fn limits(&self, x: f64) -> (f64, f64) {
        let i = self.knots().partition_point(|k| k.0 < x);
        self.limits_from(x, i)
    }

    fn limits_from(&self, x: f64, i: usize) -> (f64, f64) {
        let k = self.knots();
        if i < k.len() && k[i].0 == x {
            return (k[i].1, k[i].2);
        }
        if i == 0 {
            return (0.0, 0.0);
        }
        if i == k.len() {
            return (1.0, 1.0);
        }
        let f = interpolate(&k[i - 1], &k[i], x);
        (f, f)
    }

    /// Right-continuous value F(x).
    pub fn at(&self, x: f64) -> f64 {
        self.limits(x).1
    }

    /// sup |F − G| against a continuous CDF G, checked at every knot (both limits) and at
    /// three interior points of every span between knots across which G rises by more than
    /// [`KS_SPAN_CHECK`]. Inside a span F is linear and G monotone, so |F − G| there exceeds its
    /// value at the ends by at most G's rise: skipping narrow spans changes the result by less
    /// than that, and saves most evaluations of G on histograms with hundreds of buckets.
    ///
    /// G is evaluated only where a value could reach the maximum, which is a handful of knots
    /// near the largest distance; the result is the same number, to the bit, as evaluating it
    /// everywhere. How, from what [`Reference`] tells of G:
    /// - Every value lies within [`Reference::eps`] of the value with G's estimate.
    /// - The knots are taken in blocks of 4. Inside a block F lies between its
    ///   values at the two bounding knots and G (monotone) between its own, so a block whose
    ///   extremes cannot reach the maximum is passed over whole (in the tails, where F and G
    ///   both hug 0 or 1, most are). The estimates at the block bounds, taken first, give a
    ///   lower bound of the maximum that decides this before G is evaluated anywhere.
    /// - Inside a span F is linear and G departs from its chord by at most
    ///   [`Reference::bend`], so the interior points cannot exceed the larger of the span's
    ///   end values by more than that; where G may bend much, they are bounded one by one.
    /// - Whether a span is checked is decided on the estimates unless they are within `2·eps`
    ///   of [`KS_SPAN_CHECK`]; there G decides, as in the definition.
    pub fn ks_against(&self, g: &impl Reference) -> f64 {
        let k = self.knots();
        let Some(last) = k.len().checked_sub(1) else {
            return f64::NAN;
        };
        let mut w = KsWalk {
            k,
            last,
            g,
            // Covers rounding in the differences (eps itself bounds the estimate).
            slack: g.eps() + 1e-9,
            lower: f64::NAN,
            d: f64::NAN,
            known: [(usize::MAX, f64::NAN); 2],
        };
        // A lower bound of the maximum from the block bounds: every value is at least its
        // estimate less `slack`.
        let (e0, e_last) = (g.estimate(k[0].0), g.estimate(k[last].0));
        let mut lower = w.reach_at(0, e0).max(w.reach_at(last, e_last));
        let mut i = KS_BLOCK;
        while i < last {
            lower = lower.max(w.reach_at(i, g.estimate(k[i].0)));
            i += KS_BLOCK;
        }
        w.lower = lower - w.slack;

        if last == 0 {
            w.knot(0, e0);
            return w.d;
        }
        // The last knot whose own values have been taken.
        let mut done = usize::MAX;
        let (mut a, mut ea) = (0, e0);
        while a < last {
            let b = (a + KS_BLOCK).min(last);
            let eb = if b == last {
                e_last
            } else {
                g.estimate(k[b].0)
            };
            let reach = (k[b].2 - (ea - w.slack)).max((eb + w.slack) - k[a].1);
            if !w.rules_out(reach) {
                if done != a {
                    w.knot(a, ea);
                }
                let mut e_prev = ea;
                for (j, &(x, ..)) in k.iter().enumerate().take(b + 1).skip(a + 1) {
                    let e = if j == b { eb } else { g.estimate(x) };
                    w.knot(j, e);
                    w.span(j, e_prev, e);
                    e_prev = e;
                }
                done = b;
            }
            (a, ea) = (b, eb);
        }
        w.d
    }

    /// Wasserstein-1 and Kolmogorov–Smirnov distances to another CDF.
    ///
    /// Both knot lists are strictly increasing: their union is walked in one merge. At a knot of
    /// one list the other CDF is interpolated inside its current span, or is 0 before its first
    /// knot and 1 after its last. Between two consecutive union knots both CDFs are linear, so
    /// their difference is too and its absolute integral is exact (`integral_abs_linear`).
    pub fn distances(&self, other: &Cdf) -> (f64, f64) {
        let (a, b) = (self.knots(), other.knots());
        let (Some(a0), Some(b0)) = (a.first(), b.first()) else {
            return (0.0, 0.0);
        };
        // F of a list at `x`, which lies strictly inside its span from knot `p` to knot `n`,
        // or before its first knot (no `p` yet).
        let inside = |p: Option<&(f64, f64, f64)>, n: &(f64, f64, f64), x: f64| {
            p.map_or(0.0, |p| interpolate(p, n, x))
        };
        let mut w1 = 0.0;
        let mut ks: f64 = 0.0;
        // Left of the first knot both CDFs are 0: the first step adds ∫ over a zero width.
        let (mut px, mut pd) = (a0.0.min(b0.0), 0.0);
        let mut visit = |x: f64, (al, ar): (f64, f64), (bl, br): (f64, f64)| {
            let (dl, dr) = (al - bl, ar - br);
            // `ks.max(|dl|).max(|dr|)` by plain comparisons, each a single `maxsd` where
            // `f64::max` takes five instructions for its care of NaN: a NaN (knots whose
            // counts overflowed) fails the comparison and is passed over, as `max` passes it.
            for d in [dl.abs(), dr.abs()] {
                if d > ks {
                    ks = d;
                }
            }
            w1 += integral_abs_linear(pd, dl, x - px);
            (px, pd) = (x, dr);
        };
        // What is left of each list, and the last knot of each passed.
        let (mut ra, mut rb) = (a, b);
        let (mut pa, mut pb) = (None, None);
        while let ([ka, ..], [kb, ..]) = (ra, rb) {
            if ka.0 < kb.0 {
                let f = inside(pb, kb, ka.0);
                visit(ka.0, (ka.1, ka.2), (f, f));
                (pa, ra) = (Some(ka), &ra[1..]);
            } else if kb.0 < ka.0 {
                let f = inside(pa, ka, kb.0);
                visit(kb.0, (f, f), (kb.1, kb.2));
                (pb, rb) = (Some(kb), &rb[1..]);
            } else {
                visit(ka.0, (ka.1, ka.2), (kb.1, kb.2));
                (pa, ra) = (Some(ka), &ra[1..]);
                (pb, rb) = (Some(kb), &rb[1..]);
            }
        }
        // One list is done: its CDF is 1 from here on.
        for &(x, l, r) in ra {
            visit(x, (l, r), (1.0, 1.0));
        }
        for &(x, l, r) in rb {
            visit(x, (1.0, 1.0), (l, r));
        }
        (w1, ks)
    }
}

/// A continuous reference CDF G for [`Cdf::ks_against`]: its values, and what lets the
/// distance be found while evaluating it at few points. A plain `Fn(f64) -> f64` is one that
/// tells nothing more.
pub trait Reference {
    /// G(x): monotone non-decreasing, from 0 to 1.
    fn at(&self, x: f64) -> f64;

    /// A cheap value within [`Reference::eps`] of `at(x)` (NaN only where that is).
    fn estimate(&self, x: f64) -> f64 {
        self.at(x)
    }

    /// How far [`Reference::estimate`] may be from [`Reference::at`].
    fn eps(&self) -> f64 {
        0.0
    }

    /// An upper bound of |G(x) − c(x)| for x from `xa` to `xb`, c the chord from G(xa) to
    /// G(xb); infinite when G may bend without bound there.
    fn bend(&self, xa: f64, xb: f64) -> f64 {
        let _ = (xa, xb);
        f64::INFINITY
    }
}

impl<F: Fn(f64) -> f64> Reference for F {
    fn at(&self, x: f64) -> f64 {
        self(x)
    }
}

/// Knots per block in [`Cdf::ks_against`]: 4 measured best on torch default bins (2 as
/// fast, 8 slower).
const KS_BLOCK: usize = 4;

/// The state of one [`Cdf::ks_against`]: the maximum so far (`d`, NaN before the first value,
/// as `f64::max` passes over NaN), its lower bound, and the last two values of G at knots
/// (slot `i % 2`), which a span's check may ask for again.
struct KsWalk<'a, G> {
    k: &'a [(f64, f64, f64)],
    last: usize,
    g: &'a G,
    slack: f64,
    lower: f64,
    d: f64,
    known: [(usize, f64); 2],
}

impl<G: Reference> KsWalk<'_, G> {
    /// Below this nothing can raise the result. A NaN bound rules nothing out (`x <= NaN` is
    /// false).
    fn floor(&self) -> f64 {
        self.lower.max(self.d)
    }

    /// Whether values estimated at most `reach` (each within `eps` of its estimate) cannot
    /// raise the maximum. False when either side is NaN.
    fn rules_out(&self, reach: f64) -> bool {
        reach + self.slack <= self.floor()
    }

    fn g_at_knot(&mut self, i: usize) -> f64 {
        let slot = &mut self.known[i % 2];
        if slot.0 != i {
            *slot = (i, self.g.at(self.k[i].0));
        }
        slot.1
    }

    /// The largest of knot `i`'s values (both limits, and G's distance from 0 or 1 at the
    /// ends) with `gx` for G there.
    fn reach_at(&self, i: usize, gx: f64) -> f64 {
        let kn = &self.k[i];
        let mut r = (kn.1 - gx).abs().max((kn.2 - gx).abs());
        if i == 0 {
            r = r.max(gx.abs());
        }
        if i == self.last {
            r = r.max((1.0 - gx).abs());
        }
        r
    }

    /// Takes knot `i`'s values, evaluating G there only if they could raise the maximum.
    fn knot(&mut self, i: usize, e: f64) {
        if !self.rules_out(self.reach_at(i, e)) {
            let gx = self.g_at_knot(i);
            self.d = self.d.max(self.reach_at(i, gx));
        }
    }

    /// The interior points of the span from knot `i − 1` to knot `i`, if G rises across it
    /// by more than [`KS_SPAN_CHECK`]; `ea`, `eb` are the estimates at its ends.
    fn span(&mut self, i: usize, ea: f64, eb: f64) {
        let rise = eb - ea;
        let checked = if rise > KS_SPAN_CHECK + 2.0 * self.slack {
            true
        } else if rise < KS_SPAN_CHECK - 2.0 * self.slack {
            false
        } else {
            let ga = self.g_at_knot(i - 1);
            let gb = self.g_at_knot(i);
            gb - ga > KS_SPAN_CHECK
        };
        if !checked {
            return;
        }
        let (a, b) = (self.k[i - 1], self.k[i]);
        // F − G is linear along the chord, so inside the span it stays within the larger end
        // value plus G's bend. An interior point is computed at its own x, which rounding may
        // move along the span by ~1e-16 of |x|: that is negligible (inside the margin) only
        // where the span is not that narrow, so the bend is used only there.
        if b.0 - a.0 >= 1e-6 * a.0.abs().max(b.0.abs()) {
            let ends = (a.2 - ea).abs().max((b.1 - eb).abs()) + self.g.bend(a.0, b.0);
            if self.rules_out(ends) {
                return;
            }
        }
        // G inside the span lies between these.
        let (lo, hi) = (ea - self.slack, eb + self.slack);
        for t in [0.25, 0.5, 0.75] {
            let f = a.2 + t * (b.1 - a.2);
            let floor = self.floor();
            if (f - lo).abs().max((f - hi).abs()) <= floor {
                continue;
            }
            let x = a.0 + t * (b.0 - a.0);
            if (f - self.g.estimate(x)).abs() + self.slack <= floor {
                continue;
            }
            self.d = self.d.max((f - self.g.at(x)).abs());
        }
    }
}

/// F at `x` strictly inside the span from knot `p` to knot `n`: linear from F(x₀+) to F(x₁−).
#[inline]
fn interpolate(p: &(f64, f64, f64), n: &(f64, f64, f64), x: f64) -> f64 {
    let (&(x0, _, f0), &(x1, f1, _)) = (p, n);
    f0 + (f1 - f0) * (x - x0) / (x1 - x0)
}

/// ∫₀^Δ |d(t)| dt for d linear from `d0` to `d1`, Δ ≥ 0 and finite.
///
/// Where d keeps its sign (or either end is 0) the area is a trapezoid's, which is also 0 for
/// two zeros; where it crosses 0, two triangles'. The crossing is told by the sign bits and
/// two tests for 0, not by comparisons with 0 (the hot loop of [`Cdf::distances`]).
#[inline]
fn integral_abs_linear(d0: f64, d1: f64, dx: f64) -> f64 {
    let crosses = (d0.to_bits() ^ d1.to_bits()) >> 63 == 1 && d0 != 0.0 && d1 != 0.0;
    if crosses {
        dx * (d0 * d0 + d1 * d1) / (2.0 * (d0.abs() + d1.abs()))
    } else {
        dx * (d0.abs() + d1.abs()) / 2.0
    }
}

// ---------------------------------------------------------------------------------------------
// Change between two points
// ---------------------------------------------------------------------------------------------

/// How much point `b` differs from reference point `a`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    /// Bitwise-equal buckets and exact moments (two NaNs in the same place count as equal).
    pub identical: bool,
    /// Wasserstein-1 distance ∫|F_a − F_b| dx between the piecewise-linear CDFs.
    pub w1: f64,
    /// `w1` over the reference std (floored, see [`std_floor`]).
    pub w1_rel: f64,
    /// sup |F_a − F_b| over the merged edges (both one-sided limits).
    pub ks: f64,
    /// |mean_b − mean_a| over the reference std (floored).
    pub mean_rel: f64,
    /// |std_b − std_a| over the reference std (floored).
    pub std_rel: f64,
}

/// The denominator of the relative changes: `std`, but at least `1e-12·max(|mean|, 1)` so a
/// constant reference does not divide by zero (a constant that moves gives a huge, finite
/// number).
pub fn std_floor(s: &Moments) -> f64 {
    let tiny = 1e-12 * s.mean.abs().max(1.0);
    if s.std > tiny {
        s.std
    } else {
        tiny
    }
}

fn same_bits(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Exact equality of two histograms as written: form, every bucket, every exact field.
///
/// Of [compact](Histogram::compact) histograms the kept buckets are compared: two that differ
/// only in the limits of their empty interior buckets count as identical (no writer changes
/// its limits between points and keeps every filled bucket bit for bit).
pub fn identical(a: &Histogram, b: &Histogram) -> bool {
    a.form == b.form
        && a.compact == b.compact
        && a.buckets.len() == b.buckets.len()
        && a.buckets.iter().zip(&b.buckets).all(|(x, y)| {
            same_bits(x.left, y.left) && same_bits(x.right, y.right) && same_bits(x.count, y.count)
        })
        && match (a.exact, b.exact) {
            (None, None) => true,
            (Some(x), Some(y)) => {
                same_bits(x.min, y.min)
                    && same_bits(x.max, y.max)
                    && same_bits(x.num, y.num)
                    && same_bits(x.sum, y.sum)
                    && same_bits(x.sum_squares, y.sum_squares)
            }
            _ => false,
        }
}

/// Change from reference point `a` (with stats `sa`) to point `b`. Identical inputs give
/// exactly zero everywhere. Two empty histograms are at distance 0; an empty against a
/// non-empty one, or any non-finite edge or count, gives NaN distances.
pub fn change(a: &Histogram, sa: &Moments, b: &Histogram, sb: &Moments) -> Change {
    if identical(a, b) {
        return Change::NONE;
    }
    change_of_different(
        sa,
        Cdf::new(&a.buckets).as_ref(),
        sb,
        Cdf::new(&b.buckets).as_ref(),
    )
}

impl Change {
    /// The change between identical points.
    pub const NONE: Change = Change {
        identical: true,
        w1: 0.0,
        w1_rel: 0.0,
        ks: 0.0,
        mean_rel: 0.0,
        std_rel: 0.0,
    };
}

/// [`change`] for two points already known not to be [`identical`], with their CDFs
/// ([`Cdf::new`], `None` when it has none) built by the caller — a series builds each point's
/// CDF once and compares it with both neighbours.
pub fn change_of_different(
    sa: &Moments,
    ca: Option<&Cdf>,
    sb: &Moments,
    cb: Option<&Cdf>,
) -> Change {
    let (w1, ks) = match (ca, cb) {
        (Some(ca), Some(cb)) => ca.distances(cb),
        (None, None) if sa.count == 0.0 && sb.count == 0.0 => (0.0, 0.0),
        _ => (f64::NAN, f64::NAN),
    };
    let den = std_floor(sa);
    let rel = |x: f64, y: f64| {
        if x == y {
            0.0
        } else {
            (y - x).abs() / den
        }
    };
    Change {
        identical: false,
        w1,
        w1_rel: w1 / den,
        ks,
        mean_rel: rel(sa.mean, sb.mean),
        std_rel: rel(sa.std, sb.std),
    }
}

/// [`Cdf::ks_against`] by its definition, point by point: both limits at every knot, G's
/// distance from 0 and 1 at the ends, and three interior points of every span across which G
/// rises by more than [`KS_SPAN_CHECK`].
#[cfg(test)]
pub(crate) fn ks_by_definition(c: &Cdf, g: &dyn Fn(f64) -> f64) -> f64 {
    let k = c.knots();
    let mut d: f64 = g(k[0].0).abs().max((1.0 - g(k[k.len() - 1].0)).abs());
    for x in k {
        d = d.max((x.1 - g(x.0)).abs()).max((x.2 - g(x.0)).abs());
    }
    for w in k.windows(2) {
        let (a, b) = (w[0], w[1]);
        if g(b.0) - g(a.0) > KS_SPAN_CHECK {
            for t in [0.25, 0.5, 0.75] {
                let f = a.2 + t * (b.1 - a.2);
                d = d.max((f - g(a.0 + t * (b.0 - a.0))).abs());
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::{tensor_rows as tensor, ExactMoments};

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    #[test]
    fn compressor_on_three_buckets_matches_hand_computation() {
        // Counts 1, 2, 1 over [0,1], [1,2], [2,3]: cumulative weights 2500, 7500, 10000.
        let h = tensor(&[(0.0, 1.0, 1.0), (1.0, 2.0, 2.0), (2.0, 3.0, 1.0)]);
        let p = compress(&h);
        // bp 0 → first bucket (weight 2500 > 0), lhs = min 0, lerp 0 → 0.
        assert_eq!(p[0], 0.0);
        // bp 668 → bucket 0: 0 + 668/2500 = 0.2672.
        assert!(close(p[1], 0.2672, 1e-15));
        // bp 1587 → 0.6348.
        assert!(close(p[2], 0.6348, 1e-15));
        // bp 3085 → bucket 1 (2500 < 3085 < 7500): 1 + (3085-2500)/5000 = 1.117.
        assert!(close(p[3], 1.117, 1e-15));
        assert!(close(p[4], 1.5, 1e-15));
        assert!(close(p[5], 1.883, 1e-15));
        // bp 8413 → bucket 2: 2 + (8413-7500)/2500 = 2.3652.
        assert!(close(p[6], 2.3652, 1e-15));
        assert!(close(p[7], 2.7328, 1e-15));
        // bp 10000: searchsorted(right) runs past the end → max.
        assert_eq!(p[8], 3.0);
        let s = point_stats(&h);
        assert!(close(s.median, 1.5, 1e-15));
        // p25 = 2500 → searchsorted(right) skips bucket 0 (weight == 2500): 1 + 0 = 1.
        // p75 = 7500 → bucket 2: 2 + 0 = 2.
        assert!(close(s.iqr, 1.0, 1e-15));
    }

    #[test]
    fn compressor_uses_min_as_lhs_after_leading_empty_buckets() {
        // Leading empty bucket: cumsum_prev == 0, so lhs is the overall left edge 0, not 1.
        let h = tensor(&[(0.0, 1.0, 0.0), (1.0, 2.0, 4.0)]);
        let p = compress(&h);
        assert_eq!(p[0], 0.0);
        assert!(close(p[4], 1.0, 1e-15)); // 0 + 5000/10000 * 2
    }

    #[test]
    fn compressor_empty_cases() {
        let none = tensor(&[]);
        assert_eq!(compress(&none), [0.0; 9]);
        // TF2 v3 empty input: 30 all-zero rows → every bp runs off the end → max = 0.
        let zeros = tensor(&[(0.0, 0.0, 0.0); 30]);
        assert_eq!(compress(&zeros), [0.0; 9]);
    }

    #[test]
    fn single_value_v3_gives_the_value_everywhere() {
        let mut rows = vec![(2.5, 2.5, 0.0); 30];
        rows[29].2 = 7.0;
        let h = tensor(&rows);
        let s = point_stats(&h);
        assert_eq!(s.percentiles, [2.5; 9]);
        assert_eq!(s.std, 0.0);
        assert_eq!(s.mean, 2.5);
        assert_eq!(s.mode, 2.5);
        assert_eq!(s.count, 7.0);
        assert_eq!(s.median, 2.5);
        assert_eq!(s.iqr, 0.0);
    }

    #[test]
    fn empty_histogram_is_all_nan_but_count() {
        let h = tensor(&[(0.0, 0.0, 0.0); 30]);
        let s = point_stats(&h);
        assert_eq!(s.count, 0.0);
        assert!(s.mean.is_nan() && s.std.is_nan() && s.median.is_nan());
        assert!(s.percentiles.iter().all(|p| p.is_nan()));
        assert!(s.modes.is_empty());
    }

    #[test]
    fn exact_moments_win_and_variance_is_clamped() {
        let e = ExactMoments {
            min: 1.0,
            max: 3.0,
            num: 4.0,
            sum: 8.0,
            sum_squares: 18.0,
        };
        let h = Histogram::from_legacy(e, &[2.0, 3.0], &[2.0, 2.0]).unwrap();
        let s = point_stats(&h);
        assert!(s.exact_moments);
        assert_eq!(s.mean, 2.0);
        assert_eq!(s.std, (18.0f64 / 4.0 - 4.0).sqrt());
        // Cancellation below zero is clamped.
        let e2 = ExactMoments {
            sum_squares: 15.9999,
            ..e
        };
        let h2 = Histogram::from_legacy(e2, &[2.0, 3.0], &[2.0, 2.0]).unwrap();
        assert_eq!(point_stats(&h2).std, 0.0);
        // Non-finite exact fields fall back to the buckets.
        let e3 = ExactMoments { sum: f64::NAN, ..e };
        let h3 = Histogram::from_legacy(e3, &[2.0, 3.0], &[2.0, 2.0]).unwrap();
        let s3 = point_stats(&h3);
        assert!(!s3.exact_moments && s3.nonfinite);
        assert_eq!(s3.mean, 2.0);
    }

    #[test]
    fn sheppard_only_for_equal_widths() {
        // Two equal bins [0,1], [1,2] with 1 each: midpoints 0.5, 1.5 → var 0.25; minus 1/12.
        let h = tensor(&[(0.0, 1.0, 1.0), (1.0, 2.0, 1.0)]);
        let s = point_stats(&h);
        assert!(close(s.std, (0.25f64 - 1.0 / 12.0).sqrt(), 1e-15));
        // Unequal widths: no correction. Midpoints 0.5 and 2 → var 0.5625.
        let h = tensor(&[(0.0, 1.0, 1.0), (1.0, 3.0, 1.0)]);
        assert!(close(point_stats(&h).std, 0.75, 1e-15));
    }

    #[test]
    fn skewness_and_kurtosis_of_symmetric_two_points() {
        // Two zero-width spikes at ±1, equal mass: g1 = 0, g2 = 1 - 3 = -2.
        let h = tensor(&[(-1.0, -1.0, 5.0), (1.0, 1.0, 5.0)]);
        let s = point_stats(&h);
        assert!(close(s.skewness, 0.0, 1e-15));
        assert!(close(s.excess_kurtosis, -2.0, 1e-15));
        assert_eq!(s.std, 1.0);
    }

    #[test]
    fn peaks_split_the_mass_at_the_lowest_cell_between_them() {
        // Three peaks (cells 1, 5 and 9) with empty cells between them; unsmoothed, so the
        // cells are what peak finding sees.
        let mass = vec![
            0.05, 0.2, 0.05, 0.0, 0.1, 0.3, 0.1, 0.0, 0.05, 0.1, 0.05, 0.0,
        ];
        let d = Density {
            lo: 0.0,
            hi: 12.0,
            cell: 1.0,
            mass,
            n: 1e6,
            smooth: false,
        };
        let peaks = find_peaks(&d);
        let got: Vec<(f64, f64, f64)> = peaks
            .iter()
            .map(|p| (p.location, p.density, p.mass))
            .collect();
        // Each peak's cell and its neighbours are symmetric: no shift from the parabola.
        let want = [(1.5, 0.2, 0.3), (5.5, 0.3, 0.5), (9.5, 0.1, 0.2)];
        assert_eq!(got.len(), 3, "{got:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(close(g.0, w.0, 1e-12) && close(g.1, w.1, 1e-12), "{got:?}");
            assert!(close(g.2, w.2, 1e-12), "{got:?}");
        }
    }

    #[test]
    fn mode_uses_density_not_count() {
        // The wide bucket has more values, the narrow one more density.
        let h = tensor(&[(0.0, 10.0, 20.0), (10.0, 11.0, 5.0)]);
        assert_eq!(point_stats(&h).mode, 10.5);
        // A zero-width bucket with mass has infinite density.
        let h = tensor(&[(0.0, 10.0, 20.0), (10.0, 10.0, 4.0), (10.0, 11.0, 5.0)]);
        assert_eq!(point_stats(&h).mode, 10.0);
        // ... unless it holds less than half an average grid cell's mass (variable widths):
        // 1 of 26 values < 0.5/10 cells.
        let h = tensor(&[(0.0, 10.0, 20.0), (10.0, 10.0, 1.0), (10.0, 11.0, 5.0)]);
        assert_eq!(point_stats(&h).mode, 10.5);
    }

    #[test]
    fn zero_fraction_from_legacy_tiny_bucket_and_zero_width_bucket() {
        // TF's encoding of {0, 0, 0, 0.5}: zeros in [0, 1e-12), after trimming [min=0, 1e-12].
        let e = ExactMoments {
            min: 0.0,
            max: 0.5,
            num: 4.0,
            sum: 0.5,
            sum_squares: 0.25,
        };
        let h =
            Histogram::from_legacy(e, &[0.0, 1e-12, 0.47, 0.52], &[0.0, 3.0, 0.0, 1.0]).unwrap();
        assert_eq!(point_stats(&h).zero_fraction, 0.75);
        let h = tensor(&[(0.0, 0.0, 3.0), (0.0, 1.0, 1.0)]);
        assert_eq!(point_stats(&h).zero_fraction, 0.75);
        let h = tensor(&[(0.0, 1.0, 3.0), (1.0, 2.0, 1.0)]);
        assert_eq!(point_stats(&h).zero_fraction, 0.0);
        // Positive zero: `-0` in JSON and CSV confused readers.
        assert!(point_stats(&h).zero_fraction.is_sign_positive());
    }

    #[test]
    fn one_value_that_is_not_finite_anywhere_in_the_buckets_is_seen() {
        // Each edge and count of 1 to 5 buckets in turn, as NaN and as either infinity: the
        // check sums alternate buckets in two chains and the odd one apart, so every position
        // of every length is tried.
        for n in 1..=5 {
            let rows: Vec<(f64, f64, f64)> =
                (0..n).map(|i| (i as f64, i as f64 + 1.0, 2.0)).collect();
            assert!(!moments(&tensor(&rows)).nonfinite, "{n} finite buckets");
            for i in 0..n {
                for field in 0..3 {
                    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                        let mut r = rows.clone();
                        match field {
                            0 => r[i].0 = bad,
                            1 => r[i].1 = bad,
                            _ => r[i].2 = bad,
                        }
                        let h = Histogram {
                            buckets: r
                                .iter()
                                .map(|&(left, right, count)| Bucket { left, right, count })
                                .collect(),
                            ..tensor(&rows)
                        };
                        assert!(moments(&h).nonfinite, "{n} buckets, {bad} at {i}.{field}");
                    }
                }
            }
        }
    }

    #[test]
    fn nan_counts_do_not_panic() {
        let h = tensor(&[(0.0, 1.0, f64::NAN), (1.0, 2.0, 3.0)]);
        let s = point_stats(&h);
        assert!(s.nonfinite);
        assert!(s.mean.is_nan());
        let c = change(&h, &s.moments(), &h.clone(), &s.moments());
        assert!(c.identical);
        let h2 = tensor(&[(0.0, 1.0, 1.0), (1.0, 2.0, 3.0)]);
        let s2 = point_stats(&h2);
        let c = change(&h, &s.moments(), &h2, &s2.moments());
        assert!(!c.identical && c.w1.is_nan() && c.ks.is_nan());
    }

    #[test]
    fn w1_of_shifted_uniforms_is_the_shift() {
        let a = tensor(&[(0.0, 1.0, 10.0)]);
        let b = tensor(&[(0.25, 1.25, 10.0)]);
        let (sa, sb) = (point_stats(&a), point_stats(&b));
        let c = change(&a, &sa.moments(), &b, &sb.moments());
        assert!(close(c.w1, 0.25, 1e-15));
        assert!(close(c.ks, 0.25, 1e-15));
        // std of U(0,1) = 1/sqrt(12) (one bucket: midpoint var 0, Sheppard makes it... clamp);
        // the one-bucket estimate is 0, so w1_rel uses the floor.
        assert!(c.w1_rel > 1e9);
    }

    #[test]
    fn ks_of_disjoint_is_one_and_w1_is_mean_distance() {
        let a = tensor(&[(0.0, 1.0, 5.0)]);
        let b = tensor(&[(3.0, 4.0, 5.0)]);
        let c = change(&a, &moments(&a), &b, &moments(&b));
        assert_eq!(c.ks, 1.0);
        assert!(close(c.w1, 3.0, 1e-15));
    }

    #[test]
    fn w1_between_spikes_is_distance() {
        let a = tensor(&[(1.0, 1.0, 4.0)]);
        let b = tensor(&[(3.5, 3.5, 4.0)]);
        let c = change(&a, &moments(&a), &b, &moments(&b));
        assert_eq!(c.w1, 2.5);
        assert_eq!(c.ks, 1.0);
    }

    #[test]
    fn integral_of_a_linear_difference_is_a_trapezoid_or_two_triangles() {
        // The cases spelled out by comparisons with 0, as the function read before it tested
        // sign bits: the same number to the bit for every pair, zeros of either sign included.
        let by_cases = |d0: f64, d1: f64, dx: f64| {
            if d0 == 0.0 && d1 == 0.0 {
                0.0
            } else if (d0 >= 0.0) == (d1 >= 0.0) || d0 == 0.0 || d1 == 0.0 {
                dx * (d0.abs() + d1.abs()) / 2.0
            } else {
                dx * (d0 * d0 + d1 * d1) / (2.0 * (d0.abs() + d1.abs()))
            }
        };
        let ds = [-1.0, -0.25, -1e-300, -0.0, 0.0, 1e-300, 0.5, 1.0];
        for d0 in ds {
            for d1 in ds {
                for dx in [0.0, 0.125, 3.0] {
                    let got = integral_abs_linear(d0, d1, dx);
                    assert_eq!(
                        got.to_bits(),
                        by_cases(d0, d1, dx).to_bits(),
                        "{d0} {d1} {dx}"
                    );
                }
            }
        }
        // From 1 to −1 over 2: two triangles of area ½.
        assert_eq!(integral_abs_linear(1.0, -1.0, 2.0), 1.0);
        assert!(integral_abs_linear(f64::NAN, 1.0, 1.0).is_nan());
    }

    #[test]
    fn ks_passes_over_the_knots_of_counts_that_overflow() {
        // Two counts of 1e308 sum to infinity: the CDF's last value is 0 · ∞ = NaN. KS is the
        // largest difference it can tell (½ at x = 1, against one bucket over [0, 2]), as
        // `f64::max` would pass over the NaN; W1 says it cannot be told.
        let a = Cdf::new(&tensor(&[(0.0, 1.0, 1e308), (1.0, 2.0, 1e308)]).buckets).unwrap();
        let b = Cdf::new(&tensor(&[(0.0, 2.0, 1.0)]).buckets).unwrap();
        assert!(a.knots().iter().any(|k| k.1.is_nan()), "{:?}", a.knots());
        for (w1, ks) in [a.distances(&b), b.distances(&a)] {
            assert_eq!(ks, 0.5);
            assert!(w1.is_nan());
        }
    }

    #[test]
    fn crossing_cdfs_integrate_absolute_value() {
        // Same mean, different spread: U(0,2) vs spike at 1. ∫|F−G| = 2 · ∫₀¹ x/2 dx = 0.5.
        let a = tensor(&[(0.0, 2.0, 1.0)]);
        let b = tensor(&[(1.0, 1.0, 1.0)]);
        let c = change(&a, &moments(&a), &b, &moments(&b));
        assert!(close(c.w1, 0.5, 1e-15));
        assert!(close(c.ks, 0.5, 1e-15));
    }

    #[test]
    fn identical_histograms_give_exact_zeros() {
        let h = tensor(&[(0.0, 1.0, 3.0), (1.0, 2.0, 4.0)]);
        let s = point_stats(&h);
        let c = change(&h, &s.moments(), &h.clone(), &s.moments());
        assert_eq!(
            c,
            Change {
                identical: true,
                w1: 0.0,
                w1_rel: 0.0,
                ks: 0.0,
                mean_rel: 0.0,
                std_rel: 0.0
            }
        );
        // One ulp differs → not identical.
        let mut h2 = h.clone();
        h2.buckets[1].right = f64::from_bits(2.0f64.to_bits() + 1);
        assert!(!change(&h, &s.moments(), &h2, &moments(&h2)).identical);
    }

    /// Uniform numbers in (0, 1) from a tiny LCG: the same sample on every machine.
    fn uniforms(seed: u64) -> impl FnMut() -> f64 {
        let mut state = seed;
        move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
    }

    #[test]
    fn the_ordered_pass_makes_the_knots_the_general_one_does() {
        // Bucket lists as writers make them (neighbours sharing edges, gaps, empty buckets)
        // and as they should not be (zero width, overlap, disorder, NaN, infinities): where
        // the one-pass build takes them, its knots are the general build's to the bit; the
        // others it leaves to it.
        let bits = |c: &Option<Cdf>| {
            c.as_ref().map(|c| {
                c.knots()
                    .iter()
                    .map(|k| (k.0.to_bits(), k.1.to_bits(), k.2.to_bits()))
                    .collect::<Vec<_>>()
            })
        };
        let mut uni = uniforms(3);
        let (mut taken, mut left) = (0, 0);
        for case in 0..2000 {
            let n = 1 + (uni() * 40.0) as usize;
            let mut x = uni() * 4.0 - 2.0;
            let mut rows = Vec::new();
            for _ in 0..n {
                let gap = if uni() < 0.3 { uni() } else { 0.0 };
                let width = if uni() < 0.02 { 0.0 } else { uni() * 0.5 };
                let count = match uni() {
                    u if u < 0.3 => 0.0,
                    u if u < 0.31 => -0.0,
                    u if u < 0.312 => f64::NAN,
                    _ => (uni() * 100.0).round() + 0.25 * f64::from(u8::from(case % 2 == 0)),
                };
                let l = x + gap - if uni() < 0.02 { 0.3 } else { 0.0 };
                rows.push(Bucket {
                    left: l,
                    right: l + width,
                    count,
                });
                x = l + width;
            }
            if uni() < 0.02 {
                rows.swap(0, n - 1);
            }
            match uni() {
                u if u < 0.01 => rows[0].left = f64::NEG_INFINITY,
                u if u < 0.02 => rows[n - 1].right = f64::INFINITY,
                u if u < 0.03 => rows[n / 2].left = f64::NAN,
                u if u < 0.04 => rows[n / 2].right = f64::NAN,
                u if u < 0.05 => rows[n - 1].count = f64::INFINITY,
                u if u < 0.06 => rows[0].count = f64::MAX,
                _ => {}
            }
            if uni() < 0.02 {
                // A sum that overflows.
                rows.iter_mut().for_each(|b| b.count *= f64::MAX);
            }
            let general = Cdf::new_any(&rows, Vec::new());
            match Cdf::new_ordered(&rows, vec![(9.0, 9.0, 9.0); 7]) {
                Ok(fast) => {
                    assert_eq!(bits(&fast), bits(&general), "case {case}: {rows:?}");
                    taken += 1;
                }
                Err(_) => left += 1,
            }
        }
        assert!(taken > 1000 && left > 100, "{taken} {left}");
    }

    #[test]
    fn ks_against_is_the_maximum_over_every_knot_and_checked_span() {
        // What `ks_against` leaves unevaluated must not change it by a bit.
        let reference = ks_by_definition;
        let mut uni = uniforms(7);
        let mut checked = 0;
        for case in 0..200 {
            // Exponential buckets with gaps (torch's default bins) or equal ones, around a
            // sample of 200..1200 values that is sometimes far from the fitted G.
            let n = 200 + case * 5;
            let shift = if case % 3 == 0 { 0.5 } else { 0.0 };
            let mut counts = std::collections::BTreeMap::<i64, f64>::new();
            for _ in 0..n {
                let z = (-2.0 * uni().ln()).sqrt() * (std::f64::consts::TAU * uni()).cos();
                let key = if case % 2 == 0 {
                    (z.signum() * (z.abs() / 1e-3).max(1.0).ln() / 1.1f64.ln()).round() as i64
                } else {
                    (z * 10.0).floor() as i64
                };
                *counts.entry(key).or_default() += 1.0;
            }
            let edge = |k: i64| {
                if case % 2 == 0 {
                    k.signum() as f64 * 1e-3 * 1.1f64.powi(k.abs() as i32)
                } else {
                    k as f64 / 10.0
                }
            };
            let rows: Vec<(f64, f64, f64)> = counts
                .iter()
                .map(|(&k, &c)| {
                    let (a, b) = (edge(k), edge(k + 1));
                    (a.min(b), a.max(b), c)
                })
                .collect();
            let mut rows = rows;
            rows.sort_by(|a, b| a.0.total_cmp(&b.0));
            rows.dedup_by(|b, a| b.0 < a.1);
            let h = tensor(&rows);
            let Some(c) = Cdf::new(&h.buckets) else {
                continue;
            };
            let m = moments(&h);
            let (mu, sd) = (m.mean + shift, m.std);
            let logistic = move |x: f64| 1.0 / (1.0 + (-(x - mu) / (0.55 * sd)).exp());
            let (a, b) = (mu - 3f64.sqrt() * sd, mu + 3f64.sqrt() * sd);
            let uniform = move |x: f64| ((x - a) / (b - a)).clamp(0.0, 1.0);
            assert_eq!(
                c.ks_against(&logistic).to_bits(),
                reference(&c, &logistic).to_bits()
            );
            assert_eq!(
                c.ks_against(&uniform).to_bits(),
                reference(&c, &uniform).to_bits()
            );
            // With an estimate off by up to eps (the wobble stands for a table's error) and
            // the logistic's bend (|σ''| ≤ 1/(6√3) on its own scale), the same bits: what is
            // known of G only decides where it is evaluated.
            struct Wobbly<G> {
                g: G,
                eps: f64,
                scale: f64,
            }
            impl<G: Fn(f64) -> f64> Reference for Wobbly<G> {
                fn at(&self, x: f64) -> f64 {
                    (self.g)(x)
                }
                fn estimate(&self, x: f64) -> f64 {
                    (self.g)(x) + 0.99 * self.eps * (x * 7e3).sin()
                }
                fn eps(&self) -> f64 {
                    self.eps
                }
                fn bend(&self, xa: f64, xb: f64) -> f64 {
                    let dz = (xb - xa) / self.scale;
                    dz * dz / 8.0 / (6.0 * 3f64.sqrt())
                }
            }
            for eps in [1e-5, 1e-3] {
                let g = Wobbly {
                    g: logistic,
                    eps,
                    scale: 0.55 * sd,
                };
                assert_eq!(
                    c.ks_against(&g).to_bits(),
                    reference(&c, &logistic).to_bits(),
                    "case {case}, eps {eps}"
                );
            }
            checked += 1;
        }
        assert!(checked > 150, "{checked}");
    }

    #[test]
    fn drift_of_a_thousandth_sigma_per_step_is_visible_in_tf2_bins() {
        // A fixed standard-normal sample (Box–Muller on a tiny LCG), shifted by 1e-3 per step.
        let mut uni = uniforms(12345);
        let z: Vec<f64> = (0..20000)
            .map(|_| {
                let (u, v) = (uni(), uni());
                (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
            })
            .collect();
        let tf2 = |shift: f64| {
            let xs: Vec<f64> = z.iter().map(|x| x + shift).collect();
            let lo = xs.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let w = (hi - lo) / 30.0;
            let mut c = [0.0; 30];
            for x in &xs {
                c[(((x - lo) / w).floor() as usize).min(29)] += 1.0;
            }
            let rows: Vec<(f64, f64, f64)> = (0..30)
                .map(|i| {
                    let l = lo + w * i as f64;
                    let r = if i == 29 { hi } else { lo + w * (i + 1) as f64 };
                    (l, r, c[i])
                })
                .collect();
            tensor(&rows)
        };
        let first = tf2(0.0);
        let last = tf2(99.0 * 1e-3);
        let (sf, sl) = (point_stats(&first), point_stats(&last));
        let c = change(&first, &sf.moments(), &last, &sl.moments());
        assert!(!c.identical);
        assert!(c.w1_rel > 0.08 && c.w1_rel < 0.12, "w1_rel = {}", c.w1_rel);
        assert!(
            c.mean_rel > 0.08 && c.mean_rel < 0.12,
            "mean_rel = {}",
            c.mean_rel
        );
        // A frozen tensor: same histogram every step.
        let again = tf2(0.0);
        let c0 = change(&first, &sf.moments(), &again, &moments(&again));
        assert!(c0.identical && c0.w1_rel == 0.0 && c0.ks == 0.0);
    }

    #[test]
    fn pairwise_sum_matches_sequential_for_integers() {
        let v: Vec<f64> = (0..1000).map(|i| (i % 7) as f64).collect();
        assert_eq!(numpy_pairwise_sum(&v), v.iter().sum::<f64>());
    }

    #[test]
    fn searchsorted_right_semantics() {
        let a = [0.0, 2500.0, 7500.0, 10000.0];
        assert_eq!(np_searchsorted_right(&a, 0.0), 1);
        assert_eq!(np_searchsorted_right(&a, 2500.0), 2);
        assert_eq!(np_searchsorted_right(&a, 10000.0), 4);
        assert_eq!(np_searchsorted_right(&[f64::NAN, f64::NAN], 5.0), 0);
    }

    #[test]
    fn two_separated_bumps_give_two_modes() {
        let mut rows = Vec::new();
        for i in 0..30 {
            let x = i as f64;
            let c = 1000.0 * ((-(x - 7.0).powi(2) / 4.0).exp() + (-(x - 22.0).powi(2) / 4.0).exp());
            rows.push((x, x + 1.0, c.round()));
        }
        let s = point_stats(&tensor(&rows));
        assert_eq!(s.modes.len(), 2, "{:?}", s.modes);
        assert!((s.modes[0].location - 7.5).abs() < 0.6);
        assert!((s.modes[1].location - 22.5).abs() < 0.6);
        assert!((s.modes[0].mass - 0.5).abs() < 0.05);
    }
}

//! THE histogram model: a list of buckets `(left, right, count)` plus, where the wire form has
//! them, the exact moments.
//!
//! Two wire forms exist (`docs/format.md`, "Histograms on the wire"):
//!
//! * **legacy** `Summary.Value.histo` (`HistogramProto`), written by TF1, tf.keras via
//!   `summary_ops_v2`, PyTorch and tensorboardX. `bucket_limit[i]` is the *right* edge of bucket
//!   `i`; the left edge of the first bucket is implicit (TF writes `-DBL_MAX` as an outer limit
//!   and collapses runs of empty buckets; torch/tensorboardX trim to the data range and prepend
//!   one empty bucket). `min`, `max`, `num`, `sum` and `sum_squares` are exact.
//! * **tensor** `Summary.Value.tensor`, a `[k, 3]` tensor of `(left, right, count)` rows written
//!   by TF2 `tf.summary.histogram` (30 equal-width buckets by default), Keras, flax, clu. Only
//!   the buckets are known; moments must be estimated.
//!
//! Both are normalised here, once, the way TensorBoard's Python loader does since
//! tensorflow/tensorboard#5404 (`data_compat._migrate_histogram`): empty buckets at both ends of
//! a legacy histogram are trimmed, the first left edge becomes `min` and the last right edge
//! `max`. That keeps our percentiles equal to the Distributions dashboard's and turns `±DBL_MAX`
//! outer limits into finite edges. Nothing below this module sees a proto.
//!
//! The report reads legacy histograms **compact** ([`Histogram::from_legacy_compact`]): the empty
//! buckets between the filled ones are left out. torch's and TF's default limits grow by 10 %
//! from 1e-12 on, so a thousand values fill about a hundred of the ~550 buckets between their
//! minimum and maximum; every pass over the buckets then does a fifth of the work. Nothing a
//! statistic reads is lost: each kept bucket has its own edges (legacy buckets share their
//! limits, so the bucket before a kept one ends where it starts), empty buckets hold no mass, and
//! the lists where an empty bucket matters — equal widths, whose edge-spike and Sheppard rules
//! read neighbours, and non-finite edges — are kept whole. The raw `buckets` export reads every
//! bucket.

use thiserror::Error;

/// Which wire form a histogram came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WireForm {
    /// `Summary.Value.histo` (HistogramProto).
    Histo,
    /// `Summary.Value.tensor` of shape `[k, 3]`.
    Tensor,
}

impl WireForm {
    /// The name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            WireForm::Histo => "histo",
            WireForm::Tensor => "tensor",
        }
    }
}

/// One bucket: `count` values in `[left, right]` (`left == right` for a zero-width spike).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub left: f64,
    pub right: f64,
    pub count: f64,
}

impl Bucket {
    pub fn width(&self) -> f64 {
        self.right - self.left
    }
}

/// The exact fields of a legacy `HistogramProto`, copied as written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExactMoments {
    pub min: f64,
    pub max: f64,
    pub num: f64,
    pub sum: f64,
    pub sum_squares: f64,
}

/// A histogram as histinspect sees it, whatever the wire form.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub form: WireForm,
    /// Buckets in ascending order of edges; empty outer buckets removed for legacy histograms.
    pub buckets: Vec<Bucket>,
    /// Present for legacy histograms only.
    pub exact: Option<ExactMoments>,
    /// True when empty interior buckets were left out ([`Histogram::from_legacy_compact`]):
    /// every kept bucket has its own edges, so the mass, the CDF and every statistic are those
    /// of the full list; what is lost is only where the empty space was divided. Two buckets
    /// are neighbours in the full list exactly when their edges touch.
    pub compact: bool,
}

/// Why a value could not become a [`Histogram`]. None of these are fatal: the value is skipped
/// and reported, the rest of the file is read.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum HistogramError {
    #[error("legacy histogram has {limits} bucket limits but {counts} bucket counts")]
    BucketMismatch { limits: usize, counts: usize },
    #[error("histogram tensor has shape {shape:?}, expected [k, 3]")]
    BadShape { shape: Vec<i64> },
    #[error("histogram tensor has dtype {dtype}, expected DT_DOUBLE or DT_FLOAT")]
    BadDtype { dtype: i32 },
    #[error("histogram tensor holds {got} values, its shape says {want}")]
    BadLength { got: usize, want: usize },
    /// Edges that run backwards or a negative count: no writer makes them, and no statistic
    /// of such buckets means anything.
    #[error("bucket {index} {what}; not a histogram")]
    Disordered { index: usize, what: String },
}

/// A double as a legacy histogram's arrays hold it: an `f64`, or the eight little-endian bytes
/// of one still in the record (`wire::histogram_packed`), read where used so that the packed
/// arrays are not copied out first.
pub trait LeF64: Copy {
    fn get(self) -> f64;
}

impl LeF64 for f64 {
    #[inline]
    fn get(self) -> f64 {
        self
    }
}

impl LeF64 for [u8; 8] {
    #[inline]
    fn get(self) -> f64 {
        f64::from_le_bytes(self)
    }
}

/// Relative tolerance under which two bucket widths count as equal.
pub const EQUAL_WIDTH_RTOL: f64 = 1e-6;

/// Whether a list of bucket widths, fed in order, shares one width: zero widths are passed
/// over; a negative or non-finite width, or one further than [`EQUAL_WIDTH_RTOL`] from the
/// first positive width, makes them unequal.
#[derive(Debug, Default, Clone, Copy)]
struct Widths {
    first: Option<f64>,
    unequal: bool,
}

impl Widths {
    /// The common width of `widths`, `None` when they differ or none is positive. Stops at
    /// the first width that differs: on TF's and torch's limits, which grow by 10 % from one
    /// bucket to the next, the second positive width decides.
    fn of(widths: impl IntoIterator<Item = f64>) -> Option<f64> {
        let mut w = Widths::default();
        for x in widths {
            w.add(x);
            if w.unequal {
                return None;
            }
        }
        w.first
    }

    #[inline]
    fn add(&mut self, w: f64) {
        if !w.is_finite() || w < 0.0 {
            self.unequal = true;
        } else if w > 0.0 {
            match self.first {
                None => self.first = Some(w),
                Some(r) => self.unequal |= (w - r).abs() > EQUAL_WIDTH_RTOL * r,
            }
        }
    }
}

/// The first bucket that breaks the order every writer keeps: each bucket's left edge at or
/// below its right edge, left and right edges each non-decreasing, counts not negative.
/// NaN and infinities are left to the `nonfinite` flag. Neighbouring buckets may overlap by
/// rounding (older TF2 computed `right = left + width`), so a right edge is not compared with
/// the next left edge.
pub fn check_order(buckets: &[Bucket]) -> Result<(), HistogramError> {
    // One branch-free pass first (the hot path: writers emit ordered buckets); the pass that
    // names the first bad bucket runs only when something is wrong. Same comparisons, so NaN
    // passes both.
    let mut bad = false;
    for b in buckets {
        bad |= (b.left > b.right) | (b.count < 0.0);
    }
    for w in buckets.windows(2) {
        bad |= (w[1].left < w[0].left) | (w[1].right < w[0].right);
    }
    if !bad {
        return Ok(());
    }
    let bad = |index: usize, what: String| Err(HistogramError::Disordered { index, what });
    for (i, b) in buckets.iter().enumerate() {
        if b.left > b.right {
            return bad(i, format!("runs backwards, from {} to {}", b.left, b.right));
        }
        if b.count < 0.0 {
            return bad(i, format!("has a negative count ({})", b.count));
        }
        if i > 0 {
            let a = &buckets[i - 1];
            if b.left < a.left || b.right < a.right {
                return bad(
                    i,
                    format!(
                        "([{}, {}]) starts or ends before bucket {} ([{}, {}])",
                        b.left,
                        b.right,
                        i - 1,
                        a.left,
                        a.right
                    ),
                );
            }
        }
    }
    Ok(())
}

/// Bucket lists given back by [`recycle`] on a thread, and the bytes they hold.
#[derive(Default)]
struct Spare {
    lists: Vec<Vec<Bucket>>,
    bytes: usize,
}

thread_local! {
    static SPARE: std::cell::RefCell<Spare> = std::cell::RefCell::new(Spare::default());
}

/// The most memory [`recycle`] keeps per thread: the bucket lists of a batch of points handed
/// from reading to keeping (`logdir`), where the lists are dropped after all are decoded.
const SPARE_BYTES: usize = 1 << 20;

/// An empty bucket list with room for `len`: the memory of one given back by [`recycle`] that
/// holds it and is not much larger, when one of the last few does (a point keeps its list while
/// it is its tag's last, and a small histogram that took a large list would hold its memory for
/// nothing), else a new one.
fn spare_buckets(len: usize) -> Vec<Bucket> {
    let fits = |v: &Vec<Bucket>| v.capacity() >= len && v.capacity() <= 2 * len + 64;
    let spare = SPARE.with(|s| {
        let mut s = s.borrow_mut();
        let from_end = s.lists.iter().rev().take(8).position(fits)?;
        let i = s.lists.len() - 1 - from_end;
        let v = s.lists.swap_remove(i);
        s.bytes -= v.capacity() * std::mem::size_of::<Bucket>();
        Some(v)
    });
    match spare {
        Some(mut v) => {
            v.clear();
            v
        }
        None => Vec::with_capacity(len),
    }
}

/// Gives the memory of a histogram's bucket list back, for the next histogram decoded on this
/// thread: a series that reads a point and drops the one before it then allocates none.
pub fn recycle(buckets: Vec<Bucket>) {
    let bytes = buckets.capacity() * std::mem::size_of::<Bucket>();
    if bytes == 0 {
        return;
    }
    SPARE.with(|s| {
        let mut s = s.borrow_mut();
        if s.bytes + bytes <= SPARE_BYTES {
            s.bytes += bytes;
            s.lists.push(buckets);
        }
    });
}

/// Takes every bucket list [`recycle`] kept on this thread, to be given to another thread
/// ([`adopt_spares`]) that decodes the histograms this one drops.
pub fn take_spares() -> Vec<Vec<Bucket>> {
    SPARE.with(|s| std::mem::take(&mut *s.borrow_mut())).lists
}

/// Keeps bucket lists taken on another thread ([`take_spares`]) for the histograms decoded on
/// this one, as [`recycle`] does (within the same bound; the rest are dropped here).
pub fn adopt_spares(lists: Vec<Vec<Bucket>>) {
    for v in lists {
        recycle(v);
    }
}

impl Histogram {
    /// Normalises a legacy `HistogramProto`.
    ///
    /// `limits[i]` is the right edge of bucket `i`. Empty buckets at both ends are trimmed; the
    /// remaining ones get left edges `[min, limits[start], …]` and right edges
    /// `[…, limits[end-1], max]` (TensorBoard's `_migrate_histogram`). All buckets empty gives
    /// zero buckets.
    pub fn from_legacy<T: LeF64>(
        exact: ExactMoments,
        limits: &[T],
        counts: &[T],
    ) -> Result<Histogram, HistogramError> {
        Self::legacy(exact, limits, counts, None)
    }

    /// [`Histogram::from_legacy`] without the empty buckets of positive width between the
    /// first and the last non-empty one, where that loses nothing a statistic reads: torch's and
    /// TF's default limits give ~550 buckets of which a thousand values fill about a hundred,
    /// and every pass over the buckets (moments, CDF, density, percentiles) then walks a
    /// fifth of them. The full list is kept when the buckets share one width (the edge-spike
    /// and density rules of equal-width bins look at the empty neighbours) or an edge is not
    /// finite (the `nonfinite` flag reads every edge); [`Histogram::compact`] says which.
    /// The order is checked on the full list either way.
    pub fn from_legacy_compact<T: LeF64>(
        exact: ExactMoments,
        limits: &[T],
        counts: &[T],
    ) -> Result<Histogram, HistogramError> {
        Self::legacy(exact, limits, counts, Some(&mut Vec::new()))
    }

    /// [`Histogram::from_legacy_compact`] with a buffer kept from one histogram to the next
    /// (the decoder's): the buckets are laid out there before the kept ones are copied out.
    pub fn from_legacy_compact_with<T: LeF64>(
        exact: ExactMoments,
        limits: &[T],
        counts: &[T],
        scratch: &mut Vec<Bucket>,
    ) -> Result<Histogram, HistogramError> {
        Self::legacy(exact, limits, counts, Some(scratch))
    }

    /// The one normalisation; `scratch` is where a compact list is laid out, `None` for the
    /// full list.
    fn legacy<T: LeF64>(
        exact: ExactMoments,
        limits: &[T],
        counts: &[T],
        scratch: Option<&mut Vec<Bucket>>,
    ) -> Result<Histogram, HistogramError> {
        if limits.len() != counts.len() {
            return Err(HistogramError::BucketMismatch {
                limits: limits.len(),
                counts: counts.len(),
            });
        }
        // `c != 0` so that a NaN count is kept, and later flagged.
        let Some(start) = counts.iter().position(|c| c.get() != 0.0) else {
            return Ok(Histogram {
                form: WireForm::Histo,
                buckets: Vec::new(),
                exact: Some(exact),
                compact: false,
            });
        };
        let end = counts.iter().rposition(|c| c.get() != 0.0).unwrap_or(start);
        // Bucket i spans limits[i-1]..limits[i]; the outer edges are the exact range.
        let (rights, filled) = (&limits[start..=end], &counts[start..=end]);
        let n = filled.len();
        // The edges run min, rights[0], …, rights[n-2], max: bucket k spans edges k and k+1.
        let inner = &rights[..n - 1];
        let first_right = inner.first().map_or(exact.max, |x| x.get());
        let last_left = inner.last().map_or(exact.min, |x| x.get());
        // `check_order`'s comparisons on a chain of shared edges come down to "no edge below
        // the one before it, no negative count" (NaN passes both, as there), and the compact
        // list needs finite edges and to know whether two neighbouring edges are equal. What
        // every writer emits — edges that rise strictly, no negative count — is recognised
        // by one branch-free pass the compiler vectorises (a NaN edge fails it too); rising
        // edges are finite when the outer ones are. Anything else is looked at closely.
        let plain = filled[1..]
            .iter()
            .zip(inner.windows(2))
            .fold(true, |plain, (c, w)| {
                plain & (w[1].get() > w[0].get()) & (c.get() >= 0.0)
            });
        let (mut bad, mut finite, mut repeats) = (false, true, false);
        if !plain {
            for (c, w) in filled[1..].iter().zip(inner.windows(2)) {
                let (a, b) = (w[0].get(), w[1].get());
                bad |= (c.get() < 0.0) | (b < a);
                finite &= a.is_finite();
                repeats |= a == b;
            }
        }
        let ends = [exact.min, first_right, last_left, exact.max];
        bad |= (filled[0].get() < 0.0)
            | (filled[n - 1].get() < 0.0)
            | (first_right < exact.min)
            | (exact.max < last_left);
        finite &= ends.iter().fold(true, |f, x| f & x.is_finite());
        // Equal widths keep the full list; with no positive width at all nothing would be left
        // out anyway (empty buckets of zero width are kept).
        let edges = || std::iter::once(exact.min).chain(inner.iter().map(|x| x.get()));
        let edges = || edges().chain(std::iter::once(exact.max));
        let equal = || Widths::of(edges().zip(edges().skip(1)).map(|(a, b)| b - a)).is_some();
        let scratch = scratch.filter(|_| !bad && finite && !equal());
        let bucket = |left: f64, right: f64, count: f64| Bucket { left, right, count };
        let mut buckets;
        let mut dropped = false;
        if n == 1 {
            buckets = vec![bucket(exact.min, exact.max, filled[0].get())];
        } else if let Some(out) = scratch {
            // Kept: filled buckets, and empty ones of zero width (they leave no gap). Each
            // bucket is written to the next free place of `out`, which moves on only for a
            // kept one: no branch for the predictor to miss on a hundred scattered filled
            // buckets. `out` only grows, so it is not cleared for every histogram.
            if out.len() < n {
                out.resize(n, bucket(0.0, 0.0, 0.0));
            }
            out[0] = bucket(exact.min, first_right, filled[0].get());
            // Runs of eight empty buckets (the tails of default bins) are passed over after
            // one vectorised test, unless some bucket has zero width (no writer's limits repeat).
            let middle = &filled[1..n - 1];
            let mut j = 1;
            let empty = |c: &[T]| c.iter().fold(true, |empty, c| empty & (c.get() == 0.0));
            for (start, counts) in (0..middle.len()).step_by(8).zip(middle.chunks(8)) {
                // A whole run of eight as an array, so that the test is a few vector compares.
                let run_empty = match <&[T; 8]>::try_from(counts) {
                    Ok(eight) => empty(eight),
                    Err(_) => empty(counts),
                };
                if !repeats && run_empty {
                    continue;
                }
                let edges = inner[start..=start + counts.len()].windows(2);
                for (c, w) in counts.iter().zip(edges) {
                    let (c, l, r) = (c.get(), w[0].get(), w[1].get());
                    out[j] = bucket(l, r, c);
                    j += usize::from((c != 0.0) | (l == r));
                }
            }
            out[j] = bucket(last_left, exact.max, filled[n - 1].get());
            dropped = j + 1 < n;
            buckets = spare_buckets(j + 1);
            buckets.extend_from_slice(&out[..=j]);
        } else {
            buckets = spare_buckets(n);
            buckets.push(bucket(exact.min, first_right, filled[0].get()));
            let middle = inner.windows(2).zip(&filled[1..n - 1]);
            buckets.extend(middle.map(|(w, c)| bucket(w[0].get(), w[1].get(), c.get())));
            buckets.push(bucket(last_left, exact.max, filled[n - 1].get()));
        }
        if bad {
            // Only a bad histogram pays for the pass that names the first bad bucket.
            check_order(&buckets)?;
        }
        Ok(Histogram {
            form: WireForm::Histo,
            buckets,
            exact: Some(exact),
            compact: dropped,
        })
    }
    /// Builds a tensor-form histogram from its `[k, 3]` rows given row-major as
    /// `left, right, count, left, right, count, …`.
    pub fn from_tensor_rows<T: LeF64>(values: &[T]) -> Result<Histogram, HistogramError> {
        if !values.len().is_multiple_of(3) {
            return Err(HistogramError::BadLength {
                got: values.len(),
                want: values.len() / 3 * 3,
            });
        }
        let mut buckets = spare_buckets(values.len() / 3);
        buckets.extend(values.chunks_exact(3).map(|r| Bucket {
            left: r[0].get(),
            right: r[1].get(),
            count: r[2].get(),
        }));
        check_order(&buckets)?;
        Ok(Histogram {
            form: WireForm::Tensor,
            buckets,
            exact: None,
            compact: false,
        })
    }

    /// The common width of the buckets of positive width (relative tolerance
    /// [`EQUAL_WIDTH_RTOL`]), `None` when they differ or none has a positive width. A compact list is never of equal widths: it is
    /// made only from buckets that were not.
    pub fn equal_width(&self) -> Option<f64> {
        if self.compact {
            return None;
        }
        Widths::of(self.buckets.iter().map(Bucket::width))
    }

    /// Total number of values: the exact `num` for legacy histograms, the sum of counts otherwise.
    pub fn count(&self) -> f64 {
        match self.exact {
            Some(e) => e.num,
            None => self.bucket_total(),
        }
    }

    /// [`Histogram::count`] given the [`Histogram::bucket_total`] already summed.
    pub fn count_given(&self, bucket_total: f64) -> f64 {
        match self.exact {
            Some(e) => e.num,
            None => bucket_total,
        }
    }

    /// Sum of all bucket counts.
    pub fn bucket_total(&self) -> f64 {
        self.buckets.iter().map(|b| b.count).sum()
    }

    /// True when any edge, count or exact field is NaN or infinite.
    pub fn has_nonfinite(&self) -> bool {
        // x·0 is ±0 for a finite x and NaN otherwise, and NaN stays in a sum: two sums over
        // alternate buckets (two chains of additions, not one, and no branch per bucket) tell
        // whether any is not finite. Every point's moments ask this.
        let zero = |b: &Bucket| b.left * 0.0 + b.right * 0.0 + b.count * 0.0;
        let (pairs, odd) = self.buckets.as_chunks::<2>();
        let (z0, z1) = pairs.iter().fold(
            (odd.iter().map(zero).sum::<f64>(), 0.0),
            |(z0, z1), [a, b]| (z0 + zero(a), z1 + zero(b)),
        );
        self.exact_has_nonfinite() || (z0 + z1).is_nan()
    }

    /// True when an exact field (legacy histograms only) is NaN or infinite. An empty legacy
    /// histogram from TF carries min = DBL_MAX, max = -DBL_MAX: finite, fine.
    pub fn exact_has_nonfinite(&self) -> bool {
        self.exact.is_some_and(|e| {
            !(e.min.is_finite()
                && e.max.is_finite()
                && e.num.is_finite()
                && e.sum.is_finite()
                && e.sum_squares.is_finite())
        })
    }
}

/// A tensor-form histogram of `(left, right, count)` rows, for the tests of the modules that
/// read histograms.
#[cfg(test)]
pub(crate) fn tensor_rows(rows: &[(f64, f64, f64)]) -> Histogram {
    let flat: Vec<f64> = rows.iter().flat_map(|&(l, r, c)| [l, r, c]).collect();
    Histogram::from_tensor_rows(&flat).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(min: f64, max: f64, num: f64) -> ExactMoments {
        ExactMoments {
            min,
            max,
            num,
            sum: 0.0,
            sum_squares: 0.0,
        }
    }

    #[test]
    fn legacy_tf_outer_dbl_max_limits_become_min_and_max() {
        // What TF1's Histogram::EncodeToProto writes for the values {-0.5, 0.2, 0.3}: a zero
        // bucket before each run of counts and DBL_MAX as the last limit.
        let limits = [-0.55, -0.5, 0.0, 0.2, 0.33, f64::MAX];
        let counts = [0.0, 1.0, 0.0, 0.0, 2.0, 0.0];
        let h = Histogram::from_legacy(exact(-0.5, 0.3, 3.0), &limits, &counts).unwrap();
        assert_eq!(
            h.buckets,
            vec![
                Bucket {
                    left: -0.5,
                    right: -0.5,
                    count: 1.0
                },
                Bucket {
                    left: -0.5,
                    right: 0.0,
                    count: 0.0
                },
                Bucket {
                    left: 0.0,
                    right: 0.2,
                    count: 0.0
                },
                Bucket {
                    left: 0.2,
                    right: 0.3,
                    count: 2.0
                },
            ]
        );
        assert_eq!(h.count(), 3.0);
        assert!(!h.has_nonfinite());
    }

    #[test]
    fn legacy_torch_leading_empty_bucket_is_trimmed() {
        // torch.utils.tensorboard.summary.make_histogram prepends an empty bucket whose right
        // limit is the left edge of the first non-empty bin: limits [0, 1, 2], counts [0, 3, 1].
        let h = Histogram::from_legacy(exact(0.1, 1.9, 4.0), &[0.0, 1.0, 2.0], &[0.0, 3.0, 1.0])
            .unwrap();
        assert_eq!(h.buckets.len(), 2);
        assert_eq!(
            h.buckets[0],
            Bucket {
                left: 0.1,
                right: 1.0,
                count: 3.0
            }
        );
        assert_eq!(
            h.buckets[1],
            Bucket {
                left: 1.0,
                right: 1.9,
                count: 1.0
            }
        );
    }

    /// torch's and TF's default limits from 1e-12 up by ×1.1 (`docs/format.md`), around a few
    /// values: most buckets between the filled ones are empty.
    fn default_limits() -> Vec<f64> {
        let mut pos = vec![1e-12];
        while *pos.last().unwrap() < 1e20 {
            pos.push(pos.last().unwrap() * 1.1);
        }
        let mut limits: Vec<f64> = pos.iter().rev().map(|x| -x).collect();
        limits.push(0.0);
        limits.extend(&pos);
        limits
    }

    fn counts_at(limits: &[f64], values: &[f64]) -> Vec<f64> {
        let mut counts = vec![0.0; limits.len()];
        for v in values {
            counts[limits.partition_point(|l| l <= v)] += 1.0;
        }
        counts
    }

    #[test]
    fn compact_legacy_keeps_the_filled_buckets_with_their_own_edges() {
        let limits = default_limits();
        let values = [-0.5, -0.49, 0.01, 0.3, 0.31, 2.0];
        let counts = counts_at(&limits, &values);
        let e = exact(-0.5, 2.0, 6.0);
        let full = Histogram::from_legacy(e, &limits, &counts).unwrap();
        let compact = Histogram::from_legacy_compact(e, &limits, &counts).unwrap();
        assert!(!full.compact && compact.compact);
        let kept: Vec<Bucket> = full
            .buckets
            .iter()
            .copied()
            .filter(|b| b.count != 0.0)
            .collect();
        assert_eq!(compact.buckets, kept);
        assert!(
            compact.buckets.len() < full.buckets.len() / 10,
            "{}",
            compact.buckets.len()
        );
        assert_eq!(compact.equal_width(), None);
        assert_eq!(full.equal_width(), None);
    }

    #[test]
    fn compact_legacy_keeps_every_bucket_where_something_would_be_lost() {
        // Equal widths (numpy's rules, tensorboardX `bins='auto'`): the edge-spike rule reads
        // the empty neighbours.
        let limits = [1.0, 2.0, 3.0, 4.0, 5.0];
        let counts = [4.0, 0.0, 0.0, 1.0, 2.0];
        let e = exact(0.0, 5.0, 7.0);
        let h = Histogram::from_legacy_compact(e, &limits, &counts).unwrap();
        assert_eq!(h, Histogram::from_legacy(e, &limits, &counts).unwrap());
        assert_eq!(h.equal_width(), Some(1.0));
        // A non-finite edge inside the empty run: the nonfinite flag reads every edge.
        let limits = [1.0, 2.0, f64::NAN, 8.0, 16.0];
        let h = Histogram::from_legacy_compact(exact(0.0, 16.0, 7.0), &limits, &counts).unwrap();
        assert!(!h.compact && h.buckets.len() == 5 && h.has_nonfinite());
        // An empty bucket of zero width is no gap: kept, and the rest left out.
        let limits = [1.0, 2.0, 2.0, 4.0, 8.0, 16.0];
        let counts = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0];
        let h = Histogram::from_legacy_compact(exact(0.5, 16.0, 3.0), &limits, &counts).unwrap();
        let edges: Vec<(f64, f64)> = h.buckets.iter().map(|b| (b.left, b.right)).collect();
        assert_eq!(edges, [(0.5, 1.0), (2.0, 2.0), (4.0, 8.0), (8.0, 16.0)]);
        assert!(h.compact);
    }

    #[test]
    fn compact_legacy_rejects_what_the_full_list_rejects() {
        let e = exact(0.5, 16.0, 2.0);
        // A limit that runs backwards inside the empty run; a negative count there.
        let cases: [(&[f64], &[f64]); 2] = [
            (&[1.0, 2.0, 4.0, 3.0, 16.0], &[1.0, 0.0, 0.0, 0.0, 1.0]),
            (&[1.0, 2.0, 4.0, 8.0, 16.0], &[1.0, 0.0, -1.0, 0.0, 1.0]),
        ];
        for (limits, counts) in cases {
            let full = Histogram::from_legacy(e, limits, counts).unwrap_err();
            let compact = Histogram::from_legacy_compact(e, limits, counts).unwrap_err();
            assert_eq!(compact, full);
            assert!(matches!(full, HistogramError::Disordered { .. }), "{full}");
        }
        let full = Histogram::from_legacy(e, cases[0].0, cases[0].1).unwrap_err();
        assert!(
            matches!(full, HistogramError::Disordered { index: 3, .. }),
            "{full}"
        );
    }

    #[test]
    fn compact_legacy_is_the_full_list_less_its_empty_gaps_whatever_the_arrays_hold() {
        // Default limits around a few values, then spoiled now and then as no writer would:
        // a NaN or infinite limit, two equal limits, one that runs backwards, a negative or
        // NaN count. The compact read (from doubles and from the record's packed bytes) must
        // reject what the full read rejects, flag what it flags, and otherwise keep its
        // buckets less the empty ones of positive width.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut uni = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let base = default_limits();
        let (mut spoiled, mut kept_compact) = (0, 0);
        for case in 0..3000 {
            let lo = (uni() * base.len() as f64 * 0.9) as usize;
            let limits_len = 2 + (uni() * 60.0) as usize;
            let mut limits: Vec<f64> = base[lo..(lo + limits_len).min(base.len())].to_vec();
            let n = limits.len();
            let mut counts: Vec<f64> = (0..n)
                .map(|_| {
                    if uni() < 0.6 {
                        0.0
                    } else {
                        (uni() * 9.0).round()
                    }
                })
                .collect();
            let at = (uni() * n as f64) as usize % n;
            match case % 10 {
                0 => limits[at] = f64::NAN,
                1 => {
                    limits[at] = if uni() < 0.5 {
                        f64::INFINITY
                    } else {
                        f64::NEG_INFINITY
                    }
                }
                2 if at > 0 => limits[at] = limits[at - 1],
                3 if at > 0 => limits.swap(at, at - 1),
                4 => counts[at] = -1.0,
                5 => counts[at] = f64::NAN,
                _ => {}
            }
            spoiled += usize::from(case % 10 < 6);
            let e = exact(limits[0] - 1.0, limits[n - 1] + 1.0, counts.iter().sum());
            let full = Histogram::from_legacy(e, &limits, &counts);
            let compact = Histogram::from_legacy_compact(e, &limits, &counts);
            let bytes = |xs: &[f64]| xs.iter().map(|x| x.to_le_bytes()).collect::<Vec<_>>();
            let packed = Histogram::from_legacy_compact(e, &bytes(&limits), &bytes(&counts));
            // Compared as printed: NaN is not equal to itself.
            let shown = |h: &Result<Histogram, HistogramError>| format!("{h:?}");
            assert_eq!(shown(&packed), shown(&compact), "case {case}");
            match (full, compact) {
                (Err(f), Err(c)) => assert_eq!(f, c, "case {case}"),
                (Ok(f), Ok(c)) => {
                    assert_eq!(f.has_nonfinite(), c.has_nonfinite(), "case {case}");
                    let kept: Vec<Bucket> = f
                        .buckets
                        .iter()
                        .copied()
                        .filter(|b| !c.compact || b.count != 0.0 || b.left == b.right)
                        .collect();
                    let (c_shown, kept_shown) = (format!("{:?}", c.buckets), format!("{kept:?}"));
                    assert_eq!(c_shown, kept_shown, "case {case}: {limits:?} {counts:?}");
                    kept_compact += usize::from(c.compact);
                }
                (f, c) => panic!("case {case}: full {f:?}, compact {c:?}"),
            }
        }
        assert!(
            spoiled > 1000 && kept_compact > 500,
            "{spoiled} {kept_compact}"
        );
    }

    #[test]
    fn a_recycled_bucket_list_is_the_next_ones_memory_and_the_spares_are_bounded() {
        // On a thread of its own, so that no other test's lists are in its spares.
        std::thread::spawn(|| {
            let v: Vec<Bucket> = Vec::with_capacity(40);
            let at = v.as_ptr();
            recycle(v);
            let h = Histogram::from_tensor_rows(&[0.0, 1.0, 3.0, 1.0, 2.0, 4.0]).unwrap();
            assert_eq!(h.buckets.as_ptr(), at);
            assert_eq!(h.buckets.len(), 2);
            // Lists past the bound are dropped, not kept.
            for _ in 0..1000 {
                recycle(Vec::with_capacity(1000));
            }
            let kept = SPARE.with(|s| (s.borrow().bytes, s.borrow().lists.len()));
            assert!(
                kept.0 <= SPARE_BYTES && kept.1 == SPARE_BYTES / 24_000,
                "{kept:?}"
            );
            // A list of no memory is not worth keeping.
            recycle(Vec::new());
            assert_eq!(SPARE.with(|s| s.borrow().lists.len()), kept.1);
            // A small histogram does not take a large list (it would hold it while it is its
            // tag's last point): the spares stay, and its list fits it.
            let small = Histogram::from_tensor_rows(&[0.0, 1.0, 3.0]).unwrap();
            assert!(
                small.buckets.capacity() <= 2 + 64,
                "{}",
                small.buckets.capacity()
            );
            assert_eq!(SPARE.with(|s| s.borrow().lists.len()), kept.1);
            // One that a spare fits takes it.
            let rows: Vec<f64> = (0..600)
                .flat_map(|i| [i as f64, i as f64 + 1.0, 1.0])
                .collect();
            let large = Histogram::from_tensor_rows(&rows).unwrap();
            assert_eq!(large.buckets.capacity(), 1000);
            assert_eq!(SPARE.with(|s| s.borrow().lists.len()), kept.1 - 1);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn spares_taken_on_one_thread_are_the_next_lists_of_another() {
        // The pipelined reader: the keeping thread recycles what its sink drops, and the
        // reading thread, which decodes, adopts it.
        let (lists, addr) = std::thread::spawn(|| {
            let v: Vec<Bucket> = Vec::with_capacity(40);
            let addr = v.as_ptr() as usize;
            recycle(v);
            let lists = take_spares();
            assert!(SPARE.with(|s| s.borrow().lists.is_empty()));
            (lists, addr)
        })
        .join()
        .unwrap();
        std::thread::spawn(move || {
            adopt_spares(lists);
            let rows: Vec<f64> = (0..30)
                .flat_map(|i| [i as f64, i as f64 + 1.0, 1.0])
                .collect();
            let h = Histogram::from_tensor_rows(&rows).unwrap();
            assert_eq!(h.buckets.as_ptr() as usize, addr);
            // Adopting keeps to the same bound as recycling.
            adopt_spares((0..1000).map(|_| Vec::with_capacity(1000)).collect());
            assert!(SPARE.with(|s| s.borrow().bytes) <= SPARE_BYTES);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn legacy_all_empty_gives_no_buckets() {
        let h =
            Histogram::from_legacy(exact(f64::MAX, -f64::MAX, 0.0), &[f64::MAX], &[0.0]).unwrap();
        assert!(h.buckets.is_empty());
        assert_eq!(h.count(), 0.0);
    }

    #[test]
    fn legacy_mismatched_arrays_are_an_error() {
        let err = Histogram::from_legacy(exact(0.0, 1.0, 1.0), &[1.0, 2.0], &[1.0]).unwrap_err();
        assert_eq!(
            err,
            HistogramError::BucketMismatch {
                limits: 2,
                counts: 1
            }
        );
    }

    #[test]
    fn tensor_rows_keep_zero_width_buckets() {
        let h = Histogram::from_tensor_rows(&[2.0, 2.0, 0.0, 2.0, 2.0, 5.0]).unwrap();
        assert_eq!(
            h.buckets[1],
            Bucket {
                left: 2.0,
                right: 2.0,
                count: 5.0
            }
        );
        assert_eq!(h.count(), 5.0);
        assert!(h.exact.is_none());
    }

    #[test]
    fn nonfinite_is_seen_in_counts_and_moments() {
        let h = Histogram::from_tensor_rows(&[0.0, 1.0, f64::NAN]).unwrap();
        assert!(h.has_nonfinite());
        let mut e = exact(0.0, 1.0, 1.0);
        e.sum = f64::INFINITY;
        let h = Histogram::from_legacy(e, &[1.0], &[1.0]).unwrap();
        assert!(h.has_nonfinite());
    }
}

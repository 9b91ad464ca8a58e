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

impl Histogram {
    /// Normalises a legacy `HistogramProto`.
    ///
    /// `limits[i]` is the right edge of bucket `i`. Empty buckets at both ends are trimmed; the
    /// remaining ones get left edges `[min, limits[start], …]` and right edges
    /// `[…, limits[end-1], max]` (TensorBoard's `_migrate_histogram`). All buckets empty gives
    /// zero buckets.
    pub fn from_legacy(
        exact: ExactMoments,
        limits: &[f64],
        counts: &[f64],
    ) -> Result<Histogram, HistogramError> {
        if limits.len() != counts.len() {
            return Err(HistogramError::BucketMismatch {
                limits: limits.len(),
                counts: counts.len(),
            });
        }
        // `c != 0` so that a NaN count is kept, and later flagged.
        let first = counts.iter().position(|&c| c != 0.0);
        let mut buckets = Vec::new();
        if let Some(start) = first {
            let end = counts.iter().rposition(|&c| c != 0.0).unwrap_or(start);
            // Bucket i spans limits[i-1]..limits[i]; the outer edges are the exact range.
            let (rights, counts) = (&limits[start..=end], &counts[start..=end]);
            let n = counts.len();
            buckets.reserve_exact(n);
            // Built and checked in one pass: the comparisons are `check_order`'s, made with the
            // previous bucket at hand, so the same histograms pass (NaN included). Only a bad
            // one pays for the second pass that names the first bad bucket.
            // Before the first bucket nothing can be out of order: it starts from -∞.
            let (mut left, mut right) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
            let mut bad = false;
            let mut step = |l: f64, r: f64, count: f64| {
                bad |= (l > r) | (count < 0.0) | (l < left) | (r < right);
                (left, right) = (l, r);
                Bucket {
                    left: l,
                    right: r,
                    count,
                }
            };
            let first_right = if n == 1 { exact.max } else { rights[0] };
            buckets.push(step(exact.min, first_right, counts[0]));
            if n > 1 {
                let middle = rights[..n - 1].windows(2).zip(&counts[1..n - 1]);
                buckets.extend(middle.map(|(w, &c)| step(w[0], w[1], c)));
                buckets.push(step(rights[n - 2], exact.max, counts[n - 1]));
            }
            if bad {
                check_order(&buckets)?;
            }
        }
        Ok(Histogram {
            form: WireForm::Histo,
            buckets,
            exact: Some(exact),
        })
    }

    /// Builds a tensor-form histogram from its `[k, 3]` rows given row-major as
    /// `left, right, count, left, right, count, …`.
    pub fn from_tensor_rows(values: &[f64]) -> Result<Histogram, HistogramError> {
        if values.len() % 3 != 0 {
            return Err(HistogramError::BadLength {
                got: values.len(),
                want: values.len() / 3 * 3,
            });
        }
        let buckets = values
            .chunks_exact(3)
            .map(|r| Bucket {
                left: r[0],
                right: r[1],
                count: r[2],
            })
            .collect::<Vec<_>>();
        check_order(&buckets)?;
        Ok(Histogram {
            form: WireForm::Tensor,
            buckets,
            exact: None,
        })
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
        self.exact_has_nonfinite()
            || self
                .buckets
                .iter()
                .any(|b| !(b.left.is_finite() && b.right.is_finite() && b.count.is_finite()))
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

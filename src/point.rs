//! What is kept of a point once it has been read: a [`PointDigest`] for every point while a
//! run streams by, and a [`PointSummary`] — every statistic and the shape, no buckets — for
//! the points a report shows. Together with [`crate::event_file::HistogramPoint`] (a point as
//! read) these are the only point types; statistics live in [`crate::stats`].

use crate::histogram::Histogram;
use crate::shape::{self, ShapeVerdict};
use crate::stats::{self, Cdf, Change, Moments, PointStats};

/// The point before, for [`summary_and_change`]: its histogram, its moments, and its CDF
/// (`None` when it has none).
pub struct Before<'a> {
    pub histogram: &'a Histogram,
    pub moments: &'a Moments,
    pub cdf: Option<Cdf>,
}

/// A point's per-step row: its summary and its change from the point `before` it (none for
/// a tag's first point), as `--steps` shows them. Per-step output computes rows in two places,
/// while a run is read and when points are read again; both come here, so both give the same
/// numbers. The point's CDF is built once, in `spare`'s memory, for its shape and this change,
/// and returned for the next point's `before`; the same histogram again keeps `before`'s CDF,
/// and a CDF no longer needed leaves its memory in `spare`. `moments`, when given, are
/// [`stats::moments`] of `h`.
pub fn summary_and_change(
    before: Option<Before<'_>>,
    step: i64,
    wall_time: f64,
    h: &Histogram,
    moments: Option<&Moments>,
    spare: &mut Vec<(f64, f64, f64)>,
) -> (PointSummary, Option<Change>, Option<Cdf>) {
    match before {
        Some(b) if stats::identical(b.histogram, h) => {
            let point = PointSummary::of_given(step, wall_time, h, b.cdf.as_ref(), moments);
            (point, Some(Change::NONE), b.cdf)
        }
        before => {
            let cdf = Cdf::new_in(&h.buckets, std::mem::take(spare));
            let point = PointSummary::of_given(step, wall_time, h, cdf.as_ref(), moments);
            let change = before.map(|b| {
                let moments = point.stats.moments();
                let c =
                    stats::change_of_different(b.moments, b.cdf.as_ref(), &moments, cdf.as_ref());
                if let Some(old) = b.cdf {
                    *spare = old.into_knots();
                }
                c
            });
            (point, change, cdf)
        }
    }
}

/// Largest of a change's relative measures (W1/σ, KS, Δmean/σ, Δσ/σ); 0 for identical points,
/// NaN when any measure is NaN.
pub fn change_size(c: &Change) -> f64 {
    if c.identical {
        return 0.0;
    }
    let parts = [c.w1_rel, c.ks, c.mean_rel, c.std_rel];
    if parts.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    parts.into_iter().fold(0.0, f64::max)
}

/// The few numbers kept for every point of a series: 40 bytes, so a million points cost 40 MB.
/// Means, stds and changes are kept as `f32`: they feed sparklines, maxima and thresholds far
/// above `f32` resolution; exact values are recomputed from the file when shown per step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointDigest {
    pub step: i64,
    /// Byte offset of the point's record in its file.
    pub offset: u64,
    /// Index into the run's files.
    pub file: u32,
    pub mean: f32,
    pub std: f32,
    /// W1/σ from the previous point (0 for the first).
    pub w1_rel: f32,
    /// Largest of W1/σ, KS, Δmean/σ, Δσ/σ from the previous point ([`change_size`]).
    pub size: f32,
    /// Bit-identical to the previous point.
    pub identical: bool,
    /// Has a previous point (false only for the first).
    pub has_prev: bool,
    pub nonfinite: bool,
}

/// One point as a report shows it: every statistic and its shape, without the buckets, and
/// the few facts about the buckets that the flags need.
#[derive(Debug, Clone, PartialEq)]
pub struct PointSummary {
    pub step: i64,
    pub wall_time: f64,
    pub stats: PointStats,
    pub shape: ShapeVerdict,
    pub zeros: ZeroShare,
    /// Mass at the bounds of a squashing function, when the range fits one.
    pub bounds: Option<BoundMass>,
}

/// The share of values at exactly zero, as far as the buckets can tell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZeroShare {
    /// The share itself, or an estimate of it (see `exact`).
    pub share: f64,
    /// True when the writer kept zeros apart (a zero-width or 1e-12-wide bucket at 0); false
    /// when zeros share the first of equal-width buckets starting at 0 (TF2's 30 bins, numpy's
    /// `'auto'`): then `share` is the first bucket's excess over the second.
    pub exact: bool,
    /// What the buckets prove: the share itself when exact, else the first bucket's share —
    /// the zeros and the smallest positive values together, an upper bound. The zeros cannot
    /// be told from values just above them (an exploding ReLU layer's outputs pile up there).
    pub at_most: f64,
}

/// Which squashing function's bounds a range fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Squash {
    /// Values in (0, 1): sigmoid.
    Sigmoid,
    /// Values in [-1, 1] with some below 0: tanh.
    Tanh,
}

/// The share of values within [`BOUND_ZONE`] of the bounds of a squashing function (|x| > 0.8
/// for tanh; x < 0.1 or x > 0.9 for sigmoid), interpolated linearly inside a bucket that
/// straddles the cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundMass {
    pub squash: Squash,
    pub low: f64,
    pub high: f64,
}

impl PointSummary {
    /// Computes the statistics and the shape of `h`.
    pub fn of(step: i64, wall_time: f64, h: &Histogram) -> PointSummary {
        Self::of_with_cdf(step, wall_time, h, None)
    }

    /// [`PointSummary::of`] with the histogram's CDF ([`stats::Cdf::new`]) when the caller
    /// needs it too and has built it already.
    pub fn of_with_cdf(
        step: i64,
        wall_time: f64,
        h: &Histogram,
        cdf: Option<&stats::Cdf>,
    ) -> PointSummary {
        Self::of_given(step, wall_time, h, cdf, None)
    }

    /// [`PointSummary::of_with_cdf`] with the histogram's [`stats::moments`] when the caller
    /// has them already.
    pub fn of_given(
        step: i64,
        wall_time: f64,
        h: &Histogram,
        cdf: Option<&stats::Cdf>,
        moments: Option<&Moments>,
    ) -> PointSummary {
        let (stats, grid, total) = stats::point_stats_and_density(h, moments);
        let shape = shape::classify_given(h, &stats, cdf, grid.as_ref(), total);
        let zeros = zero_share(h, &stats);
        let bounds = bound_mass(h, &stats, total);
        PointSummary {
            step,
            wall_time,
            stats,
            shape,
            zeros,
            bounds,
        }
    }
}

fn zero_share(h: &Histogram, s: &PointStats) -> ZeroShare {
    let exact = ZeroShare {
        share: s.zero_fraction,
        exact: true,
        at_most: s.zero_fraction,
    };
    if s.zero_fraction > 0.0 || (s.count.is_nan() || s.count <= 0.0) || s.min != 0.0 {
        return exact;
    }
    // Equal-width bins from exactly 0: zeros share the first bucket with the smallest positive
    // values. Those spread on into the next bucket, so the first bucket's excess over the
    // second estimates the zeros (a ReLU's positive outputs have a falling density, so the
    // estimate errs high by at most the fall across one bucket).
    let mut filled = h
        .buckets
        .iter()
        .skip_while(|b| b.count <= 0.0 && b.right <= 0.0);
    match (filled.next(), filled.next()) {
        (Some(a), next) if a.left == 0.0 && a.right > 0.0 => {
            // In a compact list an empty neighbour was left out: then the next bucket starts
            // past this one's end.
            let second = next
                .filter(|b| !h.compact || b.left == a.right)
                .map_or(0.0, |b| b.count.max(0.0));
            ZeroShare {
                share: ((a.count - second) / s.count).max(0.0),
                exact: false,
                at_most: (a.count / s.count).clamp(0.0, 1.0),
            }
        }
        _ => exact,
    }
}

/// How close to a bound counts as "at the bound", as a share of the function's range. The
/// ground truth of saturation is "within 1 %", but the buckets rarely resolve 1 % of the range
/// (TF2's 30 bins over [-1, 1] are 6.7 % wide), and values piled at a bound fill the bucket
/// next to it: 10 % counts what the buckets can show.
pub const BOUND_ZONE: f64 = 0.1;

/// `total` is [`Histogram::bucket_total`].
fn bound_mass(h: &Histogram, s: &PointStats, total: f64) -> Option<BoundMass> {
    if (s.count.is_nan() || s.count <= 0.0) || !s.min.is_finite() || !s.max.is_finite() {
        return None;
    }
    let (squash, lo_cut, hi_cut) = if s.min > 0.0 && s.max < 1.0 {
        (Squash::Sigmoid, BOUND_ZONE, 1.0 - BOUND_ZONE)
    } else if s.min >= -1.0 && s.max <= 1.0 && s.min < 0.0 {
        (
            Squash::Tanh,
            -1.0 + 2.0 * BOUND_ZONE,
            1.0 - 2.0 * BOUND_ZONE,
        )
    } else {
        return None;
    };
    // Mass of the buckets below `lo_cut` and above `hi_cut`, a straddling bucket by overlap.
    let (mut low, mut high) = (0.0, 0.0);
    for b in &h.buckets {
        let w = b.right - b.left;
        let part = |a: f64, z: f64| {
            if w <= 0.0 {
                f64::from(u8::from(b.left >= a && b.left <= z))
            } else {
                ((z.min(b.right) - a.max(b.left)) / w).clamp(0.0, 1.0)
            }
        };
        low += b.count * part(f64::NEG_INFINITY, lo_cut);
        high += b.count * part(hi_cut, f64::INFINITY);
    }
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    Some(BoundMass {
        squash,
        low: low / total,
        high: high / total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::tensor_rows as rows;

    #[test]
    fn zeros_in_the_first_equal_width_bucket_are_its_excess_over_the_next() {
        // TF2-style: ReLU outputs, 3 equal buckets from exactly 0.
        let h = rows(&[(0.0, 1.0, 90.0), (1.0, 2.0, 5.0), (2.0, 3.0, 5.0)]);
        let p = PointSummary::of(0, 0.0, &h);
        assert_eq!(
            p.zeros,
            ZeroShare {
                share: 0.85,
                exact: false,
                at_most: 0.9
            }
        );
        // A zero-width bucket at 0 is exact.
        let h = rows(&[(0.0, 0.0, 60.0), (0.0, 1.0, 40.0)]);
        let p = PointSummary::of(0, 0.0, &h);
        assert_eq!(
            p.zeros,
            ZeroShare {
                share: 0.6,
                exact: true,
                at_most: 0.6
            }
        );
    }

    #[test]
    fn mass_at_squashing_bounds_is_measured_on_either_side() {
        // sigmoid outputs piled near 0: one-sided saturation.
        let h = rows(&[(0.001, 0.009, 80.0), (0.009, 0.5, 20.0)]);
        let b = PointSummary::of(0, 0.0, &h).bounds.unwrap();
        assert_eq!(b.squash, Squash::Sigmoid);
        assert!(
            (b.low - (80.0 + 20.0 * 0.091 / 0.491) / 100.0).abs() < 1e-12,
            "{b:?}"
        );
        assert_eq!(b.high, 0.0);
        // tanh at both ends.
        let h = rows(&[
            (-1.0, -0.995, 45.0),
            (-0.995, 0.995, 10.0),
            (0.995, 1.0, 45.0),
        ]);
        let b = PointSummary::of(0, 0.0, &h).bounds.unwrap();
        assert_eq!(b.squash, Squash::Tanh);
        assert!(b.low > 0.45 && b.high > 0.45, "{b:?}");
        // Out of any squashing range: none.
        let h = rows(&[(-3.0, 3.0, 10.0)]);
        assert!(PointSummary::of(0, 0.0, &h).bounds.is_none());
    }
}

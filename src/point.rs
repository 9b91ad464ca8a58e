//! What is kept of a point once it has been read: a [`PointDigest`] for every point while a
//! run streams by, and a [`PointSummary`] — every statistic and the shape, no buckets — for
//! the points a report shows. Together with [`crate::event_file::HistogramPoint`] (a point as
//! read) these are the only point types; statistics live in [`crate::stats`].

use crate::histogram::Histogram;
use crate::shape::{self, ShapeVerdict};
use crate::stats::{self, Change, PointStats};

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

/// One point as a report shows it: every statistic and its shape, without the buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct PointSummary {
    pub step: i64,
    pub wall_time: f64,
    pub stats: PointStats,
    pub shape: ShapeVerdict,
}

impl PointSummary {
    /// Computes the statistics and the shape of `h`.
    pub fn of(step: i64, wall_time: f64, h: &Histogram) -> PointSummary {
        let stats = stats::point_stats(h);
        let shape = shape::classify(h, &stats);
        PointSummary {
            step,
            wall_time,
            stats,
            shape,
        }
    }
}

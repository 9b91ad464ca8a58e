//! A tag's series, accumulated while the logdir streams by: what the report needs and no more.
//!
//! Per point we keep a [`PointDigest`] (step, location in the file, a handful of moments and the
//! change from the previous point, about 100 bytes); per tag the full histogram and statistics
//! of only the first and the last point. Anything else (per-step output, a point that becomes
//! the last one again after a restart) is re-read from its file by byte offset
//! ([`crate::event_file::histogram_at`]), so memory grows with the number of points, not with
//! their size, and never with the size of the logdir.

use crate::event_file::{histogram_at, HistogramPoint, Problem};
use crate::histogram::{Histogram, WireForm};
use crate::logdir::{Located, Prepare, RunSink};
use crate::stats::{self, Cdf, Change, Moments, PointStats};

/// Largest of a change's relative measures; NaN when any is NaN.
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
use regex::Regex;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Which points to keep.
#[derive(Debug, Clone, Default)]
pub struct PointFilter {
    /// Keep tags matching this pattern (`--tag`).
    pub tag: Option<Regex>,
    /// Keep steps in `a..=b` (`--step-range A:B`).
    pub steps: Option<(i64, i64)>,
}

impl PointFilter {
    pub fn keeps_tag(&self, tag: &str) -> bool {
        self.tag.as_ref().is_none_or(|r| r.is_match(tag))
    }

    pub fn keeps_step(&self, step: i64) -> bool {
        self.steps.is_none_or(|(a, b)| step >= a && step <= b)
    }
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

/// A point kept whole: its histogram and statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct FullPoint {
    pub step: i64,
    pub wall_time: f64,
    pub histogram: Histogram,
    pub stats: PointStats,
}

/// A point kept whole while streaming: its histogram and [`Moments`]; the full statistics are
/// computed only for the points the report shows ([`RawPoint::full`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RawPoint {
    pub step: i64,
    pub wall_time: f64,
    pub histogram: Histogram,
    pub moments: Moments,
}

impl RawPoint {
    pub fn new(p: HistogramPoint) -> RawPoint {
        let moments = stats::moments(&p.histogram);
        RawPoint {
            step: p.step,
            wall_time: p.wall_time,
            histogram: p.histogram,
            moments,
        }
    }

    /// With every statistic.
    pub fn full(self) -> FullPoint {
        let stats = stats::point_stats(&self.histogram);
        FullPoint {
            step: self.step,
            wall_time: self.wall_time,
            histogram: self.histogram,
            stats,
        }
    }
}

/// Everything kept for one tag of one run.
#[derive(Debug, Clone)]
pub struct TagSeries {
    pub form: WireForm,
    pub digests: Vec<PointDigest>,
    pub first: Option<RawPoint>,
    pub last: Option<RawPoint>,
    /// The CDF of `last`, built when first needed (a frozen series never needs one).
    last_cdf: Option<Option<Cdf>>,
}

/// A [`RunSink`] that builds a [`TagSeries`] per tag.
#[derive(Debug)]
pub struct SeriesSink {
    files: Arc<Vec<PathBuf>>,
    filter: Arc<PointFilter>,
    pub tags: BTreeMap<String, TagSeries>,
    /// Points that could not be re-read after a restart.
    pub problems: Vec<Problem>,
}

impl SeriesSink {
    pub fn new(files: Vec<PathBuf>, filter: Arc<PointFilter>) -> SeriesSink {
        SeriesSink {
            files: Arc::new(files),
            filter,
            tags: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    /// The run's files, indexed by [`PointDigest::file`].
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

/// Re-reads the histogram of a digested point, with every statistic.
pub fn reread(files: &[PathBuf], tag: &str, d: &PointDigest) -> Result<FullPoint, Problem> {
    reread_raw(files, tag, d).map(RawPoint::full)
}

fn reread_raw(files: &[PathBuf], tag: &str, d: &PointDigest) -> Result<RawPoint, Problem> {
    let path = &files[d.file as usize];
    histogram_at(path, d.offset, tag).map(RawPoint::new)
}

/// A point filtered and with its [`Moments`], ready for a [`SeriesSink`].
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedPoint {
    pub tag: String,
    pub offset: u64,
    pub raw: RawPoint,
}

impl Located for PreparedPoint {
    fn tag(&self) -> &str {
        &self.tag
    }
    fn step(&self) -> i64 {
        self.raw.step
    }
    fn offset(&self) -> u64 {
        self.offset
    }
}

/// Applies a [`PointFilter`] and computes [`Moments`].
#[derive(Debug, Clone)]
pub struct SeriesPrepare(Arc<PointFilter>);

impl Prepare for SeriesPrepare {
    type Point = PreparedPoint;

    fn prepare(&self, point: HistogramPoint) -> Option<PreparedPoint> {
        if !self.0.keeps_step(point.step) || !self.0.keeps_tag(&point.tag) {
            return None;
        }
        let (tag, offset) = (point.tag.clone(), point.offset);
        Some(PreparedPoint {
            tag,
            offset,
            raw: RawPoint::new(point),
        })
    }
}

impl RunSink for SeriesSink {
    type Prepare = SeriesPrepare;

    fn preparer(&self) -> SeriesPrepare {
        SeriesPrepare(self.filter.clone())
    }

    fn rewind(&mut self, tag: &str, step: i64) {
        let Some(s) = self.tags.get_mut(tag) else {
            return;
        };
        let keep = s.digests.partition_point(|d| d.step < step);
        if keep == s.digests.len() {
            return;
        }
        s.digests.truncate(keep);
        s.last_cdf = None;
        match s.digests.last() {
            None => {
                s.first = None;
                s.last = None;
            }
            Some(d) => match reread_raw(&self.files, tag, d) {
                Ok(p) => s.last = Some(p),
                Err(e) => {
                    self.problems.push(e);
                    s.digests.pop();
                    s.last = None;
                }
            },
        }
    }

    fn point(&mut self, file: usize, point: PreparedPoint) {
        let PreparedPoint {
            tag: name,
            offset,
            raw: full,
        } = point;
        let tag = match self.tags.get_mut(&name) {
            Some(t) => t,
            None => self.tags.entry(name).or_insert_with(|| TagSeries {
                form: full.histogram.form,
                digests: Vec::new(),
                first: None,
                last: None,
                last_cdf: None,
            }),
        };
        let change = match &tag.last {
            None => None,
            // The same histogram again: the cached CDF stays valid for the new last point.
            Some(l) if stats::identical(&l.histogram, &full.histogram) => Some(Change::NONE),
            Some(l) => {
                let prev = tag
                    .last_cdf
                    .get_or_insert_with(|| Cdf::new(&l.histogram.buckets));
                let cur = Cdf::new(&full.histogram.buckets);
                let c = stats::change_of_different(
                    &l.moments,
                    prev.as_ref(),
                    &full.moments,
                    cur.as_ref(),
                );
                tag.last_cdf = Some(cur);
                Some(c)
            }
        };
        let m = &full.moments;
        tag.digests.push(PointDigest {
            step: full.step,
            offset,
            file: file as u32,
            mean: m.mean as f32,
            std: m.std as f32,
            w1_rel: change.map_or(0.0, |c| c.w1_rel as f32),
            size: change.map_or(0.0, |c| change_size(&c) as f32),
            identical: change.is_some_and(|c| c.identical),
            has_prev: change.is_some(),
            nonfinite: m.nonfinite,
        });
        if tag.first.is_none() {
            tag.first = Some(full.clone());
        }
        tag.last = Some(full);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::Histogram;

    /// Prepares and keeps a point, as the loader does.
    fn feed(s: &mut SeriesSink, p: HistogramPoint) {
        if let Some(p) = s.preparer().prepare(p) {
            s.point(0, p);
        }
    }

    fn point(step: i64, shift: f64) -> HistogramPoint {
        HistogramPoint {
            tag: "w".into(),
            step,
            wall_time: step as f64,
            offset: step as u64,
            histogram: Histogram::from_tensor_rows(&[
                shift,
                shift + 1.0,
                10.0,
                shift + 1.0,
                shift + 2.0,
                30.0,
            ])
            .unwrap(),
        }
    }

    #[test]
    fn digests_record_change_and_first_last_are_kept() {
        let mut s = SeriesSink::new(vec![], Arc::new(PointFilter::default()));
        feed(&mut s, point(0, 0.0));
        feed(&mut s, point(1, 0.0));
        feed(&mut s, point(2, 0.5));
        let t = &s.tags["w"];
        assert_eq!(t.digests.len(), 3);
        assert!(!t.digests[0].has_prev);
        assert!(t.digests[1].identical && t.digests[1].size == 0.0);
        let d = t.digests[2];
        // W1 of a shift by 0.5 over the std of the first point.
        assert!(!d.identical && d.w1_rel > 0.0, "{d:?}");
        assert_eq!(t.first.as_ref().unwrap().step, 0);
        assert_eq!(t.last.as_ref().unwrap().step, 2);
    }

    #[test]
    fn filters_drop_tags_and_steps() {
        let filter = PointFilter {
            tag: Some(Regex::new("^x").unwrap()),
            steps: None,
        };
        let mut s = SeriesSink::new(vec![], Arc::new(filter));
        feed(&mut s, point(0, 0.0));
        assert!(s.tags.is_empty());
        let filter = PointFilter {
            tag: None,
            steps: Some((1, 1)),
        };
        let mut s = SeriesSink::new(vec![], Arc::new(filter));
        for i in 0..3 {
            feed(&mut s, point(i, 0.0));
        }
        assert_eq!(s.tags["w"].digests.len(), 1);
    }

    #[test]
    fn rewind_to_before_the_first_point_forgets_everything() {
        let mut s = SeriesSink::new(vec![], Arc::new(PointFilter::default()));
        feed(&mut s, point(5, 0.0));
        feed(&mut s, point(6, 0.0));
        s.rewind("w", 3);
        let t = &s.tags["w"];
        assert!(t.digests.is_empty() && t.first.is_none() && t.last.is_none());
    }
}

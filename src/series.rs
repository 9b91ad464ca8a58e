//! A tag's series, accumulated while a run streams by: what the report needs and no more.
//!
//! Per point we keep a [`PointDigest`] (step, location in the file, a handful of moments and the
//! change from the previous point, 40 bytes); per tag the histogram and moments of only the
//! first and the last point. Anything else (per-step output, a point that becomes the last one
//! again after a restart) is read again by byte offset through the loader's
//! [`Reread`], so memory grows with the number of points, not with their size, and never with
//! the size of the logdir. No I/O happens here.

use crate::event_file::{HistogramPoint, Problem};
use crate::histogram::WireForm;
use crate::logdir::{Located, Prepare, Reread, RunSink};
use crate::point::{change_size, summary_and_change, Before, PointDigest, PointSummary};
use crate::stats::{self, Cdf, Change, Moments};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Which points to keep.
#[derive(Debug, Clone, Default)]
pub struct PointFilter {
    /// Keep tags matching this pattern (`--tag`).
    pub tag: Option<Regex>,
    /// Keep steps in `a..=b` (`--step-range A:B`).
    pub steps: Option<(i64, i64)>,
    /// Drop tags matching any of these (`--exclude-tag`).
    pub exclude_tags: Vec<Regex>,
}

impl PointFilter {
    pub fn keeps_tag(&self, tag: &str) -> bool {
        self.tag.as_ref().is_none_or(|r| r.is_match(tag))
            && !self.exclude_tags.iter().any(|r| r.is_match(tag))
    }

    /// True when some tags or steps may be left out.
    pub fn is_active(&self) -> bool {
        self.tag.is_some() || self.steps.is_some() || !self.exclude_tags.is_empty()
    }

    pub fn keeps_step(&self, step: i64) -> bool {
        self.steps.is_none_or(|(a, b)| step >= a && step <= b)
    }
}

/// A point as read, filtered and with its [`Moments`]: the first and last point of a tag are
/// kept in this form.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedPoint {
    pub point: HistogramPoint,
    pub moments: Moments,
}

impl PreparedPoint {
    pub fn new(point: HistogramPoint) -> PreparedPoint {
        let moments = stats::moments(&point.histogram);
        PreparedPoint { point, moments }
    }
}

/// A point as the reading half hands it to a [`SeriesSink`]: filtered, and with its
/// [`Moments`] when [`SeriesPrepare`] computed them there.
#[derive(Debug)]
pub struct ReadPoint {
    point: HistogramPoint,
    moments: Option<Moments>,
}

impl Located for ReadPoint {
    fn tag(&self) -> &str {
        &self.point.tag
    }
    fn step(&self) -> i64 {
        self.point.step
    }
    fn offset(&self) -> u64 {
        self.point.offset
    }
    fn heap_bytes(&self) -> usize {
        self.point.heap_bytes()
    }
}

/// A point's per-step row computed as the run is read ([`SeriesSink::keeping_rows`]): its
/// summary, and its change from the tag's point before it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptRow {
    pub point: PointSummary,
    pub change_prev: Option<Change>,
}

/// Rows kept in one list are this many to a chunk ([`KeptRows`]).
pub const ROWS_CHUNK: usize = 64;

/// The rows kept for one tag, in order, in chunks of [`ROWS_CHUNK`] that never move once
/// written: one growing list would copy every row again at each doubling, onto memory the
/// system must map first (most of a per-step export's page faults).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeptRows {
    chunks: Vec<Vec<KeptRow>>,
}

impl KeptRows {
    pub fn len(&self) -> usize {
        // Every chunk but the last is full.
        self.chunks
            .last()
            .map_or(0, |c| (self.chunks.len() - 1) * ROWS_CHUNK + c.len())
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    fn push(&mut self, row: KeptRow) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < ROWS_CHUNK => c.push(row),
            _ => {
                let mut c = Vec::with_capacity(ROWS_CHUNK);
                c.push(row);
                self.chunks.push(c);
            }
        }
    }

    /// Rows `i·ROWS_CHUNK` up to `(i + 1)·ROWS_CHUNK` (fewer in the last chunk); empty past
    /// the end.
    pub fn chunk(&self, i: usize) -> &[KeptRow] {
        self.chunks.get(i).map_or(&[], Vec::as_slice)
    }

    /// The chunks, in order.
    pub fn into_chunks(self) -> impl Iterator<Item = Vec<KeptRow>> {
        self.chunks.into_iter()
    }
}

impl KeptRow {
    /// Memory it holds, roughly: itself and its lists.
    fn bytes(&self) -> usize {
        KeptRow::bytes_of(&self.point)
    }

    /// [`KeptRow::bytes`] of the row of `s`.
    pub(crate) fn bytes_of(s: &PointSummary) -> usize {
        std::mem::size_of::<KeptRow>()
            + 8 * s.shape.peaks.capacity()
            + std::mem::size_of::<stats::Peak>() * s.stats.modes.capacity()
            + 32
    }
}

/// Memory that the runs of one analysis may fill with [`KeptRow`]s, shared by their sinks:
/// a run whose rows do not fit gives back what it took and keeps none.
#[derive(Debug)]
pub struct RowBudget(AtomicUsize);

impl RowBudget {
    pub fn new(bytes: usize) -> Arc<RowBudget> {
        Arc::new(RowBudget(AtomicUsize::new(bytes)))
    }

    /// Takes `n` bytes if that many are left.
    fn take(&self, n: usize) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(n)
            })
            .is_ok()
    }

    pub(crate) fn give(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// Everything kept for one tag of one run.
#[derive(Debug, Clone)]
pub struct TagSeries {
    pub form: WireForm,
    pub digests: Vec<PointDigest>,
    /// One per digest when the sink keeps rows ([`SeriesSink::keeping_rows`]), else empty.
    pub rows: KeptRows,
    pub first: Option<PreparedPoint>,
    pub last: Option<PreparedPoint>,
    /// The CDF of `last`, built when first needed (a frozen series never needs one).
    last_cdf: Option<Option<Cdf>>,
}

/// A [`RunSink`] that builds a [`TagSeries`] per tag.
#[derive(Debug)]
pub struct SeriesSink {
    filter: Arc<PointFilter>,
    pub tags: BTreeMap<String, TagSeries>,
    /// Points that could not be read again after a restart.
    pub problems: Vec<Problem>,
    /// Most digests kept per tag; see [`SeriesSink::with_digest_cap`].
    digest_cap: Option<usize>,
    /// The memory of the last CDF dropped, for the next one built ([`Cdf::new_in`]).
    spare_knots: Vec<(f64, f64, f64)>,
    /// See [`SeriesSink::points_only`].
    points_only: bool,
    /// See [`SeriesSink::keeping_rows`]: the budget, and the bytes taken from it.
    rows: Option<(Arc<RowBudget>, usize)>,
}

impl SeriesSink {
    pub fn new(filter: Arc<PointFilter>) -> SeriesSink {
        SeriesSink {
            filter,
            tags: BTreeMap::new(),
            problems: Vec::new(),
            digest_cap: None,
            spare_knots: Vec::new(),
            points_only: false,
            rows: None,
        }
    }

    /// A [`points_only`](SeriesSink::points_only) sink that also computes every point's
    /// per-step row as it comes ([`KeptRow`]: what `analysis::steps` would compute reading
    /// the point again later, and the same numbers), while `budget` has room for them. Rows
    /// then cost no second read of the logdir. When the budget runs out, or a restart
    /// rewinds a tag, the run keeps no rows at all (and gives their memory back): its rows are
    /// read again later, as without this.
    pub fn keeping_rows(self, budget: Arc<RowBudget>) -> SeriesSink {
        SeriesSink {
            rows: Some((budget, 0)),
            ..self.points_only()
        }
    }

    /// True when every tag's [`TagSeries::rows`] holds a row per digest.
    pub fn kept_rows(&self) -> bool {
        self.rows.is_some()
    }

    /// Gives up the rows kept so far, and keeping them.
    fn drop_rows(&mut self) {
        if let Some((budget, taken)) = self.rows.take() {
            budget.give(taken);
            for t in self.tags.values_mut() {
                t.rows = KeptRows::default();
            }
        }
    }

    /// Keeps the points and not the change between them: no CDF is built and no distance
    /// computed, and every digest reads as a tag's first point (`has_prev` false). For a
    /// report that only indexes the points for per-step output, which computes each change
    /// itself: the read then costs a fifth less. Such a report cannot be diagnosed.
    pub fn points_only(mut self) -> SeriesSink {
        self.points_only = true;
        self
    }

    /// See [`SeriesSink::points_only`].
    pub fn is_points_only(&self) -> bool {
        self.points_only
    }

    /// Keeps at most `cap` (at least 3) digests per tag, for a run that grows without end
    /// (`watch`): when a tag reaches the cap, its digests after the first are merged in
    /// pairs (`merge_pair`), so memory per tag is bounded and the series keeps its whole
    /// span at half the resolution. What the flags need survives a merge: a pair is
    /// identical only when both were, its change is the larger one, NaN anywhere stays.
    /// Steps then name the later point of each merged pair, so "froze at step s" is exact to
    /// the merged resolution. Per-step output and plots need every point: the one-shot report
    /// keeps them all.
    pub fn with_digest_cap(mut self, cap: usize) -> SeriesSink {
        self.digest_cap = Some(cap.max(3));
        self
    }
}

/// One digest for two consecutive ones, `a` then `b`: `b`'s point, the change from the point
/// before `a` to `b` bounded by the larger of the two steps' changes.
fn merge_pair(a: &PointDigest, b: &PointDigest) -> PointDigest {
    let max = |x: f32, y: f32| {
        if x.is_nan() || y.is_nan() {
            f32::NAN
        } else {
            x.max(y)
        }
    };
    PointDigest {
        w1_rel: max(a.w1_rel, b.w1_rel),
        size: max(a.size, b.size),
        identical: a.identical && b.identical,
        has_prev: a.has_prev,
        nonfinite: a.nonfinite || b.nonfinite,
        ..*b
    }
}

/// Halves `digests` after the first, merging neighbours in pairs (an odd last one stays).
fn thin(digests: &mut Vec<PointDigest>) {
    let n = digests.len();
    let mut w = 1;
    let mut r = 1;
    while r < n {
        digests[w] = if r + 1 < n {
            merge_pair(&digests[r], &digests[r + 1])
        } else {
            digests[r]
        };
        w += 1;
        r += 2;
    }
    digests.truncate(w);
}

/// Applies a [`PointFilter`], and computes [`Moments`] when the sink keeps per-step rows.
///
/// In a pipelined run (`logdir`) this runs on the reading thread, and the moments belong on
/// whichever half has less to do: a sink that keeps rows computes each row's full statistics
/// and shape, several times the reading's work per point, while a report's sink only builds a
/// CDF and its distances to the last one, about half the reading's (a profile of one 300 MB
/// file, `perf record`: reading 66 %, keeping 32 % of the CPU time).
#[derive(Debug, Clone)]
pub struct SeriesPrepare {
    filter: Arc<PointFilter>,
    moments: bool,
}

impl Prepare for SeriesPrepare {
    type Point = ReadPoint;

    fn prepare(&self, point: HistogramPoint) -> Option<ReadPoint> {
        if !self.filter.keeps_step(point.step) || !self.filter.keeps_tag(&point.tag) {
            return None;
        }
        let moments = self.moments.then(|| stats::moments(&point.histogram));
        Some(ReadPoint { point, moments })
    }
}

impl RunSink for SeriesSink {
    type Prepare = SeriesPrepare;

    fn preparer(&self) -> SeriesPrepare {
        SeriesPrepare {
            filter: self.filter.clone(),
            moments: self.rows.is_some(),
        }
    }

    fn rewind(&mut self, tag: &str, step: i64, reread: &dyn Reread) {
        let Some(keep) = self.tags.get(tag).and_then(|s| {
            let keep = s.digests.partition_point(|d| d.step < step);
            (keep < s.digests.len()).then_some(keep)
        }) else {
            return;
        };
        // A rewound tag's next change is from a point read again: any rows kept are given up
        // and left to the reread path.
        self.drop_rows();
        let Some(s) = self.tags.get_mut(tag) else {
            return;
        };
        s.digests.truncate(keep);
        s.last_cdf = None;
        match s.digests.last() {
            None => {
                s.first = None;
                s.last = None;
            }
            Some(d) => match reread.reread(d.file, d.offset, tag) {
                Ok(p) => s.last = Some(PreparedPoint::new(p)),
                Err(e) => {
                    self.problems.push(e);
                    s.digests.pop();
                    s.last = None;
                }
            },
        }
    }

    fn point(&mut self, file: usize, new: ReadPoint) {
        let new = PreparedPoint {
            moments: new
                .moments
                .unwrap_or_else(|| stats::moments(&new.point.histogram)),
            point: new.point,
        };
        let tag = match self.tags.get_mut(&new.point.tag) {
            Some(t) => t,
            None => self
                .tags
                .entry(new.point.tag.clone())
                .or_insert_with(|| TagSeries {
                    form: new.point.histogram.form,
                    digests: Vec::new(),
                    rows: KeptRows::default(),
                    first: None,
                    last: None,
                    last_cdf: None,
                }),
        };
        let (h, m) = (&new.point.histogram, &new.moments);
        let mut out_of_budget = false;
        if let Some((budget, taken)) = &mut self.rows {
            // The row as `analysis::steps` computes it when it reads the point again.
            let before = match &tag.last {
                Some(l) => Some(Before {
                    histogram: &l.point.histogram,
                    moments: &l.moments,
                    cdf: tag
                        .last_cdf
                        .take()
                        .unwrap_or_else(|| Cdf::new(&l.point.histogram.buckets)),
                }),
                None => None,
            };
            let (point, change_prev, cdf) = summary_and_change(
                before,
                new.point.step,
                new.point.wall_time,
                h,
                Some(m),
                &mut self.spare_knots,
            );
            tag.last_cdf = Some(cdf);
            let row = KeptRow { point, change_prev };
            let n = row.bytes();
            if budget.take(n) {
                *taken += n;
                tag.rows.push(row);
            } else {
                out_of_budget = true;
            }
        }
        let change = match &tag.last {
            _ if self.points_only => None,
            None => None,
            // The same histogram again: the cached CDF stays valid for the new last point.
            Some(l) if stats::identical(&l.point.histogram, h) => Some(Change::NONE),
            Some(l) => {
                let prev = tag
                    .last_cdf
                    .get_or_insert_with(|| Cdf::new(&l.point.histogram.buckets));
                let cur = Cdf::new_in(&h.buckets, std::mem::take(&mut self.spare_knots));
                let c = stats::change_of_different(&l.moments, prev.as_ref(), m, cur.as_ref());
                if let Some(Some(old)) = tag.last_cdf.replace(cur) {
                    self.spare_knots = old.into_knots();
                }
                Some(c)
            }
        };
        if self.digest_cap.is_some_and(|cap| tag.digests.len() >= cap) {
            thin(&mut tag.digests);
        }
        tag.digests.push(PointDigest {
            step: new.point.step,
            offset: new.point.offset,
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
            tag.first = Some(new.clone());
        }
        // The point it replaces gives its buckets' memory to the next point decoded.
        if let Some(old) = tag.last.replace(new) {
            crate::histogram::recycle(old.point.histogram.buckets);
        }
        if out_of_budget {
            self.drop_rows();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_rows_fill_chunks_in_order() {
        let h = Histogram::from_tensor_rows(&[0.0, 1.0, 3.0, 1.0, 2.0, 5.0]).unwrap();
        let mut rows = KeptRows::default();
        assert_eq!((rows.len(), rows.is_empty()), (0, true));
        for step in 0..150 {
            rows.push(KeptRow {
                point: PointSummary::of(step, 0.0, &h),
                change_prev: None,
            });
        }
        assert_eq!(rows.len(), 150);
        let sizes: Vec<usize> = (0..4).map(|i| rows.chunk(i).len()).collect();
        assert_eq!(sizes, [64, 64, 22, 0]);
        assert_eq!(rows.chunk(2)[0].point.step, 128);
        let steps: Vec<i64> = rows.into_chunks().flatten().map(|r| r.point.step).collect();
        assert_eq!(steps, (0..150).collect::<Vec<_>>());
    }
    use crate::histogram::Histogram;

    /// Reads nothing: these tests never rewind onto a point that has to be read again.
    struct NoFiles;
    impl Reread for NoFiles {
        fn reread(&self, _: u32, offset: u64, _: &str) -> Result<HistogramPoint, Problem> {
            Err(Problem::new(
                "none".into(),
                Some(offset),
                crate::event_file::ProblemKind::Io,
                "no files",
            ))
        }
    }

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
        let mut s = SeriesSink::new(Arc::new(PointFilter::default()));
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
        assert_eq!(t.first.as_ref().unwrap().point.step, 0);
        assert_eq!(t.last.as_ref().unwrap().point.step, 2);
    }

    #[test]
    fn a_digest_cap_bounds_memory_and_keeps_what_the_flags_need() {
        let mut s = SeriesSink::new(Arc::new(PointFilter::default())).with_digest_cap(8);
        // Moves until step 40, then stays identical.
        for i in 0..100 {
            feed(&mut s, point(i, (i.min(40) as f64) * 0.01));
        }
        let t = &s.tags["w"];
        assert!(t.digests.len() <= 8, "{}", t.digests.len());
        assert_eq!(t.digests[0].step, 0);
        assert!(!t.digests[0].has_prev);
        assert_eq!(t.digests.last().unwrap().step, 99);
        // Steps stay in order; the early digests carry the change, the late ones none.
        assert!(t.digests.windows(2).all(|w| w[0].step < w[1].step));
        assert!(t.digests[1..].iter().any(|d| !d.identical && d.size > 0.0));
        assert!(t.digests.last().unwrap().identical);
        // A frozen series stays frozen through merges.
        let mut s = SeriesSink::new(Arc::new(PointFilter::default())).with_digest_cap(4);
        for i in 0..50 {
            feed(&mut s, point(i, 0.0));
        }
        let t = &s.tags["w"];
        assert!(t.digests[1..].iter().all(|d| d.has_prev && d.identical));
    }

    #[test]
    fn filters_drop_tags_and_steps() {
        let filter = PointFilter {
            tag: Some(Regex::new("^x").unwrap()),
            ..PointFilter::default()
        };
        let mut s = SeriesSink::new(Arc::new(filter));
        feed(&mut s, point(0, 0.0));
        assert!(s.tags.is_empty());
        let filter = PointFilter {
            steps: Some((1, 1)),
            ..PointFilter::default()
        };
        let mut s = SeriesSink::new(Arc::new(filter));
        for i in 0..3 {
            feed(&mut s, point(i, 0.0));
        }
        assert_eq!(s.tags["w"].digests.len(), 1);
    }

    #[test]
    fn rewind_to_before_the_first_point_forgets_everything() {
        let mut s = SeriesSink::new(Arc::new(PointFilter::default()));
        feed(&mut s, point(5, 0.0));
        feed(&mut s, point(6, 0.0));
        s.rewind("w", 3, &NoFiles);
        let t = &s.tags["w"];
        assert!(t.digests.is_empty() && t.first.is_none() && t.last.is_none());
    }
}

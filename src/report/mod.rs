//! One report model, several pure renderers (one file per format).
//!
//! [`build`] turns loaded runs into a [`Report`]: per run and tag the first and last point's
//! statistics and shape, the change between them and between consecutive points, and the
//! [`Flag`]s. Renderers write to a `&mut dyn Write` handed to them and never print or decide
//! exit codes; the JSON wire types in [`json`] are separate structs carrying `schema_version`,
//! so the model can change without changing the documented schema.

pub mod csv;
pub mod explain;
pub mod json;
pub mod plot;
pub mod table;

use crate::diagnose::{self, Facts, Flag, Thresholds};
use crate::event_file::Problem;
use crate::histogram::WireForm;
use crate::logdir::{FileInfo, LoadedRun};
use crate::series::{FullPoint, SeriesSink, TagSeries};
use crate::shape::{self, ShapeVerdict};
use crate::stats::{self, Change};
use std::cmp::Ordering;

/// One point as the report shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PointReport {
    pub point: FullPoint,
    pub shape: ShapeVerdict,
}

impl PointReport {
    pub fn new(point: FullPoint) -> PointReport {
        let shape = shape::classify(&point.histogram, &point.stats);
        PointReport { point, shape }
    }

    /// Frees the buckets: the report shows statistics only, and a logdir of many runs must not
    /// keep two histograms per tag alive until the end.
    pub fn without_histogram(mut self) -> PointReport {
        self.point.histogram.buckets = Vec::new();
        self
    }
}

/// The largest change between two consecutive points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepChange {
    /// The later of the two points.
    pub step: i64,
    /// Its W1/σ from the point before.
    pub w1_rel: f64,
}

/// One histogram tag of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct TagReport {
    pub run: String,
    pub tag: String,
    pub form: WireForm,
    pub points: usize,
    pub first: PointReport,
    pub last: PointReport,
    /// First to last point.
    pub change: Change,
    /// Every consecutive pair bitwise identical.
    pub all_identical: bool,
    /// The consecutive pair that changed most (by W1/σ), if there are two points.
    pub largest_step: Option<StepChange>,
    pub any_nonfinite: bool,
    pub flags: Vec<Flag>,
    /// Mean and std at up to [`SPARK_POINTS`] evenly spaced points, for sparklines.
    pub trend: Vec<(f64, f64)>,
}

/// Points kept for the mean/std sparklines.
pub const SPARK_POINTS: usize = 24;

/// One run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub run: String,
    pub files: Vec<FileInfo>,
    pub tags: Vec<TagReport>,
}

/// Everything the summary shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub runs: Vec<RunReport>,
    pub problems: Vec<Problem>,
    pub thresholds: Thresholds,
}

impl Report {
    pub fn tags(&self) -> impl Iterator<Item = &TagReport> {
        self.runs.iter().flat_map(|r| &r.tags)
    }

    pub fn total_points(&self) -> usize {
        self.tags().map(|t| t.points).sum()
    }

    /// Number of (tag, flag) pairs.
    pub fn total_flags(&self) -> usize {
        self.tags().map(|t| t.flags.len()).sum()
    }

    /// True when some tag carries one of `flags`.
    pub fn has_any(&self, flags: &[Flag]) -> bool {
        self.tags()
            .any(|t| t.flags.iter().any(|f| flags.contains(f)))
    }
}

/// Compares strings so that runs of digits compare as numbers: `layer2` < `layer10`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let n = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let m = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (&x[..n], &y[..m]);
                let tx = dx.iter().skip_while(|&&c| c == b'0').collect::<Vec<_>>();
                let ty = dy.iter().skip_while(|&&c| c == b'0').collect::<Vec<_>>();
                let ord = tx.len().cmp(&ty.len()).then_with(|| tx.cmp(&ty));
                if ord != Ordering::Equal {
                    return ord;
                }
                x = &x[n..];
                y = &y[m..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn tag_report(run: &str, tag: &str, s: TagSeries, t: &Thresholds) -> Option<TagReport> {
    let (first, last) = (s.first?, s.last?);
    let change = stats::change(
        &first.histogram,
        &first.moments,
        &last.histogram,
        &last.moments,
    );
    let (last_step, last_wall) = (last.step, last.wall_time);
    let first = PointReport::new(first.full()).without_histogram();
    // A single point, or a last point identical to the first (a frozen tag), needs no second
    // round of statistics and classification: with thousands of small runs that is most tags.
    let last = if change.identical {
        let mut same = first.clone();
        same.point.step = last_step;
        same.point.wall_time = last_wall;
        same
    } else {
        PointReport::new(last.full()).without_histogram()
    };
    let mut all_identical = true;
    let mut max_step_change: f64 = 0.0;
    let mut largest_step: Option<StepChange> = None;
    for d in s.digests.iter().filter(|d| d.has_prev) {
        all_identical &= d.identical;
        let size = f64::from(d.size);
        max_step_change = if size.is_nan() || max_step_change.is_nan() {
            f64::NAN
        } else {
            max_step_change.max(size)
        };
        let w1_rel = f64::from(d.w1_rel);
        if largest_step.is_none_or(|l| w1_rel > l.w1_rel) {
            largest_step = Some(StepChange {
                step: d.step,
                w1_rel,
            });
        }
    }
    let any_nonfinite = s.digests.iter().any(|d| d.nonfinite);
    let points = s.digests.len();
    let facts = Facts {
        tag,
        points,
        first: &first.point,
        first_shape: &first.shape,
        last: &last.point,
        last_shape: &last.shape,
        overall: change,
        all_identical,
        max_step_change,
        any_nonfinite,
    };
    let flags = diagnose::diagnose(&facts, t);
    let trend = (0..points.min(SPARK_POINTS))
        .map(|i| {
            let k = if points <= SPARK_POINTS {
                i
            } else {
                i * (points - 1) / (SPARK_POINTS - 1)
            };
            (f64::from(s.digests[k].mean), f64::from(s.digests[k].std))
        })
        .collect();
    Some(TagReport {
        run: run.to_string(),
        tag: tag.to_string(),
        form: s.form,
        points,
        first,
        last,
        change,
        all_identical,
        largest_step,
        any_nonfinite,
        flags,
        trend,
    })
}

/// Reports one loaded run: its tags in natural order, and the problems found in it. The
/// histograms of the first and last points are dropped once their statistics are computed.
pub fn run_report(l: LoadedRun<SeriesSink>, thresholds: &Thresholds) -> (RunReport, Vec<Problem>) {
    let mut problems = l.problems;
    problems.extend(l.sink.problems);
    let name = l.run.name;
    let mut tags: Vec<TagReport> = l
        .sink
        .tags
        .into_iter()
        .filter_map(|(tag, s)| tag_report(&name, &tag, s, thresholds))
        .collect();
    tags.sort_by(|a, b| natural_cmp(&a.tag, &b.tag));
    let run = RunReport {
        run: name,
        files: l.files,
        tags,
    };
    (run, problems)
}

/// Puts run reports together; `problems` are those found before loading.
pub fn assemble(
    parts: Vec<(RunReport, Vec<Problem>)>,
    mut problems: Vec<Problem>,
    thresholds: Thresholds,
) -> Report {
    let mut runs = Vec::with_capacity(parts.len());
    for (run, p) in parts {
        problems.extend(p);
        runs.push(run);
    }
    runs.sort_by(|a, b| natural_cmp(&a.run, &b.run));
    Report {
        runs,
        problems,
        thresholds,
    }
}

/// Builds the report from loaded runs; `problems` are those found before loading.
pub fn build(
    loaded: Vec<LoadedRun<SeriesSink>>,
    problems: Vec<Problem>,
    thresholds: Thresholds,
) -> Report {
    let parts = loaded
        .into_iter()
        .map(|l| run_report(l, &thresholds))
        .collect();
    assemble(parts, problems, thresholds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_compares_digit_runs_as_numbers() {
        let mut v = vec!["layer10/w", "layer2/w", "layer1/w", "a", "layer02/w"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            vec!["a", "layer1/w", "layer02/w", "layer2/w", "layer10/w"]
        );
    }
}

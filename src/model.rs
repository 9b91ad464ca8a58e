//! The one report model: what every front end and every renderer works from. Built by
//! [`crate::analysis`]; read by the renderers in [`crate::report`], which never compute.

use crate::diagnose::{Flag, Thresholds};
use crate::event_file::Problem;
use crate::histogram::{Histogram, WireForm};
use crate::logdir::FileInfo;
use crate::point::{PointDigest, PointSummary};
use crate::source::RunName;
use crate::stats::Change;
use std::cmp::Ordering;

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
    pub run: RunName,
    pub tag: String,
    pub form: WireForm,
    /// What it holds ([`crate::diagnose::infer_role`]): from its name, or from its values.
    pub role: crate::diagnose::Role,
    /// True when its values, not its name, gave the role.
    pub role_from_data: bool,
    pub points: usize,
    pub first: PointSummary,
    pub last: PointSummary,
    /// First to last point.
    pub change: Change,
    /// Every consecutive pair bitwise identical.
    pub all_identical: bool,
    /// The consecutive pair that changed most (by W1/σ), if there are two points.
    pub largest_step: Option<StepChange>,
    /// It changed, then stayed bit-identical from this step to the last (see
    /// [`crate::diagnose::froze_at`]).
    pub froze_at: Option<i64>,
    pub any_nonfinite: bool,
    pub flags: Vec<Flag>,
    /// The random initializer its last point matches, with the layer's fan-in, when the layer
    /// logs both a weight and a bias ([`crate::diagnose::init_family`]).
    pub init: Option<(crate::diagnose::InitFamily, f64)>,
    /// Smallest and largest root mean square (√(mean² + σ²)) over its points.
    pub rms_range: (f64, f64),
    /// For a parameter of a run that logs a learning rate: how large its updates can have been
    /// ([`crate::diagnose::update_bound`]).
    pub updates: Option<crate::diagnose::Updates>,
    /// Mean and std at up to [`SPARK_POINTS`] evenly spaced points, for sparklines.
    pub trend: Vec<(f64, f64)>,
    /// Every point, in step order: where to read it again (per-step rows, plots).
    pub digests: Vec<PointDigest>,
    /// Every point's per-step row, when the read computed them
    /// ([`crate::analysis::Options::keep_rows`]); else empty.
    pub rows: crate::series::KeptRows,
}

/// Points kept for the mean/std sparklines.
pub const SPARK_POINTS: usize = 24;

/// One run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub run: RunName,
    /// The run's files in reading order; [`PointDigest::file`] indexes this.
    pub files: Vec<FileInfo>,
    /// In natural order of the tag names.
    pub tags: Vec<TagReport>,
    /// Which kinds of histograms the run logged, by tag name.
    pub logged: Logged,
    /// The run's learning-rate scalars, if it logs one.
    pub learning_rate: Option<crate::event_file::LearningRate>,
}

/// Which kinds of histograms a run logged: what its flags can and cannot see.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Logged {
    pub parameters: bool,
    pub gradients: bool,
    pub activations: bool,
    /// A learning-rate scalar ([`crate::event_file::is_learning_rate`]).
    pub learning_rate: bool,
}

impl Logged {
    /// What cannot be assessed for lack of a kind of histogram, one sentence each.
    pub fn not_assessable(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.parameters {
            out.push("no weight or bias histograms logged: frozen, near_frozen and still_at_init not assessable");
        }
        if !self.gradients {
            out.push(
                "no gradient histograms logged: vanishing and exploding gradients not assessable",
            );
        }
        if !self.activations {
            out.push("no activation histograms logged: dead units and saturation not assessable");
        }
        if self.parameters && !self.learning_rate {
            out.push("no learning-rate scalar logged: the size of the updates (small_updates) not assessable");
        } else if self.parameters && !self.gradients {
            out.push("a learning rate but no gradients logged: the size of the updates (small_updates) assessable only where the learning rate is 0");
        }
        out
    }
}

/// Everything the summary shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// In natural order of the run names.
    pub runs: Vec<RunReport>,
    pub problems: Vec<Problem>,
    pub thresholds: Thresholds,
    /// The same logdir read without the tag filters, when they are active and a reading asks
    /// for it: `--explain`'s run verdict judges every layer, whatever `--tag` shows.
    pub unfiltered: Option<Box<Report>>,
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

    /// True when not one record could be read from any file.
    pub fn nothing_read(&self) -> bool {
        self.runs
            .iter()
            .flat_map(|r| &r.files)
            .all(|f| f.counts.records == 0)
    }
}

/// One point of one tag with its change from the tag's previous point: a row of the per-step
/// output ([`crate::analysis::steps`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StepRow {
    pub run: RunName,
    /// Shared by the rows of a tag (a copy per row cost an allocation per row).
    pub tag: std::sync::Arc<str>,
    pub form: WireForm,
    pub point: PointSummary,
    /// From the previous point of the tag; `None` for the first.
    pub change_prev: Option<Change>,
}

/// The buckets of one point of one tag, as the model holds them (ascending edges; a legacy
/// histogram's outer edges are its exact min and max): a unit of `histinspect buckets`.
#[derive(Debug, Clone, PartialEq)]
pub struct PointBuckets {
    pub run: RunName,
    pub tag: String,
    pub form: WireForm,
    pub step: i64,
    pub wall_time: f64,
    pub buckets: Vec<crate::histogram::Bucket>,
}

/// What `histinspect plot` draws for one tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    pub run: RunName,
    pub tag: String,
    pub picture: Picture,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Picture {
    /// One point as bars, with its statistics.
    Bars {
        point: Box<PointSummary>,
        histogram: Histogram,
    },
    /// Several points, one ridge each: `(step, histogram)`.
    Ridgeline(Vec<(i64, Histogram)>),
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

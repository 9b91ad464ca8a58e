//! `histinspect diff A B`: two runs (or two logdirs whose runs pair by name) compared tag by
//! tag — each side's flags, shape and change over training, the flags B gained and lost, and
//! how far apart the two histograms are at the last step both logged.
//!
//! Distance: the Wasserstein-1 distance between A's and B's histograms at the last step both
//! have, over A's σ there: 0 for identical histograms, 1 when B is A shifted by one of A's
//! standard deviations. A constant A (σ = 0, a one-value bias) is measured in its |mean|
//! instead, and in raw units when that is 0 too. Both points are read from the files again.
//!
//! Pairing: when each side holds one run, those two are compared whatever their names;
//! otherwise runs pair by name, and a run on one side only lists its tags as `a` or `b`.

use crate::analysis::{self, Options};
use crate::diagnose::Flag;
use crate::event_file::Problem;
use crate::model::{natural_cmp, Report, RunReport, TagReport};
use crate::shape::Shape;
use crate::source::Source;
use crate::stats;

/// Where a tag was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Present {
    Both,
    A,
    B,
}

impl Present {
    pub fn as_str(self) -> &'static str {
        match self {
            Present::Both => "both",
            Present::A => "a",
            Present::B => "b",
        }
    }
}

/// One side of a tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub run: String,
    pub flags: Vec<Flag>,
    pub last_shape: Shape,
    /// First → last point, W1 over the first point's σ.
    pub change: f64,
    pub first_step: i64,
    pub last_step: i64,
}

/// One tag compared.
#[derive(Debug, Clone, PartialEq)]
pub struct TagDiff {
    /// The run's name (A's when two single runs of other names are compared).
    pub run: String,
    pub tag: String,
    pub present: Present,
    pub a: Option<Side>,
    pub b: Option<Side>,
    /// Flags B has and A has not: regressions.
    pub new_flags: Vec<Flag>,
    /// Flags A has and B has not.
    pub gone_flags: Vec<Flag>,
    /// W1 / A's σ at `step` (see the module docs); `None` without a common step.
    pub distance: Option<f64>,
    /// The last step both sides logged.
    pub step: Option<i64>,
}

impl TagDiff {
    pub fn is_regression(&self) -> bool {
        !self.new_flags.is_empty()
    }
}

/// The whole comparison.
#[derive(Debug, Clone)]
pub struct Diff {
    pub tags: Vec<TagDiff>,
    pub problems: Vec<Problem>,
    /// Runs on each side.
    pub runs_a: usize,
    pub runs_b: usize,
}

impl Diff {
    /// Tags found on both sides.
    pub fn compared(&self) -> usize {
        self.tags
            .iter()
            .filter(|t| t.present == Present::Both)
            .count()
    }
}

fn side(run: &RunReport, t: &TagReport) -> Side {
    Side {
        run: run.run.as_str().to_string(),
        flags: t.flags.clone(),
        last_shape: t.last.shape.shape,
        change: t.change.w1_rel,
        first_step: t.first.step,
        last_step: t.last.step,
    }
}

/// Compares `a` (read through `src_a`) with `b`.
pub fn diff(src_a: &dyn Source, a: &Report, src_b: &dyn Source, b: &Report) -> Diff {
    let mut problems = Vec::new();
    let pairs: Vec<(Option<&RunReport>, Option<&RunReport>)> =
        if a.runs.len() == 1 && b.runs.len() == 1 {
            vec![(Some(&a.runs[0]), Some(&b.runs[0]))]
        } else {
            let mut v: Vec<_> = a
                .runs
                .iter()
                .map(|ra| (Some(ra), b.runs.iter().find(|rb| rb.run == ra.run)))
                .collect();
            v.extend(
                b.runs
                    .iter()
                    .filter(|rb| !a.runs.iter().any(|ra| ra.run == rb.run))
                    .map(|rb| (None, Some(rb))),
            );
            v
        };
    let mut tags = Vec::new();
    for (ra, rb) in pairs {
        let name = ra
            .or(rb)
            .map(|r| r.run.as_str().to_string())
            .unwrap_or_default();
        let mut names: Vec<&str> = ra
            .iter()
            .chain(rb.iter())
            .flat_map(|r| r.tags.iter().map(|t| t.tag.as_str()))
            .collect();
        names.sort_by(|x, y| natural_cmp(x, y));
        names.dedup();
        for tag in names {
            let ta = ra.and_then(|r| r.tags.iter().find(|t| t.tag == tag).map(|t| (r, t)));
            let tb = rb.and_then(|r| r.tags.iter().find(|t| t.tag == tag).map(|t| (r, t)));
            let (sa, sb) = (ta.map(|(r, t)| side(r, t)), tb.map(|(r, t)| side(r, t)));
            let present = match (&sa, &sb) {
                (Some(_), Some(_)) => Present::Both,
                (Some(_), None) => Present::A,
                _ => Present::B,
            };
            let fa = sa.as_ref().map_or(&[][..], |s| &s.flags[..]);
            let fb = sb.as_ref().map_or(&[][..], |s| &s.flags[..]);
            let (new_flags, gone_flags) = if present == Present::Both {
                (
                    fb.iter().filter(|f| !fa.contains(f)).copied().collect(),
                    fa.iter().filter(|f| !fb.contains(f)).copied().collect(),
                )
            } else {
                (Vec::new(), Vec::new())
            };
            let (mut distance, mut step) = (None, None);
            if let (Some((ra, ta)), Some((rb, tb))) = (ta, tb) {
                if let Some((da, db)) = last_common(ta, tb) {
                    step = Some(da.step);
                    let read_a = analysis::reread(src_a, ra, tag, da);
                    let read_b = analysis::reread(src_b, rb, tag, db);
                    match (read_a, read_b) {
                        (Ok(pa), Ok(pb)) => {
                            let (ma, mb) =
                                (stats::moments(&pa.histogram), stats::moments(&pb.histogram));
                            let c = stats::change(&pa.histogram, &ma, &pb.histogram, &mb);
                            distance = Some(c.w1 / scale(&ma));
                        }
                        (Err(e), _) | (_, Err(e)) => problems.push(e),
                    }
                }
            }
            tags.push(TagDiff {
                run: name.clone(),
                tag: tag.to_string(),
                present,
                a: sa,
                b: sb,
                new_flags,
                gone_flags,
                distance,
                step,
            });
        }
    }
    // Regressions first, then the largest distances; unknown distances last.
    tags.sort_by(|x, y| {
        y.is_regression()
            .cmp(&x.is_regression())
            .then_with(|| {
                let d = |t: &TagDiff| t.distance.filter(|d| !d.is_nan());
                match (d(x), d(y)) {
                    (Some(p), Some(q)) => q.total_cmp(&p),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
            })
            .then_with(|| natural_cmp(&x.run, &y.run))
            .then_with(|| natural_cmp(&x.tag, &y.tag))
    });
    problems.extend(a.problems.iter().cloned());
    problems.extend(b.problems.iter().cloned());
    Diff {
        tags,
        problems,
        runs_a: a.runs.len(),
        runs_b: b.runs.len(),
    }
}

/// What a distance is measured in: A's σ; for a constant A (a one-value bias), its |mean|;
/// 1 when that is 0 too.
fn scale(m: &stats::Moments) -> f64 {
    if m.std > 0.0 {
        m.std
    } else if m.mean != 0.0 {
        m.mean.abs()
    } else {
        1.0
    }
}

/// The digests of the last step both tags logged.
fn last_common<'a>(
    a: &'a TagReport,
    b: &'a TagReport,
) -> Option<(&'a crate::point::PointDigest, &'a crate::point::PointDigest)> {
    let (mut i, mut j) = (a.digests.len(), b.digests.len());
    while i > 0 && j > 0 {
        let (da, db) = (&a.digests[i - 1], &b.digests[j - 1]);
        match da.step.cmp(&db.step) {
            std::cmp::Ordering::Equal => return Some((da, db)),
            std::cmp::Ordering::Greater => i -= 1,
            std::cmp::Ordering::Less => j -= 1,
        }
    }
    None
}

/// Analyzes both sides with the same options, then compares them.
pub fn analyze_and_diff(src_a: &dyn Source, src_b: &dyn Source, opts: &Options) -> Diff {
    let a = analysis::analyze(src_a, opts);
    let b = analysis::analyze(src_b, opts);
    diff(src_a, &a, src_b, &b)
}

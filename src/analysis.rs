//! The library's front door: [`analyze`] reads a [`Source`] and returns the whole [`Report`]
//! (runs, tags, series summaries, flags, problems), printing nothing. Per-step rows
//! ([`steps`]) and plots ([`plots`]) are read from the same report, point by point, through
//! the same source. The CLI, and later the watcher, the diff and the Python API, are thin
//! layers over these functions.

use crate::diagnose::{self, Facts, Thresholds};
use crate::event_file::{HistogramPoint, LearningRate, PointReader, Problem};
use crate::logdir::{self, FileInfo, LoadedRun};
use crate::model::{
    natural_cmp, Logged, Picture, Plot, PointBuckets, Report, RunReport, StepChange, StepRow,
    TagReport, SPARK_POINTS,
};
use crate::point::{summary_and_change, Before, PointDigest, PointSummary};
use crate::series::{KeptRow, PointFilter, RowBudget, SeriesSink, TagSeries};
use crate::source::{Discovery, RunName, Source};
use crate::stats::{self, Moments};
use regex::Regex;
use std::sync::Arc;

/// What to analyse and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep runs whose name matches (`--run`).
    pub runs: Option<Regex>,
    /// Drop runs whose name matches any of these (`--exclude-run`).
    pub exclude_runs: Vec<Regex>,
    /// Tags and steps to keep (`--tag`, `--step-range`).
    pub points: PointFilter,
    pub thresholds: Thresholds,
    /// Read the points and nothing more: the report is only the index of the points that
    /// [`steps`] and [`buckets`] read again. The change between consecutive points is not
    /// computed while reading (the per-step rows compute it exactly themselves) and nothing
    /// is diagnosed: tags carry no flags and no change, and their report must not be shown or
    /// gated on ([`SeriesSink::points_only`]).
    pub points_only: bool,
    /// With `points_only`: compute the per-step rows while reading, in at most this many
    /// bytes of memory for all runs together, so that [`steps`] need not read them again
    /// ([`SeriesSink::keeping_rows`]). Used only when there are at least as many runs as
    /// threads: a run read alone is read by two threads in a pipeline, and its rows are
    /// computed faster afterwards by all threads.
    pub keep_rows: Option<usize>,
}

/// The runs of `source` that `opts` keeps.
pub fn discover(source: &dyn Source, opts: &Options) -> Discovery {
    let mut d = source.discover();
    d.retain_runs(|r| {
        opts.runs.as_ref().is_none_or(|re| re.is_match(r.as_str()))
            && !opts.exclude_runs.iter().any(|re| re.is_match(r.as_str()))
    });
    d
}

impl Options {
    /// True when some runs, tags or steps may be left out.
    pub fn filters(&self) -> bool {
        self.runs.is_some() || !self.exclude_runs.is_empty() || self.points.is_active()
    }

    /// The same analysis with no run, tag or step left out.
    /// The same options without the tag filters (`--tag`, `--exclude-tag`).
    pub fn without_tag_filters(&self) -> Options {
        let mut o = self.clone();
        o.points.tag = None;
        o.points.exclude_tags.clear();
        o
    }

    /// True when tag filters are active.
    pub fn filters_tags(&self) -> bool {
        self.points.tag.is_some() || !self.points.exclude_tags.is_empty()
    }

    pub fn unfiltered(&self) -> Options {
        Options {
            thresholds: self.thresholds,
            points_only: self.points_only,
            ..Options::default()
        }
    }
}

/// Reads everything `source` holds and reports on it.
pub fn analyze(source: &dyn Source, opts: &Options) -> Report {
    let discovery = discover(source, opts);
    analyze_discovered(source, discovery, opts, &|_| {})
}

/// [`analyze`] over runs already discovered; `on_file_done` gets the bytes of each file read
/// (for a progress display).
pub fn analyze_discovered(
    source: &dyn Source,
    discovery: Discovery,
    opts: &Options,
    on_file_done: &(dyn Fn(u64) + Sync),
) -> Report {
    analyze_with(source, discovery, opts, on_file_done, None).0
}

/// [`analyze_discovered`] for the per-step rows, handing them over while the logdir is read:
/// runs are read in report order and, once a run and every run before it are read, the
/// rows it kept ([`Options::keep_rows`]) are moved out to `rows`, a few of a tag at a time, so
/// that they can be written while later runs are read and their memory serve the next runs.
/// This stops at the first run that kept no rows (the budget ran out, or rows are not kept
/// at all): its rows and those of every run after it are read again by [`steps_from`].
/// Returns the report and the number of its leading runs whose rows went to `rows`.
pub fn analyze_handing_rows(
    source: &dyn Source,
    discovery: Discovery,
    opts: &Options,
    on_file_done: &(dyn Fn(u64) + Sync),
    rows: &mut (dyn FnMut(Vec<StepRow>) + Send),
) -> (Report, usize) {
    analyze_with(source, discovery, opts, on_file_done, Some(rows))
}

fn analyze_with(
    source: &dyn Source,
    mut discovery: Discovery,
    opts: &Options,
    on_file_done: &(dyn Fn(u64) + Sync),
    mut hand: Option<&mut (dyn FnMut(Vec<StepRow>) + Send)>,
) -> (Report, usize) {
    let filter = Arc::new(opts.points.clone());
    let t = opts.thresholds;
    let budget = opts
        .keep_rows
        .filter(|_| opts.points_only && discovery.runs.len() >= rayon::current_num_threads())
        .map(RowBudget::new);
    // Report order, in which runs are started and their rows handed over.
    let mut order: Vec<usize> = (0..discovery.runs.len()).collect();
    order.sort_by(|&a, &b| {
        let name = |i: usize| discovery.runs[i].name.as_str();
        natural_cmp(name(a), name(b))
    });
    let (mut handed, mut stopped) = (0, false);
    let mut deliver = |(run, _): &mut (RunReport, Vec<Problem>)| {
        let (Some(hand), Some(budget)) = (hand.as_mut(), &budget) else {
            return;
        };
        stopped = stopped || !run.tags.iter().all(|t| t.rows.len() == t.digests.len());
        if stopped {
            return;
        }
        let run_name = &run.run;
        for tag in &mut run.tags {
            let name: Arc<str> = tag.tag.as_str().into();
            // A chunk at a time: small lists are taken from memory freed by the rows
            // written before, where a tag's whole list would be mapped afresh.
            for kept in std::mem::take(&mut tag.rows).into_chunks() {
                let rows: Vec<StepRow> = kept
                    .into_iter()
                    .map(|k| step_row(run_name, tag, &name, k))
                    .collect();
                budget.give(rows.iter().map(|r| KeptRow::bytes_of(&r.point)).sum());
                hand(rows);
            }
        }
        handed += 1;
    };
    let parts = logdir::load_in_order(
        source,
        &discovery,
        &order,
        |_| {
            let sink = SeriesSink::new(filter.clone());
            match &budget {
                Some(b) => sink.keeping_rows(b.clone()),
                None if opts.points_only => sink.points_only(),
                None => sink,
            }
        },
        |l| run_report(l, &t),
        &mut deliver,
        on_file_done,
    );
    let mut problems = std::mem::take(&mut discovery.problems);
    let mut runs = Vec::with_capacity(parts.len());
    for (run, p) in parts {
        problems.extend(p);
        runs.push(run);
    }
    runs.sort_by(|a, b| natural_cmp(a.run.as_str(), b.run.as_str()));
    let report = Report {
        runs,
        problems,
        thresholds: opts.thresholds,
        unfiltered: None,
    };
    (report, handed)
}

/// Reports one loaded run: its tags in natural order, and the problems found in it. The
/// histograms of the first and last points are dropped once their statistics are computed.
pub fn run_report(l: LoadedRun<SeriesSink>, thresholds: &Thresholds) -> (RunReport, Vec<Problem>) {
    let mut problems = l.problems;
    let mut run = current_report(l.run.name, l.files, &l.sink, thresholds);
    let kept = l.sink.kept_rows();
    problems.extend(l.sink.problems);
    let mut series = l.sink.tags;
    for t in &mut run.tags {
        if let Some(s) = series.remove(&t.tag) {
            t.digests = s.digests;
            if kept {
                t.rows = s.rows;
            }
        }
    }
    (run, problems)
}

/// The report of a run from what its sink holds now, leaving the sink as it is (a watcher
/// reports a run after every poll that read something). The tags' `digests` are left empty.
pub fn current_report(
    name: RunName,
    files: Vec<FileInfo>,
    sink: &SeriesSink,
    thresholds: &Thresholds,
) -> RunReport {
    // A points-only sink kept no changes between points: nothing to diagnose from.
    let diagnosed = !sink.is_points_only();
    // The output layer: the activations whose first point was logged last.
    let output = sink
        .tags
        .iter()
        .filter(|(t, _)| diagnose::role_of(t) == diagnose::Role::Activation)
        .max_by_key(|(_, s)| s.digests.first().map(|d| (d.file, d.offset)))
        .map(|(t, _)| t.clone());
    let mut tags: Vec<TagReport> = sink
        .tags
        .iter()
        .filter_map(|(tag, s)| {
            let is_output = output.as_deref() == Some(tag.as_str());
            tag_report(&name, tag.clone(), s, thresholds, is_output, diagnosed)
        })
        .collect();
    tags.sort_by(|a, b| natural_cmp(&a.tag, &b.tag));
    let learning_rate = files
        .iter()
        .filter_map(|f| f.counts.learning_rate)
        .fold(None, |a, b| Some(LearningRate::merge(a, b)));
    if diagnosed {
        flag_depth_profile(&mut tags, sink, thresholds);
        match_init_families(&mut tags);
        if let Some(lr) = learning_rate {
            bound_updates(&mut tags, &lr, thresholds);
        }
    }
    let mut logged = Logged {
        learning_rate: learning_rate.is_some(),
        ..Logged::default()
    };
    for t in &tags {
        match t.role {
            diagnose::Role::Weight | diagnose::Role::Bias => logged.parameters = true,
            diagnose::Role::Gradient => logged.gradients = true,
            diagnose::Role::Activation => logged.activations = true,
            diagnose::Role::Other => {}
        }
    }
    RunReport {
        run: name,
        files,
        tags,
        logged,
        learning_rate,
    }
}

fn tag_report(
    run: &RunName,
    tag: String,
    s: &TagSeries,
    t: &Thresholds,
    is_output: bool,
    diagnosed: bool,
) -> Option<TagReport> {
    let (first, last) = (s.first.as_ref()?, s.last.as_ref()?);
    let change = stats::change(
        &first.point.histogram,
        &first.moments,
        &last.point.histogram,
        &last.moments,
    );
    let summary = |p: &HistogramPoint| PointSummary::of(p.step, p.wall_time, &p.histogram);
    let first_summary = summary(&first.point);
    // A single point, or a last point identical to the first (a frozen tag), needs no second
    // round of statistics and classification: with thousands of small runs that is most tags.
    let last_summary = if change.identical {
        PointSummary {
            step: last.point.step,
            wall_time: last.point.wall_time,
            ..first_summary.clone()
        }
    } else {
        summary(&last.point)
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
    let rms_range = s
        .digests
        .iter()
        .map(|d| f64::from(d.mean).hypot(f64::from(d.std)))
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), r| {
            (lo.min(r), hi.max(r))
        });
    let froze_at = if all_identical {
        None
    } else {
        let steps: Vec<i64> = s.digests.iter().map(|d| d.step).collect();
        let same: Vec<bool> = s
            .digests
            .iter()
            .map(|d| d.has_prev && d.identical)
            .collect();
        diagnose::froze_at(&steps, &same)
    };
    let (role, role_from_data) = diagnose::infer_role(&tag, &last_summary);
    let facts = Facts {
        tag: &tag,
        role,
        is_output,
        points,
        first: &first_summary,
        last: &last_summary,
        overall: change,
        all_identical,
        froze_at,
        max_step_change,
        any_nonfinite,
    };
    let flags = if diagnosed {
        diagnose::diagnose(&facts, t)
    } else {
        Vec::new()
    };
    // Shown only where it made the tag frozen.
    let froze_at = froze_at.filter(|_| flags.contains(&diagnose::Flag::Frozen));
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
        run: run.clone(),
        tag,
        form: s.form,
        role,
        role_from_data,
        points,
        first: first_summary,
        last: last_summary,
        change,
        all_identical,
        largest_step,
        froze_at,
        any_nonfinite,
        flags,
        init: None,
        rms_range,
        updates: None,
        trend,
        digests: Vec::new(),
        rows: Default::default(),
    })
}

/// Matches each `still_at_init` parameter of a layer that logs both a weight and a bias
/// against the random initializers ([`diagnose::init_family`], fans from the two value
/// counts), and keeps the flag only where one matches: a frozen layer whose values are no initializer's
/// (pretrained weights) is not at its init. Layers without both keep the shape-family rule.
fn match_init_families(tags: &mut [TagReport]) {
    use diagnose::{layer_of, role_of, Flag, Role};
    let mut counts: std::collections::HashMap<&str, (Option<f64>, Option<f64>)> =
        std::collections::HashMap::new();
    for t in tags.iter() {
        let e = counts.entry(layer_of(&t.tag)).or_default();
        match role_of(&t.tag) {
            Role::Weight => e.0 = Some(t.last.stats.count),
            Role::Bias => e.1 = Some(t.last.stats.count),
            _ => {}
        }
    }
    let fans: std::collections::HashMap<String, (f64, f64)> = counts
        .into_iter()
        .filter_map(|(layer, c)| match c {
            (Some(w), Some(b)) => diagnose::fans(w, b).map(|f| (layer.to_string(), f)),
            _ => None,
        })
        .collect();
    for t in tags.iter_mut() {
        if !t.flags.contains(&Flag::StillAtInit) {
            continue;
        }
        let Some(&(fan_in, fan_out)) = fans.get(layer_of(&t.tag)) else {
            continue;
        };
        t.init = diagnose::init_family(&t.last, fan_in, fan_out).map(|f| (f, fan_in));
        if t.init.is_none() {
            t.flags.retain(|f| *f != Flag::StillAtInit);
        }
    }
}

/// Bounds the updates of every parameter from the run's learning rate and the parameter's
/// gradient, where logged ([`diagnose::update_bound`]), and flags `small_updates` where the
/// bound is at or below its threshold.
fn bound_updates(tags: &mut [TagReport], lr: &LearningRate, t: &Thresholds) {
    use diagnose::{layer_of, parameter_of_gradient, role_of, Role};
    let key = |tag: &str| (layer_of(tag).to_string(), role_of(tag));
    // Per parameter: the largest rms of its gradient over the run and the rms at the last point.
    let grads: std::collections::HashMap<(String, Role), (f64, f64)> = tags
        .iter()
        .filter(|g| role_of(&g.tag) == Role::Gradient)
        .map(|g| {
            let last = g.last.stats.mean.hypot(g.last.stats.std);
            (key(parameter_of_gradient(&g.tag)), (g.rms_range.1, last))
        })
        .collect();
    for p in tags.iter_mut() {
        if !matches!(role_of(&p.tag), Role::Weight | Role::Bias) || p.any_nonfinite {
            continue;
        }
        let grad = grads.get(&key(&p.tag)).copied();
        let Some(bound) = diagnose::update_bound(lr.max, grad.map(|g| g.0), p.rms_range.0) else {
            continue;
        };
        let w_last = p.last.stats.mean.hypot(p.last.stats.std);
        let sgd_ratio = grad
            .map(|(_, g_last)| lr.last * g_last / w_last)
            .filter(|r| r.is_finite());
        p.updates = Some(diagnose::Updates {
            lr_max: lr.max,
            bound,
            sgd_ratio,
        });
        if bound <= t.small_updates && !p.flags.contains(&diagnose::Flag::SmallUpdates) {
            p.flags.push(diagnose::Flag::SmallUpdates);
            p.flags.sort();
        }
    }
}

/// Adds `vanishing` to the early layers' weight gradients of a run whose gradient depth
/// profile shows it, and `exploding` to those whose gradients are as many orders of magnitude
/// above the last layer's ([`diagnose::exploding_by_depth`]). Depth is the order the writer logged the gradients in (the file and
/// offset of each tag's first point: `named_parameters()` and Keras both go input to output),
/// then the natural order of the names.
fn flag_depth_profile(tags: &mut [TagReport], sink: &SeriesSink, t: &Thresholds) {
    let mut grads: Vec<usize> = (0..tags.len())
        .filter(|&i| {
            let name = tags[i].tag.to_ascii_lowercase();
            diagnose::role_of(&tags[i].tag) == diagnose::Role::Gradient
                && (name.contains("weight") || name.contains("kernel"))
        })
        .collect();
    grads.sort_by(|&a, &b| {
        let at = |i: usize| {
            let s = sink.tags.get(&tags[i].tag)?;
            s.digests.first().map(|d| (d.file, d.offset))
        };
        at(a)
            .cmp(&at(b))
            .then_with(|| natural_cmp(&tags[a].tag, &tags[b].tag))
    });
    let profile: Vec<diagnose::GradientAtDepth> = grads
        .iter()
        .map(|&i| diagnose::GradientAtDepth {
            tag: &tags[i].tag,
            std: tags[i].last.stats.std,
        })
        .collect();
    let vanishing = diagnose::vanishing(&profile, t.vanishing);
    let exploding = diagnose::exploding_by_depth(&profile, t.vanishing);
    for (ks, flag) in [
        (vanishing, diagnose::Flag::Vanishing),
        (exploding, diagnose::Flag::Exploding),
    ] {
        for k in ks {
            let flags = &mut tags[grads[k]].flags;
            if !flags.contains(&flag) {
                flags.push(flag);
                flags.sort();
            }
        }
    }
}

/// Reads one point of a tag again, whole.
pub fn reread(
    source: &dyn Source,
    run: &RunReport,
    tag: &str,
    d: &PointDigest,
) -> Result<HistogramPoint, Problem> {
    reread_with(&mut PointReader::new(source), run, tag, d)
}

/// [`reread`] through a reader that keeps its buffers between points.
fn reread_with(
    reader: &mut PointReader<'_>,
    run: &RunReport,
    tag: &str,
    d: &PointDigest,
) -> Result<HistogramPoint, Problem> {
    match run.files.get(d.file as usize) {
        Some(f) => reader.read(&f.path, d.offset, tag),
        None => Err(Problem::new(
            run.run.as_str().into(),
            Some(d.offset),
            crate::event_file::ProblemKind::Io,
            format!(
                "point of {tag:?} names file {} of this run, which it lacks",
                d.file
            ),
        )),
    }
}

/// Every point of `report` that `keep` accepts, in report order, read again whole through
/// `source` with every bucket ([`PointReader::with_full_buckets`]), with its run and tag. A
/// file that cannot be read again is reported once (as the `Err` of its first point), not once
/// per point.
pub fn reread_all<'a>(
    report: &'a Report,
    source: &'a dyn Source,
    keep: impl Fn(&PointDigest) -> bool + Copy + 'a,
) -> impl Iterator<
    Item = (
        &'a RunReport,
        &'a TagReport,
        Result<HistogramPoint, Problem>,
    ),
> + 'a {
    let mut reader = PointReader::new(source).with_full_buckets();
    report
        .runs
        .iter()
        .flat_map(move |run| {
            run.tags.iter().flat_map(move |tag| {
                tag.digests
                    .iter()
                    .filter(move |d| keep(d))
                    .map(move |d| (run, tag, d))
            })
        })
        .scan(Vec::<(&str, u32)>::new(), move |failed, (run, tag, d)| {
            if failed.contains(&(run.run.as_str(), d.file)) {
                return Some(None);
            }
            let read = reread_with(&mut reader, run, &tag.tag, d);
            if let Err(e) = &read {
                if e.kind == crate::event_file::ProblemKind::Unreadable {
                    failed.push((run.run.as_str(), d.file));
                }
            }
            Some(Some((run, tag, read)))
        })
        .flatten()
}

/// Points of one tag re-read as one unit of parallel work by [`steps`]: as many as a chunk of
/// kept rows, so that the chunks of points and rows match.
const STEP_CHUNK: usize = crate::series::ROWS_CHUNK;

/// Chunks [`steps`] computes at a time, per thread.
const STEP_WINDOW: usize = 16;

/// Rows a consumer of [`steps`] should be able to hold ahead of its writer to never hold the
/// threads up: two windows on two threads.
pub const STEPS_AHEAD: usize = 2 * STEP_CHUNK * STEP_WINDOW * 2;

/// A run of consecutive points of one tag, with the point before them (for the change), and
/// their rows when the read kept them.
struct StepChunk<'a> {
    run: &'a RunReport,
    tag: &'a TagReport,
    points: &'a [PointDigest],
    before: Option<&'a PointDigest>,
    kept: &'a [KeptRow],
}

/// One row per (run, tag, step) of `report`, in report order, each point read again through
/// `source`; a point that cannot be read again is an `Err` and the rows go on. Rows are
/// computed on all threads a window of chunks at a time and yielded in order, so memory holds
/// one window, whatever the logdir's size. A file that cannot be read again is reported once.
pub fn steps<'a>(
    report: &'a Report,
    source: &'a dyn Source,
) -> impl Iterator<Item = Result<StepRow, Problem>> + 'a {
    steps_from(report, source, 0)
}

/// [`steps`] of the runs of `report` after the first `first_run` (those whose rows
/// [`analyze_handing_rows`] handed over).
pub fn steps_from<'a>(
    report: &'a Report,
    source: &'a dyn Source,
    first_run: usize,
) -> impl Iterator<Item = Result<StepRow, Problem>> + 'a {
    let runs = report.runs.get(first_run..).unwrap_or_default();
    let chunks = runs.iter().flat_map(|run| {
        run.tags.iter().flat_map(move |tag| {
            tag.digests
                .chunks(STEP_CHUNK)
                .enumerate()
                .map(move |(i, points)| StepChunk {
                    run,
                    tag,
                    points,
                    before: i.checked_sub(1).map(|_| &tag.digests[i * STEP_CHUNK - 1]),
                    kept: match tag.rows.len() == tag.digests.len() {
                        true => tag.rows.chunk(i),
                        false => &[],
                    },
                })
        })
    });
    let window = STEP_WINDOW * rayon::current_num_threads();
    let mut failed: Vec<crate::source::FileId> = Vec::new();
    in_order_parallel(chunks, window, move |c| step_rows(source, &c))
        .flatten()
        .filter(move |row| match row {
            Err(e) if e.kind == crate::event_file::ProblemKind::Unreadable => {
                if failed.contains(&e.path) {
                    return false;
                }
                failed.push(e.path.clone());
                true
            }
            _ => true,
        })
}

/// `f` applied to every item of `items` on all threads, `window` items at a time, the
/// results yielded in the order of `items`.
fn in_order_parallel<T: Send, U: Send>(
    mut items: impl Iterator<Item = T>,
    window: usize,
    f: impl Fn(T) -> U + Sync + Send,
) -> impl Iterator<Item = U> {
    use rayon::prelude::*;
    std::iter::from_fn(move || {
        let batch: Vec<T> = items.by_ref().take(window.max(1)).collect();
        (!batch.is_empty()).then(|| batch.into_par_iter().map(&f).collect::<Vec<U>>())
    })
    .flatten()
}

/// The rows of one chunk: each point read again, summarised, and compared with the one before
/// (whose CDF is built once and kept for the next comparison).
fn step_rows(source: &dyn Source, c: &StepChunk<'_>) -> Vec<Result<StepRow, Problem>> {
    let tag_name: Arc<str> = c.tag.tag.as_str().into();
    if !c.kept.is_empty() {
        return c
            .kept
            .iter()
            .map(|k| Ok(step_row(&c.run.run, c.tag, &tag_name, k.clone())))
            .collect();
    }
    struct Prev {
        point: HistogramPoint,
        moments: Moments,
        cdf: Option<stats::Cdf>,
    }
    let mut reader = PointReader::new(source);
    let mut prev = c
        .before
        .and_then(|d| reread_with(&mut reader, c.run, &c.tag.tag, d).ok())
        .map(|p| Prev {
            moments: stats::moments(&p.histogram),
            cdf: stats::Cdf::new(&p.histogram.buckets),
            point: p,
        });
    let mut rows = Vec::with_capacity(c.points.len());
    // The memory of the last CDF dropped, for the next one.
    let mut spare = Vec::new();
    for d in c.points {
        let p = match reread_with(&mut reader, c.run, &c.tag.tag, d) {
            Ok(p) => p,
            Err(e) => {
                rows.push(Err(e));
                prev = None;
                continue;
            }
        };
        let before = prev.as_mut().map(|pr| Before {
            histogram: &pr.point.histogram,
            moments: &pr.moments,
            cdf: pr.cdf.take(),
        });
        let (point, change_prev, cdf) =
            summary_and_change(before, p.step, p.wall_time, &p.histogram, None, &mut spare);
        prev = Some(Prev {
            point: p,
            moments: point.stats.moments(),
            cdf,
        });
        rows.push(Ok(StepRow {
            run: c.run.run.clone(),
            tag: tag_name.clone(),
            form: c.tag.form,
            point,
            change_prev,
        }));
    }
    rows
}

/// The row of a point of `tag` (whose name is `name`) whose summary and change were kept
/// while reading.
fn step_row(run: &RunName, tag: &TagReport, name: &Arc<str>, k: KeptRow) -> StepRow {
    StepRow {
        run: run.clone(),
        tag: name.clone(),
        form: tag.form,
        point: k.point,
        change_prev: k.change_prev,
    }
}

/// The buckets of every point of `report` (or only those at `step`), in report order, read
/// again through `source`: the raw data behind `histinspect buckets`.
pub fn buckets<'a>(
    report: &'a Report,
    source: &'a dyn Source,
    step: Option<i64>,
) -> impl Iterator<Item = Result<PointBuckets, Problem>> + 'a {
    reread_all(report, source, move |d| step.is_none_or(|s| d.step == s)).map(|(run, tag, read)| {
        let p = read?;
        Ok(PointBuckets {
            run: run.run.clone(),
            tag: tag.tag.clone(),
            form: tag.form,
            step: p.step,
            wall_time: p.wall_time,
            buckets: p.histogram.buckets,
        })
    })
}

/// What to draw.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlotOptions {
    /// Step to draw (default: the last).
    pub step: Option<i64>,
    /// Draw a ridgeline of this many evenly spaced steps instead of one histogram.
    pub over_steps: Option<usize>,
}

/// The pictures of every tag of `report`, and the points that could not be read again.
pub fn plots(report: &Report, source: &dyn Source, opts: PlotOptions) -> (Vec<Plot>, Vec<Problem>) {
    let (mut out, mut problems) = (Vec::new(), Vec::new());
    for run in &report.runs {
        for tag in &run.tags {
            let ds = &tag.digests;
            let mut read = |d: &PointDigest| match reread(source, run, &tag.tag, d) {
                Ok(p) => Some(p),
                Err(e) => {
                    problems.push(e);
                    None
                }
            };
            let picture = if let Some(n) = opts.over_steps {
                let n = n.clamp(1, ds.len().max(1));
                let idx: Vec<usize> = if ds.len() <= n {
                    (0..ds.len()).collect()
                } else {
                    (0..n)
                        .map(|i| i * (ds.len() - 1) / (n - 1).max(1))
                        .collect()
                };
                let ridges = idx
                    .into_iter()
                    .filter_map(|i| read(&ds[i]))
                    .map(|p| (p.step, p.histogram))
                    .collect();
                Picture::Ridgeline(ridges)
            } else {
                let d = match opts.step {
                    Some(step) => ds.iter().find(|d| d.step == step),
                    None => ds.last(),
                };
                let Some(p) = d.and_then(&mut read) else {
                    continue;
                };
                Picture::Bars {
                    point: Box::new(PointSummary::of(p.step, p.wall_time, &p.histogram)),
                    histogram: p.histogram,
                }
            };
            out.push(Plot {
                run: run.run.clone(),
                tag: tag.tag.clone(),
                picture,
            });
        }
    }
    (out, problems)
}

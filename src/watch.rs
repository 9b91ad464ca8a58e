//! Following runs while they train: each poll reads only what the files gained, and each
//! finding and damage problem is reported once, when it appears.
//!
//! A [`Watcher`] keeps one [`RunLoader`] per run (each file's position and partial record,
//! see `logdir`), so a poll costs what the logdir gained: an idle poll is one listing and
//! one length per file. After a poll that read something, the run's report is made again
//! from what its sink holds ([`analysis::current_report`]) and its flags are compared with
//! those already reported.
//!
//! Evidence: flags judged on the last point (`nonfinite`, `dead`, `saturated`, `vanishing`)
//! are reported as soon as a point shows them. Flags judged on a series (`frozen`,
//! `near_frozen`, `still_at_init`, `exploding`, `collapsed`; [`Flag::needs_series`]) wait for
//! [`WatchOptions::min_points`] points of the tag (default 5: four identical consecutive
//! pairs before a layer is called frozen), since two identical points may only mean that
//! logging ran faster than updates. A finding is never withdrawn: a later poll that no longer
//! shows it says nothing.
//!
//! Memory: per tag a bounded number of point digests ([`SeriesSink::with_digest_cap`]) and
//! the first and last point; per file a position and at most one partial record.
//!
//! The step of a finding is where the evidence starts: the first point with NaN or Inf for
//! `nonfinite`, "froze at" (or the first point) for `frozen`, the first point whose σ crossed
//! the threshold for `exploding` and `collapsed`, the last point read otherwise.

use crate::analysis::{self, Options};
use crate::diagnose::Flag;
use crate::event_file::{Problem, ProblemKind};
use crate::logdir::RunLoader;
use crate::model::{RunReport, TagReport};
use crate::series::{SeriesSink, TagSeries};
use crate::source::{RunName, Source};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// A watcher's settings.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub analysis: Options,
    /// Points of a tag before a flag judged on a series is believed.
    pub min_points: usize,
    /// Digests kept per tag ([`SeriesSink::with_digest_cap`]).
    pub digest_cap: usize,
}

impl WatchOptions {
    pub const DEFAULT_MIN_POINTS: usize = 5;
    pub const DEFAULT_DIGEST_CAP: usize = 1024;

    pub fn new(analysis: Options) -> WatchOptions {
        WatchOptions {
            analysis,
            min_points: Self::DEFAULT_MIN_POINTS,
            digest_cap: Self::DEFAULT_DIGEST_CAP,
        }
    }
}

/// A flag seen for the first time on a tag.
#[derive(Debug, Clone)]
pub struct Finding {
    pub flag: Flag,
    /// Where the evidence starts (see the module docs).
    pub step: i64,
    /// The tag as reported when the flag appeared.
    pub tag: Box<TagReport>,
}

/// What one poll found.
#[derive(Debug, Clone)]
pub enum WatchEvent {
    Finding(Finding),
    /// A damage or reading problem, or a notice (a file replaced, a restart). A record cut at
    /// the end of a file is a file still being written: waited for, never reported.
    Problem(Problem),
}

/// What a poll did.
#[derive(Debug, Default)]
pub struct PollResult {
    pub events: Vec<WatchEvent>,
    /// Records read in this poll.
    pub new_records: u64,
}

/// Totals for the final summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub runs: usize,
    pub files: usize,
    pub tags: usize,
    pub records: u64,
    pub histograms: u64,
    pub findings: usize,
    pub problems: usize,
}

struct RunState {
    loader: RunLoader<SeriesSink>,
    report: Option<RunReport>,
}

/// Follows the runs of a source; see the module docs.
pub struct Watcher {
    opts: WatchOptions,
    runs: BTreeMap<RunName, RunState>,
    reported: HashSet<(RunName, String, Flag)>,
    /// Discovery problems already reported (they come back on every listing).
    seen_discovery: HashSet<(String, Option<u64>, String)>,
    findings: usize,
    problems: usize,
}

impl Watcher {
    pub fn new(opts: WatchOptions) -> Watcher {
        Watcher {
            opts,
            runs: BTreeMap::new(),
            reported: HashSet::new(),
            seen_discovery: HashSet::new(),
            findings: 0,
            problems: 0,
        }
    }

    /// Lists the source again (new runs, new files), reads what every file gained, and
    /// returns what is new.
    pub fn poll(&mut self, source: &dyn Source) -> PollResult {
        let mut out = PollResult::default();
        let discovery = analysis::discover(source, &self.opts.analysis);
        // No event files yet is what a logdir looks like before training writes any.
        for p in discovery.problems {
            if p.kind == ProblemKind::NoEventFiles {
                continue;
            }
            let key = (p.path.to_string(), p.offset, p.message.clone());
            if self.seen_discovery.insert(key) {
                out.events.push(WatchEvent::Problem(p));
            }
        }
        let filter = Arc::new(self.opts.analysis.points.clone());
        for run in &discovery.runs {
            match self.runs.get_mut(&run.name) {
                Some(state) => state.loader.add_files(&run.files),
                None => {
                    let sink =
                        SeriesSink::new(filter.clone()).with_digest_cap(self.opts.digest_cap);
                    let state = RunState {
                        loader: RunLoader::new(run, sink),
                        report: None,
                    };
                    self.runs.insert(run.name.clone(), state);
                }
            }
        }
        let thresholds = self.opts.analysis.thresholds;
        // Each run read, and reported again if it gained records, on the worker that read it.
        let polled: Vec<(u64, Vec<Problem>)> = self
            .runs
            .par_iter_mut()
            .map(|(name, state)| {
                let before = records(&state.loader);
                state.loader.poll(source, false, &|_| {});
                let gained = records(&state.loader) - before;
                let problems = state.loader.take_problems();
                if gained > 0 || state.report.is_none() {
                    let files = state.loader.files().to_vec();
                    state.report = Some(analysis::current_report(
                        name.clone(),
                        files,
                        state.loader.sink(),
                        &thresholds,
                    ));
                }
                (gained, problems)
            })
            .collect();
        for (gained, problems) in polled {
            out.new_records += gained;
            for p in problems {
                if p.kind != ProblemKind::Truncated {
                    out.events.push(WatchEvent::Problem(p));
                }
            }
        }
        for (name, state) in &self.runs {
            let Some(report) = &state.report else {
                continue;
            };
            let series = &state.loader.sink().tags;
            for tag in &report.tags {
                for &flag in &tag.flags {
                    if flag.needs_series() && tag.points < self.opts.min_points {
                        continue;
                    }
                    let key = (name.clone(), tag.tag.clone(), flag);
                    if self.reported.contains(&key) {
                        continue;
                    }
                    self.reported.insert(key);
                    let step = series
                        .get(&tag.tag)
                        .map_or(tag.last.step, |s| onset(flag, tag, s, &self.opts));
                    out.events.push(WatchEvent::Finding(Finding {
                        flag,
                        step,
                        tag: Box::new(tag.clone()),
                    }));
                }
            }
        }
        for e in &out.events {
            match e {
                WatchEvent::Finding(_) => self.findings += 1,
                WatchEvent::Problem(_) => self.problems += 1,
            }
        }
        out
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            runs: self.runs.len(),
            findings: self.findings,
            problems: self.problems,
            ..Totals::default()
        };
        for state in self.runs.values() {
            let files = state.loader.files();
            t.files += files.len();
            t.records += files.iter().map(|f| f.counts.records).sum::<u64>();
            t.histograms += files.iter().map(|f| f.counts.histograms).sum::<u64>();
            t.tags += state.loader.sink().tags.len();
        }
        t
    }

    /// The runs' reports as of the last poll.
    pub fn reports(&self) -> impl Iterator<Item = &RunReport> {
        self.runs.values().filter_map(|s| s.report.as_ref())
    }
}

fn records(loader: &RunLoader<SeriesSink>) -> u64 {
    loader.files().iter().map(|f| f.counts.records).sum()
}

/// The step where the evidence for `flag` starts (see the module docs).
fn onset(flag: Flag, tag: &TagReport, s: &TagSeries, opts: &WatchOptions) -> i64 {
    let t = &opts.analysis.thresholds;
    let first = s.digests.first();
    let found = match flag {
        Flag::Nonfinite => s.digests.iter().find(|d| d.nonfinite).map(|d| d.step),
        Flag::Frozen => tag.froze_at.or(first.map(|d| d.step)),
        Flag::Exploding | Flag::Collapsed => first.and_then(|f| {
            let base = f64::from(f.std);
            s.digests
                .iter()
                .find(|d| {
                    let r = f64::from(d.std) / base;
                    match flag {
                        Flag::Exploding => r >= t.exploding,
                        _ => r <= t.collapsed,
                    }
                })
                .map(|d| d.step)
        }),
        _ => None,
    };
    found.unwrap_or(tag.last.step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Event, HistogramProto};
    use crate::source::MemorySource;

    fn record(step: i64, tag: &str, h: HistogramProto) -> Vec<u8> {
        Event::histogram(step, tag, h).to_record()
    }

    /// 200 values spread over [lo, hi] in 4 buckets, or NaN when `nan`.
    fn histo(lo: f64, hi: f64, nan: bool) -> HistogramProto {
        let w = (hi - lo) / 4.0;
        HistogramProto {
            min: lo,
            max: if nan { f64::NAN } else { hi },
            num: 200.0,
            sum: 100.0 * (lo + hi),
            sum_squares: 200.0 * (lo * lo + hi * hi) / 2.0,
            bucket_limit: (1..=4).map(|i| lo + w * i as f64).collect(),
            bucket: vec![50.0; 4],
        }
    }

    fn findings(r: &PollResult) -> Vec<(String, Flag, i64)> {
        r.events
            .iter()
            .filter_map(|e| match e {
                WatchEvent::Finding(f) => Some((f.tag.tag.clone(), f.flag, f.step)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_finding_once_when_its_evidence_is_there() {
        let src = MemorySource::new();
        let file = "run/events.out.tfevents.1";
        src.insert(file, Vec::new());
        let mut w = Watcher::new(WatchOptions::new(Options::default()));
        assert!(findings(&w.poll(&src)).is_empty());
        // A frozen weight: identical at every step; reported at the fifth point, once.
        for step in 0..4 {
            src.append(file, &record(step, "fc1.weight", histo(-0.1, 0.1, false)));
            let r = w.poll(&src);
            assert_eq!(r.new_records, 1);
            assert!(findings(&r).is_empty(), "step {step}: {:?}", findings(&r));
        }
        src.append(file, &record(4, "fc1.weight", histo(-0.1, 0.1, false)));
        let f = findings(&w.poll(&src));
        assert!(f.contains(&("fc1.weight".into(), Flag::Frozen, 0)), "{f:?}");
        src.append(file, &record(5, "fc1.weight", histo(-0.1, 0.1, false)));
        assert!(findings(&w.poll(&src)).is_empty());
        // A NaN, in a record written in two pieces: nothing until it is whole, then at its step.
        let rec = record(6, "fc2.weight", histo(-0.1, 0.1, true));
        src.append(file, &rec[..10]);
        let r = w.poll(&src);
        assert!(r.events.is_empty(), "{:?}", r.events);
        src.append(file, &rec[10..]);
        let f = findings(&w.poll(&src));
        assert_eq!(f, vec![("fc2.weight".into(), Flag::Nonfinite, 6)]);
        // Nothing new: nothing read, nothing said.
        let r = w.poll(&src);
        assert_eq!(r.new_records, 0);
        assert!(r.events.is_empty());
        let t = w.totals();
        assert_eq!((t.runs, t.files, t.tags, t.records), (1, 1, 2, 7));
    }
}

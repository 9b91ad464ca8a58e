//! Runs a [`Config`]: the one place that composes a source, the analysis and a renderer.
//! Writes only to the writers it is given; the binary decides what the [`Outcome`] means for
//! the exit code. This is the top layer of the library: the only one that knows the paths it
//! is given are local ([`LocalSource`]).

use crate::analysis;
use crate::config::{Command, Config};
use crate::event_file::Problem;
use crate::inventory;
use crate::report::{self, RenderOptions, View};
use crate::source::{Discovery, LocalSource, Source};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How a run of the tool ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Read and reported; no flag the user asked to fail on.
    Clean,
    /// A flag named in `--fail-on` was found.
    FlagsFound,
    /// Nothing could be read (no event files, or none with a readable record).
    NothingRead,
}

/// A progress line on stderr, redrawn at most ten times a second.
struct Progress<'a> {
    err: Mutex<(&'a mut (dyn Write + Send), Instant)>,
    files: AtomicU64,
    bytes: AtomicU64,
    total_files: u64,
    total_bytes: u64,
}

impl<'a> Progress<'a> {
    fn new(err: &'a mut (dyn Write + Send), d: &Discovery, source: &dyn Source) -> Progress<'a> {
        Progress {
            err: Mutex::new((err, Instant::now())),
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            total_files: d.runs.iter().map(|r| r.files.len() as u64).sum(),
            total_bytes: d.total_bytes(source),
        }
    }

    fn file_done(&self, bytes: u64) {
        let f = self.files.fetch_add(1, Ordering::Relaxed) + 1;
        let b = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Ok(mut g) = self.err.try_lock() {
            if g.1.elapsed() >= Duration::from_millis(100) || f == self.total_files {
                g.1 = Instant::now();
                let frac = if self.total_bytes > 0 {
                    b as f64 / self.total_bytes as f64
                } else {
                    1.0
                };
                let filled = (frac * 30.0).round().clamp(0.0, 30.0) as usize;
                let _ = write!(
                    g.0,
                    "\r[{}{}] {f}/{} files, {:.1}/{:.1} MB ",
                    "#".repeat(filled),
                    " ".repeat(30 - filled),
                    self.total_files,
                    b as f64 / 1e6,
                    self.total_bytes as f64 / 1e6
                );
                let _ = g.0.flush();
            }
        }
    }

    fn finish(self) {
        let (err, _) = self.err.into_inner().unwrap_or_else(|e| e.into_inner());
        let _ = write!(err, "\r{}\r", " ".repeat(79));
        let _ = err.flush();
    }
}

/// Runs `f` on `discovery` with a progress callback that draws on `err` when `show` is set.
fn with_progress<T>(
    show: bool,
    err: &mut (dyn Write + Send),
    discovery: Discovery,
    source: &dyn Source,
    f: impl FnOnce(Discovery, &(dyn Fn(u64) + Sync)) -> T,
) -> T {
    if show {
        let progress = Progress::new(err, &discovery, source);
        let result = f(discovery, &|b| progress.file_done(b));
        progress.finish();
        result
    } else {
        f(discovery, &|_| {})
    }
}

/// Says on `err` that problems were found that the output format has no place for.
fn mention(unshown: &[Problem], err: &mut dyn Write) -> io::Result<()> {
    if unshown.is_empty() {
        return Ok(());
    }
    let mut kinds: Vec<&str> = unshown.iter().map(|p| p.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    writeln!(
        err,
        "histinspect: {} problem(s) while reading ({}); --format json or table lists them",
        unshown.len(),
        kinds.join(", ")
    )
}

/// Runs `config`, rendering to `out`; progress and notes go to `err`.
pub fn run(
    config: &Config,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
) -> io::Result<Outcome> {
    let source = LocalSource::new(config.paths.iter().cloned());
    let discovery = analysis::discover(&source, &config.analysis);
    let mut render = RenderOptions {
        format: config.format,
        style: config.style,
        explain: false,
    };
    let progress = config.progress;
    let (unshown, outcome) = match &config.command {
        Command::Tags => {
            let inv = with_progress(progress, err, discovery, &source, |d, p| {
                inventory::build(&source, d, &config.analysis.points, p)
            });
            let unshown = report::render(View::Inventory(&inv), &render, out)?;
            (unshown, read_outcome(inv.nothing_read()))
        }
        Command::Report(opts) => {
            let report = with_progress(progress, err, discovery, &source, |d, p| {
                analysis::analyze_discovered(&source, d, &config.analysis, p)
            });
            render.explain = opts.explain;
            let unshown = if opts.steps {
                let mut rows = analysis::steps(&report, &source);
                let view = View::Steps {
                    rows: &mut rows,
                    problems: &report.problems,
                };
                report::render(view, &render, out)?
            } else {
                report::render(View::Summary(&report), &render, out)?
            };
            let outcome = if report.nothing_read() {
                Outcome::NothingRead
            } else if report.has_any(&opts.fail_on) {
                Outcome::FlagsFound
            } else {
                Outcome::Clean
            };
            (unshown, outcome)
        }
        Command::Plot(opts) => {
            let report = with_progress(progress, err, discovery, &source, |d, p| {
                analysis::analyze_discovered(&source, d, &config.analysis, p)
            });
            let (plots, problems) = analysis::plots(&report, &source, opts.what);
            let view = View::Plots {
                plots: &plots,
                problems: &problems,
                rows: opts.rows,
            };
            let unshown = report::render(view, &render, out)?;
            (unshown, read_outcome(report.nothing_read()))
        }
    };
    mention(&unshown, err)?;
    Ok(outcome)
}

fn read_outcome(nothing: bool) -> Outcome {
    if nothing {
        Outcome::NothingRead
    } else {
        Outcome::Clean
    }
}

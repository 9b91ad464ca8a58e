//! Runs a [`Config`]: the one place that composes a source, the analysis and a renderer.
//! Writes only to the writers it is given; the binary decides what the [`Outcome`] means for
//! the exit code. This is the top layer of the library: it turns the paths it is given into a
//! source ([`crate::source::for_paths`]: local directories and files, `s3://` and `gs://`
//! logdirs).

use crate::analysis;
use crate::config::{Command, Config, ReportOptions, WatchConfig};
use crate::event_file::Problem;
use crate::gate::{self, Verdict};
use crate::inventory;
use crate::model::{Report, StepRow};
use crate::report::{self, clean, plural, RenderOptions, View};
use crate::source::{Discovery, Source};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How a run of the tool ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Read and reported (and, with a gate, checked and clean): exit 0.
    Clean,
    /// The gate found something that fails it: exit 1.
    FlagsFound,
    /// Something asked for could not be read or checked (a line on stderr says what): exit 2.
    CannotCheck,
    /// Nothing could be read (no event files, or none with a readable record): exit 2.
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

/// A closed output (`histinspect logs | head`: the reader went away) ends the writing, not
/// the command: the rest of the output is dropped and the command goes on to its verdict, so
/// its exit status is the one it would have had. A gate must not pass because nobody read its
/// report (GitHub Actions runs steps with `pipefail`). What the unwritten output would have
/// said is lost with it (`T::default()`: no problems left unshown).
fn unless_closed<T: Default>(written: io::Result<T>) -> io::Result<T> {
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(T::default()),
        r => r,
    }
}

/// Runs `config`, rendering to `out`; progress and the lines that explain the exit code go
/// to `err`.
pub fn run(
    config: &Config,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
) -> io::Result<Outcome> {
    let boxed = crate::source::for_paths(&config.paths);
    let source = &*boxed;
    let discovery = analysis::discover(source, &config.analysis);
    let mut render = RenderOptions {
        format: config.format,
        style: config.style,
        explain: false,
    };
    let progress = config.progress;
    let (unshown, outcome) = match &config.command {
        Command::Tags => {
            let inv = with_progress(progress, err, discovery, source, |d, p| {
                inventory::build(source, d, &config.analysis.points, p)
            });
            let unshown = unless_closed(report::render(View::Inventory(&inv), &render, out))?;
            (
                unshown,
                read_outcome(&inv.problems, inv.nothing_read(), err)?,
            )
        }
        // Rows kept while reading are written while later runs are read.
        Command::Report(ReportOptions { steps: true, .. })
            if config.analysis.keep_rows.is_some() && !(progress && config.output_is_terminal) =>
        {
            let (report, unshown) = stream_steps(config, source, discovery, &render, out, err)?;
            unless_closed(out.flush())?;
            let outcome = judge(config, source, &report, None, err)?;
            // See below.
            let _ = std::thread::Builder::new().spawn(move || drop(report));
            (unshown, outcome)
        }
        Command::Report(ReportOptions { explain, .. }) | Command::Check { explain } => {
            let report = with_progress(progress, err, discovery, source, |d, p| {
                analysis::analyze_discovered(source, d, &config.analysis, p)
            });
            render.explain = *explain;
            let mut report = report;
            if *explain && config.format == report::Format::Table && config.analysis.filters_tags()
            {
                let whole = config.analysis.without_tag_filters();
                report.unfiltered = Some(Box::new(analysis::analyze(source, &whole)));
            }
            let verdict = config.gate.as_ref().map(|g| gate::evaluate(&report, g));
            let steps = matches!(&config.command, Command::Report(o) if o.steps);
            let unshown = match (&verdict, &config.command) {
                (Some(v), Command::Check { .. }) => {
                    let unshown =
                        unless_closed(report::render(View::Check(&report, v), &render, out))?;
                    if let Some(path) = &config.step_summary {
                        append_step_summary(path, &report, v, err)?;
                    }
                    unshown
                }
                _ if steps => {
                    unless_closed(prefetched(analysis::steps(&report, source), |rows| {
                        let view = View::Steps {
                            rows,
                            problems: &|| &report.problems,
                        };
                        report::render(view, &render, out)
                    }))?
                }
                _ => unless_closed(report::render(View::Summary(&report), &render, out))?,
            };
            unless_closed(out.flush())?;
            let outcome = judge(config, source, &report, verdict.as_ref(), err)?;
            drop(verdict);
            // A report with per-step rows holds up to a few hundred thousand small
            // allocations: freed on a thread of its own, which the end of the process
            // usually cuts short (the OS takes the memory back at once).
            // (Should no thread start, the report is dropped here.)
            if steps {
                let _ = std::thread::Builder::new().spawn(move || drop(report));
            }
            (unshown, outcome)
        }
        Command::Diff { explain } => {
            render.explain = *explain;
            return diff(config, &render, out, err);
        }
        Command::Watch(w) => {
            // `watch` needs a stop flag from the binary: see [`watch`].
            let never = AtomicBool::new(false);
            return watch(config, *w, out, err, &never);
        }
        Command::Buckets { step } => {
            let report = with_progress(progress, err, discovery, source, |d, p| {
                analysis::analyze_discovered(source, d, &config.analysis, p)
            });
            let mut points = analysis::buckets(&report, source, *step);
            let view = View::Buckets {
                points: &mut points,
                problems: &report.problems,
            };
            let unshown = unless_closed(report::render(view, &render, out))?;
            let mut outcome = read_outcome(&report.problems, report.nothing_read(), err)?;
            let steps = || report.tags().flat_map(|t| &t.digests).map(|d| d.step);
            if let (Some(s), Some(lo), Some(hi)) = (step, steps().min(), steps().max()) {
                if !steps().any(|x| x == *s) {
                    writeln!(
                        err,
                        "histinspect: no point at step {s} (steps run {lo}→{hi})"
                    )?;
                    outcome = Outcome::CannotCheck;
                }
            }
            (unshown, outcome)
        }
        Command::Plot(opts) => {
            let report = with_progress(progress, err, discovery, source, |d, p| {
                analysis::analyze_discovered(source, d, &config.analysis, p)
            });
            let (plots, problems) = analysis::plots(&report, source, opts.what);
            let view = View::Plots {
                plots: &plots,
                problems: &problems,
                rows: opts.rows,
            };
            let unshown = unless_closed(report::render(view, &render, out))?;
            (
                unshown,
                read_outcome(&report.problems, report.nothing_read(), err)?,
            )
        }
    };
    mention(&unshown, err)?;
    Ok(outcome)
}

/// Rows [`stream_steps`]' reading hands over at a time (lists of up to 64 rows of a tag, at
/// least this many rows together but for the last), and how many such batches it may hand
/// over ahead of the writer. A message per list would cost a wake-up of the writer's side per
/// list: with thousands of small runs, more than the rows' text.
const HAND_BATCH: usize = 4096;
const HANDED_AHEAD: usize = 2;

/// `--steps`: the rows of each run written as soon as it and the runs before it are read
/// ([`analysis::analyze_handing_rows`]), then those of the runs whose rows were not kept
/// while reading, read again ([`analysis::steps_from`]). The reading has a thread pool of its
/// own, so that the rows' text is made on the global one meanwhile: the two halves overlap,
/// and a run's rows are gone from memory before the last runs are read. The progress bar, if
/// any, is drawn meanwhile (the caller makes sure the rows do not go to the same terminal).
/// Returns the report and the problems the format had no place for.
fn stream_steps(
    config: &Config,
    source: &dyn Source,
    discovery: Discovery,
    render: &RenderOptions,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
) -> io::Result<(Report, Vec<Problem>)> {
    let bar = config
        .progress
        .then(|| Progress::new(err, &discovery, source));
    let progress = &bar;
    let read = std::sync::OnceLock::<(Report, usize)>::new();
    let unshown = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(HANDED_AHEAD);
        let reader = scope.spawn(move || {
            // Tags' lists as they come (not copied into one: a copy costs more than its use).
            let (mut batch, mut rows_in_batch) = (Vec::<Vec<StepRow>>::new(), 0);
            // Sending fails only once the writer has stopped (a closed pipe).
            let mut hand = |rows: Vec<StepRow>| {
                rows_in_batch += rows.len();
                batch.push(rows);
                if rows_in_batch >= HAND_BATCH {
                    rows_in_batch = 0;
                    let _ = tx.send(std::mem::take(&mut batch));
                }
            };
            let analyse = || {
                analysis::analyze_handing_rows(
                    source,
                    discovery,
                    &config.analysis,
                    &|b| {
                        if let Some(p) = progress {
                            p.file_done(b);
                        }
                    },
                    &mut hand,
                )
            };
            let read = match rayon::ThreadPoolBuilder::new().build() {
                Ok(pool) => pool.install(analyse),
                Err(_) => analyse(),
            };
            let _ = tx.send(batch);
            read
        });
        let reader = Mutex::new(Some(reader));
        let report = || {
            read.get_or_init(|| {
                let handle = reader.lock().ok().and_then(|mut r| r.take());
                match handle.map(|h| h.join()) {
                    Some(Ok(read)) => read,
                    Some(Err(panic)) => std::panic::resume_unwind(panic),
                    None => unreachable!("the reader is joined once, under the cell"),
                }
            })
        };
        // The rows not handed over are read again ahead of the writer; the handed ones come
        // ready.
        let rest = std::iter::once(()).flat_map(|()| {
            let (report, handed) = report();
            ahead_in(scope, analysis::steps_from(report, source, *handed))
        });
        let mut rows = rx.into_iter().flatten().flatten().map(Ok).chain(rest);
        let view = View::Steps {
            rows: &mut rows,
            // Asked for once the rows are written: the reading is over by then.
            problems: &|| read.get().map_or(&[], |(r, _)| &r.problems),
        };
        let written = report::render(view, render, out);
        // A closed output stops the writing, not the reading, whose report is still judged:
        // the reader is joined here, once nothing holds the queue it may be waiting on.
        drop(rows);
        report();
        written
    });
    if let Some(bar) = bar {
        bar.finish();
    }
    let unshown = unless_closed(unshown)?;
    match read.into_inner() {
        Some((report, _)) => Ok((report, unshown)),
        None => unreachable!("the reader is joined before the rows' scope ends"),
    }
}

/// Runs `items` on a thread of its own, a bounded queue ahead of `consume`, so that
/// computing the next rows and writing these overlap ([`ahead_in`]).
fn prefetched<T: Send, R>(
    items: impl Iterator<Item = T> + Send,
    consume: impl FnOnce(&mut dyn Iterator<Item = T>) -> R,
) -> R {
    std::thread::scope(|scope| consume(&mut ahead_in(scope, items)))
}

/// `items` produced on a thread of `scope`, a bounded queue ahead of the returned iterator.
/// The queue holds more than one of [`analysis::steps`]' windows of rows: handing a window
/// over then never waits for the writer, and the threads go on with the next window at once.
/// Dropping the iterator stops the producer at its next item.
fn ahead_in<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    items: impl Iterator<Item = T> + Send + 'scope,
) -> impl Iterator<Item = T> + 'scope {
    let (tx, rx) = std::sync::mpsc::sync_channel::<T>(analysis::STEPS_AHEAD);
    scope.spawn(move || {
        for item in items {
            if tx.send(item).is_err() {
                break; // the consumer stopped (a closed pipe)
            }
        }
    });
    rx.into_iter()
}

/// The exit outcome of a report or a check, with one line on `err` for each reason it is not
/// clean, and for `check` a closing line that sums the verdict up.
fn judge(
    config: &Config,
    source: &dyn Source,
    report: &Report,
    verdict: Option<&Verdict<'_>>,
    err: &mut dyn Write,
) -> io::Result<Outcome> {
    // Runs filtered away entirely are the filters' doing, not an unreadable logdir.
    let filtered_away = report.runs.is_empty() && config.analysis.filters();
    if report.nothing_read() && !filtered_away {
        say_unreadable(&report.problems, err)?;
        return Ok(Outcome::NothingRead);
    }
    let is_check = matches!(config.command, Command::Check { .. });
    let mut cannot = say_unreadable(&report.problems, err)?;
    // Without a gate an empty report is a fine answer, unless the filters emptied it.
    if verdict.is_none() && !filtered_away {
        return Ok(if cannot {
            Outcome::CannotCheck
        } else {
            Outcome::Clean
        });
    }
    if report.tags().next().is_none() {
        cannot = true;
        if config.analysis.filters() {
            // Say whether the filters or the logdir left nothing: count what is there.
            let all = analysis::analyze(source, &config.analysis.unfiltered());
            writeln!(
                err,
                "histinspect: nothing to check: {} left none of the {} in {}",
                clean(&config.filters.join(", ")),
                plural(all.tags().count(), "histogram tag"),
                plural(all.runs.len(), "run")
            )?;
        } else {
            writeln!(
                err,
                "histinspect: nothing to check: no histogram tags in {} (only scalars, \
                 images or text were logged?). Histograms are logged only when asked for: \
                 Keras TensorBoard(histogram_freq=1), tf.summary.histogram, \
                 SummaryWriter.add_histogram",
                plural(report.runs.len(), "run")
            )?;
        }
    }
    let Some(v) = verdict else {
        return Ok(Outcome::CannotCheck);
    };
    let code = if cannot { 2 } else { v.exit_code() };
    if is_check || code == 1 {
        writeln!(err, "histinspect: {}", verdict_line(report, v, code))?;
    }
    Ok(match code {
        0 => Outcome::Clean,
        1 => Outcome::FlagsFound,
        _ => Outcome::CannotCheck,
    })
}

/// One line on `err` per path or file that could not be read; true if there was one.
fn say_unreadable(problems: &[Problem], err: &mut dyn Write) -> io::Result<bool> {
    let mut any = false;
    for p in problems.iter().filter(|p| gate::is_unreadable(p)) {
        writeln!(
            err,
            "histinspect: {}: {}",
            clean(p.path.as_str()),
            clean(&p.message)
        )?;
        any = true;
    }
    Ok(any)
}

/// `3 findings in 1 run: frozen ×3 (layer1/weights, layer2/weights, layer3/weights)`.
fn verdict_line(report: &Report, v: &Verdict<'_>, code: u8) -> String {
    let damage = v.failing_damage().len();
    let failing: Vec<_> = v.failing().collect();
    if code == 0 {
        let allowed = v.findings.iter().filter(|f| f.allowed.is_some()).count();
        let shown = v.findings.len() - allowed;
        return format!(
            "checked {} in {} ({} points): clean{}{}",
            plural(report.tags().count(), "histogram tag"),
            plural(report.runs.len(), "run"),
            report.total_points(),
            if allowed > 0 {
                format!(", {} allowed", plural(allowed, "finding"))
            } else {
                String::new()
            },
            if shown > 0 {
                format!(", {} not failing (see --fail-on)", plural(shown, "finding"))
            } else {
                String::new()
            },
        );
    }
    if code == 2 {
        return "could not check everything that was asked (see above)".to_string();
    }
    let mut by_flag: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for f in &failing {
        by_flag.entry(f.flag.as_str()).or_default().push(&f.tag.tag);
    }
    let mut runs: Vec<&str> = failing.iter().map(|f| f.tag.run.as_str()).collect();
    runs.sort_unstable();
    runs.dedup();
    let mut parts: Vec<String> = by_flag
        .iter()
        .map(|(flag, tags)| {
            let mut names: Vec<String> =
                tags.iter().take(4).map(|t| clean(t).into_owned()).collect();
            if tags.len() > 4 {
                names.push(format!("… {} more", tags.len() - 4));
            }
            format!("{flag} ×{} ({})", tags.len(), names.join(", "))
        })
        .collect();
    if damage > 0 {
        parts.push(format!("damage ×{damage}"));
        // Damage counts in the runs of its files (a problem about a whole root has none).
        let in_run = |p: &Problem| {
            let has = |r: &&crate::model::RunReport| r.files.iter().any(|f| f.path == p.path);
            report.runs.iter().find(has).map(|r| r.run.as_str())
        };
        runs.extend(v.failing_damage().iter().filter_map(|p| in_run(p)));
        runs.sort_unstable();
        runs.dedup();
    }
    let n = failing.len() + damage;
    format!(
        "{} in {}: {}",
        plural(n, "finding"),
        plural(runs.len().max(usize::from(damage > 0)), "run"),
        parts.join("; ")
    )
}

/// Appends the Markdown summary to GitHub's `$GITHUB_STEP_SUMMARY` file.
fn append_step_summary(
    path: &std::path::Path,
    report: &Report,
    v: &Verdict<'_>,
    err: &mut dyn Write,
) -> io::Result<()> {
    let mut text = Vec::new();
    report::markdown::summary(report, v, &mut text)?;
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(&text));
    if let Err(e) = written {
        writeln!(
            err,
            "histinspect: warning: cannot append the summary to $GITHUB_STEP_SUMMARY ({}): {e}",
            path.display()
        )?;
    }
    Ok(())
}

/// The exit outcome of a command without a gate (tags, buckets, plot): a line on `err` per
/// path or file that could not be read, which makes it exit 2 as the report does.
fn read_outcome(problems: &[Problem], nothing: bool, err: &mut dyn Write) -> io::Result<Outcome> {
    let unreadable = say_unreadable(problems, err)?;
    Ok(if nothing {
        Outcome::NothingRead
    } else if unreadable {
        Outcome::CannotCheck
    } else {
        Outcome::Clean
    })
}

/// Runs `histinspect watch` until a `--fail-on` flag is found (exit 1), no record came for
/// `--exit-after-idle` (0), or `stop` is set (by SIGINT or SIGTERM in the binary) or `out` is
/// closed (nobody reads the events): 0 then, or 1 when a `--fail-on` flag was found. Events go
/// to `out` as they happen, flushed; the final summary too.
pub fn watch(
    config: &Config,
    w: WatchConfig,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
    stop: &AtomicBool,
) -> io::Result<Outcome> {
    use crate::report::watch::{self as render, End};
    use crate::watch::{WatchEvent, WatchOptions, Watcher};
    // A path that is not there is a typo far more often than a logdir still to be made.
    for p in &config.paths {
        if !p.exists() && !p.to_str().is_some_and(crate::source::is_remote) {
            writeln!(
                err,
                "histinspect: {}: no such file or directory (watch follows an existing \
                 directory; create it first)",
                clean(&p.display().to_string())
            )?;
            return Ok(Outcome::CannotCheck);
        }
    }
    let paths: Vec<String> = config
        .paths
        .iter()
        .map(|p| clean(&p.display().to_string()).into_owned())
        .collect();
    writeln!(
        err,
        "histinspect: watching {} every {} s (Ctrl-C ends it with a summary)",
        paths.join(", "),
        w.interval.as_secs_f64()
    )?;
    let boxed = crate::source::for_paths(&config.paths);
    let source = &*boxed;
    let mut opts = WatchOptions::new(config.analysis.clone());
    opts.min_points = w.min_points;
    let mut watcher = Watcher::new(opts);
    let format = config.format;
    let mut failed: Vec<crate::diagnose::Flag> = Vec::new();
    let mut last_record = Instant::now();
    let mut closed = false;
    let end = loop {
        let polled = watcher.poll(source);
        if polled.new_records > 0 {
            last_record = Instant::now();
        }
        let mut damage = false;
        for e in &polled.events {
            if !closed {
                // Nobody reads the events any more: the watch ends after this poll's, as an
                // interruption would end it, with the verdict so far.
                match render::event(e, format, config.style.width, out) {
                    Err(x) if x.kind() == io::ErrorKind::BrokenPipe => closed = true,
                    r => r?,
                }
            }
            let Some(gate) = &config.gate else { continue };
            match e {
                WatchEvent::Finding(f) => {
                    let allowed = gate
                        .allow
                        .iter()
                        .any(|a| a.allows(&f.tag.run, &f.tag.tag, f.flag));
                    if gate.fail_on.flags.contains(&f.flag) && !allowed && !failed.contains(&f.flag)
                    {
                        failed.push(f.flag);
                    }
                }
                WatchEvent::Problem(p) => damage |= gate.fail_on.damage && p.kind.is_damage(),
            }
        }
        if !failed.is_empty() || damage {
            break End::FailOn {
                flags: failed.clone(),
                damage,
            };
        }
        if closed {
            break End::Signal;
        }
        if let Some(idle) = w.exit_after_idle {
            if last_record.elapsed() >= idle {
                break End::Idle(idle.as_secs_f64());
            }
        }
        // Sleep in short slices so that a signal is answered at once.
        let until = Instant::now() + w.interval;
        let mut stopped = false;
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                stopped = true;
                break;
            }
            let left = until.saturating_duration_since(Instant::now());
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
        if stopped || stop.load(Ordering::Relaxed) {
            break End::Signal;
        }
    };
    let code = match end {
        End::FailOn { .. } => 1,
        _ => u8::from(!failed.is_empty()),
    };
    unless_closed(render::summary(
        &watcher.totals(),
        &end,
        code,
        format,
        config.style.width,
        out,
    ))?;
    Ok(if code == 1 {
        Outcome::FlagsFound
    } else {
        Outcome::Clean
    })
}

/// `histinspect diff A B`: both sides analysed with the same options, compared, rendered;
/// exit 2 when nothing is left to compare or a path cannot be read, 1 with `--fail-on` when
/// B gained a listed flag on some tag (`[[allow]]` entries apply to B's run and tag).
fn diff(
    config: &Config,
    render: &RenderOptions,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
) -> io::Result<Outcome> {
    let (pa, pb) = (&config.paths[0], &config.paths[1]);
    let (sa, sb) = (
        crate::source::for_paths(std::slice::from_ref(pa)),
        crate::source::for_paths(std::slice::from_ref(pb)),
    );
    let d = crate::diff::analyze_and_diff(&*sa, &*sb, &config.analysis);
    let (na, nb) = (pa.display().to_string(), pb.display().to_string());
    let view = View::Diff {
        diff: &d,
        a: &na,
        b: &nb,
    };
    unless_closed(report::render(view, render, out))?;
    unless_closed(out.flush())?;
    let cannot = say_unreadable(&d.problems, err)?;
    if d.compared() == 0 {
        writeln!(
            err,
            "histinspect: nothing to compare: no histogram tag is in both {} and {}{}",
            clean(&na),
            clean(&nb),
            if config.filters.is_empty() {
                String::new()
            } else {
                format!(" after {}", clean(&config.filters.join(", ")))
            }
        )?;
        return Ok(Outcome::CannotCheck);
    }
    if cannot {
        return Ok(Outcome::CannotCheck);
    }
    let Some(gate) = &config.gate else {
        return Ok(Outcome::Clean);
    };
    let regressions: Vec<String> = d
        .tags
        .iter()
        .flat_map(|t| t.new_flags.iter().map(move |f| (t, *f)))
        .filter(|(t, f)| {
            let run = t.b.as_ref().map_or(t.run.as_str(), |s| s.run.as_str());
            gate.fail_on.flags.contains(f)
                && !gate
                    .allow
                    .iter()
                    .any(|a| a.allows(&crate::source::RunName::new(run), &t.tag, *f))
        })
        .map(|(t, f)| format!("{} {}", clean(&t.tag), f.as_str()))
        .collect();
    if regressions.is_empty() {
        writeln!(err, "histinspect: B gained none of the --fail-on flags")?;
        return Ok(Outcome::Clean);
    }
    let mut shown: Vec<String> = regressions.iter().take(6).cloned().collect();
    if regressions.len() > 6 {
        shown.push(format!("… {} more", regressions.len() - 6));
    }
    writeln!(
        err,
        "histinspect: B regressed on {} tag flag(s): {}",
        regressions.len(),
        shown.join("; ")
    )?;
    Ok(Outcome::FlagsFound)
}

//! Runs a [`Config`]: discover, load, build the report model, render. Writes only to the
//! writers it is given; the binary decides what the [`Outcome`] means for the exit code.

use crate::config::{Command, Config, Format, PlotOptions, ReportOptions};
use crate::event_file::Problem;
use crate::histogram::Histogram;
use crate::inventory;
use crate::logdir::{self, Discovery, FileInfo, LoadedRun};
use crate::report::json::{self as rjson, PointJson, StepChangeJson, StepJson, TagJson};
use crate::report::{self, csv, explain, natural_cmp, plot, table, PointReport};
use crate::series::{self, SeriesSink};
use crate::stats::{self, Moments};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
    fn new(err: &'a mut (dyn Write + Send), d: &Discovery) -> Progress<'a> {
        Progress {
            err: Mutex::new((err, Instant::now())),
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            total_files: d.runs.iter().map(|r| r.files.len() as u64).sum(),
            total_bytes: d.total_bytes(),
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

fn discover(config: &Config) -> Discovery {
    let mut d = logdir::discover(&config.paths);
    if let Some(re) = &config.run_filter {
        d.runs.retain(|r| re.is_match(&r.name));
    }
    d
}

fn load_series<T: Send>(
    config: &Config,
    discovery: &Discovery,
    finish: impl Fn(LoadedRun<SeriesSink>) -> T + Sync,
    err: &mut (dyn Write + Send),
) -> Vec<T> {
    let filter = Arc::new(config.points.clone());
    let make = |run: &logdir::Run| SeriesSink::new(run.files.clone(), filter.clone());
    if config.progress {
        let progress = Progress::new(err, discovery);
        let loaded = logdir::load(discovery, make, finish, &|b| progress.file_done(b));
        progress.finish();
        loaded
    } else {
        logdir::load(discovery, make, finish, &|_| {})
    }
}

fn nothing_read<'a>(files: impl IntoIterator<Item = &'a FileInfo>) -> bool {
    files.into_iter().all(|f| f.counts.records == 0)
}

/// Runs `config`, rendering to `out`; progress goes to `err` when enabled.
pub fn run(
    config: &Config,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
) -> io::Result<Outcome> {
    let discovery = discover(config);
    match &config.command {
        Command::Tags => {
            let mut inv = inventory::build(discovery, &|_| {});
            let f = &config.points;
            for run in &mut inv.runs {
                run.tags.retain(|tag, t| {
                    t.steps.retain(|&s| f.keeps_step(s));
                    f.keeps_tag(tag) && !t.steps.is_empty()
                });
            }
            match config.format {
                Format::Json | Format::Jsonl => rjson::inventory(&inv, out)?,
                Format::Table | Format::Csv => table::inventory(&inv, config.style, out)?,
            }
            let nothing = nothing_read(inv.runs.iter().flat_map(|r| &r.files));
            Ok(if nothing {
                Outcome::NothingRead
            } else {
                Outcome::Clean
            })
        }
        Command::Report(opts) => {
            let problems = discovery.problems.clone();
            let report = if opts.steps {
                // Per-step output re-reads points by offset, so the sinks are kept until then.
                let loaded = load_series(config, &discovery, |l| l, err);
                steps(config.format, &loaded, out)?;
                report::build(loaded, problems, opts.thresholds)
            } else {
                let t = opts.thresholds;
                let parts = load_series(config, &discovery, |l| report::run_report(l, &t), err);
                let report = report::assemble(parts, problems, opts.thresholds);
                render(config, opts, &report, out)?;
                report
            };
            let nothing = nothing_read(report.runs.iter().flat_map(|r| &r.files));
            Ok(if nothing {
                Outcome::NothingRead
            } else if report.has_any(&opts.fail_on) {
                Outcome::FlagsFound
            } else {
                Outcome::Clean
            })
        }
        Command::Plot(opts) => {
            let loaded = load_series(config, &discovery, |l| l, err);
            let nothing = nothing_read(loaded.iter().flat_map(|l| &l.files));
            plot_tags(opts, &loaded, out)?;
            Ok(if nothing {
                Outcome::NothingRead
            } else {
                Outcome::Clean
            })
        }
    }
}

fn render(
    config: &Config,
    opts: &ReportOptions,
    report: &report::Report,
    out: &mut dyn Write,
) -> io::Result<()> {
    match config.format {
        Format::Table => {
            table::report(report, config.style, out)?;
            if opts.explain {
                writeln!(out)?;
                explain::explain(report, out)?;
            }
        }
        Format::Json => rjson::report(report, out)?,
        Format::Jsonl => rjson::report_lines(report, out)?,
        Format::Csv => {
            csv::tag_header(out)?;
            for t in report.tags() {
                csv::tag_row(&TagJson::from(t), out)?;
            }
        }
    }
    Ok(())
}

/// Tags of a loaded run in natural order.
fn sorted_tags(l: &LoadedRun<SeriesSink>) -> Vec<(&String, &series::TagSeries)> {
    let mut tags: Vec<_> = l.sink.tags.iter().collect();
    tags.sort_by(|a, b| natural_cmp(a.0, b.0));
    tags
}

/// `--steps`: streams one row per (run, tag, step), re-reading each point by offset.
fn steps(format: Format, loaded: &[LoadedRun<SeriesSink>], out: &mut dyn Write) -> io::Result<()> {
    let mut first = true;
    match format {
        Format::Json => write!(
            out,
            "{{\"schema_version\": {}, \"steps\": [",
            rjson::SCHEMA_VERSION
        )?,
        Format::Csv => csv::step_header(out)?,
        Format::Table => writeln!(
            out,
            "{:<24} {:<32} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}  {:<14} {:>8}",
            "run", "tag", "step", "count", "mean", "std", "min", "max", "shape", "W1/σ prev"
        )?,
        Format::Jsonl => {}
    }
    let mut problems: Vec<Problem> = Vec::new();
    let mut sorted: Vec<&LoadedRun<SeriesSink>> = loaded.iter().collect();
    sorted.sort_by(|a, b| natural_cmp(&a.run.name, &b.run.name));
    for l in sorted {
        for (tag, s) in sorted_tags(l) {
            let mut prev: Option<(Histogram, Moments)> = None;
            for d in &s.digests {
                let p = match series::reread(l.sink.files(), tag, d) {
                    Ok(p) => p,
                    Err(e) => {
                        problems.push(e);
                        continue;
                    }
                };
                let m = p.stats.moments();
                let change = prev
                    .as_ref()
                    .map(|(h, pm)| stats::change(h, pm, &p.histogram, &m));
                let pr = PointReport::new(p);
                let row = StepJson {
                    run: l.run.name.clone(),
                    tag: tag.clone(),
                    form: s.form.as_str(),
                    point: PointJson::from(&pr),
                    change_prev: change.map(|c| StepChangeJson {
                        w1_rel: c.w1_rel,
                        ks: c.ks,
                        identical: c.identical,
                    }),
                };
                prev = Some((pr.point.histogram, m));
                match format {
                    Format::Json => {
                        if !first {
                            write!(out, ",")?;
                        }
                        writeln!(out)?;
                        serde_json::to_writer(&mut *out, &row)?;
                    }
                    Format::Jsonl => rjson::line(&row, out)?,
                    Format::Csv => csv::step_row(&row, out)?,
                    Format::Table => {
                        let n = table::num;
                        let pt = &row.point;
                        writeln!(
                            out,
                            "{:<24} {:<32} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}  {:<14} {:>8}",
                            row.run,
                            row.tag,
                            pt.step,
                            n(pt.count),
                            n(pt.mean),
                            n(pt.std),
                            n(pt.min),
                            n(pt.max),
                            pt.shape,
                            row.change_prev.as_ref().map_or("-".into(), |c| n(c.w1_rel))
                        )?;
                    }
                }
                first = false;
            }
        }
    }
    if format == Format::Json {
        let problems: Vec<rjson::ProblemJson> =
            problems.iter().map(rjson::ProblemJson::from).collect();
        write!(out, "\n], \"problems\": ")?;
        serde_json::to_writer(&mut *out, &problems)?;
        writeln!(out, "}}")?;
    }
    Ok(())
}

fn plot_tags(
    opts: &PlotOptions,
    loaded: &[LoadedRun<SeriesSink>],
    out: &mut dyn Write,
) -> io::Result<()> {
    let rows = if opts.rows == 0 { 20 } else { opts.rows };
    let mut drawn = 0;
    for l in loaded {
        for (tag, s) in sorted_tags(l) {
            let pick = |step: i64| s.digests.iter().find(|d| d.step == step);
            let reread = |d: &series::PointDigest| series::reread(l.sink.files(), tag, d);
            if let Some(n) = opts.over_steps {
                let n = n.clamp(1, s.digests.len().max(1));
                let idx: Vec<usize> = if s.digests.len() <= n {
                    (0..s.digests.len()).collect()
                } else {
                    (0..n)
                        .map(|i| i * (s.digests.len() - 1) / (n - 1).max(1))
                        .collect()
                };
                let mut pts = Vec::new();
                for i in idx {
                    if let Ok(p) = reread(&s.digests[i]) {
                        pts.push(p);
                    }
                }
                writeln!(out, "{} / {} over {} steps", l.run.name, tag, pts.len())?;
                let rows: Vec<(String, &crate::histogram::Histogram)> = pts
                    .iter()
                    .map(|p| (format!("step {}", p.step), &p.histogram))
                    .collect();
                plot::ridgeline(&rows, 60, out)?;
            } else {
                let d = match opts.step {
                    Some(step) => pick(step),
                    None => s.digests.last(),
                };
                let Some(d) = d else { continue };
                let Ok(p) = reread(d) else { continue };
                let pr = PointReport::new(p);
                let st = &pr.point.stats;
                writeln!(
                    out,
                    "{} / {} at step {}: {} values, mean {}, std {}, shape {} ({})",
                    l.run.name,
                    tag,
                    pr.point.step,
                    table::num(st.count),
                    table::num(st.mean),
                    table::num(st.std),
                    pr.shape.shape.as_str(),
                    pr.shape.why
                )?;
                plot::bars(&pr.point.histogram, rows, 50, out)?;
            }
            writeln!(out)?;
            drawn += 1;
        }
    }
    if drawn == 0 {
        writeln!(out, "no histogram matched")?;
    }
    Ok(())
}

//! Command-line arguments (clap) and their resolution, with the settings file, into a
//! [`Config`]. Every check of a combination of options happens here, before anything is read.

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use histinspect::analysis;
use histinspect::config::{Command, Config, PlotOptions, ReportOptions, WatchConfig};
use histinspect::diagnose::Thresholds;
use histinspect::gate::{FailOn, Gate};
use histinspect::report::{Format, Style, ViewKind};
use histinspect::series::PointFilter;
use histinspect::settings::{self, Settings};
use regex::Regex;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Reads TensorBoard event files and tells you what the logged histograms say: per run and tag
/// the shape, spread and change over training, and flags such as frozen layers.
#[derive(Debug, Parser)]
#[command(name = "histinspect", version = VERSION, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    report: ReportArgs,
}

/// `--version`: the version and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("HISTINSPECT_COMMIT"),
    ")"
);

/// The subcommands' names, for suggestions when one is mistyped.
pub const COMMANDS: [&str; 9] = [
    "check",
    "tags",
    "plot",
    "buckets",
    "watch",
    "diff",
    "completions",
    "man",
    "help",
];

#[derive(Debug, Subcommand)]
enum Cmd {
    /// CI gate: the report, then exit 1 on findings (error-severity flags by default), 2 when
    /// something asked for could not be checked.
    Check {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Inventory: per run the files, and per histogram tag its form, points and steps.
    Tags(Common),
    /// Draw a tag's histogram at a step, or a ridgeline over steps.
    Plot {
        #[command(flatten)]
        common: Common,
        /// Step to draw (default: the last).
        #[arg(long)]
        step: Option<i64>,
        /// Draw N evenly spaced steps as a ridgeline (default 5).
        #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "5")]
        over_steps: Option<usize>,
        /// Rows of the bar chart.
        #[arg(long, default_value_t = 20)]
        rows: usize,
    },
    /// Export the raw buckets of every point (or of one step): run, tag, step, left, right,
    /// count. Long-form CSV for pandas, one JSON object per point otherwise.
    Buckets {
        #[command(flatten)]
        common: Common,
        /// Only the points at this step.
        #[arg(long)]
        step: Option<i64>,
    },
    /// Compare two runs (or two logdirs whose runs pair by name) tag by tag: flags gained
    /// and lost, distance at the last common step; `--fail-on` exits 1 on flags B gained.
    Diff {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) to stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout: `histinspect man > histinspect.1`.
    Man,
    /// Follow runs while they train: each finding and damage problem once, when it appears.
    Watch {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        watch: WatchArgs,
    },
}

#[derive(Debug, Args, Clone)]
struct WatchArgs {
    /// Seconds between polls (fractions allowed).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    interval: f64,
    /// Exit 1 as soon as one of these is found: flag names, `any`, `error`, `warning`,
    /// `info`, `damage` (comma-separated).
    #[arg(long, value_name = "FLAGS", value_delimiter = ',')]
    fail_on: Vec<String>,
    /// Exit 0 after this many seconds without a new record.
    #[arg(long, value_name = "SECONDS")]
    exit_after_idle: Option<f64>,
    /// Points of a tag before a flag judged on its series (frozen, near_frozen,
    /// still_at_init, exploding, collapsed) is reported.
    #[arg(long, value_name = "N", default_value_t = 5)]
    min_points: usize,
    /// Override a flag threshold, e.g. `--threshold frozen=1e-5` (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    threshold: Vec<String>,
}

/// Seconds from the command line: finite, not negative.
fn seconds(v: f64, what: &str) -> anyhow::Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(v)
        .map_err(|_| anyhow::anyhow!("{what} takes a number of seconds >= 0, got {v}"))
}

#[derive(Debug, Args, Clone)]
struct Common {
    /// Logdirs (searched recursively) and event files.
    #[arg(value_name = "LOGDIR", required = true)]
    paths: Vec<PathBuf>,
    /// Output format [default: table; `check` in GitHub Actions: github].
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// When to use colours (`auto`: on a terminal unless NO_COLOR is set).
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
    /// Only tags matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    tag: Option<String>,
    /// Only runs matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    run: Option<String>,
    /// Leave out tags matching this regular expression (repeatable).
    #[arg(long, value_name = "REGEX")]
    exclude_tag: Vec<String>,
    /// Leave out runs matching this regular expression (repeatable).
    #[arg(long, value_name = "REGEX")]
    exclude_run: Vec<String>,
    /// Only steps A to B, inclusive (`A:` and `:B` leave one end open).
    #[arg(long, value_name = "A:B")]
    step_range: Option<String>,
    /// Read settings from this file (a histinspect.toml or a pyproject.toml).
    #[arg(long, value_name = "PATH", conflicts_with = "no_config")]
    config: Option<PathBuf>,
    /// Read no settings file.
    #[arg(long)]
    no_config: bool,
    /// Never show the progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Debug, Args, Clone, Default)]
struct ReportArgs {
    /// What fails: flag names, `any`, `error`, `warning`, `info` (severities) and `damage`
    /// (comma-separated). The report exits 1 only with this; `check` fails on `error` by default.
    #[arg(long, value_name = "FLAGS", value_delimiter = ',')]
    fail_on: Vec<String>,
    /// Override a flag threshold, e.g. `--threshold frozen=1e-5` (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    threshold: Vec<String>,
    /// After the table, a plain-language reading of what the histograms say.
    #[arg(long)]
    explain: bool,
    /// One row (or object) per run, tag and step, with per-step statistics.
    #[arg(long)]
    steps: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Table,
    Json,
    Jsonl,
    Csv,
    Github,
    Markdown,
    /// Typed binary columns for programs (`--steps` only; the Python package reads it).
    #[value(hide = true)]
    Columns,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

fn parse_step_range(s: &str) -> anyhow::Result<(i64, i64)> {
    let Some((a, b)) = s.split_once(':') else {
        bail!("--step-range takes A:B, got {s:?}");
    };
    let parse = |x: &str, default: i64| -> anyhow::Result<i64> {
        if x.trim().is_empty() {
            Ok(default)
        } else {
            x.trim()
                .parse()
                .with_context(|| format!("bad step {x:?} in --step-range"))
        }
    };
    let (a, b) = (parse(a, i64::MIN)?, parse(b, i64::MAX)?);
    if a > b {
        bail!("--step-range {s}: start is after end");
    }
    Ok((a, b))
}

fn parse_thresholds(t: &mut Thresholds, items: &[String]) -> anyhow::Result<()> {
    for item in items {
        let Some((name, value)) = item.split_once('=') else {
            bail!("--threshold takes NAME=VALUE, got {item:?}");
        };
        let v: f64 = value
            .trim()
            .parse()
            .with_context(|| format!("bad value in --threshold {item}"))?;
        if !t.set(name.trim(), v) {
            bail!(
                "unknown threshold {name:?}; known: {}",
                Thresholds::NAMES.join(", ")
            );
        }
    }
    Ok(())
}

fn regex(r: &str, what: &str) -> anyhow::Result<Regex> {
    Regex::new(r).with_context(|| format!("bad regular expression for {what}"))
}

/// The settings file that applies, if any.
fn settings_for(common: &Common) -> anyhow::Result<Settings> {
    if common.no_config {
        return Ok(Settings::default());
    }
    let path = match &common.config {
        Some(p) => Some(p.clone()),
        None => std::env::current_dir()
            .ok()
            .and_then(|d| settings::find(&d)),
    };
    match path {
        Some(p) => Ok(settings::load(&p)?),
        None => Ok(Settings::default()),
    }
}

impl Cli {
    /// Writes what `completions` and `man` generate from these definitions; false for every
    /// other command.
    pub fn generate(&self, out: &mut dyn std::io::Write) -> std::io::Result<bool> {
        use clap::CommandFactory;
        match &self.command {
            Some(Cmd::Completions { shell }) => {
                clap_complete::generate(*shell, &mut Cli::command(), "histinspect", out);
                Ok(true)
            }
            Some(Cmd::Man) => {
                clap_mangen::Man::new(Cli::command()).render(out)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Resolves the arguments against the settings file and the environment (terminal,
    /// `NO_COLOR`, `GITHUB_ACTIONS`). Errors here are usage errors (exit code 2).
    pub fn resolve(self) -> anyhow::Result<Config> {
        let (command, common, report, view, name) = match self.command {
            Some(Cmd::Completions { .. } | Cmd::Man) => {
                bail!("completions and man print what they generate; they have no configuration")
            }
            Some(Cmd::Tags(c)) => (
                Command::Tags,
                c,
                ReportArgs::default(),
                ViewKind::Inventory,
                "tags",
            ),
            Some(Cmd::Plot {
                common,
                step,
                over_steps,
                rows,
            }) => (
                Command::Plot(PlotOptions {
                    what: analysis::PlotOptions { step, over_steps },
                    rows,
                }),
                common,
                ReportArgs::default(),
                ViewKind::Plots,
                "plot",
            ),
            Some(Cmd::Buckets { common, step }) => (
                Command::Buckets { step },
                common,
                ReportArgs::default(),
                ViewKind::Buckets,
                "buckets",
            ),
            Some(Cmd::Watch { common, watch }) => {
                if watch.min_points < 2 {
                    bail!("--min-points takes 2 or more (a series needs two points to change)");
                }
                let w = WatchConfig {
                    interval: seconds(watch.interval, "--interval")?,
                    exit_after_idle: watch
                        .exit_after_idle
                        .map(|v| seconds(v, "--exit-after-idle"))
                        .transpose()?,
                    min_points: watch.min_points,
                };
                let report = ReportArgs {
                    fail_on: watch.fail_on,
                    threshold: watch.threshold,
                    ..ReportArgs::default()
                };
                (Command::Watch(w), common, report, ViewKind::Watch, "watch")
            }
            Some(Cmd::Diff { common, report }) => {
                if common.paths.len() != 2 {
                    bail!(
                        "diff takes two paths, A and B (runs, event files, or logdirs whose \
                         runs pair by name); got {}",
                        common.paths.len()
                    );
                }
                if report.steps {
                    bail!("--steps does not apply to diff");
                }
                let explain = report.explain;
                (
                    Command::Diff { explain },
                    common,
                    report,
                    ViewKind::Diff,
                    "diff",
                )
            }
            Some(Cmd::Check { common, report }) => {
                if report.steps {
                    bail!("--steps does not apply to check; use the report: histinspect LOGDIR --steps");
                }
                let explain = report.explain;
                (
                    Command::Check { explain },
                    common,
                    report,
                    ViewKind::Check,
                    "check",
                )
            }
            None => {
                let (view, name) = if self.report.steps {
                    (ViewKind::Steps, "--steps")
                } else {
                    (ViewKind::Summary, "the report")
                };
                let opts = ReportOptions {
                    explain: self.report.explain,
                    steps: self.report.steps,
                };
                (Command::Report(opts), self.common, self.report, view, name)
            }
        };
        let is_check = matches!(command, Command::Check { .. });
        let in_github = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
        let format = match common.format {
            None if is_check && in_github => Format::Github,
            None | Some(FormatArg::Table) => Format::Table,
            Some(FormatArg::Json) => Format::Json,
            Some(FormatArg::Jsonl) => Format::Jsonl,
            Some(FormatArg::Csv) => Format::Csv,
            Some(FormatArg::Github) => Format::Github,
            Some(FormatArg::Markdown) => Format::Markdown,
            Some(FormatArg::Columns) => Format::Columns,
        };
        if format == Format::Columns && std::io::stdout().is_terminal() {
            bail!(
                "--format columns is binary, for programs: send it to a pipe or a file \
                 (for a table leave --format out)"
            );
        }
        if !view.formats().contains(&format) {
            let have: Vec<&str> = view.formats().iter().map(|f| f.as_str()).collect();
            bail!(
                "--format {} does not apply to {name}; it is written as: {}",
                format.as_str(),
                have.join(", ")
            );
        }
        if report.explain && !view.explains(format) {
            bail!(
                "--explain adds a reading after the summary table; it does not apply to {}",
                if report.steps {
                    "--steps".to_string()
                } else {
                    format!("--format {}", format.as_str())
                }
            );
        }
        let settings = settings_for(&common)?;
        let from_file = |what: &str| format!("{what} ({})", settings.path.display());

        let mut thresholds = Thresholds::default();
        for (name, value) in &settings.thresholds {
            thresholds.set(name, *value);
        }
        parse_thresholds(&mut thresholds, &report.threshold)?;

        let mut filters = Vec::new();
        let mut exclude_tags = settings.exclude_tag.clone();
        let mut exclude_runs = settings.exclude_run.clone();
        filters.extend(
            exclude_tags
                .iter()
                .map(|r| from_file(&format!("exclude-tag {:?}", r.as_str()))),
        );
        filters.extend(
            exclude_runs
                .iter()
                .map(|r| from_file(&format!("exclude-run {:?}", r.as_str()))),
        );
        for r in &common.exclude_tag {
            exclude_tags.push(regex(r, "--exclude-tag")?);
            filters.push(format!("--exclude-tag {r:?}"));
        }
        for r in &common.exclude_run {
            exclude_runs.push(regex(r, "--exclude-run")?);
            filters.push(format!("--exclude-run {r:?}"));
        }
        let tag = common
            .tag
            .as_deref()
            .map(|r| regex(r, "--tag"))
            .transpose()?;
        let runs = common
            .run
            .as_deref()
            .map(|r| regex(r, "--run"))
            .transpose()?;
        let steps = common
            .step_range
            .as_deref()
            .map(parse_step_range)
            .transpose()?;
        for (opt, v) in [
            ("--tag", &common.tag),
            ("--run", &common.run),
            ("--step-range", &common.step_range),
        ] {
            if let Some(v) = v {
                filters.push(format!("{opt} {v:?}"));
            }
        }

        let cli_fail_on = if report.fail_on.is_empty() {
            None
        } else {
            Some(
                FailOn::parse(report.fail_on.iter().map(String::as_str))
                    .map_err(anyhow::Error::msg)?,
            )
        };
        let gate = if is_check {
            Some(Gate {
                fail_on: cli_fail_on
                    .or_else(|| settings.fail_on.clone())
                    .unwrap_or_else(FailOn::errors),
                allow: settings.allow.clone(),
                strict: true,
            })
        } else {
            cli_fail_on.map(|fail_on| Gate {
                fail_on,
                allow: settings.allow.clone(),
                strict: true,
            })
        };

        let stdout_tty = std::io::stdout().is_terminal();
        let color = match common.color {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => {
                stdout_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        let width = if stdout_tty {
            comfy_table::Table::new().width()
        } else {
            None
        };
        let step_summary = (is_check && in_github)
            .then(|| std::env::var_os("GITHUB_STEP_SUMMARY"))
            .flatten()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        // Per-step rows and raw buckets need only the index of the points, unless the run is
        // also gated (the verdict needs the whole report).
        let steps_rows =
            gate.is_none() && matches!(command, Command::Report(ReportOptions { steps: true, .. }));
        let points_only =
            steps_rows || (gate.is_none() && matches!(command, Command::Buckets { .. }));
        Ok(Config {
            paths: common.paths,
            command,
            format,
            style: Style { width, color },
            analysis: analysis::Options {
                runs,
                exclude_runs,
                points: PointFilter {
                    tag,
                    steps,
                    exclude_tags,
                },
                thresholds,
                points_only,
                // Rows for `--steps` computed while reading, in up to this much memory.
                keep_rows: steps_rows.then_some(ROWS_BUDGET),
            },
            filters,
            gate,
            step_summary,
            progress: !common.no_progress && std::io::stderr().is_terminal(),
            output_is_terminal: stdout_tty,
        })
    }
}

/// Memory for per-step rows computed while reading (`analysis::Options::keep_rows`): about
/// 400 bytes a row, so a logdir of up to ~300 000 points is read once; larger ones are read
/// again run by run for the rows that did not fit.
const ROWS_BUDGET: usize = 128 << 20;

/// Edit distance between two short words (for "did you mean").
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A first argument that is neither a path nor a command but close to one: a mistyped
/// subcommand (`histinspect plto logs`), to be reported as a usage error, not read as a path.
pub fn mistyped_command(args: &[std::ffi::OsString]) -> Option<(String, &'static str)> {
    let first = args.get(1)?.to_str()?;
    if first.starts_with('-') || COMMANDS.contains(&first) || std::path::Path::new(first).exists() {
        return None;
    }
    COMMANDS
        .iter()
        .map(|c| (distance(first, c), *c))
        .filter(|(d, c)| *d <= 2 && *d < c.len())
        .min()
        .map(|(_, c)| (first.to_string(), c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistyped_commands_are_recognised() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            mistyped_command(&args(&["histinspect", "plto", "logs"])),
            Some(("plto".into(), "plot"))
        );
        assert_eq!(
            mistyped_command(&args(&["histinspect", "chekc", "logs"])),
            Some(("chekc".into(), "check"))
        );
        assert_eq!(
            mistyped_command(&args(&["histinspect", "plot", "logs"])),
            None
        );
        assert_eq!(mistyped_command(&args(&["histinspect", "src", "x"])), None);
        assert_eq!(
            mistyped_command(&args(&["histinspect", "runs/2024-01-01"])),
            None
        );
    }
}

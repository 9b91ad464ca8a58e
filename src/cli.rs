//! Command-line arguments (clap) and their resolution into a [`Config`].

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use histinspect::analysis;
use histinspect::config::{Command, Config, PlotOptions, ReportOptions};
use histinspect::diagnose::{Flag, Thresholds};
use histinspect::report::{Format, Style, ViewKind};
use histinspect::series::PointFilter;
use regex::Regex;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Reads TensorBoard event files and tells you what the logged histograms say: per run and tag
/// the shape, spread and change over training, and flags such as frozen layers.
#[derive(Debug, Parser)]
#[command(name = "histinspect", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    report: ReportArgs,
}

#[derive(Debug, Subcommand)]
enum Cmd {
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
}

#[derive(Debug, Args, Clone)]
struct Common {
    /// Logdirs (searched recursively) and event files.
    #[arg(value_name = "LOGDIR", required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// When to use colours (`auto`: on a terminal unless NO_COLOR is set).
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
    /// Only tags matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    tag: Option<String>,
    /// Only runs matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    run: Option<String>,
    /// Only steps A to B, inclusive (`A:` and `:B` leave one end open).
    #[arg(long, value_name = "A:B")]
    step_range: Option<String>,
    /// Never show the progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Debug, Args, Clone, Default)]
struct ReportArgs {
    /// Exit with 1 when any of these flags is found (comma-separated; `any` for all).
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

fn parse_fail_on(names: &[String]) -> anyhow::Result<Vec<Flag>> {
    let mut flags = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if n == "any" {
            flags.extend(Flag::ALL.iter().copied());
        } else {
            match Flag::parse(n) {
                Some(f) => flags.push(f),
                None => bail!(
                    "unknown flag {n:?} in --fail-on; known: any, {}",
                    Flag::ALL
                        .iter()
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    }
    flags.sort();
    flags.dedup();
    Ok(flags)
}

fn parse_thresholds(items: &[String]) -> anyhow::Result<Thresholds> {
    let mut t = Thresholds::default();
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
    Ok(t)
}

fn regex(r: &Option<String>, what: &str) -> anyhow::Result<Option<Regex>> {
    r.as_deref()
        .map(|s| Regex::new(s).with_context(|| format!("bad regular expression for {what}")))
        .transpose()
}

impl Cli {
    /// Resolves the arguments against the environment (terminal, `NO_COLOR`, width).
    /// Errors here are usage errors (exit code 2).
    pub fn resolve(self) -> anyhow::Result<Config> {
        let thresholds = parse_thresholds(&self.report.threshold)?;
        let report = ReportOptions {
            fail_on: parse_fail_on(&self.report.fail_on)?,
            explain: self.report.explain,
            steps: self.report.steps,
        };
        let (command, common, view, name) = match self.command {
            Some(Cmd::Tags(c)) => (Command::Tags, c, ViewKind::Inventory, "tags"),
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
                ViewKind::Plots,
                "plot",
            ),
            None => {
                let view = if report.steps {
                    ViewKind::Steps
                } else {
                    ViewKind::Summary
                };
                let name = if report.steps {
                    "--steps"
                } else {
                    "the report"
                };
                (Command::Report(report.clone()), self.common, view, name)
            }
        };
        let format = match common.format {
            FormatArg::Table => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Csv => Format::Csv,
        };
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
        Ok(Config {
            paths: common.paths,
            command,
            format,
            style: Style { width, color },
            analysis: analysis::Options {
                runs: regex(&common.run, "--run")?,
                points: PointFilter {
                    tag: regex(&common.tag, "--tag")?,
                    steps: common
                        .step_range
                        .as_deref()
                        .map(parse_step_range)
                        .transpose()?,
                },
                thresholds,
            },
            progress: !common.no_progress && std::io::stderr().is_terminal(),
        })
    }
}

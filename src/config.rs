//! The resolved configuration: what the binary's arguments and the settings file mean, with
//! every default applied and every combination checked. The library never sees clap;
//! `src/cli.rs` in the binary builds a [`Config`].

use crate::analysis;
use crate::gate::Gate;
use crate::report::{Format, Style};
use std::path::PathBuf;

/// The summary report's options.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Add the plain-language reading after the table.
    pub explain: bool,
    /// One row / object per (run, tag, step) instead of per (run, tag).
    pub steps: bool,
}

/// `histinspect plot`'s options.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlotOptions {
    pub what: analysis::PlotOptions,
    /// Rows of the bar chart.
    pub rows: usize,
}

/// `histinspect watch`'s options.
#[derive(Debug, Clone, Copy)]
pub struct WatchConfig {
    /// Time between polls.
    pub interval: std::time::Duration,
    /// Exit 0 after this long without a new record.
    pub exit_after_idle: Option<std::time::Duration>,
    /// Points of a tag before a flag judged on a series is reported.
    pub min_points: usize,
}

/// What to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// The summary report (the default command); a gate only with `--fail-on`.
    Report(ReportOptions),
    /// `histinspect check`: the report and a gate.
    Check { explain: bool },
    /// `histinspect tags`: the inventory.
    Tags,
    /// `histinspect buckets`: the raw buckets of each point, or of those at `step`.
    Buckets { step: Option<i64> },
    /// `histinspect plot`: pictures of a tag.
    Plot(PlotOptions),
    /// `histinspect watch`: follow the runs, report findings as they appear; a gate only with
    /// `--fail-on`.
    Watch(WatchConfig),
    /// `histinspect diff A B`: `paths` holds A then B; a gate only with `--fail-on`, failing
    /// on flags B gained.
    Diff { explain: bool },
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Logdirs and event files on the local filesystem.
    pub paths: Vec<PathBuf>,
    pub command: Command,
    pub format: Format,
    pub style: Style,
    /// Runs, tags, steps and thresholds.
    pub analysis: analysis::Options,
    /// The filters in force, as the user wrote them (`--tag '^x'`), to name them when they
    /// leave nothing.
    pub filters: Vec<String>,
    /// What fails: always for `check`, with `--fail-on` for the report.
    pub gate: Option<Gate>,
    /// `$GITHUB_STEP_SUMMARY` when `check` runs in GitHub Actions: the Markdown summary is
    /// appended there.
    pub step_summary: Option<PathBuf>,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Standard output is a terminal: with a progress bar on stderr, per-step rows are then
    /// written once the reading is over, not between its redraws.
    pub output_is_terminal: bool,
}

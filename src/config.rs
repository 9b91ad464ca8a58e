//! The resolved configuration: what the binary's arguments mean, with every default applied.
//! The library never sees clap; `src/cli.rs` in the binary builds a [`Config`].

use crate::diagnose::{Flag, Thresholds};
use crate::report::table::Style;
use crate::series::PointFilter;
use regex::Regex;
use std::path::PathBuf;

/// Output format of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Csv,
}

/// The summary report's options.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Flags that make the exit code 1.
    pub fail_on: Vec<Flag>,
    pub thresholds: Thresholds,
    /// Add the plain-language reading after the table.
    pub explain: bool,
    /// One row / object per (run, tag, step) instead of per (run, tag).
    pub steps: bool,
}

/// `histinspect plot`'s options.
#[derive(Debug, Clone, Default)]
pub struct PlotOptions {
    /// Step to draw (default: the last).
    pub step: Option<i64>,
    /// Draw a ridgeline of this many steps instead of one histogram.
    pub over_steps: Option<usize>,
    /// Rows of the bar chart.
    pub rows: usize,
}

/// What to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// The summary report (the default command).
    Report(ReportOptions),
    /// `histinspect tags`: the inventory.
    Tags,
    /// `histinspect plot`: pictures of a tag.
    Plot(PlotOptions),
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Logdirs and event files.
    pub paths: Vec<PathBuf>,
    pub command: Command,
    pub format: Format,
    pub style: Style,
    /// Keep runs whose name matches (`--run`).
    pub run_filter: Option<Regex>,
    /// Tags and steps to keep (`--tag`, `--step-range`).
    pub points: PointFilter,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

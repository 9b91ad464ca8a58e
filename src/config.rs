//! The resolved configuration: what the binary's arguments mean, with every default applied
//! and every combination checked. The library never sees clap; `src/cli.rs` in the binary
//! builds a [`Config`].

use crate::analysis;
use crate::diagnose::Flag;
use crate::report::{Format, Style};
use std::path::PathBuf;

/// The summary report's options.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Flags that make the exit code 1.
    pub fail_on: Vec<Flag>,
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
    /// Logdirs and event files on the local filesystem.
    pub paths: Vec<PathBuf>,
    pub command: Command,
    pub format: Format,
    pub style: Style,
    /// Runs, tags, steps and thresholds.
    pub analysis: analysis::Options,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

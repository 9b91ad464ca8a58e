//! The resolved configuration: what the binary's arguments mean, with every default applied.
//! The library never sees clap; `src/cli.rs` in the binary builds a [`Config`].

use crate::report::table::Style;
use std::path::PathBuf;

/// Output format of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Csv,
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `histinspect tags`: the inventory.
    Tags,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Logdirs and event files.
    pub paths: Vec<PathBuf>,
    pub command: Command,
    pub format: Format,
    pub style: Style,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

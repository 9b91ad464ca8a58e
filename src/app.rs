//! Runs a [`Config`]: discover, load, build the report model, render. Writes only to the
//! writers it is given; the binary decides what the [`Outcome`] means for the exit code.

use crate::config::{Command, Config, Format};
use crate::inventory;
use crate::logdir;
use crate::report;
use std::io::{self, Write};

/// How a run of the tool ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Read and reported; no flag the user asked to fail on.
    Clean,
    /// A flag named in `--fail-on` was found.
    FlagsFound,
    /// Nothing could be read (no event files, nothing readable).
    NothingRead,
}

/// Runs `config`, rendering to `out`; progress goes to `err` when enabled.
pub fn run(config: &Config, out: &mut dyn Write, _err: &mut dyn Write) -> io::Result<Outcome> {
    let discovery = logdir::discover(&config.paths);
    let nothing = discovery.runs.is_empty();
    match &config.command {
        Command::Tags => {
            let inv = inventory::build(discovery, &|_| {});
            match config.format {
                Format::Json | Format::Jsonl => report::json::inventory(&inv, out)?,
                Format::Table | Format::Csv => report::table::inventory(&inv, config.style, out)?,
            }
        }
    }
    Ok(if nothing {
        Outcome::NothingRead
    } else {
        Outcome::Clean
    })
}

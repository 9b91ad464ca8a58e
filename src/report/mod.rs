//! Pure renderers of the one report model ([`crate::model`]), one file per format, behind one
//! dispatch: [`render`]. Renderers write to the `&mut dyn Write` handed to them and never read
//! files, print or decide exit codes; the JSON wire types in [`json`] are separate structs
//! carrying `schema_version`, so the model can change without changing the documented schema.
//!
//! Which formats each view has is said once, in [`View::formats`]; the front end rejects any
//! other combination before anything is read.

pub mod csv;
pub mod explain;
pub mod json;
pub mod plot;
pub mod table;

use crate::event_file::Problem;
use crate::inventory::Inventory;
use crate::model::{Plot, Report, StepRow};
use std::io::{self, Write};

pub use table::Style;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Csv,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
        }
    }
}

/// The kinds of output, each with the formats it can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    Summary,
    Steps,
    Inventory,
    Plots,
}

impl ViewKind {
    /// The formats this view can be rendered in.
    pub fn formats(self) -> &'static [Format] {
        use Format::*;
        match self {
            ViewKind::Summary | ViewKind::Steps | ViewKind::Inventory => &[Table, Json, Jsonl, Csv],
            ViewKind::Plots => &[Table],
        }
    }

    /// Whether `--explain` applies.
    pub fn explains(self, format: Format) -> bool {
        self == ViewKind::Summary && format == Format::Table
    }
}

/// What to render.
pub enum View<'a> {
    /// The summary: a row per (run, tag).
    Summary(&'a Report),
    /// A row per (run, tag, step), streamed; `problems` (those of reading, before any row)
    /// follow the rows together with any point that could not be read again.
    Steps {
        rows: &'a mut dyn Iterator<Item = Result<StepRow, Problem>>,
        problems: &'a [Problem],
    },
    /// `histinspect tags`.
    Inventory(&'a Inventory),
    /// `histinspect plot`, with the points that could not be read again.
    Plots {
        plots: &'a [Plot],
        problems: &'a [Problem],
        rows: usize,
    },
}

impl View<'_> {
    pub fn kind(&self) -> ViewKind {
        match self {
            View::Summary(_) => ViewKind::Summary,
            View::Steps { .. } => ViewKind::Steps,
            View::Inventory(_) => ViewKind::Inventory,
            View::Plots { .. } => ViewKind::Plots,
        }
    }
}

/// How to render.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    pub format: Format,
    pub style: Style,
    /// The plain-language reading after the summary table.
    pub explain: bool,
}

/// Renders `view`; returns the problems that the format could not show (CSV has no place for
/// them), so that the front end can mention them elsewhere.
pub fn render(view: View<'_>, o: &RenderOptions, out: &mut dyn Write) -> io::Result<Vec<Problem>> {
    let kind = view.kind();
    if !kind.formats().contains(&o.format) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("this output has no {} format", o.format.as_str()),
        ));
    }
    let mut unshown = Vec::new();
    match view {
        View::Summary(r) => match o.format {
            Format::Table => {
                table::report(r, o.style, out)?;
                if o.explain {
                    writeln!(out)?;
                    explain::explain(r, out)?;
                }
            }
            Format::Json => json::report(r, out)?,
            Format::Jsonl => json::report_lines(r, out)?,
            Format::Csv => {
                csv::report(r, out)?;
                unshown = r.problems.clone();
            }
        },
        View::Steps { rows, problems } => {
            let mut all = problems.to_vec();
            let mut rows = rows.filter_map(|r| match r {
                Ok(row) => Some(row),
                Err(p) => {
                    all.push(p);
                    None
                }
            });
            match o.format {
                Format::Table => table::steps(&mut rows, out)?,
                Format::Json => json::steps_document(&mut rows, out)?,
                Format::Jsonl => json::steps_lines(&mut rows, out)?,
                Format::Csv => csv::steps(&mut rows, out)?,
            }
            drop(rows);
            match o.format {
                Format::Table => table::problems(&all, out)?,
                Format::Json => json::steps_document_end(&all, out)?,
                Format::Jsonl => json::problem_lines(&all, out)?,
                Format::Csv => unshown = all,
            }
        }
        View::Inventory(inv) => match o.format {
            Format::Table => table::inventory(inv, o.style, out)?,
            Format::Json => json::inventory(inv, out)?,
            Format::Jsonl => json::inventory_lines(inv, out)?,
            Format::Csv => {
                csv::inventory(inv, out)?;
                unshown = inv.problems.clone();
            }
        },
        View::Plots {
            plots,
            problems,
            rows,
        } => {
            plot::plots(plots, rows, out)?;
            table::problems(problems, out)?;
        }
    }
    Ok(unshown)
}

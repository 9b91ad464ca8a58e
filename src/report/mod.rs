//! Pure renderers of the one report model ([`crate::model`]), one file per format, behind one
//! dispatch: [`render`]. Renderers write to the `&mut dyn Write` handed to them and never read
//! files, print or decide exit codes; the JSON wire types in [`json`] are separate structs
//! carrying `schema_version`, so the model can change without changing the documented schema.
//!
//! Which formats each view has is said once, in [`ViewKind::formats`]; the front end rejects any
//! other combination before anything is read.

pub mod columns;
pub mod csv;
pub mod diff;
pub mod explain;
pub mod github;
pub mod json;
pub mod markdown;
pub mod plot;
pub mod rows;
pub mod table;
pub mod watch;

use crate::event_file::Problem;
use crate::gate::Verdict;
use crate::inventory::Inventory;
use crate::model::{Plot, PointBuckets, Report, StepRow};
use std::borrow::Cow;
use std::io::{self, Write};

/// `1 run`, `2 runs`: a count with its noun, for the lines people read.
pub fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// `s` made safe for a terminal or a CI log: control characters (ESC, CR, backspace, NUL,
/// newlines, …) and the Unicode bidirectional controls (U+202A–U+202E, U+2066–U+2069) are
/// written as `\u{…}` escapes, so text from a logdir cannot move the cursor, rewrite what is
/// already on the line, open a hyperlink or start a CI workflow command.
pub fn clean(s: &str) -> Cow<'_, str> {
    let bad =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if bad(c) {
                    format!("\\u{{{:x}}}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

pub use table::Style;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Csv,
    /// GitHub Actions workflow-command annotations.
    Github,
    /// A Markdown summary (GitHub's step summary, PR comments, other CI systems).
    Markdown,
    /// Typed binary columns, for programs ([`columns`]).
    Columns,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Github => "github",
            Format::Markdown => "markdown",
            Format::Columns => "columns",
        }
    }
}

/// The kinds of output, each with the formats it can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    Summary,
    Steps,
    /// `histinspect buckets`: the raw buckets of each point.
    Buckets,
    Inventory,
    Plots,
    /// `histinspect check`: the report and the gate's findings.
    Check,
    /// `histinspect watch`: events as they happen.
    Watch,
    /// `histinspect diff`.
    Diff,
}

impl ViewKind {
    /// The formats this view can be rendered in.
    pub fn formats(self) -> &'static [Format] {
        use Format::*;
        match self {
            ViewKind::Steps => &[Table, Json, Jsonl, Csv, Columns],
            ViewKind::Summary | ViewKind::Buckets | ViewKind::Inventory => {
                &[Table, Json, Jsonl, Csv]
            }
            ViewKind::Plots => &[Table],
            ViewKind::Check => &[Table, Json, Github, Markdown],
            ViewKind::Watch => &[Table, Jsonl],
            ViewKind::Diff => &[Table, Json],
        }
    }

    /// Whether `--explain` applies.
    pub fn explains(self, format: Format) -> bool {
        matches!(self, ViewKind::Summary | ViewKind::Check | ViewKind::Diff)
            && format == Format::Table
    }
}

/// What to render.
pub enum View<'a> {
    /// The summary: a row per (run, tag).
    Summary(&'a Report),
    /// A row per (run, tag, step), streamed; `problems` (those of reading, asked for once the
    /// rows are written: the rows may be written while the logdir is still being read)
    /// follow the rows together with any point that could not be read again.
    Steps {
        rows: &'a mut dyn Iterator<Item = Result<StepRow, Problem>>,
        problems: &'a dyn Fn() -> &'a [Problem],
    },
    /// `histinspect buckets`, streamed like [`View::Steps`].
    Buckets {
        points: &'a mut dyn Iterator<Item = Result<PointBuckets, Problem>>,
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
    /// `histinspect check`.
    Check(&'a Report, &'a Verdict<'a>),
    /// `histinspect diff`, with the two sides as given.
    Diff {
        diff: &'a crate::diff::Diff,
        a: &'a str,
        b: &'a str,
    },
}

impl View<'_> {
    pub fn kind(&self) -> ViewKind {
        match self {
            View::Summary(_) => ViewKind::Summary,
            View::Steps { .. } => ViewKind::Steps,
            View::Buckets { .. } => ViewKind::Buckets,
            View::Inventory(_) => ViewKind::Inventory,
            View::Plots { .. } => ViewKind::Plots,
            View::Check(..) => ViewKind::Check,
            View::Diff { .. } => ViewKind::Diff,
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
            Format::Json => json::report(r, out)?,
            Format::Jsonl => json::report_lines(r, out)?,
            Format::Csv => {
                csv::report(r, out)?;
                unshown = r.problems.clone();
            }
            // Table (the formats were checked above).
            _ => {
                table::report(r, o.style, out)?;
                if o.explain {
                    writeln!(out)?;
                    explain::explain(r, out)?;
                }
            }
        },
        View::Steps { rows, problems } => {
            let writers: Writers<StepRow> = (
                json::steps_document,
                json::steps_lines,
                csv::steps,
                table::steps,
                Some(columns::steps),
            );
            unshown = stream(rows, problems, o.format, writers, out)?;
        }
        View::Buckets { points, problems } => {
            let writers: Writers<PointBuckets> = (
                json::buckets_document,
                json::buckets_lines,
                csv::buckets,
                table::buckets,
                None,
            );
            unshown = stream(points, &|| problems, o.format, writers, out)?;
        }
        View::Inventory(inv) => match o.format {
            Format::Json => json::inventory(inv, out)?,
            Format::Jsonl => json::inventory_lines(inv, out)?,
            Format::Csv => {
                csv::inventory(inv, out)?;
                unshown = inv.problems.clone();
            }
            _ => table::inventory(inv, o.style, out)?,
        },
        View::Plots {
            plots,
            problems,
            rows,
        } => {
            plot::plots(plots, rows, out)?;
            table::problems(problems, out)?;
        }
        View::Diff { diff: d, a, b } => match o.format {
            Format::Json => diff::json(d, a, b, out)?,
            _ => {
                diff::table(d, o.style, out)?;
                if o.explain {
                    writeln!(out)?;
                    diff::explain(d, out)?;
                }
            }
        },
        View::Check(r, verdict) => match o.format {
            Format::Json => json::check(r, verdict, out)?,
            Format::Github => github::annotations(verdict, out)?,
            Format::Markdown => markdown::summary(r, verdict, out)?,
            _ => {
                table::report(r, o.style, out)?;
                if o.explain {
                    writeln!(out)?;
                    explain::explain(r, out)?;
                }
                table::findings(verdict, o.style, out)?;
            }
        },
    }
    Ok(unshown)
}

/// A streamed view's writers: JSON document, JSON Lines, CSV, table, and columns where the
/// view has them.
type Writers<T> = (
    Writer<T>,
    Writer<T>,
    Writer<T>,
    Writer<T>,
    Option<Writer<T>>,
);

type Writer<T> = fn(&mut dyn Iterator<Item = T>, &mut dyn Write) -> io::Result<()>;

/// Writes a streamed view: the items as they come, then the problems of reading followed by
/// the items that could not be read again; returns the problems CSV has no place for.
fn stream<'p, T>(
    items: &mut dyn Iterator<Item = Result<T, Problem>>,
    problems: &dyn Fn() -> &'p [Problem],
    format: Format,
    (json, jsonl, csv, table, columns): Writers<T>,
    out: &mut dyn Write,
) -> io::Result<Vec<Problem>> {
    let mut unread = Vec::new();
    let mut ok = items.filter_map(|r| match r {
        Ok(item) => Some(item),
        Err(p) => {
            unread.push(p);
            None
        }
    });
    match format {
        Format::Json => json(&mut ok, out)?,
        Format::Jsonl => jsonl(&mut ok, out)?,
        Format::Csv => csv(&mut ok, out)?,
        // `render` checked that the view has this format.
        Format::Columns => columns.map_or(Ok(()), |w| w(&mut ok, out))?,
        _ => table(&mut ok, out)?,
    }
    drop(ok);
    let mut all = problems().to_vec();
    all.append(&mut unread);
    match format {
        Format::Json => json::steps_document_end(&all, out)?,
        Format::Jsonl => json::problem_lines(&all, out)?,
        Format::Csv | Format::Columns => return Ok(all),
        _ => table::problems(&all, out)?,
    }
    Ok(Vec::new())
}

/// Writes `items` as `write_one` writes each one, in order, a batch at a time: the items of a
/// batch are written into memory in pieces on all threads, then the pieces to `out`. Per-step
/// rows are computed on all threads; written one by one on a single thread, their text
/// would be what the whole export waits for.
pub(crate) fn write_in_parallel<T: Send + Sync>(
    items: &mut dyn Iterator<Item = T>,
    out: &mut dyn Write,
    write_one: impl Fn(&T, &mut Vec<u8>) -> io::Result<()> + Sync,
) -> io::Result<()> {
    use rayon::prelude::*;
    /// Items per piece written by one thread, and per batch.
    const PIECE: usize = 256;
    const BATCH: usize = 16 * PIECE;
    // The largest piece so far, up to 1 MiB: a piece's buffer starts that large instead of
    // doubling its way there (a per-step export's piece is ~250 KB; the doublings copied most
    // of it again). Capped, so that one huge piece (a bucket export of a 20 000-bucket tag)
    // does not make every later piece reserve as much.
    const START_AT_MOST: usize = 1 << 20;
    let largest = std::sync::atomic::AtomicUsize::new(0);
    loop {
        let batch: Vec<T> = (&mut *items).take(BATCH).collect();
        if batch.is_empty() {
            return Ok(());
        }
        let pieces: Vec<io::Result<Vec<u8>>> = batch
            .par_chunks(PIECE)
            .map(|items| {
                use std::sync::atomic::Ordering::Relaxed;
                let mut buf = Vec::with_capacity(largest.load(Relaxed));
                for item in items {
                    write_one(item, &mut buf)?;
                }
                largest.fetch_max(buf.len().min(START_AT_MOST), Relaxed);
                Ok(buf)
            })
            .collect();
        for piece in pieces {
            let piece: Vec<u8> = piece?;
            out.write_all(&piece)?;
        }
    }
}

/// `text` in lines of at most `width` columns (by characters), the first starting at column
/// `first`, the others after `rest`; words longer than a line stay whole. Prose that people
/// read in terminals and CI logs goes through this, never cut mid-word by the terminal.
pub(crate) fn wrap(text: &str, width: usize, rest: &str, first: usize) -> String {
    let indent = rest.chars().count();
    let mut out = String::new();
    let mut col = first;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let n = word.chars().count();
        if !out.is_empty() && col + 1 + n > width {
            out.push('\n');
            out.push_str(rest);
            col = indent;
        } else if !out.is_empty() {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += n;
    }
    out
}

/// Writes `text` [`wrap`]ped at `width` columns, `first` before its first line and `rest`
/// before the others.
pub(crate) fn para(
    out: &mut dyn Write,
    first: &str,
    rest: &str,
    text: &str,
    width: usize,
) -> io::Result<()> {
    let body = wrap(text, width, rest, first.chars().count());
    writeln!(out, "{}", format!("{first}{body}").trim_end())
}

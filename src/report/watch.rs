//! `histinspect watch`: one line per event as it happens, and a final summary. The table
//! format is for a person at a terminal (every text from the logdir through [`clean`]); the
//! JSON Lines format gives one object per event with `schema_version` and `event`
//! (`finding`, `problem`, `summary`), documented in the README.

use super::explain::finding_text;
use super::json::{line, ProblemJson};
use super::{clean, wrap, Format};
use crate::diagnose::Flag;
use crate::watch::{Totals, WatchEvent};
use serde::Serialize;
use std::io::{self, Write};

/// Why a watch ended.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// A `--fail-on` flag was found, or damage with `--fail-on damage` (exit 1).
    FailOn { flags: Vec<Flag>, damage: bool },
    /// No new record for `--exit-after-idle` seconds (exit 0).
    Idle(f64),
    /// SIGINT or SIGTERM.
    Signal,
}

impl End {
    fn reason(&self) -> &'static str {
        match self {
            End::FailOn { .. } => "fail_on",
            End::Idle(_) => "idle",
            End::Signal => "signal",
        }
    }
}

#[derive(Serialize)]
struct FindingLine<'a> {
    event: &'static str,
    run: &'a str,
    tag: &'a str,
    role: &'static str,
    flag: &'static str,
    severity: &'static str,
    step: i64,
    last_step: i64,
    message: String,
}

#[derive(Serialize)]
struct ProblemLine {
    event: &'static str,
    #[serde(flatten)]
    problem: ProblemJson,
}

#[derive(Serialize)]
struct SummaryLine {
    event: &'static str,
    reason: &'static str,
    exit_code: u8,
    /// The `--fail-on` flags that were found.
    failed_on: Vec<&'static str>,
    runs: usize,
    files: usize,
    tags: usize,
    records: u64,
    histograms: u64,
    findings: usize,
    problems: usize,
}

/// Where a finding's reading goes on under it.
const READING_INDENT: &str = "        ";

/// One event, as it happens. In the table format a finding is one line, or with `width`
/// (a terminal's) its reading wrapped under it.
pub fn event(
    e: &WatchEvent,
    format: Format,
    width: Option<u16>,
    out: &mut dyn Write,
) -> io::Result<()> {
    match (e, format) {
        (WatchEvent::Finding(f), Format::Jsonl) => line(
            &FindingLine {
                event: "finding",
                run: f.tag.run.as_str(),
                tag: &f.tag.tag,
                role: f.tag.role.as_str(),
                flag: f.flag.as_str(),
                severity: f.flag.severity().as_str(),
                step: f.step,
                last_step: f.tag.last.step,
                message: finding_text(f.flag, &f.tag),
            },
            out,
        ),
        (WatchEvent::Problem(p), Format::Jsonl) => line(
            &ProblemLine {
                event: "problem",
                problem: ProblemJson::from(p),
            },
            out,
        ),
        (WatchEvent::Finding(f), _) => {
            let head = format!(
                "{:<7} {} at step {}: run {}, tag {}:",
                f.flag.severity().as_str(),
                f.flag.as_str(),
                f.step,
                clean(f.tag.run.as_str()),
                clean(&f.tag.tag),
            );
            let reading = clean(&finding_text(f.flag, &f.tag)).into_owned();
            match width {
                Some(w) => {
                    let w = w as usize;
                    let head = if head.chars().count() <= w {
                        head
                    } else {
                        wrap(&head, w, READING_INDENT, 0)
                    };
                    writeln!(
                        out,
                        "{head}\n        {}",
                        wrap(&reading, w, READING_INDENT, 8)
                    )
                }
                None => writeln!(out, "{head} {reading}"),
            }
        }
        (WatchEvent::Problem(p), _) => {
            let at = p
                .offset
                .map(|o| format!(" at byte {o}"))
                .unwrap_or_default();
            writeln!(
                out,
                "{:<7} {}: {}{at}: {}",
                if p.kind.is_damage() {
                    "damage"
                } else {
                    "notice"
                },
                p.kind.as_str(),
                clean(&p.path.to_string()),
                clean(&p.message)
            )
        }
    }
    .and_then(|_| out.flush())
}

/// The last line: why the watch ended and what it read (wrapped to `width` if given).
pub fn summary(
    t: &Totals,
    end: &End,
    code: u8,
    format: Format,
    width: Option<u16>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let failed_on: Vec<&'static str> = match end {
        End::FailOn { flags, damage } => flags
            .iter()
            .map(|f| f.as_str())
            .chain(damage.then_some("damage"))
            .collect(),
        _ => Vec::new(),
    };
    match format {
        Format::Jsonl => line(
            &SummaryLine {
                event: "summary",
                reason: end.reason(),
                exit_code: code,
                failed_on,
                runs: t.runs,
                files: t.files,
                tags: t.tags,
                records: t.records,
                histograms: t.histograms,
                findings: t.findings,
                problems: t.problems,
            },
            out,
        )?,
        _ => {
            let why = match end {
                End::FailOn { .. } => format!("found {} (--fail-on)", failed_on.join(", ")),
                End::Idle(s) => format!("no new record for {s} s (--exit-after-idle)"),
                End::Signal => "interrupted".to_string(),
            };
            let text = format!(
                "watch ended: {why}; {} run(s), {} file(s), {} tag(s), {} histogram(s) read; \
                 {} finding(s), {} problem(s); exit {code}",
                t.runs, t.files, t.tags, t.histograms, t.findings, t.problems
            );
            match width {
                Some(w) => writeln!(out, "{}", wrap(&text, w as usize, "  ", 0))?,
                None => writeln!(out, "{text}")?,
            }
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use crate::report::wrap;

    #[test]
    fn wrapping_keeps_words_whole_and_indents_continuations() {
        let w = wrap(
            "never changed over 10 points (steps 0→9); suspect a layer",
            24,
            "    ",
            0,
        );
        assert_eq!(
            w,
            "never changed over 10\n    points (steps 0→9);\n    suspect a layer"
        );
        assert!(w.lines().all(|l| l.chars().count() <= 24));
        // Starting at column 4, the first line is shorter by as much.
        let w = wrap("aaaa bbbb cccc", 12, "    ", 4);
        assert_eq!(w, "aaaa\n    bbbb\n    cccc");
    }
}

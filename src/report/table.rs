//! Human-readable tables (comfy-table), adapted to the terminal width.

use super::{clean, plural};
use crate::event_file::Problem;
use crate::inventory::Inventory;
use comfy_table::{presets, ContentArrangement, Table};
use std::io::{self, Write};

/// Options for human output.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Terminal width to fit, if known.
    pub width: Option<u16>,
    /// ANSI colours.
    pub color: bool,
}

pub(crate) fn new_table(style: Style) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    match style.width {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic);
            t.set_width(w);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t
}

/// `histinspect tags`: per run its files and histogram tags, then the problems.
pub fn inventory(inv: &Inventory, style: Style, out: &mut dyn Write) -> io::Result<()> {
    for run in &inv.runs {
        writeln!(out, "run {}", clean(run.run.as_str()))?;
        for f in &run.files {
            writeln!(
                out,
                "  file {}: {} records, {} bytes, {} histograms, {} scalars, {} other values",
                clean(f.path.as_str()),
                f.counts.records,
                f.counts.bytes,
                f.counts.histograms,
                f.counts.scalars,
                f.counts.other_values
            )?;
        }
        if run.tags.is_empty() {
            writeln!(out, "  no histogram tags")?;
        } else {
            let mut t = new_table(style);
            t.set_header(vec!["tag", "form", "points", "first step", "last step"]);
            for (tag, ti) in &run.tags {
                let step = |s: Option<&i64>| s.map_or("-".to_string(), i64::to_string);
                t.add_row(vec![
                    clean(tag).into_owned(),
                    ti.form.as_str().to_string(),
                    ti.steps.len().to_string(),
                    step(ti.steps.first()),
                    step(ti.steps.last()),
                ]);
            }
            for line in t.to_string().lines() {
                writeln!(out, "  {line}")?;
            }
        }
        writeln!(out)?;
    }
    problems(&inv.problems, out)?;
    let tags: usize = inv.runs.iter().map(|r| r.tags.len()).sum();
    let points: usize = inv
        .runs
        .iter()
        .flat_map(|r| r.tags.values())
        .map(|t| t.steps.len())
        .sum();
    writeln!(
        out,
        "{}, {}, {}, {}",
        plural(inv.runs.len(), "run"),
        plural(tags, "histogram tag"),
        plural(points, "point"),
        plural(inv.problems.len(), "problem")
    )
}

/// The problems list shared by every human output.
pub fn problems(problems: &[Problem], out: &mut dyn Write) -> io::Result<()> {
    let plain = Style {
        width: None,
        color: false,
    };
    problems_styled(problems, plain, out)
}

/// [`problems`], each wrapped to the terminal's width when it is known.
fn problems_styled(problems: &[Problem], style: Style, out: &mut dyn Write) -> io::Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    writeln!(out, "problems:")?;
    for p in problems {
        let severity = if p.kind.is_damage() {
            "damage"
        } else {
            "notice"
        };
        line(
            out,
            style,
            &format!("  [{severity}] {}", clean(&p.to_string())),
        )?;
    }
    writeln!(out)
}

/// `--steps`: one fixed-width line per (run, tag, step), streamed.
pub fn steps(rows: &mut dyn Iterator<Item = StepRow>, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<24} {:<32} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}  {:<14} {:>8}",
        "run", "tag", "step", "count", "mean", "std", "min", "max", "shape", "W1/σ prev"
    )?;
    for row in rows {
        let (p, s) = (&row.point, &row.point.stats);
        writeln!(
            out,
            "{:<24} {:<32} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}  {:<14} {:>8}",
            clean(row.run.as_str()),
            clean(&row.tag),
            p.step,
            num(s.count),
            num(s.mean),
            num(s.std),
            num(s.min),
            num(s.max),
            p.shape.shape.as_str(),
            row.change_prev
                .as_ref()
                .map_or("-".into(), |c| num(c.w1_rel))
        )?;
    }
    Ok(())
}

/// `histinspect buckets`: a block per point (run, tag, step), a line per bucket.
pub fn buckets(
    points: &mut dyn Iterator<Item = PointBuckets>,
    out: &mut dyn Write,
) -> io::Result<()> {
    for p in points {
        writeln!(
            out,
            "{} {} step {} ({} buckets)",
            clean(p.run.as_str()),
            clean(&p.tag),
            p.step,
            p.buckets.len()
        )?;
        for b in &p.buckets {
            writeln!(
                out,
                "  {:>12} {:>12} {:>10}",
                num(b.left),
                num(b.right),
                num(b.count)
            )?;
        }
    }
    Ok(())
}

// ---- the summary report ---------------------------------------------------------------------

use crate::model::{PointBuckets, Report, StepRow, TagReport};
use comfy_table::{Cell, Color};

/// Formats a number with about three significant digits; `-` for NaN.
pub fn num(x: f64) -> String {
    if x.is_nan() {
        return "-".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if !(1e-3..1e5).contains(&a) {
        return format!("{x:.2e}");
    }
    let digits = if a >= 100.0 {
        1
    } else if a >= 10.0 {
        2
    } else if a >= 1.0 {
        3
    } else {
        // keep three significant digits below 1
        (2 - a.log10().floor() as i32).clamp(3, 6) as usize
    };
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Unicode sparkline of `values` (NaNs as spaces).
pub fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    values
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                ' '
            } else if hi - lo <= 1e-12 * hi.abs().max(lo.abs()).max(1e-300) {
                BARS[3]
            } else {
                BARS[(((v - lo) / (hi - lo)) * 7.0).round() as usize]
            }
        })
        .collect()
}

fn shape_cell(t: &TagReport) -> String {
    let (a, b) = (t.first.shape.shape, t.last.shape.shape);
    let mut s = if a == b {
        b.as_str().to_string()
    } else {
        format!("{} → {}", a.as_str(), b.as_str())
    };
    if !t.last.shape.peaks.is_empty() && b == crate::shape::Shape::Multimodal {
        let peaks: Vec<String> = t.last.shape.peaks.iter().map(|&p| num(p)).collect();
        s = format!("{s} ({})", peaks.join(", "));
    }
    s
}

/// Columns of the summary table, in order, with the priority at which they are dropped when the
/// terminal is too narrow (higher goes first; 0 is never dropped).
const COLUMNS: [(&str, u8); 11] = [
    ("tag", 0),
    ("points", 3),
    ("steps", 5),
    ("shape", 0),
    ("mean", 1),
    ("std", 1),
    ("range", 2),
    ("mode", 4),
    ("Δ W1/σ", 0),
    ("mean over steps", 6),
    ("flags", 0),
];

fn cells(tag: &TagReport) -> [String; 11] {
    let l = &tag.last.stats;
    let means: Vec<f64> = tag.trend.iter().map(|m| m.0).collect();
    [
        clean(&tag.tag).into_owned(),
        tag.points.to_string(),
        format!("{}→{}", tag.first.step, tag.last.step),
        shape_cell(tag),
        num(l.mean),
        num(l.std),
        format!("{}..{}", num(l.min), num(l.max)),
        num(l.mode),
        if tag.points < 2 {
            "-".to_string()
        } else if tag.change.identical {
            "0".to_string()
        } else {
            num(tag.change.w1_rel)
        },
        sparkline(&means),
        tag.flags
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    ]
}

/// Which columns fit `width`: drop by priority until the natural width (content plus three
/// characters of border per column) fits; what still does not fit is wrapped by comfy-table.
fn visible_columns(rows: &[[String; 11]], width: Option<u16>) -> Vec<usize> {
    let natural = |i: usize| -> usize {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([COLUMNS[i].0.chars().count()])
            .max()
            .unwrap_or(0)
            + 3
    };
    let mut cols: Vec<usize> = (0..COLUMNS.len()).collect();
    let Some(width) = width else { return cols };
    for level in (1..=6).rev() {
        let total: usize = cols.iter().map(|&i| natural(i)).sum::<usize>() + 1;
        if total <= usize::from(width) {
            break;
        }
        cols.retain(|&i| COLUMNS[i].1 != level);
    }
    cols
}

/// The summary: one table per run, then problems, then one summary line.
pub fn report(r: &Report, style: Style, out: &mut dyn Write) -> io::Result<()> {
    for run in &r.runs {
        if run.tags.is_empty() {
            continue;
        }
        writeln!(out, "run {}", clean(run.run.as_str()))?;
        let mut t = new_table(style);
        if style.color {
            t.enforce_styling();
        }
        let rows: Vec<[String; 11]> = run.tags.iter().map(cells).collect();
        let cols = visible_columns(&rows, style.width);
        t.set_header(cols.iter().map(|&i| COLUMNS[i].0).collect::<Vec<_>>());
        for (tag, row) in run.tags.iter().zip(&rows) {
            let mut cells: Vec<Cell> = cols.iter().map(|&i| Cell::new(&row[i])).collect();
            if style.color && !tag.flags.is_empty() {
                let last = cells.pop().expect("flags column").fg(Color::Red);
                cells.push(last);
            }
            t.add_row(cells);
        }
        writeln!(out, "{t}")?;
        // Only when the run logs tags with roles at all (weights, gradients, activations by
        // name): a run of unnamed tags says nothing about what it lacks.
        if run.logged != crate::model::Logged::default() {
            for na in run.logged.not_assessable() {
                line(out, style, &format!("  not assessable: {na}"))?;
            }
        }
        writeln!(out)?;
    }
    problems_styled(&r.problems, style, out)?;
    let mut summary = Vec::new();
    summary_line(r, &mut summary)?;
    line(out, style, String::from_utf8_lossy(&summary).trim_end())
}

/// `check`: the findings after the report — failing first, then shown, then allowed.
pub fn findings(v: &crate::gate::Verdict<'_>, style: Style, out: &mut dyn Write) -> io::Result<()> {
    use super::explain::finding_text;
    // Damage that fails the check (`--fail-on damage`) counts as failing findings, as in the
    // verdict line, with a row of its own; the problems themselves are listed above.
    let damage = v.failing_damage().len();
    if v.findings.is_empty() && damage == 0 {
        return Ok(());
    }
    let failing = v.failing().count();
    let allowed = v.findings.iter().filter(|f| f.allowed.is_some()).count();
    writeln!(
        out,
        "\nfindings ({} failing, {allowed} allowed, {} shown):",
        failing + damage,
        v.findings.len() - failing - allowed
    )?;
    if damage > 0 {
        let head = format!("  {:<7} {:<7} {:<13} ", "FAIL", "", "damage");
        let text = format!(
            "{} while reading (--fail-on damage), listed under problems above",
            plural(damage, "problem")
        );
        wrapped(out, style, &head, FINDING_INDENT, &text)?;
    }
    let mut sorted: Vec<_> = v.findings.iter().collect();
    sorted.sort_by_key(|f| (!f.failing, f.allowed.is_some(), f.flag.severity()));
    for f in sorted {
        let status = if f.failing {
            "FAIL"
        } else if f.allowed.is_some() {
            "allowed"
        } else {
            "shown"
        };
        // The aligned columns stay as they are; only the message wraps, under the severity.
        let head = format!(
            "  {status:<7} {:<7} {:<13} {} / {} @{}: ",
            f.flag.severity().as_str(),
            f.flag.as_str(),
            clean(f.tag.run.as_str()),
            clean(&f.tag.tag),
            f.tag.last.step,
        );
        wrapped(
            out,
            style,
            &head,
            FINDING_INDENT,
            &clean(&finding_text(f.flag, f.tag)),
        )?;
        if let Some(reason) = f.allowed {
            let head = format!("{FINDING_INDENT}allowed because: ");
            wrapped(out, style, &head, FINDING_INDENT, &clean(reason))?;
        }
    }
    Ok(())
}

/// The last line: runs, tags, points, problems, flags by name.
pub fn summary_line(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut by_flag = std::collections::BTreeMap::new();
    for t in r.tags() {
        for f in &t.flags {
            *by_flag.entry(f.as_str()).or_insert(0usize) += 1;
        }
    }
    let flags: Vec<String> = by_flag.iter().map(|(f, n)| format!("{n} {f}")).collect();
    let damage = r.problems.iter().filter(|p| p.kind.is_damage()).count();
    writeln!(
        out,
        "{}, {}, {}, {} ({} damage), flags: {}",
        plural(r.runs.len(), "run"),
        plural(r.tags().count(), "tag"),
        plural(r.total_points(), "point"),
        plural(r.problems.len(), "problem"),
        damage,
        if flags.is_empty() {
            "none".to_string()
        } else {
            flags.join(", ")
        }
    )
}

/// Where a finding's wrapped lines go on: under its severity.
const FINDING_INDENT: &str = "          ";

/// One line of prose under a table: word-wrapped to the terminal's width when it is known
/// (continuations indented two more), as it is otherwise (pipes, files: one line per item to
/// grep).
fn line(out: &mut dyn Write, style: Style, text: &str) -> io::Result<()> {
    let body = text.trim_start();
    let lead = &text[..text.len() - body.len()];
    wrapped(out, style, lead, &format!("{lead}  "), body)
}

/// `head` then `text`, the text word-wrapped with continuations after `rest` when the
/// terminal's width is known and the whole does not fit; as it is otherwise.
fn wrapped(
    out: &mut dyn Write,
    style: Style,
    head: &str,
    rest: &str,
    text: &str,
) -> io::Result<()> {
    match style.width {
        Some(w) if head.chars().count() + text.chars().count() > usize::from(w) => {
            super::para(out, head, rest, text, usize::from(w).max(20))
        }
        _ => writeln!(out, "{head}{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{analyze, Options};
    use crate::source::LocalSource;

    /// The user story's run as a terminal of `width` columns shows it.
    fn shown_at(width: Option<u16>) -> String {
        let logs = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/logs/tf1_user_story");
        let r = analyze(&LocalSource::new([logs]), &Options::default());
        let mut out = Vec::new();
        report(
            &r,
            Style {
                width,
                color: false,
            },
            &mut out,
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn in_a_terminal_every_line_fits_and_words_stay_whole() {
        let text = shown_at(Some(80));
        for l in text.lines() {
            assert!(
                l.chars().count() <= 80,
                "{} columns: {l}",
                l.chars().count()
            );
        }
        // The not-assessable notes and the summary are wrapped, not cut: continuations
        // are indented and every word survives.
        assert!(text.contains("  not assessable: no gradient histograms logged:"));
        assert!(text.contains("\n    gradients not assessable"), "{text}");
        let words = |t: &str| {
            t.split_whitespace()
                .filter(|w| w.chars().all(char::is_alphanumeric))
                .count()
        };
        let piped = shown_at(None);
        let tail = |t: &str| t[t.find("not assessable").unwrap()..].to_string();
        assert_eq!(words(&tail(&text)), words(&tail(&piped)));
    }

    #[test]
    fn findings_wrap_their_message_under_the_severity() {
        let logs = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/logs/tf1_user_story");
        let r = analyze(&LocalSource::new([logs]), &Options::default());
        let gate = crate::gate::Gate {
            fail_on: crate::gate::FailOn::errors(),
            allow: Vec::new(),
            strict: true,
        };
        let v = crate::gate::evaluate(&r, &gate);
        let shown = |width| {
            let mut out = Vec::new();
            let style = Style {
                width,
                color: false,
            };
            findings(&v, style, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let (tty, piped) = (shown(Some(80)), shown(None));
        assert!(tty.lines().all(|l| l.chars().count() <= 80), "{tty}");
        // The columns before the message keep their alignment; continuations sit under it.
        let first = tty.lines().find(|l| l.starts_with("  FAIL")).unwrap();
        assert!(first.starts_with("  FAIL    error   frozen        . / layer1/weights @5: never"));
        let second = tty
            .lines()
            .skip_while(|l| !l.starts_with("  FAIL"))
            .nth(1)
            .unwrap();
        assert!(
            second.starts_with(FINDING_INDENT)
                && !second.starts_with(&format!("{FINDING_INDENT} "))
        );
        // Piped: one line per finding, the same words.
        assert!(piped.lines().filter(|l| l.starts_with("  FAIL")).count() == 3);
        let words = |t: &str| t.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(words(&tty), words(&piped));
    }

    #[test]
    fn piped_output_keeps_one_line_per_note() {
        let text = shown_at(None);
        assert!(text.contains(
            "  not assessable: no gradient histograms logged: vanishing and exploding gradients not assessable\n"
        ));
    }
}

//! Human-readable tables (comfy-table), adapted to the terminal width.

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
        writeln!(out, "run {}", run.run)?;
        for f in &run.files {
            writeln!(
                out,
                "  file {}: {} records, {} bytes, {} histograms, {} scalars, {} other values",
                f.path.display(),
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
                    tag.clone(),
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
        "{} runs, {} histogram tags, {} points, {} problems",
        inv.runs.len(),
        tags,
        points,
        inv.problems.len()
    )
}

/// The problems list shared by every human output.
pub fn problems(problems: &[Problem], out: &mut dyn Write) -> io::Result<()> {
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
        writeln!(out, "  [{severity}] {p}")?;
    }
    writeln!(out)
}

//! `--format markdown`: the check as Markdown — per run its findings and its flagged layers as
//! tables — for GitHub's job summary (`$GITHUB_STEP_SUMMARY`), a PR comment or any CI system
//! that shows Markdown.

use super::explain::finding_text;
use super::{clean, plural};
use crate::diagnose::layer_of;
use crate::gate::Verdict;
use crate::model::Report;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// A table cell: no line breaks, no `|`, nothing a terminal or renderer would act on.
fn cell(s: &str) -> String {
    clean(s).replace('|', "\\|")
}

pub fn summary(r: &Report, v: &Verdict<'_>, out: &mut dyn Write) -> io::Result<()> {
    // Damage that fails the check counts as failing findings, as in the verdict line.
    let damage = v.failing_damage();
    let failing = v.failing().count() + damage.len();
    let tags = r.tags().count();
    writeln!(out, "## histinspect check")?;
    writeln!(out)?;
    let verdict = match v.exit_code() {
        0 => format!(
            "✅ checked {} in {}: clean",
            plural(tags, "histogram tag"),
            plural(r.runs.len(), "run")
        ),
        1 => format!(
            "❌ {} in {}",
            plural(failing, "failing finding"),
            plural(tags, "histogram tag")
        ),
        _ => "⚠️ could not check everything that was asked (see the job log)".to_string(),
    };
    writeln!(out, "{verdict}")?;
    writeln!(out)?;
    if !damage.is_empty() {
        writeln!(out, "### damage (`--fail-on damage`)")?;
        writeln!(out)?;
        writeln!(out, "| file | offset | kind | reading |")?;
        writeln!(out, "|---|---|---|---|")?;
        for p in damage {
            writeln!(
                out,
                "| `{}` | {} | `{}` | {} |",
                cell(p.path.as_str()),
                p.offset.map_or(String::new(), |o| o.to_string()),
                p.kind,
                cell(&p.message)
            )?;
        }
        writeln!(out)?;
    }
    for run in &r.runs {
        let findings: Vec<_> = v.findings.iter().filter(|f| f.tag.run == run.run).collect();
        writeln!(
            out,
            "### run `{}`: {}, {}",
            cell(run.run.as_str()),
            plural(run.tags.len(), "tag"),
            plural(findings.len(), "finding")
        )?;
        writeln!(out)?;
        if findings.is_empty() {
            continue;
        }
        writeln!(out, "| flag | severity | tag | step | status | reading |")?;
        writeln!(out, "|---|---|---|---|---|---|")?;
        for f in &findings {
            let status = match (f.allowed, f.failing) {
                (Some(reason), _) => format!("allowed: {}", cell(reason)),
                (None, true) => "**failing**".to_string(),
                (None, false) => "shown".to_string(),
            };
            writeln!(
                out,
                "| `{}` | {} | `{}` | {} | {status} | {} |",
                f.flag,
                f.flag.severity(),
                cell(&f.tag.tag),
                f.tag.last.step,
                cell(&finding_text(f.flag, f.tag))
            )?;
        }
        writeln!(out)?;
        let mut layers: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for f in &findings {
            let flags = layers.entry(layer_of(&f.tag.tag)).or_default();
            if !flags.contains(&f.flag.to_string()) {
                flags.push(f.flag.to_string());
            }
        }
        writeln!(out, "| layer | flags |")?;
        writeln!(out, "|---|---|")?;
        for (layer, flags) in layers {
            writeln!(out, "| `{}` | {} |", cell(layer), flags.join(", "))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

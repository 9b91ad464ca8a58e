//! `--format csv`: the flat columns of a tag object, one row per (run, tag); with `--steps`
//! one row per (run, tag, step). RFC 4180 quoting.

use super::json::TagJson;
use super::rows::{step_cells, Cell, STEP_COLUMNS};
use crate::inventory::Inventory;
use crate::model::{PointBuckets, Report, StepRow};
use std::io::{self, Write};

/// One CSV field: control characters escaped (as everywhere text from a logdir is shown; see
/// [`super::clean`]), then quoted when it holds a comma or a quote.
fn field(s: &str) -> String {
    let mut out = Vec::new();
    write_field(s, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("UTF-8 in, UTF-8 out")
}

/// [`field`] written straight to `out`.
fn write_field(s: &str, out: &mut dyn Write) -> io::Result<()> {
    let s = super::clean(s);
    if s.contains([',', '"', '\n', '\r']) {
        write!(out, "\"{}\"", s.replace('"', "\"\""))
    } else {
        out.write_all(s.as_bytes())
    }
}

fn f(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else {
        format!("{x}")
    }
}

fn peaks(p: &[f64]) -> String {
    p.iter().map(|&x| f(x)).collect::<Vec<_>>().join(";")
}

/// Header of the per-tag CSV.
pub const TAG_COLUMNS: &[&str] = &[
    "run",
    "tag",
    "form",
    "points",
    "first_step",
    "last_step",
    "shape",
    "flags",
    "first_shape",
    "first_count",
    "first_mean",
    "first_std",
    "first_min",
    "first_max",
    "last_count",
    "last_mean",
    "last_std",
    "last_min",
    "last_max",
    "last_median",
    "last_iqr",
    "last_mode",
    "last_peaks",
    "last_zero_fraction",
    "w1_rel",
    "ks",
    "mean_rel",
    "std_rel",
    "identical",
    "all_steps_identical",
    "role",
    "layer",
    "update_bound",
    "sgd_update_ratio",
];

/// Writes the per-tag header.
pub fn tag_header(out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", TAG_COLUMNS.join(","))
}

/// Writes one per-tag row.
pub fn tag_row(t: &TagJson, out: &mut dyn Write) -> io::Result<()> {
    let (a, b, c) = (&t.first, &t.last, &t.change);
    let row = [
        field(&t.run),
        field(&t.tag),
        t.form.to_string(),
        t.points.to_string(),
        t.first_step.to_string(),
        t.last_step.to_string(),
        t.shape.to_string(),
        field(&t.flags.join(";")),
        a.shape.to_string(),
        f(a.count),
        f(a.mean),
        f(a.std),
        f(a.min),
        f(a.max),
        f(b.count),
        f(b.mean),
        f(b.std),
        f(b.min),
        f(b.max),
        f(b.median),
        f(b.iqr),
        f(b.mode),
        peaks(&b.peaks),
        f(b.zero_fraction),
        f(c.w1_rel),
        f(c.ks),
        f(c.mean_rel),
        f(c.std_rel),
        c.identical.to_string(),
        c.all_steps_identical.to_string(),
        t.role.to_string(),
        field(&t.layer),
        t.updates.as_ref().map_or(String::new(), |u| f(u.bound)),
        t.updates
            .as_ref()
            .and_then(|u| u.sgd_ratio)
            .map_or(String::new(), f),
    ];
    writeln!(out, "{}", row.join(","))
}

/// `--format csv`: the header and one row per (run, tag).
pub fn report(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    tag_header(out)?;
    for t in r.tags() {
        tag_row(&TagJson::from(t), out)?;
    }
    Ok(())
}

/// `--steps --format csv`: the header and one row per (run, tag, step).
pub fn steps(rows: &mut dyn Iterator<Item = StepRow>, out: &mut dyn Write) -> io::Result<()> {
    step_header(out)?;
    for row in rows {
        step_row(&row, out)?;
    }
    Ok(())
}

/// Columns of `histinspect tags --format csv`: one row per (run, tag).
pub const INVENTORY_COLUMNS: &[&str] = &["run", "tag", "form", "points", "first_step", "last_step"];

/// `histinspect tags --format csv`.
pub fn inventory(inv: &Inventory, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", INVENTORY_COLUMNS.join(","))?;
    let step = |s: Option<&i64>| s.map_or(String::new(), i64::to_string);
    for r in &inv.runs {
        for (tag, t) in &r.tags {
            let row = [
                field(r.run.as_str()),
                field(tag),
                t.form.as_str().to_string(),
                t.steps.len().to_string(),
                step(t.steps.first()),
                step(t.steps.last()),
            ];
            writeln!(out, "{}", row.join(","))?;
        }
    }
    Ok(())
}

pub fn step_header(out: &mut dyn Write) -> io::Result<()> {
    let names: Vec<&str> = STEP_COLUMNS.iter().map(|(name, _)| *name).collect();
    writeln!(out, "{}", names.join(","))
}

/// One row of the per-step CSV, written cell by cell: a float in Rust's shortest round-trip
/// form, NaN as an empty cell, a list as its items joined by `;`, a missing true/false empty.
pub fn step_row(r: &StepRow, out: &mut dyn Write) -> io::Result<()> {
    for (i, cell) in step_cells(r).iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        match *cell {
            Cell::Text(s) => write_field(s, out)?,
            Cell::Int(n) => write!(out, "{n}")?,
            Cell::Float(x) => float(x, out)?,
            Cell::Bool(b) => out.write_all(
                b.map_or("", |b| if b { "true" } else { "false" })
                    .as_bytes(),
            )?,
            Cell::Floats(xs) => {
                for (j, &x) in xs.iter().enumerate() {
                    if j > 0 {
                        out.write_all(b";")?;
                    }
                    float(x, out)?;
                }
            }
        }
    }
    out.write_all(b"\n")
}

/// `f(x)` written straight to `out`.
fn float(x: f64, out: &mut dyn Write) -> io::Result<()> {
    if x.is_nan() {
        Ok(())
    } else {
        write!(out, "{x}")
    }
}

/// Columns of `histinspect buckets --format csv`: one row per bucket, long form.
pub const BUCKET_COLUMNS: &[&str] = &["run", "tag", "step", "left", "right", "count"];

/// `histinspect buckets --format csv`: the header and one row per (run, tag, step, bucket).
pub fn buckets(
    points: &mut dyn Iterator<Item = PointBuckets>,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(out, "{}", BUCKET_COLUMNS.join(","))?;
    for p in points {
        let (run, tag) = (field(p.run.as_str()), field(&p.tag));
        for b in &p.buckets {
            writeln!(
                out,
                "{run},{tag},{},{},{},{}",
                p.step,
                f(b.left),
                f(b.right),
                f(b.count)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_when_needed() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("plain/tag"), "plain/tag");
    }
}

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
    let mut out = Vec::new();
    float(x, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("digits are ASCII")
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
        field(t.run),
        field(t.tag),
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
        peaks(b.peaks),
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
    super::write_in_parallel(rows, out, |row, buf| step_row(row, buf))?;
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

/// A float as Rust's `{}` writes it (the shortest digits that read back to the same number,
/// never an exponent), NaN as nothing: the CSV's number format since its first version. The
/// digits come from `zmij` (the shortest round-trip digits, as `{}`'s), laid out here without
/// its exponent: several times faster than `write!`, which matters at 26 floats a row. The
/// two differ only on exact ties between two shortest digit strings (`zmij` rounds them to
/// even, `{}` up), which [`may_tie`] sends to `write!`; a test checks them against each other
/// on millions of numbers.
fn float(x: f64, out: &mut dyn Write) -> io::Result<()> {
    if x.is_nan() {
        return Ok(());
    }
    if x.is_infinite() || x == 0.0 || may_tie(x) {
        return write!(out, "{x}");
    }
    let mut buf = zmij::Buffer::new();
    let s = buf.format_finite(x).as_bytes();
    let (sign, s) = match s.split_first() {
        Some((b'-', rest)) => (&b"-"[..], rest),
        _ => (&b""[..], s),
    };
    let (mantissa, exp) = match s.iter().position(|&c| c == b'e') {
        Some(i) => (&s[..i], parse_exp(&s[i + 1..])),
        None => (s, 0),
    };
    // Digits without the point, and where the point goes: value = 0.DIGITS × 10^point.
    let mut digits = [0u8; 24];
    let (mut n, mut point) = (0usize, None);
    for &c in mantissa {
        if c == b'.' {
            point = Some(n);
        } else if n < digits.len() {
            digits[n] = c;
            n += 1;
        }
    }
    let mut point = point.unwrap_or(n) as i64 + exp;
    let lead = digits[..n].iter().take_while(|&&c| c == b'0').count();
    point -= lead as i64;
    let end = n - digits[lead..n]
        .iter()
        .rev()
        .take_while(|&&c| c == b'0')
        .count();
    let digits = &digits[lead..end.max(lead)];
    out.write_all(sign)?;
    if point <= 0 {
        out.write_all(b"0.")?;
        zeros(-point, out)?;
        out.write_all(digits)
    } else if point as usize >= digits.len() {
        out.write_all(digits)?;
        zeros(point - digits.len() as i64, out)
    } else {
        let (int, frac) = digits.split_at(point as usize);
        out.write_all(int)?;
        out.write_all(b".")?;
        out.write_all(frac)
    }
}

/// Whether the shortest digits of `x` can be a tie: `x`'s exact decimal expansion must then
/// be one digit longer than its shortest form and end in 5, that is at most 18 significant
/// digits. Write `x = m·2^e` with `m` odd. An integer below 2^53 is its own shortest form.
/// Otherwise, for `e < 0` the expansion has `-e` decimals, of which at most `0.302·(-e) + 1`
/// are leading zeros: 18 significant digits need `e ≥ -28` (the smallest seen in the test is
/// -25). Every number with more than 28 binary decimals (almost every statistic) is never a
/// tie.
fn may_tie(x: f64) -> bool {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1 << 52) - 1);
    let (m, e) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), biased - 1075)
    };
    let e = e + i64::from(m.trailing_zeros());
    if e >= 0 {
        x.abs() >= 9_007_199_254_740_992.0 // 2^53
    } else {
        e >= -28
    }
}

fn parse_exp(s: &[u8]) -> i64 {
    let (neg, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    let e = s
        .iter()
        .fold(0i64, |e, &c| e * 10 + i64::from(c.wrapping_sub(b'0')));
    if neg {
        -e
    } else {
        e
    }
}

fn zeros(n: i64, out: &mut dyn Write) -> io::Result<()> {
    const Z: [u8; 64] = [b'0'; 64];
    let mut n = n.max(0) as usize;
    while n > 0 {
        let k = n.min(Z.len());
        out.write_all(&Z[..k])?;
        n -= k;
    }
    Ok(())
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
    fn floats_are_written_as_rusts_display_writes_them() {
        let display = |x: f64| {
            if x.is_nan() {
                String::new()
            } else {
                format!("{x}")
            }
        };
        let mut specials = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1e-7,
            1.5e-7,
            1e15,
            1e16,
            123456.0,
            1e21,
            1e22,
            0.30000000000000004,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::EPSILON,
        ];
        for e in -30..30 {
            specials.push(10f64.powi(e));
            specials.push(-1.25 * 10f64.powi(e));
        }
        for x in specials {
            assert_eq!(f(x), display(x), "{x:e}");
        }
        // Bit patterns at random, all exponents, and values as the statistics make them.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..300_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = match i % 3 {
                0 => f64::from_bits(state),
                1 => (state >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((i % 40) - 20),
                // m·2^e with few bits in m: where the ties are (e.g. 979093430885015.25,
                // written ...015.3 by `{}` and ...015.2 by round-half-even).
                _ => {
                    let bits = 1 + (i % 53) as u32;
                    let m = (state >> (64 - bits)) | 1;
                    m as f64 * 2f64.powi((i % 71) - 60)
                }
            };
            assert_eq!(f(x), display(x), "{:#x}", x.to_bits());
        }
        // 979093430885015.25, exactly halfway between two shortest forms.
        assert_eq!(
            f(f64::from_bits(0x430b_d3d7_a132_d4ba)),
            "979093430885015.3"
        );
    }

    #[test]
    fn fields_are_quoted_when_needed() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("plain/tag"), "plain/tag");
    }
}

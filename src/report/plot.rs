//! Terminal pictures: one histogram as horizontal Unicode bars, and a ridgeline of several
//! steps (like TensorBoard's offset view) as rows of block characters over a common x axis.
//!
//! Buckets are drawn by *density* on an equal-width grid (mass spread linearly inside each
//! bucket, a zero-width bucket as a spike in its cell), so TF's exponential legacy buckets look
//! like the distribution they describe rather than like their bucket layout.

use super::clean;
use super::table::num;
use crate::histogram::Histogram;
use crate::model::{Picture, Plot};
use std::io::{self, Write};

/// Mass of `h` on `cells` equal cells over `[lo, hi]`.
pub fn rebin(h: &Histogram, lo: f64, hi: f64, cells: usize) -> Vec<f64> {
    let mut out = vec![0.0; cells];
    let width = (hi - lo) / cells as f64;
    let cell_of = |x: f64| -> usize {
        if width <= 0.0 || !width.is_finite() {
            return 0;
        }
        (((x - lo) / width).floor().max(0.0) as usize).min(cells - 1)
    };
    for b in &h.buckets {
        if !(b.count.is_finite() && b.left.is_finite() && b.right.is_finite()) || b.count <= 0.0 {
            continue;
        }
        let (i, j) = (cell_of(b.left), cell_of(b.right));
        if i == j || b.right <= b.left {
            out[i] += b.count;
            continue;
        }
        for (k, slot) in out.iter_mut().enumerate().take(j + 1).skip(i) {
            let c0 = lo + k as f64 * width;
            let overlap = (b.right.min(c0 + width) - b.left.max(c0)).max(0.0);
            *slot += b.count * overlap / (b.right - b.left);
        }
    }
    out
}

fn range(hs: &[&Histogram]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for h in hs {
        for b in h.buckets.iter().filter(|b| b.count > 0.0) {
            if b.left.is_finite() && b.right.is_finite() {
                lo = lo.min(b.left);
                hi = hi.max(b.right);
            }
        }
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi <= lo {
        let pad = lo.abs().max(1.0) * 0.5;
        return (lo - pad, hi + pad);
    }
    (lo, hi)
}

/// Horizontal bars, one row per cell: `[left, right)  ████  count`.
pub fn bars(h: &Histogram, rows: usize, width: usize, out: &mut dyn Write) -> io::Result<()> {
    let (lo, hi) = range(&[h]);
    let mass = rebin(h, lo, hi, rows);
    let top = mass.iter().copied().fold(0.0, f64::max);
    let cell = (hi - lo) / rows as f64;
    for (i, m) in mass.iter().enumerate() {
        let len = if top > 0.0 {
            m / top * width as f64
        } else {
            0.0
        };
        let full = len.floor() as usize;
        let eighths = ((len - full as f64) * 8.0).round() as usize;
        let mut bar = "█".repeat(full);
        if eighths > 0 && full < width {
            bar.push(['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'][eighths - 1]);
        }
        writeln!(
            out,
            "{:>10} {:<w$} {}",
            num(lo + (i as f64 + 0.5) * cell),
            bar,
            num(*m),
            w = width + 1
        )?;
    }
    Ok(())
}

/// A ridgeline: one row per (label, histogram), all on the same x axis.
pub fn ridgeline(
    rows: &[(String, &Histogram)],
    width: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    const BARS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let hs: Vec<&Histogram> = rows.iter().map(|r| r.1).collect();
    let (lo, hi) = range(&hs);
    for (label, h) in rows {
        let mass = rebin(h, lo, hi, width);
        let top = mass.iter().copied().fold(0.0, f64::max);
        let line: String = mass
            .iter()
            .map(|&m| {
                if top > 0.0 && m > 0.0 {
                    BARS[((m / top) * 8.0).ceil().clamp(1.0, 8.0) as usize]
                } else {
                    BARS[0]
                }
            })
            .collect();
        writeln!(out, "{label:>12} │{line}│")?;
    }
    writeln!(
        out,
        "{:>12}  {:<w$}{}",
        "",
        num(lo),
        num(hi),
        w = width.saturating_sub(num(hi).len())
    )
}

/// `histinspect plot`: each tag's picture, titled with its run, tag and statistics.
pub fn plots(plots: &[Plot], rows: usize, out: &mut dyn Write) -> io::Result<()> {
    let rows = if rows == 0 { 20 } else { rows };
    for p in plots {
        match &p.picture {
            Picture::Ridgeline(ridges) => {
                writeln!(
                    out,
                    "{} / {} over {} steps",
                    clean(p.run.as_str()),
                    clean(&p.tag),
                    ridges.len()
                )?;
                let labelled: Vec<(String, &Histogram)> = ridges
                    .iter()
                    .map(|(step, h)| (format!("step {step}"), h))
                    .collect();
                ridgeline(&labelled, 60, out)?;
            }
            Picture::Bars { point, histogram } => {
                let st = &point.stats;
                writeln!(
                    out,
                    "{} / {} at step {}: {} values, mean {}, std {}, shape {} ({})",
                    clean(p.run.as_str()),
                    clean(&p.tag),
                    point.step,
                    num(st.count),
                    num(st.mean),
                    num(st.std),
                    point.shape.shape.as_str(),
                    point.shape.why
                )?;
                bars(histogram, rows, 50, out)?;
            }
        }
        writeln!(out)?;
    }
    if plots.is_empty() {
        writeln!(out, "no histogram matched")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebin_spreads_mass_linearly_and_keeps_spikes() {
        let h = Histogram::from_tensor_rows(&[0.0, 2.0, 4.0, 3.0, 3.0, 1.0]).unwrap();
        let m = rebin(&h, 0.0, 4.0, 4);
        assert_eq!(m, vec![2.0, 2.0, 0.0, 1.0]);
        let total: f64 = m.iter().sum();
        assert_eq!(total, 5.0);
    }
}

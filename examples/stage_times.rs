//! Per-point cost of each statistics stage on the points of one event file, split by wire form:
//! where the time of `--steps` goes (README, *Performance*).
//!
//! ```text
//! cargo run --release --example stage_times -- EVENT_FILE
//! ```
//!
//! Decodes the whole file once, then times each stage over all its points of one form. A
//! rough instrument (one pass, no warm-up, wall clock), not a benchmark: `benches/decode.rs`
//! is the benchmark. `STAGE=summary REPEAT=20` times only that stage, 20 times over, for
//! `perf record`.

use histinspect::event_file::{histograms_in_file, HistogramPoint};
use histinspect::point::PointSummary;
use histinspect::source::{LocalSource, Source};
use histinspect::stats;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: stage_times EVENT_FILE");
        return ExitCode::from(2);
    };
    let src = LocalSource::new([PathBuf::from(&path)]);
    let Some(file) = src
        .discover()
        .runs
        .first()
        .and_then(|r| r.files.first().cloned())
    else {
        eprintln!("stage_times: {path}: not an event file");
        return ExitCode::from(2);
    };
    let t = Instant::now();
    let (points, _) = histograms_in_file(&src, &file);
    let per_point = |secs: f64, n: usize| secs * 1e6 / n.max(1) as f64;
    println!(
        "decode: {:.2} us/point ({} points)",
        per_point(t.elapsed().as_secs_f64(), points.len()),
        points.len()
    );
    // `POINTS=n` keeps the first n points of each form: few enough to stay in the caches, so
    // that a stage's own cost shows rather than the memory's.
    let limit: usize = std::env::var("POINTS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(usize::MAX);
    for form in ["histo", "tensor"] {
        let mut ps: Vec<&HistogramPoint> = points
            .iter()
            .filter(|p| p.histogram.form.as_str() == form)
            .take(limit)
            .collect();
        // Each tag's points together, in order: the pairs of `distances` and `change` are
        // a point and the one before it, as in a report.
        ps.sort_by(|a, b| a.tag.cmp(&b.tag));
        if ps.is_empty() {
            continue;
        }
        let only = std::env::var("STAGE").ok();
        let repeat: usize = std::env::var("REPEAT")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(1);
        let time = |name: &str, f: &dyn Fn(&HistogramPoint) -> f64| {
            if only.as_deref().is_some_and(|o| o != name) {
                return;
            }
            let t = Instant::now();
            // Summed so that the work cannot be optimised away.
            let sum: f64 = (0..repeat)
                .map(|_| ps.iter().map(|p| f(p)).sum::<f64>())
                .sum::<f64>()
                / repeat as f64;
            let us = per_point(t.elapsed().as_secs_f64(), ps.len() * repeat);
            println!("{form:>6} {name:<12} {us:>7.2} us/point  (checksum {sum:.3e})");
        };
        let time_pairs = |name: &str, f: &dyn Fn(usize) -> f64| {
            if only.as_deref().is_some_and(|o| o != name) {
                return;
            }
            let t = Instant::now();
            let sum: f64 = (0..repeat)
                .map(|_| (0..ps.len().saturating_sub(1)).map(f).sum::<f64>())
                .sum::<f64>()
                / repeat as f64;
            let us = per_point(t.elapsed().as_secs_f64(), ps.len() * repeat);
            println!("{form:>6} {name:<12} {us:>7.2} us/point  (checksum {sum:.3e})");
        };
        time("moments", &|p| stats::moments(&p.histogram).mean);
        time("compress", &|p| stats::compress(&p.histogram)[4]);
        time("density", &|p| {
            stats::density(&p.histogram, 1000.0).map_or(0.0, |d| d.centre(0.0))
        });
        time("point_stats", &|p| stats::point_stats(&p.histogram).mode);
        time("cdf", &|p| {
            stats::Cdf::new(&p.histogram.buckets).map_or(0.0, |c| c.at(0.0))
        });
        time("summary", &|p| {
            PointSummary::of(p.step, p.wall_time, &p.histogram)
                .shape
                .confidence
        });
        let pre: Vec<(stats::PointStats, Option<stats::Cdf>)> = ps
            .iter()
            .map(|p| {
                (
                    stats::point_stats(&p.histogram),
                    stats::Cdf::new(&p.histogram.buckets),
                )
            })
            .collect();
        time_pairs("classify", &|i| {
            histinspect::shape::classify_with(&ps[i].histogram, &pre[i].0, pre[i].1.as_ref())
                .confidence
        });
        let cdfs: Vec<Option<stats::Cdf>> = ps
            .iter()
            .map(|p| stats::Cdf::new(&p.histogram.buckets))
            .collect();
        time_pairs("distances", &|i| match (&cdfs[i], &cdfs[i + 1]) {
            (Some(a), Some(b)) => a.distances(b).0,
            _ => 0.0,
        });
        let t = Instant::now();
        let mut sum = 0.0;
        for w in ps.windows(2) {
            let (a, b) = (&w[0].histogram, &w[1].histogram);
            sum += stats::change(a, &stats::moments(a), b, &stats::moments(b)).ks;
        }
        let us = per_point(t.elapsed().as_secs_f64(), ps.len());
        println!(
            "{form:>6} {:<12} {us:>7.2} us/point  (checksum {sum:.3e})",
            "change"
        );
    }
    ExitCode::SUCCESS
}

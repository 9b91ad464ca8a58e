//! The reader against files from the real writers (testdata/, made by testdata/gen/make_fixtures.py)
//! and against damaged copies of them built here.

mod common;

#[path = "../fuzz/checks.rs"]
#[allow(dead_code)]
mod checks;

use histinspect::event_file::{HistogramPoint, Problem, ProblemKind};
use histinspect::histogram::WireForm;
use histinspect::inventory;
use histinspect::series::PointFilter;
use histinspect::source::{LocalSource, Source};
use histinspect::tf_record::{Item, RecordReader, HEADER_LEN};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Every histogram value of one local file, with the problems found, every bucket kept (as
/// TensorBoard's loader keeps them).
fn histograms_in_file(path: &Path) -> (Vec<HistogramPoint>, Vec<Problem>) {
    let source = LocalSource::new([path]);
    let id = source.id(path);
    let (full, problems) = histinspect::event_file::histograms_in_file_full(&source, &id);
    // What the report reads is the same list without the empty interior buckets, where it
    // leaves them out, and nothing else differs.
    let (compact, compact_problems) = histinspect::event_file::histograms_in_file(&source, &id);
    assert_eq!(compact_problems, problems, "{path:?}");
    assert_eq!(compact.len(), full.len(), "{path:?}");
    for (c, f) in compact.iter().zip(&full) {
        let what = format!("{path:?} {}@{}", f.tag, f.step);
        let mut kept = f.histogram.clone();
        if c.histogram.compact {
            kept.buckets.retain(|b| b.count != 0.0 || b.left == b.right);
            kept.compact = true;
        }
        assert_eq!(c.histogram, kept, "{what}");
        assert_eq!(
            (&c.tag, c.step, c.offset),
            (&f.tag, f.step, f.offset),
            "{what}"
        );
    }
    (full, problems)
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// Every expected-values file with the event files of its run.
fn expectations() -> Vec<(Value, Vec<PathBuf>)> {
    let mut out = Vec::new();
    let mut paths: Vec<_> = fs::read_dir(testdata().join("expected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for p in paths {
        let v: Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
        let run = v["run"].as_str().unwrap().to_string();
        let files = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                testdata()
                    .join("logs")
                    .join(&run)
                    .join(f["name"].as_str().unwrap())
            })
            .collect();
        out.push((v, files));
    }
    assert!(
        out.len() >= 5,
        "expected values for the real-writer runs are missing"
    );
    out
}

fn by_tag(points: Vec<HistogramPoint>) -> BTreeMap<String, Vec<HistogramPoint>> {
    let mut m: BTreeMap<String, Vec<HistogramPoint>> = BTreeMap::new();
    for p in points {
        m.entry(p.tag.clone()).or_default().push(p);
    }
    m
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn real_writer_files_read_exactly_as_tensorboard_reads_them() {
    for (exp, files) in expectations() {
        let run = exp["run"].as_str().unwrap();
        let mut points = Vec::new();
        for (f, fexp) in files.iter().zip(exp["files"].as_array().unwrap()) {
            let (pts, problems) = histograms_in_file(f);
            assert!(problems.is_empty(), "{run}: {problems:?}");
            // The record count is the framing's, walked independently by the generator.
            let mut reader = RecordReader::new(fs::File::open(f).unwrap());
            let mut records = 0;
            while let Some(item) = reader.next() {
                assert!(matches!(item, Item::Record { .. }), "{run}: {item:?}");
                records += 1;
            }
            assert_eq!(records, fexp["records"].as_u64().unwrap(), "{run}");
            points.extend(pts);
        }
        let got = by_tag(points);
        let tags = exp["tags"].as_object().unwrap();
        let want_tags: Vec<&String> = tags.keys().collect();
        let got_tags: Vec<&String> = got.keys().collect();
        assert_eq!(got_tags, want_tags, "{run}: histogram tags");
        for (tag, texp) in tags {
            let form = match texp["form"].as_str().unwrap() {
                "histo" => WireForm::Histo,
                _ => WireForm::Tensor,
            };
            let pexp = texp["points"].as_array().unwrap();
            let pts = &got[tag];
            assert_eq!(pts.len(), pexp.len(), "{run}/{tag}: points");
            for (p, e) in pts.iter().zip(pexp) {
                let what = format!("{run}/{tag}@{}", p.step);
                assert_eq!(p.step, e["step"].as_i64().unwrap(), "{what}");
                assert_eq!(p.histogram.form, form, "{what}");
                assert_eq!(p.wall_time, num(&e["wall_time"]), "{what}");
                // Buckets equal to the ones TensorBoard's own loader produces, in float64.
                let tb = e.get("tb_buckets_f64").unwrap_or(&e["tb_buckets"]);
                let tb: Vec<[f64; 3]> = tb
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| [num(&r[0]), num(&r[1]), num(&r[2])])
                    .collect();
                let ours: Vec<[f64; 3]> = p
                    .histogram
                    .buckets
                    .iter()
                    .map(|b| [b.left, b.right, b.count])
                    .collect();
                assert_eq!(ours, tb, "{what}: buckets");
                assert_eq!(p.histogram.count(), num(&e["count"]), "{what}: count");
                if let Some(x) = p.histogram.exact {
                    let raw = &e["raw"];
                    assert_eq!(x.min, num(&raw["min"]), "{what}");
                    assert_eq!(x.max, num(&raw["max"]), "{what}");
                    assert_eq!(x.sum, num(&raw["sum"]), "{what}");
                    assert_eq!(x.sum_squares, num(&raw["sum_squares"]), "{what}");
                }
            }
        }
    }
}

#[test]
fn every_writer_and_both_wire_forms_are_covered() {
    let forms: Vec<(String, String)> = expectations()
        .iter()
        .map(|(e, _)| {
            (
                e["writer"].as_str().unwrap_or("").to_string(),
                e["form"].as_str().unwrap_or("none").to_string(),
            )
        })
        .collect();
    let has = |w: &str, f: &str| forms.iter().any(|(a, b)| a.contains(w) && b == f);
    assert!(has("tensorflow", "tensor"), "{forms:?}");
    assert!(has("tensorflow", "histo"), "{forms:?}");
    assert!(
        has("keras", "tensor") || has("tensorflow", "tensor"),
        "{forms:?}"
    );
    assert!(has("torch", "histo"), "{forms:?}");
    assert!(has("tensorboardX", "histo"), "{forms:?}");
}

// ---- damage built from a real file ----------------------------------------------------------

/// Offsets and lengths of the records of a file, from the framing.
fn record_offsets(bytes: &[u8]) -> Vec<(u64, usize)> {
    let mut r = RecordReader::new(bytes);
    let mut v = Vec::new();
    while let Some(item) = r.next() {
        match item {
            Item::Record { offset, data } => v.push((offset, data.len())),
            Item::Problem(p) => panic!("{p}"),
        }
    }
    v
}

/// The TF2 fixture: 161 records, tensor-form histograms, scalars and an image.
fn source() -> Vec<u8> {
    let dir = testdata().join("logs/tf2_summary");
    let f = fs::read_dir(dir).unwrap().next().unwrap().unwrap().path();
    fs::read(f).unwrap()
}

fn read_damaged(bytes: &[u8]) -> (Vec<HistogramPoint>, Vec<Problem>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.out.tfevents.damaged");
    fs::write(&path, bytes).unwrap();
    histograms_in_file(&path)
}

/// Points keyed by (tag, step, offset), to compare what survives damage.
fn keys(points: &[HistogramPoint]) -> Vec<(String, i64, u64)> {
    points
        .iter()
        .map(|p| (p.tag.clone(), p.step, p.offset))
        .collect()
}

fn intact_except(all: &[HistogramPoint], lost: &[(u64, u64)]) -> Vec<(String, i64, u64)> {
    keys(all)
        .into_iter()
        .filter(|(_, _, o)| !lost.iter().any(|(a, b)| o >= a && o < b))
        .collect()
}

#[test]
fn damage_cases_are_reported_at_their_offset_and_nothing_intact_is_lost() {
    let good = source();
    let recs = record_offsets(&good);
    let (all, probs) = read_damaged(&good);
    assert!(probs.is_empty());
    // A histogram record in the middle, and the one after it.
    let (mid, mid_len) = recs[recs.len() / 2];
    let (next, _) = recs[recs.len() / 2 + 1];
    let end = good.len() as u64;

    // 1. Truncated last record: normal, a notice at the last record's offset.
    let (last, _) = *recs.last().unwrap();
    let (pts, probs) = read_damaged(&good[..good.len() - 3]);
    assert_eq!(keys(&pts), intact_except(&all, &[(last, end)]));
    assert_eq!(probs.len(), 1);
    assert_eq!(
        (probs[0].kind, probs[0].offset),
        (ProblemKind::Truncated, Some(last))
    );
    assert!(!probs[0].kind.is_damage());

    // 2. Bad data CRC: that record alone is skipped.
    let mut b = good.clone();
    b[mid as usize + HEADER_LEN + mid_len / 2] ^= 0x20;
    let (pts, probs) = read_damaged(&b);
    assert_eq!(keys(&pts), intact_except(&all, &[(mid, next)]));
    assert_eq!(
        (probs[0].kind, probs[0].offset),
        (ProblemKind::BadDataCrc, Some(mid))
    );
    assert_eq!(probs.len(), 1);

    // 3. Bad length CRC: resynchronised at the very next record.
    let mut b = good.clone();
    b[mid as usize + 2] ^= 0x01;
    let (pts, probs) = read_damaged(&b);
    assert_eq!(keys(&pts), intact_except(&all, &[(mid, next)]));
    assert_eq!(
        (probs[0].kind, probs[0].offset),
        (ProblemKind::BadLengthCrc, Some(mid))
    );
    assert!(
        probs[0]
            .message
            .contains(&format!("resumed at offset {next}")),
        "{}",
        probs[0]
    );

    // 4. A zero-filled gap over three records (tensorboard#5588): the rest is read.
    let (gap_end, _) = recs[recs.len() / 2 + 3];
    let mut b = good.clone();
    b[mid as usize..gap_end as usize].fill(0);
    let (pts, probs) = read_damaged(&b);
    assert_eq!(keys(&pts), intact_except(&all, &[(mid, gap_end)]));
    assert_eq!(probs.len(), 1);
    assert_eq!(
        (probs[0].kind, probs[0].offset),
        (ProblemKind::ZeroFilled, Some(mid))
    );

    // 5. A zero-filled tail (pre-allocated file): reported, everything before it read.
    let mut b = good.clone();
    b.extend(std::iter::repeat_n(0u8, 1 << 16));
    let (pts, probs) = read_damaged(&b);
    assert_eq!(keys(&pts), keys(&all));
    assert_eq!(
        (probs[0].kind, probs[0].offset),
        (ProblemKind::ZeroFilled, Some(end))
    );

    // 6. An absurd length with a valid CRC in the middle: reported, no allocation, resynced.
    let mut b = good[..mid as usize].to_vec();
    let len = (1u64 << 60).to_le_bytes();
    b.extend_from_slice(&len);
    b.extend_from_slice(
        &histinspect::tf_record::MaskedCrc::compute(&len)
            .0
            .to_le_bytes(),
    );
    b.extend_from_slice(&good[mid as usize..]);
    let (pts, probs) = read_damaged(&b);
    assert_eq!(pts.len(), all.len());
    assert_eq!(
        (probs[0].kind, probs[0].offset),
        (ProblemKind::TooLarge, Some(mid))
    );

    // 7. Garbage between two records: one problem, the rest read.
    let mut b = good[..next as usize].to_vec();
    b.extend_from_slice(b"this is not a record at all");
    b.extend_from_slice(&good[next as usize..]);
    let (pts, probs) = read_damaged(&b);
    assert_eq!(pts.len(), all.len());
    assert_eq!(probs.len(), 1);
    assert_eq!(probs[0].offset, Some(next));
}

#[test]
fn logdir_with_odd_entries_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let run = root.join("run");
    fs::create_dir_all(&run).unwrap();
    let good = source();
    fs::write(run.join("events.out.tfevents.1.a"), &good).unwrap();
    // The second file is the same bytes again: every tag goes back to step 0.
    fs::write(run.join("events.out.tfevents.2.b"), &good).unwrap();
    fs::write(run.join("events.out.tfevents.3.empty"), b"").unwrap();
    fs::create_dir_all(root.join("dir.tfevents.x")).unwrap();
    let source = LocalSource::new([root]);
    let inv = inventory::build(&source, source.discover(), &PointFilter::default(), &|_| {});
    assert_eq!(inv.runs.len(), 1);
    let r = &inv.runs[0];
    assert_eq!(r.files.len(), 3);
    let uniform = &r.tags["uniform"];
    assert_eq!(uniform.steps, (0..10).collect::<Vec<i64>>());
    let kinds: Vec<ProblemKind> = inv.problems.iter().map(|p| p.kind).collect();
    assert!(kinds.contains(&ProblemKind::NotAFile), "{kinds:?}");
    assert!(kinds.contains(&ProblemKind::EmptyFile), "{kinds:?}");
    let restart = inv
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::Restart)
        .unwrap();
    assert!(restart.path.ends_with("events.out.tfevents.2.b"));
    assert!(
        restart.message.contains("from 9 to 0"),
        "{}",
        restart.message
    );
}

/// Issue 3, item 5: our percentiles equal TensorBoard's compressed histograms (the nine values
/// of the Distributions dashboard), computed by the tensorboard package in the generator on the
/// same buckets, to 1e-9 relative. TensorBoard's own loader casts legacy buckets to float32
/// first (`data_compat._migrate_histogram_value`); the generator also records the compressor's
/// output on float64 buckets (`tb_compressed_f64`), which is what we must equal exactly.
#[test]
fn percentiles_match_tensorboards_compressor() {
    let mut checked = 0;
    for (exp, files) in expectations() {
        let mut points = Vec::new();
        for f in &files {
            points.extend(histograms_in_file(f).0);
        }
        let got = by_tag(points);
        for (tag, texp) in exp["tags"].as_object().unwrap() {
            for (p, e) in got[tag].iter().zip(texp["points"].as_array().unwrap()) {
                let want = e.get("tb_compressed_f64").unwrap_or(&e["tb_compressed"]);
                let want: Vec<(f64, f64)> = want
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| (num(&r[0]), num(&r[1])))
                    .collect();
                let ours = histinspect::stats::compress(&p.histogram);
                assert_eq!(want.len(), 9);
                for ((bp, w), (o, obp)) in want
                    .iter()
                    .zip(ours.iter().zip(histinspect::stats::TB_BASIS_POINTS))
                {
                    assert_eq!(*bp, f64::from(obp));
                    let tol = 1e-9 * w.abs().max(1e-300);
                    assert!(
                        (o - w).abs() <= tol,
                        "{}/{tag}@{}: bp {bp}: ours {o}, TensorBoard {w}",
                        exp["run"],
                        p.step
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 300, "only {checked} points checked");
}

/// The hot path's zero-copy decoder (`wire`) reads every fixture record exactly as the prost
/// types generated from `proto/` do.
#[test]
fn wire_views_agree_with_prost_on_every_fixture_record() {
    use histinspect::wire;
    let mut values = 0;
    for (_, files) in expectations() {
        for f in files {
            let bytes = fs::read(&f).unwrap();
            let mut r = RecordReader::new(&bytes[..]);
            while let Some(Item::Record { data, .. }) = r.next() {
                // The fuzz target's check: prost and the views agree on every field we read.
                checks::event(data);
                if let Some(s) = wire::event(data).unwrap().summary {
                    values += wire::summary_values(&s).count();
                }
            }
        }
    }
    assert!(values > 400, "{values}");
}

#[test]
fn leaving_out_empty_buckets_changes_no_statistic_shape_or_change() {
    use histinspect::point::PointSummary;
    use histinspect::stats;
    // Debug strings compare NaN with NaN as equal, and every digit of every float.
    let same =
        |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") == format!("{b:?}");
    let mut compacted = 0;
    // Every event file under testdata/, the real writers' and the corpus's.
    for path in common::event_files_under(&testdata()) {
        let source = LocalSource::new([&path]);
        let id = source.id(&path);
        let (full, _) = histinspect::event_file::histograms_in_file_full(&source, &id);
        let (compact, _) = histinspect::event_file::histograms_in_file(&source, &id);
        let (full, compact) = (by_tag(full), by_tag(compact));
        for (tag, fs) in &full {
            let cs = &compact[tag];
            for (i, (f, c)) in fs.iter().zip(cs).enumerate() {
                let what = format!("{path:?} {tag}@{}", f.step);
                compacted += usize::from(c.histogram.compact);
                let (sf, sc) = (
                    PointSummary::of(f.step, f.wall_time, &f.histogram),
                    PointSummary::of(c.step, c.wall_time, &c.histogram),
                );
                assert!(same(&sf, &sc), "{what}: {sf:?}\n{sc:?}");
                assert!(
                    same(
                        &stats::compress(&f.histogram),
                        &stats::compress(&c.histogram)
                    ),
                    "{what}"
                );
                if i > 0 {
                    let (fp, cp) = (&fs[i - 1].histogram, &cs[i - 1].histogram);
                    let mf = |h| stats::moments(h);
                    let a = stats::change(fp, &mf(fp), &f.histogram, &mf(&f.histogram));
                    let b = stats::change(cp, &mf(cp), &c.histogram, &mf(&c.histogram));
                    assert!(same(&a, &b), "{what}: {a:?}\n{b:?}");
                }
            }
        }
    }
    assert!(
        compacted > 100,
        "only {compacted} compact points: the test sees too few"
    );
}

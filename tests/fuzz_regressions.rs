//! Replays the fuzz targets' seed corpus (made from `testdata/`) and every input that ever
//! broke a target (`fuzz/regressions/<target>/`) through the same checks the targets run
//! (`fuzz/checks.rs`), so that plain `cargo test` keeps each fixed bug fixed.
//!
//! `cargo test --release --test fuzz_regressions -- --ignored write_seed_corpus` writes the
//! seed corpus to `fuzz/corpus/<target>/` for a campaign (see the README, "Fuzzing").

#[path = "../fuzz/checks.rs"]
mod checks;
mod common;

use histinspect::tf_record::{Item, RecordReader};
use histinspect::wire;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Every event file of `testdata/logs/`, in name order.
fn fixture_files() -> Vec<PathBuf> {
    common::event_files_under(&root().join("testdata/logs"))
}

fn records(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut r = RecordReader::new(bytes);
    let mut out = Vec::new();
    while let Some(item) = r.next() {
        if let Item::Record { data, .. } = item {
            out.push(data.to_vec());
        }
    }
    out
}

/// The seed inputs of each target, made from the fixture files.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let files: Vec<Vec<u8>> = fixture_files()
        .iter()
        .map(|f| fs::read(f).unwrap())
        .collect();
    let mut out = Vec::new();
    for bytes in &files {
        let recs = records(bytes);
        match target {
            // A file's first 8 KB, and the same cut in the middle of a record.
            "framing" => {
                out.push(bytes[..bytes.len().min(8192)].to_vec());
                out.push(bytes[..bytes.len().min(5000)].to_vec());
            }
            // One record of each kind of value: the first 12 records, then every 16th.
            "event" => {
                for (i, r) in recs.iter().enumerate() {
                    if i < 12 || i % 16 == 0 {
                        out.push(r.clone());
                    }
                }
            }
            // The first 40 records of each file, as the report target cuts them, with each output.
            "report" => {
                let first: Vec<&[u8]> = recs.iter().take(40).map(|r| &r[..]).collect();
                for pick in 0..7 {
                    out.push(checks::unframe(pick, &first));
                }
            }
            // Each histogram of the first records, in the stats target's layout.
            "stats" => {
                for r in recs.iter().take(60) {
                    out.extend(histogram_inputs(r));
                }
            }
            _ => unreachable!(),
        }
    }
    out
}

/// The histograms of one record as `stats` inputs: a form byte, then f64s.
fn histogram_inputs(record: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Ok(e) = wire::event(record) else {
        return out;
    };
    let Some(s) = e.summary.as_deref() else {
        return out;
    };
    for v in wire::summary_values(s).flatten() {
        let Ok(v) = wire::value(v) else { continue };
        let put = |form: u8, xs: &[f64]| {
            let mut b = vec![form];
            for x in xs {
                b.extend_from_slice(&x.to_le_bytes());
            }
            b
        };
        match v.kind {
            wire::ValueKind::Histo(b) => {
                let (mut l, mut c) = (Vec::new(), Vec::new());
                if let Ok(e) = wire::histogram(&b, &mut l, &mut c) {
                    let mut xs = e.to_vec();
                    xs.extend(&l);
                    xs.extend(&c);
                    out.push(put(1, &xs));
                }
            }
            wire::ValueKind::Tensor(b) => {
                let (mut fl, mut db) = (Vec::new(), Vec::new());
                if let Ok(t) = wire::tensor(&b, &mut fl, &mut db) {
                    let mut xs: Vec<f64> = t
                        .content
                        .chunks_exact(if t.dtype == 2 { 8 } else { 4 })
                        .map(|c| match c.len() {
                            8 => f64::from_le_bytes(c.try_into().unwrap()),
                            _ => f64::from(f32::from_le_bytes(c.try_into().unwrap())),
                        })
                        .collect();
                    xs.extend(fl);
                    xs.extend(db);
                    out.push(put(0, &xs));
                }
            }
            _ => {}
        }
    }
    out
}

/// The committed inputs that once broke `target`.
fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = root().join("fuzz/regressions").join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    out.sort();
    out
}

fn replay(target: &str, check: fn(&[u8])) {
    let seeds = seeds(target);
    assert!(!seeds.is_empty());
    for s in &seeds {
        check(s);
    }
    for (path, input) in regressions(target) {
        let r = std::panic::catch_unwind(|| check(&input));
        assert!(r.is_ok(), "{} fails again", path.display());
    }
}

#[test]
fn framing_seeds_and_regressions() {
    replay("framing", checks::framing);
}

#[test]
fn event_seeds_and_regressions() {
    replay("event", checks::event);
}

#[test]
fn report_seeds_and_regressions() {
    replay("report", checks::report);
}

#[test]
fn stats_seeds_and_regressions() {
    replay("stats", checks::stats);
}

#[test]
#[ignore = "writes fuzz/corpus/; run by hand before a campaign"]
fn write_seed_corpus() {
    for target in ["framing", "event", "report", "stats"] {
        let dir = root().join("fuzz/corpus").join(target);
        fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds(target).iter().enumerate() {
            fs::write(dir.join(format!("seed-{i:04}")), s).unwrap();
        }
    }
}

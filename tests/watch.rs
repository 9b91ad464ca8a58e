//! `histinspect watch` as a wrapper uses it: the binary runs while the test writes a logdir
//! record by record, as a training job would, and its JSON Lines are read as they come.
//!
//! Timing only decides how the writes fall between polls, never what is asserted: every
//! finding must appear exactly once, at its step, whatever the interleaving.

use histinspect::proto::{Event, HistogramProto};
use serde_json::Value;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// 200 values flat over [lo, hi]; a NaN sum when `nan`.
fn histo(lo: f64, hi: f64, nan: bool) -> HistogramProto {
    let w = (hi - lo) / 4.0;
    HistogramProto {
        min: lo,
        max: hi,
        num: 200.0,
        sum: if nan { f64::NAN } else { 100.0 * (lo + hi) },
        sum_squares: 200.0 * (lo * lo + lo * hi + hi * hi) / 3.0,
        bucket_limit: (1..=4).map(|i| lo + w * i as f64).collect(),
        bucket: vec![50.0; 4],
    }
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
}

fn record(step: i64, tag: &str, h: HistogramProto) -> Vec<u8> {
    Event::histogram(step, tag, h).to_record()
}

struct Watch {
    child: Child,
    lines: Receiver<Value>,
    seen: Vec<Value>,
}

impl Watch {
    fn start(dir: &Path, extra: &[&str]) -> Watch {
        let mut child = Command::new(env!("CARGO_BIN_EXE_histinspect"))
            .arg("watch")
            .arg(dir)
            .args(["--interval", "0.05", "--format", "jsonl", "--no-config"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let v: Value = serde_json::from_str(&line.unwrap()).expect("a JSON line");
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Watch {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (up to 20 s) for a line matching `want`; every line read is kept in `seen`.
    fn wait_for(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if want(&v) {
                        return v;
                    }
                }
                Err(_) => panic!("no {what} within 20 s; seen: {:#?}", self.seen),
            }
        }
    }

    fn finding(&mut self, run: &str, tag: &str, flag: &str) -> Value {
        self.wait_for(&format!("{flag} on {run}/{tag}"), |v| {
            v["event"] == "finding" && v["run"] == run && v["tag"] == tag && v["flag"] == flag
        })
    }

    /// Waits for the summary and the exit; every line and the exit code.
    fn finish(mut self) -> (Vec<Value>, i32) {
        self.wait_for("the summary", |v| v["event"] == "summary");
        let status = self.child.wait().unwrap();
        while let Ok(v) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(v);
        }
        (self.seen, status.code().unwrap_or(-1))
    }

    fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

/// (run, tag, flag, step) of every finding line.
fn findings(lines: &[Value]) -> Vec<(String, String, String, i64)> {
    let mut v: Vec<_> = lines
        .iter()
        .filter(|l| l["event"] == "finding")
        .map(|l| {
            (
                l["run"].as_str().unwrap().to_string(),
                l["tag"].as_str().unwrap().to_string(),
                l["flag"].as_str().unwrap().to_string(),
                l["step"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn pause() {
    std::thread::sleep(Duration::from_millis(120));
}

#[test]
fn findings_appear_once_at_their_step_as_files_and_runs_grow() {
    let dir = tempfile::tempdir().unwrap();
    let run_a = dir.path().join("a");
    fs::create_dir(&run_a).unwrap();
    let f1 = run_a.join("events.out.tfevents.1");
    append(&f1, &[]);
    let mut w = Watch::start(dir.path(), &[]);
    // A learning layer and a frozen one, record by record; every other record is written in
    // two pieces with a poll between them (a record half-written is waited for).
    for step in 0..8 {
        let rec = record(step, "fc1.weight", histo(-0.1, 0.1, false));
        if step % 2 == 0 {
            let cut = rec.len() / 2;
            append(&f1, &rec[..cut]);
            pause();
            append(&f1, &rec[cut..]);
        } else {
            append(&f1, &rec);
        }
        let spread = 0.1 + 0.01 * step as f64;
        append(
            &f1,
            &record(step, "fc2.weight", histo(-spread, spread, false)),
        );
        pause();
    }
    // Frozen since step 0, reported once its five points are in.
    let f = w.finding("a", "fc1.weight", "frozen");
    assert_eq!(f["step"], 0);
    assert_eq!(f["severity"], "error");
    // A NaN at step 8 in a second file of the same run.
    let f2 = run_a.join("events.out.tfevents.2");
    append(&f2, &record(8, "fc2.weight", histo(-0.2, 0.2, true)));
    let f = w.finding("a", "fc2.weight", "nonfinite");
    assert_eq!(f["step"], 8);
    // A new run, whose weights blow up 1000-fold from step 3 on.
    let run_b = dir.path().join("b");
    fs::create_dir(&run_b).unwrap();
    let fb = run_b.join("events.out.tfevents.1");
    for step in 0..6 {
        let s = if step < 3 { 0.1 } else { 100.0 + step as f64 };
        append(&fb, &record(step, "fc1.weight", histo(-s, s, false)));
        pause();
    }
    let f = w.finding("b", "fc1.weight", "exploding");
    assert_eq!(f["step"], 3);
    pause();
    w.terminate();
    let (lines, code) = w.finish();
    assert_eq!(code, 0, "{lines:#?}");
    // Each finding once; the records written in pieces raised nothing.
    let got = findings(&lines);
    let mut dedup = got.clone();
    dedup.dedup();
    assert_eq!(got, dedup, "a finding was reported twice");
    assert!(lines.iter().all(|l| l["event"] != "problem"), "{lines:#?}");
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["reason"], "signal");
    assert_eq!(summary["runs"], 2);
    assert_eq!(summary["files"], 3);
    assert_eq!(summary["histograms"], 8 * 2 + 1 + 6);
    assert!(lines.iter().all(|l| l["schema_version"] == 1));
}

#[test]
fn fail_on_exits_1_right_after_the_finding_and_idle_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("events.out.tfevents.1");
    append(&f, &[]);
    let mut w = Watch::start(dir.path(), &["--fail-on", "nonfinite,frozen"]);
    for step in 0..3 {
        let spread = 0.1 + 0.01 * step as f64;
        append(&f, &record(step, "w", histo(-spread, spread, false)));
        pause();
    }
    append(&f, &record(3, "w", histo(-0.2, 0.2, true)));
    w.finding(".", "w", "nonfinite");
    let (lines, code) = w.finish();
    assert_eq!(code, 1);
    let summary = lines.last().unwrap();
    assert_eq!(summary["reason"], "fail_on");
    assert_eq!(summary["failed_on"], serde_json::json!(["nonfinite"]));
    assert_eq!(summary["exit_code"], 1);

    // Nothing grows: the watch ends by itself.
    let w = Watch::start(dir.path(), &["--exit-after-idle", "0.3"]);
    let (lines, code) = w.finish();
    assert_eq!(code, 0);
    assert_eq!(lines.last().unwrap()["reason"], "idle");
    assert_eq!(findings(&lines).len(), 1, "{lines:#?}");
}

#[test]
fn a_file_that_shrinks_is_read_again_with_a_notice_and_damage_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("events.out.tfevents.1");
    let mut bytes = Vec::new();
    for step in 0..4 {
        bytes.extend(record(step, "w", histo(-0.1 - step as f64, 0.1, false)));
    }
    append(&f, &bytes);
    let mut w = Watch::start(dir.path(), &[]);
    pause();
    // Replaced by a shorter file (a job restarted into the same file name).
    fs::write(&f, record(0, "w", histo(-0.1, 0.1, false))).unwrap();
    w.wait_for("the replaced notice", |v| {
        v["event"] == "problem" && v["kind"] == "replaced"
    });
    // Garbage, then an intact record: one damage problem, and the record after it is read.
    append(&f, &[0xab; 40]);
    append(&f, &record(1, "w", histo(-0.1, 0.1, false)));
    w.wait_for("the damage", |v| {
        v["event"] == "problem" && v["damage"] == true
    });
    pause();
    w.terminate();
    let (lines, code) = w.finish();
    assert_eq!(code, 0);
    let damage = lines
        .iter()
        .filter(|l| l["event"] == "problem" && l["damage"] == true)
        .count();
    assert_eq!(damage, 1, "{lines:#?}");
    assert_eq!(lines.last().unwrap()["histograms"], 2);
}

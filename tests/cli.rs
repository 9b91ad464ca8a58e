//! End to end: the binary on the committed real-writer fixtures and on files built here.

use assert_cmd::Command;
use histinspect::proto::{self, summary, Event, HistogramProto, Summary, TensorProto};
use histinspect::tf_record::encode_record;
use prost::Message;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;

fn logs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/logs")
}

fn bin() -> Command {
    let mut c = Command::cargo_bin("histinspect").unwrap();
    c.env_remove("NO_COLOR")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn json_of(args: &[&str]) -> Value {
    let out = bin().args(args).output().unwrap();
    assert!(out.status.code().is_some(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
    })
}

/// The bytes of the event file of a fixture run.
fn fixture_bytes(run: &str) -> Vec<u8> {
    let src = fs::read_dir(logs().join(run))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::read(src).unwrap()
}

/// Re-frames the records of `bytes` (with valid CRCs) as `edit` returns them; `None` drops one.
fn reframe(bytes: &[u8], mut edit: impl FnMut(&[u8]) -> Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut r = histinspect::tf_record::RecordReader::new(bytes);
    while let Some(histinspect::tf_record::Item::Record { data, .. }) = r.next() {
        if let Some(d) = edit(data) {
            encode_record(&d, &mut out);
        }
    }
    out
}

/// Standard output of a run of the binary.
fn stdout_of(args: &[&str]) -> String {
    String::from_utf8(bin().args(args).output().unwrap().stdout).unwrap()
}

/// The text with every run of whitespace made one space: `--explain` wraps its lines.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One JSON value per line of the output.
fn jsonl_of(args: &[&str]) -> Vec<Value> {
    stdout_of(args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn expected(run: &str) -> Value {
    let name = run.replace('/', "__");
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("testdata/expected/{name}.json"));
    serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
}

fn flagged(doc: &Value, run: &str, flag: &str) -> BTreeSet<String> {
    doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["run"] == run)
        .flat_map(|r| r["tags"].as_array().unwrap())
        .filter(|t| t["flags"].as_array().unwrap().iter().any(|f| f == flag))
        .map(|t| t["tag"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn frozen_flags_are_exactly_the_tags_the_writers_froze() {
    let doc = json_of(&["testdata/logs", "--format", "json"]);
    assert_eq!(doc["schema_version"], 1);
    for run in [
        "tf1_user_story",
        "keras_frozen/train",
        "tf2_summary",
        "torch",
        "tensorboardx",
        "tf1_tensor_meta",
    ] {
        let want: BTreeSet<String> = expected(run)["frozen_tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        assert_eq!(flagged(&doc, run, "frozen"), want, "{run}");
    }
    // The user story: layers 1-3 weights are flagged, layer 4's are not.
    let story = flagged(&doc, "tf1_user_story", "frozen");
    assert!(story.contains("layer1/weights") && story.contains("layer3/weights"));
    assert!(!story.contains("layer4/weights"));
    let init = flagged(&doc, "tf1_user_story", "still_at_init");
    assert!(init.contains("layer1/weights"), "{init:?}");
    assert!(!init.contains("layer4/weights"), "{init:?}");
}

#[test]
fn json_report_follows_the_documented_schema() {
    let doc = json_of(&[
        "testdata/logs",
        "--format",
        "json",
        "--run",
        "^tf1_user_story$",
    ]);
    assert_eq!(doc["runs"].as_array().unwrap().len(), 1);
    let tags = doc["runs"][0]["tags"].as_array().unwrap();
    let names: Vec<&str> = tags.iter().map(|t| t["tag"].as_str().unwrap()).collect();
    assert_eq!(names[0], "layer1/activations");
    for t in tags {
        for k in [
            "run",
            "tag",
            "form",
            "points",
            "first_step",
            "last_step",
            "shape",
            "flags",
            "first",
            "last",
            "change",
        ] {
            assert!(t.get(k).is_some(), "missing {k} in {t}");
        }
        for p in [&t["first"], &t["last"]] {
            for k in [
                "step", "count", "min", "max", "mean", "std", "mode", "shape",
            ] {
                assert!(p.get(k).is_some(), "missing {k}");
            }
        }
        assert!(t["change"]["w1_rel"].is_number());
        assert!(t["change"]["identical"].is_boolean());
        assert_eq!(t["form"], "histo");
    }
    let w1 = tags.iter().find(|t| t["tag"] == "layer1/weights").unwrap();
    assert_eq!(w1["shape"], "uniform");
    assert_eq!(w1["points"], 6);
    assert_eq!(w1["change"]["identical"], true);
    // The story's reading: most weights in about [-0.15, 0.15].
    let (lo, hi) = (
        w1["last"]["min"].as_f64().unwrap(),
        w1["last"]["max"].as_f64().unwrap(),
    );
    assert!(
        (-0.16..-0.14).contains(&lo) && (0.14..0.16).contains(&hi),
        "{lo} {hi}"
    );
    let act = tags
        .iter()
        .find(|t| t["tag"] == "layer1/activations")
        .unwrap();
    assert_eq!(act["shape"], "gaussian");
    assert!(doc["problems"].as_array().unwrap().is_empty());
    assert_eq!(doc["summary"]["tags"], 12);
}

#[test]
fn trimodal_peaks_are_found_where_the_story_puts_them() {
    let doc = json_of(&[
        "testdata/logs",
        "--format",
        "json",
        "--run",
        "tf2_summary",
        "--tag",
        "^trimodal$",
    ]);
    let t = &doc["runs"][0]["tags"][0];
    assert_eq!(t["shape"], "multimodal");
    let peaks: Vec<f64> = t["last"]["peaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect();
    assert_eq!(peaks.len(), 3, "{peaks:?}");
    for (p, want) in peaks.iter().zip([-0.1, 0.05, 0.25]) {
        assert!((p - want).abs() < 0.03, "{peaks:?}");
    }
}

#[test]
fn exit_codes() {
    let cases: &[(&[&str], i32)] = &[
        (&["testdata/logs", "--fail-on", "frozen"], 1),
        (
            &["testdata/logs", "--fail-on", "any", "--format", "json"],
            1,
        ),
        (
            &[
                "testdata/logs",
                "--fail-on",
                "frozen,nonfinite",
                "--run",
                "torch",
                "--tag",
                "^auto/",
            ],
            0,
        ),
        (&["testdata/logs", "--fail-on", "nonfinite"], 0),
        (&["testdata/logs"], 0),
        (&["testdata/does-not-exist"], 2),
        (&["testdata/logs", "--fail-on", "bogus"], 2),
        (&["testdata/logs", "--step-range", "5"], 2),
        (&["--format", "yaml", "testdata/logs"], 2),
        (&["--help"], 0),
    ];
    for (args, code) in cases {
        let out = bin().args(*args).output().unwrap();
        assert_eq!(out.status.code(), Some(*code), "{args:?}");
    }
}

#[test]
fn step_range_and_filters() {
    let doc = json_of(&[
        "testdata/logs",
        "--format",
        "json",
        "--run",
        "tf2",
        "--tag",
        "^normal$",
        "--step-range",
        "2:4",
    ]);
    let t = &doc["runs"][0]["tags"][0];
    assert_eq!(
        (
            t["first_step"].as_i64(),
            t["last_step"].as_i64(),
            t["points"].as_i64()
        ),
        (Some(2), Some(4), Some(3))
    );
}

#[test]
fn jsonl_csv_and_steps_agree_on_counts() {
    let lines = jsonl_of(&["testdata/logs", "--format", "jsonl"]);
    assert!(lines.iter().all(|l| l["schema_version"] == 1));
    let tags = lines.iter().filter(|l| l.get("tag").is_some()).count();
    assert_eq!(tags, 52);
    let csv = bin()
        .args(["testdata/logs", "--format", "csv"])
        .output()
        .unwrap();
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert_eq!(csv.lines().count(), 53);
    assert!(csv.starts_with("run,tag,form,points,"));
    let steps = jsonl_of(&["testdata/logs", "--format", "jsonl", "--steps"]);
    let points: i64 = lines.iter().filter_map(|l| l["points"].as_i64()).sum();
    assert_eq!(steps.len() as i64, points);
    assert!(steps
        .iter()
        .all(|s| s["step"].is_i64() && s["shape"].is_string()));
    let doc = json_of(&[
        "testdata/logs",
        "--format",
        "json",
        "--steps",
        "--run",
        "torch",
    ]);
    assert_eq!(doc["steps"].as_array().unwrap().len(), 42);
}

#[test]
fn buckets_export_every_point_raw_and_agree_with_the_per_step_statistics() {
    let steps = jsonl_of(&["testdata/logs", "--steps", "--format", "jsonl"]);
    let steps: Vec<&Value> = steps.iter().filter(|s| s.get("step").is_some()).collect();
    let points = jsonl_of(&["buckets", "testdata/logs", "--format", "jsonl"]);
    assert_eq!(
        points.len(),
        steps.len(),
        "one object per point, in the same order"
    );
    let mut rows = 0;
    for (p, s) in points.iter().zip(&steps) {
        for key in ["run", "tag", "step", "form"] {
            assert_eq!(p[key], s[key], "{key}");
        }
        let b = p["buckets"].as_array().unwrap();
        rows += b.len();
        let total: f64 = b.iter().map(|t| t[2].as_f64().unwrap()).sum();
        let count = s["count"].as_f64().unwrap();
        assert!((total - count).abs() <= 1e-9 * count.max(1.0), "{p}");
        if count > 0.0 {
            // The outer edges are the range the statistics report (a legacy histogram's exact
            // min and max). An empty TF2 histogram keeps its 30 zero rows, as written.
            assert_eq!(b[0][0], s["min"], "{}", p["tag"]);
            assert_eq!(b[b.len() - 1][1], s["max"], "{}", p["tag"]);
        }
    }
    // CSV: long form, a row per bucket.
    let csv = stdout_of(&["buckets", "testdata/logs", "--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("run,tag,step,left,right,count"));
    assert_eq!(lines.count(), rows);
    // One step: only its points; a step no tag has is exit 2 with a line saying so.
    let at2 = jsonl_of(&[
        "buckets",
        "testdata/logs",
        "--step",
        "2",
        "--format",
        "jsonl",
    ]);
    assert!(!at2.is_empty() && at2.iter().all(|p| p["step"] == 2));
    let (code, out, err) = run_of(bin().args(["buckets", "testdata/logs", "--step", "999"]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("no point at step 999"), "{err}");
}

#[test]
fn tags_inventory_json() {
    let doc = json_of(&["tags", "testdata/logs", "--format", "json"]);
    assert_eq!(doc["schema_version"], 1);
    let run = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"] == "tf2_summary")
        .unwrap();
    assert_eq!(
        run["files"][0]["records"],
        expected("tf2_summary")["files"][0]["records"]
    );
    let uniform = run["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "uniform")
        .unwrap();
    assert_eq!(uniform["form"], "tensor");
    assert_eq!(uniform["points"], 10);
    assert_eq!(
        (
            uniform["first_step"].as_i64(),
            uniform["last_step"].as_i64()
        ),
        (Some(0), Some(9))
    );
    let story = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"] == "tf1_user_story")
        .unwrap();
    assert!(story["tags"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["form"] == "histo"));
}

#[test]
fn table_and_explain_tell_the_user_story() {
    let text = stdout_of(&["testdata/logs", "--run", "tf1_user_story", "--explain"]);
    assert!(text.contains("layer1/weights"));
    assert!(text.contains("frozen still_at_init"), "{text}");
    assert!(
        flat(&text).contains("layer1, layer2 and layer3 never changed while layer4 did"),
        "{text}"
    );
    assert!(text.contains("Glorot"), "{text}");
    assert!(
        flat(&text).contains("layer1 — never changed [frozen still_at_init] weights: almost uniformly distributed in [-0.152, 0.152]"),
        "the reading goes layer by layer: {text}"
    );
    let explained = text.split("What the histograms say:").nth(1).unwrap();
    for line in explained.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
    }
    assert!(!text.contains("\u{1b}["), "no colour when not a terminal");
    let last = text.lines().rfind(|l| l.contains(" tags, ")).unwrap();
    assert!(
        last.starts_with("1 run, 12 tags, 72 points, 0 problems"),
        "{last}"
    );
    let colored = bin()
        .args(["testdata/logs", "--color", "always"])
        .output()
        .unwrap();
    assert!(String::from_utf8(colored.stdout)
        .unwrap()
        .contains("\u{1b}["));
}

#[test]
fn plot_draws_bars_and_a_ridgeline() {
    let text = stdout_of(&[
        "plot",
        "testdata/logs",
        "--run",
        "tf2_summary",
        "--tag",
        "^bimodal$",
        "--rows",
        "10",
    ]);
    assert!(text.contains("bimodal at step 9"), "{text}");
    // A header line, then one row per cell; the gap between the modes has empty rows.
    assert_eq!(text.trim_end().lines().count(), 11, "{text}");
    assert!(
        text.lines().filter(|l| l.contains('█')).count() >= 6,
        "{text}"
    );
    let text = stdout_of(&[
        "plot",
        "testdata/logs",
        "--run",
        "tf2_summary",
        "--tag",
        "^drifting$",
        "--over-steps",
        "4",
    ]);
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("step ") && l.contains('│'))
            .count(),
        4,
        "{text}"
    );
}

#[test]
fn broken_pipe_is_success() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_histinspect"))
        .args(["testdata/logs", "--format", "jsonl", "--steps"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the binary with its stdout — and with `stderr_too` its stderr, as `2>&1 | head` does —
/// on a pipe nobody reads (the read end is closed before it starts, so every write fails,
/// whatever the output's size): its exit code, and its stderr when that is not the pipe.
fn with_closed_pipe(args: &[&str], stderr_too: bool) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_histinspect"));
    cmd.args(args)
        .arg("--no-progress")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if stderr_too {
        cmd.stdout(writer.try_clone().unwrap()).stderr(writer);
    } else {
        cmd.stdout(writer).stderr(Stdio::piped());
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), err)
}

#[test]
fn a_closed_output_leaves_the_exit_code_as_it_would_have_been() {
    // `histinspect check logs | head` under `set -o pipefail` (GitHub Actions' default):
    // the gate's verdict must survive the reader going away, with its line on stderr.
    let corpus = "testdata/corpus";
    for args in [
        vec!["check", corpus],
        vec!["check", corpus, "--format", "json"],
        vec![corpus, "--fail-on", "error"],
        vec![corpus, "--steps", "--format", "jsonl", "--fail-on", "error"],
        vec![
            "watch",
            corpus,
            "--fail-on",
            "exploding",
            "--exit-after-idle",
            "0",
        ],
        vec![
            "diff",
            "testdata/corpus/torch_mlp_sgd",
            "testdata/corpus/torch_frozen_requires_grad",
            "--fail-on",
            "frozen",
        ],
    ] {
        let (code, err) = with_closed_pipe(&args, false);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert_eq!(with_closed_pipe(&args, true).0, Some(1), "{args:?} 2>&1");
        assert!(
            err.contains("finding") || err.contains("regressed") || err.contains("watching"),
            "{args:?}: {err}"
        );
    }
    // Without a gate the run ends quietly and well, as it would have with its output read.
    for args in [
        vec!["testdata/logs"],
        vec!["testdata/logs", "--steps", "--format", "jsonl"],
        vec!["tags", "testdata/logs"],
        vec!["diff", "testdata/logs", "testdata/logs"],
    ] {
        let (code, err) = with_closed_pipe(&args, false);
        assert_eq!((code, err.as_str()), (Some(0), ""), "{args:?}");
        assert_eq!(with_closed_pipe(&args, true).0, Some(0), "{args:?} 2>&1");
    }
    // Nothing to read is exit 2 whether or not its line on stderr can be written.
    let empty = tempfile::tempdir().unwrap();
    let empty = empty.path().to_str().unwrap();
    for args in [
        vec![empty],
        vec!["check", empty],
        vec!["testdata/no-such-logdir"],
    ] {
        assert_eq!(with_closed_pipe(&args, true).0, Some(2), "{args:?} 2>&1");
    }
}

// ---- built files ----------------------------------------------------------------------------

fn write_events(path: &Path, events: &[Event]) {
    let mut bytes = Vec::new();
    let first = Event {
        wall_time: 1.0,
        step: 0,
        what: Some(proto::event::What::FileVersion("brain.Event:2".into())),
    };
    encode_record(&first.encode_to_vec(), &mut bytes);
    for e in events {
        encode_record(&e.encode_to_vec(), &mut bytes);
    }
    fs::write(path, bytes).unwrap();
}

fn histo_event(step: i64, tag: &str, h: HistogramProto) -> Event {
    Event::histogram(step, tag, h)
}

fn normal_cdf(x: f64) -> f64 {
    // Abramowitz-Stegun 7.1.26 is enough for building test buckets.
    let t = 1.0 / (1.0 + 0.3275911 * x.abs() / std::f64::consts::SQRT_2);
    let y = 1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
            + 0.254829592)
            * t
            * (-x * x / 2.0).exp();
    if x >= 0.0 {
        0.5 * (1.0 + y)
    } else {
        0.5 * (1.0 - y)
    }
}

/// TF2-style tensor histogram: 30 equal buckets over [mu-4, mu+4] of N(mu, 1), 1e6 values.
fn drifting_tensor(step: i64, mu: f64) -> Event {
    let (lo, hi) = (mu - 4.0, mu + 4.0);
    let w = (hi - lo) / 30.0;
    let mut content = Vec::new();
    for i in 0..30 {
        let (a, b) = (lo + i as f64 * w, lo + (i + 1) as f64 * w);
        let c = 1e6 * (normal_cdf(b - mu) - normal_cdf(a - mu));
        for v in [a, b, c.round()] {
            content.extend_from_slice(&v.to_le_bytes());
        }
    }
    let t = TensorProto {
        dtype: proto::DataType::DtDouble as i32,
        tensor_shape: Some(proto::TensorShapeProto {
            dim: [30i64, 3]
                .iter()
                .map(|&size| proto::tensor_shape_proto::Dim {
                    size,
                    name: String::new(),
                })
                .collect(),
            unknown_rank: false,
        }),
        tensor_content: content.into(),
        ..Default::default()
    };
    Event {
        wall_time: step as f64,
        step,
        what: Some(proto::event::What::Summary(Summary {
            value: vec![summary::Value {
                tag: "drift".into(),
                metadata: (step == 0).then(|| proto::SummaryMetadata {
                    plugin_data: Some(proto::summary_metadata::PluginData {
                        plugin_name: "histograms".into(),
                        content: Default::default(),
                    }),
                    ..Default::default()
                }),
                value: Some(summary::value::Value::Tensor(t)),
                ..Default::default()
            }],
        })),
    }
}

#[test]
fn slow_drift_is_not_frozen_and_nonfinite_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    fs::create_dir_all(&run).unwrap();
    // 1e-3 std per step over 100 steps.
    let events: Vec<Event> = (0..100)
        .map(|s| drifting_tensor(s, 1e-3 * s as f64))
        .collect();
    write_events(&run.join("events.out.tfevents.1.drift"), &events);
    let nan = HistogramProto {
        min: -1.0,
        max: 1.0,
        num: 2.0,
        sum: f64::NAN,
        sum_squares: 2.0,
        bucket_limit: vec![0.0, 1.0],
        bucket: vec![1.0, 1.0],
    };
    let fine = HistogramProto {
        sum: 0.0,
        ..nan.clone()
    };
    write_events(
        &run.join("events.out.tfevents.2.nan"),
        &[
            histo_event(0, "fc.weight", fine),
            histo_event(1, "fc.weight", nan),
        ],
    );
    let root = dir.path().to_str().unwrap();
    let doc = json_of(&[root, "--format", "json"]);
    let tags = doc["runs"][0]["tags"].as_array().unwrap();
    let drift = tags.iter().find(|t| t["tag"] == "drift").unwrap();
    assert_eq!(drift["points"], 100);
    assert!(drift["flags"].as_array().unwrap().is_empty(), "{drift}");
    let w1 = drift["change"]["w1_rel"].as_f64().unwrap();
    assert!(
        (0.05..0.2).contains(&w1),
        "first→last W1/σ of a 0.1σ drift: {w1}"
    );
    let fc = tags.iter().find(|t| t["tag"] == "fc.weight").unwrap();
    assert!(
        fc["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "nonfinite"),
        "{fc}"
    );
    bin()
        .args([root, "--fail-on", "nonfinite"])
        .assert()
        .code(1);
    bin().args([root, "--fail-on", "frozen"]).assert().code(0);
}

/// A directory holding the tf2_summary fixture with 64 zero bytes in its middle (a
/// pre-allocated region, tensorboard#5588) and its last `cut` bytes cut off.
fn zero_filled_gap(cut: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = fixture_bytes("tf2_summary");
    let mid = bytes.len() / 2;
    bytes[mid..mid + 64].fill(0);
    bytes.truncate(bytes.len() - cut);
    fs::write(dir.path().join("events.out.tfevents.x"), &bytes).unwrap();
    dir
}

#[test]
fn damaged_file_is_reported_and_the_rest_still_reported() {
    let dir = zero_filled_gap(5);
    let doc = json_of(&[dir.path().to_str().unwrap(), "--format", "json"]);
    let kinds: Vec<&str> = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"truncated"), "{kinds:?}");
    assert!(
        kinds
            .iter()
            .any(|k| *k == "zero_filled" || *k == "bad_length_crc" || *k == "bad_data_crc"),
        "{kinds:?}"
    );
    for p in doc["problems"].as_array().unwrap() {
        assert!(
            p["offset"].as_u64().is_some() && p["path"].is_string() && p["message"].is_string()
        );
    }
    assert_eq!(doc["runs"][0]["tags"].as_array().unwrap().len(), 14);
}

/// Compares `text` with `tests/snapshots/NAME`; `UPDATE_SNAPSHOTS=1` rewrites the file.
fn snapshot(name: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        return;
    }
    let want = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_SNAPSHOTS=1)", path.display()));
    if want != text {
        panic!(
            "{name} differs from its snapshot (UPDATE_SNAPSHOTS=1 to accept):\n--- want\n{want}\n--- got\n{text}"
        );
    }
}

#[test]
fn snapshots_of_table_and_explain() {
    for (name, run) in [
        ("user_story.txt", "^tf1_user_story$"),
        ("keras_frozen.txt", "^keras_frozen/train$"),
        ("tf2_summary.txt", "^tf2_summary$"),
    ] {
        let out = bin()
            .args(["testdata/logs", "--run", run, "--explain"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        snapshot(name, &String::from_utf8(out.stdout).unwrap());
    }
}

#[test]
fn a_restarted_job_replaces_the_points_it_logged_again() {
    // File 1 logs steps 0..9; the job restarts from a checkpoint at step 5 and file 2 logs
    // 5..9 again. TensorBoard keeps 0..4 from file 1 and 5..9 from file 2.
    let bytes = fixture_bytes("tf2_summary");
    let second = reframe(&bytes, |data| {
        let e = histinspect::wire::event(data).unwrap();
        (e.summary.is_none() || e.step >= 5).then(|| data.to_vec())
    });
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("events.out.tfevents.1.a"), &bytes).unwrap();
    fs::write(dir.path().join("events.out.tfevents.2.b"), &second).unwrap();
    let root = dir.path().to_str().unwrap();
    let doc = json_of(&[root, "--format", "json", "--tag", "^(normal|frozen)$"]);
    let tags = doc["runs"][0]["tags"].as_array().unwrap();
    for t in tags {
        assert_eq!(t["points"], 10, "{t}");
        assert_eq!(
            (t["first_step"].as_i64(), t["last_step"].as_i64()),
            (Some(0), Some(9))
        );
    }
    let frozen = tags.iter().find(|t| t["tag"] == "frozen").unwrap();
    assert_eq!(frozen["flags"][0], "frozen");
    assert_eq!(frozen["change"]["all_steps_identical"], true);
    let normal = tags.iter().find(|t| t["tag"] == "normal").unwrap();
    assert!(normal["flags"].as_array().unwrap().is_empty());
    let problems = doc["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["kind"], "restart");
    assert_eq!(problems[0]["damage"], false);
    let msg = problems[0]["message"].as_str().unwrap();
    assert!(msg.contains("from 9 to 5 for 2 tag(s)"), "{msg}");
    // Per-step output re-reads each kept point from the file it now comes from.
    let lines = jsonl_of(&[root, "--format", "jsonl", "--steps", "--tag", "^frozen$"]);
    // The reading problems follow the rows, as in the summary's JSON Lines.
    let (problems, steps): (Vec<_>, Vec<_>) =
        lines.into_iter().partition(|l| l.get("problem").is_some());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["problem"]["kind"], "restart");
    let got: Vec<i64> = steps.iter().map(|s| s["step"].as_i64().unwrap()).collect();
    assert_eq!(got, (0..10).collect::<Vec<i64>>());
    assert!(steps[1..]
        .iter()
        .all(|s| s["change_prev"]["identical"] == true));
}

#[test]
fn mutated_values_with_valid_crcs_never_crash_the_report() {
    // Flip bits inside real records and re-frame them with correct CRCs, so that the damage
    // reaches the decoder, the statistics and the renderers (NaN, Inf, huge and negative
    // counts, broken shapes) instead of stopping at the CRC check.
    let dir = tempfile::tempdir().unwrap();
    // MUTATION_SEED=N explores other mutations locally; CI runs the fixed one.
    let mut x: u64 = std::env::var("MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15)
        | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for (n, run) in ["tf2_summary", "torch", "tf1_user_story"]
        .iter()
        .enumerate()
    {
        let out = reframe(&fixture_bytes(run), |data| {
            let mut d = data.to_vec();
            if !d.is_empty() && next() % 3 == 0 {
                for _ in 0..1 + next() % 4 {
                    let i = (next() as usize) % d.len();
                    d[i] ^= 1 << (next() % 8);
                }
            }
            Some(d)
        });
        let run_dir = dir.path().join(format!("m{n}"));
        fs::create_dir_all(&run_dir).unwrap();
        fs::write(run_dir.join("events.out.tfevents.mutated"), out).unwrap();
    }
    let root = dir.path().to_str().unwrap();
    for args in [
        vec![root, "--format", "json"],
        vec![root, "--explain"],
        vec![root, "--format", "csv", "--steps"],
        vec!["tags", root],
        vec!["plot", root, "--tag", ".", "--over-steps", "3"],
    ] {
        let out = bin().args(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let doc = json_of(&[root, "--format", "json"]);
    assert!(!doc["problems"].as_array().unwrap().is_empty());
}

#[test]
fn options_that_do_not_apply_are_usage_errors_and_the_formats_they_name_work() {
    // Rejected before anything is read: exit 2 and one line naming the option.
    for (args, says) in [
        (
            &["plot", "testdata/logs", "--format", "json"][..],
            "--format json",
        ),
        (
            &["testdata/logs", "--explain", "--format", "json"][..],
            "--explain",
        ),
        (
            &["testdata/logs", "--explain", "--format", "csv"][..],
            "--explain",
        ),
        (&["testdata/logs", "--explain", "--steps"][..], "--explain"),
    ] {
        let out = bin().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains(says) && err.contains("usage error"),
            "{args:?}: {err}"
        );
    }
    // `tags` has every format.
    let csv = stdout_of(&[
        "tags",
        "testdata/logs",
        "--format",
        "csv",
        "--run",
        "^torch$",
    ]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("run,tag,form,points,first_step,last_step")
    );
    assert!(lines.all(|l| l.starts_with("torch,") && l.split(',').count() == 6));
    let jsonl = jsonl_of(&[
        "tags",
        "testdata/logs",
        "--format",
        "jsonl",
        "--run",
        "^torch$",
    ]);
    assert!(!jsonl.is_empty());
    assert!(jsonl
        .iter()
        .all(|l| l["schema_version"] == 1 && l["run"] == "torch" && l["points"].is_u64()));
}

#[test]
fn per_step_output_carries_the_reading_problems_in_every_format() {
    // A zero-filled gap inside a real file: the summary reports it; so must --steps.
    let dir = zero_filled_gap(0);
    let root = dir.path().to_str().unwrap();
    let kinds = |problems: &Value| -> BTreeSet<String> {
        problems
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["kind"].as_str().unwrap().to_string())
            .collect()
    };
    let summary = kinds(&json_of(&[root, "--format", "json"])["problems"]);
    assert!(!summary.is_empty());
    let doc = json_of(&[root, "--steps", "--format", "json"]);
    assert_eq!(kinds(&doc["problems"]), summary);
    assert!(!doc["steps"].as_array().unwrap().is_empty());
    let lines = jsonl_of(&[root, "--steps", "--format", "jsonl"]);
    let from_lines: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l.get("problem"))
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(from_lines, summary);
    let table = stdout_of(&[root, "--steps"]);
    assert!(table.contains("problems:"), "{table}");
    for k in &summary {
        assert!(table.contains(k.as_str()), "{k}: {table}");
    }
    // CSV has no place for them: stderr says so, naming the kinds.
    let out = bin()
        .args([root, "--steps", "--format", "csv"])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    for k in &summary {
        assert!(err.contains(k.as_str()), "{k}: {err}");
    }
    // Nor do the binary columns: the same words on stderr.
    let cols = bin()
        .args([root, "--steps", "--format", "columns"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(cols.stderr).unwrap(), err);
    assert_eq!(cols.status.code(), out.status.code());
}

#[test]
fn no_negative_zero_in_machine_output() {
    // A value that is exactly -0: a JSON number (`-0.0`) or a CSV field (`-0`).
    let negative_zero = regex::Regex::new(r#"(?m)(":\s*|^|,)-0(\.0+)?(,|\}|\]|$)"#).unwrap();
    for args in [
        &["testdata/logs", "--format", "json"][..],
        &["testdata/logs", "--format", "csv"][..],
        &["testdata/logs", "--steps", "--format", "jsonl"][..],
    ] {
        let text = stdout_of(args);
        assert!(text.len() > 1000);
        if let Some(m) = negative_zero.find(&text) {
            panic!("{args:?} prints {:?}", m.as_str());
        }
    }
}

// ---- histinspect check: the CI gate ---------------------------------------------------------

/// Exit code, stdout and stderr of a run of the binary.
fn run_of(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn check(args: &[&str]) -> (i32, String, String) {
    run_of(bin().arg("check").args(args).env_remove("GITHUB_ACTIONS"))
}

/// A legacy histogram of `n` values spread evenly over [lo, hi) in 4 buckets.
fn flat_histo(lo: f64, hi: f64, n: f64) -> HistogramProto {
    let w = (hi - lo) / 4.0;
    HistogramProto {
        min: lo,
        max: hi,
        num: n,
        sum: n * (lo + hi) / 2.0,
        sum_squares: n * (lo * lo + lo * hi + hi * hi) / 3.0,
        bucket_limit: (1..=4).map(|i| lo + w * i as f64).collect(),
        bucket: vec![n / 4.0; 4],
    }
}

#[test]
fn check_exits_0_on_a_clean_run_and_says_so() {
    let (code, out, err) = check(&[
        "testdata/logs",
        "--run",
        "^tf2_summary$",
        "--tag",
        "^(normal|bimodal)$",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("run tf2_summary"), "the report is printed");
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("histinspect: checked 2 histogram tags in 1 run ")
            && last.contains("clean"),
        "{err}"
    );
}

#[test]
fn counts_of_one_are_singular_in_every_summary() {
    // The clean check above, as Markdown; the table's last line; one failing finding.
    let clean = [
        "testdata/logs",
        "--run",
        "^tf2_summary$",
        "--tag",
        "^(normal|bimodal)$",
    ];
    let (_, md, _) = check(&[&clean[..], &["--format", "markdown"]].concat());
    assert!(
        md.contains("✅ checked 2 histogram tags in 1 run: clean"),
        "{md}"
    );
    let (_, text, _) = check(&clean);
    assert!(text.contains("\n1 run, 2 tags, "), "{text}");
    let (code, md, _) = check(&["testdata/logs/torch", "--format", "markdown"]);
    assert_eq!(code, 1);
    assert!(
        md.contains("❌ 1 failing finding in 7 histogram tags"),
        "{md}"
    );
    assert!(md.contains(": 7 tags, 1 finding\n"), "{md}");
}

#[test]
fn check_exits_1_on_frozen_layers_and_its_last_line_says_why() {
    let (code, out, err) = check(&["testdata/logs", "--run", "^tf1_user_story$"]);
    assert_eq!(code, 1);
    assert!(out.contains("FAIL"), "{out}");
    assert_eq!(
        err.lines().last().unwrap(),
        "histinspect: 3 findings in 1 run: frozen ×3 (layer1/weights, layer2/weights, layer3/weights)"
    );
    // Info-severity flags are shown but do not fail: failing on them is asked for by name.
    let (code, _, _) = check(&[
        "testdata/logs",
        "--run",
        "^tf1_user_story$",
        "--fail-on",
        "nonfinite",
    ]);
    assert_eq!(code, 0);
    let (code, _, err) = check(&[
        "testdata/logs",
        "--run",
        "^tf1_user_story$",
        "--fail-on",
        "info",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("still_at_init ×3"), "{err}");
}

#[test]
fn check_exits_2_when_it_cannot_check_what_was_asked_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    // A dangling link named like an event file: a file that cannot be read.
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        dir.path().join("gone"),
        dir.path().join("events.out.tfevents.1"),
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        // A path that does not exist, even next to one that does.
        (
            vec!["testdata/logs", "testdata/nope"],
            "testdata/nope: cannot read",
        ),
        // Keras without histogram_freq: only scalars.
        (
            vec!["testdata/logs/keras_frozen/validation"],
            "no histogram tags in 1 run",
        ),
        (
            vec!["testdata/logs/keras_frozen/validation"],
            "histogram_freq=1",
        ),
        // Filters that match nothing name themselves.
        (
            vec!["testdata/logs", "--tag", "^nothing$"],
            "--tag \"^nothing$\" left none of the",
        ),
        (
            vec!["testdata/logs", "--run", "^nothing$"],
            "--run \"^nothing$\" left none of the",
        ),
        (
            vec!["testdata/logs", "--exclude-tag", "."],
            "--exclude-tag \".\" left none",
        ),
        (
            vec!["testdata/logs", "--step-range", "1000:"],
            "--step-range \"1000:\" left none",
        ),
        // Usage errors.
        (
            vec!["testdata/logs", "--fail-on", "bogus"],
            "unknown name \"bogus\" in --fail-on",
        ),
        (
            vec!["testdata/logs", "--format", "csv"],
            "--format csv does not apply to check",
        ),
        (
            vec!["testdata/logs", "--steps"],
            "--steps does not apply to check",
        ),
    ];
    #[cfg(unix)]
    let cases = {
        let mut c = cases;
        c.push((
            vec!["testdata/logs", root],
            "events.out.tfevents.1: cannot read",
        ));
        c
    };
    for (args, says) in cases {
        let (code, _, err) = check(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} should say {says:?}: {err}");
    }
    // A mistyped subcommand is a usage error with a suggestion, not a path.
    let (code, out, err) = run_of(bin().args(["chekc", "testdata/logs"]));
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("did you mean `histinspect check`"), "{err}");
    let (code, _, err) = run_of(bin().args(["plto", "testdata/logs"]));
    assert_eq!(code, 2);
    assert!(err.contains("histinspect plot"), "{err}");
}

#[test]
fn check_fails_on_damage_only_when_asked_and_never_on_a_truncated_tail() {
    let damaged = zero_filled_gap(0);
    let root = damaged.path().to_str().unwrap();
    let (code, _, err) = check(&[root, "--tag", "^normal$"]);
    assert_eq!(code, 0, "damage alone does not fail by default: {err}");
    let (code, out, err) = check(&[root, "--tag", "^normal$", "--fail-on", "damage"]);
    assert_eq!(code, 1, "{err}");
    // The report says what fails, though no flag does.
    assert!(
        out.contains("\nfindings (2 failing, 0 allowed, 0 shown):\n  FAIL"),
        "{out}"
    );
    assert!(
        out.contains("damage        2 problems while reading (--fail-on damage)"),
        "{out}"
    );
    let failing_on_damage = |format| {
        let args = [
            root,
            "--tag",
            "^normal$",
            "--fail-on",
            "damage",
            "--format",
            format,
        ];
        check(&args).1
    };
    // And the JSON document, for scripts: no finding fails, the damage does.
    let json = failing_on_damage("json");
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["failing_damage"], 2, "{json}");
    assert_eq!(doc["exit_code"], 1);
    let (_, json, _) = check(&[root, "--tag", "^normal$", "--format", "json"]);
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (&doc["failing_damage"], &doc["exit_code"]),
        (&0.into(), &0.into())
    );
    // So does the Markdown summary, with the damage listed.
    let md = failing_on_damage("markdown");
    assert!(
        md.contains("❌ 2 failing findings in 1 histogram tag\n"),
        "{md}"
    );
    assert!(md.contains("### damage (`--fail-on damage`)"), "{md}");
    assert_eq!(md.matches(root).count(), 2, "{md}");
    // Damage counts in the run of its file.
    assert!(
        err.lines().last().unwrap().contains(" in 1 run: damage ×"),
        "{err}"
    );
    // A file still being written ends inside a record: not damage.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = fixture_bytes("tf2_summary");
    bytes.truncate(bytes.len() - 7);
    fs::write(dir.path().join("events.out.tfevents.x"), &bytes).unwrap();
    let root = dir.path().to_str().unwrap();
    let (code, _, err) = check(&[root, "--tag", "^normal$", "--fail-on", "damage"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn github_annotations_follow_the_workflow_command_syntax_and_escape_what_the_data_holds() {
    let dir = tempfile::tempdir().unwrap();
    // A frozen tag whose name carries a newline and a workflow command of its own.
    let evil = "w\n::error::pwned%";
    let events: Vec<Event> = (0..3)
        .map(|s| histo_event(s, evil, flat_histo(-1.0, 1.0, 100.0)))
        .collect();
    write_events(&dir.path().join("events.out.tfevents.1"), &events);
    let root = dir.path().to_str().unwrap();
    let summary = dir.path().join("summary.md");
    let (code, out, _) = run_of(
        bin()
            .args(["check", root])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary),
    );
    assert_eq!(code, 1);
    // In GitHub Actions `check` prints annotations by default, one line each.
    let syntax =
        regex::Regex::new(r"^::(error|warning|notice) title=[^:,\r\n]*::[^\r\n]*$").unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(syntax.is_match(l), "{l:?}");
    }
    let frozen = lines
        .iter()
        .find(|l| l.starts_with("::error title=histinspect%3A frozen::"))
        .expect("an error annotation for frozen");
    assert!(frozen.contains("at step 2"), "{frozen}");
    // The tag's newline cannot start a command; '%' is escaped.
    assert!(!out.contains("\n::error::pwned"), "{out}");
    assert!(frozen.contains("%25"), "{frozen}");
    // The step summary was appended, as Markdown tables.
    let md = fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("## histinspect check"), "{md}");
    assert!(
        md.contains("| flag | severity | tag | step | status | reading |"),
        "{md}"
    );
    assert!(md.contains("**failing**"), "{md}");
    assert!(!md.contains("\n::error"), "{md}");
    // --format markdown prints the same summary; --format github works outside Actions.
    let (_, md2, _) = check(&[root, "--format", "markdown"]);
    assert_eq!(md2, md);
    let (_, gh, _) = check(&[root, "--format", "github"]);
    assert_eq!(gh, out);
}

#[test]
fn settings_file_allows_findings_with_a_reason_and_reports_its_mistakes_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs();
    let logs = logs.to_str().unwrap();
    let toml = dir.path().join("histinspect.toml");
    fs::write(
        &toml,
        "fail-on = [\"error\"]\n\n[[allow]]\nrun = \"^tf1_user_story$\"\ntag = \"^layer[123]/\"\nflags = [\"frozen\"]\nreason = \"layers 1-3 frozen on purpose\"\n",
    )
    .unwrap();
    let in_dir = |args: &[&str]| {
        run_of(
            bin()
                .current_dir(dir.path())
                .arg("check")
                .args(args)
                .env_remove("GITHUB_ACTIONS"),
        )
    };
    let (code, out, err) = in_dir(&[logs, "--run", "^tf1_user_story$"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("allowed because: layers 1-3 frozen on purpose"),
        "{out}"
    );
    assert!(err.contains("3 findings allowed"), "{err}");
    // JSON marks them too.
    let (_, json, _) = in_dir(&[logs, "--run", "^tf1_user_story$", "--format", "json"]);
    let doc: Value = serde_json::from_str(&json).unwrap();
    let allowed: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["allowed"] == "layers 1-3 frozen on purpose")
        .collect();
    assert_eq!(allowed.len(), 3);
    assert!(allowed
        .iter()
        .all(|f| f["failing"] == false && f["flag"] == "frozen"));
    assert_eq!(doc["exit_code"], 0);
    // --no-config ignores it; the other runs still fail on their own frozen tags.
    let (code, _, _) = in_dir(&[logs, "--run", "^tf1_user_story$", "--no-config"]);
    assert_eq!(code, 1);
    let (code, _, _) = in_dir(&[logs]);
    assert_eq!(code, 1);
    // The same in pyproject.toml, found from a subdirectory.
    fs::remove_file(&toml).unwrap();
    fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"x\"\n\n[tool.histinspect]\nexclude-tag = [\"^layer[123]/weights$\"]\n",
    )
    .unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    let (code, _, err) = run_of(
        bin()
            .current_dir(dir.path().join("sub"))
            .args(["check", logs, "--run", "^tf1_user_story$"])
            .env_remove("GITHUB_ACTIONS"),
    );
    assert_eq!(code, 0, "{err}");
    // Mistakes are exit 2, naming the file and the line.
    fs::write(
        dir.path().join("bad.toml"),
        "fail-on = [\"error\"]\nexclude-tags = [\"x\"]\n",
    )
    .unwrap();
    let (code, _, err) = in_dir(&[logs, "--config", "bad.toml"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.toml:2:") && err.contains("exclude-tags"),
        "{err}"
    );
    fs::write(
        dir.path().join("bad.toml"),
        "[[allow]]\ntag = \"(\"\nreason = \"x\"\n",
    )
    .unwrap();
    let (code, _, err) = in_dir(&[logs, "--config", "bad.toml"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.toml:2:") && err.contains("regular expression"),
        "{err}"
    );
}

#[test]
fn text_from_the_logdir_never_reaches_the_terminal_raw() {
    // Tags and a run name carrying what an attacker would put there: clear screen, a window
    // title (OSC), a hidden OSC 8 hyperlink, CR and backspace to overwrite a flag, NUL, the
    // right-to-left override, and a newline that would start a GitHub workflow command.
    let evil = "a\u{1b}[2J\u{1b}]0;title\u{7}\u{1b}]8;;http://x\u{1b}\\link\r\u{8}\u{0}\u{202e}b\n::error::pwned";
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run\u{1b}[31m");
    fs::create_dir(&run).unwrap();
    let events: Vec<Event> = (0..3)
        .map(|s| histo_event(s, evil, flat_histo(-1.0, 1.0, 100.0)))
        .collect();
    write_events(&run.join("events.out.tfevents.1"), &events);
    // A histogram that cannot be read names its tag in the problem's message.
    let mut bad = flat_histo(-1.0, 1.0, 100.0);
    bad.bucket.pop();
    write_events(
        &run.join("events.out.tfevents.2"),
        &[histo_event(9, evil, bad)],
    );
    let root = dir.path().to_str().unwrap();
    let raw = |text: &str| {
        text.chars()
            .find(|&c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
    };
    for args in [
        vec![root, "--explain", "--color", "never"],
        vec![root, "--steps"],
        vec!["tags", root],
        vec!["plot", root],
        vec!["plot", root, "--over-steps", "3"],
        vec![root, "--format", "csv"],
        vec!["check", root, "--explain", "--color", "never"],
        vec!["check", root, "--format", "markdown"],
    ] {
        let (_, out, err) = run_of(bin().args(&args).env_remove("GITHUB_ACTIONS"));
        assert!(out.len() > 50, "{args:?}: {out}");
        assert_eq!(
            raw(&out),
            None,
            "{args:?} prints a raw control character:\n{out}"
        );
        assert_eq!(
            raw(&err),
            None,
            "{args:?} writes a raw control character to stderr:\n{err}"
        );
        assert!(
            !out.lines()
                .chain(err.lines())
                .any(|l| l.trim_start().starts_with("::error::")),
            "{args:?}: a line starts a workflow command"
        );
    }
    // JSON keeps the text exactly (escaped by JSON itself).
    let doc = json_of(&[root, "--format", "json"]);
    assert_eq!(doc["runs"][0]["tags"][0]["tag"], evil);
}

#[test]
fn the_explain_verdict_does_not_change_when_tag_narrows_the_table() {
    let root = logs();
    let root = root.to_str().unwrap();
    let verdict = "layer1, layer2 and layer3 never changed while layer4 did";
    let all = flat(&stdout_of(&[root, "--run", "tf1_user_story", "--explain"]));
    let narrowed = flat(&stdout_of(&[
        root,
        "--run",
        "tf1_user_story",
        "--tag",
        "layer4",
        "--explain",
    ]));
    assert!(all.contains(verdict), "{all}");
    assert!(narrowed.contains(verdict), "{narrowed}");
    assert!(
        narrowed.contains("the verdict reads all 12 tags of the run; the tag filters leave 3"),
        "{narrowed}"
    );
    // The details follow the filter.
    assert!(!narrowed.contains("layer1 —"), "{narrowed}");
    assert!(narrowed.contains("layer4 — learning"), "{narrowed}");
}

#[test]
fn version_names_the_commit_and_completions_and_man_page_are_generated() {
    let v = stdout_of(&["--version"]);
    assert!(
        v.starts_with("histinspect ") && v.contains("(commit "),
        "{v}"
    );
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("watch") && text.contains("--fail-on"),
            "{shell}"
        );
    }
    // The bash script parses.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("histinspect.bash");
    fs::write(&script, stdout_of(&["completions", "bash"])).unwrap();
    if let Ok(s) = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
    {
        assert!(s.success());
    }
    let man = stdout_of(&["man"]);
    assert!(
        man.contains(".TH histinspect 1") && man.contains(".SH NAME"),
        "{man}"
    );
    let (code, _, _) = run_of(bin().args(["completions", "nushell"]));
    assert_eq!(code, 2);
}

#[test]
fn per_step_rows_are_the_same_whether_or_not_the_run_is_gated() {
    // Without a gate `--steps` reads the logdir for an index of the points only (no change
    // between points, no flags); with one the whole report is built for the verdict. The
    // rows, what they say on standard error, and how they end must not differ.
    for root in ["testdata/logs", "testdata/corpus"] {
        for format in ["jsonl", "csv"] {
            let args = [root, "--steps", "--format", format, "--no-config"];
            let light = bin().args(args).output().unwrap();
            let gated = bin()
                .args(args)
                .args(["--fail-on", "any"])
                .output()
                .unwrap();
            assert!(!light.stdout.is_empty(), "{root} {format}");
            assert!(light.stdout == gated.stdout, "{root} {format}: rows differ");
            let err = String::from_utf8_lossy(&light.stderr);
            assert!(
                String::from_utf8_lossy(&gated.stderr).starts_with(&*err),
                "{root} {format}: {err}"
            );
        }
    }
}

#[test]
fn steps_as_binary_columns_are_for_per_step_rows_and_pipes_only() {
    // The layout is checked cell by cell against the CSV by the Python API's tests, which
    // read it (and its unit tests, `report::columns`); here: its frame, and that it says
    // what the CSV says on standard error.
    let cols = bin()
        .args(["testdata/corpus", "--steps", "--format", "columns"])
        .output()
        .unwrap();
    let csv = bin()
        .args(["testdata/corpus", "--steps", "--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(cols.status.code(), csv.status.code());
    assert!(cols.stdout.starts_with(b"HICOLS1\n") && cols.stdout.ends_with(b"E"));
    assert_eq!(cols.stderr, csv.stderr);
    let summary = bin()
        .args(["testdata/logs", "--format", "columns"])
        .output()
        .unwrap();
    assert_eq!(summary.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&summary.stderr).contains("columns"));
}

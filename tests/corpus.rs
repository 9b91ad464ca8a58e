//! Diagnosis against ground truth: the corpus of real training runs in `testdata/corpus/`
//! (tiny torch, tensorboardX, Keras and TF2 models, each with one injected fault or none; the
//! truth computed from the logged arrays by `testdata/gen/make_corpus.py`). Prints per-flag
//! precision and recall and asserts what the README promises:
//!
//! * no healthy control raises an error- or warning-severity flag, and `check` passes them;
//! * per flag, precision ≥ 0.95 and recall ≥ 0.9; 100 % for `frozen` and `nonfinite`;
//! * every faulty run fails `check --fail-on warning` with its fault's flag.
//!
//! Run with `--nocapture` to see the table.

use histinspect::analysis::{self, Options};
use histinspect::diagnose::{Flag, Severity};
use histinspect::gate::{self, FailOn, Gate};
use histinspect::source::LocalSource;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/corpus")
}

struct Truth {
    healthy: bool,
    /// tag → flags.
    tags: BTreeMap<String, BTreeSet<String>>,
    run_truth: BTreeSet<String>,
}

fn truths() -> BTreeMap<String, Truth> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(corpus()).unwrap() {
        let p = e.unwrap().path().join("truth.json");
        if !p.is_file() {
            continue;
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let set = |a: &Value| -> BTreeSet<String> {
            a.as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_string())
                .collect()
        };
        let tags = v["tags"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(t, tv)| (t.clone(), set(&tv["truth"])))
            .collect();
        out.insert(
            v["run"].as_str().unwrap().to_string(),
            Truth {
                healthy: v["healthy"].as_bool().unwrap(),
                tags,
                run_truth: set(&v["run_truth"]),
            },
        );
    }
    assert!(
        out.len() >= 25,
        "the corpus is missing ({} runs)",
        out.len()
    );
    out
}

/// The corpus directory a run of the report belongs to (`keras_mlp/train` → `keras_mlp`).
fn corpus_run(run: &str) -> &str {
    run.split('/').next().unwrap()
}

#[test]
fn diagnosis_matches_the_ground_truth_of_real_training_runs() {
    let truths = truths();
    let source = LocalSource::new([corpus()]);
    let report = analysis::analyze(&source, &Options::default());
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // (tp, fp, fn) per flag, over tags; `vanishing` over runs.
    let mut counts: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    let mut misses: Vec<String> = Vec::new();
    let mut seen_tags = 0;
    let mut run_flags: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for t in report.tags() {
        let run = corpus_run(t.run.as_str());
        let truth = &truths[run];
        let want = truth
            .tags
            .get(&t.tag)
            .unwrap_or_else(|| panic!("{run}/{}: not in truth.json", t.tag));
        seen_tags += 1;
        let mut got: BTreeSet<String> = t.flags.iter().map(|f| f.to_string()).collect();
        if got.remove("vanishing") {
            run_flags.entry(run).or_default().insert("vanishing".into());
        }
        // Exploding from the gradient depth profile is a run's truth (its first layer's
        // gradients against its last's), not a tag's growth over time.
        if t.tag.contains("grad")
            && !want.contains("exploding")
            && truth.run_truth.contains("exploding")
            && got.remove("exploding")
        {
            run_flags.entry(run).or_default().insert("exploding".into());
        }
        for f in want.union(&got) {
            let c = counts.entry(f.clone()).or_default();
            match (want.contains(f), got.contains(f)) {
                (true, true) => c[0] += 1,
                (false, true) => {
                    c[1] += 1;
                    misses.push(format!("false alarm {f}: {run} {}", t.tag));
                }
                _ => {
                    c[2] += 1;
                    misses.push(format!("missed {f}: {run} {}", t.tag));
                }
            }
        }
        if truth.healthy {
            for f in &t.flags {
                assert!(
                    f.severity() == Severity::Info,
                    "healthy control {run} raises {f} ({}) on {}",
                    f.severity(),
                    t.tag
                );
            }
        }
    }
    let expected_tags: usize = truths.values().map(|t| t.tags.len()).sum();
    assert_eq!(
        seen_tags, expected_tags,
        "every logged histogram tag is reported"
    );
    for (run, truth) in &truths {
        let got = run_flags.get(run.as_str()).cloned().unwrap_or_default();
        for f in truth.run_truth.union(&got) {
            let c = counts.entry(f.clone()).or_default();
            match (truth.run_truth.contains(f), got.contains(f)) {
                (true, true) => c[0] += 1,
                (false, true) => c[1] += 1,
                _ => c[2] += 1,
            }
        }
    }
    println!("flag            tp   fp   fn  precision  recall");
    let mut failures = Vec::new();
    for (flag, [tp, fp, fn_]) in &counts {
        let precision = *tp as f64 / (tp + fp).max(1) as f64;
        let recall = *tp as f64 / (tp + fn_).max(1) as f64;
        println!("{flag:<14} {tp:>4} {fp:>4} {fn_:>4}  {precision:>9.3}  {recall:>6.3}");
        let (p_min, r_min) = if flag == "frozen" || flag == "nonfinite" {
            (1.0, 1.0)
        } else {
            (0.95, 0.9)
        };
        if precision < p_min || recall < r_min {
            failures.push(format!(
                "{flag}: precision {precision:.3}, recall {recall:.3}"
            ));
        }
    }
    for m in &misses {
        println!("  {m}");
    }
    assert!(failures.is_empty(), "{failures:?}\n{misses:#?}");
    // Every flag the truth knows is measured (no flag left untested by the corpus).
    for f in [
        "frozen",
        "near_frozen",
        "nonfinite",
        "exploding",
        "collapsed",
        "dead",
        "possibly_dead",
        "saturated",
        "still_at_init",
        "small_updates",
        "vanishing",
    ] {
        assert!(
            counts.get(f).is_some_and(|c| c[0] > 0),
            "no true {f} in the corpus"
        );
    }
}

#[test]
fn check_passes_every_healthy_run_and_fails_every_faulty_one_with_its_flag() {
    let truths = truths();
    for (run, truth) in &truths {
        let dir = corpus().join(run);
        let source = LocalSource::new([dir]);
        let report = analysis::analyze(&source, &Options::default());
        let by_default = Gate {
            fail_on: FailOn::errors(),
            allow: Vec::new(),
            strict: true,
        };
        let verdict = gate::evaluate(&report, &by_default);
        let strict = Gate {
            fail_on: FailOn::severity(Severity::Warning),
            ..by_default.clone()
        };
        let strict_verdict = gate::evaluate(&report, &strict);
        if truth.healthy {
            assert_eq!(verdict.exit_code(), 0, "{run}");
            assert_eq!(strict_verdict.exit_code(), 0, "{run}");
        } else {
            assert_eq!(strict_verdict.exit_code(), 1, "{run}");
            let faults: BTreeSet<String> = truth
                .tags
                .values()
                .flatten()
                .chain(&truth.run_truth)
                .filter(|f| Flag::parse(f).is_some_and(|f| f.severity() <= Severity::Warning))
                .cloned()
                .collect();
            let failing: BTreeSet<String> = strict_verdict
                .failing()
                .map(|f| f.flag.to_string())
                .collect();
            assert!(
                faults.is_subset(&failing),
                "{run}: the faults {faults:?}, failing {failing:?}"
            );
        }
    }
}

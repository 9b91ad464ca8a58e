//! `histinspect diff` on the training-run corpus: a run against itself, and a healthy run
//! against its twin whose first layers were frozen (`requires_grad=False`), both ways.

use serde_json::Value;
use std::process::Command;

fn diff(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_histinspect"))
        .arg("diff")
        .args(args)
        .args(["--format", "json", "--no-config"])
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap(),
        doc,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn corpus(run: &str) -> String {
    format!("{}/testdata/corpus/{run}", env!("CARGO_MANIFEST_DIR"))
}

fn tag<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == name)
        .unwrap_or_else(|| panic!("no {name} in {doc}"))
}

#[test]
fn a_run_against_itself_differs_nowhere() {
    let a = corpus("torch_mlp_sgd");
    let (code, doc, err) = diff(&[&a, &a, "--fail-on", "any"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["schema_version"], 1);
    let tags = doc["tags"].as_array().unwrap();
    assert!(tags.len() >= 15);
    for t in tags {
        assert_eq!(t["in"], "both", "{t}");
        assert_eq!(t["new_flags"], serde_json::json!([]));
        assert_eq!(t["gone_flags"], serde_json::json!([]));
        assert_eq!(t["distance"], 0.0, "{t}");
        assert_eq!(t["step"], 140);
    }
}

#[test]
fn freezing_layers_is_a_regression_one_way_and_a_fix_the_other() {
    let (healthy, frozen) = (
        corpus("torch_mlp_sgd"),
        corpus("torch_frozen_requires_grad"),
    );
    let (code, doc, err) = diff(&[&healthy, &frozen, "--fail-on", "frozen"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("regressed"), "{err}");
    for name in ["fc1.weight", "fc2.weight", "fc1.bias", "fc2.bias"] {
        let t = tag(&doc, name);
        assert!(
            t["new_flags"]
                .as_array()
                .unwrap()
                .contains(&"frozen".into()),
            "{t}"
        );
        assert!(t["distance"].as_f64().unwrap() > 0.0, "{t}");
    }
    assert_eq!(tag(&doc, "fc3.weight")["new_flags"], serde_json::json!([]));
    // The frozen layers' gradients are logged only in A.
    assert_eq!(tag(&doc, "fc1.weight/grad")["in"], "a");
    // Regressions come first.
    assert!(!doc["tags"][0]["new_flags"].as_array().unwrap().is_empty());

    let (code, doc, err) = diff(&[&frozen, &healthy, "--fail-on", "frozen"]);
    assert_eq!(code, 0, "{err}");
    let t = tag(&doc, "fc1.weight");
    assert!(
        t["gone_flags"]
            .as_array()
            .unwrap()
            .contains(&"frozen".into()),
        "{t}"
    );
    assert_eq!(tag(&doc, "fc1.weight/grad")["in"], "b");
}

#[test]
fn logdirs_pair_runs_by_name_and_nothing_to_compare_is_exit_2() {
    let logs = format!("{}/testdata/logs", env!("CARGO_MANIFEST_DIR"));
    let (code, doc, err) = diff(&[&logs, &logs]);
    assert_eq!(code, 0, "{err}");
    let runs: std::collections::BTreeSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["run"].as_str().unwrap())
        .collect();
    assert!(runs.len() >= 6, "{runs:?}");
    assert!(doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["in"] == "both"));

    let a = corpus("torch_mlp_sgd");
    let (code, _, err) = diff(&[&a, &a, "--tag", "^nothing$"]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to compare"), "{err}");
    let (code, _, err) = diff(&[&a]);
    assert_eq!(code, 2);
    assert!(err.contains("two paths"), "{err}");
    let (code, _, _) = diff(&[&a, "/no/such/dir"]);
    assert_eq!(code, 2);
}

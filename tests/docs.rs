//! The README documents every name the tool prints: each flag, shape and problem kind (their
//! names come from one definition each, `histinspect::named_enum!`).

use histinspect::diagnose::{Flag, Thresholds};
use histinspect::event_file::ProblemKind;
use histinspect::shape::Shape;
use std::path::Path;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The README's table rows whose first cell is `` `name` ``.
fn has_row(readme: &str, name: &str) -> bool {
    readme
        .lines()
        .any(|l| l.starts_with(&format!("| `{name}` |")))
}

#[test]
fn every_flag_and_problem_kind_has_a_row_in_the_readme() {
    let readme = readme();
    let flags = Flag::ALL.iter().map(|f| f.as_str());
    let kinds = ProblemKind::ALL.iter().map(|k| k.as_str());
    let missing: Vec<&str> = flags
        .chain(kinds)
        .filter(|n| !has_row(&readme, n))
        .collect();
    assert!(missing.is_empty(), "README rows missing for {missing:?}");
}

#[test]
fn the_readme_gives_each_flag_its_severity() {
    let readme = readme();
    for f in Flag::ALL {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{f}` |")))
            .unwrap();
        assert!(
            row.trim_end().ends_with(&format!("| {} |", f.severity())),
            "{f}: {row}"
        );
    }
}

#[test]
fn every_shape_and_threshold_is_named_in_the_readme() {
    let readme = readme();
    let shapes = Shape::ALL.iter().map(|s| s.as_str());
    let missing: Vec<&str> = shapes
        .chain(Thresholds::NAMES)
        .filter(|n| !readme.contains(&format!("`{n}`")))
        .collect();
    assert!(missing.is_empty(), "README does not name {missing:?}");
}

#[test]
fn every_name_has_its_own_documentation() {
    for doc in Flag::ALL
        .iter()
        .map(|f| f.doc())
        .chain(Shape::ALL.iter().map(|s| s.doc()))
        .chain(ProblemKind::ALL.iter().map(|k| k.doc()))
    {
        assert!(doc.trim().len() >= 8, "{doc:?}");
    }
}

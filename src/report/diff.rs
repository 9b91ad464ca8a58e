//! `histinspect diff`: a table with regressions first, the JSON document (`schema_version`,
//! `a`, `b`, `tags`), and with `--explain` the comparison in plain words.

use super::clean;
use super::json::{ProblemJson, SCHEMA_VERSION};
use super::table::{new_table, num, problems, Style};
use crate::diagnose::layer_of;
use crate::diagnose::Flag;
use crate::diff::{Diff, Present, TagDiff};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

fn names(flags: &[Flag]) -> Vec<&'static str> {
    flags.iter().map(|f| f.as_str()).collect()
}

fn dist(t: &TagDiff) -> String {
    t.distance.map_or("-".into(), num)
}

/// The table: one row per tag, regressions first, then by distance: B's flags and what
/// changed (`+frozen` gained, `-frozen` lost; `·` where a side lacks the tag); a run column
/// only when several runs are compared.
pub fn table(d: &Diff, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let several = d.runs_a > 1 || d.runs_b > 1;
    let mut t = new_table(style);
    let mut header = vec![
        "tag",
        "in",
        "B flags",
        "gained / lost",
        "distance",
        "shape A → B",
    ];
    if several {
        header.insert(0, "run");
    }
    t.set_header(header);
    for x in &d.tags {
        let flags = |s: &Option<crate::diff::Side>| match s {
            None => "·".to_string(),
            Some(s) if s.flags.is_empty() => String::new(),
            Some(s) => names(&s.flags).join(" "),
        };
        let shape = |s: &Option<crate::diff::Side>| {
            s.as_ref()
                .map_or("·".to_string(), |s| s.last_shape.as_str().to_string())
        };
        let changes: Vec<String> = x
            .new_flags
            .iter()
            .map(|f| format!("+{}", f.as_str()))
            .chain(x.gone_flags.iter().map(|f| format!("-{}", f.as_str())))
            .collect();
        let mut row = vec![
            clean(&x.tag).into_owned(),
            x.present.as_str().to_string(),
            flags(&x.b),
            changes.join(" "),
            dist(x),
            format!("{} → {}", shape(&x.a), shape(&x.b)),
        ];
        if several {
            row.insert(0, clean(&x.run).into_owned());
        }
        t.add_row(row);
    }
    writeln!(out, "{t}")?;
    problems(&d.problems, out)
}

#[derive(Serialize)]
struct SideJson<'a> {
    run: &'a str,
    flags: Vec<&'static str>,
    last_shape: &'static str,
    /// First → last point, W1 over the first point's σ; null when not finite.
    change: Option<f64>,
    first_step: i64,
    last_step: i64,
}

#[derive(Serialize)]
struct TagJson<'a> {
    run: &'a str,
    tag: &'a str,
    #[serde(rename = "in")]
    present: &'static str,
    a_flags: Vec<&'static str>,
    b_flags: Vec<&'static str>,
    new_flags: Vec<&'static str>,
    gone_flags: Vec<&'static str>,
    /// W1 / A's σ at `step`.
    distance: Option<f64>,
    step: Option<i64>,
    a: Option<SideJson<'a>>,
    b: Option<SideJson<'a>>,
}

#[derive(Serialize)]
struct DiffDoc<'a> {
    schema_version: u32,
    a: &'a str,
    b: &'a str,
    tags: Vec<TagJson<'a>>,
    problems: Vec<ProblemJson>,
}

/// The JSON document; `a` and `b` name the two sides as given.
pub fn json(d: &Diff, a: &str, b: &str, out: &mut dyn Write) -> io::Result<()> {
    fn side(s: &Option<crate::diff::Side>) -> Option<SideJson<'_>> {
        s.as_ref().map(|s| SideJson {
            run: &s.run,
            flags: names(&s.flags),
            last_shape: s.last_shape.as_str(),
            change: Some(s.change).filter(|c| c.is_finite()),
            first_step: s.first_step,
            last_step: s.last_step,
        })
    }
    let doc = DiffDoc {
        schema_version: SCHEMA_VERSION,
        a,
        b,
        tags: d
            .tags
            .iter()
            .map(|t| TagJson {
                run: &t.run,
                tag: &t.tag,
                present: t.present.as_str(),
                a_flags: t.a.as_ref().map_or(Vec::new(), |s| names(&s.flags)),
                b_flags: t.b.as_ref().map_or(Vec::new(), |s| names(&s.flags)),
                new_flags: names(&t.new_flags),
                gone_flags: names(&t.gone_flags),
                distance: t.distance.filter(|x| x.is_finite()),
                step: t.step,
                a: side(&t.a),
                b: side(&t.b),
            })
            .collect(),
        problems: d.problems.iter().map(ProblemJson::from).collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// Layers named once: `layer1, layer2, layer3` from their tags.
fn layers(tags: &[&str]) -> String {
    let mut v: Vec<String> = tags
        .iter()
        .map(|t| clean(layer_of(t)).into_owned())
        .collect();
    v.sort_by(|a, b| crate::model::natural_cmp(a, b));
    v.dedup();
    v.join(", ")
}

/// The comparison in plain words: what B gained, what it lost, what moved most.
pub fn explain(d: &Diff, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "What changed from A to B:")?;
    let mut gained: BTreeMap<(&str, Flag), Vec<&str>> = BTreeMap::new();
    let mut lost: BTreeMap<(&str, Flag), Vec<&str>> = BTreeMap::new();
    for t in &d.tags {
        for &f in &t.new_flags {
            gained.entry((t.run.as_str(), f)).or_default().push(&t.tag);
        }
        for &f in &t.gone_flags {
            lost.entry((t.run.as_str(), f)).or_default().push(&t.tag);
        }
    }
    let run = |r: &str| {
        if d.runs_a == 1 && d.runs_b == 1 {
            String::new()
        } else {
            format!("run {}: ", clean(r))
        }
    };
    for ((r, f), tags) in &gained {
        let what = match f {
            Flag::Frozen => "learn in A and are frozen in B".to_string(),
            Flag::NearFrozen => "learn in A and barely move in B".to_string(),
            f => format!("are {} in B and were not in A", f.as_str()),
        };
        writeln!(out, "  {}{} {what} (regression)", run(r), layers(tags))?;
    }
    for ((r, f), tags) in &lost {
        writeln!(
            out,
            "  {}{} were {} in A and are not in B",
            run(r),
            layers(tags),
            f.as_str()
        )?;
    }
    if gained.is_empty() && lost.is_empty() {
        writeln!(out, "  no flag appeared or went away")?;
    }
    let only = |p: Present| d.tags.iter().filter(|t| t.present == p).count();
    if only(Present::A) + only(Present::B) > 0 {
        writeln!(
            out,
            "  {} tag(s) only in A, {} only in B (for example gradients of layers that no \
             longer train)",
            only(Present::A),
            only(Present::B)
        )?;
    }
    let far = d
        .tags
        .iter()
        .filter(|t| t.distance.is_some_and(|x| x.is_finite()))
        .max_by(|x, y| x.distance.unwrap().total_cmp(&y.distance.unwrap()));
    match far {
        Some(t) if t.distance.unwrap() > 0.0 => writeln!(
            out,
            "  furthest apart: {}{} at step {}: distance {} (W1 in units of A's σ, see the README)",
            run(&t.run),
            clean(&t.tag),
            t.step.unwrap_or_default(),
            num(t.distance.unwrap())
        ),
        _ => writeln!(
            out,
            "  every tag both logged is identical at the last common step"
        ),
    }
}

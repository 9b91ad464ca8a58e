//! JSON wire types and renderers. The schema is versioned (`schema_version`) and documented in
//! the README; fields are only ever added within a version.

use crate::event_file::Problem;
use crate::inventory::Inventory;
use serde::Serialize;
use std::io::{self, Write};

/// Version of every JSON document and JSON Lines object histinspect writes.
pub const SCHEMA_VERSION: u32 = 1;

/// A problem as scripts see it.
#[derive(Debug, Serialize)]
pub struct ProblemJson {
    pub path: String,
    /// Byte offset in the file, `null` when the problem is not at an offset.
    pub offset: Option<u64>,
    pub kind: &'static str,
    /// False for notices about normal conditions (truncated tail, restart, empty file).
    pub damage: bool,
    pub message: String,
}

impl From<&Problem> for ProblemJson {
    fn from(p: &Problem) -> Self {
        ProblemJson {
            path: p.path.to_string(),
            offset: p.offset,
            kind: p.kind.as_str(),
            damage: p.kind.is_damage(),
            message: p.message.clone(),
        }
    }
}

#[derive(Serialize)]
struct InventoryDoc {
    schema_version: u32,
    runs: Vec<InventoryRun>,
    problems: Vec<ProblemJson>,
}

#[derive(Serialize)]
struct InventoryRun {
    run: String,
    files: Vec<InventoryFile>,
    tags: Vec<InventoryTag>,
}

#[derive(Serialize)]
struct InventoryFile {
    path: String,
    records: u64,
    bytes: u64,
    histograms: u64,
    scalars: u64,
    other_values: u64,
}

#[derive(Serialize)]
struct InventoryTag {
    tag: String,
    form: &'static str,
    points: usize,
    first_step: Option<i64>,
    last_step: Option<i64>,
}

/// `histinspect tags --format json`: one document.
pub fn inventory(inv: &Inventory, out: &mut dyn Write) -> io::Result<()> {
    let doc = InventoryDoc {
        schema_version: SCHEMA_VERSION,
        runs: inv
            .runs
            .iter()
            .map(|r| InventoryRun {
                run: r.run.to_string(),
                files: r
                    .files
                    .iter()
                    .map(|f| InventoryFile {
                        path: f.path.to_string(),
                        records: f.counts.records,
                        bytes: f.counts.bytes,
                        histograms: f.counts.histograms,
                        scalars: f.counts.scalars,
                        other_values: f.counts.other_values,
                    })
                    .collect(),
                tags: r
                    .tags
                    .iter()
                    .map(|(tag, t)| InventoryTag {
                        tag: tag.clone(),
                        form: t.form.as_str(),
                        points: t.steps.len(),
                        first_step: t.steps.first().copied(),
                        last_step: t.steps.last().copied(),
                    })
                    .collect(),
            })
            .collect(),
        problems: inv.problems.iter().map(ProblemJson::from).collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

// ---- the summary report ---------------------------------------------------------------------

use crate::model::{PointBuckets, Report, StepRow, TagReport};
use crate::point::PointSummary;
use crate::stats::TB_BASIS_POINTS;

/// One point's statistics on the wire, borrowed from the point (a per-step export writes a
/// few hundred thousand of them: nothing is copied to write one).
#[derive(Debug, Serialize)]
pub struct PointJson<'a> {
    pub step: i64,
    pub wall_time: f64,
    pub count: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub std: f64,
    /// True when mean and std are exact (legacy protos), false when estimated from buckets.
    pub exact_moments: bool,
    pub median: f64,
    pub iqr: f64,
    pub mode: f64,
    /// Locations of the prominent peaks, ascending.
    pub peaks: &'a [f64],
    pub zero_fraction: f64,
    /// The share of exact zeros as far as the buckets tell: `share` (estimated where not
    /// `exact`) and `at_most`, what the buckets prove.
    pub zeros: ZerosJson,
    /// TensorBoard's Distributions values: `[basis_point, value]` pairs.
    pub percentiles: PercentilesJson<'a>,
    pub shape: &'static str,
    pub shape_confidence: f64,
    /// The shape's reason, written as it is formatted.
    #[serde(serialize_with = "display_str")]
    pub shape_why: &'a crate::shape::Why,
}

/// A point's percentiles as `[basis_point, value]` pairs, at [`TB_BASIS_POINTS`].
#[derive(Debug)]
pub struct PercentilesJson<'a>(pub &'a [f64; 9]);

impl Serialize for PercentilesJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(TB_BASIS_POINTS.iter().copied().zip(self.0.iter().copied()))
    }
}

/// A `Display` value as a JSON string: formatted into a buffer kept per thread, then written
/// in one piece (formatted straight into the output, each of its fragments would go through
/// the escaping writer on its own, at about twice the cost for a shape's reason).
fn display_str<S: serde::Serializer, D: std::fmt::Display>(
    v: &&D,
    s: S,
) -> Result<S::Ok, S::Error> {
    use std::fmt::Write;
    thread_local! {
        static TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    TEXT.with(|text| match text.try_borrow_mut() {
        Ok(mut text) => {
            text.clear();
            write!(text, "{v}").map_err(serde::ser::Error::custom)?;
            s.serialize_str(&text)
        }
        // Only a `Display` that itself serializes with this would get here.
        Err(_) => s.collect_str(*v),
    })
}

#[derive(Debug, Serialize)]
pub struct ZerosJson {
    pub share: f64,
    pub exact: bool,
    pub at_most: f64,
}

impl<'a> From<&'a PointSummary> for PointJson<'a> {
    fn from(p: &'a PointSummary) -> Self {
        let s = &p.stats;
        PointJson {
            step: p.step,
            wall_time: p.wall_time,
            count: s.count,
            min: s.min,
            max: s.max,
            mean: s.mean,
            std: s.std,
            exact_moments: s.exact_moments,
            median: s.median,
            iqr: s.iqr,
            mode: s.mode,
            peaks: &p.shape.peaks,
            zero_fraction: s.zero_fraction,
            zeros: ZerosJson {
                share: p.zeros.share,
                exact: p.zeros.exact,
                at_most: p.zeros.at_most,
            },
            percentiles: PercentilesJson(&s.percentiles),
            shape: p.shape.shape.as_str(),
            shape_confidence: p.shape.confidence,
            shape_why: &p.shape.why,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ChangeJson {
    /// Wasserstein-1 distance first→last over the first point's std.
    pub w1_rel: f64,
    /// KS distance first→last.
    pub ks: f64,
    pub mean_rel: f64,
    pub std_rel: f64,
    /// First and last point bitwise identical.
    pub identical: bool,
    /// Every consecutive pair bitwise identical.
    pub all_steps_identical: bool,
    /// The consecutive pair with the largest W1/σ: its later step and W1/σ.
    pub largest_step: Option<LargestStepJson>,
    /// It changed, then stayed bit-identical from this step on (`frozen` part way); or null.
    pub froze_at: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct LargestStepJson {
    pub step: i64,
    pub w1_rel: f64,
}

/// A tag object: the element of `runs[].tags` in `--format json`, and one line of `jsonl`.
#[derive(Debug, Serialize)]
pub struct InitJson {
    pub family: &'static str,
    pub fan_in: f64,
}

/// For a parameter of a run that logs a learning rate: how large its updates can have been.
#[derive(Debug, Serialize)]
pub struct UpdatesJson {
    /// The largest learning rate logged.
    pub lr_max: f64,
    /// Upper bound on the rms of one update over the weights' rms, for any common optimizer.
    pub bound: f64,
    /// lr · rms(gradient) / rms(weights) at the last point: plain SGD's update/weight ratio.
    pub sgd_ratio: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct TagJson<'a> {
    pub run: &'a str,
    pub tag: &'a str,
    pub form: &'static str,
    /// What the tag holds, from its name: weight, bias, gradient, activation or other.
    pub role: &'static str,
    /// True when the tag's values gave its role (a ReLU's output under a name that says
    /// nothing), not its name.
    pub role_from_data: bool,
    /// The layer it belongs to ([`crate::diagnose::layer_of`]).
    pub layer: String,
    /// For a `still_at_init` parameter of a layer that logs both a weight and a bias: the
    /// random initializer its values match, and the layer's fan-in.
    pub init: Option<InitJson>,
    /// For a parameter, where the run logs a learning rate (`small_updates`).
    pub updates: Option<UpdatesJson>,
    pub points: usize,
    pub first_step: i64,
    pub last_step: i64,
    /// Shape at the last point.
    pub shape: &'static str,
    pub flags: Vec<&'static str>,
    pub first: PointJson<'a>,
    pub last: PointJson<'a>,
    pub change: ChangeJson,
}

impl<'a> From<&'a TagReport> for TagJson<'a> {
    fn from(t: &'a TagReport) -> Self {
        TagJson {
            run: t.run.as_str(),
            tag: &t.tag,
            form: t.form.as_str(),
            role: t.role.as_str(),
            role_from_data: t.role_from_data,
            layer: crate::diagnose::layer_of(&t.tag).to_string(),
            init: t.init.map(|(family, fan_in)| InitJson {
                family: family.as_str(),
                fan_in,
            }),
            updates: t.updates.map(|u| UpdatesJson {
                lr_max: u.lr_max,
                bound: u.bound,
                sgd_ratio: u.sgd_ratio,
            }),
            points: t.points,
            first_step: t.first.step,
            last_step: t.last.step,
            shape: t.last.shape.shape.as_str(),
            flags: t.flags.iter().map(|f| f.as_str()).collect(),
            first: PointJson::from(&t.first),
            last: PointJson::from(&t.last),
            change: ChangeJson {
                w1_rel: t.change.w1_rel,
                ks: t.change.ks,
                mean_rel: t.change.mean_rel,
                std_rel: t.change.std_rel,
                identical: t.change.identical,
                all_steps_identical: t.all_identical,
                largest_step: t.largest_step.map(|s| LargestStepJson {
                    step: s.step,
                    w1_rel: s.w1_rel,
                }),
                froze_at: t.froze_at,
            },
        }
    }
}

#[derive(Serialize)]
struct CheckDoc<'a> {
    #[serde(flatten)]
    report: ReportDoc<'a>,
    findings: Vec<FindingJson<'a>>,
    /// What the gate fails on: flag names, and `damage`.
    fail_on: Vec<&'static str>,
    /// Damage problems (in `problems`) that fail the check: with `--fail-on damage`, every
    /// one; else 0. With the failing findings, what makes `exit_code` 1.
    failing_damage: usize,
    exit_code: u8,
}

/// One finding of `histinspect check --format json`.
#[derive(Serialize)]
struct FindingJson<'a> {
    run: String,
    tag: &'a str,
    flag: &'static str,
    severity: &'static str,
    step: i64,
    failing: bool,
    /// The reason of the `[[allow]]` entry that allows it, or null.
    allowed: Option<&'a str>,
    message: String,
}

/// `histinspect check --format json`: the report document plus `findings`, `fail_on`,
/// `failing_damage` and `exit_code`.
pub fn check(r: &Report, v: &crate::gate::Verdict<'_>, out: &mut dyn Write) -> io::Result<()> {
    let mut fail_on: Vec<&'static str> = v.fail_on.flags.iter().map(|f| f.as_str()).collect();
    if v.fail_on.damage {
        fail_on.push("damage");
    }
    let doc = CheckDoc {
        report: report_doc(r),
        findings: v
            .findings
            .iter()
            .map(|f| FindingJson {
                run: f.tag.run.to_string(),
                tag: &f.tag.tag,
                flag: f.flag.as_str(),
                severity: f.flag.severity().as_str(),
                step: f.tag.last.step,
                failing: f.failing,
                allowed: f.allowed,
                message: super::explain::finding_text(f.flag, f.tag),
            })
            .collect(),
        fail_on,
        failing_damage: v.failing_damage().len(),
        exit_code: v.exit_code(),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

#[derive(Serialize)]
struct ReportDoc<'a> {
    schema_version: u32,
    runs: Vec<RunJson<'a>>,
    problems: Vec<ProblemJson>,
    summary: SummaryJson,
}

#[derive(Serialize)]
struct RunJson<'a> {
    run: &'a str,
    /// The learning-rate scalars the run logs, summarised.
    learning_rate: Option<LearningRateJson>,
    tags: Vec<TagJson<'a>>,
    /// What the run's histograms cannot show (no gradients logged, …), one sentence each.
    not_assessable: Vec<&'static str>,
}

#[derive(Serialize)]
struct LearningRateJson {
    values: u64,
    max: f64,
    max_step: i64,
    last: f64,
    last_step: i64,
}

#[derive(Serialize)]
struct SummaryJson {
    runs: usize,
    tags: usize,
    points: usize,
    problems: usize,
    flags: usize,
}

/// `--format json`: one document.
pub fn report(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &report_doc(r))?;
    writeln!(out)
}

fn report_doc(r: &Report) -> ReportDoc<'_> {
    ReportDoc {
        schema_version: SCHEMA_VERSION,
        runs: r
            .runs
            .iter()
            .map(|run| RunJson {
                run: run.run.as_str(),
                learning_rate: run.learning_rate.map(|l| LearningRateJson {
                    values: l.values,
                    max: l.max,
                    max_step: l.max_step,
                    last: l.last,
                    last_step: l.last_step,
                }),
                tags: run.tags.iter().map(TagJson::from).collect(),
                not_assessable: if run.tags.is_empty() {
                    Vec::new()
                } else {
                    run.logged.not_assessable()
                },
            })
            .collect(),
        problems: r.problems.iter().map(ProblemJson::from).collect(),
        summary: SummaryJson {
            runs: r.runs.len(),
            tags: r.tags().count(),
            points: r.total_points(),
            problems: r.problems.len(),
            flags: r.total_flags(),
        },
    }
}

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    schema_version: u32,
    #[serde(flatten)]
    item: &'a T,
}

/// Writes one JSON Lines object carrying `schema_version`.
pub fn line<T: Serialize>(item: &T, out: &mut dyn Write) -> io::Result<()> {
    // Serialised into memory first, then written whole: serde_json writes a line in a
    // hundred small pieces, each a call through `out`'s vtable otherwise.
    let mut buf = Vec::new();
    line_into(item, &mut buf)?;
    out.write_all(&buf)
}

/// [`line`] appended to `buf`.
fn line_into<T: Serialize>(item: &T, buf: &mut Vec<u8>) -> io::Result<()> {
    serde_json::to_writer(
        &mut *buf,
        &Line {
            schema_version: SCHEMA_VERSION,
            item,
        },
    )?;
    buf.push(b'\n');
    Ok(())
}

/// `--format jsonl`: one tag object per line, then one `{"problem": …}` object per problem.
pub fn report_lines(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    for t in r.tags() {
        line(&TagJson::from(t), out)?;
    }
    problem_lines(&r.problems, out)
}

/// One `{"schema_version": 1, "problem": …}` line per problem.
pub fn problem_lines(problems: &[Problem], out: &mut dyn Write) -> io::Result<()> {
    #[derive(Serialize)]
    struct P<'a> {
        problem: &'a ProblemJson,
    }
    for p in problems {
        line(
            &P {
                problem: &ProblemJson::from(p),
            },
            out,
        )?;
    }
    Ok(())
}

/// `histinspect tags --format jsonl`: one object per (run, tag), then the problems.
pub fn inventory_lines(inv: &Inventory, out: &mut dyn Write) -> io::Result<()> {
    #[derive(Serialize)]
    struct TagLine<'a> {
        run: String,
        #[serde(flatten)]
        tag: &'a InventoryTag,
    }
    for r in &inv.runs {
        for (tag, t) in &r.tags {
            let tag = InventoryTag {
                tag: tag.clone(),
                form: t.form.as_str(),
                points: t.steps.len(),
                first_step: t.steps.first().copied(),
                last_step: t.steps.last().copied(),
            };
            line(
                &TagLine {
                    run: r.run.to_string(),
                    tag: &tag,
                },
                out,
            )?;
        }
    }
    problem_lines(&inv.problems, out)
}

/// One point of `--steps` output.
#[derive(Debug, Serialize)]
pub struct StepJson<'a> {
    pub run: &'a str,
    pub tag: &'a str,
    pub form: &'static str,
    #[serde(flatten)]
    pub point: PointJson<'a>,
    /// Change from the previous point of the tag (`null` for the first).
    pub change_prev: Option<StepChangeJson>,
}

#[derive(Debug, Serialize)]
pub struct StepChangeJson {
    pub w1_rel: f64,
    pub ks: f64,
    pub identical: bool,
}

impl<'a> From<&'a StepRow> for StepJson<'a> {
    fn from(r: &'a StepRow) -> Self {
        StepJson {
            run: r.run.as_str(),
            tag: &r.tag,
            form: r.form.as_str(),
            point: PointJson::from(&r.point),
            change_prev: r.change_prev.map(|c| StepChangeJson {
                w1_rel: c.w1_rel,
                ks: c.ks,
                identical: c.identical,
            }),
        }
    }
}

/// `--steps --format json`, streamed: the document's opening and its rows. The rows are
/// written as they come, so the document never has to fit in memory;
/// [`steps_document_end`] closes it.
pub fn steps_document(
    rows: &mut dyn Iterator<Item = StepRow>,
    out: &mut dyn Write,
) -> io::Result<()> {
    stream_document(
        "steps",
        rows,
        |r, out| serde_json::to_writer(out, &StepJson::from(r)),
        out,
    )
}

/// Opens a document `{"schema_version": 1, "KEY": [` and writes `items` into it one by one;
/// [`steps_document_end`] closes it.
fn stream_document<T>(
    key: &str,
    items: impl Iterator<Item = T>,
    write_one: impl Fn(&T, &mut dyn Write) -> serde_json::Result<()>,
    out: &mut dyn Write,
) -> io::Result<()> {
    write!(out, "{{\"schema_version\": {SCHEMA_VERSION}, \"{key}\": [")?;
    for (i, item) in items.enumerate() {
        if i > 0 {
            write!(out, ",")?;
        }
        writeln!(out)?;
        write_one(&item, &mut *out)?;
    }
    Ok(())
}

/// Closes the document of [`steps_document`] or [`buckets_document`] with its problems.
pub fn steps_document_end(problems: &[Problem], out: &mut dyn Write) -> io::Result<()> {
    let problems: Vec<ProblemJson> = problems.iter().map(ProblemJson::from).collect();
    write!(out, "\n], \"problems\": ")?;
    serde_json::to_writer(&mut *out, &problems)?;
    writeln!(out, "}}")
}

/// `--steps --format jsonl`: one row object per line (the problems follow).
pub fn steps_lines(rows: &mut dyn Iterator<Item = StepRow>, out: &mut dyn Write) -> io::Result<()> {
    super::write_in_parallel(rows, out, |row, buf| line_into(&StepJson::from(row), buf))
}

// ---- histinspect buckets ---------------------------------------------------------------------

/// The buckets of one point: `[left, right, count]` triples in ascending order.
#[derive(Debug, Serialize)]
pub struct PointBucketsJson {
    pub run: String,
    pub tag: String,
    pub form: &'static str,
    pub step: i64,
    pub wall_time: f64,
    pub buckets: Vec<[f64; 3]>,
}

impl From<PointBuckets> for PointBucketsJson {
    fn from(p: PointBuckets) -> Self {
        PointBucketsJson {
            run: p.run.to_string(),
            tag: p.tag,
            form: p.form.as_str(),
            step: p.step,
            wall_time: p.wall_time,
            buckets: p
                .buckets
                .iter()
                .map(|b| [b.left, b.right, b.count])
                .collect(),
        }
    }
}

/// `histinspect buckets --format json`, streamed: `{"schema_version", "points": [...]`, closed
/// by [`steps_document_end`] with the problems.
pub fn buckets_document(
    points: &mut dyn Iterator<Item = PointBuckets>,
    out: &mut dyn Write,
) -> io::Result<()> {
    stream_document(
        "points",
        points.map(PointBucketsJson::from),
        |p, out| serde_json::to_writer(out, p),
        out,
    )
}

/// `histinspect buckets --format jsonl`: one point object per line (the problems follow).
pub fn buckets_lines(
    points: &mut dyn Iterator<Item = PointBuckets>,
    out: &mut dyn Write,
) -> io::Result<()> {
    for p in points {
        line(&PointBucketsJson::from(p), out)?;
    }
    Ok(())
}

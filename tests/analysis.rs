//! The library seam: `analyze()` over an in-memory source, and the loader following files that
//! grow — record by record, a record split across two writes, a file added later, a restarted
//! job — seeing every record exactly once.

use histinspect::analysis::{self, Options};
use histinspect::event_file::{HistogramPoint, Problem, ProblemKind};
use histinspect::logdir::{AsRead, Reread, RunLoader, RunSink};
use histinspect::source::{FileId, LocalSource, MemorySource, Run, Source};
use histinspect::tf_record::{encode_record, Item, RecordReader};
use std::fs;
use std::path::{Path, PathBuf};

fn logs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/logs")
}

/// Every event file under testdata/logs, keyed by its path relative to it.
fn fixture_files() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![logs()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let key = p
                    .strip_prefix(logs())
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                out.push((key, fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The bytes of the first fixture file of `run`.
fn fixture(run: &str) -> Vec<u8> {
    fixture_files()
        .into_iter()
        .find(|(k, _)| k.starts_with(&format!("{run}/")))
        .unwrap()
        .1
}

#[test]
fn analysis_over_an_in_memory_source_equals_the_analysis_of_the_same_files_on_disk() {
    let memory = MemorySource::new();
    for (key, bytes) in fixture_files() {
        memory.insert(&key, bytes);
    }
    let disk = LocalSource::new([logs()]);
    let opts = Options::default();
    let (a, b) = (
        analysis::analyze(&memory, &opts),
        analysis::analyze(&disk, &opts),
    );
    assert!(a.problems.is_empty(), "{:?}", a.problems);
    assert_eq!(a.runs.len(), 7);
    assert!(a.total_points() > 100);
    assert!(a.total_flags() > 0, "the fixtures hold frozen layers");
    for (ra, rb) in a.runs.iter().zip(&b.runs) {
        assert_eq!(ra.run, rb.run);
        // Tags, statistics, shapes, flags, digests: all equal; only the file ids differ.
        // (Compared as printed: some statistics are NaN, which `==` never equals.)
        assert_eq!(
            format!("{:?}", ra.tags),
            format!("{:?}", rb.tags),
            "run {}",
            ra.run
        );
        let counts = |r: &histinspect::model::RunReport| {
            r.files.iter().map(|f| f.counts).collect::<Vec<_>>()
        };
        assert_eq!(counts(ra), counts(rb));
    }
    // Per-step rows are read again through the same source.
    let rows: Vec<_> = analysis::steps(&a, &memory).collect();
    assert_eq!(rows.len(), a.total_points());
    assert!(rows.iter().all(Result::is_ok));
}

/// Keeps every point as read and every rewind.
#[derive(Default)]
struct Recorder {
    points: Vec<(usize, String, i64, u64)>,
    rewinds: Vec<(String, i64)>,
}

impl RunSink for Recorder {
    type Prepare = AsRead;
    fn preparer(&self) -> AsRead {
        AsRead
    }
    fn rewind(&mut self, tag: &str, step: i64, _: &dyn Reread) {
        self.rewinds.push((tag.to_string(), step));
        self.points.retain(|p| p.1 != tag || p.2 < step);
    }
    fn point(&mut self, file: usize, p: HistogramPoint) {
        self.points.push((file, p.tag, p.step, p.offset));
    }
}

/// The records of an event file, framed again one by one.
fn framed_records(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut r = RecordReader::new(bytes);
    let mut out = Vec::new();
    while let Some(Item::Record { data, .. }) = r.next() {
        let mut one = Vec::new();
        encode_record(data, &mut one);
        out.push(one);
    }
    out
}

fn loader_for(source: &MemorySource) -> RunLoader<Recorder> {
    let run = source.discover().runs.remove(0);
    RunLoader::new(&run, Recorder::default())
}

fn poll(l: &mut RunLoader<Recorder>, source: &dyn Source) -> Vec<Problem> {
    l.poll(source, false, &|_| {});
    l.take_problems()
}

#[test]
fn a_file_growing_record_by_record_is_read_once_including_a_record_split_in_two_writes() {
    let bytes = fixture("tf2_summary");
    let records = framed_records(&bytes);
    assert!(records.len() > 20);
    let name = "run/events.out.tfevents.1";

    // What one read of the whole file gives.
    let whole = MemorySource::new();
    whole.insert(name, bytes.clone());
    let mut once = loader_for(&whole);
    assert!(poll(&mut once, &whole).is_empty());
    let want = once.sink().points.clone();
    assert!(want.len() > 20);

    // The same file written a record at a time, the 8th record in two pieces with a poll
    // between them, and a poll after every write.
    let growing = MemorySource::new();
    growing.append(name, &records[0]);
    let mut l = loader_for(&growing);
    let mut notices = Vec::new();
    notices.extend(poll(&mut l, &growing));
    for (i, r) in records.iter().enumerate().skip(1) {
        if i == 7 {
            let (a, b) = r.split_at(r.len() / 2);
            growing.append(name, a);
            let before = l.sink().points.len();
            notices.extend(poll(&mut l, &growing));
            assert_eq!(
                l.sink().points.len(),
                before,
                "half a record yields no point"
            );
            growing.append(name, b);
        } else {
            growing.append(name, r);
        }
        notices.extend(poll(&mut l, &growing));
        // Nothing new: a poll reads nothing and reports nothing.
        assert!(poll(&mut l, &growing).is_empty());
    }
    assert_eq!(
        l.sink().points,
        want,
        "every record seen exactly once, in order"
    );
    // The pause inside record 8 is a notice, once; never damage.
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].kind, ProblemKind::Truncated);
    assert!(!notices[0].kind.is_damage());
    assert_eq!(l.files()[0].counts, once.files()[0].counts);
}

#[test]
fn a_file_added_later_and_a_restart_across_polls_are_handled_incrementally() {
    let bytes = fixture("tf2_summary");
    let records = framed_records(&bytes);
    let source = MemorySource::new();
    source.insert("r/events.out.tfevents.1", bytes.clone());
    let mut l = loader_for(&source);
    assert!(poll(&mut l, &source).is_empty());
    let first_pass = l.sink().points.len();
    // The job restarts: a second file logs the same steps again (records after the first,
    // which holds no summary).
    let mut again = Vec::new();
    for r in &records[1..] {
        again.extend_from_slice(r);
    }
    source.insert("r/events.out.tfevents.2", again);
    let run: Run = source.discover().runs.remove(0);
    l.add_files(&run.files);
    assert_eq!(
        l.file_ids(),
        &[
            FileId::new("r/events.out.tfevents.1"),
            FileId::new("r/events.out.tfevents.2")
        ]
    );
    let problems = poll(&mut l, &source);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].kind, ProblemKind::Restart);
    assert!(!l.sink().rewinds.is_empty());
    // Every point of the first file was replaced by its twin from the second.
    let points = &l.sink().points;
    assert_eq!(points.len(), first_pass);
    assert!(points.iter().all(|p| p.0 == 1), "all from file 2 now");
}

#[test]
fn a_file_that_shrinks_is_read_again_from_the_start_with_a_notice() {
    let bytes = fixture("torch");
    let source = MemorySource::new();
    source.insert("r/events.out.tfevents.1", bytes.clone());
    let mut l = loader_for(&source);
    assert!(poll(&mut l, &source).is_empty());
    let n = l.sink().points.len();
    source.insert("r/events.out.tfevents.1", bytes[..bytes.len() / 2].to_vec());
    let problems = poll(&mut l, &source);
    let kinds: Vec<_> = problems.iter().map(|p| p.kind).collect();
    assert_eq!(kinds[0], ProblemKind::Replaced, "{problems:?}");
    assert!(l.sink().points.len() <= n);
}

// ---- odd records, built here ------------------------------------------------------------------

use histinspect::proto::{self, summary, Event, HistogramProto, Summary};
use prost::Message;

fn histo(lo: f64, hi: f64) -> HistogramProto {
    HistogramProto {
        min: lo,
        max: hi,
        num: 4.0,
        sum: 2.0 * (lo + hi),
        sum_squares: 2.0 * (lo * lo + hi * hi),
        bucket_limit: vec![lo, hi],
        bucket: vec![2.0, 2.0],
    }
}

/// An event file of `events`: `(step, [(tag, histogram)])`, each event one record.
fn event_file(events: &[(i64, Vec<(&str, HistogramProto)>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (step, values) in events {
        let e = Event {
            wall_time: *step as f64,
            step: *step,
            what: Some(proto::event::What::Summary(Summary {
                value: values
                    .iter()
                    .map(|(tag, h)| summary::Value {
                        tag: tag.to_string(),
                        value: Some(summary::value::Value::Histo(h.clone())),
                        ..Default::default()
                    })
                    .collect(),
            })),
        };
        encode_record(&e.encode_to_vec(), &mut out);
    }
    out
}

#[test]
fn a_tag_twice_in_one_record_keeps_the_first_value_and_says_so() {
    let source = MemorySource::new();
    let events: Vec<_> = (0..3)
        .map(|s| (s, vec![("w", histo(0.0, 1.0)), ("w", histo(5.0, 6.0))]))
        .collect();
    source.insert("r/events.out.tfevents.1", event_file(&events));
    let report = analysis::analyze(&source, &Options::default());
    let t = report.tags().next().unwrap();
    assert_eq!(t.points, 3);
    assert_eq!(t.last.stats.max, 1.0, "the first value of the record");
    let kinds: Vec<_> = report.problems.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        vec![ProblemKind::BadEvent; 3],
        "{:?}",
        report.problems
    );
    assert!(report.problems[0].message.contains("second value"));
    // --steps reads the same point the summary used.
    let rows: Vec<_> = analysis::steps(&report, &source).collect();
    assert!(rows
        .iter()
        .all(|r| r.as_ref().unwrap().point.stats.max == 1.0));
}

#[test]
fn a_restart_notice_counts_tags_not_restarts() {
    let source = MemorySource::new();
    // One tag whose step goes back five times in one file.
    let events: Vec<_> = [0, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2]
        .iter()
        .map(|&s| (s, vec![("w", histo(0.0, 1.0 + s as f64))]))
        .collect();
    source.insert("r/events.out.tfevents.1", event_file(&events));
    let report = analysis::analyze(&source, &Options::default());
    let restarts: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::Restart)
        .collect();
    assert_eq!(restarts.len(), 1, "{restarts:?}");
    assert!(
        restarts[0].message.contains("for 1 tag(s)"),
        "{}",
        restarts[0].message
    );
}

#[test]
fn a_file_removed_before_the_per_step_reread_is_one_clear_problem() {
    let source = MemorySource::new();
    let events: Vec<_> = (0..20)
        .map(|s| (s, vec![("w", histo(0.0, 1.0 + s as f64))]))
        .collect();
    source.insert("r/events.out.tfevents.1", event_file(&events));
    let report = analysis::analyze(&source, &Options::default());
    source.remove("r/events.out.tfevents.1");
    let rows: Vec<_> = analysis::steps(&report, &source).collect();
    assert_eq!(rows.len(), 1, "one problem, not one per point: {rows:?}");
    let p = rows[0].as_ref().unwrap_err();
    assert_eq!(p.kind, ProblemKind::Unreadable);
    assert!(p.message.contains("removed or replaced"), "{}", p.message);
}

#[test]
fn a_layer_that_learned_then_stopped_is_frozen_from_that_step() {
    let source = MemorySource::new();
    // fc.weight moves for steps 0..5, then is bit-identical from step 5 to 10.
    let events: Vec<_> = (0..=10)
        .map(|s| (s, vec![("fc.weight", histo(0.0, 1.0 + s.min(5) as f64))]))
        .collect();
    source.insert("r/events.out.tfevents.1", event_file(&events));
    let report = analysis::analyze(&source, &Options::default());
    let t = report.tags().next().unwrap();
    assert_eq!(t.froze_at, Some(5));
    assert_eq!(
        t.flags,
        vec![histinspect::diagnose::Flag::Frozen],
        "frozen, but not still at init: it learned first"
    );
    let text = histinspect::report::explain::finding_text(t.flags[0], t);
    assert!(
        text.starts_with("changed until step 5, then froze"),
        "{text}"
    );
}

/// `f` with the options of a points-only read that keeps rows in `budget` bytes, on a pool of
/// two threads.
fn points_only_on_two_threads<T: Send>(
    budget: Option<usize>,
    f: impl FnOnce(&Options) -> T + Send,
) -> T {
    let opts = Options {
        points_only: true,
        keep_rows: budget,
        ..Options::default()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| f(&opts))
}

/// The per-step rows of `source`, as printed (NaN never equals itself), from a points-only
/// read that keeps rows in `budget` bytes (`None`: none; they are read again afterwards), and
/// the runs that kept theirs. On two threads: rows are kept only when the runs are at least
/// as many as the threads.
fn rows_kept_in(source: &dyn Source, budget: Option<usize>) -> (Vec<String>, Vec<String>) {
    points_only_on_two_threads(budget, |opts| {
        let report = analysis::analyze(source, opts);
        let kept = report
            .runs
            .iter()
            .filter(|r| r.tags.iter().any(|t| !t.rows.is_empty()))
            .map(|r| r.run.to_string())
            .collect();
        let rows = analysis::steps(&report, source)
            .map(|r| format!("{r:?}"))
            .collect();
        (rows, kept)
    })
}

/// The per-step rows of `source` as [`rows_kept_in`] prints them, handed over while reading
/// (`analysis::analyze_handing_rows`, then `analysis::steps_from` for the runs not handed
/// over), and the runs that handed theirs over.
fn rows_handed_in(source: &dyn Source, budget: Option<usize>) -> (Vec<String>, Vec<String>) {
    points_only_on_two_threads(budget, |opts| {
        let mut rows = Vec::new();
        let discovery = analysis::discover(source, opts);
        let (report, handed) =
            analysis::analyze_handing_rows(source, discovery, opts, &|_| {}, &mut |tag_rows| {
                rows.extend(
                    tag_rows
                        .into_iter()
                        .map(|r| format!("{:?}", Ok::<_, Problem>(r))),
                )
            });
        let runs = report.runs[..handed]
            .iter()
            .map(|r| r.run.to_string())
            .collect();
        rows.extend(analysis::steps_from(&report, source, handed).map(|r| format!("{r:?}")));
        (rows, runs)
    })
}

#[test]
fn rows_handed_over_while_reading_are_the_rows_read_again_afterwards() {
    let disk = LocalSource::new([logs()]);
    let (again, _) = rows_kept_in(&disk, None);
    // Handed over run by run, in report order: every run (the one without histograms too).
    let (all, handed) = rows_handed_in(&disk, Some(1 << 30));
    let report = analysis::analyze(&disk, &Options::default());
    let names: Vec<String> = report.runs.iter().map(|r| r.run.to_string()).collect();
    assert_eq!(handed, names);
    assert!(all == again, "rows handed over differ from rows read again");
    // A budget smaller than tf2_summary's rows (140 of them): from the first run that kept
    // none (which one depends on the runs being read at the same time) on, the runs are read
    // again, in order.
    let (some, handed) = rows_handed_in(&disk, Some(50_000));
    assert!(handed.len() < names.len(), "{handed:?}");
    assert_eq!(handed[..], names[..handed.len()]);
    assert!(some == again);
    // Nothing kept: nothing handed over, every row read again.
    let (none, handed) = rows_handed_in(&disk, None);
    assert!(handed.is_empty());
    assert!(none == again);
}

#[test]
fn rows_kept_while_reading_are_the_rows_read_again_afterwards() {
    let disk = LocalSource::new([logs()]);
    let (again, none) = rows_kept_in(&disk, None);
    assert!(none.is_empty());
    assert!(again.len() > 300);
    // All kept, some kept (the budget runs out part way), none kept: the same rows.
    let (all, kept) = rows_kept_in(&disk, Some(1 << 30));
    // Every run with histograms (keras_frozen/validation has none).
    assert_eq!(kept.len(), 6, "{kept:?}");
    assert!(
        all == again,
        "rows kept while reading differ from rows read again"
    );
    let (some, kept) = rows_kept_in(&disk, Some(100_000));
    assert!(!kept.is_empty() && kept.len() < 6, "{kept:?}");
    assert!(some == again);
    let (tiny, kept) = rows_kept_in(&disk, Some(1));
    assert!(kept.is_empty());
    assert!(tiny == again);
}

#[test]
fn a_restart_leaves_its_runs_rows_to_be_read_again() {
    // Run `a` restarts at step 2 (its rows after the restart have a change from a point read
    // again); run `b` does not. Only `b` keeps its rows, and both give the rows of a second
    // read.
    let source = MemorySource::new();
    let steps_of = |steps: &[i64]| -> Vec<(i64, Vec<(&str, HistogramProto)>)> {
        steps
            .iter()
            .map(|&s| (s, vec![("w", histo(0.0, 1.0 + s as f64))]))
            .collect()
    };
    source.insert(
        "a/events.out.tfevents.1",
        event_file(&steps_of(&[0, 1, 2, 3, 2, 3, 4])),
    );
    source.insert(
        "b/events.out.tfevents.1",
        event_file(&steps_of(&[0, 1, 2, 3, 4])),
    );
    let (again, _) = rows_kept_in(&source, None);
    let (rows, kept) = rows_kept_in(&source, Some(1 << 30));
    assert_eq!(kept, ["b"]);
    assert_eq!(again.len(), 10);
    assert!(rows == again, "{rows:#?}\n{again:#?}");
    // Handing rows over stops at `a`, the first in report order: `b` comes after it.
    let (rows, handed) = rows_handed_in(&source, Some(1 << 30));
    assert!(handed.is_empty(), "{handed:?}");
    assert!(rows == again, "{rows:#?}\n{again:#?}");
}

#[test]
fn rows_kept_in_several_chunks_are_the_rows_read_again() {
    // 150 points per tag: kept rows fill two chunks of 64 and part of a third.
    let source = MemorySource::new();
    for run in ["a", "b"] {
        let events: Vec<_> = (0..150)
            .map(|s| (s, vec![("w", histo(0.0, 1.0 + (s % 7) as f64))]))
            .collect();
        source.insert(&format!("{run}/events.out.tfevents.1"), event_file(&events));
    }
    let (again, _) = rows_kept_in(&source, None);
    assert_eq!(again.len(), 300);
    let (kept, runs) = rows_kept_in(&source, Some(1 << 30));
    assert_eq!(runs, ["a", "b"]);
    assert!(kept == again);
    let (handed, runs) = rows_handed_in(&source, Some(1 << 30));
    assert_eq!(runs, ["a", "b"]);
    assert!(handed == again);
}

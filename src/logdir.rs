//! Logdirs: which files are event files, which run each belongs to, and the order of points.
//!
//! Conventions follow TensorBoard (research.md §1, `disk_logdir.rs` and `run.rs` of RustBoard):
//!
//! * an event file is a regular file whose name contains `tfevents`; a file named on the command
//!   line is read whatever its name;
//! * a run is the directory holding event files, named relative to the root given (`.` for the
//!   root itself; with several roots, names are prefixed by the root as given);
//! * a run's files are read one after the other in name order (writers put a timestamp first),
//!   and their points merged per tag;
//! * when a tag's step goes back to `s` (a job restarted from a checkpoint), the points logged
//!   earlier at steps `>= s` are dropped, as TensorBoard's reservoir does, and the restart is
//!   reported as a notice.
//!
//! Symbolic links are followed; a directory reached again through its own descendants is a
//! loop and is reported, a directory reached twice by different paths is read once.
//!
//! Runs are loaded in parallel on all cores; each run streams its points into a caller-supplied
//! [`RunSink`], so what is kept per tag is up to the layer above.

use crate::event_file::{
    read_event_file, FileCounts, HistogramPoint, PluginMemory, Problem, ProblemKind,
};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One run: a directory and its event files in reading order.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub name: String,
    pub files: Vec<PathBuf>,
}

/// The runs found under the paths given, and what was odd on the way.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Sorted by name.
    pub runs: Vec<Run>,
    pub problems: Vec<Problem>,
}

impl Discovery {
    pub fn total_bytes(&self) -> u64 {
        self.runs
            .iter()
            .flat_map(|r| &r.files)
            .map(|f| fs::metadata(f).map(|m| m.len()).unwrap_or(0))
            .sum()
    }
}

/// True for a file name TensorBoard treats as an event file.
pub fn is_event_file_name(name: &str) -> bool {
    name.contains("tfevents")
}

/// Finds the runs and event files under `roots` (directories or single files).
pub fn discover(roots: &[PathBuf]) -> Discovery {
    let mut runs: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut problems = Vec::new();
    let prefix_roots = roots.len() > 1;
    let mut seen_dirs = HashSet::new();
    for root in roots {
        let meta = match fs::metadata(root) {
            Ok(m) => m,
            Err(e) => {
                problems.push(Problem::new(
                    root,
                    None,
                    ProblemKind::NoEventFiles,
                    format!("cannot read: {e}"),
                ));
                continue;
            }
        };
        if meta.is_file() {
            let dir = root.parent().filter(|p| !p.as_os_str().is_empty());
            let name = dir.map_or(".".to_string(), |d| d.display().to_string());
            runs.entry(name).or_default().push(root.clone());
            continue;
        }
        let before: usize = runs.values().map(Vec::len).sum();
        let mut walker = Walker {
            root,
            prefix: prefix_roots.then(|| root.display().to_string()),
            runs: &mut runs,
            problems: &mut problems,
            seen: &mut seen_dirs,
            ancestors: Vec::new(),
        };
        walker.walk(root);
        if runs.values().map(Vec::len).sum::<usize>() == before {
            problems.push(Problem::new(
                root,
                None,
                ProblemKind::NoEventFiles,
                "no event files (names containing \"tfevents\") found here",
            ));
        }
    }
    let runs = runs
        .into_iter()
        .map(|(name, mut files)| {
            files.sort_by(|a, b| a.file_name().cmp(&b.file_name()).then(a.cmp(b)));
            files.dedup();
            Run { name, files }
        })
        .collect();
    Discovery { runs, problems }
}

/// What makes two paths the same directory: device and inode where the platform has them (one
/// `stat`, where canonicalising costs one per path component), the canonical path elsewhere.
#[cfg(unix)]
type DirId = (u64, u64);
#[cfg(not(unix))]
type DirId = PathBuf;

/// `None` when the directory cannot be looked at (listing it will say why).
#[cfg(unix)]
fn dir_id(dir: &Path) -> Option<DirId> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn dir_id(dir: &Path) -> Option<DirId> {
    fs::canonicalize(dir).ok()
}

struct Walker<'a> {
    root: &'a Path,
    prefix: Option<String>,
    runs: &'a mut BTreeMap<String, Vec<PathBuf>>,
    problems: &'a mut Vec<Problem>,
    seen: &'a mut HashSet<DirId>,
    ancestors: Vec<DirId>,
}

impl Walker<'_> {
    fn run_name(&self, dir: &Path) -> String {
        let rel = dir.strip_prefix(self.root).unwrap_or(dir);
        let rel = if rel.as_os_str().is_empty() {
            None
        } else {
            Some(rel.display().to_string())
        };
        match (&self.prefix, rel) {
            (None, None) => ".".to_string(),
            (None, Some(r)) => r,
            (Some(p), None) => p.clone(),
            (Some(p), Some(r)) => format!("{}/{r}", p.trim_end_matches('/')),
        }
    }

    fn walk(&mut self, dir: &Path) {
        let id = dir_id(dir);
        if let Some(id) = &id {
            if self.ancestors.contains(id) {
                self.problems.push(Problem::new(
                    dir,
                    None,
                    ProblemKind::SymlinkLoop,
                    "symbolic link loop: this directory contains itself; not followed again",
                ));
                return;
            }
            if !self.seen.insert(id.to_owned()) {
                return; // reached by another path already: read once
            }
        }
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.problems.push(Problem::new(
                    dir,
                    None,
                    ProblemKind::Unreadable,
                    format!("cannot list directory: {e}"),
                ));
                return;
            }
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        if let Some(id) = id.as_ref().map(ToOwned::to_owned) {
            self.ancestors.push(id);
        }
        for path in entries {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let meta = match fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    if is_event_file_name(&name) {
                        self.problems.push(Problem::new(
                            &path,
                            None,
                            ProblemKind::Unreadable,
                            format!("cannot read: {e}"),
                        ));
                    }
                    continue;
                }
            };
            if meta.is_dir() {
                if is_event_file_name(&name) {
                    self.problems.push(Problem::new(
                        &path,
                        None,
                        ProblemKind::NotAFile,
                        "named like an event file but is a directory; searched as a directory",
                    ));
                }
                self.walk(&path);
            } else if is_event_file_name(&name) {
                if meta.is_file() {
                    let run = self.run_name(dir);
                    self.runs.entry(run).or_default().push(path);
                } else {
                    self.problems.push(Problem::new(
                        &path,
                        None,
                        ProblemKind::NotAFile,
                        "named like an event file but is not a regular file; skipped",
                    ));
                }
            }
        }
        if id.is_some() {
            self.ancestors.pop();
        }
    }
}

/// What the loader needs to know of a point for restart handling.
pub trait Located {
    fn tag(&self) -> &str;
    fn step(&self) -> i64;
    fn offset(&self) -> u64;
}

impl Located for HistogramPoint {
    fn tag(&self) -> &str {
        &self.tag
    }
    fn step(&self) -> i64 {
        self.step
    }
    fn offset(&self) -> u64 {
        self.offset
    }
}

/// The work on a point that needs no state of a sink: filtering and per-point computations.
/// When a run is pipelined it runs on the reading thread, in parallel with the sink.
pub trait Prepare: Send + Sync {
    type Point: Located + Send;
    /// `None` drops the point.
    fn prepare(&self, point: HistogramPoint) -> Option<Self::Point>;
}

/// Keeps every point as read.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsRead;

impl Prepare for AsRead {
    type Point = HistogramPoint;
    fn prepare(&self, point: HistogramPoint) -> Option<HistogramPoint> {
        Some(point)
    }
}

/// Receives a run's histogram points in order, after restart handling.
pub trait RunSink: Send {
    type Prepare: Prepare;
    /// The preparation of points for this sink.
    fn preparer(&self) -> Self::Prepare;
    /// The tag's step went back to `step`: drop what was kept for it at steps `>= step`.
    fn rewind(&mut self, tag: &str, step: i64);
    /// The next point of its tag, read from `run.files[file]`.
    fn point(&mut self, file: usize, point: <Self::Prepare as Prepare>::Point);
}

/// Per-file facts for the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    pub path: PathBuf,
    pub counts: FileCounts,
}

/// One loaded run: its files, the caller's sink, and the problems found in it.
#[derive(Debug)]
pub struct LoadedRun<S> {
    pub run: Run,
    pub files: Vec<FileInfo>,
    pub sink: S,
    pub problems: Vec<Problem>,
}

/// Loads every run of `discovery`, runs in parallel, each run's files in order, streaming points
/// into one sink per run made by `make_sink`; `finish` turns each loaded run into the caller's
/// result on the same worker, so that what is kept of a run can shrink before the next one is
/// read. `on_file_done` is called with each file's size once it has been read (for progress
/// display). The result is in the order of `discovery.runs`.
pub fn load<S, T, F, G>(
    discovery: &Discovery,
    make_sink: F,
    finish: G,
    on_file_done: &(dyn Fn(u64) + Sync),
) -> Vec<T>
where
    S: RunSink,
    T: Send,
    F: Fn(&Run) -> S + Sync,
    G: Fn(LoadedRun<S>) -> T + Sync,
{
    // With fewer runs than cores, each run reads on a thread of its own as well.
    let pipelined = discovery.runs.len() < rayon::current_num_threads();
    discovery
        .runs
        .par_iter()
        .map(|run| finish(load_run(run, make_sink(run), on_file_done, pipelined)))
        .collect()
}

/// A restart seen in one file: the step went back to `to` for some tags.
struct Restart {
    offset: u64,
    from: i64,
    tags: usize,
}

/// What the reading half of a run's loading hands to the half that keeps the points.
enum Msg<P> {
    Points(usize, Vec<P>),
    Problem(Problem),
    FileDone(usize, FileCounts),
}

/// Points handed over at once between the two halves.
const BATCH: usize = 256;

/// Reads a run's files in order (framing, CRCs, decoding, preparation) and emits what it finds.
fn produce<P: Prepare>(run: &Run, prep: &P, emit: &mut dyn FnMut(Msg<P::Point>)) {
    let mut plugins = PluginMemory::new();
    for (index, path) in run.files.iter().enumerate() {
        let mut batch = Vec::with_capacity(BATCH);
        let mut problems = Vec::new();
        let counts = read_event_file(
            path,
            &mut plugins,
            &mut |point| {
                let Some(point) = prep.prepare(point) else {
                    return;
                };
                batch.push(point);
                if batch.len() == BATCH {
                    emit(Msg::Points(
                        index,
                        std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
                    ));
                }
            },
            &mut |p| problems.push(p),
        );
        if !batch.is_empty() {
            emit(Msg::Points(index, batch));
        }
        for p in problems {
            emit(Msg::Problem(p));
        }
        emit(Msg::FileDone(index, counts));
    }
}

/// Keeps a run's points: restart handling, then the sink.
struct Consumer<'a, S> {
    run: &'a Run,
    sink: S,
    last_step: HashMap<String, i64>,
    /// Restarts in the current file, grouped per new step so that a restarted job gives one
    /// notice, not one per tag.
    restarts: BTreeMap<i64, Restart>,
    problems: Vec<Problem>,
    files: Vec<FileInfo>,
}

type PointOf<S> = <<S as RunSink>::Prepare as Prepare>::Point;

impl<S: RunSink> Consumer<'_, S> {
    fn handle(&mut self, msg: Msg<PointOf<S>>, on_file_done: &(dyn Fn(u64) + Sync)) {
        match msg {
            Msg::Points(file, points) => {
                for point in points {
                    self.point(file, point);
                }
            }
            Msg::Problem(p) => self.problems.push(p),
            Msg::FileDone(file, counts) => {
                let path = &self.run.files[file];
                for (to, r) in std::mem::take(&mut self.restarts) {
                    self.problems.push(Problem::new(
                        path,
                        Some(r.offset),
                        ProblemKind::Restart,
                        format!(
                            "step went back from {} to {to} for {} tag(s) (a restarted job?); \
                             points logged earlier at step >= {to} are dropped, as TensorBoard \
                             does",
                            r.from, r.tags
                        ),
                    ));
                }
                on_file_done(counts.bytes);
                self.files.push(FileInfo {
                    path: path.clone(),
                    counts,
                });
            }
        }
    }

    fn point(&mut self, file: usize, point: PointOf<S>) {
        let step = point.step();
        match self.last_step.get_mut(point.tag()) {
            Some(last) => {
                if step <= *last {
                    self.sink.rewind(point.tag(), step);
                    let r = self.restarts.entry(step).or_insert(Restart {
                        offset: point.offset(),
                        from: *last,
                        tags: 0,
                    });
                    r.from = r.from.max(*last);
                    r.tags += 1;
                }
                *last = step;
            }
            None => {
                self.last_step.insert(point.tag().to_string(), step);
            }
        }
        self.sink.point(file, point);
    }
}

/// Loads one run. With `pipelined`, reading and decoding run on a thread of their own while
/// this one keeps the points (statistics and changes), so that a logdir of one huge file, or
/// of fewer runs than cores, still uses two cores; the order of points is unchanged.
fn load_run<S: RunSink>(
    run: &Run,
    sink: S,
    on_file_done: &(dyn Fn(u64) + Sync),
    pipelined: bool,
) -> LoadedRun<S> {
    let prep = sink.preparer();
    let mut c = Consumer {
        run,
        sink,
        last_step: HashMap::new(),
        restarts: BTreeMap::new(),
        problems: Vec::new(),
        files: Vec::with_capacity(run.files.len()),
    };
    if pipelined {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg<PointOf<S>>>(16);
        std::thread::scope(|scope| {
            let prep = &prep;
            scope.spawn(move || {
                produce(run, prep, &mut |m| {
                    let _ = tx.send(m);
                })
            });
            for m in rx {
                c.handle(m, on_file_done);
            }
        });
    } else {
        produce(run, &prep, &mut |m| c.handle(m, on_file_done));
    }
    LoadedRun {
        run: run.clone(),
        files: c.files,
        sink: c.sink,
        problems: c.problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_file_names() {
        assert!(is_event_file_name(
            "events.out.tfevents.1700000000.host.1.0"
        ));
        assert!(is_event_file_name("x.tfevents.v2"));
        assert!(!is_event_file_name("checkpoint"));
    }

    #[test]
    fn runs_are_directories_relative_to_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::create_dir_all(root.join("c.tfevents.dir")).unwrap();
        fs::write(root.join("events.out.tfevents.2"), b"").unwrap();
        fs::write(root.join("events.out.tfevents.1"), b"").unwrap();
        fs::write(root.join("a/b/events.out.tfevents.1"), b"").unwrap();
        fs::write(root.join("a/notes.txt"), b"").unwrap();
        let d = discover(&[root.to_path_buf()]);
        let names: Vec<_> = d.runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec![".", "a/b"]);
        assert!(d.runs[0].files[0].ends_with("events.out.tfevents.1"));
        assert_eq!(d.problems.len(), 1);
        assert_eq!(d.problems[0].kind, ProblemKind::NotAFile);
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_are_reported_not_followed_forever() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("run")).unwrap();
        fs::write(root.join("run/events.out.tfevents.1"), b"").unwrap();
        std::os::unix::fs::symlink(root, root.join("run/loop")).unwrap();
        std::os::unix::fs::symlink(root.join("missing"), root.join("run/x.tfevents.dangling"))
            .unwrap();
        let d = discover(&[root.to_path_buf()]);
        assert_eq!(d.runs.len(), 1);
        let kinds: Vec<_> = d.problems.iter().map(|p| p.kind).collect();
        assert!(kinds.contains(&ProblemKind::SymlinkLoop), "{kinds:?}");
        assert!(kinds.contains(&ProblemKind::Unreadable), "{kinds:?}");
    }

    #[test]
    fn missing_root_and_empty_root_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let d = discover(&[dir.path().join("nope"), dir.path().to_path_buf()]);
        assert!(d.runs.is_empty());
        assert_eq!(d.problems.len(), 2);
        assert!(d
            .problems
            .iter()
            .all(|p| p.kind == ProblemKind::NoEventFiles));
    }
}

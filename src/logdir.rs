//! Loading runs: a run's files read in order and merged per tag, restarts handled, runs in
//! parallel, and every run's state kept so that it can take new records as files grow.
//!
//! Conventions follow TensorBoard (`docs/format.md`, "Logdirs and runs"):
//!
//! * a run's files are read one after the other in name order (writers put a timestamp first),
//!   and their points merged per tag;
//! * when a tag's step goes back to `s` (a job restarted from a checkpoint), the points logged
//!   earlier at steps `>= s` are dropped, as TensorBoard's reservoir does, and the restart is
//!   reported as a notice.
//!
//! A [`RunLoader`] holds one run's whole reading state — each file's position and partial
//! record ([`FileState`]), the plugin names seen per tag, each tag's last step — and streams
//! what it reads into a caller-supplied [`RunSink`]. [`RunLoader::poll`] reads whatever the
//! files gained since the last call, so the one-shot report (one poll) and a watcher (a poll
//! every few seconds) share one code path. Files are read through a [`Source`]; nothing here
//! knows where the bytes live.

use crate::event_file::{
    histogram_at, FileCounts, FileState, HistogramPoint, PluginMemory, Problem, ProblemKind,
};
use crate::histogram::{self, Bucket};
use crate::source::{Discovery, FileId, Run, RunName, Source};
use std::collections::{BTreeMap, HashMap};

/// What the loader needs to know of a point for restart handling.
pub trait Located {
    fn tag(&self) -> &str;
    fn step(&self) -> i64;
    fn offset(&self) -> u64;
    /// Bytes this point holds on the heap, so that what travels between the reading and the
    /// keeping half can be bounded in bytes and not only in points.
    fn heap_bytes(&self) -> usize;
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
    fn heap_bytes(&self) -> usize {
        self.tag.capacity() + self.histogram.buckets.capacity() * std::mem::size_of::<Bucket>()
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

/// Reads a point again from its file, by the index of the file in its run and the offset of
/// its record: what a sink uses to get back a point it did not keep.
pub trait Reread {
    fn reread(&self, file: u32, offset: u64, tag: &str) -> Result<HistogramPoint, Problem>;
}

/// [`Reread`] over a run's files in a source.
pub struct SourceFiles<'a> {
    pub source: &'a dyn Source,
    pub files: &'a [FileId],
}

impl Reread for SourceFiles<'_> {
    fn reread(&self, file: u32, offset: u64, tag: &str) -> Result<HistogramPoint, Problem> {
        let Some(id) = self.files.get(file as usize) else {
            return Err(Problem::new(
                FileId::new("?"),
                Some(offset),
                ProblemKind::Io,
                format!("no file {file} in this run"),
            ));
        };
        histogram_at(self.source, id, offset, tag)
    }
}

/// Receives a run's histogram points in order, after restart handling.
pub trait RunSink: Send {
    type Prepare: Prepare;
    /// The preparation of points for this sink.
    fn preparer(&self) -> Self::Prepare;
    /// The tag's step went back to `step`: drop what was kept for it at steps `>= step`.
    /// `reread` gets back any point the sink needs again.
    fn rewind(&mut self, tag: &str, step: i64, reread: &dyn Reread);
    /// The next point of its tag, read from the run's file number `file`.
    fn point(&mut self, file: usize, point: <Self::Prepare as Prepare>::Point);
}

type PointOf<S> = <<S as RunSink>::Prepare as Prepare>::Point;

/// Per-file facts for the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    pub path: FileId,
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

/// A restart seen in one file: the step went back to `to` for some tags.
struct Restart {
    offset: u64,
    from: i64,
    tags: std::collections::BTreeSet<String>,
}

/// What the reading half of a run's loading hands to the half that keeps the points.
enum Msg<P> {
    Points(usize, Vec<P>),
    Problem(Problem),
    /// A file's new records are all read: its counts so far, and the bytes consumed now.
    FileDone(usize, FileCounts, u64),
}

/// What the keeping half gives back to the reading half: the memory of a batch it is done with
/// and of the bucket lists its sink recycled meanwhile (at most `histogram`'s 1 MiB of spares).
/// One comes back per batch, and the reading half takes all there are each time it hands a
/// batch over, so no more are on their way back than batches are on their way forth.
struct Returned<P> {
    batch: Vec<P>,
    lists: Vec<Vec<Bucket>>,
}

/// Points handed over at once between the two halves, at most.
const BATCH: usize = 256;
/// Bytes handed over at once, at most (a batch is sent early when its points hold more).
/// With [`QUEUE`] batches in flight, the hand-over holds at most about
/// `(QUEUE + 2) × BATCH_BYTES` whatever the records claim.
const BATCH_BYTES: usize = 1 << 20;
/// Batches that may wait between the two halves.
const QUEUE: usize = 8;

/// The reading half: files, their positions, the plugin names seen.
struct Reading {
    files: Vec<FileState>,
    plugins: PluginMemory,
}

impl Reading {
    /// Reads what is new in every file (framing, CRCs, decoding, preparation) and emits it.
    /// `emit` may give back the memory of a batch the keeping half is done with, for the next.
    fn produce<P: Prepare>(
        &mut self,
        source: &dyn Source,
        prep: &P,
        emit: &mut dyn FnMut(Msg<P::Point>) -> Option<Vec<P::Point>>,
    ) {
        let mut spare: Option<Vec<P::Point>> = None;
        for (index, file) in self.files.iter_mut().enumerate() {
            let mut batch = spare.take().unwrap_or_default();
            let mut batch_bytes = 0usize;
            let mut problems = Vec::new();
            let consumed = file.read_new(
                source,
                &mut self.plugins,
                &mut |point| {
                    let Some(point) = prep.prepare(point) else {
                        return;
                    };
                    if batch.capacity() == 0 {
                        batch.reserve_exact(BATCH);
                    }
                    batch_bytes += point.heap_bytes();
                    batch.push(point);
                    if batch.len() == BATCH || batch_bytes >= BATCH_BYTES {
                        let full = std::mem::take(&mut batch);
                        batch = emit(Msg::Points(index, full)).unwrap_or_default();
                        batch_bytes = 0;
                    }
                },
                &mut |p| problems.push(p),
            );
            spare = if batch.is_empty() {
                Some(batch)
            } else {
                emit(Msg::Points(index, batch))
            };
            for p in problems {
                emit(Msg::Problem(p));
            }
            emit(Msg::FileDone(index, file.counts, consumed));
        }
    }
}

/// The keeping half: restart handling, then the sink.
struct Keeping<S> {
    ids: Vec<FileId>,
    sink: S,
    last_step: HashMap<String, i64, foldhash::fast::RandomState>,
    /// Restarts in the current file, grouped per new step so that a restarted job gives one
    /// notice, not one per tag.
    restarts: BTreeMap<i64, Restart>,
    problems: Vec<Problem>,
    files: Vec<FileInfo>,
}

impl<S: RunSink> Keeping<S> {
    /// Takes one message; a batch of points comes back empty, its memory for the next.
    fn handle(
        &mut self,
        source: &dyn Source,
        msg: Msg<PointOf<S>>,
        on_file_done: &(dyn Fn(u64) + Sync),
    ) -> Option<Vec<PointOf<S>>> {
        match msg {
            Msg::Points(file, mut points) => {
                for point in points.drain(..) {
                    self.point(source, file, point);
                }
                return Some(points);
            }
            Msg::Problem(p) => self.problems.push(p),
            Msg::FileDone(file, counts, consumed) => {
                let path = &self.ids[file];
                for (to, r) in std::mem::take(&mut self.restarts) {
                    self.problems.push(Problem::new(
                        path.clone(),
                        Some(r.offset),
                        ProblemKind::Restart,
                        format!(
                            "step went back from {} to {to} for {} tag(s) (a restarted job?); \
                             points logged earlier at step >= {to} are dropped, as TensorBoard \
                             does",
                            r.from,
                            r.tags.len()
                        ),
                    ));
                }
                on_file_done(consumed);
                self.files[file].counts = counts;
            }
        }
        None
    }

    fn point(&mut self, source: &dyn Source, file: usize, point: PointOf<S>) {
        let step = point.step();
        match self.last_step.get_mut(point.tag()) {
            Some(last) => {
                if step <= *last {
                    let reread = SourceFiles {
                        source,
                        files: &self.ids,
                    };
                    self.sink.rewind(point.tag(), step, &reread);
                    let r = self.restarts.entry(step).or_insert(Restart {
                        offset: point.offset(),
                        from: *last,
                        tags: Default::default(),
                    });
                    r.from = r.from.max(*last);
                    if !r.tags.contains(point.tag()) {
                        r.tags.insert(point.tag().to_string());
                    }
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

/// One run's loading state, kept between polls.
pub struct RunLoader<S: RunSink> {
    name: RunName,
    reading: Reading,
    keeping: Keeping<S>,
    prep: S::Prepare,
}

impl<S: RunSink> RunLoader<S> {
    pub fn new(run: &Run, sink: S) -> RunLoader<S> {
        let prep = sink.preparer();
        let mut loader = RunLoader {
            name: run.name.clone(),
            reading: Reading {
                files: Vec::with_capacity(run.files.len()),
                plugins: PluginMemory::default(),
            },
            keeping: Keeping {
                ids: Vec::with_capacity(run.files.len()),
                sink,
                last_step: HashMap::default(),
                restarts: BTreeMap::new(),
                problems: Vec::new(),
                files: Vec::with_capacity(run.files.len()),
            },
            prep,
        };
        loader.add_files(&run.files);
        loader
    }

    pub fn name(&self) -> &RunName {
        &self.name
    }

    /// The run's files in reading order, as [`PointDigest`](crate::point::PointDigest)s and
    /// [`RunSink::point`] number them.
    pub fn file_ids(&self) -> &[FileId] {
        &self.keeping.ids
    }

    /// Adds files found in this run since it was created; files already known are skipped.
    /// New files are read after the known ones, in the order given.
    pub fn add_files(&mut self, files: &[FileId]) {
        for id in files {
            if self.keeping.ids.contains(id) {
                continue;
            }
            self.keeping.ids.push(id.clone());
            self.keeping.files.push(FileInfo {
                path: id.clone(),
                counts: FileCounts::default(),
            });
            self.reading.files.push(FileState::new(id.clone()));
        }
    }

    /// Reads what every file gained since the last poll (everything, the first time).
    /// `on_file_done` gets the bytes consumed from each file. With `pipelined`, reading and
    /// decoding run on a thread of their own while this one keeps the points, so that one huge
    /// file, or fewer runs than cores, still uses two cores; the order of points is unchanged.
    pub fn poll(
        &mut self,
        source: &dyn Source,
        pipelined: bool,
        on_file_done: &(dyn Fn(u64) + Sync),
    ) {
        let (reading, keeping, prep) = (&mut self.reading, &mut self.keeping, &self.prep);
        if pipelined {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Msg<PointOf<S>>>(QUEUE);
            // Memory goes back the other way: a batch's, and the bucket lists the sink gave up
            // (`histogram::recycle`). Freed on the keeping thread, these allocations of the
            // reading thread would each lock its malloc arena against its own allocations.
            let (back_tx, back_rx) = std::sync::mpsc::channel::<Returned<PointOf<S>>>();
            std::thread::scope(|scope| {
                scope.spawn(move || {
                    reading.produce(source, prep, &mut |m| {
                        let _ = tx.send(m);
                        let mut batch = None;
                        for r in back_rx.try_iter() {
                            histogram::adopt_spares(r.lists);
                            batch = batch.or(Some(r.batch));
                        }
                        batch
                    })
                });
                for m in rx {
                    if let Some(batch) = keeping.handle(source, m, on_file_done) {
                        let lists = histogram::take_spares();
                        let _ = back_tx.send(Returned { batch, lists });
                    }
                }
            });
        } else {
            reading.produce(source, prep, &mut |m| {
                keeping.handle(source, m, on_file_done)
            });
        }
    }

    pub fn sink(&self) -> &S {
        &self.keeping.sink
    }

    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.keeping.sink
    }

    /// The problems found since the last call.
    pub fn take_problems(&mut self) -> Vec<Problem> {
        std::mem::take(&mut self.keeping.problems)
    }

    /// Per-file counts so far.
    pub fn files(&self) -> &[FileInfo] {
        &self.keeping.files
    }

    pub fn finish(self) -> LoadedRun<S> {
        LoadedRun {
            run: Run {
                name: self.name,
                files: self.keeping.ids,
            },
            files: self.keeping.files,
            sink: self.keeping.sink,
            problems: self.keeping.problems,
        }
    }
}

/// Loads every run of `discovery` once, runs in parallel, each run's files in order, streaming
/// points into one sink per run made by `make_sink`; `finish` turns each loaded run into the
/// caller's result on the same worker, so that what is kept of a run can shrink before the
/// next one is read. `on_file_done` is called with the bytes read from each file (for
/// progress display). The result is in the order of `discovery.runs`.
pub fn load<S, T, F, G>(
    source: &dyn Source,
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
    let order: Vec<usize> = (0..discovery.runs.len()).collect();
    load_in_order(
        source,
        discovery,
        &order,
        make_sink,
        finish,
        &mut |_: &mut T| {},
        on_file_done,
    )
}

/// [`load`], the runs started in the order of `order` (indices into `discovery.runs`, each
/// once) as threads come free, and each finished run handed to `deliver` in that order as
/// soon as the runs before it have been: a consumer can take a run's results while later
/// runs are still being read. `deliver` is called on the reading threads, one run at a time;
/// while it blocks, runs that finish are held for it and the other threads go on reading
/// until they finish a run too (a bounded consumer holds the reading back).
pub fn load_in_order<S, T, F, G>(
    source: &dyn Source,
    discovery: &Discovery,
    order: &[usize],
    make_sink: F,
    finish: G,
    deliver: &mut (dyn FnMut(&mut T) + Send),
    on_file_done: &(dyn Fn(u64) + Sync),
) -> Vec<T>
where
    S: RunSink,
    T: Send,
    F: Fn(&Run) -> S + Sync,
    G: Fn(LoadedRun<S>) -> T + Sync,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let runs = &discovery.runs;
    // With fewer runs than cores, each run reads on a thread of its own as well.
    let pipelined = runs.len() < rayon::current_num_threads();
    // The position in `order` of the next run to start.
    let next = AtomicUsize::new(0);
    struct Handing<'d, T> {
        /// Results by index in `discovery.runs`.
        done: Vec<Option<T>>,
        /// The position in `order` of the next run to hand over.
        next: usize,
        deliver: &'d mut (dyn FnMut(&mut T) + Send),
    }
    let handing = Mutex::new(Handing {
        done: (0..runs.len()).map(|_| None).collect(),
        next: 0,
        deliver,
    });
    let work = || loop {
        let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
            return;
        };
        let mut loader = RunLoader::new(&runs[i], make_sink(&runs[i]));
        loader.poll(source, pipelined, on_file_done);
        let result = finish(loader.finish());
        // A panic elsewhere poisons the lock; the results are still whole.
        let mut h = handing.lock().unwrap_or_else(|e| e.into_inner());
        h.done[i] = Some(result);
        while let Some(&j) = order.get(h.next) {
            let h = &mut *h;
            let Some(t) = h.done[j].as_mut() else { break };
            (h.deliver)(t);
            h.next += 1;
        }
    };
    rayon::scope(|s| {
        for _ in 0..rayon::current_num_threads().min(runs.len()) {
            s.spawn(|_| work());
        }
    });
    let h = handing.into_inner().unwrap_or_else(|e| e.into_inner());
    h.done.into_iter().flatten().collect()
}

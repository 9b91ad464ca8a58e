//! Records to events: decodes each TFRecord payload as a TensorFlow `Event` and extracts its
//! histogram values, in either wire form, into [`Histogram`]s tagged with file and byte offset.
//!
//! Which values are histograms (`docs/format.md`, "Histograms on the wire"):
//!
//! * every `Summary.Value.histo` (legacy `HistogramProto`);
//! * a `Summary.Value.tensor` whose tag's plugin is `histograms`. The plugin name is only
//!   guaranteed on the first value of a tag in a file (TF1 `FileWriter` strips it from later
//!   values), so it is remembered per tag in a [`PluginMemory`] that the caller keeps per run.
//!   A tensor tag with no plugin name seen yet is taken as a histogram when it has the histogram
//!   signature: DT_DOUBLE or DT_FLOAT of shape `[k, 3]`.
//!
//! Scalars, images, audio, text and other tensors are counted and skipped, except the scalars
//! of a learning rate ([`is_learning_rate`]): their largest and last values are kept per file
//! ([`LearningRate`]), for the update bound of `small_updates`. `proto/` leaves the large
//! payloads out of the generated types, so prost skips them without copying.

use crate::histogram::{Bucket, ExactMoments, Histogram, HistogramError, LeF64};
use crate::proto::DataType;
use crate::source::{FileId, OpenFile, Source};
use crate::tf_record::{Checkpoint, Item, RecordError, RecordReader, DEFAULT_BUFFER};
use crate::wire;
use std::collections::{HashMap, HashSet};

/// TensorBoard's plugin name for histograms (`tensorboard/plugins/histogram/metadata.py`).
pub const HISTOGRAMS_PLUGIN: &str = "histograms";

crate::named_enum! {
    /// What kind of problem a [`Problem`] is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum ProblemKind {
        /// The last record is incomplete: normal for a file still being written (a notice).
        Truncated = "truncated",
        /// A record's length CRC does not match: framing lost, reading resumed at the next
        /// good record.
        BadLengthCrc = "bad_length_crc",
        /// A region of zero bytes where a record should be (a pre-allocated or sparse file).
        ZeroFilled = "zero_filled",
        /// A record's payload CRC does not match: that record is skipped.
        BadDataCrc = "bad_data_crc",
        /// A record claims more bytes than any event file holds: treated as lost framing.
        TooLarge = "too_large",
        /// Reading the file failed part way.
        Io = "io",
        /// A record with good CRCs whose payload is not a valid `Event`.
        BadEvent = "bad_event",
        /// A histogram value that cannot be read (mismatched arrays, wrong shape or dtype).
        BadHistogram = "bad_histogram",
        /// A tag's step went back: earlier points at or after that step are dropped (a notice).
        Restart = "restart",
        /// A file became shorter than what was already read of it (replaced or rewritten): it
        /// is read again from the start (a notice).
        Replaced = "replaced",
        /// A file or directory that could not be opened or listed.
        Unreadable = "unreadable",
        /// A directory reached again through symbolic links.
        SymlinkLoop = "symlink_loop",
        /// A path named like an event file that is not a regular file.
        NotAFile = "not_a_file",
        /// An event file with no bytes (a notice).
        EmptyFile = "empty_file",
        /// A path given that does not exist or holds no event files.
        NoEventFiles = "no_event_files",
    }
}

impl ProblemKind {
    /// True when data was lost or unreadable; false for notices about normal conditions
    /// (a file still being written, a restarted job, an empty file).
    pub fn is_damage(self) -> bool {
        !matches!(
            self,
            ProblemKind::Truncated
                | ProblemKind::Restart
                | ProblemKind::Replaced
                | ProblemKind::EmptyFile
        )
    }

    fn of(e: &RecordError) -> ProblemKind {
        match e {
            RecordError::Truncated { .. } => ProblemKind::Truncated,
            RecordError::BadLengthCrc { zeros: true, .. } => ProblemKind::ZeroFilled,
            RecordError::BadLengthCrc { .. } => ProblemKind::BadLengthCrc,
            RecordError::BadDataCrc { .. } => ProblemKind::BadDataCrc,
            RecordError::TooLarge { .. } => ProblemKind::TooLarge,
            RecordError::Io { .. } => ProblemKind::Io,
        }
    }
}

/// Something found while reading, with where it was found. Never fatal to the whole run: the
/// reader reports and goes on; the binary decides what a problem means for the exit code.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The file, directory or root the problem is about.
    pub path: FileId,
    /// Byte offset in the file, where the problem has one.
    pub offset: Option<u64>,
    pub kind: ProblemKind,
    pub message: String,
}

impl Problem {
    pub fn new(
        path: FileId,
        offset: Option<u64>,
        kind: ProblemKind,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            path,
            offset,
            kind,
            message: message.into(),
        }
    }

    fn from_record_error(path: &FileId, e: &RecordError) -> Problem {
        // The chain of an I/O error is part of the message: reports print no sources.
        let mut message = e.to_string();
        if let RecordError::Io { source, .. } = e {
            message = format!("{message}: {source}");
        }
        Problem::new(path.clone(), Some(e.offset()), ProblemKind::of(e), message)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(o) = self.offset {
            write!(f, " @{o}")?;
        }
        write!(f, ": {}: {}", self.kind.as_str(), self.message)
    }
}

/// One histogram value read from an event file.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPoint {
    pub tag: String,
    pub step: i64,
    pub wall_time: f64,
    /// Byte offset of the record in its file.
    pub offset: u64,
    pub histogram: Histogram,
}

/// Plugin names seen per tag; keep one per run so that metadata seen on a tag's first value in
/// one file still applies to its later values and files.
pub type PluginMemory = HashMap<String, String, foldhash::fast::RandomState>;

/// True for a scalar tag that names a learning rate, as the writers and users name it: a
/// path component `lr`, `lr-…` or `lr_…` (PyTorch Lightning's `lr-Adam`), or one containing
/// `learning_rate` / `learning-rate` / `learningrate` (Keras' `epoch_learning_rate`).
pub fn is_learning_rate(tag: &str) -> bool {
    // Without lowering a copy: this runs for every scalar value read.
    let has = |c: &[u8], part: &[u8]| c.windows(part.len()).any(|w| w.eq_ignore_ascii_case(part));
    tag.split('/').map(str::as_bytes).any(|c| {
        c.eq_ignore_ascii_case(b"lr")
            || c.get(..3)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"lr-") || p.eq_ignore_ascii_case(b"lr_"))
            || has(c, b"learning_rate")
            || has(c, b"learning-rate")
            || has(c, b"learningrate")
    })
}

/// The learning-rate scalars of a file ([`is_learning_rate`]), summarised: a schedule that
/// ends at 0 still had its largest value, which is what bounds the updates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearningRate {
    /// Finite values seen.
    pub values: u64,
    /// The largest finite value, and its step.
    pub max: f64,
    pub max_step: i64,
    /// The value at the highest step (the later one on a tie), and that step.
    pub last: f64,
    pub last_step: i64,
}

impl LearningRate {
    fn one(step: i64, value: f64) -> LearningRate {
        LearningRate {
            values: 1,
            max: value,
            max_step: step,
            last: value,
            last_step: step,
        }
    }

    /// Both summaries as one (the later file wins a tie on the last step).
    pub fn merge(a: Option<LearningRate>, b: LearningRate) -> LearningRate {
        let Some(a) = a else { return b };
        let (max, max_step) = if b.max > a.max {
            (b.max, b.max_step)
        } else {
            (a.max, a.max_step)
        };
        let (last, last_step) = if b.last_step >= a.last_step {
            (b.last, b.last_step)
        } else {
            (a.last, a.last_step)
        };
        LearningRate {
            values: a.values + b.values,
            max,
            max_step,
            last,
            last_step,
        }
    }
}

/// Counts for one file, for the inventory.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FileCounts {
    /// Records whose framing and both CRCs checked.
    pub records: u64,
    /// Bytes in the file when it was read.
    pub bytes: u64,
    /// Histogram values extracted.
    pub histograms: u64,
    /// `simple_value` scalars (and scalar tensors) skipped.
    pub scalars: u64,
    /// Other summary values skipped (images, audio, text, other tensors).
    pub other_values: u64,
    /// The learning-rate scalars, if the file logs one.
    pub learning_rate: Option<LearningRate>,
}

impl FileCounts {
    fn scalar(&mut self, tag: &str, step: i64, value: Option<f64>) {
        self.scalars += 1;
        if let Some(v) = value.filter(|v| v.is_finite() && is_learning_rate(tag)) {
            self.learning_rate = Some(LearningRate::merge(
                self.learning_rate,
                LearningRate::one(step, v),
            ));
        }
    }
}

/// The value of a scalar tensor (no dims) of DT_FLOAT or DT_DOUBLE, from its repeated field or
/// its content.
fn scalar_tensor(view: &wire::TensorView, floats: &[f64], doubles: &[f64]) -> Option<f64> {
    match DataType::try_from(view.dtype).ok()? {
        DataType::DtFloat => floats.first().copied().or_else(|| {
            let b: [u8; 4] = view.content.get(..4)?.try_into().ok()?;
            Some(f64::from(f32::from_le_bytes(b)))
        }),
        DataType::DtDouble => doubles.first().copied().or_else(|| {
            let b: [u8; 8] = view.content.get(..8)?.try_into().ok()?;
            Some(f64::from_le_bytes(b))
        }),
        _ => None,
    }
}

/// The reading state of one event file, kept between reads so that a file that grows is read
/// on from where reading stopped: each record is decoded once, however often the file is polled.
#[derive(Debug, Clone)]
pub struct FileState {
    pub id: FileId,
    checkpoint: Checkpoint,
    /// Counts over everything read so far; `bytes` is the length at the last read.
    pub counts: FileCounts,
    empty_reported: bool,
    /// See [`FileState::with_full_buckets`].
    full_buckets: bool,
}

impl FileState {
    pub fn new(id: FileId) -> FileState {
        FileState {
            id,
            checkpoint: Checkpoint::start(),
            counts: FileCounts::default(),
            empty_reported: false,
            full_buckets: false,
        }
    }

    /// Legacy histograms read with every bucket, empty interior ones included, as
    /// TensorBoard's loader gives them (see [`Histogram::compact`]).
    pub fn with_full_buckets(mut self) -> FileState {
        self.full_buckets = true;
        self
    }

    /// File offset up to which records have been read (a partial record after it waits).
    pub fn offset(&self) -> u64 {
        self.checkpoint.offset()
    }

    /// Reads the records added to the file since the last call (all of them the first time),
    /// calling `on_point` for each histogram value in file order and `on_problem` for each
    /// problem. Never fails: an unreadable file is a problem too. Returns the bytes consumed.
    pub fn read_new(
        &mut self,
        source: &dyn Source,
        plugins: &mut PluginMemory,
        on_point: &mut dyn FnMut(HistogramPoint),
        on_problem: &mut dyn FnMut(Problem),
    ) -> u64 {
        let unreadable = |path: &FileId, e: std::io::Error| {
            Problem::new(
                path.clone(),
                None,
                ProblemKind::Unreadable,
                format!("cannot open: {e}"),
            )
        };
        let len = match source.len(&self.id) {
            Ok(l) => l,
            Err(e) => {
                on_problem(unreadable(&self.id, e));
                return 0;
            }
        };
        if len < self.checkpoint.read_offset() {
            on_problem(Problem::new(
                self.id.clone(),
                Some(len),
                ProblemKind::Replaced,
                format!(
                    "file is now {len} bytes, shorter than the {} already read; read again \
                     from the start",
                    self.checkpoint.read_offset()
                ),
            ));
            *self = FileState::new(self.id.clone());
        }
        let path = &self.id;
        self.counts.bytes = len;
        if len == 0 {
            if !self.empty_reported {
                self.empty_reported = true;
                on_problem(Problem::new(
                    path.clone(),
                    None,
                    ProblemKind::EmptyFile,
                    "event file is empty",
                ));
            }
            return 0;
        }
        let from = self.checkpoint.read_offset();
        if len == from {
            return 0;
        }
        let reader = match source.open(path, from) {
            Ok(r) => r,
            Err(e) => {
                on_problem(unreadable(path, e));
                return 0;
            }
        };
        // A small file gets a buffer of its size: zeroing 1 MiB for each of 10 000 tiny files
        // costs more than reading them.
        let capacity = usize::try_from(len - from)
            .unwrap_or(usize::MAX)
            .clamp(64, DEFAULT_BUFFER);
        let checkpoint = std::mem::take(&mut self.checkpoint);
        let mut reader = RecordReader::resume(reader, checkpoint, capacity);
        let mut scratch = Scratch {
            full_buckets: self.full_buckets,
            ..Scratch::default()
        };
        while let Some(item) = reader.next() {
            match item {
                Item::Record { offset, data } => {
                    self.counts.records += 1;
                    decode_record(
                        path,
                        offset,
                        data,
                        plugins,
                        &mut self.counts,
                        &mut scratch,
                        on_point,
                        on_problem,
                    );
                }
                Item::Problem(e) => on_problem(Problem::from_record_error(path, &e)),
            }
        }
        self.checkpoint = reader.checkpoint();
        self.checkpoint.read_offset() - from
    }
}

/// Every histogram value of one file, in file order, with the problems found, as the report
/// reads them; no restart handling. A convenience for tests and tools; the report streams
/// with [`FileState`].
pub fn histograms_in_file(
    source: &dyn Source,
    file: &FileId,
) -> (Vec<HistogramPoint>, Vec<Problem>) {
    histograms_in_file_as(source, FileState::new(file.clone()))
}

/// [`histograms_in_file`] with every bucket, as TensorBoard's loader gives them
/// ([`FileState::with_full_buckets`]).
pub fn histograms_in_file_full(
    source: &dyn Source,
    file: &FileId,
) -> (Vec<HistogramPoint>, Vec<Problem>) {
    histograms_in_file_as(source, FileState::new(file.clone()).with_full_buckets())
}

fn histograms_in_file_as(
    source: &dyn Source,
    mut state: FileState,
) -> (Vec<HistogramPoint>, Vec<Problem>) {
    let (mut points, mut problems) = (Vec::new(), Vec::new());
    state.read_new(
        source,
        &mut PluginMemory::default(),
        &mut |p| points.push(p),
        &mut |p| problems.push(p),
    );
    (points, problems)
}

/// Reads the histogram of `tag` from the one record at `offset`, as it was read before (the
/// report uses this to revisit points it did not keep in memory).
pub fn histogram_at(
    source: &dyn Source,
    path: &FileId,
    offset: u64,
    tag: &str,
) -> Result<HistogramPoint, Problem> {
    PointReader::new(source).read(path, offset, tag)
}

/// Reads points again one record at a time, like [`histogram_at`], keeping its buffers from
/// one point to the next: a run of points (per-step output) then allocates only what it
/// returns.
pub struct PointReader<'s> {
    source: &'s dyn Source,
    buf: Vec<u8>,
    scratch: Scratch,
    plugins: PluginMemory,
    /// The file read last, kept open for the next point (points of a tag mostly share one).
    open: Option<OpenFile>,
    /// Bytes of the last record read: the next point of a tag is about as large, so the
    /// first read asks for that much and one `pread` usually gets the whole record.
    last_len: usize,
}

/// A [`Read`] over [`Source::read_at`] from some offset on.
struct At<'a> {
    source: &'a dyn Source,
    file: &'a FileId,
    pos: u64,
    open: &'a mut Option<OpenFile>,
}

impl std::io::Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.source.read_at(self.file, self.pos, buf, self.open)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<'s> PointReader<'s> {
    pub fn new(source: &'s dyn Source) -> PointReader<'s> {
        PointReader {
            source,
            buf: Vec::new(),
            scratch: Scratch::default(),
            plugins: PluginMemory::default(),
            open: None,
            last_len: 0,
        }
    }

    /// Legacy histograms read with every bucket, empty interior ones included (see
    /// [`Histogram::compact`]): what the raw bucket export shows.
    pub fn with_full_buckets(mut self) -> Self {
        self.scratch.full_buckets = true;
        self
    }

    /// The histogram of `tag` in the record at `offset` of `path`.
    pub fn read(
        &mut self,
        path: &FileId,
        offset: u64,
        tag: &str,
    ) -> Result<HistogramPoint, Problem> {
        let fail = |kind, msg: String| Problem::new(path.clone(), Some(offset), kind, msg);
        let cannot_open = |e: std::io::Error| {
            fail(
                ProblemKind::Unreadable,
                format!("cannot open the file again to read a point of {tag:?}: {e} (removed or replaced since it was read?)"),
            )
        };
        if self.open.as_ref().is_none_or(|o| o.id != *path) {
            // Opened here, so that a file that is gone is told apart from a short read.
            self.open = None;
            self.source
                .read_at(path, offset, &mut [], &mut self.open)
                .map_err(cannot_open)?;
        }
        let file = At {
            source: self.source,
            file: path,
            pos: offset,
            open: &mut self.open,
        };
        // A first read the size of the last record (at least 4 KiB) that grows with the
        // record: one point costs about its own size.
        let first = (self.last_len + self.last_len / 4 + 64).clamp(4 * 1024, 1 << 20);
        let start = Checkpoint::start_in(std::mem::take(&mut self.buf));
        let mut reader = RecordReader::resume(file, start, first);
        // The tag was read as a histogram before: a TF2 tensor names its plugin only on a
        // tag's first value, which this record need not be.
        if self.plugins.get(tag).is_none_or(|p| p != HISTOGRAMS_PLUGIN) {
            self.plugins
                .insert(tag.to_string(), HISTOGRAMS_PLUGIN.to_string());
        }
        let found = match reader.next() {
            Some(Item::Record { data, .. }) => {
                self.last_len = data.len() + 16;
                let mut found = None;
                let mut counts = FileCounts::default();
                decode_record(
                    path,
                    offset,
                    data,
                    &mut self.plugins,
                    &mut counts,
                    &mut self.scratch,
                    &mut |p| {
                        if p.tag == tag && found.is_none() {
                            found = Some(p)
                        }
                    },
                    &mut |_| {},
                );
                found.ok_or_else(|| {
                    fail(ProblemKind::BadEvent, format!("no histogram {tag:?} here"))
                })
            }
            Some(Item::Problem(e)) => Err(Problem::from_record_error(path, &e)),
            None => Err(fail(ProblemKind::Io, "no record at this offset".into())),
        };
        self.buf = reader.into_buffer();
        found
    }
}

/// Reusable buffers for decoding, so that the hot path allocates only what it keeps.
#[derive(Debug, Default)]
struct Scratch {
    a: Vec<f64>,
    b: Vec<f64>,
    /// Set by [`tensor_histogram`]: rows the tensor claimed beyond its values, kept as one
    /// bucket (a value that claims far more than it holds, reported).
    collapsed_rows: usize,
    /// Keep every bucket of a legacy histogram (the raw export); otherwise empty interior
    /// ones are left out where nothing reads them ([`Histogram::from_legacy_compact`]).
    full_buckets: bool,
    /// Where a compact legacy histogram is laid out ([`Histogram::from_legacy_compact_with`]).
    buckets: Vec<crate::histogram::Bucket>,
}

#[allow(clippy::too_many_arguments)]
fn decode_record(
    path: &FileId,
    offset: u64,
    data: &[u8],
    plugins: &mut PluginMemory,
    counts: &mut FileCounts,
    scratch: &mut Scratch,
    on_point: &mut dyn FnMut(HistogramPoint),
    on_problem: &mut dyn FnMut(Problem),
) {
    let bad_event = |e: wire::WireError| {
        Problem::new(
            path.clone(),
            Some(offset),
            ProblemKind::BadEvent,
            format!("record is not a valid Event: {e}"),
        )
    };
    let event = match wire::event(data) {
        Ok(e) => e,
        Err(e) => return on_problem(bad_event(e)),
    };
    let Some(summary) = event.summary.as_deref() else {
        return;
    };
    // The record is checked as a whole first, as a protobuf parser would: a malformed value
    // anywhere makes it a bad event, reported once. Then the values are read; the first (in
    // most records the only one) is not read twice.
    let mut rest = wire::summary_values(summary);
    let first = match rest.next().map(|v| wire::value(v?)) {
        None => return,
        Some(Ok(v)) => v,
        Some(Err(e)) => return on_problem(bad_event(e)),
    };
    if let Err(e) = rest.clone().try_for_each(|v| wire::value(v?).map(|_| ())) {
        return on_problem(bad_event(e));
    }
    let values = std::iter::once(first).chain(rest.filter_map(|v| wire::value(v.ok()?).ok()));
    // One value per tag per record: a second one would make the point ambiguous (which one
    // does a re-read by offset find?), so it is reported and skipped.
    // The first tag is held without allocating (most records hold one value); a set takes the
    // others, so that a record of a million values costs a million lookups, not a million².
    let mut first_tag: Option<&str> = None;
    let mut more_tags: HashSet<&str, foldhash::fast::RandomState> = HashSet::default();
    for value in values {
        let repeated = match first_tag {
            None => {
                first_tag = Some(value.tag);
                false
            }
            Some(first) => first == value.tag || !more_tags.insert(value.tag),
        };
        if repeated {
            on_problem(Problem::new(
                path.clone(),
                Some(offset),
                ProblemKind::BadEvent,
                format!(
                    "tag {:?} has a second value in the record of step {}; the first is kept",
                    value.tag, event.step
                ),
            ));
            continue;
        }
        if let Some(plugin) = value.plugin_name {
            if plugins.get(value.tag).map(String::as_str) != Some(plugin) {
                plugins.insert(value.tag.to_string(), plugin.to_string());
            }
        }
        let histogram = match value.kind {
            wire::ValueKind::Histo(h) => legacy_histogram(&h, scratch),
            wire::ValueKind::Tensor(t) => {
                scratch.a.clear();
                scratch.b.clear();
                let view = match wire::tensor(&t, &mut scratch.a, &mut scratch.b) {
                    Ok(v) => v,
                    Err(e) => return on_problem(bad_event(e)),
                };
                let plugin = plugins.get(value.tag).map(String::as_str);
                match plugin {
                    Some(HISTOGRAMS_PLUGIN) => tensor_histogram(&view, scratch),
                    None if has_histogram_signature(&view) => tensor_histogram(&view, scratch),
                    _ => {
                        if view.dims.is_empty() {
                            let v = scalar_tensor(&view, &scratch.a, &scratch.b);
                            counts.scalar(value.tag, event.step, v);
                        } else {
                            counts.other_values += 1;
                        }
                        continue;
                    }
                }
            }
            wire::ValueKind::Scalar(v) => {
                counts.scalar(value.tag, event.step, Some(f64::from(v)));
                continue;
            }
            wire::ValueKind::Other => {
                counts.other_values += 1;
                continue;
            }
        };
        if scratch.collapsed_rows > 0 {
            on_problem(Problem::new(
                path.clone(),
                Some(offset),
                ProblemKind::BadHistogram,
                format!(
                    "tag {:?} at step {}: the tensor claims {} more rows than it holds values \
                     for; as TensorProto says, they repeat its last value, and are kept as one \
                     bucket",
                    value.tag, event.step, scratch.collapsed_rows
                ),
            ));
            scratch.collapsed_rows = 0;
        }
        match histogram {
            Ok(histogram) => {
                counts.histograms += 1;
                on_point(HistogramPoint {
                    tag: value.tag.to_string(),
                    step: event.step,
                    wall_time: event.wall_time,
                    offset,
                    histogram,
                });
            }
            Err(e) => on_problem(Problem::new(
                path.clone(),
                Some(offset),
                ProblemKind::BadHistogram,
                format!("tag {:?} at step {}: {e}", value.tag, event.step),
            )),
        }
    }
}

/// Why a histogram value could not be read.
#[derive(Debug, thiserror::Error)]
enum ValueError {
    #[error(transparent)]
    Wire(#[from] wire::WireError),
    #[error(transparent)]
    Histogram(#[from] HistogramError),
}

fn legacy_histogram(data: &[u8], scratch: &mut Scratch) -> Result<Histogram, ValueError> {
    fn normalise<T: LeF64>(
        [min, max, num, sum, sum_squares]: [f64; 5],
        limits: &[T],
        counts: &[T],
        full_buckets: bool,
        out: &mut Vec<Bucket>,
    ) -> Result<Histogram, HistogramError> {
        let exact = ExactMoments {
            min,
            max,
            num,
            sum,
            sum_squares,
        };
        if full_buckets {
            Histogram::from_legacy(exact, limits, counts)
        } else {
            Histogram::from_legacy_compact_with(exact, limits, counts, out)
        }
    }
    // Every writer's arrays are read where they lie in the record; split or unpacked ones
    // are copied out first.
    let full = scratch.full_buckets;
    if let Some(h) = wire::histogram_packed(data)? {
        return Ok(normalise(
            h.exact,
            h.limits,
            h.counts,
            full,
            &mut scratch.buckets,
        )?);
    }
    scratch.a.clear();
    scratch.b.clear();
    let exact = wire::histogram(data, &mut scratch.a, &mut scratch.b)?;
    Ok(normalise(
        exact,
        &scratch.a,
        &scratch.b,
        full,
        &mut scratch.buckets,
    )?)
}

fn has_histogram_signature(t: &wire::TensorView) -> bool {
    let dims = &t.dims;
    let float = t.dtype == DataType::DtDouble as i32 || t.dtype == DataType::DtFloat as i32;
    float && dims.len() == 2 && dims[1] == 3 && dims[0] >= 0
}

/// Reads a `[k, 3]` tensor of DT_DOUBLE or DT_FLOAT, from `tensor_content` (little-endian) or
/// from the typed value fields (in `scratch.a` for floats, `scratch.b` for doubles).
/// TensorProto's rule that a short value list repeats its last value (and an empty one means
/// zeros) is applied, as `tf.make_ndarray` does.
fn tensor_histogram(t: &wire::TensorView, scratch: &mut Scratch) -> Result<Histogram, ValueError> {
    let dims = &t.dims;
    if dims.len() != 2 || dims[1] != 3 || dims[0] < 0 {
        return Err(HistogramError::BadShape {
            shape: dims.clone(),
        }
        .into());
    }
    let want = (dims[0] as usize).saturating_mul(3);
    let is_double = t.dtype == DataType::DtDouble as i32;
    if !is_double && t.dtype != DataType::DtFloat as i32 {
        return Err(HistogramError::BadDtype { dtype: t.dtype }.into());
    }
    let width = if is_double { 8 } else { 4 };
    if !t.content.is_empty() {
        if t.content.len() != want.saturating_mul(width) {
            return Err(HistogramError::BadLength {
                got: t.content.len() / width,
                want,
            }
            .into());
        }
        if is_double {
            // Read where they lie in the record (the length is checked above).
            return Ok(Histogram::from_tensor_rows(t.content.as_chunks::<8>().0)?);
        }
        let values = &mut scratch.a;
        values.clear();
        values.extend(
            t.content
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes")))),
        );
        return Ok(Histogram::from_tensor_rows(values)?);
    }
    let values = if is_double {
        &mut scratch.b
    } else {
        &mut scratch.a
    };
    if values.len() > want {
        return Err(HistogramError::BadLength {
            got: values.len(),
            want,
        }
        .into());
    }
    // For the typed fields `want` comes from the shape, which the record only claims: a
    // 60-byte value can claim a million rows. The rows past the values given are all
    // `(v, v, v)` — a zero-width bucket at `v` holding `v`. Up to `REPEATED_ROWS` of them are
    // written out as TensorFlow would; more are kept as one bucket holding `v` times their
    // number: the same distribution, in memory bounded by the bytes the record really has.
    const REPEATED_ROWS: usize = 1024;
    let mut repeated = 0usize;
    if values.len() < want {
        let fill = values.last().copied().unwrap_or(0.0);
        let given_rows = values.len().div_ceil(3);
        if want / 3 - given_rows <= REPEATED_ROWS {
            values.resize(want, fill);
        } else {
            values.resize(given_rows * 3, fill);
            repeated = want / 3 - given_rows;
        }
    }
    let mut h = Histogram::from_tensor_rows(values)?;
    if repeated > 0 {
        let fill = values.last().copied().unwrap_or(0.0);
        h.buckets.push(crate::histogram::Bucket {
            left: fill,
            right: fill,
            count: fill * repeated as f64,
        });
        crate::histogram::check_order(&h.buckets)?;
        scratch.collapsed_rows = repeated;
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::{Bucket, WireForm};
    use crate::proto::{
        self, summary, summary::value::Value as ValueKind, tensor_shape_proto, Event,
        HistogramProto, Summary, TensorProto, TensorShapeProto,
    };
    use prost::Message;

    fn shape(dims: &[i64]) -> Option<TensorShapeProto> {
        Some(TensorShapeProto {
            dim: dims
                .iter()
                .map(|&size| tensor_shape_proto::Dim {
                    size,
                    name: String::new(),
                })
                .collect(),
            unknown_rank: false,
        })
    }

    fn tensor_value(tag: &str, plugin: Option<&str>, t: TensorProto) -> summary::Value {
        summary::Value {
            tag: tag.into(),
            metadata: plugin.map(|p| proto::SummaryMetadata {
                plugin_data: Some(proto::summary_metadata::PluginData {
                    plugin_name: p.into(),
                    content: Default::default(),
                }),
                ..Default::default()
            }),
            value: Some(ValueKind::Tensor(t)),
            ..Default::default()
        }
    }

    /// A TF1-style legacy histogram of the values {-1, 1}: DBL_MAX as the last limit.
    fn legacy_value() -> summary::Value {
        summary::Value {
            tag: "h".into(),
            value: Some(ValueKind::Histo(HistogramProto {
                min: -1.0,
                max: 1.0,
                num: 2.0,
                sum: 0.0,
                sum_squares: 2.0,
                bucket_limit: vec![-1.0, 1.0, f64::MAX],
                bucket: vec![1.0, 1.0, 0.0],
            })),
            ..Default::default()
        }
    }

    fn event(step: i64, values: Vec<summary::Value>) -> Vec<u8> {
        Event {
            wall_time: 1.0,
            step,
            what: Some(proto::event::What::Summary(Summary { value: values })),
        }
        .encode_to_vec()
    }

    fn decode(records: &[Vec<u8>]) -> (Vec<HistogramPoint>, Vec<Problem>, FileCounts) {
        let (mut pts, mut probs) = (Vec::new(), Vec::new());
        let mut counts = FileCounts::default();
        let mut plugins = PluginMemory::default();
        for (i, r) in records.iter().enumerate() {
            decode_record(
                &FileId::new("f"),
                i as u64,
                r,
                &mut plugins,
                &mut counts,
                &mut Scratch::default(),
                &mut |p| pts.push(p),
                &mut |p| probs.push(p),
            );
        }
        (pts, probs, counts)
    }

    fn doubles(rows: &[f64]) -> TensorProto {
        TensorProto {
            dtype: DataType::DtDouble as i32,
            tensor_shape: shape(&[rows.len() as i64 / 3, 3]),
            tensor_content: rows
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>()
                .into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_record_of_many_values_is_read_in_time_linear_in_them() {
        // 200 000 scalar values with distinct tags in one record (3.6 MB, as a crafted file
        // could hold), then one tag again. The duplicate check once compared each tag with
        // every one before it: 2·10¹⁰ comparisons, 32 s here for this one record (0.15 s now).
        let n = 200_000;
        let mut values: Vec<summary::Value> = (0..n)
            .map(|i| summary::Value {
                tag: format!("t{i}"),
                value: Some(summary::value::Value::SimpleValue(1.0)),
                ..Default::default()
            })
            .collect();
        values.push(values[n / 2].clone());
        let (pts, probs, counts) = decode(&[event(3, values)]);
        assert!(pts.is_empty());
        assert_eq!(counts.scalars, n as u64);
        assert_eq!(probs.len(), 1);
        assert!(
            probs[0].message.contains("\"t100000\" has a second value"),
            "{}",
            probs[0].message
        );
    }

    #[test]
    fn tensor_histogram_from_content_and_plugin_remembered_for_later_values() {
        // A tensor of a tag whose plugin is "scalars" must not be read as a histogram, even
        // with a [k,3] shape; the "histograms" plugin seen once applies to later values.
        let rows = [0.0, 1.0, 2.0, 1.0, 2.0, 3.0];
        let recs = vec![
            event(
                0,
                vec![tensor_value("w", Some("histograms"), doubles(&rows))],
            ),
            event(1, vec![tensor_value("w", None, doubles(&rows))]),
            event(1, vec![tensor_value("odd", Some("other"), doubles(&rows))]),
            event(2, vec![tensor_value("odd", None, doubles(&rows))]),
        ];
        let (pts, probs, counts) = decode(&recs);
        assert!(probs.is_empty());
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[1].step, 1);
        assert_eq!(pts[1].histogram.form, WireForm::Tensor);
        assert_eq!(
            pts[1].histogram.buckets[1],
            Bucket {
                left: 1.0,
                right: 2.0,
                count: 3.0
            }
        );
        assert_eq!(counts.other_values, 2);
    }

    #[test]
    fn learning_rate_scalars_keep_their_largest_and_last_values() {
        let simple = |tag: &str, v: f32| summary::Value {
            tag: tag.into(),
            value: Some(ValueKind::SimpleValue(v)),
            ..Default::default()
        };
        // Keras' epoch_learning_rate: a scalar tensor of the scalars plugin, as float_val or
        // as 8 bytes of content.
        let keras = |v: f32| {
            tensor_value(
                "epoch_learning_rate",
                Some("scalars"),
                TensorProto {
                    dtype: DataType::DtFloat as i32,
                    float_val: vec![v],
                    ..Default::default()
                },
            )
        };
        let content = tensor_value(
            "train/lr",
            Some("scalars"),
            TensorProto {
                dtype: DataType::DtDouble as i32,
                tensor_content: 0.25f64.to_le_bytes().to_vec().into(),
                ..Default::default()
            },
        );
        // A cosine schedule down to 0: the largest value is the first, the last is 0.
        let recs = vec![
            event(0, vec![simple("lr", 0.1), simple("loss", 9.0)]),
            event(1, vec![simple("lr", 0.05), keras(0.5)]),
            event(
                2,
                vec![simple("lr", 0.0), simple("lr_rate_of_nothing", f32::NAN)],
            ),
        ];
        let (_, probs, counts) = decode(&recs);
        assert!(probs.is_empty());
        assert_eq!(counts.scalars, 6);
        let lr = counts.learning_rate.unwrap();
        assert_eq!((lr.values, lr.max, lr.max_step), (4, 0.5, 1));
        assert_eq!((lr.last, lr.last_step), (0.0, 2));
        let (_, _, counts) = decode(&[event(3, vec![content])]);
        assert_eq!(counts.learning_rate.unwrap().max, 0.25);
        // Names: the writers' and users' spellings, not any tag with "lr" in it.
        for yes in [
            "lr",
            "train/lr",
            "lr-Adam",
            "lr-SGD/pg1",
            "epoch_learning_rate",
            "Learning-Rate",
            "LR",
            "opt/LR_group0",
            "train/LearningRate",
        ] {
            assert!(is_learning_rate(yes), "{yes}");
        }
        for no in [
            "loss",
            "clr_loss",
            "layer/lrelu",
            "accuracy",
            "lrx",
            "l",
            "",
            "learning",
        ] {
            assert!(!is_learning_rate(no), "{no}");
        }
    }

    #[test]
    fn float_tensor_and_typed_values_with_repeat_last_rule() {
        let f = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: shape(&[2, 3]),
            float_val: vec![0.5, 1.5, 4.0, 1.5],
            ..Default::default()
        };
        // Missing values repeat the last one: rows (0.5,1.5,4) and (1.5,1.5,1.5).
        let zero = TensorProto {
            dtype: DataType::DtDouble as i32,
            tensor_shape: shape(&[2, 3]),
            ..Default::default()
        };
        let empty = doubles(&[]);
        let (pts, probs, _) = decode(&[event(
            3,
            vec![
                tensor_value("f", Some("histograms"), f),
                tensor_value("z", Some("histograms"), zero),
                tensor_value("e", Some("histograms"), empty),
            ],
        )]);
        assert!(probs.is_empty(), "{probs:?}");
        assert_eq!(
            pts[0].histogram.buckets[1],
            Bucket {
                left: 1.5,
                right: 1.5,
                count: 1.5
            }
        );
        assert_eq!(pts[1].histogram.count(), 0.0);
        assert_eq!(pts[1].histogram.buckets.len(), 2);
        assert!(pts[2].histogram.buckets.is_empty());
    }

    #[test]
    fn a_few_values_claiming_a_huge_shape_cost_no_more_memory_than_they_hold() {
        // 4 floats claiming a million rows (a 60-byte value; hostile input).
        let f = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: shape(&[1 << 20, 3]),
            float_val: vec![0.5, 1.5, 4.0, 1.5],
            ..Default::default()
        };
        let (pts, probs, _) = decode(&[event(1, vec![tensor_value("f", Some("histograms"), f)])]);
        // Read, and reported with its tag and offset.
        assert_eq!(probs.len(), 1, "{probs:?}");
        assert_eq!(probs[0].kind, ProblemKind::BadHistogram);
        assert!(probs[0].message.contains("\"f\"") && probs[0].offset.is_some());
        let b = &pts[0].histogram.buckets;
        assert_eq!(b.len(), 3, "{b:?}");
        // The same distribution: the repeated rows are one zero-width bucket at 1.5.
        assert_eq!(
            b[2],
            Bucket {
                left: 1.5,
                right: 1.5,
                count: 1.5 * ((1 << 20) - 2) as f64
            }
        );
        assert_eq!(pts[0].histogram.count(), 4.0 + 1.5 * ((1 << 20) - 1) as f64);
    }

    #[test]
    fn legacy_histo_and_bad_values_are_reported_not_fatal() {
        let histo = legacy_value();
        let bad = summary::Value {
            tag: "bad".into(),
            value: Some(ValueKind::Histo(HistogramProto {
                bucket_limit: vec![1.0],
                bucket: vec![],
                ..Default::default()
            })),
            ..Default::default()
        };
        let wrong_shape = tensor_value("ws", Some("histograms"), {
            let mut t = doubles(&[1.0, 2.0, 3.0, 4.0]);
            t.tensor_shape = shape(&[2, 2]);
            t
        });
        let scalar = summary::Value {
            tag: "loss".into(),
            value: Some(ValueKind::SimpleValue(0.5)),
            ..Default::default()
        };
        let (pts, probs, counts) = decode(&[
            event(7, vec![histo, bad, wrong_shape, scalar]),
            vec![0xff, 0xff],
        ]);
        assert_eq!(pts.len(), 1);
        assert_eq!(pts[0].histogram.buckets.len(), 2);
        assert_eq!(pts[0].histogram.exact.unwrap().sum_squares, 2.0);
        let kinds: Vec<_> = probs.iter().map(|p| (p.kind, p.offset)).collect();
        assert_eq!(
            kinds,
            vec![
                (ProblemKind::BadHistogram, Some(0)),
                (ProblemKind::BadHistogram, Some(0)),
                (ProblemKind::BadEvent, Some(1)),
            ]
        );
        assert_eq!(counts.scalars, 1);
    }

    #[test]
    fn random_and_mutated_payloads_never_panic() {
        // Cheap deterministic fuzzing of the decoder: real encodings with bytes flipped,
        // truncated and spliced, plus pure noise. Every outcome must be a point or a problem.
        let rows = [0.0, 1.0, 2.0, 1.0, 2.0, 3.0];
        let mut seeds = vec![
            event(
                3,
                vec![tensor_value("w", Some("histograms"), doubles(&rows))],
            ),
            event(4, vec![tensor_value("w", None, doubles(&rows))]),
        ];
        let histo = legacy_value();
        seeds.push(event(5, vec![histo]));
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut cases = Vec::new();
        for round in 0..3000 {
            let mut b = seeds[round % seeds.len()].clone();
            match next() % 4 {
                0 => {
                    let i = (next() as usize) % b.len();
                    b[i] ^= 1 << (next() % 8);
                }
                1 => b.truncate((next() as usize) % b.len()),
                2 => {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                    let j = (next() as usize) % b.len();
                    b[j] = 0xff;
                }
                _ => b = (0..(next() % 64)).map(|_| next() as u8).collect(),
            }
            cases.push(b);
        }
        let (pts, probs, _) = decode(&cases);
        assert!(!pts.is_empty() && !probs.is_empty());
    }
}

//! Where the bytes come from. Every byte histinspect reads goes through a [`Source`]: it finds
//! the event files under its roots ([`Source::discover`]), opens a file for sequential reading
//! from a byte offset ([`Source::open`]) and says how long a file is now ([`Source::len`]).
//!
//! Everything below the front ends works on [`FileId`]s and [`RunName`]s and never learns
//! whether a file is on the local filesystem ([`LocalSource`]), in memory ([`MemorySource`],
//! used by the tests and by embedders that already hold the bytes) or, later, in an object
//! store. A new kind of storage is one new implementation of this trait.
//!
//! The conventions of discovery are TensorBoard's (see `docs/format.md`, "Logdirs and runs"):
//! an event file is a file whose name contains `tfevents`; a run is the directory holding it,
//! named relative to the root (`.` for the root itself); a run's files are read in name order.

mod local;
mod memory;

pub use local::LocalSource;
pub use memory::MemorySource;

use crate::event_file::Problem;
use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

/// Names a file inside a [`Source`]: a path for the local filesystem, a key for memory or
/// object storage. In a [`Problem`] it may also name a directory or a root that was given.
/// Cheap to clone; compared and ordered as the string it displays.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(Arc<str>);

impl FileId {
    pub fn new(s: impl Into<Arc<str>>) -> FileId {
        FileId(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the id ends with `suffix` (a file name, a path tail).
    pub fn ends_with(&self, suffix: &str) -> bool {
        self.0.ends_with(suffix)
    }

    /// The last component: what file names are sorted and matched by.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for FileId {
    fn from(s: &str) -> FileId {
        FileId::new(s)
    }
}

/// The name of a run: its directory relative to the root given (`.` for the root).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunName(Arc<str>);

impl RunName {
    pub fn new(s: impl Into<Arc<str>>) -> RunName {
        RunName(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for RunName {
    fn from(s: &str) -> RunName {
        RunName::new(s)
    }
}

/// One run: its event files in reading order.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub name: RunName,
    pub files: Vec<FileId>,
}

/// The runs found under a source's roots, and what was odd on the way.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Sorted by name.
    pub runs: Vec<Run>,
    pub problems: Vec<Problem>,
}

impl Discovery {
    /// Runs from their names and files (in any order): files put in reading order, runs in
    /// name order.
    pub fn from_runs(
        runs: std::collections::BTreeMap<String, Vec<FileId>>,
        problems: Vec<Problem>,
    ) -> Discovery {
        let runs = runs
            .into_iter()
            .map(|(name, mut files)| {
                sort_files(&mut files);
                Run {
                    name: RunName::new(name),
                    files,
                }
            })
            .collect();
        Discovery { runs, problems }
    }

    /// Bytes in all discovered files now (for progress display).
    pub fn total_bytes(&self, source: &dyn Source) -> u64 {
        self.runs
            .iter()
            .flat_map(|r| &r.files)
            .map(|f| source.len(f).unwrap_or(0))
            .sum()
    }

    /// Keeps the runs whose name `keep` accepts.
    pub fn retain_runs(&mut self, keep: impl Fn(&RunName) -> bool) {
        self.runs.retain(|r| keep(&r.name));
    }
}

/// True for a file name TensorBoard treats as an event file.
pub fn is_event_file_name(name: &str) -> bool {
    name.contains("tfevents")
}

/// Sorts a run's files into reading order: by file name (writers put a timestamp first), then
/// by the whole id; duplicates removed.
pub fn sort_files(files: &mut Vec<FileId>) {
    files.sort_by(|a, b| a.file_name().cmp(b.file_name()).then(a.cmp(b)));
    files.dedup();
}

/// A sequential reader over one file, from some byte offset.
pub type FileReader<'a> = Box<dyn Read + Send + 'a>;

/// Where event files live. Implementations must be usable from several threads at once: runs
/// are read in parallel.
pub trait Source: Send + Sync {
    /// The runs and event files under the roots, in a deterministic order.
    fn discover(&self) -> Discovery;
    /// Opens `file` for reading from byte `offset` on.
    fn open(&self, file: &FileId, offset: u64) -> io::Result<FileReader<'_>>;
    /// The file's length now (it may grow while it is being written).
    fn len(&self, file: &FileId) -> io::Result<u64>;
}

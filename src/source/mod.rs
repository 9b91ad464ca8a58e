//! Where the bytes come from. Every byte histinspect reads goes through a [`Source`]: it finds
//! the event files under its roots ([`Source::discover`]), opens a file for sequential reading
//! from a byte offset ([`Source::open`]) and says how long a file is now ([`Source::len`]).
//!
//! Everything below the front ends works on [`FileId`]s and [`RunName`]s and never learns
//! whether a file is on the local filesystem ([`LocalSource`]), in memory ([`MemorySource`],
//! used by the tests and by embedders that already hold the bytes) or in an object store
//! ([`ObjectSource`], `s3://` and `gs://`). A new kind of storage is one new implementation of
//! this trait.
//!
//! The conventions of discovery are TensorBoard's (see `docs/format.md`, "Logdirs and runs"):
//! an event file is a file whose name contains `tfevents`; a run is the directory holding it,
//! named relative to the root (`.` for the root itself); a run's files are read in name order.

mod local;
mod memory;
#[cfg(feature = "remote")]
mod object;

pub use local::LocalSource;
pub use memory::MemorySource;
#[cfg(feature = "remote")]
pub use object::{is_remote, ObjectSource};

/// True for a path that names a logdir in object storage.
#[cfg(not(feature = "remote"))]
pub fn is_remote(path: &str) -> bool {
    path.starts_with("s3://") || path.starts_with("gs://")
}

/// The source of the paths given: local directories and files, and `s3://` / `gs://` logdirs
/// (with the default `remote` feature; without it they are reported as unreadable). Runs are
/// named after their root when there is more than one root.
pub fn for_paths(paths: &[std::path::PathBuf]) -> Box<dyn Source> {
    let (remote, local): (Vec<&std::path::PathBuf>, Vec<&std::path::PathBuf>) = paths
        .iter()
        .partition(|p| p.to_str().is_some_and(is_remote));
    let several = paths.len() > 1;
    let local_source = LocalSource::new(local.iter().map(|p| (*p).clone())).prefixing(several);
    if remote.is_empty() {
        return Box::new(local_source);
    }
    let urls: Vec<String> = remote
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    #[cfg(feature = "remote")]
    let remote_source: Box<dyn Source> = Box::new(ObjectSource::new(&urls, several));
    #[cfg(not(feature = "remote"))]
    let remote_source: Box<dyn Source> = Box::new(Unsupported(urls));
    if local.is_empty() {
        return remote_source;
    }
    Box::new(Both {
        local: local_source,
        remote: remote_source,
    })
}

/// Local and remote roots together: files go to the source their id names.
struct Both {
    local: LocalSource,
    remote: Box<dyn Source>,
}

impl Both {
    fn of(&self, file: &FileId) -> &dyn Source {
        if is_remote(file.as_str()) {
            &*self.remote
        } else {
            &self.local
        }
    }
}

impl Source for Both {
    fn discover(&self) -> Discovery {
        let (a, b) = (self.local.discover(), self.remote.discover());
        let mut runs: std::collections::BTreeMap<String, Vec<FileId>> = Default::default();
        for r in a.runs.into_iter().chain(b.runs) {
            runs.entry(r.name.as_str().to_string())
                .or_default()
                .extend(r.files);
        }
        Discovery::from_runs(runs, a.problems.into_iter().chain(b.problems).collect())
    }

    fn open(&self, file: &FileId, offset: u64) -> io::Result<FileReader<'_>> {
        self.of(file).open(file, offset)
    }

    fn len(&self, file: &FileId) -> io::Result<u64> {
        self.of(file).len(file)
    }

    fn read_at(
        &self,
        file: &FileId,
        offset: u64,
        buf: &mut [u8],
        open: &mut Option<OpenFile>,
    ) -> io::Result<usize> {
        self.of(file).read_at(file, offset, buf, open)
    }
}

/// Remote roots in a build without the `remote` feature.
#[cfg(not(feature = "remote"))]
struct Unsupported(Vec<String>);

#[cfg(not(feature = "remote"))]
impl Source for Unsupported {
    fn discover(&self) -> Discovery {
        let problems = self
            .0
            .iter()
            .map(|u| {
                Problem::new(
                    FileId::new(u.as_str()),
                    None,
                    crate::event_file::ProblemKind::NoEventFiles,
                    "this build has no remote support (built without the `remote` feature)",
                )
            })
            .collect();
        Discovery {
            runs: Vec::new(),
            problems,
        }
    }

    fn open(&self, _: &FileId, _: u64) -> io::Result<FileReader<'_>> {
        Err(io::Error::other("no remote support"))
    }

    fn len(&self, _: &FileId) -> io::Result<u64> {
        Err(io::Error::other("no remote support"))
    }
}

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
    /// Reads bytes of `file` from `offset` into `buf` (0 at the end), for reading single
    /// records here and there (per-step output). `open` is what the caller keeps between calls,
    /// so that a source can keep the file open: local files are then read with one `pread`
    /// per call instead of open, seek, read and close. The default opens the file each time.
    fn read_at(
        &self,
        file: &FileId,
        offset: u64,
        buf: &mut [u8],
        open: &mut Option<OpenFile>,
    ) -> io::Result<usize> {
        let _ = open;
        self.open(file, offset)?.read(buf)
    }
}

/// A file a [`Source::read_at`] caller keeps open between reads.
#[derive(Debug)]
pub struct OpenFile {
    pub(crate) id: FileId,
    pub(crate) file: std::fs::File,
}

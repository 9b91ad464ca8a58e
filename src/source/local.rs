//! The local filesystem: directories searched recursively, symbolic links followed, single
//! event files given directly. The only module that knows a file is a local path.
//!
//! A directory reached again through its own descendants is a loop and is reported; a
//! directory reached twice by different paths is read once. A file named on the command line
//! is read whatever its name; with several roots, run names are prefixed by the root as given.

use super::{is_event_file_name, Discovery, FileId, FileReader, OpenFile, Source};
use crate::event_file::{Problem, ProblemKind};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// Event files under local directories and files.
#[derive(Debug)]
pub struct LocalSource {
    roots: Vec<PathBuf>,
    /// Name runs after their root even with one root (other roots are remote).
    prefix_roots: bool,
    /// The real path of every file handed out, for names that do not survive the trip
    /// through a string (non-UTF-8 file names).
    paths: RwLock<HashMap<FileId, PathBuf>>,
}

impl LocalSource {
    pub fn new(roots: impl IntoIterator<Item = impl Into<PathBuf>>) -> LocalSource {
        LocalSource {
            roots: roots.into_iter().map(Into::into).collect(),
            prefix_roots: false,
            paths: RwLock::new(HashMap::new()),
        }
    }

    /// Runs named after their root (as several roots are) when `yes`, however many roots are
    /// local: the others are remote.
    pub fn prefixing(mut self, yes: bool) -> LocalSource {
        self.prefix_roots |= yes;
        self
    }

    /// The id of a local path (registered so that [`Source::open`] finds it again).
    pub fn id(&self, path: &Path) -> FileId {
        let id = id_of(path);
        if id.as_str() != path.as_os_str().to_string_lossy() || path.to_str().is_none() {
            self.register(&id, path);
        }
        id
    }

    fn register(&self, id: &FileId, path: &Path) {
        if let Ok(mut m) = self.paths.write() {
            m.insert(id.clone(), path.to_path_buf());
        }
    }

    fn path(&self, id: &FileId) -> PathBuf {
        self.paths
            .read()
            .ok()
            .and_then(|m| m.get(id).cloned())
            .unwrap_or_else(|| PathBuf::from(id.as_str()))
    }
}

fn id_of(path: &Path) -> FileId {
    FileId::new(path.display().to_string())
}

impl Source for LocalSource {
    fn discover(&self) -> Discovery {
        let mut runs: BTreeMap<String, Vec<FileId>> = BTreeMap::new();
        let mut problems = Vec::new();
        let prefix_roots = self.prefix_roots || self.roots.len() > 1;
        let mut seen_dirs = HashSet::new();
        for root in &self.roots {
            let meta = match fs::metadata(root) {
                Ok(m) => m,
                Err(e) => {
                    problems.push(Problem::new(
                        id_of(root),
                        None,
                        ProblemKind::NoEventFiles,
                        format!("cannot read: {e}"),
                    ));
                    continue;
                }
            };
            if !meta.is_file() && !meta.is_dir() {
                problems.push(Problem::new(
                    id_of(root),
                    None,
                    ProblemKind::Unreadable,
                    "not a regular file or a directory (a FIFO, socket or device?); not read",
                ));
                continue;
            }
            if meta.is_file() {
                let dir = root.parent().filter(|p| !p.as_os_str().is_empty());
                let name = dir.map_or(".".to_string(), |d| d.display().to_string());
                runs.entry(name).or_default().push(self.id(root));
                continue;
            }
            let before: usize = runs.values().map(Vec::len).sum();
            let mut walker = Walker {
                source: self,
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
                    id_of(root),
                    None,
                    ProblemKind::NoEventFiles,
                    "no event files (names containing \"tfevents\") found here",
                ));
            }
        }
        Discovery::from_runs(runs, problems)
    }

    fn open(&self, file: &FileId, offset: u64) -> io::Result<FileReader<'_>> {
        let mut f = fs::File::open(self.path(file))?;
        if offset > 0 {
            f.seek(SeekFrom::Start(offset))?;
        }
        Ok(Box::new(f))
    }

    fn len(&self, file: &FileId) -> io::Result<u64> {
        fs::metadata(self.path(file)).map(|m| m.len())
    }

    #[cfg(unix)]
    fn read_at(
        &self,
        file: &FileId,
        offset: u64,
        buf: &mut [u8],
        open: &mut Option<OpenFile>,
    ) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let f = match open {
            Some(o) if o.id == *file => &o.file,
            _ => {
                let f = fs::File::open(self.path(file))?;
                &open
                    .insert(OpenFile {
                        id: file.clone(),
                        file: f,
                    })
                    .file
            }
        };
        f.read_at(buf, offset)
    }
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
    source: &'a LocalSource,
    root: &'a Path,
    prefix: Option<String>,
    runs: &'a mut BTreeMap<String, Vec<FileId>>,
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

    fn problem(&mut self, path: &Path, kind: ProblemKind, message: String) {
        self.problems
            .push(Problem::new(id_of(path), None, kind, message));
    }

    fn walk(&mut self, dir: &Path) {
        let id = dir_id(dir);
        if let Some(id) = &id {
            if self.ancestors.contains(id) {
                self.problem(
                    dir,
                    ProblemKind::SymlinkLoop,
                    "symbolic link loop: this directory contains itself; not followed again".into(),
                );
                return;
            }
            if !self.seen.insert(id.to_owned()) {
                return; // reached by another path already: read once
            }
        }
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.problem(
                    dir,
                    ProblemKind::Unreadable,
                    format!("cannot list directory: {e}"),
                );
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
                        self.problem(&path, ProblemKind::Unreadable, format!("cannot read: {e}"));
                    }
                    continue;
                }
            };
            if meta.is_dir() {
                if is_event_file_name(&name) {
                    self.problem(
                        &path,
                        ProblemKind::NotAFile,
                        "named like an event file but is a directory; searched as a directory"
                            .into(),
                    );
                }
                self.walk(&path);
            } else if is_event_file_name(&name) {
                if meta.is_file() {
                    let run = self.run_name(dir);
                    let id = self.source.id(&path);
                    self.runs.entry(run).or_default().push(id);
                } else {
                    self.problem(
                        &path,
                        ProblemKind::NotAFile,
                        "named like an event file but is not a regular file; skipped".into(),
                    );
                }
            }
        }
        if id.is_some() {
            self.ancestors.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discover(roots: &[PathBuf]) -> Discovery {
        LocalSource::new(roots.iter().cloned()).discover()
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
        assert!(d.runs[0].files[0]
            .as_str()
            .ends_with("events.out.tfevents.1"));
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

    #[cfg(unix)]
    #[test]
    fn a_fifo_given_as_a_path_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("events.out.tfevents.fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo here
        }
        let d = discover(&[fifo]);
        assert!(d.runs.is_empty());
        assert_eq!(d.problems[0].kind, ProblemKind::Unreadable);
        assert!(
            d.problems[0].message.contains("FIFO"),
            "{}",
            d.problems[0].message
        );
    }

    #[test]
    fn open_reads_from_an_offset_and_len_follows_growth() {
        use std::io::{Read, Write};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.out.tfevents.1");
        fs::write(&path, b"abcdef").unwrap();
        let s = LocalSource::new([dir.path()]);
        let id = s.discover().runs[0].files[0].clone();
        let mut buf = String::new();
        s.open(&id, 2).unwrap().read_to_string(&mut buf).unwrap();
        assert_eq!(buf, "cdef");
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"gh")
            .unwrap();
        assert_eq!(s.len(&id).unwrap(), 8);
    }
}

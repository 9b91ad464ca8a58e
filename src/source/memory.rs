//! Event files held in memory, keyed by `/`-separated names (`run/sub/events.out.tfevents.1`).
//! The tests read whole analyses from it, and grow its files a record — or half a record — at a
//! time to check that the resumable reader sees each record once. Files may grow while a
//! reader is open: a read sees the bytes present at that moment.

use super::{is_event_file_name, Discovery, FileId, FileReader, Source};
use crate::event_file::{Problem, ProblemKind};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::{Arc, RwLock};

type Bytes = Arc<RwLock<Vec<u8>>>;

/// An in-memory [`Source`].
#[derive(Debug, Default)]
pub struct MemorySource {
    files: RwLock<BTreeMap<String, Bytes>>,
}

impl MemorySource {
    pub fn new() -> MemorySource {
        MemorySource::default()
    }

    /// Creates or replaces the file `name`.
    pub fn insert(&self, name: &str, bytes: impl Into<Vec<u8>>) {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        files.insert(name.to_string(), Arc::new(RwLock::new(bytes.into())));
    }

    /// Removes the file `name` (a run deleted while it is being read).
    pub fn remove(&self, name: &str) {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        files.remove(name);
    }

    /// Appends to the file `name`, creating it if needed (a writer flushing).
    pub fn append(&self, name: &str, bytes: &[u8]) {
        let file = {
            let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
            files.entry(name.to_string()).or_default().clone()
        };
        file.write()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
    }

    fn get(&self, file: &FileId) -> io::Result<Bytes> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        files.get(file.as_str()).cloned().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no file {file} in memory"))
        })
    }
}

impl Source for MemorySource {
    fn discover(&self) -> Discovery {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        let mut runs: BTreeMap<String, Vec<FileId>> = BTreeMap::new();
        for name in files.keys() {
            let (dir, base) = name.rsplit_once('/').unwrap_or((".", name));
            if is_event_file_name(base) {
                runs.entry(dir.to_string())
                    .or_default()
                    .push(FileId::new(name.as_str()));
            }
        }
        let mut problems = Vec::new();
        if runs.is_empty() {
            problems.push(Problem::new(
                FileId::new("memory:"),
                None,
                ProblemKind::NoEventFiles,
                "no event files (names containing \"tfevents\") in memory",
            ));
        }
        Discovery::from_runs(runs, problems)
    }

    fn open(&self, file: &FileId, offset: u64) -> io::Result<FileReader<'_>> {
        Ok(Box::new(MemoryReader {
            bytes: self.get(file)?,
            pos: offset,
        }))
    }

    fn len(&self, file: &FileId) -> io::Result<u64> {
        let bytes = self.get(file)?;
        let len = bytes.read().unwrap_or_else(|e| e.into_inner()).len();
        Ok(len as u64)
    }
}

struct MemoryReader {
    bytes: Bytes,
    pos: u64,
}

impl Read for MemoryReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let bytes = self.bytes.read().unwrap_or_else(|e| e.into_inner());
        let start = usize::try_from(self.pos)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let n = buf.len().min(bytes.len() - start);
        buf[..n].copy_from_slice(&bytes[start..start + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_directories_of_the_keys() {
        let s = MemorySource::new();
        s.insert("b/events.out.tfevents.2", b"x".to_vec());
        s.insert("b/events.out.tfevents.1", b"y".to_vec());
        s.insert("events.out.tfevents.0", b"".to_vec());
        s.insert("b/notes.txt", b"".to_vec());
        let d = s.discover();
        let runs: Vec<(&str, Vec<&str>)> = d
            .runs
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.files.iter().map(FileId::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            runs,
            vec![
                (".", vec!["events.out.tfevents.0"]),
                (
                    "b",
                    vec!["b/events.out.tfevents.1", "b/events.out.tfevents.2"]
                )
            ]
        );
    }

    #[test]
    fn a_reader_sees_bytes_appended_after_it_was_opened() {
        let s = MemorySource::new();
        s.append("r/x.tfevents", b"ab");
        let id = FileId::new("r/x.tfevents");
        let mut r = s.open(&id, 1).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 1);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        s.append("r/x.tfevents", b"cd");
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"cd");
        assert_eq!(s.len(&id).unwrap(), 4);
    }
}

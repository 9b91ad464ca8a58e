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
            path: p.path.display().to_string(),
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
                run: r.run.clone(),
                files: r
                    .files
                    .iter()
                    .map(|f| InventoryFile {
                        path: f.path.display().to_string(),
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

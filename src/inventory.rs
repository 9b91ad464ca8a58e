//! The inventory of a logdir (`histinspect tags`): per run its files, and per histogram tag its
//! wire form, number of points and first and last step — the accurate successor of
//! `tensorboard --inspect`, which counts TF2 histograms as plain tensors.

use crate::event_file::{HistogramPoint, Problem};
use crate::histogram::WireForm;
use crate::logdir::{self, AsRead, FileInfo, Reread, RunSink};
use crate::series::PointFilter;
use crate::source::{Discovery, RunName, Source};
use std::collections::BTreeMap;

/// The steps of one tag, kept sorted: after a restart the dropped steps are cut off.
#[derive(Debug, Clone, PartialEq)]
pub struct TagInventory {
    pub form: WireForm,
    pub steps: Vec<i64>,
}

/// A [`RunSink`] that keeps only steps.
#[derive(Debug, Default)]
pub struct InventorySink {
    pub tags: BTreeMap<String, TagInventory>,
}

impl RunSink for InventorySink {
    type Prepare = AsRead;

    fn preparer(&self) -> AsRead {
        AsRead
    }

    fn rewind(&mut self, tag: &str, step: i64, _: &dyn Reread) {
        if let Some(t) = self.tags.get_mut(tag) {
            let keep = t.steps.partition_point(|&s| s < step);
            t.steps.truncate(keep);
        }
    }

    fn point(&mut self, _file: usize, point: HistogramPoint) {
        let form = point.histogram.form;
        self.tags
            .entry(point.tag)
            .or_insert_with(|| TagInventory {
                form,
                steps: Vec::new(),
            })
            .steps
            .push(point.step);
    }
}

/// One run of the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInventory {
    pub run: RunName,
    pub files: Vec<FileInfo>,
    pub tags: BTreeMap<String, TagInventory>,
}

/// Everything `histinspect tags` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    pub runs: Vec<RunInventory>,
    pub problems: Vec<Problem>,
}

/// Reads the discovered runs into an inventory (runs in parallel), keeping the tags and steps
/// `filter` keeps; a tag left with no step is left out.
pub fn build(
    source: &dyn Source,
    discovery: Discovery,
    filter: &PointFilter,
    on_file_done: &(dyn Fn(u64) + Sync),
) -> Inventory {
    let mut problems = discovery.problems.clone();
    let loaded = logdir::load(
        source,
        &discovery,
        |_| InventorySink::default(),
        |l| l,
        on_file_done,
    );
    let runs = loaded
        .into_iter()
        .map(|l| {
            problems.extend(l.problems);
            let mut tags = l.sink.tags;
            tags.retain(|tag, t| {
                t.steps.retain(|&s| filter.keeps_step(s));
                filter.keeps_tag(tag) && !t.steps.is_empty()
            });
            RunInventory {
                run: l.run.name,
                files: l.files,
                tags,
            }
        })
        .collect();
    Inventory { runs, problems }
}

impl Inventory {
    /// True when not one record could be read from any file.
    pub fn nothing_read(&self) -> bool {
        self.runs
            .iter()
            .flat_map(|r| &r.files)
            .all(|f| f.counts.records == 0)
    }
}

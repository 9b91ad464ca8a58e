//! histinspect: reads TensorBoard event files and says what the logged histograms mean.
//!
//! Data flows one way, each module seeing only those above it:
//!
//! * [`source`] — where the bytes come from: discovery, reading from an offset, length
//!   (the local filesystem, memory; nothing below knows which).
//! * [`tf_record`] — TFRecord framing with masked CRC-32C checks, resynchronisation and
//!   resuming a file that grows.
//! * [`wire`] — zero-copy protobuf views of the `Event` fields we read ([`proto`] holds the
//!   prost types generated from `proto/`, the reference and the writer's side).
//! * [`histogram`] — the one histogram model both wire forms are normalised into.
//! * [`event_file`] — records to histogram values, problems with file and byte offset.
//! * [`logdir`] — runs loaded in parallel and pipelined, restarts, incremental polling.
//! * [`inventory`] — `histinspect tags`.
//! * [`stats`], [`shape`] — per-point statistics, TensorBoard's percentiles, distances, shapes.
//! * [`point`] — what is kept of a point: a digest per point, a summary per shown point.
//! * [`series`] — what is kept of a tag's points while a run streams by.
//! * [`diagnose`] — flags over a tag's series (no I/O).
//! * [`model`] — the one report model.
//! * [`gate`] — what fails a check, what is allowed, whether the check could be made.
//! * [`analysis`] — `analyze(source) -> Report`, per-step rows and plots from a report.
//! * [`diff`] — two reports compared tag by tag (flags gained and lost, distance).
//! * [`watch`] — following runs as they grow: a loader per run polled again, each finding
//!   reported once, when it appears.
//! * [`report`] — pure renderers, one file per format, behind one dispatch.
//! * [`settings`] — `histinspect.toml` / `[tool.histinspect]`, with errors naming the line.
//! * [`config`], [`app`] — the resolved configuration and the composition of a command; the
//!   binary's `cli` builds the configuration from arguments, and only `main` prints or exits.
//!
//! [`names`] gives flags, shapes and problem kinds their names and docs from one definition.
#![forbid(unsafe_code)]

pub mod names;

pub mod analysis;
pub mod app;
pub mod config;
pub mod diagnose;
pub mod diff;
pub mod event_file;
pub mod gate;
pub mod histogram;
pub mod inventory;
pub mod logdir;
pub mod model;
pub mod point;
pub mod proto;
pub mod report;
pub mod series;
pub mod settings;
pub mod shape;
pub mod source;
pub mod stats;
pub mod tf_record;
pub mod watch;
pub mod wire;

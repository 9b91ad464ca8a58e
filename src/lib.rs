//! histinspect: reads TensorBoard event files and says what the logged histograms mean.
//!
//! Data flows one way, each module seeing only those above it:
//!
//! * [`tf_record`] — TFRecord framing with masked CRC-32C checks and resynchronisation.
//! * [`wire`] — zero-copy protobuf views of the `Event` fields we read ([`proto`] holds the
//!   prost types generated from `proto/`, the reference and the writer's side).
//! * [`histogram`] — the one histogram model both wire forms are normalised into.
//! * [`event_file`] — records to histogram values, problems with file and byte offset.
//! * [`logdir`] — runs and event files, parallel and pipelined loading, restarts.
//! * [`inventory`] — `histinspect tags`.
//! * [`stats`], [`shape`] — per-point statistics, TensorBoard's percentiles, distances, shapes.
//! * [`series`] — what is kept of a tag's points while a logdir streams by.
//! * [`diagnose`] — flags over a tag's series.
//! * [`report`] — one report model and pure renderers.
//! * [`config`], [`app`] — the resolved configuration and the run of a command; the binary's
//!   `cli` builds the configuration from arguments, and only `main` prints or exits.

pub mod app;
pub mod config;
pub mod diagnose;
pub mod event_file;
pub mod histogram;
pub mod inventory;
pub mod logdir;
pub mod proto;
pub mod report;
pub mod series;
pub mod shape;
pub mod stats;
pub mod tf_record;
pub mod wire;

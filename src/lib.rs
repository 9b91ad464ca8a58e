//! histinspect: reads TensorBoard event files and says what the logged histograms mean.
//!
//! Data flows one way, each module seeing only those above it:
//!
//! * [`tf_record`] — TFRecord framing with masked CRC-32C checks and resynchronisation.
//! * [`event_file`] — records to events; histogram values extracted in both wire forms.
//! * [`histogram`] — the one histogram model both wire forms are normalised into.
//! * [`logdir`] — runs and event files, merging, restarts, problems.
//! * [`stats`], [`shape`] — per-point statistics and shape classification.
//! * [`series`] — across-step comparisons.
//! * [`diagnose`] — flags over a tag's series.
//! * [`report`] — one report model and pure renderers.
//! * [`cli`] — arguments resolved into a [`cli::Config`]; only `main` prints or exits.

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

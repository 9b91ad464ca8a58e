//! Prost types generated at build time from `proto/` (see `build.rs`).
//!
//! Only `event_file` and `histogram` look at these; everything below works on
//! [`crate::histogram::Histogram`].
#![allow(clippy::all, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/histinspect.tf.rs"));

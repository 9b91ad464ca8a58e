//! Prost types for the `.proto` subset in `proto/` (TensorFlow's field numbers).
//!
//! The code is generated once and committed (`src/proto/histinspect.tf.rs`), as TensorBoard's
//! Rust server does, so the normal build needs neither a protobuf compiler nor a build script;
//! `tests/proto_fresh.rs` regenerates it with protox and prost-build and fails when the
//! committed file is stale (`UPDATE_PROTO=1 cargo test --release --test proto_fresh` rewrites
//! it).
//!
//! Only `event_file` and `histogram` look at these; everything below works on
//! [`crate::histogram::Histogram`].
#![allow(clippy::all, missing_docs)]

include!("proto/histinspect.tf.rs");

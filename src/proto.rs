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

impl Event {
    /// An event holding one legacy histogram value, as tensorboardX and torch write them (for
    /// tests and the examples that write logdirs).
    pub fn histogram(step: i64, tag: &str, h: HistogramProto) -> Event {
        Event {
            wall_time: step as f64,
            step,
            what: Some(event::What::Summary(Summary {
                value: vec![summary::Value {
                    tag: tag.into(),
                    value: Some(summary::value::Value::Histo(h)),
                    ..Default::default()
                }],
            })),
        }
    }

    /// The event framed as a TFRecord, CRCs and all.
    pub fn to_record(&self) -> Vec<u8> {
        let mut out = Vec::new();
        crate::tf_record::encode_record(&prost::Message::encode_to_vec(self), &mut out);
        out
    }
}

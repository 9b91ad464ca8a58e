//! The committed prost code (`src/proto/histinspect.tf.rs`) is what `proto/` generates today.

use std::fs;
use std::path::Path;

const PROTOS: [&str; 3] = [
    "proto/event.proto",
    "proto/summary.proto",
    "proto/tensor.proto",
];

#[test]
fn generated_protobuf_code_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let protos = PROTOS.map(|p| root.join(p));
    let fds = protox::compile(protos, [root.join("proto")]).expect("proto/ compiles");
    let out = tempfile::tempdir().unwrap();
    prost_build::Config::new()
        .bytes(["."])
        .out_dir(out.path())
        .compile_fds(fds)
        .expect("prost-build generates");
    let got = fs::read_to_string(out.path().join("histinspect.tf.rs")).unwrap();
    let committed = root.join("src/proto/histinspect.tf.rs");
    if std::env::var_os("UPDATE_PROTO").is_some() {
        fs::write(&committed, &got).unwrap();
        return;
    }
    let want = fs::read_to_string(&committed).unwrap();
    assert!(
        got == want,
        "src/proto/histinspect.tf.rs is stale: proto/ changed. Regenerate it with \
         UPDATE_PROTO=1 cargo test --release --test proto_fresh"
    );
}

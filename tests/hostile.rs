//! Crafted files, as an attacker would write them, against the release binary: memory stays
//! within a few tens of MB whatever the records claim, and what was odd is reported with file,
//! offset and tag.
//!
//! Peak RSS is the children's high-water mark (`getrusage(RUSAGE_CHILDREN)`); this file holds
//! one test, which runs its cases one after the other, so the mark is always that of the case
//! just run or a smaller one before it.

use histinspect::proto::{self, summary, Event, Summary, TensorProto};
use histinspect::tf_record::{encode_record, MaskedCrc, HEADER_LEN};
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// Peak RSS of the largest child waited for so far, in MB.
fn children_peak_mb() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    assert_eq!(rc, 0);
    u.ru_maxrss as f64 / 1024.0 // KB on Linux
}

/// A TF2-style histogram tensor value that claims `rows` rows but holds one row's values:
/// TensorProto's repeat-last rule makes the rest copies of the last value.
fn claiming_tensor(step: i64, tag: &str, rows: i64) -> Event {
    let t = TensorProto {
        dtype: proto::DataType::DtDouble as i32,
        tensor_shape: Some(proto::TensorShapeProto {
            dim: [rows, 3]
                .iter()
                .map(|&size| proto::tensor_shape_proto::Dim {
                    size,
                    name: String::new(),
                })
                .collect(),
            unknown_rank: false,
        }),
        double_val: vec![0.5, 1.5, 4.0 + step as f64],
        ..Default::default()
    };
    Event {
        wall_time: step as f64,
        step,
        what: Some(proto::event::What::Summary(Summary {
            value: vec![summary::Value {
                tag: tag.into(),
                value: Some(summary::value::Value::Tensor(t)),
                metadata: Some(proto::SummaryMetadata {
                    plugin_data: Some(proto::summary_metadata::PluginData {
                        plugin_name: "histograms".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }],
        })),
    }
}

/// Runs the binary's JSON report on `dir`; the document and the peak RSS so far.
fn report(dir: &Path) -> (Value, f64) {
    let out = Command::new(env!("CARGO_BIN_EXE_histinspect"))
        .arg(dir)
        .args(["--format", "json", "--no-config"])
        .output()
        .unwrap();
    assert!(
        out.status.code() == Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak = children_peak_mb();
    eprintln!("{}: peak RSS {peak:.1} MB so far", dir.display());
    (serde_json::from_slice(&out.stdout).unwrap(), peak)
}

#[test]
fn crafted_files_cost_tens_of_mb_and_are_reported() {
    const LIMIT_MB: f64 = 64.0;
    // 1. 300 tags × 10 steps, each value ~70 bytes claiming 2^20 - 1 rows (25 MB expanded,
    //    7.5 GB for the file if expanded; it was 1.99 GB peak before the rows were capped).
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for step in 0..10 {
        for t in 0..300 {
            let e = claiming_tensor(step, &format!("layer{t}/w"), (1 << 20) - 1);
            encode_record(&prost::Message::encode_to_vec(&e), &mut bytes);
        }
    }
    assert!(bytes.len() < 400_000, "{}", bytes.len());
    fs::write(dir.path().join("events.out.tfevents.many"), &bytes).unwrap();
    let (doc, peak) = report(dir.path());
    assert!(
        peak < LIMIT_MB,
        "peak RSS {peak:.0} MB on many claiming tags"
    );
    let problems = doc["problems"].as_array().unwrap();
    let p = &problems[0];
    assert_eq!(p["kind"], "bad_histogram");
    assert!(p["offset"].is_u64(), "{p}");
    assert!(
        p["message"].as_str().unwrap().contains("\"layer0/w\""),
        "{p}"
    );
    assert!(p["path"]
        .as_str()
        .unwrap()
        .ends_with("events.out.tfevents.many"));
    // The points are still read, with the claimed rows' mass.
    let tag = &doc["runs"][0]["tags"][0];
    assert_eq!(tag["points"], 10);

    // 2. One tag, 20 000 such points.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for step in 0..20_000 {
        let e = claiming_tensor(step, "w", (1 << 20) - 1);
        encode_record(&prost::Message::encode_to_vec(&e), &mut bytes);
    }
    fs::write(dir.path().join("events.out.tfevents.long"), &bytes).unwrap();
    let (doc, peak) = report(dir.path());
    assert!(
        peak < LIMIT_MB,
        "peak RSS {peak:.0} MB on one long claiming tag"
    );
    assert_eq!(doc["runs"][0]["tags"][0]["points"], 20_000);

    // 3. After damage, headers whose length CRC checks, claiming 1 GiB each, every 12 bytes
    //    for 32 MB: scanning looks for records up to 16 MiB only, so no buffer grows with the
    //    file (it took twice the file's size before), and the scan stays linear.
    let dir = tempfile::tempdir().unwrap();
    let mut header = Vec::new();
    let len = (1u64 << 30).to_le_bytes();
    header.extend_from_slice(&len);
    header.extend_from_slice(&MaskedCrc::compute(&len).0.to_le_bytes());
    let mut tail = Vec::new();
    encode_record(
        &prost::Message::encode_to_vec(&claiming_tensor(0, "after", 2)),
        &mut tail,
    );
    // Damage first (so that what follows is found by scanning), then the claims, then a
    // record. Written as a stream: the binary is spawned from this process, and a spawned
    // child's peak counts the parent's pages until it execs, so the parent stays small.
    let path = dir.path().join("events.out.tfevents.claims");
    let mut f = std::io::BufWriter::new(fs::File::create(&path).unwrap());
    f.write_all(&[0xab; 64]).unwrap();
    for _ in 0..(32 << 20) / HEADER_LEN {
        f.write_all(&header).unwrap();
    }
    f.write_all(&tail).unwrap();
    f.flush().unwrap();
    drop(f);
    let (doc, peak) = report(dir.path());
    assert!(peak < LIMIT_MB, "peak RSS {peak:.0} MB on 1 GiB claims");
    assert_eq!(doc["problems"][0]["kind"], "bad_length_crc");
    // The intact record after the claims is found.
    assert_eq!(doc["runs"][0]["tags"][0]["tag"], "after");
}

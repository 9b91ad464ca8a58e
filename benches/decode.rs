//! Micro-benchmarks of the per-record path: framing + both CRC-32Cs, prost decoding of each kind
//! of record, normalisation into a `Histogram`, per-point statistics, and one event file end to
//! end (page cache warm). Throughputs are per byte of the event file, so they compare with the
//! MB/s of `benches/compare.sh`.
//!
//! ```text
//! cargo bench --bench decode                        # everything
//! cargo bench --bench decode -- framing             # one group
//! cargo bench --bench decode -- --save-baseline main   # then, after a change:
//! cargo bench --bench decode -- --baseline main        # prints the change per benchmark
//! ```
//!
//! The input is a 4 MB file written by `examples/gen_logdir.rs` (same generator, same seed as
//! the logdirs of `compare.sh`): legacy and tensor-form histograms, scalars and images. The
//! legacy histograms are what torch and tensorboardX write by default (TF's exponential edges,
//! about 550 buckets, most of them empty), the shape issue 15 measured.

#[allow(dead_code, unused_imports)]
#[path = "../examples/gen_logdir.rs"]
mod gen;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use histinspect::event_file::{FileState, PluginMemory};
use histinspect::histogram::{ExactMoments, Histogram};
use histinspect::point::PointSummary;
use histinspect::proto::{event::What, summary::value::Value as Kind, Event};
use histinspect::source::LocalSource;
use histinspect::stats::point_stats;
use histinspect::tf_record::{Item, MaskedCrc, RecordReader};
use prost::Message;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bytes of the benchmark's event file.
const FILE_BYTES: u64 = 4_000_000;

struct Input {
    _dir: tempfile::TempDir,
    path: PathBuf,
    bytes: Vec<u8>,
    /// One payload of each kind: legacy histogram, tensor histogram, scalar, image.
    legacy: Vec<u8>,
    tensor: Vec<u8>,
    scalar: Vec<u8>,
    image: Vec<u8>,
}

fn input() -> Input {
    let dir = tempfile::tempdir().expect("temp dir");
    let args = gen::Args {
        out: dir.path().to_path_buf(),
        bytes: FILE_BYTES,
        runs: 1,
        files_per_run: 1,
        seed: 1,
        legacy_tags: 8,
        tensor_tags: 8,
        scalar_tags: 4,
        values: 1000,
        image_every: 50,
        force: false,
    };
    let run_dir = dir.path().join("run_000");
    gen::write_run(&args, 0, &run_dir, FILE_BYTES, &gen::tf_default_edges()).expect("generate");
    let path = std::fs::read_dir(&run_dir)
        .expect("run dir")
        .next()
        .expect("one file")
        .expect("entry")
        .path();
    let bytes = std::fs::read(&path).expect("read");
    let (mut legacy, mut tensor, mut scalar, mut image) = (None, None, None, None);
    let mut tensors_seen = 0;
    let mut reader = RecordReader::new(&bytes[..]);
    while let Some(item) = reader.next() {
        let Item::Record { data, .. } = item else {
            panic!("generated file has a problem");
        };
        let event = Event::decode(data).expect("event");
        let Some(What::Summary(s)) = event.what else {
            continue;
        };
        let slot = match s.value.first().and_then(|v| v.value.as_ref()) {
            Some(Kind::Histo(_)) => &mut legacy,
            Some(Kind::Tensor(t)) if t.tensor_content.len() > 8 => {
                // The second one: the first value of a tag carries plugin metadata, later
                // ones do not, and later ones are the common case.
                tensors_seen += 1;
                if tensors_seen < 2 {
                    continue;
                }
                &mut tensor
            }
            Some(Kind::Image(_)) => &mut image,
            _ => &mut scalar,
        };
        slot.get_or_insert_with(|| data.to_vec());
    }
    let take = |s: Option<Vec<u8>>, what| s.unwrap_or_else(|| panic!("no {what} record"));
    Input {
        path,
        legacy: take(legacy, "legacy"),
        tensor: take(tensor, "tensor"),
        scalar: take(scalar, "scalar"),
        image: take(image, "image"),
        bytes,
        _dir: dir,
    }
}

fn histogram_of(payload: &[u8]) -> Histogram {
    let event = Event::decode(payload).expect("event");
    let Some(What::Summary(s)) = event.what else {
        panic!("not a summary")
    };
    match s.value[0].value.as_ref() {
        Some(Kind::Histo(h)) => Histogram::from_legacy(
            ExactMoments {
                min: h.min,
                max: h.max,
                num: h.num,
                sum: h.sum,
                sum_squares: h.sum_squares,
            },
            &h.bucket_limit,
            &h.bucket,
        )
        .expect("legacy"),
        Some(Kind::Tensor(t)) => {
            Histogram::from_tensor_rows(&f64s(&t.tensor_content)).expect("tensor")
        }
        _ => panic!("not a histogram"),
    }
}

fn f64s(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

fn read_file(path: &Path, with_stats: bool) -> u64 {
    let mut plugins = PluginMemory::default();
    let mut acc = 0.0;
    let source = LocalSource::new([path]);
    let mut file = FileState::new(source.id(path));
    file.read_new(
        &source,
        &mut plugins,
        &mut |p| {
            if with_stats {
                acc += point_stats(&p.histogram).mean;
            }
            black_box(&p);
        },
        &mut |p| panic!("problem: {p}"),
    );
    black_box(acc);
    file.counts.histograms
}

fn benches(c: &mut Criterion) {
    let inp = input();
    let n = inp.bytes.len() as u64;

    let mut g = c.benchmark_group("framing");
    g.throughput(Throughput::Bytes(n));
    g.bench_function("crc32c_whole_file", |b| {
        b.iter(|| MaskedCrc::compute(black_box(&inp.bytes)))
    });
    g.bench_function("record_reader_both_crcs", |b| {
        b.iter(|| {
            let mut r = RecordReader::new(black_box(&inp.bytes[..]));
            let mut records = 0u64;
            while let Some(item) = r.next() {
                if let Item::Record { data, .. } = item {
                    records += data.len() as u64;
                }
            }
            records
        })
    });
    g.bench_function("frame_and_prost_decode_all", |b| {
        b.iter(|| {
            let mut r = RecordReader::new(black_box(&inp.bytes[..]));
            let mut values = 0usize;
            while let Some(item) = r.next() {
                if let Item::Record { data, .. } = item {
                    if let Ok(Event {
                        what: Some(What::Summary(s)),
                        ..
                    }) = Event::decode(data)
                    {
                        values += s.value.len();
                    }
                }
            }
            values
        })
    });
    g.finish();

    let mut g = c.benchmark_group("prost_decode");
    for (name, payload) in [
        ("legacy_histo", &inp.legacy),
        ("tensor_30x3", &inp.tensor),
        ("scalar", &inp.scalar),
        ("image_skipped", &inp.image),
    ] {
        g.throughput(Throughput::Bytes(payload.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| Event::decode(black_box(&payload[..])).expect("event"))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("histogram");
    g.throughput(Throughput::Elements(1));
    let legacy = histogram_of(&inp.legacy);
    let tensor = histogram_of(&inp.tensor);
    g.bench_function("decode_and_normalise_legacy", |b| {
        b.iter(|| histogram_of(black_box(&inp.legacy)))
    });
    g.bench_function("decode_and_normalise_tensor", |b| {
        b.iter(|| histogram_of(black_box(&inp.tensor)))
    });
    g.bench_function("point_stats_legacy", |b| {
        b.iter(|| point_stats(black_box(&legacy)))
    });
    g.bench_function("point_stats_tensor", |b| {
        b.iter(|| point_stats(black_box(&tensor)))
    });
    // What `--steps` computes for every point: statistics, shape, zeros and bounds.
    g.bench_function("step_summary_legacy", |b| {
        b.iter(|| PointSummary::of(0, 0.0, black_box(&legacy)))
    });
    g.bench_function("step_summary_tensor", |b| {
        b.iter(|| PointSummary::of(0, 0.0, black_box(&tensor)))
    });
    g.finish();

    let mut g = c.benchmark_group("file");
    g.throughput(Throughput::Bytes(n));
    g.bench_function("read_file", |b| b.iter(|| read_file(&inp.path, false)));
    g.bench_function("read_file_point_stats", |b| {
        b.iter(|| read_file(&inp.path, true))
    });
    g.finish();
}

criterion_group! {
    name = decode;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(decode);

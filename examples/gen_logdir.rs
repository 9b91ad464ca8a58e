//! Deterministic generator of large TensorBoard logdirs, for benchmarks (issue 5).
//!
//! ```text
//! cargo run --release --example gen_logdir -- OUT_DIR --bytes 1G [--runs N] [--files-per-run M]
//!     [--seed S] [--many-small | --one-file] [--force]
//! ```
//!
//! Every run directory `OUT_DIR/run_NNN/` gets `M` files `events.out.tfevents.<ts>.bench.<pid>.0`,
//! each starting with a `file_version: "brain.Event:2"` event, then steps (continued across the
//! files of a run, so no restart is seen). Each step writes one event per value, as the writers do:
//!
//! * legacy histograms (`Summary.Value.histo`) as PyTorch / tensorboardX `add_histogram` writes
//!   them with the default `bins='tensorflow'`: `np.histogram` over TF's exponential edges
//!   (±1e-12·1.1^k and 0; 1549 edges), trimmed to the data range with one empty bucket
//!   prepended (`torch/utils/tensorboard/summary.py`, `make_histogram`), exact
//!   min/max/num/sum/sum_squares of the f32 values seen as f64;
//! * TF2 tensor-form histograms (`Summary.Value.tensor`, DT_DOUBLE, shape `[30, 3]`, rows
//!   `left, right, count` in little-endian `tensor_content`, TensorBoard's "v3" bucketing), with
//!   plugin `histograms` metadata on the first value of each tag in a file only, as TF1's
//!   `FileWriter` does;
//! * scalars as `simple_value`, plus one TF2-style scalar tensor (plugin `scalars`);
//! * every `--image-every` steps an image (`Summary.Value` field 4, `Summary.Image`, which is not
//!   in histinspect's proto subset: encoded by hand), which readers must skip.
//!
//! Each histogram summarises `--values` (default 1000) draws from a normal, uniform or
//! ReLU-like (normal with the negatives set to 0) distribution whose parameters drift slowly by a
//! random walk. Everything comes from a splitmix64/xoshiro256** generator seeded by `--seed` and
//! the run index: the same arguments give byte-identical files. Runs are generated in parallel.
//!
//! Modes: the default spreads `--bytes` over `--runs` (16) runs of `--files-per-run` (1) files;
//! `--many-small` makes 10 000 runs of one small file (a step or two each) with fewer tags;
//! `--one-file` writes everything into one file.

use histinspect::proto::{
    event, summary, summary_metadata, tensor_shape_proto, DataType, Event, HistogramProto, Summary,
    SummaryMetadata, TensorProto, TensorShapeProto,
};
use histinspect::tf_record::encode_record;
use prost::Message;
use rayon::prelude::*;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str =
    "usage: gen_logdir OUT_DIR --bytes SIZE [--runs N] [--files-per-run M] [--seed S]
       [--many-small | --one-file] [--legacy-tags N] [--tensor-tags N] [--scalar-tags N]
       [--values N] [--image-every STEPS] [--force]
SIZE takes K, M, G (powers of 1000) or Ki, Mi, Gi (powers of 1024), e.g. 100M, 1G, 4GiB.
--force empties OUT_DIR first if it is not empty.";

/// First wall time (seconds since the epoch) and seconds between steps.
const BASE_TIME: f64 = 1_700_000_000.0;
const STEP_SECONDS: f64 = 0.5;
/// TF2 `tf.summary.histogram` default bucket count.
const TENSOR_BUCKETS: usize = 30;

/// Everything the generator needs; `benches/decode.rs` builds one directly.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub(crate) out: PathBuf,
    pub(crate) bytes: u64,
    pub(crate) runs: usize,
    pub(crate) files_per_run: usize,
    pub(crate) seed: u64,
    pub(crate) legacy_tags: usize,
    pub(crate) tensor_tags: usize,
    pub(crate) scalar_tags: usize,
    pub(crate) values: usize,
    pub(crate) image_every: u64,
    pub(crate) force: bool,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().trim_end_matches(['B', 'b']);
    let (num, mult) = if let Some(n) = t.strip_suffix(['i', 'I']) {
        match n.chars().last().map(|c| c.to_ascii_uppercase()) {
            Some('K') => (&n[..n.len() - 1], 1u64 << 10),
            Some('M') => (&n[..n.len() - 1], 1 << 20),
            Some('G') => (&n[..n.len() - 1], 1 << 30),
            Some('T') => (&n[..n.len() - 1], 1 << 40),
            _ => return Err(format!("bad size {s:?}")),
        }
    } else {
        match t.chars().last().map(|c| c.to_ascii_uppercase()) {
            Some('K') => (&t[..t.len() - 1], 1_000u64),
            Some('M') => (&t[..t.len() - 1], 1_000_000),
            Some('G') => (&t[..t.len() - 1], 1_000_000_000),
            Some('T') => (&t[..t.len() - 1], 1_000_000_000_000),
            _ => (t, 1),
        }
    };
    let v: f64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("bad size {s:?}"));
    }
    Ok((v * mult as f64) as u64)
}

fn parse_args() -> Result<Args, String> {
    let mut out = None;
    let mut bytes = None;
    let (mut runs, mut files_per_run, mut seed) = (None, None, 1u64);
    let (mut many_small, mut one_file, mut force) = (false, false, false);
    let (mut legacy, mut tensor, mut scalars) = (None, None, None);
    let (mut values, mut image_every) = (1000usize, None);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let num = |v: String, name: &str| -> Result<u64, String> {
            v.parse::<u64>()
                .map_err(|_| format!("{name}: not a number: {v:?}"))
        };
        match a.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--bytes" => bytes = Some(parse_size(&val("--bytes")?)?),
            "--runs" => runs = Some(num(val("--runs")?, "--runs")? as usize),
            "--files-per-run" => {
                files_per_run = Some(num(val("--files-per-run")?, "--files-per-run")? as usize)
            }
            "--seed" => seed = num(val("--seed")?, "--seed")?,
            "--legacy-tags" => legacy = Some(num(val("--legacy-tags")?, "--legacy-tags")? as usize),
            "--tensor-tags" => tensor = Some(num(val("--tensor-tags")?, "--tensor-tags")? as usize),
            "--scalar-tags" => {
                scalars = Some(num(val("--scalar-tags")?, "--scalar-tags")? as usize)
            }
            "--values" => values = num(val("--values")?, "--values")?.max(1) as usize,
            "--image-every" => image_every = Some(num(val("--image-every")?, "--image-every")?),
            "--many-small" => many_small = true,
            "--one-file" => one_file = true,
            "--force" => force = true,
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if out.is_none() => out = Some(PathBuf::from(s)),
            s => return Err(format!("unexpected argument {s:?}")),
        }
    }
    if many_small && one_file {
        return Err("--many-small and --one-file exclude each other".into());
    }
    let out = out.ok_or("OUT_DIR is required")?;
    let bytes = bytes.ok_or("--bytes is required")?;
    let (d_runs, d_files, d_legacy, d_tensor, d_scalars, d_image) = if many_small {
        (10_000, 1, 1, 2, 2, 0)
    } else if one_file {
        (1, 1, 8, 8, 4, 50)
    } else {
        (16, 1, 8, 8, 4, 50)
    };
    let a = Args {
        out,
        bytes,
        runs: runs.unwrap_or(d_runs).max(1),
        files_per_run: files_per_run.unwrap_or(d_files).max(1),
        seed,
        legacy_tags: legacy.unwrap_or(d_legacy),
        tensor_tags: tensor.unwrap_or(d_tensor),
        scalar_tags: scalars.unwrap_or(d_scalars),
        values,
        image_every: image_every.unwrap_or(d_image),
        force,
    };
    if one_file && (a.runs != 1 || a.files_per_run != 1) {
        return Err("--one-file writes one run of one file".into());
    }
    if a.legacy_tags + a.tensor_tags == 0 {
        return Err("at least one histogram tag is needed".into());
    }
    Ok(a)
}

// ---------------------------------------------------------------------------------------------
// Random numbers: splitmix64 to seed, xoshiro256** to draw.

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Rng {
    s: [u64; 4],
    spare: Option<f64>,
}

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut sm = seed ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03);
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { s, spare: None }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Marsaglia's polar method).
    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let m = (-2.0 * s.ln() / s).sqrt();
                self.spare = Some(v * m);
                return u * m;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Histograms as the writers compute them.

/// torch / tensorboardX `bins='tensorflow'` edges: `v = 1e-12; while v < 1e20: v *= 1.1`,
/// mirrored, with 0 in the middle (1549 edges). Python floats are f64: same values bit for bit.
pub(crate) fn tf_default_edges() -> Vec<f64> {
    let mut pos = Vec::new();
    let mut v = 1e-12;
    while v < 1e20 {
        pos.push(v);
        v *= 1.1;
    }
    let mut edges: Vec<f64> = pos.iter().rev().map(|v| -v).collect();
    edges.push(0.0);
    edges.extend_from_slice(&pos);
    edges
}

/// `make_histogram(values, bins=edges)` of torch/utils/tensorboard/summary.py.
fn legacy_histogram(values: &[f64], edges: &[f64], counts: &mut Vec<f64>) -> HistogramProto {
    // np.histogram: bins are [e_i, e_{i+1}) except the last, closed; outside values dropped.
    counts.clear();
    counts.resize(edges.len() - 1, 0.0);
    let last = edges.len() - 1;
    let (mut min, mut max, mut sum, mut sum_squares) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0);
    for &x in values {
        min = min.min(x);
        max = max.max(x);
        sum += x;
        sum_squares += x * x;
        if x < edges[0] || x > edges[last] {
            continue;
        }
        let i = edges.partition_point(|&e| e <= x).min(last) - 1;
        counts[i] += 1.0;
    }
    let start = counts.iter().position(|&c| c > 0.0).unwrap_or(0);
    let end = counts.iter().rposition(|&c| c > 0.0).map_or(1, |i| i + 1);
    let (bucket, bucket_limit) = if start > 0 {
        (counts[start - 1..end].to_vec(), edges[start..=end].to_vec())
    } else {
        let mut b = Vec::with_capacity(end + 1);
        b.push(0.0);
        b.extend_from_slice(&counts[..end]);
        (b, edges[..=end].to_vec())
    };
    HistogramProto {
        min,
        max,
        num: values.len() as f64,
        sum,
        sum_squares,
        bucket_limit,
        bucket,
    }
}

/// TensorBoard's v3 bucketing (`plugins/histogram/summary_v2.py`, `_buckets`): `k` equal-width
/// buckets over [min, max], the last closed; a single distinct value gives `k` zero-width buckets
/// with everything in the last. Rows `left, right, count` as little-endian f64.
fn tensor_histogram(values: &[f64], k: usize, content: &mut Vec<u8>) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut counts = vec![0.0f64; k];
    let range = max - min;
    let mut edges = vec![min; k + 1];
    if range == 0.0 {
        counts[k - 1] = values.len() as f64;
    } else {
        let width = range / k as f64;
        for &x in values {
            let i = (((x - min) / width).floor() as usize).min(k - 1);
            counts[i] += 1.0;
        }
        // tf.linspace(min, max, k + 1), the last edge forced to max.
        for (i, e) in edges.iter_mut().enumerate() {
            *e = min + i as f64 * (range / k as f64);
        }
    }
    edges[k] = max;
    content.clear();
    for i in 0..k {
        for v in [edges[i], edges[i + 1], counts[i]] {
            content.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// What a tag's values look like; parameters drift by a slow random walk.
#[derive(Debug, Clone, Copy)]
enum Dist {
    Normal {
        mean: f64,
        std: f64,
    },
    Uniform {
        centre: f64,
        half: f64,
    },
    /// Normal with negatives clamped to 0 (activations after a ReLU): a spike at zero.
    Relu {
        mean: f64,
        std: f64,
    },
    /// A frozen tensor: every value the same, every step.
    Constant(f64),
}

impl Dist {
    fn pick(rng: &mut Rng, index: usize) -> Dist {
        let scale = 10f64.powf(-2.0 + 2.0 * rng.uniform()); // 0.01 … 1
        match index % 8 {
            7 => Dist::Constant(0.0),
            2 | 5 => Dist::Uniform {
                centre: 0.0,
                half: scale * 1.7,
            },
            3 => Dist::Relu {
                mean: 0.1 * scale,
                std: scale,
            },
            _ => Dist::Normal {
                mean: 0.05 * scale * rng.normal(),
                std: scale,
            },
        }
    }

    fn drift(&mut self, rng: &mut Rng) {
        match self {
            Dist::Normal { mean, std } | Dist::Relu { mean, std } => {
                *mean += 0.002 * *std * rng.normal();
                *std *= (0.003 * rng.normal()).exp();
            }
            Dist::Uniform { centre, half } => {
                *centre += 0.002 * *half * rng.normal();
                *half *= (0.003 * rng.normal()).exp();
            }
            Dist::Constant(_) => {}
        }
    }

    /// Draws `n` values as f32 (what a framework's tensor holds), widened to f64.
    fn sample(&self, rng: &mut Rng, n: usize, out: &mut Vec<f64>) {
        out.clear();
        out.extend((0..n).map(|_| {
            let x = match *self {
                Dist::Normal { mean, std } => mean + std * rng.normal(),
                Dist::Relu { mean, std } => (mean + std * rng.normal()).max(0.0),
                Dist::Uniform { centre, half } => centre + half * (2.0 * rng.uniform() - 1.0),
                Dist::Constant(c) => c,
            };
            f64::from(x as f32)
        }));
    }
}

// ---------------------------------------------------------------------------------------------
// Events.

fn summary_event(step: i64, value: summary::Value) -> Event {
    Event {
        wall_time: BASE_TIME + step as f64 * STEP_SECONDS,
        step,
        what: Some(event::What::Summary(Summary { value: vec![value] })),
    }
}

fn plugin_metadata(name: &str) -> SummaryMetadata {
    SummaryMetadata {
        plugin_data: Some(summary_metadata::PluginData {
            plugin_name: name.into(),
            // Serialized HistogramPluginData{version: 0} / ScalarPluginData{}: empty.
            content: Default::default(),
        }),
        ..Default::default()
    }
}

fn shape(dims: &[i64]) -> Option<TensorShapeProto> {
    Some(TensorShapeProto {
        dim: dims
            .iter()
            .map(|&size| tensor_shape_proto::Dim {
                size,
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
    })
}

/// Appends a length-delimited field.
fn put_len(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
    use prost::encoding::{encode_key, encode_varint, WireType};
    encode_key(field, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// An Event holding one `Summary.Value{tag, image: Image{height, width, colorspace,
/// encoded_image_string}}` (Summary.Value field 4, not in histinspect's proto subset).
fn image_event(step: i64, tag: &str, png: &[u8], out: &mut Vec<u8>) {
    use prost::encoding::{encode_key, encode_varint, WireType};
    let mut image = Vec::with_capacity(png.len() + 16);
    for (field, v) in [(1u32, 64u64), (2, 64), (3, 3)] {
        encode_key(field, WireType::Varint, &mut image);
        encode_varint(v, &mut image);
    }
    put_len(4, png, &mut image);
    let mut value = Vec::with_capacity(image.len() + tag.len() + 8);
    put_len(1, tag.as_bytes(), &mut value);
    put_len(4, &image, &mut value);
    let mut summary = Vec::with_capacity(value.len() + 8);
    put_len(1, &value, &mut summary);
    out.clear();
    Event {
        wall_time: BASE_TIME + step as f64 * STEP_SECONDS,
        step,
        what: None,
    }
    .encode(out)
    .expect("Vec grows");
    put_len(5, &summary, out);
}

/// Fake PNG bytes: the signature, then noise (incompressible, like real image data).
fn fake_png(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    while v.len() < len {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(len);
    v
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Totals {
    files: u64,
    bytes: u64,
    records: u64,
    legacy: u64,
    tensor: u64,
    scalars: u64,
    images: u64,
    steps: u64,
}

impl Totals {
    fn add(mut self, o: Totals) -> Totals {
        self.files += o.files;
        self.bytes += o.bytes;
        self.records += o.records;
        self.legacy += o.legacy;
        self.tensor += o.tensor;
        self.scalars += o.scalars;
        self.images += o.images;
        self.steps += o.steps;
        self
    }
}

struct FileOut {
    w: BufWriter<File>,
    framed: Vec<u8>,
    bytes: u64,
    records: u64,
}

impl FileOut {
    /// Frames and writes one event holding `value` at `step`, encoding through `payload`.
    fn write_value(
        &mut self,
        payload: &mut Vec<u8>,
        step: i64,
        value: summary::Value,
    ) -> std::io::Result<()> {
        payload.clear();
        summary_event(step, value)
            .encode(payload)
            .expect("Vec grows");
        self.write(payload)
    }

    fn write(&mut self, payload: &[u8]) -> std::io::Result<()> {
        self.framed.clear();
        encode_record(payload, &mut self.framed);
        self.w.write_all(&self.framed)?;
        self.bytes += self.framed.len() as u64;
        self.records += 1;
        Ok(())
    }
}

struct Tag {
    name: String,
    dist: Dist,
}

/// Writes one run: `files_per_run` files of about `budget` bytes each.
pub(crate) fn write_run(
    a: &Args,
    run: usize,
    dir: &Path,
    budget: u64,
    edges: &[f64],
) -> std::io::Result<Totals> {
    fs::create_dir_all(dir)?;
    let mut rng = Rng::new(a.seed, run as u64);
    let legacy: Vec<Tag> = (0..a.legacy_tags)
        .map(|i| Tag {
            name: format!("{}/{}", ["layer", "grad"][i % 2], i / 2),
            dist: Dist::pick(&mut rng, i),
        })
        .collect();
    let tensor: Vec<Tag> = (0..a.tensor_tags)
        .map(|i| Tag {
            name: format!("dense_{}/kernel_0/histogram", i),
            dist: Dist::pick(&mut rng, i),
        })
        .collect();
    let mut legacy = legacy;
    let mut tensor = tensor;
    let scalar_names = ["loss", "accuracy", "lr", "grad_norm"];
    let mut totals = Totals::default();
    let (mut values, mut counts, mut content, mut payload) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut step: i64 = 0;
    let pid = 10_000 + run;
    for file_index in 0..a.files_per_run {
        let ts = 1_700_000_000 + run as u64 * 10 + file_index as u64 * 100_000;
        let path = dir.join(format!("events.out.tfevents.{ts}.bench.{pid}.0"));
        let mut f = FileOut {
            w: BufWriter::with_capacity(1 << 20, File::create(&path)?),
            framed: Vec::new(),
            bytes: 0,
            records: 0,
        };
        let first = Event {
            wall_time: BASE_TIME + step as f64 * STEP_SECONDS,
            step: 0,
            what: Some(event::What::FileVersion("brain.Event:2".into())),
        };
        f.write(&first.encode_to_vec())?;
        let mut first_in_file = true;
        loop {
            for t in legacy.iter_mut() {
                t.dist.drift(&mut rng);
                t.dist.sample(&mut rng, a.values, &mut values);
                let h = legacy_histogram(&values, edges, &mut counts);
                let v = summary::Value {
                    tag: t.name.clone(),
                    value: Some(summary::value::Value::Histo(h)),
                    ..Default::default()
                };
                f.write_value(&mut payload, step, v)?;
                totals.legacy += 1;
            }
            for t in tensor.iter_mut() {
                t.dist.drift(&mut rng);
                t.dist.sample(&mut rng, a.values, &mut values);
                tensor_histogram(&values, TENSOR_BUCKETS, &mut content);
                let v = summary::Value {
                    tag: t.name.clone(),
                    metadata: first_in_file.then(|| plugin_metadata("histograms")),
                    value: Some(summary::value::Value::Tensor(TensorProto {
                        dtype: DataType::DtDouble as i32,
                        tensor_shape: shape(&[TENSOR_BUCKETS as i64, 3]),
                        tensor_content: content.clone().into(),
                        ..Default::default()
                    })),
                    ..Default::default()
                };
                f.write_value(&mut payload, step, v)?;
                totals.tensor += 1;
            }
            let progress = step as f64 / 1000.0;
            for i in 0..a.scalar_tags {
                let name = scalar_names[i % scalar_names.len()];
                let name = if i < scalar_names.len() {
                    name.to_string()
                } else {
                    format!("{name}_{i}")
                };
                let x = (1.0 / (1.0 + progress) + 0.05 * rng.normal()) as f32;
                let v = summary::Value {
                    tag: name,
                    value: Some(summary::value::Value::SimpleValue(x)),
                    ..Default::default()
                };
                f.write_value(&mut payload, step, v)?;
                totals.scalars += 1;
            }
            if a.scalar_tags > 0 {
                // TF2 tf.summary.scalar: a DT_FLOAT scalar tensor, plugin "scalars".
                let x = (0.5 + 0.5 * (-progress).exp()) as f32;
                let v = summary::Value {
                    tag: "epoch_loss".into(),
                    metadata: first_in_file.then(|| plugin_metadata("scalars")),
                    value: Some(summary::value::Value::Tensor(TensorProto {
                        dtype: DataType::DtFloat as i32,
                        tensor_shape: shape(&[]),
                        tensor_content: x.to_le_bytes().to_vec().into(),
                        ..Default::default()
                    })),
                    ..Default::default()
                };
                f.write_value(&mut payload, step, v)?;
                totals.scalars += 1;
            }
            if a.image_every > 0 && (step as u64).is_multiple_of(a.image_every) {
                let len = 12_000 + (rng.next_u64() % 8_000) as usize;
                let png = fake_png(&mut rng, len);
                image_event(step, "samples/image", &png, &mut payload);
                f.write(&payload)?;
                totals.images += 1;
            }
            first_in_file = false;
            step += 1;
            totals.steps += 1;
            if f.bytes >= budget {
                break;
            }
        }
        f.w.flush()?;
        totals.files += 1;
        totals.bytes += f.bytes;
        totals.records += f.records;
    }
    Ok(totals)
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if e.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("gen_logdir: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match generate(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_logdir: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(a: &Args) -> std::io::Result<()> {
    if a.out.exists() && fs::read_dir(&a.out)?.next().is_some() {
        if !a.force {
            return Err(std::io::Error::other(format!(
                "{} is not empty (use --force to replace it)",
                a.out.display()
            )));
        }
        fs::remove_dir_all(&a.out)?;
    }
    fs::create_dir_all(&a.out)?;
    let started = Instant::now();
    let edges = tf_default_edges();
    let files = (a.runs * a.files_per_run) as u64;
    let budget = (a.bytes / files).max(1);
    let width = (a.runs - 1).to_string().len().max(3);
    let totals = (0..a.runs)
        .into_par_iter()
        .map(|run| {
            let dir = a.out.join(format!("run_{run:0width$}"));
            write_run(a, run, &dir, budget, &edges)
        })
        .try_reduce(Totals::default, |x, y| Ok(x.add(y)))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "gen_logdir: wrote {} in {} run(s), {} file(s), {} bytes ({:.1} MB) in {:.1} s",
        a.out.display(),
        a.runs,
        totals.files,
        totals.bytes,
        totals.bytes as f64 / 1e6,
        secs
    );
    println!(
        "  records {}  steps {}  histograms {} (legacy histo {}, tensor [{TENSOR_BUCKETS},3] {})  \
         scalars {}  images {}  seed {}",
        totals.records,
        totals.steps,
        totals.legacy + totals.tensor,
        totals.legacy,
        totals.tensor,
        totals.scalars,
        totals.images,
        a.seed
    );
    // Machine-readable line for benches/compare.sh.
    println!(
        "GEN files={} bytes={} histograms={} legacy={} tensor={} scalars={} images={} records={}",
        totals.files,
        totals.bytes,
        totals.legacy + totals.tensor,
        totals.legacy,
        totals.tensor,
        totals.scalars,
        totals.images,
        totals.records
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_match_torch() {
        let e = tf_default_edges();
        assert_eq!(e.len(), 1549);
        assert_eq!(e[774], 0.0);
        assert_eq!(e[775], 1e-12);
        assert_eq!(e[773], -1e-12);
    }

    #[test]
    fn legacy_histogram_trims_and_prepends() {
        let e = tf_default_edges();
        let mut c = Vec::new();
        let h = legacy_histogram(&[0.5, 0.5, 1.0], &e, &mut c);
        assert_eq!(h.bucket.len(), h.bucket_limit.len());
        assert_eq!(h.bucket[0], 0.0);
        assert_eq!(h.bucket.iter().sum::<f64>(), 3.0);
        assert!(h.bucket_limit[0] <= 0.5 && h.bucket_limit[1] > 0.5);
        assert!(*h.bucket_limit.last().unwrap() > 1.0);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("100MB").unwrap(), 100_000_000);
        assert_eq!(parse_size("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_size("512").unwrap(), 512);
    }
}

//! The properties the fuzz targets check, one function per target.
//!
//! This file is compiled twice: by the fuzz targets in `fuzz/fuzz_targets/` (libFuzzer feeds
//! them mutated inputs) and by `tests/fuzz_regressions.rs`, which replays the seed corpus and
//! every input that ever broke something (`fuzz/regressions/<target>/`) under plain
//! `cargo test`. A check panics when a property fails; a panic is what the fuzzer reports.
//!
//! The properties, beyond "never panics, never hangs, never allocates what a record claims":
//!
//! * `framing`: every record returned has a header and payload whose masked CRC-32Cs check at
//!   its offset; records do not overlap and come in file order; reading the same bytes as a
//!   file that grows in two pieces (what `watch` does) returns exactly the same records.
//! * `event`: where prost (the reference decoder, types generated from `proto/`) accepts an
//!   `Event`, the zero-copy views in `wire` accept it too and agree on every field we read.
//! * `report`: the input is cut into records which are framed with valid CRCs (so the bytes
//!   reach the decoder, statistics and renderers); the whole report renders in every format,
//!   the JSON parses, and no human-readable output holds a control character or a
//!   bidirectional override.
//! * `stats`: the input is a histogram's edges and counts; statistics, percentiles, shapes
//!   and distances are computed; percentiles are ordered, a histogram is at distance 0 from
//!   itself, distances are never negative.

use histinspect::analysis::{self, Options};
use histinspect::gate::{self, Gate};
use histinspect::histogram::{ExactMoments, Histogram};
use histinspect::inventory;
use histinspect::report::{self, Format, RenderOptions, Style, View};
use histinspect::source::{MemorySource, Source};
use histinspect::tf_record::{encode_record, Item, MaskedCrc, RecordReader, HEADER_LEN};
use histinspect::{shape, stats};

/// Records (offset, payload) and problems (kind, offset), in the reader's order.
type Read = (Vec<(u64, Vec<u8>)>, Vec<(&'static str, u64)>);

/// Reads `data` as one file.
fn read_all(data: &[u8]) -> Read {
    let mut r = RecordReader::with_capacity(data, 64);
    let (mut records, mut problems) = (Vec::new(), Vec::new());
    while let Some(item) = r.next() {
        match item {
            Item::Record { offset, data } => records.push((offset, data.to_vec())),
            Item::Problem(p) => problems.push((p.kind(), p.offset())),
        }
    }
    (records, problems)
}

pub fn framing(data: &[u8]) {
    let (records, _) = read_all(data);
    let mut end = 0u64;
    for (offset, payload) in &records {
        assert!(*offset >= end, "record at {offset} overlaps the one before");
        let o = *offset as usize;
        let header = &data[o..o + HEADER_LEN];
        assert_eq!(
            u64::from_le_bytes(header[..8].try_into().unwrap()),
            payload.len() as u64
        );
        let crc = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
        assert_eq!(MaskedCrc::compute(&header[..8]).0, crc(&header[8..12]));
        let p = &data[o + HEADER_LEN..o + HEADER_LEN + payload.len()];
        assert_eq!(p, &payload[..]);
        let footer = o + HEADER_LEN + payload.len();
        assert_eq!(MaskedCrc::compute(p).0, crc(&data[footer..footer + 4]));
        end = footer as u64 + 4;
    }
    // The same bytes as a file that grows in two pieces, split where the first byte says.
    if data.is_empty() {
        return;
    }
    let cut = (data[0] as usize * data.len()) / 256;
    let mut grown = Vec::new();
    let mut reader = RecordReader::with_capacity(&data[..cut], 64);
    while let Some(item) = reader.next() {
        if let Item::Record { offset, data } = item {
            grown.push((offset, data.to_vec()));
        }
    }
    let checkpoint = reader.checkpoint();
    let from = checkpoint.read_offset() as usize;
    let mut reader = RecordReader::resume(&data[from..], checkpoint, 64);
    while let Some(item) = reader.next() {
        if let Item::Record { offset, data } = item {
            grown.push((offset, data.to_vec()));
        }
    }
    assert_eq!(
        grown.iter().map(|r| r.0).collect::<Vec<_>>(),
        records.iter().map(|r| r.0).collect::<Vec<_>>(),
        "records read from a file grown at byte {cut} differ from one read"
    );
    assert_eq!(grown, records);
}

pub fn event(data: &[u8]) {
    use histinspect::proto::{event::What, summary::value::Value as V, Event};
    use histinspect::wire;
    use prost::Message;
    let Ok(p) = Event::decode(data) else {
        // Only must not panic.
        if let Ok(w) = wire::event(data) {
            if let Some(s) = w.summary.as_deref() {
                for v in wire::summary_values(s).flatten() {
                    let _ = wire::value(v);
                }
            }
        }
        return;
    };
    let w = wire::event(data).expect("prost reads this event, wire must too");
    assert_eq!(
        (p.step, p.wall_time.to_bits()),
        (w.step, w.wall_time.to_bits())
    );
    let Some(What::Summary(s)) = p.what else {
        assert!(w.summary.is_none());
        return;
    };
    let summary = w.summary.expect("a summary");
    let values: Vec<_> = wire::summary_values(&summary)
        .map(|v| wire::value(v.expect("prost read this value")).expect("prost read it"))
        .collect();
    assert_eq!(s.value.len(), values.len());
    for (pv, wv) in s.value.iter().zip(values) {
        assert_eq!(pv.tag, wv.tag);
        let plugin = pv
            .metadata
            .as_ref()
            .and_then(|m| m.plugin_data.as_ref())
            .map(|p| p.plugin_name.as_str())
            .filter(|n| !n.is_empty());
        assert_eq!(plugin, wv.plugin_name);
        match (&pv.value, wv.kind) {
            (Some(V::Histo(h)), wire::ValueKind::Histo(b)) => {
                let (mut l, mut c) = (Vec::new(), Vec::new());
                let e = wire::histogram(&b, &mut l, &mut c).expect("prost read this histogram");
                let bits = |x: [f64; 5]| x.map(f64::to_bits);
                assert_eq!(bits(e), bits([h.min, h.max, h.num, h.sum, h.sum_squares]));
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&l), bits(&h.bucket_limit));
                assert_eq!(bits(&c), bits(&h.bucket));
            }
            (Some(V::Tensor(t)), wire::ValueKind::Tensor(b)) => {
                let (mut fl, mut db) = (Vec::new(), Vec::new());
                let v = wire::tensor(&b, &mut fl, &mut db).expect("prost read this tensor");
                assert_eq!(v.dtype, t.dtype);
                let dims: Vec<i64> = t
                    .tensor_shape
                    .iter()
                    .flat_map(|s| s.dim.iter().map(|d| d.size))
                    .collect();
                assert_eq!(v.dims, dims);
                assert_eq!(v.content, &t.tensor_content[..]);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&db), bits(&t.double_val));
                let fl32: Vec<f64> = t.float_val.iter().map(|&x| f64::from(x)).collect();
                assert_eq!(bits(&fl), bits(&fl32));
            }
            (Some(V::SimpleValue(x)), wire::ValueKind::Scalar(y)) => {
                assert_eq!(x.to_bits(), y.to_bits())
            }
            (
                Some(V::ObsoleteOldStyleHistogram(_) | V::Image(_) | V::Audio(_)),
                wire::ValueKind::Other,
            ) => {}
            (None, wire::ValueKind::Other) => {}
            (a, b) => panic!("{:?}: prost {a:?}, wire {b:?}", pv.tag),
        }
    }
}

/// Cuts `data` into records: each starts with a little-endian u16 length (shorter at the end);
/// a length of 0xffff starts a second file of the same run.
fn reframe(data: &[u8]) -> Vec<Vec<u8>> {
    let mut files = vec![Vec::new()];
    let mut rest = data;
    while rest.len() >= 2 {
        let n = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        rest = &rest[2..];
        if n == 0xffff {
            files.push(Vec::new());
            continue;
        }
        let (record, tail) = rest.split_at(n.min(rest.len()));
        encode_record(record, files.last_mut().unwrap());
        rest = tail;
    }
    files
}

/// Turns records into the fuzz input [`report`] reads (the seed corpus is made with it);
/// `pick` chooses the output checked besides the JSON.
pub fn unframe(pick: u8, records: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![pick];
    for r in records {
        let n = r.len().min(0xfffe);
        out.extend_from_slice(&(n as u16).to_le_bytes());
        out.extend_from_slice(&r[..n]);
    }
    out
}

/// Fails when human-readable output holds what `report::clean` must have escaped.
fn assert_clean(what: &str, out: &[u8]) {
    let text = String::from_utf8(out.to_vec()).expect("output is UTF-8");
    for c in text.chars() {
        let ok = c == '\n'
            || !(c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'));
        assert!(ok, "{what} writes {c:?} raw:\n{text}");
    }
}

pub fn report(data: &[u8]) {
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let src = MemorySource::new();
    for (i, f) in reframe(data).into_iter().enumerate() {
        src.insert(&format!("run\x1b]0;x/events.out.tfevents.{i}"), f);
    }
    let opts = Options::default();
    let report = analysis::analyze(&src, &opts);
    let render = |view: View<'_>, format: Format, explain: bool| {
        let mut out = Vec::new();
        let o = RenderOptions {
            format,
            style: Style {
                width: Some(80),
                color: false,
            },
            explain,
        };
        report::render(view, &o, &mut out).expect("renders");
        out
    };
    let json = render(View::Summary(&report), Format::Json, false);
    serde_json::from_slice::<serde_json::Value>(&json).expect("the JSON report parses");
    // One of the other outputs per input (the first byte picks), so that an execution stays
    // cheap and the fuzzer runs more of them.
    let steps = |format| {
        let mut rows = analysis::steps(&report, &src);
        let view = View::Steps {
            rows: &mut rows,
            problems: &|| &report.problems,
        };
        render(view, format, false)
    };
    match pick % 7 {
        0 => assert_clean(
            "the table",
            &render(View::Summary(&report), Format::Table, true),
        ),
        1 => {
            let lines = render(View::Summary(&report), Format::Jsonl, false);
            for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                serde_json::from_slice::<serde_json::Value>(line).expect("each JSONL line parses");
            }
            render(View::Summary(&report), Format::Csv, false);
        }
        2 => assert_clean("the per-step table", &steps(Format::Table)),
        3 => {
            steps(Format::Jsonl);
            steps(Format::Csv);
        }
        4 => {
            let gate = Gate::default();
            let verdict = gate::evaluate(&report, &gate);
            let check = render(View::Check(&report, &verdict), Format::Table, false);
            assert_clean("check", &check);
            let github = render(View::Check(&report, &verdict), Format::Github, false);
            assert_clean("the annotations", &github);
        }
        5 => {
            let discovery = src.discover();
            let inv = inventory::build(&src, discovery, &opts.points, &|_| {});
            assert_clean("tags", &render(View::Inventory(&inv), Format::Table, false));
        }
        _ => {
            let gate = Gate::default();
            let verdict = gate::evaluate(&report, &gate);
            render(View::Check(&report, &verdict), Format::Markdown, false);
        }
    }
}

/// Reads `data` as f64s (8 bytes each, little-endian).
fn floats(data: &[u8]) -> Vec<f64> {
    data.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

pub fn stats(data: &[u8]) {
    if data.is_empty() {
        return;
    }
    // First byte: the form (legacy or tensor rows); the rest, f64s.
    let (form, rest) = (data[0], &data[1..]);
    let v = floats(rest);
    let h = if form % 2 == 0 {
        let Ok(h) = Histogram::from_tensor_rows(&v[..v.len() / 3 * 3]) else {
            return;
        };
        h
    } else {
        if v.len() < 5 {
            return;
        }
        let exact = ExactMoments {
            min: v[0],
            max: v[1],
            num: v[2],
            sum: v[3],
            sum_squares: v[4],
        };
        let b = &v[5..];
        let half = b.len() / 2;
        let Ok(h) = Histogram::from_legacy(exact, &b[..half], &b[half..2 * half]) else {
            return;
        };
        h
    };
    let s = stats::point_stats(&h);
    let _ = shape::classify(&h, &s);
    let p = stats::compress(&h);
    // NaN or infinite edges and counts are flagged `nonfinite`; their percentiles mean nothing.
    if !h.has_nonfinite() && p.iter().all(|x| x.is_finite()) {
        for w in p.windows(2) {
            assert!(w[0] <= w[1], "percentiles out of order: {p:?}");
        }
    }
    let m = stats::moments(&h);
    let same = stats::change(&h, &m, &h, &m);
    assert!(same.identical && same.w1 == 0.0 && same.ks == 0.0);
    // Against the same histogram with its counts reversed.
    let mut g = h.clone();
    let counts: Vec<f64> = g.buckets.iter().rev().map(|b| b.count).collect();
    for (b, c) in g.buckets.iter_mut().zip(counts) {
        b.count = c;
    }
    let mg = stats::moments(&g);
    let c = stats::change(&h, &m, &g, &mg);
    let not_negative = |x: f64| x.is_nan() || x >= 0.0;
    assert!(
        not_negative(c.w1) && not_negative(c.ks),
        "negative distance: {c:?}"
    );
    if let Some(d) = stats::density(&h, m.count) {
        let _ = stats::find_peaks(&d);
    }
}

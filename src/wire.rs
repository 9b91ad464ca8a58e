//! Zero-copy protobuf views of the few `Event` fields histinspect reads.
//!
//! Why not prost here: decoding a whole `Event` with prost allocates for every summary value,
//! tag, packed array and tensor, and decodes scalar and image values we only count. Profiles of
//! a 1 GB logdir put prost's decoding and the allocator at a quarter of the run time. These
//! views walk the wire format (<https://protobuf.dev/programming-guides/encoding/>) over the
//! record's bytes: values that are not histograms are skipped by length, strings are borrowed,
//! a histogram's packed arrays are borrowed as they lie in the record (each double's eight
//! little-endian bytes, read where used: [`histogram_packed`]) or, when a writer splits or
//! unpacks them, read into reusable buffers ([`histogram`]). Field numbers are those of `proto/`;
//! a test decodes every fixture record both ways and compares (`tests/reader.rs`), so the
//! prost types generated from `proto/` remain the reference.
//!
//! Semantics follow protobuf's: unknown fields are skipped; for a repeated scalar both the
//! packed and the unpacked encoding are accepted; for a singular field the last one wins.

use std::borrow::Cow;
use thiserror::Error;

/// The bytes are not a valid encoding of the message being read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid protobuf: {0}")]
pub struct WireError(pub &'static str);

type Result<T> = std::result::Result<T, WireError>;

/// One field's value on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
    /// A group (wire types 3 … 4, deprecated; no field we read is one): skipped whole, as
    /// protobuf parsers skip unknown fields.
    Group,
}

/// Iterates the fields of one message.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Fields<'a> {
        Fields { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64> {
        // Keys, lengths and steps under 128 are one byte: most varints a record holds.
        if let Some(&b) = self.buf.get(self.pos).filter(|&&b| b < 0x80) {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or(WireError("truncated varint"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(WireError("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(WireError("field runs past the end of its message"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next `(field number, value)`, or `None` at the end of the message.
    #[allow(clippy::should_implement_trait)] // fallible: Result<Option<_>>
    pub fn next(&mut self) -> Result<Option<(u32, Wire<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| WireError("field number too large"))?;
        if field == 0 {
            return Err(WireError("field number 0"));
        }
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(
                self.take(8)?.try_into().expect("8 bytes"),
            )),
            2 => {
                let n =
                    usize::try_from(self.varint()?).map_err(|_| WireError("length too large"))?;
                Wire::Bytes(self.take(n)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            )),
            3 => {
                self.skip_group(field)?;
                Wire::Group
            }
            4 => return Err(WireError("end of a group that was not started")),
            _ => return Err(WireError("unknown wire type")),
        };
        Ok(Some((field, value)))
    }

    /// Skips the fields of a group up to its end marker (groups may nest; the depth is bounded
    /// by the bytes, each level costing at least one).
    fn skip_group(&mut self, field: u32) -> Result<()> {
        loop {
            if self.pos >= self.buf.len() {
                return Err(WireError("group without its end"));
            }
            let key = self.varint()?;
            let inner = u32::try_from(key >> 3).map_err(|_| WireError("field number too large"))?;
            match key & 7 {
                0 => {
                    self.varint()?;
                }
                1 => {
                    self.take(8)?;
                }
                2 => {
                    let n = usize::try_from(self.varint()?)
                        .map_err(|_| WireError("length too large"))?;
                    self.take(n)?;
                }
                5 => {
                    self.take(4)?;
                }
                3 => self.skip_group(inner)?,
                4 if inner == field => return Ok(()),
                4 => return Err(WireError("end of another group")),
                _ => return Err(WireError("unknown wire type")),
            }
        }
    }
}

fn utf8(b: &[u8]) -> Result<&str> {
    std::str::from_utf8(b).map_err(|_| WireError("string is not UTF-8"))
}

/// Appends a repeated double field (packed or not) to `out`.
fn push_f64s(w: Wire<'_>, out: &mut Vec<f64>) -> Result<()> {
    match w {
        Wire::Fixed64(bits) => out.push(f64::from_bits(bits)),
        Wire::Bytes(b) => {
            if b.len() % 8 != 0 {
                return Err(WireError("packed doubles not a multiple of 8 bytes"));
            }
            out.extend(
                b.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))),
            );
        }
        _ => return Err(WireError("wrong wire type for a repeated double")),
    }
    Ok(())
}

/// Appends a repeated float field (packed or not) to `out`, widened to f64.
fn push_f32s(w: Wire<'_>, out: &mut Vec<f64>) -> Result<()> {
    match w {
        Wire::Fixed32(bits) => out.push(f64::from(f32::from_bits(bits))),
        Wire::Bytes(b) => {
            if b.len() % 4 != 0 {
                return Err(WireError("packed floats not a multiple of 4 bytes"));
            }
            out.extend(
                b.chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes")))),
            );
        }
        _ => return Err(WireError("wrong wire type for a repeated float")),
    }
    Ok(())
}

fn f64_of(w: Wire<'_>) -> Result<f64> {
    match w {
        Wire::Fixed64(bits) => Ok(f64::from_bits(bits)),
        _ => Err(WireError("wrong wire type for a double")),
    }
}

fn bytes_of(w: Wire<'_>) -> Result<&[u8]> {
    match w {
        Wire::Bytes(b) => Ok(b),
        _ => Err(WireError("wrong wire type for a message or string")),
    }
}

/// `Event` (event.proto): wall_time = 1, step = 2, summary = 5.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventView<'a> {
    pub wall_time: f64,
    pub step: i64,
    /// The encoded `Summary`, if the event holds one. Borrowed from the record, except when
    /// the field occurs more than once: protobuf merges the occurrences, and for `Summary`
    /// (only `repeated Value value = 1`) merging is concatenation.
    pub summary: Option<Cow<'a, [u8]>>,
}

pub fn event(data: &[u8]) -> Result<EventView<'_>> {
    let mut e = EventView::default();
    let mut f = Fields::new(data);
    while let Some((n, w)) = f.next()? {
        match (n, w) {
            (1, w) => e.wall_time = f64_of(w)?,
            (2, Wire::Varint(v)) => e.step = v as i64,
            (2, _) => return Err(WireError("wrong wire type for step")),
            (5, w) => {
                e.summary = Some(merged(e.summary.take(), bytes_of(w)?));
            }
            // `what` is a oneof: another member replaces a summary seen earlier. Its members
            // are all length-delimited; with another wire type a field is unknown to a
            // protobuf parser, and skipped.
            (3 | 4 | 6..=9, Wire::Bytes(_)) => e.summary = None,
            _ => {}
        }
    }
    Ok(e)
}

/// The encoded `Summary.Value`s of an encoded `Summary` (field 1), in order.
pub fn summary_values(summary: &[u8]) -> SummaryValues<'_> {
    SummaryValues(Fields::new(summary))
}

/// Iterator of [`summary_values`]; an error ends it.
#[derive(Debug, Clone)]
pub struct SummaryValues<'a>(Fields<'a>);

impl<'a> Iterator for SummaryValues<'a> {
    type Item = Result<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.0.next() {
                Ok(Some((1, w))) => return Some(bytes_of(w)),
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => {
                    self.0.pos = self.0.buf.len();
                    return Some(Err(e));
                }
            }
        }
    }
}

/// What a `Summary.Value` holds. A message member borrows the record, except when it occurs
/// more than once: protobuf merges the occurrences, which for these messages is the same as
/// parsing their encodings one after the other.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind<'a> {
    /// None of the members below (image, audio, old-style histogram, or nothing).
    Other,
    /// `simple_value` (2, a float).
    Scalar(f32),
    /// `histo` (5): an encoded `HistogramProto`.
    Histo(Cow<'a, [u8]>),
    /// `tensor` (8): an encoded `TensorProto`.
    Tensor(Cow<'a, [u8]>),
}

/// `Summary.Value`: tag = 1, metadata = 9 (plugin_data = 1, plugin_name = 1), value oneof.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueView<'a> {
    pub tag: &'a str,
    /// `metadata.plugin_data.plugin_name` when present and non-empty.
    pub plugin_name: Option<&'a str>,
    pub kind: ValueKind<'a>,
}

/// `earlier` then `b` as one encoded message (protobuf's merge of two occurrences).
fn merged<'a>(earlier: Option<Cow<'a, [u8]>>, b: &'a [u8]) -> Cow<'a, [u8]> {
    match earlier {
        None => Cow::Borrowed(b),
        Some(e) => {
            let mut v = e.into_owned();
            v.extend_from_slice(b);
            Cow::Owned(v)
        }
    }
}

pub fn value(data: &[u8]) -> Result<ValueView<'_>> {
    let mut v = ValueView {
        tag: "",
        plugin_name: None,
        kind: ValueKind::Other,
    };
    let mut f = Fields::new(data);
    while let Some((n, w)) = f.next()? {
        match n {
            1 => v.tag = utf8(bytes_of(w)?)?,
            // Metadata of another wire type is not metadata: skipped, as protobuf would.
            9 => {
                if let Wire::Bytes(b) = w {
                    if let Some(p) = plugin_name(b)? {
                        v.plugin_name = Some(p);
                    }
                }
            }
            // `simple_value` of another wire type is an unknown field: skipped.
            2 => {
                if let Wire::Fixed32(x) = w {
                    v.kind = ValueKind::Scalar(f32::from_bits(x));
                }
            }
            // A second occurrence of the same member merges into the first; another member
            // replaces it (oneof).
            5 | 8 => {
                let b = bytes_of(w)?;
                v.kind = match (n, std::mem::replace(&mut v.kind, ValueKind::Other)) {
                    (5, ValueKind::Histo(e)) => ValueKind::Histo(merged(Some(e), b)),
                    (5, _) => ValueKind::Histo(merged(None, b)),
                    (_, ValueKind::Tensor(e)) => ValueKind::Tensor(merged(Some(e), b)),
                    _ => ValueKind::Tensor(merged(None, b)),
                };
            }
            // Image, audio and the old-style histogram are messages; with another wire type
            // the field is unknown, and skipped.
            3 | 4 | 6 if matches!(w, Wire::Bytes(_)) => v.kind = ValueKind::Other,
            _ => {}
        }
    }
    v.plugin_name = v.plugin_name.filter(|p| !p.is_empty());
    Ok(v)
}

/// The plugin name if the field occurs (possibly empty): a later occurrence of `metadata`
/// merges into the earlier one, as protobuf merges messages.
fn plugin_name(metadata: &[u8]) -> Result<Option<&str>> {
    let mut name = None;
    let mut f = Fields::new(metadata);
    while let Some((n, w)) = f.next()? {
        if n == 1 {
            let mut p = Fields::new(bytes_of(w)?);
            while let Some((m, w)) = p.next()? {
                if m == 1 {
                    name = Some(utf8(bytes_of(w)?)?);
                }
            }
        }
    }
    Ok(name)
}

/// The exact fields of a `HistogramProto` (1–5); `bucket_limit` (6) and `bucket` (7) are
/// appended to `limits` and `counts`.
pub fn histogram(data: &[u8], limits: &mut Vec<f64>, counts: &mut Vec<f64>) -> Result<[f64; 5]> {
    let mut exact = [0.0; 5];
    let mut f = Fields::new(data);
    while let Some((n, w)) = f.next()? {
        match n {
            1..=5 => exact[n as usize - 1] = f64_of(w)?,
            6 => push_f64s(w, limits)?,
            7 => push_f64s(w, counts)?,
            _ => {}
        }
    }
    Ok(exact)
}

/// A `HistogramProto` whose `bucket_limit` and `bucket` each occur at most once, packed (what
/// every writer emits): its exact fields and its two arrays borrowed from the record, as the
/// eight little-endian bytes of each double.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PackedHistogram<'a> {
    pub exact: [f64; 5],
    pub limits: &'a [[u8; 8]],
    pub counts: &'a [[u8; 8]],
}

/// [`histogram`] without copying the arrays: `None` when either is unpacked or occurs more
/// than once (then [`histogram`] reads it); errors are [`histogram`]'s.
pub fn histogram_packed(data: &[u8]) -> Result<Option<PackedHistogram<'_>>> {
    let mut h = PackedHistogram {
        exact: [0.0; 5],
        limits: &[],
        counts: &[],
    };
    let (mut seen_limits, mut seen_counts) = (false, false);
    let mut f = Fields::new(data);
    while let Some((n, w)) = f.next()? {
        let (seen, out) = match n {
            1..=5 => {
                h.exact[n as usize - 1] = f64_of(w)?;
                continue;
            }
            6 => (&mut seen_limits, &mut h.limits),
            7 => (&mut seen_counts, &mut h.counts),
            _ => continue,
        };
        match w {
            Wire::Bytes(b) if !*seen => {
                let (doubles, rest) = b.as_chunks::<8>();
                if !rest.is_empty() {
                    return Err(WireError("packed doubles not a multiple of 8 bytes"));
                }
                *out = doubles;
                *seen = true;
            }
            Wire::Bytes(_) | Wire::Fixed64(_) => return Ok(None),
            _ => return Err(WireError("wrong wire type for a repeated double")),
        }
    }
    Ok(Some(h))
}

/// The parts of a `TensorProto` a histogram needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TensorView<'a> {
    /// `dtype` (1), TensorFlow's DataType number.
    pub dtype: i32,
    /// `tensor_shape.dim[].size` (2 → 2 → 1).
    pub dims: Vec<i64>,
    /// `tensor_content` (4).
    pub content: &'a [u8],
}

/// Reads a `TensorProto`; `float_val` (5) and `double_val` (6) are appended to `floats` and
/// `doubles`.
pub fn tensor<'a>(
    data: &'a [u8],
    floats: &mut Vec<f64>,
    doubles: &mut Vec<f64>,
) -> Result<TensorView<'a>> {
    let mut t = TensorView::default();
    let mut f = Fields::new(data);
    while let Some((n, w)) = f.next()? {
        match n {
            1 => match w {
                Wire::Varint(v) => t.dtype = v as i32,
                _ => return Err(WireError("wrong wire type for dtype")),
            },
            // A second `tensor_shape` merges into the first: its dims are appended.
            2 => {
                let mut s = Fields::new(bytes_of(w)?);
                while let Some((m, w)) = s.next()? {
                    if m == 2 {
                        let mut size = 0i64;
                        let mut d = Fields::new(bytes_of(w)?);
                        while let Some((k, w)) = d.next()? {
                            if let (1, Wire::Varint(v)) = (k, w) {
                                size = v as i64;
                            }
                        }
                        t.dims.push(size);
                    }
                }
            }
            4 => t.content = bytes_of(w)?,
            5 => push_f32s(w, floats)?,
            6 => push_f64s(w, doubles)?,
            _ => {}
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_fixed_and_bytes() {
        // field 2 varint 300, field 1 fixed64 1.5, field 5 bytes "ab", unknown field 15 fixed32.
        let mut b = vec![0x10, 0xac, 0x02, 0x09];
        b.extend_from_slice(&1.5f64.to_le_bytes());
        b.extend_from_slice(&[0x2a, 2, b'a', b'b', 0x7d, 1, 0, 0, 0]);
        let e = event(&b).unwrap();
        assert_eq!(
            (e.step, e.wall_time, e.summary.as_deref()),
            (300, 1.5, Some(&b"ab"[..]))
        );
    }

    #[test]
    fn negative_step_is_a_ten_byte_varint() {
        let mut b = vec![0x10];
        b.extend_from_slice(&[0xff; 9]);
        b.push(0x01);
        assert_eq!(event(&b).unwrap().step, -1);
    }

    #[test]
    fn truncation_and_bad_wire_types_are_errors() {
        assert!(event(&[0x10]).is_err());
        assert!(event(&[0x2a, 5, 1]).is_err());
        assert!(event(&[0x0b]).is_err()); // wire type 3 (group) never ended
        assert!(event(&[0x0c]).is_err()); // an end of group never started
        assert!(event(&[0x00, 0x00]).is_err()); // field 0
        assert!(event(&[0x08, 1]).is_err()); // wall_time as a varint
    }

    #[test]
    fn unknown_groups_and_metadata_of_another_wire_type_are_skipped() {
        // Event{step: 7} with an unknown group field 15 (holding a varint and a nested group)
        // in between: the step is still read.
        let e = [0x7b, 0x08, 0x01, 0x1b, 0x1c, 0x7c, 0x10, 0x07];
        assert_eq!(event(&e).unwrap().step, 7);
        // Summary.Value{tag: "t", metadata: varint 3, simple_value: 0.5}: a scalar named t.
        let v = [0x0a, 0x01, b't', 0x48, 0x03, 0x15, 0, 0, 0, 0x3f];
        let v = value(&v).unwrap();
        assert_eq!(v.tag, "t");
        assert!(v.plugin_name.is_none());
        assert_eq!(v.kind, ValueKind::Scalar(0.5));
        // simple_value as a varint is not a float: skipped like an unknown field.
        let v = [0x0a, 0x01, b't', 0x10, 0x03];
        assert_eq!(value(&v).unwrap().kind, ValueKind::Other);
    }

    #[test]
    fn packed_and_unpacked_doubles_both_read() {
        let mut b = vec![0x32, 16];
        b.extend_from_slice(&1.0f64.to_le_bytes());
        b.extend_from_slice(&2.0f64.to_le_bytes());
        b.push(0x31); // field 6, unpacked
        b.extend_from_slice(&3.0f64.to_le_bytes());
        let (mut l, mut c) = (Vec::new(), Vec::new());
        histogram(&b, &mut l, &mut c).unwrap();
        assert_eq!(l, vec![1.0, 2.0, 3.0]);
        assert!(c.is_empty());
        // Not one packed occurrence per array: the borrowing read hands over to this one.
        assert_eq!(histogram_packed(&b), Ok(None));
    }

    #[test]
    fn packed_arrays_are_borrowed_as_the_copying_read_reads_them() {
        // HistogramProto{max: 4.5, bucket_limit: [1, 2] packed, bucket: [3, 0] packed}, as
        // every writer encodes it (fields in number order, each array one packed field).
        let mut b = vec![0x11];
        b.extend_from_slice(&4.5f64.to_le_bytes());
        for (key, xs) in [(0x32, [1.0f64, 2.0]), (0x3a, [3.0, 0.0])] {
            b.extend_from_slice(&[key, 16]);
            xs.iter()
                .for_each(|x| b.extend_from_slice(&x.to_le_bytes()));
        }
        let h = histogram_packed(&b).unwrap().unwrap();
        let (mut l, mut c) = (Vec::new(), Vec::new());
        assert_eq!(histogram(&b, &mut l, &mut c).unwrap(), h.exact);
        let doubles = |xs: &[[u8; 8]]| {
            xs.iter()
                .map(|x| f64::from_le_bytes(*x))
                .collect::<Vec<_>>()
        };
        assert_eq!((doubles(h.limits), doubles(h.counts)), (l, c));
        // A second packed `bucket` would be appended: read by copying.
        let mut twice = b.clone();
        twice.extend_from_slice(&[0x3a, 8]);
        twice.extend_from_slice(&1.0f64.to_le_bytes());
        assert_eq!(histogram_packed(&twice), Ok(None));
        // Errors are the copying read's.
        assert_eq!(
            histogram_packed(&[0x32, 3, 0, 0, 0]),
            Err(WireError("packed doubles not a multiple of 8 bytes"))
        );
        assert_eq!(
            histogram_packed(&[0x30, 1]),
            Err(WireError("wrong wire type for a repeated double"))
        );
    }
}

//! `--format columns`: the per-step rows as typed binary columns, for programs (the Python
//! package reads `steps()` this way). Text is the slowest part of a per-step export at both
//! ends: formatting ~30 floats per row here, parsing them back there. In this form a float is
//! its 8 bytes and a name is a number, so a reader turns a batch of rows into arrays with one
//! copy (`numpy.frombuffer`), and nothing is lost to rounding.
//!
//! The stream, all integers little-endian (`u32` unless said otherwise):
//!
//! ```text
//! "HICOLS1\n"                        magic; the digit is the version of this layout
//! ncols, then per column:            the columns of [`STEP_COLUMNS`], in order
//!     kind: u8  (0 text, 1 i64, 2 f64, 3 bool, 4 list of f64)
//!     name: len, UTF-8 bytes
//! then records, each opened by one byte:
//!     'D' column, len, UTF-8 bytes   the next value of a text column's dictionary (its code is
//!                                    the number of values before it)
//!     'B' nrows, then each column's cells for the nrows rows:
//!         text    nrows codes
//!         i64     nrows i64
//!         f64     nrows f64 (NaN is a missing value)
//!         bool    nrows u8: 0 false, 1 true, 2 missing
//!         list    nrows lengths, then their sum of f64
//!     'E'                            the end: a stream without it was cut short
//! ```
//!
//! Text is cleaned as for the CSV ([`super::clean`]), so the names match the other formats'.
//! The problems cannot be written here: like the CSV's they are returned to the front end,
//! which writes them to standard error.

use super::rows::{step_cells, Cell, Kind, STEP_COLUMNS};
use crate::model::StepRow;
use std::collections::HashMap;
use std::io::{self, Write};

/// Magic and layout version.
pub const MAGIC: &[u8; 8] = b"HICOLS1\n";

/// Rows per batch: large enough that the per-batch costs vanish, small enough that a reader
/// sees the first rows early and memory stays small.
const BATCH: usize = 4096;

fn kind_code(k: Kind) -> u8 {
    match k {
        Kind::Text => 0,
        Kind::Int => 1,
        Kind::Float => 2,
        Kind::Bool => 3,
        Kind::Floats => 4,
    }
}

fn u32_of(n: usize) -> io::Result<[u8; 4]> {
    u32::try_from(n)
        .map(u32::to_le_bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "more than 2^32 items"))
}

/// One column's cells of the current batch, as bytes ready to write.
#[derive(Default)]
struct Column {
    /// Fixed-size cells, or a list column's lengths.
    cells: Vec<u8>,
    /// A list column's items.
    items: Vec<u8>,
    /// A text column's dictionary: value → code.
    codes: HashMap<String, u32>,
    /// The last value and its code: rows come grouped by run and tag, so most lookups are
    /// the value of the row before.
    last: Option<(String, u32)>,
}

/// `--steps --format columns`: the header, the rows in batches, the end mark.
pub fn steps(rows: &mut dyn Iterator<Item = StepRow>, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(MAGIC)?;
    out.write_all(&u32_of(STEP_COLUMNS.len())?)?;
    for (name, kind) in STEP_COLUMNS {
        out.write_all(&[kind_code(kind)])?;
        out.write_all(&u32_of(name.len())?)?;
        out.write_all(name.as_bytes())?;
    }
    let mut cols: Vec<Column> = STEP_COLUMNS.iter().map(|_| Column::default()).collect();
    let mut n = 0;
    for row in rows {
        for (i, (cell, col)) in step_cells(&row).iter().zip(&mut cols).enumerate() {
            push(i, cell, col, out)?;
        }
        n += 1;
        if n == BATCH {
            flush(n, &mut cols, out)?;
            n = 0;
        }
    }
    if n > 0 {
        flush(n, &mut cols, out)?;
    }
    out.write_all(b"E")
}

/// Adds `cell` to column `i`; a text value seen for the first time is written to its
/// dictionary at once (before the batch that uses it).
fn push(i: usize, cell: &Cell<'_>, col: &mut Column, out: &mut dyn Write) -> io::Result<()> {
    match *cell {
        Cell::Text(s) => {
            if let Some((v, c)) = &col.last {
                if v == s {
                    col.cells.extend_from_slice(&c.to_le_bytes());
                    return Ok(());
                }
            }
            let code = match col.codes.get(s) {
                Some(&c) => c,
                None => {
                    let clean = super::clean(s);
                    let c = u32::try_from(col.codes.len()).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, "more than 2^32 names")
                    })?;
                    out.write_all(b"D")?;
                    out.write_all(&u32_of(i)?)?;
                    out.write_all(&u32_of(clean.len())?)?;
                    out.write_all(clean.as_bytes())?;
                    col.codes.insert(s.to_string(), c);
                    c
                }
            };
            col.last = Some((s.to_string(), code));
            col.cells.extend_from_slice(&code.to_le_bytes());
        }
        Cell::Int(v) => col.cells.extend_from_slice(&v.to_le_bytes()),
        Cell::Float(x) => col.cells.extend_from_slice(&x.to_le_bytes()),
        Cell::Bool(b) => col.cells.push(b.map_or(2, u8::from)),
        Cell::Floats(xs) => {
            col.cells.extend_from_slice(&u32_of(xs.len())?);
            for x in xs {
                col.items.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    Ok(())
}

/// Writes a batch of `n` rows and empties the columns for the next.
fn flush(n: usize, cols: &mut [Column], out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"B")?;
    out.write_all(&u32_of(n)?)?;
    for c in cols {
        out.write_all(&c.cells)?;
        out.write_all(&c.items)?;
        c.cells.clear();
        c.items.clear();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::{Histogram, WireForm};
    use crate::point::PointSummary;

    fn row(tag: &str, step: i64, change: bool) -> StepRow {
        let h =
            Histogram::from_tensor_rows(&[0.0, 1.0, 3.0, 1.0, 2.0, 5.0, 2.0, 3.0, 1.0]).unwrap();
        StepRow {
            run: "run\u{1b}".into(),
            tag: tag.into(),
            form: WireForm::Tensor,
            point: PointSummary::of(step, 1.5, &h),
            change_prev: change.then_some(crate::stats::Change::NONE),
        }
    }

    /// Reads a stream back the way the Python package does: (dictionaries, one Vec of raw
    /// cells per column over all batches, the row count).
    fn read_back(bytes: &[u8]) -> (Vec<Vec<String>>, Vec<Vec<u8>>, usize) {
        let mut at = 0;
        let mut take = |n: usize| {
            let s = &bytes[at..at + n];
            at += n;
            s
        };
        let u32_at = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap()) as usize;
        assert_eq!(take(8), MAGIC);
        let ncols = u32_at(take(4));
        let mut kinds = Vec::new();
        for _ in 0..ncols {
            let k = take(1)[0];
            let len = u32_at(take(4));
            let _name = take(len);
            kinds.push(k);
        }
        let mut dicts = vec![Vec::new(); ncols];
        let mut cells = vec![Vec::new(); ncols];
        let mut rows = 0;
        loop {
            match take(1)[0] {
                b'D' => {
                    let c = u32_at(take(4));
                    let len = u32_at(take(4));
                    dicts[c].push(String::from_utf8(take(len).to_vec()).unwrap());
                }
                b'B' => {
                    let n = u32_at(take(4));
                    rows += n;
                    for (c, &k) in kinds.iter().enumerate() {
                        let size = [4, 8, 8, 1, 4][k as usize];
                        let part = take(n * size).to_vec();
                        if k == 4 {
                            let total: usize = part.chunks(4).map(u32_at).sum();
                            let _items = take(total * 8);
                        }
                        cells[c].extend(part);
                    }
                }
                b'E' => break,
                other => panic!("unexpected record {other}"),
            }
        }
        assert_eq!(at, bytes.len(), "nothing after the end mark");
        (dicts, cells, rows)
    }

    #[test]
    fn rows_come_back_as_columns_across_batches() {
        let n = BATCH + 3;
        let mut rows = (0..n).map(|i| row(if i % 2 == 0 { "a" } else { "b" }, i as i64, i > 0));
        let mut out = Vec::new();
        steps(&mut rows, &mut out).unwrap();
        let (dicts, cells, count) = read_back(&out);
        assert_eq!(count, n);
        // Names once each, cleaned as in the CSV; codes in order of first use.
        assert_eq!(dicts[0], ["run\\u{1b}"]);
        assert_eq!(dicts[1], ["a", "b"]);
        let tag = |i: usize| u32::from_le_bytes(cells[1][4 * i..4 * i + 4].try_into().unwrap());
        assert_eq!((tag(0), tag(1), tag(n - 1)), (0, 1, 0));
        let step = |i: usize| i64::from_le_bytes(cells[3][8 * i..8 * i + 8].try_into().unwrap());
        assert_eq!(
            (step(0), step(BATCH), step(n - 1)),
            (0, BATCH as i64, n as i64 - 1)
        );
        // The first row has no change: its true/false is missing.
        let identical = STEP_COLUMNS
            .iter()
            .position(|c| c.0 == "identical_prev")
            .unwrap();
        assert_eq!(&cells[identical][..2], &[2, 1]);
    }

    #[test]
    fn no_rows_is_a_header_and_the_end_mark() {
        let mut out = Vec::new();
        steps(&mut std::iter::empty(), &mut out).unwrap();
        let (_, _, rows) = read_back(&out);
        assert_eq!(rows, 0);
        assert_eq!(out.last(), Some(&b'E'));
    }
}

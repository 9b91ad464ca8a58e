//! The per-step row as typed cells, said once for every tabular format: the CSV writes each
//! cell as text ([`super::csv::steps`]), the columns format as binary arrays
//! ([`super::columns::steps`]). A column's name, its type and how it is read off a
//! [`StepRow`] live here together, so the two formats cannot drift apart.

use crate::model::StepRow;

/// The type of a column, and so how each format writes its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A name (run, tag, form, shape): few distinct values, many repeats.
    Text,
    /// A whole number (the step).
    Int,
    /// A float; NaN is a missing value.
    Float,
    /// A true/false that may be missing (the change on a tag's first step).
    Bool,
    /// A list of floats (the peaks).
    Floats,
}

/// One cell of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Text(&'a str),
    Int(i64),
    Float(f64),
    Bool(Option<bool>),
    Floats(&'a [f64]),
}

impl Cell<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            Cell::Text(_) => Kind::Text,
            Cell::Int(_) => Kind::Int,
            Cell::Float(_) => Kind::Float,
            Cell::Bool(_) => Kind::Bool,
            Cell::Floats(_) => Kind::Floats,
        }
    }
}

/// Columns of the per-step output, in order, with their types.
pub const STEP_COLUMNS: [(&str, Kind); 29] = [
    ("run", Kind::Text),
    ("tag", Kind::Text),
    ("form", Kind::Text),
    ("step", Kind::Int),
    ("wall_time", Kind::Float),
    ("count", Kind::Float),
    ("mean", Kind::Float),
    ("std", Kind::Float),
    ("min", Kind::Float),
    ("max", Kind::Float),
    ("median", Kind::Float),
    ("iqr", Kind::Float),
    ("mode", Kind::Float),
    ("peaks", Kind::Floats),
    ("zero_fraction", Kind::Float),
    ("shape", Kind::Text),
    ("shape_confidence", Kind::Float),
    ("w1_rel_prev", Kind::Float),
    ("ks_prev", Kind::Float),
    ("identical_prev", Kind::Bool),
    // TensorBoard's Distributions percentiles (`stats::TB_BASIS_POINTS`), in percent.
    ("p0", Kind::Float),
    ("p6.68", Kind::Float),
    ("p15.87", Kind::Float),
    ("p30.85", Kind::Float),
    ("p50", Kind::Float),
    ("p69.15", Kind::Float),
    ("p84.13", Kind::Float),
    ("p93.32", Kind::Float),
    ("p100", Kind::Float),
];

/// The cells of `r`, in the order of [`STEP_COLUMNS`].
pub fn step_cells(r: &StepRow) -> [Cell<'_>; STEP_COLUMNS.len()] {
    let (p, s) = (&r.point, &r.point.stats);
    let c = r.change_prev.as_ref();
    let pc = |i: usize| Cell::Float(s.percentiles[i]);
    [
        Cell::Text(r.run.as_str()),
        Cell::Text(&r.tag),
        Cell::Text(r.form.as_str()),
        Cell::Int(p.step),
        Cell::Float(p.wall_time),
        Cell::Float(s.count),
        Cell::Float(s.mean),
        Cell::Float(s.std),
        Cell::Float(s.min),
        Cell::Float(s.max),
        Cell::Float(s.median),
        Cell::Float(s.iqr),
        Cell::Float(s.mode),
        Cell::Floats(&p.shape.peaks),
        Cell::Float(s.zero_fraction),
        Cell::Text(p.shape.shape.as_str()),
        Cell::Float(p.shape.confidence),
        Cell::Float(c.map_or(f64::NAN, |c| c.w1_rel)),
        Cell::Float(c.map_or(f64::NAN, |c| c.ks)),
        Cell::Bool(c.map(|c| c.identical)),
        pc(0),
        pc(1),
        pc(2),
        pc(3),
        pc(4),
        pc(5),
        pc(6),
        pc(7),
        pc(8),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::{Histogram, WireForm};
    use crate::point::PointSummary;
    use crate::stats::TB_BASIS_POINTS;

    #[test]
    fn percentile_columns_name_tensorboards_basis_points() {
        let named = &STEP_COLUMNS[STEP_COLUMNS.len() - TB_BASIS_POINTS.len()..];
        for ((name, _), bp) in named.iter().zip(TB_BASIS_POINTS) {
            let percent: f64 = name[1..].parse().unwrap();
            assert_eq!((percent * 100.0).round() as u32, bp, "{name}");
        }
    }

    #[test]
    fn every_cell_has_its_columns_type() {
        let h =
            Histogram::from_tensor_rows(&[0.0, 1.0, 3.0, 1.0, 2.0, 5.0, 2.0, 3.0, 1.0]).unwrap();
        for change_prev in [None, Some(crate::stats::Change::NONE)] {
            let row = StepRow {
                run: "r".into(),
                tag: "t".into(),
                form: WireForm::Tensor,
                point: PointSummary::of(3, 1.5, &h),
                change_prev,
            };
            for (cell, (name, kind)) in step_cells(&row).iter().zip(STEP_COLUMNS) {
                assert_eq!(cell.kind(), kind, "{name}");
            }
        }
    }
}

//! Flags across a tag's series: what a practitioner would want to be told. No I/O, no
//! formatting. Every threshold lives in [`Thresholds`], documented here and in the README, and
//! can be overridden from the command line (`--threshold NAME=VALUE`).
//!
//! | flag | rule (defaults) | why |
//! |---|---|---|
//! | `frozen` | ≥ 2 points and every consecutive pair bitwise identical, or every consecutive change *and* first→last below `frozen` (W1/σ, KS, Δmean/σ, Δσ/σ all ≤ 1e-6) | identical weights encode to identical buckets (`docs/format.md`, "Equality"); 1e-6 σ is far below one bucket, while a real drift of 1e-3 σ per step stays 1000× above it |
//! | `nonfinite` | NaN or ±Inf in any edge, count or exact field of any point | TF refuses to log them; torch writes them from diverged weights |
//! | `exploding` | last σ ≥ `exploding` (100) × first σ | two orders of magnitude of growth is divergence, not learning |
//! | `collapsed` | last σ ≤ `collapsed` (1e-3) × first σ, first σ > 0 | a distribution that shrank to a point (dead units, vanishing updates) |
//! | `saturated` | the last point's shape is `saturated` | tanh/sigmoid outputs piled at both ends: gradients vanish there |
//! | `dead` | mass at zero at the last point ≥ `dead` (0.5) and grew by ≥ 0.1 since the first | ReLU outputs dying over training |
//! | `still_at_init` | weight-like tag (weight, kernel, bias, `/w`, `/b`) whose last point is still `uniform` (Glorot/Kaiming init) or an all-zero spike (zeros init), with first→last W1/σ < `init` (0.1) | the user-story reading: "layer 1 is still its uniform init" |
//!
//! The W1/σ scale is Evidently's drift scale (W1 / σ_ref ≥ 0.1 = drift), so `still_at_init`'s
//! 0.1 means "has not drifted" in the usual sense.

use crate::point::{change_size, PointSummary};
use crate::shape::Shape;
use crate::stats::Change;
use regex::Regex;
use std::sync::OnceLock;

crate::named_enum! {
    /// A flag on a tag.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Flag {
        /// The histogram never changes: the layer does not learn.
        Frozen = "frozen",
        /// NaN or ±Inf somewhere in the histogram: training diverged.
        Nonfinite = "nonfinite",
        /// The spread grew by orders of magnitude: divergence, not learning.
        Exploding = "exploding",
        /// The spread shrank to almost nothing.
        Collapsed = "collapsed",
        /// Mass piled at both ends of the range (tanh/sigmoid at their bounds).
        Saturated = "saturated",
        /// Most values became exactly zero (dying ReLUs).
        Dead = "dead",
        /// Parameters still look like their initialisation.
        StillAtInit = "still_at_init",
    }
}

crate::named_enum! {
    /// How much a flag matters to a gate: `histinspect check` fails on errors by default.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Severity {
        /// Training is broken: worth failing CI.
        Error = "error",
        /// Likely a problem: look at it.
        Warning = "warning",
        /// Worth knowing; often intended (a layer kept at its init on purpose).
        Info = "info",
    }
}

impl Flag {
    /// The flag's severity. `frozen`, `nonfinite` and `exploding` were right on every real
    /// training run tried; `dead` and `collapsed` are warnings; `saturated` and
    /// `still_at_init` raise false alarms on healthy runs as their rules stand, so they are
    /// information only and never fail a gate by default.
    pub fn severity(self) -> Severity {
        match self {
            Flag::Frozen | Flag::Nonfinite | Flag::Exploding => Severity::Error,
            Flag::Dead | Flag::Collapsed => Severity::Warning,
            Flag::Saturated | Flag::StillAtInit => Severity::Info,
        }
    }
}

/// Thresholds of the flags; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// `frozen`: largest change (W1/σ, KS, Δmean/σ, Δσ/σ) that still counts as none.
    pub frozen: f64,
    /// `exploding`: last σ / first σ at or above this.
    pub exploding: f64,
    /// `collapsed`: last σ / first σ at or below this.
    pub collapsed: f64,
    /// `dead`: mass at zero at the last point at or above this (and grown by 0.1).
    pub dead: f64,
    /// `still_at_init`: first→last W1/σ below this.
    pub init: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            frozen: 1e-6,
            exploding: 100.0,
            collapsed: 1e-3,
            dead: 0.5,
            init: 0.1,
        }
    }
}

impl Thresholds {
    /// Names accepted by [`Thresholds::set`].
    pub const NAMES: [&'static str; 5] = ["frozen", "exploding", "collapsed", "dead", "init"];

    /// Sets one threshold by name; false for an unknown name.
    pub fn set(&mut self, name: &str, value: f64) -> bool {
        let slot = match name {
            "frozen" => &mut self.frozen,
            "exploding" => &mut self.exploding,
            "collapsed" => &mut self.collapsed,
            "dead" => &mut self.dead,
            "init" => &mut self.init,
            _ => return false,
        };
        *slot = value;
        true
    }
}

/// What the flags are computed from.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub tag: &'a str,
    pub points: usize,
    pub first: &'a PointSummary,
    pub last: &'a PointSummary,
    /// Change from the first to the last point.
    pub overall: Change,
    /// True when every consecutive pair is bitwise identical.
    pub all_identical: bool,
    /// Largest of W1/σ, KS, Δmean/σ, Δσ/σ over consecutive pairs (NaN if any was NaN).
    pub max_step_change: f64,
    pub any_nonfinite: bool,
}

/// True for tag names that look like a layer's parameters.
pub fn is_weight_like(tag: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)(weight|kernel|bias|(^|/)[wb]\d*(/|$)|(^|/)w_)").expect("valid regex")
    })
    .is_match(tag)
}

/// Fraction of the values at zero, where the writer kept exact zeros apart (TF's and torch's
/// 1e-12 bucket, zero-width buckets). With equal-width bins whose lowest edge is 0 (ReLU
/// outputs in TF2's 30 bins) the zeros are mixed into the first bucket and this is 0: the
/// `dead` rule cannot see them there yet.
pub fn zero_mass(p: &PointSummary) -> f64 {
    p.stats.zero_fraction
}

/// The flags of one tag, in [`Flag::ALL`] order.
pub fn diagnose(f: &Facts, t: &Thresholds) -> Vec<Flag> {
    let mut flags = Vec::new();
    let (a, b) = (&f.first.stats, &f.last.stats);
    let multi = f.points >= 2;
    let overall = change_size(&f.overall);
    if multi && (f.all_identical || (f.max_step_change <= t.frozen && overall <= t.frozen)) {
        flags.push(Flag::Frozen);
    }
    if f.any_nonfinite {
        flags.push(Flag::Nonfinite);
    }
    let ratio = b.std / a.std;
    if multi && a.std > 0.0 && ratio >= t.exploding {
        flags.push(Flag::Exploding);
    }
    if multi && a.std > 0.0 && ratio <= t.collapsed {
        flags.push(Flag::Collapsed);
    }
    if f.last.shape.shape == Shape::Saturated {
        flags.push(Flag::Saturated);
    }
    let (z0, z1) = (zero_mass(f.first), zero_mass(f.last));
    if multi && z1 >= t.dead && z1 >= z0 + 0.1 {
        flags.push(Flag::Dead);
    }
    let at_init = match f.last.shape.shape {
        Shape::Uniform => true,
        Shape::Constant => b.mean == 0.0 && b.count > 0.0,
        _ => false,
    };
    let unmoved = !multi || f.overall.w1_rel < t.init || f.overall.identical;
    if is_weight_like(f.tag) && at_init && unmoved && f.first.shape.shape == f.last.shape.shape {
        flags.push(Flag::StillAtInit);
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_like_names() {
        for t in [
            "layer1/weights",
            "dense/kernel/histogram",
            "fc.weight",
            "conv/b",
            "l1/W",
        ] {
            assert!(is_weight_like(t), "{t}");
        }
        for t in ["layer1/activations", "loss", "Qpred", "layer/output"] {
            assert!(!is_weight_like(t), "{t}");
        }
    }

    #[test]
    fn thresholds_are_set_by_name() {
        let mut t = Thresholds::default();
        assert!(t.set("frozen", 1e-3));
        assert_eq!(t.frozen, 1e-3);
        assert!(!t.set("nope", 1.0));
        assert_eq!(Flag::parse("still_at_init"), Some(Flag::StillAtInit));
    }
}

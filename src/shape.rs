//! Shape classification of one histogram point.
//!
//! The question an expert answers at a glance — "flat plateau", "bell", "several peaks",
//! "all one value" — answered from the buckets alone, on every bucket scheme real files use
//! (TF2's 30 equal bins, TF's exponential ±1.1× legacy buckets, numpy/torch rules). All
//! densities are read on the uniform grid of [`crate::stats::density`], never from raw counts.
//!
//! # Method (`docs/format.md`, "Shapes"), in the order the rules are tried
//!
//! 1. **empty** — no values.
//! 2. **constant** — range 0 (exact min = max, or all mass in one zero-width bucket), or a
//!    tensor-form histogram with a single non-empty bucket (nothing inside it can be seen;
//!    confidence 0.5).
//! 3. **spike_and_slab** (ReLU outputs, sparse weights) — a spike holding ≥ [`SPIKE_MIN_MASS`]
//!    of the values next to a continuous slab holding ≥ [`SLAB_MIN_MASS`]. The spike is either
//!    the zero mass of [`crate::stats::PointStats::zero_fraction`] (zero-width bucket or TF's
//!    `[0, 1e-12)` bucket), or, for equal-width bins where zeros share the edge bin with small
//!    values, an *edge spike*: an outermost bin whose count is ≥ [`EDGE_SPIKE_RATIO`]× its
//!    neighbour's with an excess of ≥ [`EDGE_SPIKE_Z`] Poisson standard deviations, the spike
//!    mass being the excess over the neighbour. A spike at both ends is saturation instead.
//! 4. **saturated** (tanh/sigmoid of a wide input, clipping) — both outer 5 % of the range
//!    hold ≥ [`SATURATION_MIN_TAIL_MASS`] of the values each, at a density ≥
//!    [`SATURATION_DENSITY_RATIO`]× the density of the central 50 % of the range.
//! 5. **multimodal** — two or more prominent peaks of the smoothed density
//!    ([`crate::stats::PointStats::modes`]: prominence ≥ 10 % of the highest cell and ≥ 3.5
//!    Poisson standard deviations (3.5 rather than 3 because the peak and its base are the
//!    extremes of several noisy cells) — the peak-counting rule of `docs/format.md` ("Shapes"), scipy
//!    `find_peaks(prominence=…)` style). The peak locations are reported.
//! 6. **uniform** — excess kurtosis g₂ < [`UNIFORM_MAX_KURTOSIS`] (uniform: −1.2, normal: 0)
//!    *and* the KS distance to the moment-fitted uniform `U(μ−√3σ, μ+√3σ)` is smaller than to the
//!    fitted normal `N(μ, σ)`. KS distances are effect sizes compared with each other, not
//!    p-values (with millions of values every test rejects). They are computed as
//!    `docs/format.md` ("Shapes") describes: the fitted normal's CDF is evaluated only near the
//!    largest distance, found from a table of it, with the same result.
//! 7. **skewed** — |g₁| > `max(0.5, 3·√(6/n))` (0.5 is the usual "moderately skewed" bound;
//!    √(6/n) is the standard error of g₁ under normality, so small samples are not flagged
//!    by noise).
//! 8. **heavy_tailed** — g₂ > `max(1, 3·√(24/n))` (Laplace: 3; √(24/n) is the standard error
//!    of g₂ under normality).
//! 9. **gaussian** — everything else that is unimodal, symmetric and near-mesokurtic.
//!
//! The deciding statistics are returned with every verdict: g₁, g₂, both KS distances and the
//! bimodality coefficient BC = (g₁² + 1)/(g₂ + 3(n−1)²/((n−2)(n−3))) (SAS; Pfister et al. 2013,
//! *Front. Psychol.* 4:700; BC > 5/9 suggests bimodality, but a uniform sits exactly on 5/9, so
//! BC is reported, not used to decide). Hartigan's dip (Hartigan & Hartigan 1985, *Ann. Stat.*
//! 13:70–84) is the recommended test in the literature (Freeman & Dale 2013); it is not
//! computed here because on binned data with n up to millions its p-values are meaningless and
//! a fixed-D threshold behaves like the prominence rule above, which also yields the peak
//! locations the report needs.
//!
//! Skewness and kurtosis come from the buckets (legacy protos carry only two moments), with
//! Sheppard's corrections for equal-width bins.
//!
//! `confidence` is a heuristic in [0.5, 1]: how far the deciding statistic is past its
//! threshold, relative to the threshold (e.g. KS margin between the two fits for
//! uniform/gaussian); it is not a probability.

use crate::histogram::{Histogram, WireForm};
use crate::stats::{density, Cdf, Density, PointStats, Reference};
use serde::Serialize;

/// Smallest spike mass for `spike_and_slab`.
pub const SPIKE_MIN_MASS: f64 = 0.10;
/// Smallest slab mass for `spike_and_slab`.
pub const SLAB_MIN_MASS: f64 = 0.05;
/// Edge bin count over its neighbour's for an edge spike in equal-width bins.
pub const EDGE_SPIKE_RATIO: f64 = 3.0;
/// Poisson standard deviations the edge-spike excess must clear.
pub const EDGE_SPIKE_Z: f64 = 3.0;
/// Mass in each outer 5 % of the range for `saturated`.
pub const SATURATION_MIN_TAIL_MASS: f64 = 0.10;
/// Density of each outer 5 % over the central 50 % for `saturated`.
pub const SATURATION_DENSITY_RATIO: f64 = 3.0;
/// Excess kurtosis below which a unimodal histogram may be `uniform`.
pub const UNIFORM_MAX_KURTOSIS: f64 = -0.8;

/// Fewest values for which a shape is named; below it the label is `unresolved`.
pub const UNRESOLVED_BELOW_COUNT: f64 = 32.0;

crate::named_enum! {
    /// The shape labels.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Shape {
        /// No values.
        Empty = "empty",
        /// Every value the same (one point mass, or a single narrow bucket).
        Constant = "constant",
        /// Flat between two bounds (Glorot/Kaiming uniform initialisation).
        Uniform = "uniform",
        /// Bell-shaped: close to a normal with the same mean and std.
        Gaussian = "gaussian",
        /// Two or more prominent peaks.
        Multimodal = "multimodal",
        /// One peak with a long tail on one side.
        Skewed = "skewed",
        /// One peak with tails heavier than a normal's on both sides.
        HeavyTailed = "heavy_tailed",
        /// Mass piled at both ends of the range (tanh/sigmoid outputs at their bounds).
        Saturated = "saturated",
        /// A spike (usually at zero) on top of a broad slab (sparse weights, ReLU outputs).
        SpikeAndSlab = "spike_and_slab",
        /// Too few values (fewer than 32) or too few filled buckets (fewer than 3) to tell a
        /// shape apart; the reason says which.
        Unresolved = "unresolved",
    }
}

/// A shape label with the statistics that decided it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShapeVerdict {
    pub shape: Shape,
    /// Heuristic in [0.5, 1] (1 for empty/constant); see the module docs.
    pub confidence: f64,
    /// Peak locations (all prominent peaks for multimodal; the spike location for
    /// spike_and_slab; the two ends for saturated; the mode otherwise).
    pub peaks: Vec<f64>,
    /// One short sentence with the deciding numbers: kept as the numbers, written out when
    /// shown (`to_string()`, `{}`), so that outputs without it (CSV, columns) never format it.
    pub why: Why,
    pub excess_kurtosis: f64,
    pub skewness: f64,
    /// KS distance to the moment-fitted uniform.
    pub ks_uniform: f64,
    /// KS distance to the moment-fitted normal.
    pub ks_normal: f64,
    /// Bimodality coefficient (Sarle/SAS; > 5/9 suggests bimodality).
    pub bimodality: f64,
}

/// Standard normal CDF (erfc via a Chebyshev-fitted rational approximation, |error| < 1.2e-7).
fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    // Numerical Recipes' erfcc.
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// [`normal_cdf`] at every [`NORMAL_TABLE_STEP`] from −[`NORMAL_TABLE_END`] to +that, for
/// [`table_at`].
static NORMAL_TABLE: std::sync::LazyLock<Vec<f64>> = std::sync::LazyLock::new(|| {
    let n = (2.0 * NORMAL_TABLE_END / NORMAL_TABLE_STEP) as usize;
    (0..=n)
        .map(|i| normal_cdf(-NORMAL_TABLE_END + i as f64 * NORMAL_TABLE_STEP))
        .collect()
});
const NORMAL_TABLE_STEP: f64 = 1.0 / 128.0;
const NORMAL_TABLE_END: f64 = 10.0;
/// How far the table's interpolation ([`table_at`]) may be from [`normal_cdf`]. Linear
/// interpolation over a step h errs by at most h²/8·max|Φ''| = h²/8·φ(1) ≈ 1.9e-6 on the true
/// Φ, and `normal_cdf` is within 1.2e-7 of it, so the table's values and the function between
/// them add 2.4e-7; beyond ±10, Φ is within 1e-23 of 0 or 1. The test checks the bound densely.
const NORMAL_ESTIMATE_EPS: f64 = 1e-5;

/// `table` ([`NORMAL_TABLE`]) interpolated at `u` steps from its start: [`normal_cdf`] within
/// [`NORMAL_ESTIMATE_EPS`] at a fraction of the cost ([`NormalFit`]'s estimate).
#[inline(always)]
fn table_at(table: &[f64], u: f64) -> f64 {
    let top = table.len() - 1;
    if u.is_nan() {
        return f64::NAN;
    }
    if u <= 0.0 {
        return table[0];
    }
    if u >= top as f64 {
        return table[top];
    }
    // 0 < u < top: the cast truncates to a cell that has a right end.
    let i = u as usize;
    let (a, b) = (table[i], table[i + 1]);
    a + (u - i as f64) * (b - a)
}

/// The moment-fitted normal N(μ, σ) as the reference of a KS distance.
struct NormalFit<'a> {
    mu: f64,
    sd: f64,
    /// 1/σ in table steps, and in σ: the estimate and the bend multiply where `at` divides
    /// (a few ulps apart, far inside their bounds).
    steps_per_x: f64,
    inv_sd: f64,
    table: &'a [f64],
}

impl<'a> NormalFit<'a> {
    fn new(mu: f64, sd: f64, table: &'a [f64]) -> NormalFit<'a> {
        NormalFit {
            mu,
            sd,
            steps_per_x: (1.0 / NORMAL_TABLE_STEP) / sd,
            inv_sd: 1.0 / sd,
            table,
        }
    }
}

impl Reference for NormalFit<'_> {
    fn at(&self, x: f64) -> f64 {
        normal_cdf((x - self.mu) / self.sd)
    }

    #[inline(always)]
    fn estimate(&self, x: f64) -> f64 {
        const START: f64 = NORMAL_TABLE_END / NORMAL_TABLE_STEP;
        table_at(self.table, (x - self.mu) * self.steps_per_x + START)
    }

    fn eps(&self) -> f64 {
        NORMAL_ESTIMATE_EPS
    }

    /// Off its chord over a span of Δz standard deviations Φ bends by at most
    /// Δz²/8·max|Φ''| = Δz²/8·φ(1); `normal_cdf`, within 1.2e-7 of Φ, by 2.4e-7 more.
    #[inline(always)]
    fn bend(&self, xa: f64, xb: f64) -> f64 {
        let dz = (xb - xa) * self.inv_sd;
        dz * dz * (PHI_AT_1 / 8.0) + 2.4e-7
    }
}

/// The moment-fitted uniform U(a, b) as the reference of a KS distance.
struct UniformFit {
    a: f64,
    b: f64,
}

impl Reference for UniformFit {
    fn at(&self, x: f64) -> f64 {
        ((x - self.a) / (self.b - self.a)).clamp(0.0, 1.0)
    }

    /// Straight on either side of a and b and between them: no bend on a span that holds
    /// neither inside.
    fn bend(&self, xa: f64, xb: f64) -> f64 {
        let (a, b) = (self.a, self.b);
        if xb <= a || xa >= b || (xa >= a && xb <= b) {
            0.0
        } else {
            f64::INFINITY
        }
    }
}

/// φ(1) = e^(−1/2)/√(2π), the largest |Φ''|, rounded up.
const PHI_AT_1: f64 = 0.241_970_725;

fn clamp_conf(x: f64) -> f64 {
    if x.is_nan() {
        0.5
    } else {
        x.clamp(0.5, 1.0)
    }
}

/// Classifies one point. `s` must be `point_stats(h)`.
pub fn classify(h: &Histogram, s: &PointStats) -> ShapeVerdict {
    classify_with(h, s, None)
}

/// [`classify`] with the point's CDF when the caller has built it already (`Cdf::new` of
/// the same buckets); `None` builds it here if it is needed.
pub fn classify_with(h: &Histogram, s: &PointStats, cdf: Option<&Cdf>) -> ShapeVerdict {
    classify_given(h, s, cdf, None, h.bucket_total())
}

/// [`classify_with`] with what [`crate::stats::point_stats_and_density`] gave besides `s`: the
/// density grid `s` was read from (`None` builds it here if it is needed) and the histogram's
/// [`Histogram::bucket_total`].
pub fn classify_given(
    h: &Histogram,
    s: &PointStats,
    cdf: Option<&Cdf>,
    grid: Option<&Density>,
    total: f64,
) -> ShapeVerdict {
    let n = s.count;
    let g1 = s.skewness;
    let g2 = s.excess_kurtosis;
    let bimodality = if n > 3.0 {
        (g1 * g1 + 1.0) / (g2 + 3.0 * (n - 1.0).powi(2) / ((n - 2.0) * (n - 3.0)))
    } else {
        f64::NAN
    };
    let mut v = ShapeVerdict {
        shape: Shape::Empty,
        confidence: 1.0,
        peaks: Vec::new(),
        why: Why::Unset,
        excess_kurtosis: g2,
        skewness: g1,
        ks_uniform: f64::NAN,
        ks_normal: f64::NAN,
        bimodality,
    };
    if n.is_nan() || n <= 0.0 || total.is_nan() || total <= 0.0 {
        v.why = Why::NoValues;
        return v;
    }

    // --- constant -------------------------------------------------------------------------
    // The non-empty buckets, counted in one pass without collecting them.
    let mut filled = h.buckets.iter().filter(|b| b.count != 0.0);
    let first_filled = filled.next();
    let (mut n_filled, mut all_zero_width, mut one_point) = (0usize, true, true);
    if let Some(f) = first_filled {
        n_filled = 1;
        all_zero_width = f.width() == 0.0;
        for b in filled {
            n_filled += 1;
            all_zero_width &= b.width() == 0.0;
            one_point &= b.left == f.left;
        }
    }
    // All in one place: every non-empty bucket has zero width and the same left edge.
    let one_point = all_zero_width && one_point;
    if s.min == s.max || one_point {
        v.shape = Shape::Constant;
        v.peaks = vec![s.min];
        v.why = Why::AllEqual { n, x: s.min };
        return v;
    }
    if n_filled == 1 && h.form == WireForm::Tensor {
        v.shape = Shape::Constant;
        v.confidence = 0.5;
        v.peaks = vec![s.mode];
        v.why = Why::OneBucket {
            n,
            left: first_filled.map_or(f64::NAN, |b| b.left),
            right: first_filled.map_or(f64::NAN, |b| b.right),
        };
        return v;
    }
    // --- unresolved: the data cannot show a shape ----------------------------------------
    let unresolved = if n < UNRESOLVED_BELOW_COUNT {
        Some(None)
    } else if n_filled < 3 {
        Some(Some(n_filled))
    } else {
        None
    };
    if let Some(filled) = unresolved {
        v.shape = Shape::Unresolved;
        v.peaks = vec![s.mode];
        v.why = Why::Unresolved {
            n,
            filled,
            min: s.min,
            max: s.max,
        };
        return v;
    }

    let built;
    let cdf = match cdf {
        Some(c) => Some(c),
        None => {
            built = Cdf::new(&h.buckets);
            built.as_ref()
        }
    };
    if let Some(c) = cdf {
        if s.std > 0.0 && s.mean.is_finite() {
            let (mu, sd) = (s.mean, s.std);
            v.ks_normal = c.ks_against(&NormalFit::new(mu, sd, &NORMAL_TABLE));
            let half = 3f64.sqrt() * sd;
            v.ks_uniform = c.ks_against(&UniformFit {
                a: mu - half,
                b: mu + half,
            });
        }
    }

    // --- spike and slab ---------------------------------------------------------------------
    if let Some((loc, spike)) = spike(h, s, total, grid) {
        let slab = 1.0 - spike;
        if spike >= SPIKE_MIN_MASS && slab >= SLAB_MIN_MASS {
            v.shape = Shape::SpikeAndSlab;
            v.peaks = vec![loc];
            v.confidence = clamp_conf(0.5 + (spike - SPIKE_MIN_MASS) / SPIKE_MIN_MASS);
            v.why = Why::Spike {
                share: spike,
                at: loc,
                min: s.min,
                max: s.max,
            };
            return v;
        }
    }

    // --- saturated --------------------------------------------------------------------------
    if let Some(c) = &cdf {
        let (lo, hi) = (h.buckets[0].left.min(s.min), s.max);
        let lo = if lo.is_finite() { lo } else { s.min };
        let r = hi - lo;
        if r > 0.0 {
            let m_lo = c.at(lo + 0.05 * r);
            let m_hi = 1.0 - c.at(hi - 0.05 * r);
            let m_mid = c.at(lo + 0.75 * r) - c.at(lo + 0.25 * r);
            // Densities relative to the central half: (m/0.05) / (m_mid/0.5).
            let d_lo = m_lo * 10.0 / m_mid.max(1e-300);
            let d_hi = m_hi * 10.0 / m_mid.max(1e-300);
            if m_lo >= SATURATION_MIN_TAIL_MASS
                && m_hi >= SATURATION_MIN_TAIL_MASS
                && d_lo >= SATURATION_DENSITY_RATIO
                && d_hi >= SATURATION_DENSITY_RATIO
            {
                v.shape = Shape::Saturated;
                v.peaks = vec![lo, hi];
                v.confidence = clamp_conf(0.5 + 0.25 * d_lo.min(d_hi) / SATURATION_DENSITY_RATIO);
                v.why = Why::Saturated {
                    low_share: m_lo,
                    high_share: m_hi,
                    lo,
                    hi,
                    density_ratio: d_lo.min(d_hi),
                };
                return v;
            }
        }
    }

    // --- multimodal -------------------------------------------------------------------------
    if s.modes.len() >= 2 {
        v.shape = Shape::Multimodal;
        v.peaks = s.modes.iter().map(|p| p.location).collect();
        let min_mass = s.modes.iter().map(|p| p.mass).fold(1.0, f64::min);
        v.confidence = clamp_conf(0.5 + min_mass * s.modes.len() as f64 / 2.0);
        v.why = Why::Multimodal {
            peaks: v.peaks.clone(),
            smallest_share: min_mass,
        };
        return v;
    }
    v.peaks = vec![s.mode];

    let (ku, kn) = (v.ks_uniform, v.ks_normal);
    let ks_margin = |better: f64, worse: f64| 0.5 + 0.5 * (worse - better) / (worse + better);
    // --- uniform ----------------------------------------------------------------------------
    if g2 < UNIFORM_MAX_KURTOSIS && ku < kn {
        v.shape = Shape::Uniform;
        v.confidence = clamp_conf(ks_margin(ku, kn));
        v.why = Why::Uniform {
            min: s.min,
            max: s.max,
            kurtosis: g2,
            ks_uniform: ku,
            ks_normal: kn,
        };
        return v;
    }
    let skew_thr = (3.0 * (6.0 / n).sqrt()).max(0.5);
    let kurt_thr = (3.0 * (24.0 / n).sqrt()).max(1.0);
    if g1.abs() > skew_thr {
        v.shape = Shape::Skewed;
        v.confidence = clamp_conf(0.5 + 0.5 * (g1.abs() - skew_thr) / skew_thr);
        v.why = Why::Skewed {
            mode: s.mode,
            skewness: g1,
            threshold: skew_thr,
        };
        return v;
    }
    if g2 > kurt_thr {
        v.shape = Shape::HeavyTailed;
        v.confidence = clamp_conf(0.5 + 0.5 * (g2 - kurt_thr) / kurt_thr);
        v.why = Why::HeavyTailed {
            mode: s.mode,
            kurtosis: g2,
            threshold: kurt_thr,
        };
        return v;
    }
    v.shape = Shape::Gaussian;
    v.confidence = if kn.is_finite() && ku.is_finite() {
        clamp_conf(ks_margin(kn, ku))
    } else {
        0.5
    };
    v.why = Why::Gaussian {
        mean: s.mean,
        std: s.std,
        skewness: g1,
        kurtosis: g2,
        ks_normal: kn,
        ks_uniform: ku,
    };
    v
}

/// The numbers behind a [`ShapeVerdict`], one variant per way a shape is decided, written
/// out as one sentence by `Display`. Two are equal when they read the same.
#[derive(Debug, Clone)]
pub enum Why {
    /// Not classified (a verdict built elsewhere, or not yet decided).
    Unset,
    NoValues,
    AllEqual {
        n: f64,
        x: f64,
    },
    OneBucket {
        n: f64,
        left: f64,
        right: f64,
    },
    /// Too few values (`filled` None) or all of them in `filled` < 3 buckets.
    Unresolved {
        n: f64,
        filled: Option<usize>,
        min: f64,
        max: f64,
    },
    Spike {
        share: f64,
        at: f64,
        min: f64,
        max: f64,
    },
    Saturated {
        low_share: f64,
        high_share: f64,
        lo: f64,
        hi: f64,
        density_ratio: f64,
    },
    Multimodal {
        peaks: Vec<f64>,
        smallest_share: f64,
    },
    Uniform {
        min: f64,
        max: f64,
        kurtosis: f64,
        ks_uniform: f64,
        ks_normal: f64,
    },
    Skewed {
        mode: f64,
        skewness: f64,
        threshold: f64,
    },
    HeavyTailed {
        mode: f64,
        kurtosis: f64,
        threshold: f64,
    },
    Gaussian {
        mean: f64,
        std: f64,
        skewness: f64,
        kurtosis: f64,
        ks_normal: f64,
        ks_uniform: f64,
    },
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Unset => Ok(()),
            Why::NoValues => write!(f, "no values"),
            Why::AllEqual { n, x } => write!(f, "all {} values equal {}", fmt_n(*n), fmt_x(*x)),
            Why::OneBucket { n, left, right } => write!(
                f,
                "all {} values in one bucket [{}, {}]",
                fmt_n(*n),
                fmt_x(*left),
                fmt_x(*right)
            ),
            Why::Unresolved {
                n,
                filled,
                min,
                max,
            } => {
                match filled {
                    None => write!(
                        f,
                        "only {} values (a bias or a small layer): too few",
                        fmt_n(*n)
                    )?,
                    Some(k) => write!(f, "all {} values in {k} buckets: too coarse", fmt_n(*n))?,
                }
                write!(
                    f,
                    " to tell a shape; range [{}, {}]",
                    fmt_x(*min),
                    fmt_x(*max)
                )
            }
            Why::Spike {
                share,
                at,
                min,
                max,
            } => write!(
                f,
                "{}% of values in a spike at {}, the rest spread over [{}, {}]",
                Fixed(100.0 * share, 0),
                fmt_x(*at),
                fmt_x(*min),
                fmt_x(*max)
            ),
            Why::Saturated {
                low_share,
                high_share,
                lo,
                hi,
                density_ratio,
            } => write!(
                f,
                "{}% and {}% of values piled in the outer 5% at each end of [{}, {}], \
                 {}× the central density",
                Fixed(100.0 * low_share, 0),
                Fixed(100.0 * high_share, 0),
                fmt_x(*lo),
                fmt_x(*hi),
                Fixed(*density_ratio, 1)
            ),
            Why::Multimodal {
                peaks,
                smallest_share,
            } => {
                let locs: Vec<String> = peaks.iter().map(|&x| fmt_x(x).to_string()).collect();
                write!(
                    f,
                    "{} separate peaks at {} (smallest holds {}% of values)",
                    peaks.len(),
                    locs.join(", "),
                    Fixed(100.0 * smallest_share, 0)
                )
            }
            Why::Uniform {
                min,
                max,
                kurtosis,
                ks_uniform,
                ks_normal,
            } => write!(
                f,
                "flat over [{}, {}]: kurtosis {} (uniform −1.2), KS to uniform {} vs normal {}",
                fmt_x(*min),
                fmt_x(*max),
                Fixed(*kurtosis, 2),
                Fixed(*ks_uniform, 3),
                Fixed(*ks_normal, 3),
            ),
            Why::Skewed {
                mode,
                skewness,
                threshold,
            } => write!(
                f,
                "one peak at {}, skewness {} (threshold {}), {} tail longer",
                fmt_x(*mode),
                Fixed(*skewness, 2),
                Fixed(*threshold, 2),
                if *skewness > 0.0 { "right" } else { "left" }
            ),
            Why::HeavyTailed {
                mode,
                kurtosis,
                threshold,
            } => write!(
                f,
                "one sharp peak at {} with long tails: excess kurtosis {} (normal 0, \
                 threshold {})",
                fmt_x(*mode),
                Fixed(*kurtosis, 2),
                Fixed(*threshold, 2),
            ),
            Why::Gaussian {
                mean,
                std,
                skewness,
                kurtosis,
                ks_normal,
                ks_uniform,
            } => write!(
                f,
                "bell around {} (σ {}): skewness {}, kurtosis {}, KS to normal {} vs uniform {}",
                fmt_x(*mean),
                fmt_x(*std),
                Fixed(*skewness, 2),
                Fixed(*kurtosis, 2),
                Fixed(*ks_normal, 3),
                Fixed(*ks_uniform, 3),
            ),
        }
    }
}

impl PartialEq for Why {
    fn eq(&self, other: &Why) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Serialize for Why {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The largest spike: `(location, mass fraction)`.
fn spike(h: &Histogram, s: &PointStats, total: f64, grid: Option<&Density>) -> Option<(f64, f64)> {
    let mut best: Option<(f64, f64)> = None;
    let mut consider = |loc: f64, m: f64| {
        if best.is_none_or(|(_, bm)| m > bm) {
            best = Some((loc, m));
        }
    };
    if s.zero_fraction > 0.0 {
        consider(0.0, s.zero_fraction);
    }
    // Zero-width buckets anywhere.
    for b in &h.buckets {
        if b.width() == 0.0 && b.count > 0.0 {
            consider(b.left, b.count / total);
        }
    }
    // Edge spikes in equal-width bins, among the buckets of positive width and finite count.
    if h.equal_width().is_some() {
        let filled = || {
            h.buckets
                .iter()
                .filter(|b| b.width() > 0.0 && b.count.is_finite())
        };
        let k = filled().count();
        if k >= 3 {
            let first = filled().position(|b| b.count > 0.0);
            let last = filled()
                .rev()
                .position(|b| b.count > 0.0)
                .map(|i| k - 1 - i);
            if let (Some(f), Some(l)) = (first, last) {
                if f + 1 < l {
                    // Counts as counts: the excess must also clear EDGE_SPIKE_Z Poisson standard deviations.
                    let scale = s.count / total;
                    let significant = |e: f64, nb: f64| {
                        e >= EDGE_SPIKE_RATIO * nb
                            && (e - nb) * scale >= EDGE_SPIKE_Z * ((e + nb) * scale).sqrt()
                    };
                    let mut low = filled().skip(f);
                    if let (Some(edge), Some(next)) = (low.next(), low.next()) {
                        let (e, nb) = (edge.count, next.count.max(0.0));
                        if significant(e, nb) {
                            consider(edge.left, (e - nb) / total);
                        }
                    }
                    let mut high = filled().skip(l - 1);
                    if let (Some(before), Some(edge)) = (high.next(), high.next()) {
                        let (e, nb) = (edge.count, before.count.max(0.0));
                        if significant(e, nb) {
                            consider(edge.right, (e - nb) / total);
                        }
                    }
                }
            }
        }
    }
    // A spike at one end only: a spike at both ends is saturation, not a spike and slab.
    let (loc, m) = best?;
    // The grid of `point_stats` is `density(h, s.count)` for a finite count (`classify`
    // returns before this for a NaN or non-positive one).
    let built;
    let grid = match grid.filter(|_| s.count.is_finite()) {
        Some(d) => Some(d),
        None => {
            built = density(h, s.count);
            built.as_ref()
        }
    };
    if let Some(d) = grid {
        let far_end = if (loc - d.lo).abs() <= (d.hi - loc).abs() {
            d.mass_between(d.hi - 0.05 * (d.hi - d.lo), d.hi)
        } else {
            d.mass_between(d.lo, d.lo + 0.05 * (d.hi - d.lo))
        };
        if far_end >= SPIKE_MIN_MASS {
            return None;
        }
    }
    Some((loc, m))
}

/// `x` with `p` digits after the point, as `format!("{:.p$}", x)` writes it: the exact binary
/// value rounded half to even, a minus sign on every negative value (zero too). Worked out
/// in integers where that is exact ([`rounded`]), since the standard library's exact mode falls
/// back to big-number arithmetic for about half of the values a shape's reason prints, and
/// `--steps` prints one reason per point.
struct Fixed(f64, usize);

/// `|x|·10^p` rounded half to even, and whether `x` is negative, for every finite `x` below
/// 2⁵³ in magnitude and `p ≤ 9` (`None` otherwise).
fn rounded(x: f64, p: usize) -> Option<(bool, u128)> {
    if !x.is_finite() || p > 9 || x.abs() >= 9.0e15 {
        return None;
    }
    // x = ±m·2^e exactly (subnormals included).
    let bits = x.to_bits();
    let (biased, fraction) = ((bits >> 52) & 0x7ff, bits & ((1 << 52) - 1));
    let (m, e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased as i64 - 1075)
    };
    // |x|·10^p = m·10^p·2^e. |x| < 2⁵³ makes e ≤ 0, and m·10^p < 2⁵³·10⁹ < 2⁸³: for a shift
    // of 84 or more the value is below one half.
    let scaled = u128::from(m) * 10u128.pow(p as u32);
    let shift = e.unsigned_abs();
    let q = if shift == 0 {
        scaled
    } else if shift >= 84 {
        0
    } else {
        let q = scaled >> shift;
        let rest = scaled - (q << shift);
        let half = 1u128 << (shift - 1);
        q + u128::from(rest > half || (rest == half && q & 1 == 1))
    };
    Some((bits >> 63 == 1, q))
}

/// Writes `q·10^-p` with `p` digits after the point, after a minus sign when `negative`.
/// The text is put together in a stack buffer and written in one piece: through the
/// formatting machinery it cost ~800 instructions a number, and `--steps` writes five per
/// point. Digits are taken 64 bits at a time where `q` fits them (every value a reason
/// prints); 128-bit division is slow.
fn write_decimal(
    f: &mut std::fmt::Formatter<'_>,
    negative: bool,
    q: u128,
    p: usize,
) -> std::fmt::Result {
    // `rounded` keeps q below 2⁸³ < 10²⁵ and p ≤ 9: 25 digits, a point and a sign fit.
    let mut buf = [0u8; 40];
    let mut at = buf.len();
    let mut rest = q;
    let mut written = 0;
    while rest != 0 || written <= p {
        let digit = match u64::try_from(rest) {
            Ok(r) => {
                rest = u128::from(r / 10);
                r % 10
            }
            Err(_) => {
                let d = (rest % 10) as u64;
                rest /= 10;
                d
            }
        };
        if written == p && p > 0 {
            at -= 1;
            buf[at] = b'.';
        }
        at -= 1;
        buf[at] = b'0' + digit as u8;
        written += 1;
    }
    if negative {
        at -= 1;
        buf[at] = b'-';
    }
    // Only ASCII digits, '.' and '-' were written.
    f.write_str(std::str::from_utf8(&buf[at..]).unwrap_or_default())
}

impl std::fmt::Display for Fixed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Fixed(x, p) = *self;
        match rounded(x, p) {
            Some((negative, q)) => write_decimal(f, negative, q, p),
            None => write!(f, "{x:.p$}"),
        }
    }
}

fn fmt_n(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A location or scale in a reason: four decimals without trailing zeros in `[1e-3, 1e4)`,
/// else four significant digits in scientific notation; written without building a string.
fn fmt_x(x: f64) -> Short {
    Short(x)
}

struct Short(f64);

impl std::fmt::Display for Short {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        if x == 0.0 {
            return f.write_str("0");
        }
        if !(x.abs() >= 1e-3 && x.abs() < 1e4) {
            return write!(f, "{x:.3e}");
        }
        // `format!("{:.4}", x)` less its trailing zeros (and a point left bare).
        let Some((negative, mut q)) = rounded(x, 4) else {
            return write!(f, "{x:.4}");
        };
        let mut p = 4;
        while p > 0 && q % 10 == 0 {
            q /= 10;
            p -= 1;
        }
        write_decimal(f, negative, q, p)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_short_number_is_four_decimals_trimmed_or_four_significant_digits() {
        // What `fmt_x` wrote when it built strings: `{:.4}` less trailing zeros and a bare
        // point in [1e-3, 1e4), `{:.3e}` outside, "0" for zero.
        let old = |x: f64| {
            if x == 0.0 {
                "0".to_string()
            } else if x.abs() >= 1e-3 && x.abs() < 1e4 {
                format!("{x:.4}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string()
            } else {
                format!("{x:.3e}")
            }
        };
        let mut u: u64 = 0x2545_f491_4f6c_dd1d;
        let mut xs = vec![
            0.0,
            -0.0,
            1e-3,
            -1e-3,
            1e4,
            9999.99995,
            10.0,
            100.5,
            0.00125,
            f64::NAN,
        ];
        for _ in 0..20_000 {
            u ^= u << 13;
            u ^= u >> 7;
            u ^= u << 17;
            let x = (u >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((u % 13) as i32 - 5);
            xs.push(if u & 1 == 1 { -x } else { x });
            xs.push((u % 100_000) as f64 / 10_000.0);
        }
        for x in xs {
            assert_eq!(fmt_x(x).to_string(), old(x), "{x:e}");
        }
    }

    #[test]
    fn fixed_writes_what_the_standard_formatting_writes() {
        // Ties of every kind (exact halves at each precision), both signs, zeros, subnormals,
        // the edge of the integer path, and a spread of magnitudes.
        let mut xs = vec![
            0.0,
            -0.0,
            0.5,
            1.5,
            2.5,
            0.125,
            0.375,
            0.0625,
            -0.0625,
            1e-320,
            -1e-320,
            f64::MIN_POSITIVE,
            8.999_999_999_999_99e15,
            9.0e15,
            // Around 2⁶⁴ after scaling (the end of the 64-bit path) at 9 and 4 digits.
            18_446_744_073.709_55,
            18_446_744_073.709_553,
            -18_446_744_073.709_56,
            1_844_674_407_370_955.0,
            1_844_674_407_370_956.0,
            1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let mut u: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            u ^= u << 13;
            u ^= u >> 7;
            u ^= u << 17;
            let mantissa = (u >> 11) as f64 / (1u64 << 53) as f64;
            let exp = (u % 41) as i32 - 20;
            let x = mantissa * 10f64.powi(exp);
            xs.push(if u & 1 == 1 { -x } else { x });
            // A tie at some precision: k/2^j.
            xs.push((u % 1000) as f64 / f64::from(1 << (u % 9)));
        }
        for x in xs {
            for p in 0..=10 {
                assert_eq!(
                    Fixed(x, p).to_string(),
                    format!("{x:.p$}"),
                    "{x:e} with {p} digits"
                );
            }
        }
    }
    use super::*;
    use crate::histogram::{tensor_rows as rows, ExactMoments};
    use crate::stats::point_stats;

    fn tensor_from_density(lo: f64, hi: f64, k: usize, f: impl Fn(f64) -> f64) -> Histogram {
        let w = (hi - lo) / k as f64;
        let mut flat = Vec::new();
        for i in 0..k {
            let l = lo + w * i as f64;
            flat.extend([l, l + w, (f(l + w / 2.0) * 1e5).round()]);
        }
        Histogram::from_tensor_rows(&flat).unwrap()
    }

    fn shape_of(h: &Histogram) -> ShapeVerdict {
        classify(h, &point_stats(h))
    }

    #[test]
    fn labels_are_snake_case() {
        assert_eq!(Shape::HeavyTailed.as_str(), "heavy_tailed");
        assert_eq!(Shape::SpikeAndSlab.as_str(), "spike_and_slab");
        assert_eq!(
            serde_json::to_string(&Shape::SpikeAndSlab).unwrap(),
            "\"spike_and_slab\""
        );
    }

    #[test]
    fn flat_plateau_is_uniform() {
        let v = shape_of(&tensor_from_density(-0.15, 0.15, 30, |_| 1.0));
        assert_eq!(v.shape, Shape::Uniform, "{}", v.why);
        assert!(v.excess_kurtosis < -1.1);
    }

    #[test]
    fn bell_is_gaussian() {
        let v = shape_of(&tensor_from_density(-4.0, 4.0, 30, |x| {
            (-x * x / 2.0).exp()
        }));
        assert_eq!(v.shape, Shape::Gaussian, "{}", v.why);
        assert!(v.ks_normal < v.ks_uniform);
    }

    #[test]
    fn three_bumps_are_multimodal_with_locations() {
        let f = |x: f64| {
            let g = |m: f64| (-(x - m) * (x - m) / (2.0 * 0.03f64.powi(2))).exp();
            g(-0.1) + g(0.05) + g(0.25)
        };
        let v = shape_of(&tensor_from_density(-0.25, 0.4, 30, f));
        assert_eq!(v.shape, Shape::Multimodal, "{}", v.why);
        assert_eq!(v.peaks.len(), 3);
        for (p, want) in v.peaks.iter().zip([-0.1, 0.05, 0.25]) {
            assert!((p - want).abs() < 0.02, "{p} vs {want}");
        }
    }

    #[test]
    fn single_value_is_constant() {
        let mut flat = Vec::new();
        for i in 0..30 {
            flat.extend([0.5, 0.5, if i == 29 { 100.0 } else { 0.0 }]);
        }
        let v = shape_of(&Histogram::from_tensor_rows(&flat).unwrap());
        assert_eq!(v.shape, Shape::Constant);
        let e = ExactMoments {
            min: 0.0,
            max: 0.0,
            num: 10.0,
            sum: 0.0,
            sum_squares: 0.0,
        };
        let h = Histogram::from_legacy(e, &[0.0, 1e-12, f64::MAX], &[0.0, 10.0, 0.0]).unwrap();
        assert_eq!(shape_of(&h).shape, Shape::Constant);
    }

    #[test]
    fn empty_is_empty() {
        let h = Histogram::from_tensor_rows(&[0.0; 90]).unwrap();
        assert_eq!(shape_of(&h).shape, Shape::Empty);
    }

    #[test]
    fn relu_in_tf2_bins_is_spike_and_slab() {
        // Half the values are exactly 0 and share bin 0 with the smallest positives.
        let mut h = tensor_from_density(0.0, 3.0, 30, |x| (-x * x / 2.0).exp() * 0.4);
        h.buckets[0].count += 1e5 * 0.5 * 0.4 * 30.0 / 3.0 * 2.5;
        let v = shape_of(&h);
        assert_eq!(v.shape, Shape::SpikeAndSlab, "{}", v.why);
        assert_eq!(v.peaks, vec![0.0]);
    }

    #[test]
    fn tanh_of_wide_normal_is_saturated() {
        // Density of tanh(3z): φ(atanh(y)/3) / (3(1−y²)).
        let f = |y: f64| {
            let z = y.atanh() / 3.0;
            (-z * z / 2.0).exp() / (3.0 * (1.0 - y * y))
        };
        let v = shape_of(&tensor_from_density(-0.999, 0.999, 30, f));
        assert_eq!(v.shape, Shape::Saturated, "{}", v.why);
    }

    #[test]
    fn laplace_is_heavy_tailed_and_exponential_is_skewed() {
        let v = shape_of(&tensor_from_density(-10.0, 10.0, 60, |x| (-x.abs()).exp()));
        assert_eq!(v.shape, Shape::HeavyTailed, "{}", v.why);
        let v = shape_of(&tensor_from_density(0.0, 10.0, 30, |x| (-x).exp()));
        assert_eq!(v.shape, Shape::Skewed, "{}", v.why);
    }

    #[test]
    fn normal_cdf_is_accurate() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.0) - 0.841_344_746).abs() < 2e-7);
        assert!((normal_cdf(-1.5) - 0.066_807_201).abs() < 2e-7);
    }

    #[test]
    fn ks_distances_to_the_fits_are_the_definitions_to_the_bit() {
        // Samples of several shapes, in torch's exponential bins (with gaps) and in equal
        // bins, fine and coarse: the normal's table and bend, and the uniform's straight
        // pieces, only decide where G is evaluated.
        let mut state = 99u64;
        let mut uni = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let mut compared = 0;
        for case in 0..240 {
            let n = 100 + 37 * case;
            let values: Vec<f64> = (0..n)
                .map(|_| {
                    let z = (-2.0 * uni().ln()).sqrt() * (std::f64::consts::TAU * uni()).cos();
                    match case % 4 {
                        0 => z,
                        1 => 2.0 * uni() - 1.0,
                        2 => z + if uni() < 0.4 { 4.0 } else { 0.0 },
                        _ => z.exp(),
                    }
                })
                .collect();
            let mut counts = std::collections::BTreeMap::<i64, f64>::new();
            let equal = [0.5, 0.1, 0.02][case % 3];
            for &v in &values {
                let key = if case % 2 == 0 {
                    (v.signum() * (v.abs() / 1e-3).max(1.0).ln() / 1.1f64.ln()).round() as i64
                } else {
                    (v / equal).floor() as i64
                };
                *counts.entry(key).or_default() += 1.0;
            }
            let edge = |k: i64| {
                if case % 2 == 0 {
                    k.signum() as f64 * 1e-3 * 1.1f64.powi(k.abs() as i32)
                } else {
                    k as f64 * equal
                }
            };
            let mut kept: Vec<(f64, f64, f64)> = counts
                .iter()
                .map(|(&k, &c)| (edge(k).min(edge(k + 1)), edge(k).max(edge(k + 1)), c))
                .collect();
            kept.sort_by(|a, b| a.0.total_cmp(&b.0));
            kept.dedup_by(|b, a| b.0 < a.1);
            let h = rows(&kept);
            let s = point_stats(&h);
            let Some(c) = Cdf::new(&h.buckets) else {
                continue;
            };
            let v = classify_with(&h, &s, Some(&c));
            if v.ks_normal.is_nan() {
                continue;
            }
            let (mu, sd) = (s.mean, s.std);
            let normal = |x: f64| normal_cdf((x - mu) / sd);
            let (a, b) = (mu - 3f64.sqrt() * sd, mu + 3f64.sqrt() * sd);
            let uniform = |x: f64| ((x - a) / (b - a)).clamp(0.0, 1.0);
            assert_eq!(
                v.ks_normal.to_bits(),
                crate::stats::ks_by_definition(&c, &normal).to_bits(),
                "case {case}"
            );
            assert_eq!(
                v.ks_uniform.to_bits(),
                crate::stats::ks_by_definition(&c, &uniform).to_bits(),
                "case {case}"
            );
            compared += 1;
        }
        assert!(compared > 200, "{compared}");
    }

    #[test]
    fn the_tabulated_normal_cdf_is_within_its_bound_everywhere() {
        // Densely over [-11, 11] and beyond. Between two checked points 1e-5 apart both
        // functions move by at most 0.4e-5 (Φ's slope is at most φ(0) < 0.4), so a gap below
        // eps − 0.4e-5 at every checked point bounds the gap everywhere by eps.
        let table = &NORMAL_TABLE[..];
        let standard = NormalFit::new(0.0, 1.0, table);
        let mut worst: f64 = 0.0;
        for i in -1_100_000..=1_100_000 {
            let z = i as f64 * 1e-5;
            worst = worst.max((normal_cdf(z) - standard.estimate(z)).abs());
        }
        assert!(worst < NORMAL_ESTIMATE_EPS - 0.4e-5, "{worst}");
        for z in [-1e300, -40.0, 40.0, 1e300, f64::NEG_INFINITY, f64::INFINITY] {
            assert!((normal_cdf(z) - standard.estimate(z)).abs() < 1e-15, "{z}");
        }
        assert!(standard.estimate(f64::NAN).is_nan());
        // Wherever the fit sits (its estimate scales by a reciprocal where `at` divides).
        for (mu, sd) in [
            (0.0, 1.0),
            (3.7, 0.013),
            (-1e3, 250.0),
            (1e6, 1e-3),
            (0.0, 1e-9),
        ] {
            let fit = NormalFit::new(mu, sd, table);
            for i in -11_000..=11_000 {
                let x = mu + sd * (i as f64 * 1e-3 + 1e-4);
                let gap = (fit.at(x) - fit.estimate(x)).abs();
                assert!(gap < NORMAL_ESTIMATE_EPS - 0.4e-5, "{mu} {sd} {x}: {gap}");
            }
        }
    }
}

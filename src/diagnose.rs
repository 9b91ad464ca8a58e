//! Flags across a tag's series: what a practitioner would want to be told. No I/O, no
//! formatting. Every threshold lives in [`Thresholds`], documented here and in the README, and
//! can be overridden (`--threshold NAME=VALUE`, `[thresholds]`).
//!
//! A flag applies only where its evidence can be, by the tag's [`Role`] read from its name:
//! parameters can be frozen, activations dead or saturated, weights and gradients explode.
//! The rules, with their reasons (sources in `docs/format.md`):
//!
//! | flag | rule (defaults) | why |
//! |---|---|---|
//! | `frozen` | parameters: ≥ 2 points, every consecutive pair bitwise identical | deterministic bucketing: identical weights give identical buckets and exact fields ("Equality and change") |
//! | `near_frozen` | parameters: every consecutive change and first→last (W1/σ, KS, Δmean/σ, Δσ/σ) ≤ `frozen` (1e-6); a constant by its own size | W1 between two histograms of one tensor is at most the mean displacement of its elements, itself at most their rms displacement: so a tag whose typical (rms) weight moved by less than 1e-6 σ is always caught (a learning rate of 1e-9 does this), and one that is not flagged really moved. What histograms cannot see is weights trading places inside an unchanged distribution — then a moving layer can look near-frozen. A real drift of 1e-3 σ per step is a thousand times above the threshold |
//! | `nonfinite` | NaN or ±Inf in any edge, count or exact field of any point | torch and TF2's `tf.summary.histogram` write them from diverged weights |
//! | `exploding` | weights, gradients: last σ ≥ `exploding` (100) × first σ; or weight gradients of ≥ 4 layers whose early σ ≥ 1/`vanishing` (1000) × the last layer's ([`exploding_by_depth`]) | two orders of magnitude of growth is divergence, not learning; gradients growing a thousandfold on their way back are the depth symptom AUTOTRAINER checks |
//! | `collapsed` | weights, gradients: last σ ≤ `collapsed` (0.01) × first σ | symmetric with `exploding`: huge weight decay shrinks weights 100–1000× |
//! | `vanishing` | weight gradients of ≥ 4 layers in logging order: the first layers whose σ ≤ `vanishing` (1e-3) × the last layer's | the depth profile of gradient scale that AUTOTRAINER and DeepDiagnosis check with live hooks, read from the logged gradients |
//! | `saturated` | activations with ≥ 100 values, not the output layer: share within 10 % of a tanh/sigmoid bound ≥ `saturated` (0.5), either end or both | tanh/sigmoid gradients vanish at the bounds; 10 % because the buckets rarely resolve 1 % of the range |
//! | `possibly_dead` | activations whose zeros share the first of equal-width buckets from 0 (TF2's 30 bins, numpy `'auto'`): that bucket holds ≥ `dead` (0.7) | the buckets bound the zeros from above only: values just above 0 fall in the same bucket, and in an exploding layer they do (a run with 60 % zeros had 90 % in its first bucket) — so the bound is said, not a count |
//! | `dead` | activations: share of exact zeros ≥ `dead` (0.7) at the last point, where the writer keeps zeros apart (level, not growth); gradients: ≥ 0.9 | a ReLU dead from initialisation never grows its zero share. A histogram pools units and samples, so it cannot show which units are dead (SageMaker's rule: > 50 % of units active < 1 % of the time); but a live unit of a healthy layer is off about half the time, so a pooled zero share z means about 2z − 1 of the units dead: 0.7 is ~40 % dead, the share CS231n warns of. A healthy ReLU layer sits at 0.3–0.55 |
//! | `small_updates` | parameters of a run that logs a learning rate: the bound on the update/weight ratio lr_max · (100 · rms(g)_max + 10 + rms(w)_min) / rms(w)_min ≤ `small_updates` (1e-5); with lr_max = 0 the bound is 0 and no gradient is needed ([`update_bound`]) | CS231n's update/weight ratio is about 1e-3 in healthy training, but histograms cannot show the update itself (only its effect on the marginal, at second order). A logged learning rate bounds it for every common optimizer: SGD with momentum ≤ 0.99 steps at most 100 · lr · \|g\|, Adam ≤ 3.2 · lr per element and RMSprop ≤ 10 · lr, decoupled weight decay ≤ lr · \|w\|. Taking the largest logged lr and gradient, a schedule that ends at 0 or a warm-up is not mistaken for a too small learning rate |
//! | `still_at_init` | parameters `frozen` or `near_frozen` whose shape is an init family (uniform, normal, zeros) or unresolved (< 64 values); where the layer logs weight and bias, the values must match an [`InitFamily`] for its fans ([`init_family`]) | the user-story reading: "layer 1 is still its uniform init" — a frozen pretrained layer is not |
//!
//! The rules were calibrated on `testdata/corpus/` (real training runs with ground truth from
//! the logged arrays; `tests/corpus.rs`).

use crate::point::{change_size, PointSummary};
use crate::shape::Shape;
use crate::stats::Change;
use regex::Regex;
use std::sync::OnceLock;

crate::named_enum! {
    /// A flag on a tag.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Flag {
        /// The parameters never change: bit-identical at every logged step.
        Frozen = "frozen",
        /// The parameters change by less than a millionth of their spread: a learning rate
        /// far too small, or updates that vanish.
        NearFrozen = "near_frozen",
        /// NaN or ±Inf somewhere in the histogram: training diverged.
        Nonfinite = "nonfinite",
        /// Weights or gradients grew by orders of magnitude: divergence, not learning.
        Exploding = "exploding",
        /// Weights or gradients shrank by orders of magnitude.
        Collapsed = "collapsed",
        /// The first layers' gradients are orders of magnitude below the last layers'.
        Vanishing = "vanishing",
        /// Activations piled at the bounds of tanh or sigmoid, where gradients vanish.
        Saturated = "saturated",
        /// Most activations are exactly zero (dying ReLUs), or most gradients are.
        Dead = "dead",
        /// Most activations lie in the first of equal-width buckets starting at 0, which holds
        /// the exact zeros with the smallest positive values: dead ReLUs, or values piled just
        /// above 0; the buckets cannot tell which.
        PossiblyDead = "possibly_dead",
        /// The logged learning rate bounds the updates below a hundred-thousandth of the
        /// weights' scale, whatever the optimizer: far too small to learn.
        SmallUpdates = "small_updates",
        /// Frozen parameters that still look like their initialisation.
        StillAtInit = "still_at_init",
    }
}

crate::named_enum! {
    /// What a tag holds, read from its name (`fc1.weight`, `fc1.weight/grad`,
    /// `fc1/activations`, `dense/kernel/histogram`). Each flag applies only where its evidence
    /// can be: `dead` and `saturated` to activations, `frozen` to parameters, `exploding` to
    /// weights and gradients.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Role {
        /// A weight matrix or kernel.
        Weight = "weight",
        /// A bias vector.
        Bias = "bias",
        /// The gradient of a parameter (`/grad`, `.grad`, `gradients/`, `_grad`).
        Gradient = "gradient",
        /// A layer's outputs (`activations`, `/output`).
        Activation = "activation",
        /// Anything else: the flags apply as they did before roles were known.
        Other = "other",
    }
}

/// The role of a tag, from its name.
pub fn role_of(tag: &str) -> Role {
    static BIAS: OnceLock<Regex> = OnceLock::new();
    let t = tag.to_ascii_lowercase();
    if t.contains("grad") {
        Role::Gradient
    } else if t.contains("activation") || t.ends_with("/output") || t.ends_with("/outputs") {
        Role::Activation
    } else if BIAS
        .get_or_init(|| Regex::new(r"(bias|(^|/)b\d*(/|$))").expect("valid regex"))
        .is_match(&t)
    {
        Role::Bias
    } else if is_weight_like(&t) {
        Role::Weight
    } else {
        Role::Other
    }
}

/// The role of a tag from its name, or from its values where the name says nothing: a tag
/// of role `other` whose last point has its minimum at exactly 0 and a spike there (≥ 5 % of
/// its values exactly 0, or a spike-and-slab shape) is a ReLU's output, an activation. True in
/// the second place when the data decided. Weights and gradients are signed; a ReLU's output is
/// never below 0 and exactly 0 wherever the unit is off.
pub fn infer_role(tag: &str, last: &PointSummary) -> (Role, bool) {
    let role = role_of(tag);
    let relu_like = last.stats.count > 0.0
        && last.stats.min == 0.0
        && last.stats.max > 0.0
        && (last.zeros.share >= 0.05 || last.shape.shape == Shape::SpikeAndSlab);
    if role == Role::Other && relu_like {
        (Role::Activation, true)
    } else {
        (role, false)
    }
}

/// The layer a tag belongs to: its name without the writer's suffixes for the value's kind
/// (`/histogram`, the gradient markers `/grad` `.grad` `_grad`, and the parameter or output leaf:
/// `.weight`, `/kernel`, `/bias`, `/weights`, `/activations`, …). So `fc1.weight`,
/// `fc1.bias/grad` and `fc1/activations` are layer `fc1`; `dense_1/kernel/histogram` is
/// `dense_1`; `encoder.layers.0.linear1.weight` is `encoder.layers.0.linear1`. A name with no
/// such suffix is its own layer.
pub fn layer_of(tag: &str) -> &str {
    const KINDS: [&str; 6] = [
        "/histogram",
        "/histograms",
        "/grad",
        ".grad",
        "_grad",
        "/gradient",
    ];
    const LEAVES: [&str; 14] = [
        ".weight",
        ".bias",
        "/kernel",
        "/bias",
        "/weights",
        "/biases",
        "/weight",
        "/W",
        "/b",
        "/activations",
        "/activation",
        "/output",
        "/outputs",
        "_activations",
    ];
    let mut t = tag;
    for suffixes in [&KINDS[..], &KINDS[..], &LEAVES[..]] {
        if let Some(s) = suffixes
            .iter()
            .find(|s| t.len() > s.len() && t.ends_with(*s))
        {
            t = &t[..t.len() - s.len()];
        }
    }
    if t.len() == tag.len() {
        // No known suffix: the last path component is the value (`layer1/preactivation`).
        if let Some(i) = t.rfind('/').filter(|&i| i > 0) {
            t = &t[..i];
        }
    }
    // A leading `gradients/` (TF1's tape) names no layer.
    t.strip_prefix("gradients/")
        .filter(|r| !r.is_empty())
        .unwrap_or(t)
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
    /// The flag's severity: errors mean training is broken (and fail `check` by default),
    /// warnings are likely problems, `still_at_init` only explains a `frozen` or
    /// `near_frozen` layer.
    pub fn severity(self) -> Severity {
        match self {
            Flag::Frozen | Flag::Nonfinite | Flag::Exploding | Flag::Vanishing => Severity::Error,
            Flag::NearFrozen
            | Flag::Dead
            | Flag::PossiblyDead
            | Flag::Collapsed
            | Flag::Saturated
            | Flag::SmallUpdates => Severity::Warning,
            Flag::StillAtInit => Severity::Info,
        }
    }

    /// True for flags judged on a tag's series (change or growth over its points) rather
    /// than on its last point: a watcher waits for enough points before it believes them.
    pub fn needs_series(self) -> bool {
        matches!(
            self,
            Flag::Frozen
                | Flag::NearFrozen
                | Flag::StillAtInit
                | Flag::Exploding
                | Flag::Collapsed
                | Flag::SmallUpdates
        )
    }
}

/// Thresholds of the flags; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// `near_frozen`: largest change (W1/σ, KS, Δmean/σ, Δσ/σ) that still counts as none.
    pub frozen: f64,
    /// `exploding`: last σ / first σ at or above this.
    pub exploding: f64,
    /// `collapsed`: last σ / first σ at or below this.
    pub collapsed: f64,
    /// `vanishing`: first layer's gradient σ / last layer's at or below this.
    pub vanishing: f64,
    /// `dead`: share of exact zeros in activations at the last point at or above this.
    pub dead: f64,
    /// `saturated`: share of activations within 1 % of a squashing bound at or above this.
    pub saturated: f64,
    /// `small_updates`: bound on the update/weight ratio at or below this.
    pub small_updates: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            frozen: 1e-6,
            exploding: 100.0,
            collapsed: 1e-2,
            vanishing: 1e-3,
            dead: 0.7,
            saturated: 0.5,
            small_updates: 1e-5,
        }
    }
}

impl Thresholds {
    /// Names accepted by [`Thresholds::set`].
    pub const NAMES: [&'static str; 7] = [
        "frozen",
        "exploding",
        "collapsed",
        "vanishing",
        "dead",
        "saturated",
        "small_updates",
    ];

    /// Sets one threshold by name; false for an unknown name.
    pub fn set(&mut self, name: &str, value: f64) -> bool {
        let slot = match name {
            "frozen" => &mut self.frozen,
            "exploding" => &mut self.exploding,
            "collapsed" => &mut self.collapsed,
            "vanishing" => &mut self.vanishing,
            "dead" => &mut self.dead,
            "saturated" => &mut self.saturated,
            "small_updates" => &mut self.small_updates,
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
    pub role: Role,
    /// The run's last activations logged: the model's output, whose probabilities near 0 and
    /// 1 are confident predictions, not saturation.
    pub is_output: bool,
    pub points: usize,
    pub first: &'a PointSummary,
    pub last: &'a PointSummary,
    /// Change from the first to the last point.
    pub overall: Change,
    /// True when every consecutive pair is bitwise identical.
    pub all_identical: bool,
    /// It changed, then stayed bitwise identical from this step on ([`froze_at`]).
    pub froze_at: Option<i64>,
    /// Largest of W1/σ, KS, Δmean/σ, Δσ/σ over consecutive pairs (NaN if any was NaN).
    pub max_step_change: f64,
    pub any_nonfinite: bool,
}

/// The parameter a gradient tag is the gradient of: the name without the gradient markers
/// (`fc1.weight/grad` → `fc1.weight`, `gradients/dense/kernel` → `dense/kernel`).
pub fn parameter_of_gradient(tag: &str) -> &str {
    let mut t = tag;
    for kind in [
        "/histogram",
        "/grad",
        ".grad",
        "_grad",
        "/gradient",
        "/gradients",
    ] {
        if let Some(r) = t.strip_suffix(kind).filter(|r| !r.is_empty()) {
            t = r;
        }
    }
    t.strip_prefix("gradients/")
        .filter(|r| !r.is_empty())
        .unwrap_or(t)
}

/// How large a parameter's updates can have been, from the run's learning rate and the
/// parameter's gradient ([`update_bound`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Updates {
    /// The largest learning rate logged.
    pub lr_max: f64,
    /// Upper bound on any single update's rms over the weights' smallest rms.
    pub bound: f64,
    /// lr (last) · rms(g) / rms(w) at the last point: the update/weight ratio of plain SGD
    /// without momentum (CS231n's rule of thumb: about 1e-3), when the gradient is logged.
    pub sgd_ratio: Option<f64>,
}

/// Upper bound on the update/weight ratio (rms of one update over the weights' rms) for every
/// common optimizer, from the largest learning rate, the largest gradient rms and the smallest
/// weight rms logged: SGD with momentum μ ≤ 0.99 moves by at most lr · |g| / (1 − μ) ≤
/// 100 · lr · |g|; Adam by at most lr · (1 − β1)/√(1 − β2) ≈ 3.2 · lr per element (Kingma &
/// Ba 2015, §2.1), RMSprop (α = 0.99) by at most 10 · lr; decoupled weight decay (λ ≤ 1) adds
/// at most lr · |w|. So the ratio is at most lr · (100 · g + 10 + w) / w. With lr = 0 nothing
/// moves and no gradient is needed. `None` when it cannot be bounded: no gradient logged for
/// a non-zero rate, or weights of zero scale. The gradients between logged steps are assumed
/// no larger than the largest logged one; the factor 100 is the margin.
pub fn update_bound(lr_max: f64, grad_rms_max: Option<f64>, weight_rms_min: f64) -> Option<f64> {
    if lr_max == 0.0 {
        return Some(0.0);
    }
    let g = grad_rms_max.filter(|g| g.is_finite())?;
    let w = weight_rms_min;
    if !(w.is_finite() && w > 0.0 && lr_max.is_finite() && lr_max > 0.0) {
        return None;
    }
    Some(lr_max * (100.0 * g + 10.0 + w) / w)
}

/// True for tag names that look like a layer's parameters.
pub fn is_weight_like(tag: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)(weight|kernel|bias|(^|/)[wb]\d*(/|$)|(^|/)w_)").expect("valid regex")
    })
    .is_match(tag)
}

/// Fewest values for which `saturated` is said: with fewer (a 2-value BatchNorm, a 4-unit
/// output bias) "piled at the bounds" is not a distribution.
pub const SATURATION_MIN_COUNT: f64 = 100.0;

/// Share of exact zeros in gradients that makes them `dead`.
pub const DEAD_GRADIENT_SHARE: f64 = 0.9;

/// The flags of one tag, in [`Flag::ALL`] order (`vanishing` is decided per run, by
/// [`vanishing`]).
pub fn diagnose(f: &Facts, t: &Thresholds) -> Vec<Flag> {
    let mut flags = Vec::new();
    let (a, b) = (&f.first.stats, &f.last.stats);
    let role = f.role;
    let param = matches!(role, Role::Weight | Role::Bias);
    let other = role == Role::Other;
    let act = role == Role::Activation;
    let multi = f.points >= 2;
    let overall = change_size(&f.overall);
    // A constant (a one-value bias) has no spread to measure change against: its own size is
    // the scale.
    let constant_barely_moved = a.std == 0.0
        && b.std == 0.0
        && a.count == b.count
        && (b.mean - a.mean).abs() <= t.frozen * a.mean.abs();
    // "Froze at step s" only after real change: updates that round away now and then (a
    // learning rate of 1e-9 in float32) are near-frozen all along.
    let froze = f.froze_at.is_some() && f.max_step_change > t.frozen && !constant_barely_moved;
    let frozen = multi && (f.all_identical || froze) && (param || other);
    let near_frozen = multi
        && !frozen
        && (param || other)
        && ((f.max_step_change <= t.frozen && overall <= t.frozen) || constant_barely_moved);
    if frozen {
        flags.push(Flag::Frozen);
    }
    if near_frozen {
        flags.push(Flag::NearFrozen);
    }
    if f.any_nonfinite {
        flags.push(Flag::Nonfinite);
    }
    let ratio = b.std / a.std;
    if multi && !act && a.std > 0.0 && ratio >= t.exploding {
        flags.push(Flag::Exploding);
    }
    if multi && !act && a.std > 0.0 && ratio <= t.collapsed {
        flags.push(Flag::Collapsed);
    }
    let saturated = match role {
        Role::Activation => {
            !f.is_output
                && b.count >= SATURATION_MIN_COUNT
                && f.last.bounds.is_some_and(|m| m.low + m.high >= t.saturated)
        }
        Role::Other => f.last.shape.shape == Shape::Saturated,
        _ => false,
    };
    if saturated {
        flags.push(Flag::Saturated);
    }
    let dead = match role {
        Role::Activation => f.last.zeros.exact && f.last.zeros.share >= t.dead,
        Role::Gradient => f.last.zeros.exact && f.last.zeros.share >= DEAD_GRADIENT_SHARE,
        Role::Other => {
            let (z0, z1) = (f.first.zeros.share, f.last.zeros.share);
            multi && f.last.zeros.exact && z1 >= t.dead && z1 >= z0 + 0.1
        }
        _ => false,
    };
    if dead {
        flags.push(Flag::Dead);
    }
    if act && !f.last.zeros.exact && f.last.zeros.at_most >= t.dead {
        flags.push(Flag::PossiblyDead);
    }
    // Too few values to tell an init family apart (a small bias): the shape says nothing.
    let unresolved = b.count < 64.0;
    let at_init = unresolved
        || match f.last.shape.shape {
            Shape::Uniform | Shape::Gaussian => true,
            Shape::Constant => b.mean == 0.0 && b.count > 0.0,
            _ => false,
        };
    if param
        && at_init
        && ((frozen && !froze) || near_frozen)
        && (f.first.shape.shape == f.last.shape.shape || unresolved)
    {
        flags.push(Flag::StillAtInit);
    }
    flags
}

/// Fewest trailing identical consecutive pairs for "froze at step s".
pub const FROZE_AFTER_PAIRS: usize = 3;

/// The step from which a series that did change stayed bitwise identical to its end: at least
/// [`FROZE_AFTER_PAIRS`] identical consecutive pairs and at least a third of its points (a layer
/// frozen part way through training, or whose updates became exactly zero). `identical[i]` says
/// whether point `i` equals point `i - 1` (`identical[0]` is ignored).
pub fn froze_at(steps: &[i64], identical: &[bool]) -> Option<i64> {
    let n = steps.len().min(identical.len());
    if n < 2 {
        return None;
    }
    let trailing = identical[1..n].iter().rev().take_while(|&&i| i).count();
    let changed_before = trailing < n - 1;
    (changed_before && trailing >= FROZE_AFTER_PAIRS && 3 * (trailing + 1) >= n)
        .then(|| steps[n - 1 - trailing])
}

/// One layer's gradient, for the depth profile of a run.
#[derive(Debug, Clone, Copy)]
pub struct GradientAtDepth<'a> {
    pub tag: &'a str,
    /// Its σ at the last point.
    pub std: f64,
}

/// `vanishing` over a run's weight gradients in depth order (the order the writer logged
/// them in): with at least 4 layers, the layers from the first on whose gradient σ is at or
/// below `threshold` × the last layer's. Returns their indices.
pub fn vanishing(gradients: &[GradientAtDepth<'_>], threshold: f64) -> Vec<usize> {
    if gradients.len() < 4 {
        return Vec::new();
    }
    let last = gradients[gradients.len() - 1].std;
    if (last.is_nan() || last <= 0.0) || !last.is_finite() {
        return Vec::new();
    }
    gradients
        .iter()
        .take(gradients.len() - 1)
        .take_while(|g| g.std.is_finite() && g.std <= threshold * last)
        .enumerate()
        .map(|(i, _)| i)
        .collect()
}

/// `exploding` over a run's weight gradients in depth order, the mirror of [`vanishing`]: with
/// at least 4 layers, the layers from the first on whose gradient σ is at or above
/// 1 / `threshold` × the last layer's (gradients that grow on their way back through the
/// layers). Returns their indices.
pub fn exploding_by_depth(gradients: &[GradientAtDepth<'_>], threshold: f64) -> Vec<usize> {
    if gradients.len() < 4 || threshold.is_nan() || threshold <= 0.0 {
        return Vec::new();
    }
    let last = gradients[gradients.len() - 1].std;
    if last.is_nan() || last <= 0.0 || !last.is_finite() {
        return Vec::new();
    }
    gradients
        .iter()
        .take(gradients.len() - 1)
        .take_while(|g| g.std.is_finite() && g.std * threshold >= last)
        .enumerate()
        .map(|(i, _)| i)
        .collect()
}

crate::named_enum! {
    /// A random initializer a parameter's histogram can be matched against, given the layer's
    /// fan-in and fan-out (read from the weight's and the bias's value counts).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum InitFamily {
        /// U(±1/√fan_in): torch's default for `Linear` and `Conv` weights (kaiming_uniform
        /// with a = √5) and biases.
        TorchDefault = "torch_default_uniform",
        /// U(±√(6/(fan_in+fan_out))): Glorot/Xavier uniform, Keras's default kernel init.
        GlorotUniform = "glorot_uniform",
        /// U(±√(6/fan_in)): He/Kaiming uniform.
        HeUniform = "he_uniform",
        /// U(±√(3/fan_in)): LeCun uniform.
        LecunUniform = "lecun_uniform",
        /// σ = √(2/(fan_in+fan_out)): Glorot/Xavier normal.
        GlorotNormal = "glorot_normal",
        /// σ = √(2/fan_in): He/Kaiming normal.
        HeNormal = "he_normal",
        /// σ = √(1/fan_in): LeCun normal.
        LecunNormal = "lecun_normal",
        /// All zeros: the usual bias init.
        Zeros = "zeros",
        /// One value everywhere: a constant initializer.
        Constant = "constant",
    }
}

impl InitFamily {
    /// The uniform bound or normal σ of the family for a layer, `None` for the constant ones.
    fn scale(self, fan_in: f64, fan_out: f64) -> Option<f64> {
        Some(match self {
            InitFamily::TorchDefault => (1.0 / fan_in).sqrt(),
            InitFamily::GlorotUniform => (6.0 / (fan_in + fan_out)).sqrt(),
            InitFamily::HeUniform => (6.0 / fan_in).sqrt(),
            InitFamily::LecunUniform => (3.0 / fan_in).sqrt(),
            InitFamily::GlorotNormal => (2.0 / (fan_in + fan_out)).sqrt(),
            InitFamily::HeNormal => (2.0 / fan_in).sqrt(),
            InitFamily::LecunNormal => (1.0 / fan_in).sqrt(),
            InitFamily::Zeros | InitFamily::Constant => return None,
        })
    }
}

/// A layer's fan-in and fan-out from its weight's and bias's value counts: a bias has one value
/// per output unit, a weight (or conv kernel) fan_in values per unit. `None` unless the weight
/// count is a whole multiple of the bias count.
pub fn fans(weight_count: f64, bias_count: f64) -> Option<(f64, f64)> {
    if !(bias_count >= 1.0 && weight_count >= bias_count) || bias_count.fract() != 0.0 {
        return None;
    }
    let fan_in = weight_count / bias_count;
    (fan_in.fract() == 0.0).then_some((fan_in, bias_count))
}

/// Smallest share of a uniform bound that the farther end of a histogram must reach to match
/// it: with n ≥ 64 draws, every value below 0.9 of the bound has probability 0.9^64 ≈ 0.001.
pub const INIT_UNIFORM_MIN_REACH: f64 = 0.9;

/// The init family a parameter's point matches, given its layer's fans: a uniform shape whose
/// farther end lies in [0.9, 1] of the family's bound (and no value beyond it, with a 1e-6
/// margin for float32); a bell whose σ is within max(10 %, 3/√(2n)) of the family's; one value
/// everywhere (zeros or a constant). Families are tried in [`InitFamily::ALL`] order.
pub fn init_family(last: &PointSummary, fan_in: f64, fan_out: f64) -> Option<InitFamily> {
    let s = &last.stats;
    let (n, reach) = (s.count, s.min.abs().max(s.max.abs()));
    match last.shape.shape {
        Shape::Constant if s.mean == 0.0 => Some(InitFamily::Zeros),
        Shape::Constant => Some(InitFamily::Constant),
        // Too few values to reach the bound (a 4-value bias): only "inside it" can be asked.
        Shape::Unresolved if s.max > s.min => InitFamily::ALL
            .iter()
            .copied()
            .filter(|f| {
                !matches!(
                    f,
                    InitFamily::GlorotNormal | InitFamily::HeNormal | InitFamily::LecunNormal
                )
            })
            .find(|f| {
                f.scale(fan_in, fan_out)
                    .is_some_and(|b| reach <= b * (1.0 + 1e-6))
            }),
        Shape::Uniform => InitFamily::ALL
            .iter()
            .copied()
            .filter(|f| {
                !matches!(
                    f,
                    InitFamily::GlorotNormal | InitFamily::HeNormal | InitFamily::LecunNormal
                )
            })
            .find(|f| {
                f.scale(fan_in, fan_out).is_some_and(|b| {
                    reach <= b * (1.0 + 1e-6) && reach >= INIT_UNIFORM_MIN_REACH * b
                })
            }),
        Shape::Gaussian => {
            let tol = (3.0 / (2.0 * n).sqrt()).max(0.1);
            [
                InitFamily::GlorotNormal,
                InitFamily::HeNormal,
                InitFamily::LecunNormal,
            ]
            .into_iter()
            .find(|f| {
                f.scale(fan_in, fan_out)
                    .is_some_and(|sd| (s.std / sd - 1.0).abs() <= tol)
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_tags_without_the_writers_suffixes() {
        for (tag, layer) in [
            ("layer1/weights", "layer1"),
            ("layer1/weights/grad", "layer1"),
            ("layer1/activations", "layer1"),
            ("fc1.weight", "fc1"),
            ("fc1.bias", "fc1"),
            ("fc1.weight/grad", "fc1"),
            ("fc1.weight.grad", "fc1"),
            (
                "encoder.layers.0.linear1.weight",
                "encoder.layers.0.linear1",
            ),
            ("dense_1/kernel/histogram", "dense_1"),
            ("dense_1/bias/histogram", "dense_1"),
            ("dense1/kernel/grad", "dense1"),
            ("conv/b", "conv"),
            ("layer1/layer", "layer1"),
            ("layer4/Qpred", "layer4"),
            ("loss", "loss"),
            ("weight", "weight"),
        ] {
            assert_eq!(layer_of(tag), layer, "{tag}");
        }
    }

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
    fn roles_come_from_the_names_writers_use() {
        for (tag, role) in [
            ("fc1.weight", Role::Weight),
            ("fc1.bias", Role::Bias),
            ("fc1.weight/grad", Role::Gradient),
            ("fc1/activations", Role::Activation),
            ("dense/kernel/histogram", Role::Weight),
            ("dense/bias/histogram", Role::Bias),
            ("layer1/weights", Role::Weight),
            ("gradients/dense/kernel", Role::Gradient),
            ("conv/b", Role::Bias),
            ("layer4/Qpred", Role::Other),
            ("normal", Role::Other),
        ] {
            assert_eq!(role_of(tag), role, "{tag}");
        }
    }

    #[test]
    fn a_series_that_changed_then_stopped_froze_at_the_first_unchanged_step() {
        let steps: Vec<i64> = (0..10).collect();
        let mut same = vec![false; 10];
        for s in &mut same[6..] {
            *s = true;
        }
        // Points 5..9 are equal: it froze at step 5.
        assert_eq!(froze_at(&steps, &same), Some(5));
        same[6] = false; // only 3 trailing pairs (7, 8, 9) but that is a third of 10 points
        assert_eq!(froze_at(&steps, &same), Some(6));
        same[7] = false; // 2 pairs: not enough
        assert_eq!(froze_at(&steps, &same), None);
        assert_eq!(
            froze_at(&steps, &[true; 10]),
            None,
            "never changed: frozen, not froze"
        );
    }

    #[test]
    fn fans_come_from_the_weight_and_bias_counts() {
        assert_eq!(fans(16.0 * 32.0, 32.0), Some((16.0, 32.0)));
        // A conv kernel 3×3 over 8 channels into 4: fan_in 72, torch's own.
        assert_eq!(fans(4.0 * 8.0 * 9.0, 4.0), Some((72.0, 4.0)));
        assert_eq!(fans(100.0, 7.0), None);
        assert_eq!(fans(10.0, 0.0), None);
    }

    /// A TF2-style `[k, 3]` histogram of `n` values with density `f` over [lo, hi].
    fn summary_of(lo: f64, hi: f64, n: f64, f: impl Fn(f64) -> f64) -> PointSummary {
        let k = 30;
        let w = (hi - lo) / k as f64;
        let mass: Vec<f64> = (0..k).map(|i| f(lo + (i as f64 + 0.5) * w)).collect();
        let total: f64 = mass.iter().sum();
        let rows: Vec<f64> = (0..k)
            .flat_map(|i| {
                let l = lo + i as f64 * w;
                [l, l + w, (n * mass[i] / total).round()]
            })
            .collect();
        let h = crate::histogram::Histogram::from_tensor_rows(&rows).unwrap();
        PointSummary::of(0, 0.0, &h)
    }

    #[test]
    fn init_families_are_told_by_bound_and_spread_for_the_layers_fans() {
        // torch's default for a 16 → 32 Linear: U(±1/√16).
        let torch = summary_of(-0.25, 0.25, 512.0, |_| 1.0);
        assert_eq!(
            init_family(&torch, 16.0, 32.0),
            Some(InitFamily::TorchDefault)
        );
        // The same values in a 64 → 8 layer: beyond ±1/8 (torch) and ±√(3/64) = 0.217
        // (LeCun), short of 0.9 · √(6/72) = 0.260 (Glorot) and 0.9 · √(6/64) = 0.276 (He).
        assert_eq!(init_family(&torch, 64.0, 8.0), None);
        // In a 64 → 32 layer they are Glorot's ±√(6/96) = 0.25.
        assert_eq!(
            init_family(&torch, 64.0, 32.0),
            Some(InitFamily::GlorotUniform)
        );
        // He normal for fan_in 16: σ = √(2/16) = 0.354.
        let sd = (2.0f64 / 16.0).sqrt();
        let he = summary_of(-4.0 * sd, 4.0 * sd, 4096.0, |x| {
            (-(x / sd).powi(2) / 2.0).exp()
        });
        assert_eq!(he.shape.shape, Shape::Gaussian);
        assert_eq!(init_family(&he, 16.0, 32.0), Some(InitFamily::HeNormal));
        // Pretrained weights, σ 0.05: no initializer's spread for this layer.
        let sd = 0.05;
        let trained = summary_of(-4.0 * sd, 4.0 * sd, 4096.0, |x| {
            (-(x / sd).powi(2) / 2.0).exp()
        });
        assert_eq!(init_family(&trained, 16.0, 32.0), None);
    }

    #[test]
    fn exploding_by_depth_mirrors_vanishing() {
        let g = |std| GradientAtDepth { tag: "g", std };
        let profile = [g(5e3), g(2e3), g(3.0), g(1.0)];
        assert_eq!(exploding_by_depth(&profile, 1e-3), vec![0, 1]);
        assert!(exploding_by_depth(&profile[..3], 1e-3).is_empty());
        assert!(exploding_by_depth(&[g(5.0), g(2e3), g(3.0), g(1.0)], 1e-3).is_empty());
    }

    #[test]
    fn vanishing_takes_the_early_layers_far_below_the_last() {
        let g = |std| GradientAtDepth { tag: "g", std };
        let profile = [g(1e-9), g(1e-7), g(1e-2), g(0.5), g(1.0)];
        assert_eq!(vanishing(&profile, 1e-3), vec![0, 1]);
        assert!(vanishing(&profile[..3], 1e-3).is_empty(), "needs 4 layers");
        assert!(vanishing(&[g(0.5), g(0.2), g(0.9), g(1.0)], 1e-3).is_empty());
    }

    #[test]
    fn thresholds_are_set_by_name() {
        let mut t = Thresholds::default();
        assert!(t.set("frozen", 1e-3));
        assert_eq!(t.frozen, 1e-3);
        assert!(!t.set("nope", 1.0));
        assert_eq!(Flag::parse("still_at_init"), Some(Flag::StillAtInit));
    }

    #[test]
    fn the_update_bound_holds_for_every_common_optimizer_and_needs_a_gradient_unless_lr_is_0() {
        // lr 0: nothing moves, whatever was logged.
        assert_eq!(update_bound(0.0, None, 0.1), Some(0.0));
        // Without a gradient a non-zero rate bounds nothing; weights of zero scale neither.
        assert_eq!(update_bound(1e-3, None, 0.1), None);
        assert_eq!(update_bound(1e-3, Some(0.01), 0.0), None);
        // Adam at lr 1e-3 on weights of rms 0.1: up to 3.2e-3 / 0.1 per step, so healthy
        // training is far above the 1e-5 threshold.
        let b = update_bound(1e-3, Some(0.01), 0.1).unwrap();
        assert!(b > 0.1 && b < 0.2, "{b}");
        // lr 1e-9: about 1e-7 whatever the optimizer, a hundred times below the threshold.
        assert!(update_bound(1e-9, Some(0.01), 0.1).unwrap() < 2e-7);
    }

    #[test]
    fn a_gradient_names_its_parameter() {
        for (g, p) in [
            ("fc1.weight/grad", "fc1.weight"),
            ("fc1.bias.grad", "fc1.bias"),
            ("dense/kernel_grad", "dense/kernel"),
            ("gradients/dense/kernel", "dense/kernel"),
            ("layer1/weights/gradient/histogram", "layer1/weights"),
        ] {
            assert_eq!(parameter_of_gradient(g), p, "{g}");
        }
    }

    #[test]
    fn a_relu_output_is_an_activation_by_its_values_when_its_name_says_nothing() {
        use crate::histogram::Histogram;
        // 50 exact zeros (torch's zero bucket) and 50 positive values.
        let relu =
            Histogram::from_tensor_rows(&[0.0, 0.0, 50.0, 0.0, 1.0, 30.0, 1.0, 2.0, 20.0]).unwrap();
        let p = PointSummary::of(0, 0.0, &relu);
        assert_eq!(infer_role("layer3/h", &p), (Role::Activation, true));
        // The name wins where it says something.
        assert_eq!(infer_role("fc1.weight", &p), (Role::Weight, false));
        // Signed values are not a ReLU's.
        let signed = Histogram::from_tensor_rows(&[-1.0, 0.0, 50.0, 0.0, 1.0, 50.0]).unwrap();
        let p = PointSummary::of(0, 0.0, &signed);
        assert_eq!(infer_role("layer3/h", &p), (Role::Other, false));
    }
}

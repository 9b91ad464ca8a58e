//! `--explain`: a plain-language reading of the report, in the spirit of the accepted answer
//! to Stack Overflow 42315202 (the README's opening example): which layers never changed while
//! others did, where their weights lie, which shape they have and what that suggests.

use super::clean;
use super::table::num;
use crate::diagnose::{is_weight_like, layer_of, role_of, Flag, InitFamily, Role};
use crate::model::{natural_cmp, Report, RunReport, TagReport};
use crate::shape::Shape;
use std::collections::BTreeMap;
use std::io::{self, Write};

fn where_and_shape(t: &TagReport) -> String {
    let s = &t.last.stats;
    let shape = t.last.shape.shape;
    let range = format!("[{}, {}]", num(s.min), num(s.max));
    match shape {
        Shape::Uniform => format!("almost uniformly distributed in {range}"),
        Shape::Gaussian => format!(
            "bell-shaped (Gaussian-like) around {} with std {}, in {range}",
            num(s.mean),
            num(s.std)
        ),
        Shape::Multimodal => {
            let peaks: Vec<String> = t.last.shape.peaks.iter().map(|&p| num(p)).collect();
            format!(
                "multimodal, with peaks near {}, in {range}",
                peaks.join(", ")
            )
        }
        Shape::Constant => format!("a single value, {}", num(s.mean)),
        Shape::Empty => "empty (no values)".to_string(),
        Shape::Saturated => format!("piled up at both ends of {range} (saturated)"),
        Shape::SpikeAndSlab => format!(
            "a spike at {} plus a continuous slab, in {range}",
            t.last
                .shape
                .peaks
                .first()
                .map_or("0".to_string(), |&p| num(p))
        ),
        Shape::Skewed => format!("skewed, mean {} in {range}", num(s.mean)),
        Shape::HeavyTailed => format!("heavy-tailed around {} in {range}", num(s.mean)),
        Shape::Unresolved => format!(
            "{} values in {range}, mean {} (too few, or too coarsely bucketed, to name a shape)",
            num(s.count),
            num(s.mean)
        ),
    }
}

fn moved(t: &TagReport) -> String {
    if t.points < 2 {
        return "logged once".to_string();
    }
    if let Some(s) = t.froze_at {
        return format!(
            "changed until step {s}, then froze: bit-identical from step {s} to {}",
            t.last.step
        );
    }
    if t.flags.contains(&Flag::Frozen) {
        return format!(
            "never changed over {} points (steps {}→{})",
            t.points, t.first.step, t.last.step
        );
    }
    format!(
        "changed from step {} to {} (W1/σ {}{})",
        t.first.step,
        t.last.step,
        num(t.change.w1_rel),
        if t.first.shape.shape != t.last.shape.shape {
            format!(
                ", {} → {}",
                t.first.shape.shape.as_str(),
                t.last.shape.shape.as_str()
            )
        } else {
            String::new()
        }
    )
}

/// What a flag on a tag means and what to suspect, in one sentence starting with the flag.
pub fn flag_advice(f: Flag, t: &TagReport) -> String {
    match f {
        Flag::Frozen => "frozen: suspect a layer excluded from the optimizer (var_list, trainable=False, requires_grad=False), broken gradients, or a learning rate far too small".into(),
        Flag::NearFrozen => "near_frozen: it moves, but by less than a millionth of its spread — suspect a learning rate far too small (1e-9?) or updates that vanish before reaching it".into(),
        Flag::Vanishing => format!("vanishing: this early layer's gradient std ({}) is orders of magnitude below the last layer's — deep sigmoid/tanh stacks without normalisation or residual connections do this; try ReLU, BatchNorm/LayerNorm, residuals or a better init", num(t.last.stats.std)),
        Flag::Nonfinite => "nonfinite: NaN or Inf values were logged — training diverged or a value overflowed".into(),
        Flag::Exploding => format!("exploding: std grew from {} to {} — lower the learning rate, clip gradients", num(t.first.stats.std), num(t.last.stats.std)),
        Flag::Collapsed => format!("collapsed: std shrank from {} to {} — the distribution has become a point", num(t.first.stats.std), num(t.last.stats.std)),
        Flag::Saturated => "saturated: activations pile up at the bounds of tanh/sigmoid, where their gradients vanish — suspect a too large init, unnormalised inputs or a too high learning rate".into(),
        Flag::Dead => "dead: most values are exactly zero — ReLU units that never fire (a too high learning rate, a large negative bias); try a lower learning rate, LeakyReLU or a better init".into(),
        Flag::StillAtInit
            if t
                .init
                .is_some_and(|(f, _)| !matches!(f, InitFamily::Zeros | InitFamily::Constant)) =>
        {
            let (family, _) = t.init.expect("checked");
            let what = family.doc().split_whitespace().collect::<Vec<_>>().join(" ");
            format!(
                "still_at_init: its values are what {} gives for its layer's fan-in and fan-out ({}), so it is still at its init",
                family.as_str(),
                what.trim_end_matches('.')
            )
        }
        Flag::StillAtInit => match t.last.shape.shape {
            Shape::Uniform => "still_at_init: a zero-mean uniform distribution is exactly what a Glorot/Kaiming uniform initializer produces before training: this layer is still at its init".into(),
            Shape::Gaussian => "still_at_init: a zero-mean bell is what a normal initializer (He, Glorot or LeCun normal) produces before training: this layer is still at its init".into(),
            Shape::Constant if t.last.stats.mean == 0.0 => "still_at_init: still all zeros, as a zeros initializer leaves it".into(),
            Shape::Constant => format!("still_at_init: one value everywhere ({}), as a constant initializer leaves it", num(t.last.stats.mean)),
            _ => "still_at_init: too few values to name the initializer, but it never moved from where training started".into(),
        },
    }
}

/// The run's layers in natural order, each with its tags.
fn layers_of(run: &RunReport) -> (Vec<&str>, BTreeMap<&str, Vec<&TagReport>>) {
    let mut layers: BTreeMap<&str, Vec<&TagReport>> = BTreeMap::new();
    for t in &run.tags {
        layers.entry(layer_of(&t.tag)).or_default().push(t);
    }
    let mut names: Vec<&str> = layers.keys().copied().collect();
    names.sort_by(|a, b| natural_cmp(a, b));
    (names, layers)
}

/// `run` is what the table shows; `whole`, when tag filters are active, the same run with
/// every tag: the verdict judges that one, so that `--tag` narrows the detail, not the verdict.
fn run_reading(run: &RunReport, whole: Option<&RunReport>, out: &mut dyn Write) -> io::Result<()> {
    let (names, layers) = layers_of(run);
    writeln!(out, "run {}:", clean(run.run.as_str()))?;
    if let Some(w) = whole {
        let hidden = w.tags.len().saturating_sub(run.tags.len());
        if hidden > 0 {
            writeln!(
                out,
                "  (the verdict reads all {} tags of the run; the tag filters leave {} in the \
                 table and the details below)",
                w.tags.len(),
                run.tags.len()
            )?;
        }
    }
    verdict(whole.unwrap_or(run), out)?;
    details(&names, &layers, out)
}

/// The run-level verdict: which layers learned, which did not and why, one sentence per other
/// kind of problem, what cannot be assessed.
fn verdict(run: &RunReport, out: &mut dyn Write) -> io::Result<()> {
    let (names, layers) = layers_of(run);
    // The verdict first: which layers' weights learned, which did not.
    let (mut frozen, mut barely, mut trained) = (Vec::new(), Vec::new(), Vec::new());
    for name in &names {
        let weights: Vec<&&TagReport> = layers[name]
            .iter()
            .filter(|t| is_parameter(&t.tag) && t.points >= 2)
            .collect();
        if weights.is_empty() {
            continue;
        }
        if weights.iter().all(|t| t.flags.contains(&Flag::Frozen)) {
            frozen.push(*name);
        } else if weights.iter().all(|t| {
            t.flags
                .iter()
                .any(|f| matches!(f, Flag::Frozen | Flag::NearFrozen))
        }) {
            barely.push(*name);
        } else {
            trained.push(*name);
        }
    }
    let list = |v: &[&str]| clean(&v.join(", ")).into_owned();
    let vanishing = run.tags.iter().any(|t| t.flags.contains(&Flag::Vanishing));
    if !frozen.is_empty() && !trained.is_empty() {
        let cause = if vanishing {
            "their gradients vanish on the way back through the layers above them (vanishing, \
             below)"
        } else {
            "only the other layers are trained: suspect broken gradients, an optimizer \
             restricted to those layers' variables, or layers excluded on purpose \
             (trainable=False)"
        };
        writeln!(
            out,
            "  {} never changed while {} did: {} learned nothing — {cause}.",
            list(&frozen),
            list(&trained),
            if frozen.len() == 1 {
                "that layer"
            } else {
                "those layers"
            }
        )?;
    } else if !frozen.is_empty() && barely.is_empty() {
        writeln!(
            out,
            "  No layer's weights changed at all: is the optimizer running, with a learning \
             rate above 0? ({})",
            list(&frozen)
        )?;
    } else if !trained.is_empty() && frozen.is_empty() && barely.is_empty() {
        writeln!(out, "  Every layer's weights changed during training.")?;
    }
    if !barely.is_empty() {
        writeln!(
            out,
            "  {} barely moved (by less than a millionth of their spread): a learning rate far \
             too small, or updates that vanish before reaching {}.",
            list(&barely),
            if barely.len() == 1 { "it" } else { "them" }
        )?;
    }
    // Then what else the run shows, one sentence per kind of problem.
    for (flag, what) in [
        (Flag::Nonfinite, "hold NaN or Inf: training diverged"),
        (Flag::Exploding, "grew by orders of magnitude: divergence"),
        (
            Flag::Vanishing,
            "get gradients orders of magnitude below the last layers'",
        ),
        (Flag::Dead, "are mostly exact zeros: dying ReLUs"),
        (Flag::Saturated, "sit at the bounds of tanh/sigmoid"),
        (Flag::Collapsed, "shrank by orders of magnitude"),
    ] {
        let mut hit: Vec<&str> = run
            .tags
            .iter()
            .filter(|t| t.flags.contains(&flag))
            .map(|t| layer_of(&t.tag))
            .collect();
        hit.dedup();
        if !hit.is_empty() {
            writeln!(out, "  {} {what} ({flag}).", list(&hit))?;
        }
    }
    for na in run.logged.not_assessable() {
        if run.logged != crate::model::Logged::default() {
            writeln!(out, "  Not assessable: {na}.")?;
        }
    }
    Ok(())
}

/// Layer by layer, each flag named; its advice follows once, below.
fn details(
    names: &[&str],
    layers: &BTreeMap<&str, Vec<&TagReport>>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut advice: Vec<(Flag, &TagReport)> = Vec::new();
    for &name in names {
        for t in &layers[name] {
            let interesting = !t.flags.is_empty()
                || is_weight_like(&t.tag)
                || matches!(t.last.shape.shape, Shape::Multimodal | Shape::Saturated);
            if !interesting && t.points < 2 {
                continue;
            }
            write!(
                out,
                "  {}: {}; {}.",
                clean(&t.tag),
                where_and_shape(t),
                moved(t)
            )?;
            if t.last.shape.shape == Shape::Multimodal && is_parameter(&t.tag) {
                write!(
                    out,
                    " Several peaks in one weight matrix can mean redundant units: the layer \
                     might be smaller, or could learn more distinct features."
                )?;
            }
            if !t.flags.is_empty() {
                let names: Vec<&str> = t.flags.iter().map(|f| f.as_str()).collect();
                write!(out, " [{}]", names.join(" "))?;
            }
            writeln!(out)?;
            // Each piece of advice once; a flag whose advice depends on the tag (zeros or
            // uniform for still_at_init) may give two.
            for &f in &t.flags {
                let text = flag_advice(f, t);
                if !advice
                    .iter()
                    .any(|(g, u)| *g == f && flag_advice(*g, u) == text)
                {
                    advice.push((f, t));
                }
            }
        }
    }
    if !advice.is_empty() {
        writeln!(out, "  What to suspect:")?;
        advice.sort_by_key(|(f, _)| *f);
        for (f, t) in advice {
            writeln!(out, "    - {}", flag_advice(f, t))?;
        }
    }
    writeln!(out)
}

fn is_parameter(tag: &str) -> bool {
    matches!(role_of(tag), Role::Weight | Role::Bias)
}

/// Writes the reading of every run.
pub fn explain(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "What the histograms say:")?;
    for run in &r.runs {
        if !run.tags.is_empty() {
            let whole = r
                .unfiltered
                .as_deref()
                .and_then(|u| u.runs.iter().find(|w| w.run == run.run));
            run_reading(run, whole, out)?;
        }
    }
    Ok(())
}

/// A finding in one line: what was seen on the tag, then what to suspect.
pub fn finding_text(f: Flag, t: &TagReport) -> String {
    let seen = match f {
        Flag::Frozen => moved(t),
        Flag::Nonfinite => "NaN or Inf among the logged values".to_string(),
        Flag::Exploding | Flag::Collapsed => format!(
            "std {} at step {} → {} at step {}",
            num(t.first.stats.std),
            t.first.step,
            num(t.last.stats.std),
            t.last.step
        ),
        Flag::Dead => format!(
            "{} {:.0} % zeros at step {}",
            if t.last.zeros.exact { "" } else { "at most" },
            100.0 * t.last.zeros.share,
            t.last.step
        )
        .trim_start()
        .to_string(),
        Flag::Saturated => match t.last.bounds {
            Some(b) => format!(
                "{:.0} % of values within 1 % of the bounds ({:.0} % low, {:.0} % high) at step {}",
                100.0 * (b.low + b.high),
                100.0 * b.low,
                100.0 * b.high,
                t.last.step
            ),
            None => where_and_shape(t),
        },
        _ => where_and_shape(t),
    };
    format!("{seen}; {}", flag_advice(f, t))
}

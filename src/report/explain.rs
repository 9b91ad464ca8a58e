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
        Shape::Saturated => format!("with mass piled up at both ends of {range}"),
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
    // Against a constant first point (a one-value bias, a zeros init) σ is 0: the distance
    // itself says how far it moved.
    let by = if t.first.stats.std == 0.0 {
        format!("W1 {}", num(t.change.w1))
    } else {
        format!("W1/σ {}", num(t.change.w1_rel))
    };
    format!(
        "changed from step {} to {} ({by}{})",
        t.first.step,
        t.last.step,
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
        Flag::PossiblyDead => format!("possibly_dead: {:.0} % of the values are in the first bucket, which holds the exact zeros together with the smallest positive values, so these buckets cannot count the zeros — dying ReLUs if they are zeros (a too high learning rate, a large negative bias), values piled just above 0 if not; log with bins that keep 0 apart (torch and tensorboardX's default bins) to tell", 100.0 * t.last.zeros.at_most),
        Flag::SmallUpdates => match t.updates {
            Some(u) if u.lr_max == 0.0 => "small_updates: the learning rate logged is 0 at every step: nothing can move — set a learning rate above 0".into(),
            Some(u) => format!("small_updates: the largest learning rate logged ({}) keeps every update below {} of the weights' scale, whatever the optimizer (healthy training: about 1e-3) — the learning rate is far too small", num(u.lr_max), num(u.bound)),
            None => "small_updates: the updates are far too small to learn".into(),
        },
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

/// Columns the reading is wrapped to: it is read in terminals and CI logs.
const WIDTH: usize = 80;

/// [`super::para`] at [`WIDTH`] columns.
fn para(out: &mut dyn Write, first: &str, rest: &str, text: &str) -> io::Result<()> {
    super::para(out, first, rest, text, WIDTH)
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

/// Whether a layer's parameters learned, from the parameter tags with two points or more.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Learned {
    /// Bit-identical at every step.
    Never,
    /// Changed, then bit-identical from this step on.
    FrozeAt(i64),
    /// Moved by less than a millionth of their spread (or frozen and near-frozen).
    Barely,
    Moved,
}

fn learned(tags: &[&TagReport]) -> Option<Learned> {
    let params: Vec<&&TagReport> = tags
        .iter()
        .filter(|t| is_parameter(&t.tag) && t.points >= 2)
        .collect();
    if params.is_empty() {
        return None;
    }
    let frozen = |t: &&&TagReport| t.flags.contains(&Flag::Frozen);
    Some(if params.iter().all(frozen) {
        match params.iter().filter_map(|t| t.froze_at).min() {
            Some(s) => Learned::FrozeAt(s),
            None => Learned::Never,
        }
    } else if params.iter().all(|t| {
        t.flags
            .iter()
            .any(|f| matches!(f, Flag::Frozen | Flag::NearFrozen))
    }) {
        Learned::Barely
    } else {
        Learned::Moved
    })
}

/// `run` is what the table shows; `whole`, when tag filters are active, the same run with
/// every tag: the verdict judges that one, so that `--tag` narrows the detail, not the verdict.
fn run_reading(run: &RunReport, whole: Option<&RunReport>, out: &mut dyn Write) -> io::Result<()> {
    let (names, layers) = layers_of(run);
    writeln!(out, "run {}:", clean(run.run.as_str()))?;
    if let Some(w) = whole {
        let hidden = w.tags.len().saturating_sub(run.tags.len());
        if hidden > 0 {
            para(
                out,
                "  ",
                "  ",
                &format!(
                    "(the verdict reads all {} tags of the run; the tag filters leave {} in the \
                     table and the details below)",
                    w.tags.len(),
                    run.tags.len()
                ),
            )?;
        }
    }
    verdict(whole.unwrap_or(run), out)?;
    writeln!(out)?;
    details(&names, &layers, out)
}

/// "a", "a and b", "a, b and c".
fn list(v: &[String]) -> String {
    match v {
        [] => String::new(),
        [a] => a.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The run-level verdict: which layers learned, which did not and why, one sentence per other
/// kind of problem, what cannot be assessed.
fn verdict(run: &RunReport, out: &mut dyn Write) -> io::Result<()> {
    let (names, layers) = layers_of(run);
    let (mut never, mut froze, mut barely, mut trained) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for name in &names {
        let n = clean(name).into_owned();
        match learned(&layers[name]) {
            Some(Learned::Never) => never.push(n),
            Some(Learned::FrozeAt(s)) => froze.push((n, s)),
            Some(Learned::Barely) => barely.push(n),
            Some(Learned::Moved) => trained.push(n),
            None => {}
        }
    }
    let say = |out: &mut dyn Write, text: &str| para(out, "  ", "    ", text);
    let lr_zero = run.learning_rate.is_some_and(|l| l.max == 0.0);
    let vanishing = run.tags.iter().any(|t| t.flags.contains(&Flag::Vanishing));
    let small = |layer: &str| {
        layers[layer]
            .iter()
            .any(|t| t.flags.contains(&Flag::SmallUpdates))
    };
    if !never.is_empty() && !trained.is_empty() {
        let (them, verb) = if never.len() == 1 {
            ("it", "that layer")
        } else {
            ("them", "those layers")
        };
        let cause = if vanishing {
            format!(
                "their gradients vanish on the way back through the layers above {them} \
                 (vanishing, below)"
            )
        } else {
            format!(
                "suspect {} excluded from training on purpose (trainable=False, \
                 requires_grad=False), an optimizer given only the parameters of {} (var_list, \
                 a parameter subset), or gradients that never reach {them}",
                list(&never),
                list(&trained)
            )
        };
        say(
            out,
            &format!(
                "{} never changed while {} did: {verb} learned nothing — {cause}.",
                list(&never),
                list(&trained)
            ),
        )?;
    } else if !never.is_empty() && barely.is_empty() && froze.is_empty() {
        let why = if lr_zero {
            "the learning rate logged is 0 at every step".to_string()
        } else {
            "is the optimizer running, with a learning rate above 0?".to_string()
        };
        say(
            out,
            &format!(
                "No layer's weights changed at all ({}): {why}",
                list(&never)
            ),
        )?;
    } else if !trained.is_empty() && never.is_empty() && barely.is_empty() && froze.is_empty() {
        say(out, "Every layer's weights changed during training.")?;
    }
    if !froze.is_empty() {
        let at: Vec<String> = froze
            .iter()
            .map(|(n, s)| format!("{n} (step {s})"))
            .collect();
        let others = if trained.is_empty() {
            String::new()
        } else {
            format!(" while {} went on", list(&trained))
        };
        say(
            out,
            &format!(
                "{} changed, then stopped: bit-identical from that step to the last{others}. \
                 Something froze {} part way through training — requires_grad_(False) or \
                 trainable=False set during training, parameters dropped from the optimizer, or \
                 their learning rate set to 0.",
                list(&at),
                if froze.len() == 1 { "it" } else { "them" }
            ),
        )?;
    }
    if !barely.is_empty() {
        let them = if barely.len() == 1 { "it" } else { "them" };
        let why = if barely.iter().all(|l| small(l)) {
            let lr = run.learning_rate.map_or(0.0, |l| l.max);
            format!(
                "the largest learning rate logged, {}, keeps every update below a \
                 hundred-thousandth of the weights' scale whatever the optimizer: it is far too \
                 small",
                num(lr)
            )
        } else {
            format!("a learning rate far too small, or updates that vanish before reaching {them}")
        };
        say(
            out,
            &format!(
                "{} barely moved (by less than a millionth of their spread): {why}.",
                list(&barely)
            ),
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
        (
            Flag::PossiblyDead,
            "may be mostly zeros (dying ReLUs): their first bucket holds most values, and \
             cannot tell zeros from small positive values",
        ),
        (Flag::Saturated, "sit at the bounds of tanh/sigmoid"),
        (Flag::Collapsed, "shrank by orders of magnitude"),
        (
            Flag::SmallUpdates,
            "cannot move: the logged learning rate bounds their updates below 1e-5 of their \
             scale",
        ),
    ] {
        let mut hit: Vec<String> = Vec::new();
        for t in run.tags.iter().filter(|t| t.flags.contains(&flag)) {
            let l = clean(layer_of(&t.tag)).into_owned();
            if !hit.contains(&l) {
                hit.push(l);
            }
        }
        if !hit.is_empty() {
            say(out, &format!("{} {what} ({flag}).", list(&hit)))?;
        }
    }
    sgd_ratios(run, &mut |text| say(out, text))?;
    if run.logged != crate::model::Logged::default() {
        for na in run.logged.not_assessable() {
            say(out, &format!("Not assessable: {na}."))?;
        }
    }
    Ok(())
}

/// Plain SGD's update/weight ratio per weight, where the learning rate and the gradients are
/// logged: the number CS231n reads (about 1e-3), said once for the run with its range.
fn sgd_ratios(run: &RunReport, say: &mut dyn FnMut(&str) -> io::Result<()>) -> io::Result<()> {
    let ratios: Vec<(f64, &str)> = run
        .tags
        .iter()
        .filter(|t| role_of(&t.tag) == Role::Weight)
        .filter_map(|t| Some((t.updates?.sgd_ratio?, layer_of(&t.tag))))
        .collect();
    let lo = ratios.iter().min_by(|a, b| a.0.total_cmp(&b.0));
    let hi = ratios.iter().max_by(|a, b| a.0.total_cmp(&b.0));
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Ok(());
    };
    let range = if ratios.len() == 1 {
        format!("{} ({})", num(lo.0), clean(lo.1))
    } else {
        format!(
            "{} ({}) to {} ({})",
            num(lo.0),
            clean(lo.1),
            num(hi.0),
            clean(hi.1)
        )
    };
    say(&format!(
        "If the optimizer is plain SGD, its update/weight ratio lr·|g|/|w| at the last step \
         is {range}; about 1e-3 is healthy (CS231n). Adaptive optimizers (Adam, RMSprop) \
         step by about lr per weight instead."
    ))
}

/// The name of a tag inside its layer (`.weight`, `.bias/grad`, `/activations`).
fn label<'a>(layer: &str, tag: &'a str) -> &'a str {
    let rest = tag
        .strip_prefix(layer)
        .unwrap_or(tag)
        .trim_start_matches(['.', '/', '_']);
    if rest.is_empty() {
        tag
    } else {
        rest
    }
}

/// Layer by layer: a line saying whether it learned, then one entry per tag; each flag's
/// advice once, below.
fn details(
    names: &[&str],
    layers: &BTreeMap<&str, Vec<&TagReport>>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut advice: Vec<(Flag, &TagReport)> = Vec::new();
    for &name in names {
        let mut shown: Vec<&&TagReport> = layers[name]
            .iter()
            .filter(|t| {
                !t.flags.is_empty()
                    || t.points >= 2
                    || is_weight_like(&t.tag)
                    || matches!(t.last.shape.shape, Shape::Multimodal | Shape::Saturated)
            })
            .collect();
        // Weights first, then biases, gradients, activations (Role's order); stable.
        shown.sort_by_key(|t| t.role);
        if shown.is_empty() {
            continue;
        }
        let mut flags: Vec<Flag> = shown.iter().flat_map(|t| t.flags.iter().copied()).collect();
        flags.sort();
        flags.dedup();
        let status = match learned(&layers[name]) {
            Some(Learned::Never) => " — never changed".to_string(),
            Some(Learned::FrozeAt(s)) => format!(" — froze at step {s}"),
            Some(Learned::Barely) => " — barely moved".to_string(),
            Some(Learned::Moved) => " — learning".to_string(),
            None => String::new(),
        };
        let flag_names: Vec<&str> = flags.iter().map(|f| f.as_str()).collect();
        let flags_text = if flags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", flag_names.join(" "))
        };
        // A layer that is one tag (a name with no layer structure) is one entry.
        let single = shown.len() == 1 && label(name, &shown[0].tag) == shown[0].tag;
        if !single {
            para(
                out,
                "  ",
                "      ",
                &format!("{}{status}{flags_text}", clean(name)),
            )?;
        }
        for t in shown {
            let mut text = format!("{}; {}.", where_and_shape(t), moved(t));
            if t.role_from_data {
                text.insert_str(
                    0,
                    "an activation by its values (never below 0, a spike at exactly 0): ",
                );
            }
            if t.last.shape.shape == Shape::Multimodal && is_parameter(&t.tag) {
                text.push_str(
                    " Several peaks in one weight matrix can mean redundant units: the layer \
                     might be smaller, or could learn more distinct features.",
                );
            }
            if !t.flags.is_empty() {
                let names: Vec<&str> = t.flags.iter().map(|f| f.as_str()).collect();
                text.push_str(&format!(" [{}]", names.join(" ")));
            }
            if single {
                para(
                    out,
                    &format!("  {}{status}: ", clean(&t.tag)),
                    "    ",
                    &text,
                )?;
            } else {
                para(
                    out,
                    &format!("    {}: ", clean(label(name, &t.tag))),
                    "      ",
                    &text,
                )?;
            }
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
            para(out, "    - ", "      ", &flag_advice(f, t))?;
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
            "{:.0} % exact zeros at step {}",
            100.0 * t.last.zeros.share,
            t.last.step
        ),
        Flag::PossiblyDead => format!(
            "up to {:.0} % zeros at step {} (the first bucket's share)",
            100.0 * t.last.zeros.at_most,
            t.last.step
        ),
        Flag::Saturated => match t.last.bounds {
            Some(b) => format!(
                "{:.0} % of values within 10 % of the bounds ({:.0} % low, {:.0} % high) at step {}",
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

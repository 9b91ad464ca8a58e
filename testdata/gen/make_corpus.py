#!/usr/bin/env python3
"""(Re)generate histinspect's corpus of real (tiny) training runs.

Run from the repository root, inside the venv made from testdata/gen/requirements.txt:

    python testdata/gen/make_corpus.py                  # all runs (~4 min, one CPU core)
    python testdata/gen/make_corpus.py torch_mlp_adam   # only some runs
    python testdata/gen/make_corpus.py --list           # run names

Every run trains a tiny model on CPU with synthetic data and logs histograms with a REAL
writer from PyPI (torch.utils.tensorboard, tensorboardX, the Keras 3 TensorBoard callback,
TF2 tf.summary), the way users log them. Each run happens in its own subprocess, which
deletes and re-creates testdata/corpus/<run>/ and writes the event file(s) there plus
truth.json, the ground truth computed from the very arrays handed to the writer (kept in
memory while logging). The parent then reads every event file back with TensorBoard's own
loaders, checks that the histograms in the files are exactly the ones described in
truth.json, checks each run's expectations (healthy controls must have no flag at all; a
faulty run must show its fault), and rewrites the runs table in testdata/corpus/README.md.

See testdata/corpus/README.md for the truth.json schema and the flag rules.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "testdata", "corpus")
README = os.path.join(CORPUS, "README.md")

# One core for training: the machine is shared with a Rust build.
for _k, _v in {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "CUDA_VISIBLE_DEVICES": "",
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}.items():
    os.environ.setdefault(_k, _v)

# Thresholds of the truth rules (documented in testdata/corpus/README.md).
NEAR_FROZEN_REL = 1e-6      # rms(last - first) <= 1e-6 * std(first) (max |first| if that std is 0)
EXPLODING_RATIO = 100.0     # std(last) >= 100 * std(first)
COLLAPSED_RATIO = 0.01      # std(last) <= std(first) / 100
DEAD_ACT_ZEROS = 0.7        # ReLU activations: >= 70 % exact zeros at the last step (~40 % of units dead)
DEAD_GRAD_ZEROS = 0.9       # gradients: >= 90 % exact zeros at the last step
SATURATED_FRAC = 0.5        # tanh/sigmoid activations: >= 50 % within 10 % of a bound
SATURATED_MIN_COUNT = 100
SAT_EDGE = 0.9              # |x| > 0.9 * bound: within 10 % of it, the rule histinspect documents
FROZE_AFTER_PAIRS = 3       # "froze at step s": >= 3 trailing identical pairs and >= 1/3 of the points
VANISHING_RATIO = 1e-3      # first layer's weight-gradient std <= 1e-3 * last layer's
SMALL_UPDATES = 1e-5        # every update's rms <= 1e-5 * the weights' rms (runs that log a learning rate)
DEPTH_EXPLODING_RATIO = 1e3  # first layer's weight-gradient std >= 1e3 * last layer's
PARAM_ROLES = ("weight", "bias")
SPREAD_ROLES = ("weight", "bias", "gradient")

RUNS = {}


def run(name, writer, form, fault, description, expect=None, expect_run=()):
    """Register a run. expect: {tag: [flags that must be in its truth]}."""

    def deco(fn):
        RUNS[name] = {
            "fn": fn, "writer": writer, "form": form, "fault": fault, "healthy": fault is None,
            "description": description, "expect": expect or {}, "expect_run": list(expect_run),
        }
        return fn

    return deco


# --------------------------------------------------------------------------
# ground truth
# --------------------------------------------------------------------------

def _num(x):
    """JSON number, or None for NaN/Inf."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class Truth:
    """Per tag and logged step statistics of the exact arrays handed to a writer."""

    def __init__(self, run_name, logdir):
        self.run = run_name
        self.logdir = logdir
        self.tags = {}      # tag -> {"meta": {...}, "steps": [...], "prev": (shape, bytes), "first", "last"}
        self.loss = []      # (step, loss)
        self.notes = []
        self.bins = None    # histogram binning the writer was asked for
        self.lr = []        # (step, learning rate) as logged, for runs that log one
        self.update_max = {}  # parameter tag -> largest rms(update) / rms(weights) over iterations

    def add(self, tag, step, array, role, layer, depth, activation_fn=None, param_role=None):
        import numpy as np

        a = np.array(array, copy=True)
        v = a.astype(np.float64).reshape(-1)
        ent = self.tags.get(tag)
        meta = {"role": role, "layer": layer, "depth": int(depth), "activation_fn": activation_fn}
        if role == "gradient":
            meta["param_role"] = param_role
        if ent is None:
            ent = self.tags[tag] = {"meta": meta, "steps": [], "prev": None, "first": v, "last": v}
        elif ent["meta"] != meta:
            raise RuntimeError("metadata of %s changed: %r -> %r" % (tag, ent["meta"], meta))
        if ent["steps"] and ent["steps"][-1]["step"] >= int(step):
            raise RuntimeError("steps of %s not increasing" % tag)
        fin = np.isfinite(v)
        vf = v[fin]
        n = int(v.size)
        key = (a.shape, str(a.dtype), a.tobytes())
        st = {
            "step": int(step),
            "count": n,
            "zeros": int(np.count_nonzero(v == 0.0)),
            "nonfinite": int(n - int(fin.sum())),
            "mean": _num(vf.mean()) if vf.size else None,
            "std": _num(vf.std()) if vf.size else None,
            "min": _num(vf.min()) if vf.size else None,
            "max": _num(vf.max()) if vf.size else None,
            "sat_low": None,
            "sat_high": None,
            "identical_to_prev": ent["prev"] is not None and ent["prev"] == key,
        }
        st["first_bucket"] = self.first_bucket_share(vf) if role == "activation" else None
        if role == "activation" and activation_fn == "tanh" and n:
            st["sat_low"] = float(np.count_nonzero(v < -SAT_EDGE)) / n
            st["sat_high"] = float(np.count_nonzero(v > SAT_EDGE)) / n
        elif role == "activation" and activation_fn == "sigmoid" and n:
            st["sat_low"] = float(np.count_nonzero(v < 1.0 - SAT_EDGE)) / n
            st["sat_high"] = float(np.count_nonzero(v > SAT_EDGE)) / n
        ent["steps"].append(st)
        ent["prev"] = key
        ent["last"] = v

    def first_bucket_share(self, v):
        """Share of the values in the writer's first bucket when that bucket starts at exactly
        0 and is one of equal-width buckets (numpy bins='auto'; TF2's N buckets from min to
        max), where the zeros share it with the smallest positive values; None where the writer
        keeps zeros apart (bins='tensorflow') or the values do not start at 0."""
        import numpy as np

        if not v.size or float(v.min()) != 0.0 or self.bins == "tensorflow":
            return None
        if self.bins == "auto":
            edges = np.histogram_bin_edges(v, bins="auto")
            if len(edges) < 3:
                return 1.0
            return float(np.count_nonzero(v < edges[1])) / v.size
        k = int(str(self.bins).split()[0])  # "30 buckets": TF2's summary_v2 bucketing
        v32 = v.astype(np.float32)
        width = (v32.max() - v32.min()) / np.float32(k)
        if width == 0:
            return 1.0
        idx = np.minimum(np.floor((v32 - v32.min()) / width), k - 1)
        return float(np.count_nonzero(idx == 0)) / v.size

    def add_loss(self, step, value):
        self.loss.append((int(step), float(value)))

    # ---- rules -----------------------------------------------------------

    @staticmethod
    def tag_flags(ent):
        import numpy as np

        meta, steps = ent["meta"], ent["steps"]
        role = meta["role"]
        first, last = steps[0], steps[-1]
        n = len(steps)
        flags = []
        any_nonfinite = any(s["nonfinite"] > 0 for s in steps)
        frozen = role in PARAM_ROLES and n >= 2 and all(s["identical_to_prev"] for s in steps[1:])
        near = False
        if role in PARAM_ROLES and n >= 2 and not frozen and not any_nonfinite:
            # rms of the element-wise change, not its max: the typical weight's movement (one
            # element moving does not make a layer learn); same statistic as change()["rms"]
            dd = ent["last"] - ent["first"]
            d = float(np.sqrt(np.mean(dd * dd))) if dd.size else 0.0
            # scale: the first step's std; for a constant array (e.g. a 1-value bias) its max |x|
            scale = first["std"] or (float(np.max(np.abs(ent["first"]))) if ent["first"].size else 0.0)
            near = bool(d <= NEAR_FROZEN_REL * scale)
        # "froze at step s": it changed (by more than near_frozen's tolerance), then stayed
        # bit-identical for >= FROZE_AFTER_PAIRS consecutive pairs and >= a third of its points
        froze_at = None
        if role in PARAM_ROLES and n >= 2 and not frozen and not near:
            trailing = 0
            for s in reversed(steps[1:]):
                if not s["identical_to_prev"]:
                    break
                trailing += 1
            if trailing >= FROZE_AFTER_PAIRS and 3 * (trailing + 1) >= n:
                froze_at = steps[n - 1 - trailing]["step"]
        still = frozen or near  # frozen from the first step on (never trained) or near_frozen
        frozen = frozen or froze_at is not None
        if frozen:
            flags.append("frozen")
        if near:
            flags.append("near_frozen")
        if any_nonfinite:
            flags.append("nonfinite")
        if role in SPREAD_ROLES and n >= 2 and not any_nonfinite and first["std"]:
            if last["std"] >= EXPLODING_RATIO * first["std"]:
                flags.append("exploding")
            if last["std"] <= COLLAPSED_RATIO * first["std"]:
                flags.append("collapsed")
        if last["count"]:
            zf = last["zeros"] / last["count"]
            # dead where the writer keeps zeros apart; else what its buckets prove: the first
            # of equal-width buckets from 0 holds >= the threshold (possibly_dead)
            if (role == "activation" and meta["activation_fn"] == "relu" and zf >= DEAD_ACT_ZEROS
                    and last.get("first_bucket") is None):
                flags.append("dead")
            if role == "activation" and (last.get("first_bucket") or 0.0) >= DEAD_ACT_ZEROS:
                flags.append("possibly_dead")
            if role == "gradient" and zf >= DEAD_GRAD_ZEROS:
                flags.append("dead")
        if (role == "activation" and meta["activation_fn"] in ("tanh", "sigmoid")
                and last["count"] >= SATURATED_MIN_COUNT
                and (last["sat_low"] + last["sat_high"]) >= SATURATED_FRAC):
            flags.append("saturated")
        if role in PARAM_ROLES and still:
            flags.append("still_at_init")
        return flags

    @staticmethod
    def change(ent):
        """Element-wise change first -> last logged step, relative to the first step's std
        (parameters only: an activation's elements are different samples at each step)."""
        import numpy as np

        if ent["meta"]["role"] not in PARAM_ROLES or len(ent["steps"]) < 2:
            return None
        d = ent["last"] - ent["first"]
        if d.size == 0 or not np.all(np.isfinite(d)):
            return None
        sd = ent["steps"][0]["std"]
        out = {"max_abs": _num(np.max(np.abs(d))), "rms": _num(np.sqrt(np.mean(d * d)))}
        out["rms_over_first_std"] = _num(out["rms"] / sd) if sd else None
        return out

    def run_flags(self):
        per_depth = {}
        for ent in self.tags.values():
            m = ent["meta"]
            if m["role"] == "gradient" and m.get("param_role") == "weight":
                s = ent["steps"][-1]["std"]
                if s is None:
                    continue
                per_depth[m["depth"]] = max(per_depth.get(m["depth"], 0.0), s)
        if len(per_depth) < 4:
            return [], None
        lo, hi = min(per_depth), max(per_depth)
        first, last = per_depth[lo], per_depth[hi]
        info = {"first_depth": lo, "last_depth": hi, "first_grad_std": first, "last_grad_std": last,
                "ratio": (first / last) if last > 0 else None}
        flags = []
        if last > 0 and first <= VANISHING_RATIO * last:
            flags.append("vanishing")
        if first > 0 and first >= DEPTH_EXPLODING_RATIO * last:
            flags.append("exploding")
        return flags, info

    def small_updates(self, tag, ent):
        """small_updates where its evidence is logged: a learning rate, and the parameter's
        gradient unless that rate is 0 at every logged step. The truth is the largest measured
        update (torch loops measure every optimizer step); without a measurement, a parameter
        that is bit-identical at every logged step under a rate of 0 moved by 0."""
        if ent["meta"]["role"] not in PARAM_ROLES or not self.lr:
            return False
        lr_max = max(v for _, v in self.lr)
        ratio = self.update_max.get(tag)
        steps = ent["steps"]
        if ratio is None and lr_max == 0 and all(s["identical_to_prev"] for s in steps[1:]):
            ratio = 0.0
        evidence = lr_max == 0 or (tag + "/grad") in self.tags
        return ratio is not None and evidence and ratio <= SMALL_UPDATES

    def dump(self, spec, writer_version, extra=None):
        tags = {}
        roles = set()
        for tag in sorted(self.tags):
            ent = self.tags[tag]
            roles.add(ent["meta"]["role"])
            d = dict(ent["meta"])
            d["truth"] = self.tag_flags(ent)
            if self.small_updates(tag, ent):
                d["truth"].append("small_updates")
            if tag in self.update_max:
                d["update_ratio_max"] = _num(self.update_max[tag])
            d["change"] = self.change(ent)
            d["steps"] = ent["steps"]
            tags[tag] = d
        run_truth, depth_info = self.run_flags()
        doc = {
            "run": self.run,
            "writer": spec["writer"],
            "writer_version": writer_version,
            "form": spec["form"],
            "bins": self.bins,
            "healthy": spec["healthy"],
            "fault": spec["fault"],
            "description": spec["description"],
            "logged": {"weights": bool(roles & {"weight", "bias"}), "gradients": "gradient" in roles,
                       "activations": "activation" in roles},
            "run_truth": run_truth,
            "depth_gradients": depth_info,
            "loss": [{"step": s, "value": _num(v)} for s, v in self.loss],
            "learning_rate": [{"step": s, "value": _num(v)} for s, v in self.lr],
            "notes": self.notes,
        }
        if extra:
            doc.update(extra)
        doc["tags"] = tags
        write_truth(os.path.join(self.logdir, "truth.json"), doc)


def write_truth(path, doc):
    """Indented JSON, but each per-step object on one line (keeps the files small)."""
    placeholders = {}
    d = dict(doc)
    d["tags"] = {}
    for tag, t in doc["tags"].items():
        t = dict(t)
        steps = []
        for s in t["steps"]:
            key = "@@STEP%d@@" % len(placeholders)
            placeholders[key] = json.dumps(s, allow_nan=False, separators=(", ", ": "))
            steps.append(key)
        t["steps"] = steps
        d["tags"][tag] = t
    text = json.dumps(d, indent=1, allow_nan=False)
    for key, val in placeholders.items():
        text = text.replace('"%s"' % key, val, 1)
    with open(path, "w") as fh:
        fh.write(text + "\n")


def fresh_dir(path):
    if os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)


# --------------------------------------------------------------------------
# torch / tensorboardX
# --------------------------------------------------------------------------

def torch_setup(seed):
    import numpy as np
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    return np.random.default_rng(seed)


def make_writer(kind, logdir):
    if kind == "torch":
        import torch
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(logdir), torch.__version__
    import tensorboardX

    return tensorboardX.SummaryWriter(logdir), tensorboardX.__version__


class TorchMLP:
    """Factory for an MLP with modules fc1..fcN and activation modules act1..actN-1."""

    @staticmethod
    def build(sizes, act="relu", last_act=None):
        import torch.nn as nn

        acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}

        class MLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.n = len(sizes) - 1
                for i in range(self.n):
                    setattr(self, "fc%d" % (i + 1), nn.Linear(sizes[i], sizes[i + 1]))
                    a = act if i < self.n - 1 else last_act
                    if a is not None:
                        setattr(self, "act%d" % (i + 1), acts[a]())

            def forward(self, x):
                for i in range(1, self.n + 1):
                    x = getattr(self, "fc%d" % i)(x)
                    if hasattr(self, "act%d" % i):
                        x = getattr(self, "act%d" % i)(x)
                return x

        m = MLP()
        layers = {}
        hooks = {}
        for i in range(1, m.n + 1):
            a = act if i < m.n else last_act
            layers["fc%d" % i] = (i - 1, a)
            hooks["fc%d" % i] = getattr(m, "act%d" % i) if a is not None else getattr(m, "fc%d" % i)
        return m, layers, hooks


def layer_of(name, layers):
    """(module path, depth, activation_fn) of a parameter / tag name."""
    module = name.rsplit(".", 1)[0] if "." in name else name
    best = None
    for key in layers:
        if module == key or module.startswith(key + "."):
            if best is None or len(key) > len(best):
                best = key
    if best is None:
        raise KeyError(name)
    depth, fn = layers[best]
    return module, depth, fn


def param_role(name):
    last = name.rsplit(".", 1)[-1]
    return "bias" if "bias" in last else "weight"


class TeacherData:
    """Fresh random batches from a fixed random teacher network (regression or classes)."""

    def __init__(self, seed, d_in, d_out=1, hidden=16, noise=0.05, classes=False, scale=1.0):
        import numpy as np

        self.rng = np.random.default_rng(seed)
        r = np.random.default_rng(seed + 1000)
        self.A = r.normal(0, 1.0 / math.sqrt(d_in), (d_in, hidden))
        self.B = r.normal(0, 1.0 / math.sqrt(hidden), (hidden, d_out))
        self.d_in, self.noise, self.classes, self.scale = d_in, noise, classes, scale

    def batch(self, n):
        import numpy as np

        x = self.rng.normal(0, 1, (n, self.d_in))
        t = np.tanh(x @ self.A) @ self.B
        x = (x * self.scale).astype(np.float32)
        if self.classes:
            return x, np.argmax(t, axis=1).astype(np.int64)
        y = t + self.noise * self.rng.normal(0, 1, t.shape)
        return x, y.astype(np.float32)


def torch_loop(truth, writer, *, model, layers, hooks, opt, loss_fn, batch_fn, n_logs, log_every,
               bins="auto", log_grads=True, log_acts=True, zero_grad=None, log_after_step=False,
               param_filter=None, before_iter=None, log_lr=False):
    """The user's loop: forward, backward, every log_every iterations log the parameters
    (before the optimizer step, so step 0 is the init), their gradients and the hooked
    activations of this forward pass, then step. A tag is recorded in the truth only after
    the writer accepted it. log_after_step: the other common order (step, then log: step 0
    is after the first update). before_iter(it): called at the start of every iteration (a
    schedule in the user's loop). log_lr: log the learning rate as scalar `lr` at each log
    and measure every update (rms of the change over rms of the weights, per parameter).
    Returns the exception that ended the run, if any."""
    import numpy as np
    import torch

    acts = {}

    def hook_for(tag):
        def h(_m, _inp, out):
            if isinstance(out, tuple):
                out = out[0]
            acts[tag] = out.detach().clone()
        return h

    truth.bins = bins
    handles = [mod.register_forward_hook(hook_for(name)) for name, mod in hooks.items()] if log_acts else []
    iters = (n_logs - 1) * log_every + 1
    window = []
    ended = None

    def step():
        if not log_lr:
            return opt.step()
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        opt.step()
        for n, p in model.named_parameters():
            if param_filter is not None and not param_filter(n):
                continue
            w = float(before[n].double().pow(2).mean().sqrt())
            d = float((p.detach().double() - before[n].double()).pow(2).mean().sqrt())
            if w > 0:
                truth.update_max[n] = max(truth.update_max.get(n, 0.0), d / w)
    try:
        for it in range(iters):
            if before_iter is not None:
                before_iter(it)
            x, y = batch_fn(it)
            out = model(torch.from_numpy(x))
            loss = loss_fn(out, torch.from_numpy(y))
            (zero_grad or opt.zero_grad)()
            loss.backward()
            lv = float(loss.detach())
            window.append(lv)
            if log_after_step:
                step()
            if it % log_every == 0:
                for name, p in model.named_parameters():
                    if param_filter is not None and not param_filter(name):
                        continue
                    mod, depth, fn = layer_of(name, layers)
                    writer.add_histogram(name, p.detach(), it, bins=bins)
                    truth.add(name, it, p.detach().numpy(), param_role(name), mod, depth, fn)
                    if log_grads and p.grad is not None:
                        writer.add_histogram(name + "/grad", p.grad, it, bins=bins)
                        truth.add(name + "/grad", it, p.grad.numpy(), "gradient", mod, depth, fn,
                                  param_role=param_role(name))
                for tag in hooks if log_acts else ():
                    mod, depth, fn = layer_of(tag, layers)
                    a = acts[tag]
                    writer.add_histogram(tag + "/activations", a, it, bins=bins)
                    truth.add(tag + "/activations", it, a.numpy(), "activation", mod, depth, fn)
                mean_loss = float(np.mean(window))
                writer.add_scalar("loss", mean_loss, it)
                truth.add_loss(it, mean_loss)
                if log_lr:
                    lr = float(opt.param_groups[0]["lr"])
                    writer.add_scalar("lr", lr, it)
                    truth.lr.append((it, lr))
                window = []
            if not log_after_step:
                step()
    except ValueError as e:  # the writer refusing a tensor ends the user's script
        ended = "%s: %s (iteration %d)" % (type(e).__name__, e, it)
        truth.notes.append("the run ended with " + ended)
    finally:
        for h in handles:
            h.remove()
        writer.close()
    return ended


def torch_mlp_run(truth, logdir, *, writer_kind="torch", seed, sizes, act="relu", opt_fn, n_logs=8,
                  log_every=20, bins="auto", batch=64, init=None, data=None, **kw):
    import torch

    torch_setup(seed)
    model, layers, hooks = TorchMLP.build(sizes, act=act)
    if init is not None:
        init(model)
    data = data or TeacherData(seed, sizes[0], sizes[-1])
    opt = opt_fn(model)
    writer, version = make_writer(writer_kind, logdir)
    ended = torch_loop(truth, writer, model=model, layers=layers, hooks=hooks, opt=opt,
                       loss_fn=torch.nn.functional.mse_loss, batch_fn=lambda it: data.batch(batch),
                       n_logs=n_logs, log_every=log_every, bins=bins, **kw)
    return version, {"ended_by": ended}


# --------------------------------------------------------------------------
# TF2 (tf.summary + GradientTape) and Keras (TensorBoard callback)
# --------------------------------------------------------------------------

def tf_setup(seed):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:
        pass
    return tf, keras


def tf2_loop(truth, logdir, *, layers, opt, loss_fn, batch_fn, n_logs, log_every,
             names=None, log_grads=True, log_acts=True, buckets=None):
    """layers: [(name, keras Dense layer, activation_fn)], called in order inside a
    GradientTape. Logs `<name>/kernel`, `<name>/bias`, `<name>/kernel/grad`,
    `<name>/bias/grad`, `<name>/activations` with tf.summary.histogram (before the
    optimizer step), and a `loss` scalar. names: optional {"kernel": ..., "bias": ...}
    suffix overrides."""
    import numpy as np
    import tensorflow as tf

    names = names or {"kernel": "kernel", "bias": "bias"}
    truth.bins = "%d buckets" % (buckets or 30)
    x0, _ = batch_fn(-1)
    h = tf.constant(x0[:1])
    for _, layer, _ in layers:  # build
        h = layer(h)
    writer = tf.summary.create_file_writer(logdir)
    iters = (n_logs - 1) * log_every + 1
    window = []
    hist_kw = {} if buckets is None else {"buckets": buckets}
    with writer.as_default():
        for it in range(iters):
            x, y = batch_fn(it)
            with tf.GradientTape() as tape:
                h = tf.constant(x)
                outs = []
                for _, layer, _ in layers:
                    h = layer(h)
                    outs.append(h)
                loss = loss_fn(tf.constant(y), h)
            variables = [v for _, layer, _ in layers for v in layer.trainable_variables]
            grads = tape.gradient(loss, variables)
            gmap = {id(v): g for v, g in zip(variables, grads)}
            window.append(float(loss))
            if it % log_every == 0:
                for depth, (name, layer, fn) in enumerate(layers):
                    for v in layer.weights:
                        kind = "kernel" if v.name.endswith("kernel") else "bias"
                        role = "weight" if kind == "kernel" else "bias"
                        tag = "%s/%s" % (name, names[kind])
                        val = v.numpy()
                        tf.summary.histogram(tag, val, step=it, **hist_kw)
                        truth.add(tag, it, val, role, name, depth, fn)
                        g = gmap.get(id(v))
                        if log_grads and g is not None:
                            gv = g.numpy()
                            tf.summary.histogram(tag + "/grad", gv, step=it, **hist_kw)
                            truth.add(tag + "/grad", it, gv, "gradient", name, depth, fn, param_role=role)
                if log_acts:
                    for depth, ((name, _, fn), a) in enumerate(zip(layers, outs)):
                        av = a.numpy()
                        tf.summary.histogram(name + "/activations", av, step=it, **hist_kw)
                        truth.add(name + "/activations", it, av, "activation", name, depth, fn)
                ml = float(np.mean(window))
                tf.summary.scalar("loss", ml, step=it)
                truth.add_loss(it, ml)
                window = []
            opt.apply_gradients(zip(grads, variables))
    writer.flush()
    writer.close()
    return tf.__version__


def keras_fit(truth, logdir, *, model, x, y, epochs, batch_size, fn_of_layer):
    """model.fit with keras.callbacks.TensorBoard(histogram_freq=1). A callback placed
    before the TensorBoard callback records the exact arrays it logs at each epoch end."""
    import numpy as np
    import keras
    import tensorflow as tf

    truth.bins = "30 buckets"
    weighted = [l for l in model.layers if l.weights]
    depth_of = {l.name: i for i, l in enumerate(weighted)}

    class Capture(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            for layer in self.model.layers:
                for w in layer.weights:
                    tag = w.path.replace(":", "_") + "/histogram"
                    role = "weight" if w.path.endswith("kernel") else "bias"
                    truth.add(tag, epoch, np.asarray(w.numpy()), role, layer.name,
                              depth_of[layer.name], fn_of_layer.get(layer.name))
            truth.add_loss(epoch, logs["loss"])
            # what the TensorBoard callback logs as epoch_learning_rate
            truth.lr.append((epoch, float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))))

    tb = keras.callbacks.TensorBoard(log_dir=logdir, histogram_freq=1, write_graph=False,
                                     profile_batch=0, update_freq="epoch")
    model.fit(x, y, batch_size=batch_size, epochs=epochs, callbacks=[Capture(), tb], verbose=0,
              shuffle=True)
    return "keras %s / tensorflow %s" % (keras.__version__, tf.__version__)


# ==========================================================================
# the runs
# ==========================================================================

# ---- model / data helpers used by several runs -------------------------------

def relu_bias(value):
    """init: hidden ReLU layers' biases set to a constant (the usual 'small positive bias for
    ReLU' advice keeps a healthy layer clearly below 50 % exact zeros)."""
    def init(model):
        import torch
        with torch.no_grad():
            for i in range(1, model.n):
                getattr(model, "fc%d" % i).bias.fill_(value)
    return init


def keras_dense_model(sizes, act, names=None, trainable=None, kernel_init="glorot_uniform"):
    import keras

    inputs = keras.Input(shape=(sizes[0],), name="features")
    h = inputs
    fns = {}
    n = len(sizes) - 1
    for i in range(n):
        name = (names or ["dense%d" % (j + 1) for j in range(n)])[i]
        a = act if i < n - 1 else None
        fns[name] = a
        h = keras.layers.Dense(sizes[i + 1], activation=a, name=name, kernel_initializer=kernel_init,
                               trainable=True if trainable is None else trainable[i])(h)
    return keras.Model(inputs, h), fns


def tf2_dense_layers(keras, sizes, act, last_act=None, kernel_init="glorot_uniform", use_bias=True,
                     names=None, hidden_bias=0.0):
    n = len(sizes) - 1
    out = []
    for i in range(n):
        a = act if i < n - 1 else last_act
        name = (names or ["dense%d" % (j + 1) for j in range(n)])[i]
        b = keras.initializers.Constant(hidden_bias if i < n - 1 else 0.0)
        out.append((name, keras.layers.Dense(sizes[i + 1], activation=a, name=name, use_bias=use_bias,
                                             kernel_initializer=kernel_init, bias_initializer=b), a))
    return out


def mse(y, p):
    import tensorflow as tf
    return tf.reduce_mean(tf.square(y - p))


# ---- healthy controls -----------------------------------------------------

@run("torch_mlp_adam", "torch", "histo", None,
     "ReLU MLP 16-32-32-1 regressing a random teacher, Adam lr 3e-3 (logged as scalar `lr`), hidden "
     "biases 0.1, bins='auto'.")
def _(truth, logdir):
    import torch
    return torch_mlp_run(truth, logdir, seed=101, sizes=[16, 32, 32, 1], init=relu_bias(0.1), log_lr=True,
                         opt_fn=lambda m: torch.optim.Adam(m.parameters(), lr=3e-3))


@run("torch_mlp_sgd", "torch", "histo", None,
     "ReLU MLP 16-64-32-1 regressing a random teacher, plain SGD lr 0.05 (logged as scalar `lr`), "
     "hidden biases 0.1, bins='auto'.")
def _(truth, logdir):
    import torch
    return torch_mlp_run(truth, logdir, seed=102, sizes=[16, 64, 32, 1], init=relu_bias(0.1), log_lr=True,
                         opt_fn=lambda m: torch.optim.SGD(m.parameters(), lr=0.05))


@run("torch_sgd_cosine_to_zero", "torch", "histo", None,
     "ReLU MLP 16-32-32-1, SGD with momentum 0.9 whose learning rate follows a cosine from 0.02 down to "
     "exactly 0 at the last logged step (logged as scalar `lr`): the last learning rate is 0, the "
     "largest 0.02; bins='auto'.")
def _(truth, logdir):
    import torch
    n_logs, log_every = 8, 20
    iters = (n_logs - 1) * log_every + 1
    holder = {}

    def opt_fn(m):
        holder["opt"] = torch.optim.SGD(m.parameters(), lr=0.02, momentum=0.9)
        return holder["opt"]

    def before_iter(it):
        for g in holder["opt"].param_groups:
            g["lr"] = 0.02 * 0.5 * (1 + math.cos(math.pi * it / (iters - 1)))
    return torch_mlp_run(truth, logdir, seed=103, sizes=[16, 32, 32, 1], init=relu_bias(0.1), log_lr=True,
                         n_logs=n_logs, log_every=log_every, opt_fn=opt_fn, before_iter=before_iter)


class BlobImages:
    """12x12 noise images with a bright 3x3 blob; the class is the blob's quadrant."""

    def __init__(self, seed):
        import numpy as np
        self.rng = np.random.default_rng(seed)

    def batch(self, n):
        import numpy as np
        x = self.rng.normal(0, 0.6, (n, 1, 12, 12)).astype(np.float32)
        y = self.rng.integers(0, 4, n)
        for i in range(n):
            r0 = 6 * (y[i] // 2) + self.rng.integers(0, 4)
            c0 = 6 * (y[i] % 2) + self.rng.integers(0, 4)
            x[i, 0, r0:r0 + 3, c0:c0 + 3] += 0.8
        return x, y.astype(np.int64)


@run("torch_cnn", "torch", "histo", None,
     "conv(1->8,3x3)+ReLU+maxpool, conv(8->16)+ReLU+maxpool, linear 144->4 on 12x12 blob images "
     "(noise sd 0.6, blob +0.8, class = quadrant), Adam lr 1e-3, bins='auto'; activations hooked after each pool.")
def _(truth, logdir):
    import torch
    import torch.nn as nn

    torch_setup(103)

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
            self.pool1 = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
            self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
            self.pool2 = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
            self.fc = nn.Linear(144, 4)

        def forward(self, x):
            x = self.pool1(self.conv1(x))
            x = self.pool2(self.conv2(x))
            return self.fc(x.flatten(1))

    m = CNN()
    data = BlobImages(103)
    layers = {"conv1": (0, "relu"), "pool1": (0, "relu"), "conv2": (1, "relu"), "pool2": (1, "relu"),
              "fc": (2, None)}
    writer, version = make_writer("torch", logdir)
    torch_loop(truth, writer, model=m, layers=layers, hooks={"pool1": m.pool1, "pool2": m.pool2, "fc": m.fc},
               opt=torch.optim.Adam(m.parameters(), lr=1e-3), loss_fn=nn.functional.cross_entropy,
               batch_fn=lambda it: data.batch(32), n_logs=8, log_every=20)
    return version, {}


class SeqData:
    """x: (n, T, d) standard normal; y = a fixed linear read-out of the running mean plus the
    last step (needs memory)."""

    def __init__(self, seed, T, d, kind="mean_last"):
        import numpy as np
        self.rng = np.random.default_rng(seed)
        self.T, self.d, self.kind = T, d, kind

    def batch(self, n):
        import numpy as np
        x = self.rng.normal(0, 1, (n, self.T, self.d))
        if self.kind == "max":
            y = x[:, :, 0].max(axis=1, keepdims=True) - 1.0
        else:
            y = 0.5 * x[:, :, 0].mean(axis=1, keepdims=True) * math.sqrt(self.T) + 0.5 * x[:, -1, 1:2]
        return x.astype(np.float32), y.astype(np.float32)


@run("torch_gru", "torch", "histo", None,
     "GRU(4->16) over 10 steps + linear head, sequence regression, Adam lr 1e-2, bins='auto'.")
def _(truth, logdir):
    import torch
    import torch.nn as nn

    torch_setup(104)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(4, 16, batch_first=True)
            self.head = nn.Linear(16, 1)

        def forward(self, x):
            out, _ = self.gru(x)
            return self.head(out[:, -1])

    m = Net()
    data = SeqData(104, 10, 4)
    writer, version = make_writer("torch", logdir)
    torch_loop(truth, writer, model=m, layers={"gru": (0, None), "head": (1, None)},
               hooks={"gru": m.gru, "head": m.head}, opt=torch.optim.Adam(m.parameters(), lr=1e-2),
               loss_fn=nn.functional.mse_loss, batch_fn=lambda it: data.batch(32), n_logs=8, log_every=20)
    return version, {}


@run("torch_lstm", "torch", "histo", None,
     "LSTM(4->16) over 10 steps + linear head, sequence regression, Adam lr 1e-2, bins='auto'.")
def _(truth, logdir):
    import torch
    import torch.nn as nn

    torch_setup(110)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 16, batch_first=True)
            self.head = nn.Linear(16, 1)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    m = Net()
    data = SeqData(110, 10, 4)
    writer, version = make_writer("torch", logdir)
    torch_loop(truth, writer, model=m, layers={"lstm": (0, None), "head": (1, None)},
               hooks={"lstm": m.lstm, "head": m.head}, opt=torch.optim.Adam(m.parameters(), lr=1e-2),
               loss_fn=nn.functional.mse_loss, batch_fn=lambda it: data.batch(32), n_logs=8, log_every=20)
    return version, {}


@run("torch_transformer", "torch", "histo", None,
     "linear 8->16, one nn.TransformerEncoderLayer(d_model 16, 2 heads, ff 32, GELU, no dropout), "
     "mean-pool, linear head; regress the max of a feature over 6 tokens; Adam lr 3e-3, bins='auto'.")
def _(truth, logdir):
    import torch
    import torch.nn as nn

    torch_setup(105)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inproj = nn.Linear(8, 16)
            self.encoder = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0,
                                                      activation="gelu", batch_first=True)
            self.head = nn.Linear(16, 1)

        def forward(self, x):
            return self.head(self.encoder(self.inproj(x)).mean(dim=1))

    m = Net()
    data = SeqData(105, 6, 8, kind="max")
    writer, version = make_writer("torch", logdir)
    torch_loop(truth, writer, model=m, layers={"inproj": (0, None), "encoder": (1, None), "head": (2, None)},
               hooks={"inproj": m.inproj, "encoder": m.encoder, "head": m.head},
               opt=torch.optim.Adam(m.parameters(), lr=3e-3), loss_fn=nn.functional.mse_loss,
               batch_fn=lambda it: data.batch(32), n_logs=8, log_every=20)
    return version, {}


@run("tbx_mlp", "tensorboardX", "histo", None,
     "tanh MLP 16-32-16-1 regressing a random teacher, SGD momentum 0.9 lr 0.01, tensorboardX bins='auto'.")
def _(truth, logdir):
    import torch
    return torch_mlp_run(truth, logdir, writer_kind="tensorboardX", seed=106, sizes=[16, 32, 16, 1],
                         act="tanh", opt_fn=lambda m: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9))


@run("keras_mlp", "keras", "tensor", None,
     "keras Dense 16-32(relu)-32(relu)-1 regressing a random teacher, Adam lr 3e-3, 8 epochs of 16 batches, "
     "TensorBoard(histogram_freq=1).")
def _(truth, logdir):
    tf, keras = tf_setup(107)
    x, y = TeacherData(107, 16).batch(512)
    model, fns = keras_dense_model([16, 32, 32, 1], "relu")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    return keras_fit(truth, logdir, model=model, x=x, y=y, epochs=8, batch_size=32, fn_of_layer=fns), {}


@run("tf2_mlp", "tf2", "tensor", None,
     "TF2 GradientTape loop, Dense 16-32(relu)-32(relu)-1 (hidden biases 0.2) regressing a random teacher, Adam lr 3e-3, "
     "tf.summary.histogram of kernels, biases, their gradients and the layer outputs.")
def _(truth, logdir):
    tf, keras = tf_setup(108)
    data = TeacherData(108, 16)
    layers = tf2_dense_layers(keras, [16, 32, 32, 1], "relu", hidden_bias=0.2)
    version = tf2_loop(truth, logdir, layers=layers, opt=keras.optimizers.Adam(3e-3), loss_fn=mse,
                       batch_fn=lambda it: data.batch(64), n_logs=8, log_every=20)
    return version, {}


@run("tf2_so42315202_control", "tf2", "tensor", None,
     "Stack Overflow 42315202's network done right: 60-200-32-32-4, tanh, no biases, Glorot-uniform, "
     "softmax cross-entropy on teacher labels, Adam lr 5e-3 over ALL layers (every layer learns).")
def _(truth, logdir):
    tf, keras = tf_setup(109)
    data = TeacherData(109, 60, d_out=4, hidden=32, classes=True, scale=0.5)
    layers = tf2_dense_layers(keras, [60, 200, 32, 32, 4], "tanh", last_act="softmax", use_bias=False,
                              names=["layer1", "layer2", "layer3", "layer4"])
    layers[-1] = (layers[-1][0], layers[-1][1], None)  # softmax: no truth rule
    loss = lambda y, p: tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, p))
    version = tf2_loop(truth, logdir, layers=layers, opt=keras.optimizers.Adam(5e-3), loss_fn=loss,
                       batch_fn=lambda it: data.batch(32), n_logs=8, log_every=20,
                       names={"kernel": "weights", "bias": "biases"})
    return version, {}


# ---- frozen ------------------------------------------------------------------

@run("torch_frozen_requires_grad", "torch", "histo", "frozen_requires_grad",
     "ReLU MLP 16-32-32-1, fc1 and fc2 frozen with requires_grad_(False) (so they have no .grad and "
     "no /grad tags), Adam lr 3e-3 over all parameters, bins='auto'.",
     expect={t: ["frozen", "still_at_init"] for t in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")})
def _(truth, logdir):
    import torch

    def init(m):
        relu_bias(0.1)(m)
        m.fc1.requires_grad_(False)
        m.fc2.requires_grad_(False)
    return torch_mlp_run(truth, logdir, seed=111, sizes=[16, 32, 32, 1], init=init,
                         opt_fn=lambda m: torch.optim.Adam(m.parameters(), lr=3e-3))


@run("tbx_frozen_optimizer_subset", "tensorboardX", "histo", "frozen_optimizer_subset",
     "ReLU MLP 8-32-1 whose SGD optimizer was given only fc2.parameters(): fc1 gets gradients "
     "(model.zero_grad() each step) but never moves; tensorboardX DEFAULT bins (bins='tensorflow').",
     expect={t: ["frozen", "still_at_init"] for t in ("fc1.weight", "fc1.bias")})
def _(truth, logdir):
    import torch

    holder = {}

    def opt_fn(m):
        holder["m"] = m
        return torch.optim.SGD(m.fc2.parameters(), lr=0.05)
    return torch_mlp_run(truth, logdir, writer_kind="tensorboardX", seed=112, sizes=[8, 32, 1],
                         init=relu_bias(0.1), opt_fn=opt_fn, bins="tensorflow", n_logs=6,
                         zero_grad=lambda: holder["m"].zero_grad())


@run("keras_frozen_trainable", "keras", "tensor", "frozen_trainable_false",
     "keras Dense 16-32-32-16-1 (relu) with dense1 and dense2 trainable=False, Adam lr 3e-3, "
     "8 epochs, TensorBoard(histogram_freq=1).",
     expect={t: ["frozen", "still_at_init"] for t in ("dense1/kernel/histogram", "dense1/bias/histogram",
                                                       "dense2/kernel/histogram", "dense2/bias/histogram")})
def _(truth, logdir):
    tf, keras = tf_setup(113)
    x, y = TeacherData(113, 16).batch(512)
    model, fns = keras_dense_model([16, 32, 32, 16, 1], "relu", trainable=[False, False, True, True])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    return keras_fit(truth, logdir, model=model, x=x, y=y, epochs=8, batch_size=32, fn_of_layer=fns), {}


@run("keras_lr0", "keras", "tensor", "lr_zero",
     "keras Dense 16-32-32-1 (relu) compiled with Adam(learning_rate=0.0): every layer frozen; "
     "8 epochs, TensorBoard(histogram_freq=1).",
     expect={t: ["frozen", "still_at_init"] for t in ("dense1/kernel/histogram", "dense2/kernel/histogram",
                                                       "dense3/kernel/histogram")})
def _(truth, logdir):
    tf, keras = tf_setup(114)
    x, y = TeacherData(114, 16).batch(512)
    model, fns = keras_dense_model([16, 32, 32, 1], "relu")
    model.compile(optimizer=keras.optimizers.Adam(0.0), loss="mse")
    return keras_fit(truth, logdir, model=model, x=x, y=y, epochs=8, batch_size=32, fn_of_layer=fns), {}


@run("torch_sgd_lr0", "torch", "histo", "lr_zero",
     "ReLU MLP 16-32-32-1 trained with SGD(lr=0.0), logged as scalar `lr`: every parameter frozen while "
     "gradients and activations keep changing; bins='auto'.",
     expect={t: ["frozen", "still_at_init", "small_updates"] for t in ("fc1.weight", "fc2.weight", "fc3.weight")})
def _(truth, logdir):
    import torch
    return torch_mlp_run(truth, logdir, seed=115, sizes=[16, 32, 32, 1], init=relu_bias(0.1), log_lr=True,
                         opt_fn=lambda m: torch.optim.SGD(m.parameters(), lr=0.0))


@run("torch_adam_lr1e-9", "torch", "histo", "lr_tiny",
     "ReLU MLP 16-32-32-1 trained with Adam(lr=1e-9) for 70 steps: parameters move by at most ~7e-8 "
     "(float32 rounding leaves most entries bit-identical); the learning rate is logged as scalar `lr`; "
     "bins='auto'.",
     expect={t: ["near_frozen", "still_at_init", "small_updates"] for t in ("fc1.weight", "fc2.weight", "fc3.weight")})
def _(truth, logdir):
    import torch
    return torch_mlp_run(truth, logdir, seed=116, sizes=[16, 32, 32, 1], init=relu_bias(0.1), log_every=10,
                         log_lr=True, opt_fn=lambda m: torch.optim.Adam(m.parameters(), lr=1e-9))


@run("torch_frozen_mid_training", "torch", "histo", "frozen_mid_training",
     "ReLU MLP 16-32-32-1, plain SGD lr 0.05, hidden biases 0.1: trains normally, then after the 4th of "
     "8 logs (iteration 60) and its update fc1.weight and fc1.bias get requires_grad_(False) (they stay "
     "in the optimizer; optimizer.zero_grad() sets their .grad to None, so SGD skips them): fc1 is "
     "bit-identical at steps 80-140 and its /grad tags end at step 60; bins='auto'.",
     expect={t: ["frozen"] for t in ("fc1.weight", "fc1.bias")})
def _(truth, logdir):
    import torch

    log_every = 20
    freeze_from = 3 * log_every + 1  # the iteration after the 4th log (iteration 60) and its update
    holder = {}

    def init(m):
        relu_bias(0.1)(m)
        holder["m"] = m

    def before_iter(it):
        if it == freeze_from:
            holder["m"].fc1.weight.requires_grad_(False)
            holder["m"].fc1.bias.requires_grad_(False)
    truth.notes.append("fc1.weight and fc1.bias set to requires_grad_(False) at the start of iteration %d"
                       % freeze_from)
    return torch_mlp_run(truth, logdir, seed=119, sizes=[16, 32, 32, 1], init=init, log_every=log_every,
                         opt_fn=lambda m: torch.optim.SGD(m.parameters(), lr=0.05), before_iter=before_iter)


# ---- dead ReLU -----------------------------------------------------------------

@run("torch_dead_relu_init", "torch", "histo", "dead_relu_init",
     "ReLU MLP 16-32-32-1 whose fc2 bias is initialised to -2 standard deviations of its "
     "pre-activation: ~97 % of fc2's ReLU outputs are exactly 0 from step 0 on and stay so; SGD lr 0.05, "
     "torch's DEFAULT bins (bins='tensorflow', which keep 0 in a bucket of its own: the zeros are "
     "counted exactly); 6 logs.",
     expect={"fc2/activations": ["dead"]})
def _(truth, logdir):
    import torch

    data = TeacherData(117, 16)

    def init(m):
        relu_bias(0.1)(m)
        with torch.no_grad():
            x, _ = data.batch(256)
            pre = m.fc2(m.act1(m.fc1(torch.from_numpy(x))))
            m.fc2.bias.fill_(-2.0 * float(pre.std()))
    return torch_mlp_run(truth, logdir, seed=117, sizes=[16, 32, 32, 1], init=init, data=data,
                         bins="tensorflow", n_logs=6,
                         opt_fn=lambda m: torch.optim.SGD(m.parameters(), lr=0.05))


@run("tf2_dead_relu_training", "tf2", "tensor", "dead_relu_training",
     "TF2 GradientTape, Dense 16-64(relu)-64(relu)-1, plain SGD lr 0.05 (too high for targets of scale "
     "10 around 5): large early updates kill most of dense2's ReLU units, whose zero fraction grows "
     "from ~50 % to ~85 % while the loss stalls.",
     expect={"dense2/activations": ["possibly_dead"]})
def _(truth, logdir):
    tf, keras = tf_setup(118)
    base = TeacherData(118, 16)

    def batch(it):
        x, y = base.batch(64)
        return x, 10.0 * y + 5.0
    layers = tf2_dense_layers(keras, [16, 64, 64, 1], "relu")
    version = tf2_loop(truth, logdir, layers=layers, opt=keras.optimizers.SGD(0.05), loss_fn=mse,
                       batch_fn=batch, n_logs=10, log_every=10)
    return version, {}


# ---- exploding / NaN -----------------------------------------------------------

@run("tbx_exploding", "tensorboardX", "histo", "exploding_lr",
     "ReLU MLP 16-32-32-1, SGD lr 1.0 momentum 0.9 without clipping: loss, weights and gradients grow "
     "by orders of magnitude within 14 iterations; stopped before overflow; tensorboardX bins='auto'.",
     expect={"fc1.weight/grad": ["exploding"], "fc2.weight": ["exploding"]})
def _(truth, logdir):
    import torch
    return torch_mlp_run(truth, logdir, writer_kind="tensorboardX", seed=121, sizes=[16, 32, 32, 1],
                         opt_fn=lambda m: torch.optim.SGD(m.parameters(), lr=1.0, momentum=0.9), n_logs=8,
                         log_every=2)


@run("tf2_exploding", "tf2", "tensor", "exploding_lr",
     "TF2 GradientTape, Dense 16-32(tanh)-32(tanh)-1, SGD lr 0.5 momentum 0.9 without clipping: "
     "weights and gradients grow by orders of magnitude within 10 iterations (and the tanh layers "
     "saturate); stopped before overflow.",
     expect={"dense1/kernel/grad": ["exploding"], "dense2/kernel": ["exploding"]})
def _(truth, logdir):
    tf, keras = tf_setup(122)
    data = TeacherData(122, 16)
    layers = tf2_dense_layers(keras, [16, 32, 32, 1], "tanh")
    version = tf2_loop(truth, logdir, layers=layers, opt=keras.optimizers.SGD(1.0, momentum=0.9),
                       loss_fn=mse, batch_fn=lambda it: data.batch(64), n_logs=6, log_every=1)
    return version, {}


@run("torch_nan_corrupt_input", "torch", "histo", "nonfinite",
     "tanh MLP 8-16-1, Adam lr 1e-2, torch DEFAULT bins (bins='auto' refuses NaN), logging after "
     "optimizer.step(); from iteration 40 one sample per batch has feature 3 = log(0) = -inf: fc1's "
     "tanh saturates (finite loss) but fc1.weight/grad gets a NaN column and so does fc1.weight; "
     "at the next logged step every parameter is NaN and add_histogram raises, ending the run.",
     expect={"fc1.weight/grad": ["nonfinite"], "fc1.weight": ["nonfinite"]})
def _(truth, logdir):
    import numpy as np
    import torch
    import torch.nn as nn

    torch_setup(123)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.act1 = nn.Linear(8, 16), nn.Tanh()
            self.fc2 = nn.Linear(16, 1)

        def forward(self, x):
            return self.fc2(self.act1(self.fc1(x)))

    m = Net()
    data = TeacherData(123, 8)

    def batch(it):
        x, y = data.batch(32)
        if it >= 40:
            with np.errstate(divide="ignore"):
                x[0, 3] = np.log(np.float32(0.0))  # -inf: a feature computed as log(0)
        return x, y
    writer, version = make_writer("torch", logdir)
    with np.errstate(invalid="ignore"):
        ended = torch_loop(truth, writer, model=m, layers={"fc1": (0, "tanh"), "fc2": (1, None)},
                           hooks={"fc1": m.act1, "fc2": m.fc2},
                           opt=torch.optim.Adam(m.parameters(), lr=1e-2), loss_fn=nn.functional.mse_loss,
                           batch_fn=batch, n_logs=7, log_every=10, bins="tensorflow", log_after_step=True)
    return version, {"ended_by": ended}


@run("tbx_exploding_to_nan", "tensorboardX", "histo", "exploding_to_nan",
     "ReLU MLP 8-32-1, plain SGD lr 1.0 without clipping, logging every iteration (weights and "
     "gradients only) with tensorboardX DEFAULT bins (bins='auto' refuses Inf/NaN): values blow up "
     "to float32 overflow, partly Inf/NaN gradients and then weights are logged, and the run ends "
     "when add_histogram raises on an all-NaN tensor.",
     expect={"fc1.weight/grad": ["nonfinite"], "fc2.weight": ["exploding"]})
def _(truth, logdir):
    import numpy as np
    import torch
    with np.errstate(over="ignore", invalid="ignore"):
        return torch_mlp_run(truth, logdir, writer_kind="tensorboardX", seed=124, sizes=[8, 32, 1],
                             opt_fn=lambda m: torch.optim.SGD(m.parameters(), lr=1.0), n_logs=12, log_every=1,
                             bins="tensorflow", log_acts=False)


@run("tf2_nan_corrupt_input", "tf2", "tensor", "nonfinite",
     "TF2 GradientTape, Dense 8-16(tanh)-1, Adam lr 1e-2; from iteration 40 one sample per batch has "
     "feature 3 = log(0) = -inf: dense1/kernel/grad gets a NaN column at step 40 and from step 50 on "
     "every weight, gradient and activation is NaN. tf.summary.histogram does not refuse NaN: it "
     "writes buckets with NaN edges and zero counts, so the run goes on to the end.",
     expect={"dense1/kernel/grad": ["nonfinite"], "dense1/kernel": ["nonfinite"]})
def _(truth, logdir):
    import numpy as np
    tf, keras = tf_setup(125)
    data = TeacherData(125, 8)

    def batch(it):
        x, y = data.batch(32)
        if it >= 40:
            with np.errstate(divide="ignore"):
                x[0, 3] = np.log(np.float32(0.0))  # -inf: a feature computed as log(0)
        return x, y
    layers = tf2_dense_layers(keras, [8, 16, 1], "tanh")
    version = tf2_loop(truth, logdir, layers=layers, opt=keras.optimizers.Adam(1e-2), loss_fn=mse,
                       batch_fn=batch, n_logs=7, log_every=10)
    return version, {}


# ---- vanishing ---------------------------------------------------------------

@run("torch_vanishing_sigmoid20", "torch", "histo", "vanishing_gradients",
     "20 sigmoid layers of 16 units + linear head (torch default init), SGD lr 0.1: the first "
     "layer's weight gradient is ~1e-17 of the last layer's, so layers 1-15 do not move; only "
     "'.weight' parameters (and their gradients) are logged, plus activations; bins='auto'.",
     expect_run=["vanishing"])
def _(truth, logdir):
    import torch
    return torch_mlp_run(truth, logdir, seed=131, sizes=[16] * 21 + [1], act="sigmoid", n_logs=6,
                         param_filter=lambda name: name.endswith(".weight"),
                         opt_fn=lambda m: torch.optim.SGD(m.parameters(), lr=0.1))


@run("torch_exploding_depth_tanh24", "torch", "histo", "exploding_gradients_depth",
     "24 tanh layers of 16 units + linear head initialised N(0, 16/fan_in), zero biases: the "
     "chaotic regime of deep tanh networks (Schoenholz et al. 2017), where activations stay bounded "
     "but gradients grow layer by layer on the way back: the first layer's weight gradient is ~1e3 "
     "of the last layer's; SGD lr 1e-6; only '.weight' parameters (and their gradients) are logged, "
     "plus activations; bins='auto'.",
     expect_run=["exploding"])
def _(truth, logdir):
    import torch

    def init(m):
        for name, p in m.named_parameters():
            if name.endswith(".weight"):
                torch.nn.init.normal_(p, 0.0, 4.0 / math.sqrt(p.shape[1]))
            else:
                torch.nn.init.zeros_(p)
    return torch_mlp_run(truth, logdir, seed=133, sizes=[16] * 25 + [1], act="tanh", n_logs=6,
                         log_every=10, init=init, param_filter=lambda name: name.endswith(".weight"),
                         opt_fn=lambda m: torch.optim.SGD(m.parameters(), lr=1e-6))


@run("tbx_vanishing_deep_sigmoid", "tensorboardX", "histo", "vanishing_gradients",
     "10 sigmoid layers of 16 units + linear head (torch default init), SGD lr 0.1, 8 logs: the first "
     "layer's weight gradient is ~1e-8 of the last layer's, so layers 1-5 do not move (frozen or "
     "near_frozen); only '.weight' parameters (and their gradients) are logged, plus activations; "
     "tensorboardX bins='auto'.",
     expect_run=["vanishing"])
def _(truth, logdir):
    import torch
    return torch_mlp_run(truth, logdir, writer_kind="tensorboardX", seed=132, sizes=[16] * 11 + [1],
                         act="sigmoid", param_filter=lambda name: name.endswith(".weight"),
                         opt_fn=lambda m: torch.optim.SGD(m.parameters(), lr=0.1))


# ---- saturation --------------------------------------------------------------

@run("tf2_saturated_tanh", "tf2", "tensor", "saturated_tanh_init",
     "TF2 GradientTape, Dense 32-64(tanh)-32(tanh)-1 with kernels initialised N(0, 1) (far too large): "
     "most tanh outputs sit at -1 or +1; SGD lr 0.01.",
     expect={"dense1/activations": ["saturated"], "dense2/activations": ["saturated"]})
def _(truth, logdir):
    tf, keras = tf_setup(141)
    data = TeacherData(141, 32)
    layers = tf2_dense_layers(keras, [32, 64, 32, 1], "tanh",
                              kernel_init=keras.initializers.RandomNormal(stddev=1.0, seed=141))
    version = tf2_loop(truth, logdir, layers=layers, opt=keras.optimizers.SGD(0.01), loss_fn=mse,
                       batch_fn=lambda it: data.batch(64), n_logs=8, log_every=20)
    return version, {}


@run("tbx_saturated_tanh_inputs", "tensorboardX", "histo", "saturated_tanh_inputs",
     "tanh MLP 16-32-16-1 fed unnormalised inputs (features x 20): fc1's tanh outputs pile up at both "
     "-1 and +1; Adam lr 1e-3, tensorboardX bins='auto'.",
     expect={"fc1/activations": ["saturated"]})
def _(truth, logdir):
    import torch
    return torch_mlp_run(truth, logdir, writer_kind="tensorboardX", seed=142, sizes=[16, 32, 16, 1], act="tanh",
                         data=TeacherData(142, 16, scale=20.0),
                         opt_fn=lambda m: torch.optim.Adam(m.parameters(), lr=1e-3))


@run("torch_saturated_sigmoid_low", "torch", "histo", "saturated_sigmoid_low",
     "sigmoid MLP 16-32-32-1 whose fc1 bias is initialised to -8: fc1's sigmoid outputs are nearly "
     "all below 0.01 (one-sided saturation); Adam lr 1e-3, bins='auto'.",
     expect={"fc1/activations": ["saturated"]})
def _(truth, logdir):
    import torch

    def init(m):
        with torch.no_grad():
            m.fc1.bias.fill_(-8.0)
    return torch_mlp_run(truth, logdir, seed=143, sizes=[16, 32, 32, 1], act="sigmoid", init=init,
                         opt_fn=lambda m: torch.optim.Adam(m.parameters(), lr=1e-3))


# ---- collapse ----------------------------------------------------------------

@run("torch_collapse_weight_decay", "torch", "histo", "collapse_weight_decay",
     "ReLU MLP 16-32-32-1, SGD lr 0.1 with weight_decay=0.4 (huge): weights shrink by ~300x; "
     "bins='auto'.",
     expect={"fc1.weight": ["collapsed"], "fc2.weight": ["collapsed"]})
def _(truth, logdir):
    import torch
    return torch_mlp_run(truth, logdir, seed=151, sizes=[16, 32, 32, 1],
                         opt_fn=lambda m: torch.optim.SGD(m.parameters(), lr=0.1, weight_decay=0.4))


@run("keras_collapse_weight_decay", "keras", "tensor", "collapse_weight_decay",
     "keras Dense 16-32-32-1 (relu), SGD(lr 0.05, weight_decay=1.0) (huge decoupled decay): kernels "
     "shrink by more than 100x over 8 epochs; TensorBoard(histogram_freq=1).",
     expect={"dense1/kernel/histogram": ["collapsed"], "dense2/kernel/histogram": ["collapsed"]})
def _(truth, logdir):
    tf, keras = tf_setup(152)
    x, y = TeacherData(152, 16).batch(512)
    model, fns = keras_dense_model([16, 32, 32, 1], "relu")
    model.compile(optimizer=keras.optimizers.SGD(0.05, weight_decay=1.0), loss="mse")
    return keras_fit(truth, logdir, model=model, x=x, y=y, epochs=8, batch_size=32, fn_of_layer=fns), {}

# ==========================================================================
# child / parent
# ==========================================================================

def child(name):
    spec = RUNS[name]
    logdir = os.path.join(CORPUS, name)
    fresh_dir(logdir)
    truth = Truth(name, logdir)
    t0 = time.process_time()
    version, extra = spec["fn"](truth, logdir)
    extra = dict(extra or {})
    if extra.get("ended_by") is None:
        extra.pop("ended_by", None)
    extra["cpu_seconds"] = round(time.process_time() - t0, 2)
    truth.dump(spec, version, extra)


def read_events(run_dir):
    """{tag: [(step, form, count)]} of histogram values and the other tags, read back with
    TensorBoard's LegacyEventFileLoader (raw protos); EventFileLoader (the migrating
    loader TensorBoard's plugins use) is run over every file too, to make sure it copes."""
    import numpy as np
    from tensorboard.backend.event_processing.event_file_loader import (
        EventFileLoader, LegacyEventFileLoader)
    from tensorboard.util import tensor_util

    hists, other, files = {}, {}, []
    for dirpath, _, filenames in os.walk(run_dir):
        for fn in sorted(filenames):
            if "tfevents" not in fn:
                continue
            path = os.path.join(dirpath, fn)
            files.append({"path": os.path.relpath(path, run_dir).replace(os.sep, "/"),
                          "bytes": os.path.getsize(path)})
            for _ in EventFileLoader(path).Load():
                pass
            hist_tensor_tags = set()
            for event in LegacyEventFileLoader(path).Load():
                if not event.HasField("summary"):
                    continue
                for value in event.summary.value:
                    kind = value.WhichOneof("value")
                    if kind == "tensor" and value.metadata.plugin_data.plugin_name == "histograms":
                        hist_tensor_tags.add(value.tag)
                    if kind == "histo":
                        hists.setdefault(value.tag, []).append((event.step, "histo", value.histo.num))
                    elif kind == "tensor" and value.tag in hist_tensor_tags:
                        arr = tensor_util.make_ndarray(value.tensor)
                        cnt = float(np.asarray(arr).reshape(-1, 3)[:, 2].sum()) if arr.size else 0.0
                        hists.setdefault(value.tag, []).append((event.step, "tensor", cnt))
                    else:
                        label = kind if kind != "tensor" else "tensor:" + value.metadata.plugin_data.plugin_name
                        other.setdefault(value.tag, label)
    return hists, other, sorted(files, key=lambda f: f["path"])


def verify(name):
    """Compare event files with truth.json; check the run's expectations. Returns problems."""
    spec = RUNS[name]
    run_dir = os.path.join(CORPUS, name)
    with open(os.path.join(run_dir, "truth.json")) as fh:
        doc = json.load(fh)
    hists, other, files = read_events(run_dir)
    problems = []
    if set(hists) != set(doc["tags"]):
        problems.append("tags in files %s != truth %s" % (sorted(set(hists) ^ set(doc["tags"])), ""))
    for tag, points in hists.items():
        t = doc["tags"].get(tag)
        if t is None:
            continue
        steps = [p[0] for p in points]
        if steps != [s["step"] for s in t["steps"]]:
            problems.append("%s: steps %s != truth %s" % (tag, steps, [s["step"] for s in t["steps"]]))
        for (step, form, cnt), s in zip(points, t["steps"]):
            if form != spec["form"]:
                problems.append("%s: form %s" % (tag, form))
            # tf.summary.histogram turns NaN/Inf into NaN/Inf bucket edges and counts that do
            # not add up to the number of values, so no count check for those points
            if form == "tensor" and s["nonfinite"]:
                continue
            want = s["count"]
            if abs(cnt - want) > 0.5:
                problems.append("%s step %d: count %s in file != %s" % (tag, step, cnt, want))
    # expectations
    for tag, flags in spec["expect"].items():
        if tag not in doc["tags"]:
            problems.append("expected tag %s missing" % tag)
            continue
        missing = set(flags) - set(doc["tags"][tag]["truth"])
        if missing:
            problems.append("%s: expected %s, truth %s" % (tag, sorted(missing), doc["tags"][tag]["truth"]))
    if set(spec["expect_run"]) - set(doc["run_truth"]):
        problems.append("run_truth %s lacks %s" % (doc["run_truth"], spec["expect_run"]))
    if spec["healthy"]:
        flagged = {t: v["truth"] for t, v in doc["tags"].items() if v["truth"]}
        if flagged or doc["run_truth"]:
            problems.append("healthy control has flags: %s %s" % (flagged, doc["run_truth"]))
        losses = [l["value"] for l in doc["loss"] if l["value"] is not None]
        if len(losses) < 2 or not losses[-1] < 0.8 * losses[0]:
            problems.append("healthy control's loss did not decrease enough: %s" % losses)
    elif not any(v["truth"] for v in doc["tags"].values()) and not doc["run_truth"]:
        problems.append("faulty run without any truth flag")
    doc["event_files"] = files
    doc["non_histogram_tags"] = dict(sorted(other.items()))
    doc["problems"] = problems
    tags = doc.pop("tags")
    doc["tags"] = tags
    write_truth(os.path.join(run_dir, "truth.json"), doc)
    return problems


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def runs_table():
    rows = ["| run | writer | form (bins) | fault | steps | tags with truth flags | run_truth | size |",
            "|---|---|---|---|---|---|---|---|"]
    descr = []
    total = 0
    for name in RUNS:
        p = os.path.join(CORPUS, name, "truth.json")
        if not os.path.exists(p):
            continue
        with open(p) as fh:
            doc = json.load(fh)
        size = dir_bytes(os.path.join(CORPUS, name))
        total += size
        by_flags = {}
        for tag, t in doc["tags"].items():
            if t["truth"]:
                by_flags.setdefault(" ".join(t["truth"]), []).append(tag)
        flagged = "; ".join("%s: `%s`" % (fl, "`, `".join(tags)) for fl, tags in sorted(by_flags.items())) or "—"
        steps = sorted({s["step"] for t in doc["tags"].values() for s in t["steps"]})
        bins = {"auto": "auto", "tensorflow": "**default bins**"}.get(doc["bins"], doc["bins"])
        rows.append("| `%s` | %s | %s (%s) | %s | %d (%d→%d) | %s | %s | %d KB |" % (
            name, doc["writer"], doc["form"], bins, doc["fault"] or "— (control)", len(steps), steps[0],
            steps[-1], flagged, ", ".join(doc["run_truth"]) or "—", round(size / 1024)))
        descr.append("- `%s`: %s" % (name, doc["description"]))
    n = len(descr)
    rows.append("")
    rows.append("Total: %.2f MB in %d runs (generated by `make_corpus.py`)." % (total / 2**20, n))
    rows.append("")
    rows.extend(descr)
    return "\n".join(rows)


def update_readme():
    if not os.path.exists(README):
        return
    with open(README) as fh:
        text = fh.read()
    a, b = "<!-- runs:begin -->", "<!-- runs:end -->"
    if a not in text or b not in text:
        return
    head, rest = text.split(a, 1)
    _, tail = rest.split(b, 1)
    with open(README, "w") as fh:
        fh.write(head + a + "\n" + runs_table() + "\n" + b + tail)


def main(argv):
    if argv[:1] == ["--child"]:
        child(argv[1])
        return 0
    if argv[:1] == ["--list"]:
        print("\n".join(RUNS))
        return 0
    names = argv or list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        raise SystemExit("unknown runs: %s" % unknown)
    os.makedirs(CORPUS, exist_ok=True)
    t_all = time.time()
    bad = {}
    for name in names:
        t0 = time.time()
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name])
        if r.returncode != 0:
            bad[name] = ["child exited with %d" % r.returncode]
            print("== %-34s FAILED (exit %d)" % (name, r.returncode), flush=True)
            continue
        problems = verify(name)
        with open(os.path.join(CORPUS, name, "truth.json")) as fh:
            doc = json.load(fh)
        flagged = sorted({f for t in doc["tags"].values() for f in t["truth"]} | set(doc["run_truth"]))
        print("== %-34s %5.1fs  %4d KB  flags: %s%s" % (
            name, time.time() - t0, round(dir_bytes(os.path.join(CORPUS, name)) / 1024),
            " ".join(flagged) or "-", "" if not problems else "\n   PROBLEMS: " + "\n   ".join(problems)),
            flush=True)
        if problems:
            bad[name] = problems
    update_readme()
    print("total %.1fs, corpus %.2f MB" % (time.time() - t_all, dir_bytes(CORPUS) / 2**20))
    if bad:
        print("runs with problems:", ", ".join(sorted(bad)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""(Re)generate histinspect's committed TensorBoard fixtures.

Run from the repository root, inside a venv made from testdata/gen/requirements.txt:

    python testdata/gen/make_fixtures.py            # all runs
    python testdata/gen/make_fixtures.py tf2_summary torch   # only some writers

Every writer runs in its own subprocess (TF1 graph mode, Keras and torch do not
mix well in one interpreter). Each writer subprocess deletes and re-creates its
run directory under testdata/logs/, writes one event file per run directory and
dumps the exact statistics of the values it logged to a side file. The parent
then READS BACK every event file with TensorBoard's own Python code and writes
testdata/expected/<run with '/' replaced by '__'>.json.

See testdata/gen/README.md for the meaning of every field.
"""

import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LOGS = os.path.join(ROOT, "testdata", "logs")
EXPECTED = os.path.join(ROOT, "testdata", "expected")

# Step counts are limited by the fixture size budget (~3 MB for logs+expected):
# legacy histograms with TF's exponential buckets cost 100-600 buckets each.
TF1_STEPS = 6
LEGACY_STEPS = {"torch": 6, "tensorboardx": 6}

WRITERS = ["tf1_user_story", "tf1_tensor_meta", "keras_frozen", "tf2_summary", "torch", "tensorboardx"]

# Quiet TF's C++ logging; make CPU numerics as reproducible as possible.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("PYTHONHASHSEED", "0")


# --------------------------------------------------------------------------
# helpers shared by the writers
# --------------------------------------------------------------------------

def exact_stats(values):
    """count/min/max/sum/sum_squares of the logged values, computed exactly.

    Values are widened to float64 first (float32 -> float64 is exact); sums use
    math.fsum, so they are the correctly rounded double of the true sum. For
    float32 inputs x*x is exact in float64 (24+24 < 53 significant bits).
    """
    import numpy as np

    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        return {"count": 0, "min": None, "max": None, "sum": 0.0, "sum_squares": 0.0}
    assert np.all(np.isfinite(v))
    return {
        "count": int(v.size),
        "min": float(v.min()),
        "max": float(v.max()),
        "sum": math.fsum(v.tolist()),
        "sum_squares": math.fsum((v * v).tolist()),
    }


class StatsRecorder:
    def __init__(self):
        self.data = {}  # tag -> {str(step): stats}

    def add(self, tag, step, values):
        self.data.setdefault(tag, {})[str(int(step))] = exact_stats(values)

    def dump(self, path, extra):
        out = dict(extra)
        out["stats"] = self.data
        with open(path, "w") as f:
            json.dump(out, f)


def fresh_dir(path):
    if os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)


# --------------------------------------------------------------------------
# writer 1: the user story, TF1 graph mode
# --------------------------------------------------------------------------

def write_tf1_user_story(side):
    import numpy as np
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    tf.compat.v1.set_random_seed(20170218)
    logdir = os.path.join(LOGS, "tf1_user_story")
    fresh_dir(logdir)
    rec = StatsRecorder()
    rng = np.random.default_rng(42315202)

    # 60 inputs -> 200 -> 32 -> 32 -> 4. Glorot-uniform limit for layer 1 is
    # sqrt(6/(60+200)) = 0.152, i.e. the story's "most weights in [-0.15, 0.15]".
    sizes = [60, 200, 32, 32, 4]
    batch = 16
    x = tf.compat.v1.placeholder(tf.float32, [None, 60], name="input_x")
    y = tf.compat.v1.placeholder(tf.float32, [None, 4], name="input_y")
    with tf.compat.v1.name_scope("input"):
        tf.compat.v1.summary.image("input_image", tf.reshape(x, [-1, 6, 10, 1]), max_outputs=1)

    h = x
    weights = []
    watched = {}  # tag -> tensor whose values the histogram summarises
    for i in range(1, 5):
        with tf.compat.v1.name_scope("layer%d" % i):
            w = tf.compat.v1.get_variable(
                "W%d" % i,
                shape=[sizes[i - 1], sizes[i]],
                initializer=tf.compat.v1.glorot_uniform_initializer(seed=100 + i),
            )
            weights.append(w)
            layer = tf.matmul(h, w)
            tf.compat.v1.summary.histogram("weights", w)
            tf.compat.v1.summary.histogram("layer", layer)
            watched["layer%d/weights" % i] = w
            watched["layer%d/layer" % i] = layer
            if i < 4:
                h = tf.nn.tanh(layer)
                tf.compat.v1.summary.histogram("activations", h)
                watched["layer%d/activations" % i] = h
            else:
                qpred = tf.nn.softmax(layer)
                tf.compat.v1.summary.histogram("Qpred", qpred)
                watched["layer4/Qpred"] = qpred
    loss = tf.reduce_mean(-tf.reduce_sum(y * tf.math.log(qpred + 1e-7), axis=1))
    tf.compat.v1.summary.scalar("loss", loss)
    # Only the last layer is trained (the story's diagnosis): layers 1-3 never change.
    train_op = tf.compat.v1.train.AdamOptimizer(0.05).minimize(loss, var_list=[weights[3]])
    merged = tf.compat.v1.summary.merge_all()

    cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    tags = sorted(watched)
    with tf.compat.v1.Session(config=cfg) as sess:
        writer = tf.compat.v1.summary.FileWriter(logdir, sess.graph)
        sess.run(tf.compat.v1.global_variables_initializer())
        # Fixed random classification target; a fresh input batch each step, so
        # activations move while layers 1-3 weights stay bit-identical.
        for step in range(TF1_STEPS):
            xb = rng.normal(0.0, 0.5, size=(batch, 60)).astype(np.float32)
            yb = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=batch)]
            feed = {x: xb, y: yb}
            out = sess.run([merged] + [watched[t] for t in tags], feed_dict=feed)
            writer.add_summary(out[0], global_step=step)
            for t, v in zip(tags, out[1:]):
                rec.add(t, step, v)
            for _ in range(5):
                sess.run(train_op, feed_dict=feed)
        writer.close()
    rec.dump(side, {
        "writer": "tensorflow (tf.compat.v1 graph mode, FileWriter)",
        "writer_version": tf.__version__,
        "frozen_tags": ["layer1/weights", "layer2/weights", "layer3/weights"],
        "notes": "Adam var_list=[layer4 W] only; 5 Adam steps between logged steps; "
                 "a new random input batch for every logged step.",
    })


# --------------------------------------------------------------------------
# writer 1b: TF1 FileWriter + tensorboard's v1 histogram op (tensor form + metadata)
# --------------------------------------------------------------------------

def write_tf1_tensor_meta(side):
    """Tensor-form histograms written through the TF1 FileWriter.

    tensorboard.plugins.histogram.summary.op builds a graph-mode tensor summary
    carrying plugin metadata; the TF1 FileWriter strips that metadata from every
    value of a tag except the first one. The v1 op also uses the OLD bucketing
    (single value -> one row [v-0.5, v+0.5, n]; empty -> shape [0, 3]).
    """
    import numpy as np
    import tensorflow as tf
    from tensorboard.plugins.histogram import summary as hist_summary

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    logdir = os.path.join(LOGS, "tf1_tensor_meta")
    fresh_dir(logdir)
    rec = StatsRecorder()
    rng = np.random.default_rng(1111)
    frozen = rng.uniform(-0.15, 0.15, 500).astype(np.float32)
    phs = {
        "meta/frozen": tf.compat.v1.placeholder(tf.float32, [None]),
        "meta/drifting": tf.compat.v1.placeholder(tf.float32, [None]),
        "meta/single": tf.compat.v1.placeholder(tf.float32, [None]),
        "meta/empty": tf.compat.v1.placeholder(tf.float32, [None]),
    }
    for tag, ph in phs.items():
        hist_summary.op(tag, ph)  # default bucket_count = 30
    merged = tf.compat.v1.summary.merge_all()
    with tf.compat.v1.Session() as sess:
        writer = tf.compat.v1.summary.FileWriter(logdir)
        for step in range(5):
            vals = {
                "meta/frozen": frozen,
                "meta/drifting": rng.normal(0.1 * step, 0.2, 500).astype(np.float32),
                "meta/single": np.array([0.42], dtype=np.float32),
                "meta/empty": np.zeros([0], dtype=np.float32),
            }
            summ = sess.run(merged, feed_dict={phs[t]: v for t, v in vals.items()})
            writer.add_summary(summ, global_step=step)
            for t, v in vals.items():
                # the v1 op names its tensor_summary node '<name>/histogram_summary'
                rec.add(t + "/histogram_summary", step, v)
        writer.close()
    rec.dump(side, {
        "writer": "tensorflow (tf.compat.v1 FileWriter + tensorboard.plugins.histogram.summary.op)",
        "writer_version": tf.__version__,
        "frozen_tags": [t + "/histogram_summary" for t in ("meta/empty", "meta/frozen", "meta/single")],
        "notes": "Plugin metadata only on the first value of each tag (FileWriter strips it); "
                 "old v1 bucketing for single/empty values.",
    })


# --------------------------------------------------------------------------
# writer 2: tf.keras TensorBoard callback with frozen layers
# --------------------------------------------------------------------------

def write_keras_frozen(side):
    import numpy as np
    import tensorflow as tf
    import keras

    keras.utils.set_random_seed(1234)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:
        pass
    logdir = os.path.join(LOGS, "keras_frozen")
    fresh_dir(logdir)
    rec = StatsRecorder()
    rng = np.random.default_rng(7)

    inputs = keras.Input(shape=(20,), name="features")
    h = keras.layers.Dense(32, activation="tanh", name="frozen_dense_1", trainable=False)(inputs)
    h = keras.layers.Dense(32, activation="tanh", name="frozen_dense_2", trainable=False)(h)
    h = keras.layers.Dense(16, activation="relu", name="dense_a")(h)
    out = keras.layers.Dense(3, activation="softmax", name="dense_b")(h)
    model = keras.Model(inputs, out, name="frozen_model")
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")

    xs = rng.normal(size=(192, 20)).astype(np.float32)
    ys = rng.integers(0, 3, size=192)
    xv = rng.normal(size=(64, 20)).astype(np.float32)
    yv = rng.integers(0, 3, size=64)

    frozen_tags = []
    for layer in model.layers:
        for w in layer.weights:
            if not layer.trainable:
                frozen_tags.append(w.path.replace(":", "_") + "/histogram")

    class Capture(keras.callbacks.Callback):
        """Runs before the TensorBoard callback: records the exact weights it logs."""

        def on_epoch_end(self, epoch, logs=None):
            for layer in self.model.layers:
                for w in layer.weights:
                    tag = w.path.replace(":", "_") + "/histogram"
                    rec.add(tag, epoch, np.asarray(w.numpy()))

    tb = keras.callbacks.TensorBoard(
        log_dir=logdir, histogram_freq=1, write_graph=False, profile_batch=0, update_freq="epoch"
    )
    model.fit(xs, ys, batch_size=32, epochs=5, validation_data=(xv, yv),
              callbacks=[Capture(), tb], verbose=0, shuffle=False)
    rec.dump(side, {
        "writer": "keras TensorBoard callback (tf.keras)",
        "writer_version": "keras %s / tensorflow %s" % (keras.__version__, tf.__version__),
        "frozen_tags": sorted(frozen_tags),
        "notes": "frozen_dense_1/2 have trainable=False; dense_a/dense_b are trained. "
                 "Histograms are written to train/ only, step = epoch.",
    })


# --------------------------------------------------------------------------
# writer 3: TF2 tf.summary (tensor-form histograms)
# --------------------------------------------------------------------------

def tf2_values(rng, frozen, step):
    import numpy as np

    f32 = np.float32
    n = 2000
    vals = {
        "uniform": rng.uniform(-0.15, 0.15, n).astype(f32),
        "normal": rng.normal(0.0, 0.3, n).astype(f32),
        "bimodal": np.concatenate([rng.normal(-0.5, 0.1, n // 2), rng.normal(0.5, 0.1, n // 2)]).astype(f32),
        "trimodal": np.concatenate([
            rng.normal(-0.1, 0.02, 700), rng.normal(0.05, 0.02, 700), rng.normal(0.25, 0.02, 600)
        ]).astype(f32),
        "drifting": rng.normal(0.05 * step, 0.2, n).astype(f32),
        "frozen": frozen,
        "constant": np.full(500, 0.5, dtype=f32),
        "single": np.array([0.42], dtype=f32),
        "empty": np.zeros([0], dtype=f32),
        "relu": np.maximum(rng.normal(0.0, 1.0, n), 0.0).astype(f32),
        "tanh_saturated": np.tanh(rng.normal(0.0, 3.0, n)).astype(f32),
    }
    return vals


def write_tf2_summary(side):
    import numpy as np
    import tensorflow as tf

    logdir = os.path.join(LOGS, "tf2_summary")
    fresh_dir(logdir)
    rec = StatsRecorder()
    rng = np.random.default_rng(2020)
    frozen = rng.normal(0.0, 0.1, 2000).astype(np.float32)
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        for step in range(10):
            vals = tf2_values(rng, frozen, step)
            for tag, v in vals.items():
                tf.summary.histogram(tag, v, step=step)  # default 30 buckets
                rec.add(tag, step, v)
            for tag in ("normal", "uniform", "frozen"):
                tf.summary.histogram(tag + "_b10", vals[tag], step=step, buckets=10)
                rec.add(tag + "_b10", step, vals[tag])
            tf.summary.scalar("loss", 1.0 / (1.0 + step), step=step)
            img = rng.uniform(0, 1, size=(1, 6, 10, 1)).astype(np.float32)
            tf.summary.image("input_image", img, step=step)
    writer.flush()
    writer.close()
    rec.dump(side, {
        "writer": "tensorflow (tf.summary v2)",
        "writer_version": tf.__version__,
        "frozen_tags": ["constant", "empty", "frozen", "frozen_b10", "single"],
        "notes": "tag 'single' is the one value 0.42 at every step; 'empty' is a zero-length tensor.",
    })


# --------------------------------------------------------------------------
# writers 4/5: torch.utils.tensorboard and tensorboardX (legacy histo)
# --------------------------------------------------------------------------

def legacy_values(rng, frozen, step):
    # Only 'normal' and 'relu' span zero: with bins='tensorflow' a zero-crossing
    # histogram carries ~580 mostly empty buckets (all TF edges between min and
    # max, down to +-1e-12), which is what makes these files big. The other
    # default-bins tags are kept away from zero to keep the fixtures small.
    import numpy as np

    f32 = np.float32
    n = 1000
    return {
        "normal": rng.normal(0.0, 0.3, n).astype(f32),
        "uniform": rng.uniform(0.1, 0.4, n).astype(f32),
        "frozen": frozen,
        "drifting": rng.normal(1.0 + 0.1 * step, 0.1, n).astype(f32),
        "bimodal": np.concatenate([rng.normal(-0.5, 0.1, n // 2), rng.normal(0.5, 0.1, n // 2)]).astype(f32),
        "relu": np.maximum(rng.normal(0.0, 1.0, n), 0.0).astype(f32),
        "constant": np.full(300, 0.5, dtype=f32),
        "normal_pos": rng.normal(1.0, 0.2, n).astype(f32),
    }


def write_legacy(side, which):
    import numpy as np

    if which == "torch":
        import torch
        from torch.utils.tensorboard import SummaryWriter
        version = torch.__version__
        writer_name = "torch.utils.tensorboard.SummaryWriter"
        conv = torch.from_numpy
        plan = [("default/normal", "normal", "tensorflow"), ("auto/normal", "normal", "auto"),
                ("default/uniform", "uniform", "tensorflow"), ("default/frozen", "frozen", "tensorflow"),
                ("default/drifting", "drifting", "tensorflow"), ("auto/bimodal", "bimodal", "auto"),
                ("default/relu", "relu", "tensorflow")]
        frozen_tags = ["default/frozen"]
        seed = 8
    else:
        import tensorboardX
        from tensorboardX import SummaryWriter
        version = tensorboardX.__version__
        writer_name = "tensorboardX.SummaryWriter"
        conv = lambda a: a  # numpy arrays go straight in
        # torch/ already covers zero-crossing data with the default bins; here the
        # default-bins 'normal' is a positive normal N(1, 0.2) to save space.
        plan = [("default/normal_pos", "normal_pos", "tensorflow"), ("auto/normal", "normal", "auto"),
                ("default/frozen", "frozen", "tensorflow"), ("auto/frozen", "frozen", "auto"),
                ("default/drifting", "drifting", "tensorflow"), ("auto/bimodal", "bimodal", "auto"),
                ("default/constant", "constant", "tensorflow")]
        frozen_tags = ["auto/frozen", "default/constant", "default/frozen"]
        seed = 9
    logdir = os.path.join(LOGS, which)
    fresh_dir(logdir)
    rec = StatsRecorder()
    rng = np.random.default_rng(seed)
    frozen = rng.normal(0.5, 0.05, 1000).astype(np.float32)
    w = SummaryWriter(logdir)
    for step in range(LEGACY_STEPS[which]):
        vals = legacy_values(rng, frozen, step)
        for tag, key, bins in plan:
            w.add_histogram(tag, conv(vals[key]), global_step=step, bins=bins)
            rec.add(tag, step, vals[key])
        w.add_scalar("loss", 1.0 / (1.0 + step), global_step=step)
    w.flush()
    w.close()
    rec.dump(side, {"writer": writer_name, "writer_version": version, "frozen_tags": frozen_tags,
                    "notes": "float32 values; bins='tensorflow' is the writer default."})


# --------------------------------------------------------------------------
# reading back with TensorBoard
# --------------------------------------------------------------------------

def count_records(path):
    """Walk TFRecord framing: u64 LE length, u32 length-crc, payload, u32 crc."""
    n = 0
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off < len(data):
        (length,) = struct.unpack_from("<Q", data, off)
        off += 8 + 4 + length + 4
        if off > len(data):
            raise RuntimeError("truncated record in %s" % path)
        n += 1
    return n


def f(x):
    x = float(x)
    if not math.isfinite(x):
        raise ValueError("non-finite value in expected data: %r" % x)
    return x


def rows(arr):
    return [[f(c) for c in r] for r in arr]


def migrate_histo_f64(histo):
    """TensorBoard's data_compat._migrate_histogram_value trim, but in float64."""
    import numpy as np

    counts = list(histo.bucket)
    n = len(counts)
    start = next((i for i in range(n) if counts[i] > 0), n)
    end = next((i for i in reversed(range(n)) if counts[i] > 0), -1)
    if start > end:
        return np.zeros([0, 3], dtype=np.float64)
    counts = counts[start:end + 1]
    inner = list(histo.bucket_limit[start:end])
    lefts = [histo.min] + inner
    rights = inner + [histo.max]
    return np.array([lefts, rights, counts], dtype=np.float64).transpose()


def read_run(run_dir, run_name, side):
    import numpy as np
    from tensorboard import data_compat
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
    from tensorboard.plugins.distribution import compressor
    from tensorboard.util import tensor_util
    import tensorboard

    files = sorted(fn for fn in os.listdir(run_dir) if "tfevents" in fn)
    assert len(files) == 1, (run_dir, files)
    file_info = []
    tags = {}
    other = {}
    forms = set()
    for fn in files:
        path = os.path.join(run_dir, fn)
        file_info.append({"name": fn, "records": count_records(path), "bytes": os.path.getsize(path)})
        seen_meta = {}
        for event in LegacyEventFileLoader(path).Load():
            if not event.HasField("summary"):
                continue
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                plugin = value.metadata.plugin_data.plugin_name
                if kind == "tensor" and plugin:
                    seen_meta[value.tag] = plugin
                is_hist = kind == "histo" or (
                    kind == "tensor" and seen_meta.get(value.tag) == "histograms")
                if not is_hist:
                    label = kind if kind != "tensor" else "tensor:" + seen_meta.get(value.tag, "")
                    other.setdefault(value.tag, label)
                    continue
                forms.add(kind)
                point = {"step": int(event.step), "wall_time": f(event.wall_time)}
                st = side["stats"].get(value.tag, {}).get(str(int(event.step)))
                if st is None:
                    raise RuntimeError("no exact stats for %s step %d" % (value.tag, event.step))
                point.update(st)
                point["plugin_name"] = plugin  # "" when this value carries no metadata
                if kind == "histo":
                    h = value.histo
                    point["raw"] = {
                        "min": f(h.min), "max": f(h.max), "num": f(h.num), "sum": f(h.sum),
                        "sum_squares": f(h.sum_squares),
                        "bucket_limit": [f(b) for b in h.bucket_limit],
                        "bucket": [f(b) for b in h.bucket],
                    }
                    migrated = data_compat.migrate_value(value)
                    tb = tensor_util.make_ndarray(migrated.tensor)
                    point["tb_dtype"] = str(tb.dtype)
                    point["tb_buckets"] = rows(tb)
                    point["tb_compressed"] = rows(compressor.compress_histogram(tb))
                    b64 = migrate_histo_f64(h)
                    point["tb_buckets_f64"] = rows(b64)
                    point["tb_compressed_f64"] = rows(compressor.compress_histogram(b64))
                    # TF C++ Histogram::Percentile-equivalent on the raw proto (float64).
                    point["tb_compressed_proto"] = rows(compressor.compress_histogram_proto(h))
                else:
                    t = value.tensor
                    arr = tensor_util.make_ndarray(t)
                    enc = "tensor_content" if t.tensor_content else (
                        "double_val" if len(t.double_val) else ("float_val" if len(t.float_val) else "none"))
                    point["raw"] = {
                        "dtype": int(t.dtype),
                        "shape": [int(d.size) for d in t.tensor_shape.dim],
                        "encoding": enc,
                        "rows": rows(arr.reshape(-1, 3) if arr.size else np.zeros([0, 3])),
                    }
                    point["tb_dtype"] = str(arr.dtype)
                    point["tb_buckets"] = rows(arr.reshape(-1, 3) if arr.size else np.zeros([0, 3]))
                    point["tb_compressed"] = rows(compressor.compress_histogram(arr.reshape(-1, 3)))
                entry = tags.setdefault(value.tag, {"form": kind, "points": []})
                entry["points"].append(point)
    form = forms.pop() if len(forms) == 1 else (sorted(forms) if forms else None)
    return {
        "run": run_name,
        "writer": side["writer"],
        "writer_version": side["writer_version"],
        "tensorboard_version": tensorboard.__version__,
        "form": form,
        "files": file_info,
        "frozen_tags": sorted(t for t in side["frozen_tags"] if t in tags),
        "non_histogram_tags": dict(sorted(other.items())),
        "notes": side.get("notes", ""),
        "tags": dict(sorted(tags.items())),
    }


def write_expected(writer, side_path):
    with open(side_path) as fh:
        side = json.load(fh)
    base = os.path.join(LOGS, writer)
    run_dirs = []
    for dirpath, _, filenames in os.walk(base):
        if any("tfevents" in fn for fn in filenames):
            run_dirs.append(dirpath)
    os.makedirs(EXPECTED, exist_ok=True)
    # drop stale expected files of this writer
    for fn in os.listdir(EXPECTED):
        if fn == writer + ".json" or fn.startswith(writer + "__"):
            os.remove(os.path.join(EXPECTED, fn))
    for d in sorted(run_dirs):
        run = os.path.relpath(d, LOGS).replace(os.sep, "/")
        doc = read_run(d, run, side)
        out = os.path.join(EXPECTED, run.replace("/", "__") + ".json")
        with open(out, "w") as fh:
            json.dump(doc, fh, allow_nan=False, separators=(",", ":"))
            fh.write("\n")
        print("wrote", os.path.relpath(out, ROOT), "tags:", len(doc["tags"]))


# --------------------------------------------------------------------------

def child(writer, side):
    if writer == "tf1_user_story":
        write_tf1_user_story(side)
    elif writer == "tf1_tensor_meta":
        write_tf1_tensor_meta(side)
    elif writer == "keras_frozen":
        write_keras_frozen(side)
    elif writer == "tf2_summary":
        write_tf2_summary(side)
    elif writer in ("torch", "tensorboardx"):
        write_legacy(side, writer)
    else:
        raise SystemExit("unknown writer " + writer)


def main(argv):
    if len(argv) == 3 and argv[0] == "--child":
        child(argv[1], argv[2])
        return
    writers = argv or WRITERS
    tmp = tempfile.mkdtemp(prefix="histinspect-fixtures-")
    try:
        for w in writers:
            side = os.path.join(tmp, w + ".json")
            print("== writing", w, flush=True)
            subprocess.run([sys.executable, os.path.abspath(__file__), "--child", w, side], check=True)
            write_expected(w, side)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])

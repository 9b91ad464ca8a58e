"""The Python API against the CLI's own output on the committed logdirs in testdata/.

Run from a virtualenv where the wheel is installed (``.ci/run`` does this):
``python -m pytest python/tests``. Each test runs the installed native command directly and
checks that the API returns the same answer in Python form.
"""

import csv
import io
import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

import histinspect

ROOT = Path(__file__).resolve().parents[2]
LOGS = str(ROOT / "testdata" / "logs")
CORPUS = ROOT / "testdata" / "corpus"


def cli(*args, check=True):
    """Standard output of the installed command, run the way a user would."""
    proc = subprocess.run(
        [histinspect.binary(), *args, "--no-progress", "--no-config"],
        capture_output=True,
        check=False,
    )
    if check:
        assert proc.returncode == 0, proc.stderr.decode()
    return proc


def cli_csv(*args):
    return list(csv.DictReader(io.StringIO(cli(*args).stdout.decode())))


def same_number(a, text):
    """A DataFrame cell against the CSV text it came from."""
    if text == "":
        return a is None or a is pd.NA or (isinstance(a, float) and math.isnan(a))
    if text in ("true", "false"):
        return bool(a) == (text == "true")
    return float(a) == float(text)


def test_the_installed_command_is_the_native_binary():
    exe = histinspect.binary()
    with open(exe, "rb") as f:
        assert f.read(4) == b"\x7fELF", "the wheel must install the Rust binary, not a script"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("histinspect " + histinspect.__version__)
    # python -m histinspect runs the same command.
    out = subprocess.run(
        [sys.executable, "-m", "histinspect", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.startswith("histinspect ")


def test_report_is_the_json_document():
    assert histinspect.report(LOGS, config=False) == json.loads(cli(LOGS, "--format", "json").stdout)


def test_summary_has_the_csv_rows_and_columns():
    df = histinspect.summary(LOGS, config=False)
    rows = cli_csv(LOGS, "--format", "csv")
    assert len(df) == len(rows) == 52
    renamed = {"shape": "shape_name", "flags": "flag_names"}
    assert list(df.columns) == [renamed.get(c, c) for c in rows[0].keys()]
    for (_, got), want in zip(df.iterrows(), rows):
        assert got["run"] == want["run"] and got["tag"] == want["tag"]
        assert got["shape_name"] == want["shape"]
        assert got["flag_names"] == (want["flags"].split(";") if want["flags"] else [])
        assert got["last_peaks"] == [float(x) for x in want["last_peaks"].split(";") if x]
        for col in ("points", "first_step", "last_step", "first_mean", "last_std", "w1_rel",
                    "ks", "identical", "all_steps_identical", "last_zero_fraction"):
            assert same_number(got[col], want[col]), (col, got[col], want[col])
    assert df["points"].dtype.kind == "i" and df["last_mean"].dtype.kind == "f"


def test_steps_has_a_row_per_point_with_tensorboards_percentiles():
    df = histinspect.steps(LOGS, run="torch", config=False)
    lines = [json.loads(l) for l in cli(LOGS, "--run", "torch", "--steps", "--format", "jsonl").stdout.splitlines()]
    points = [l for l in lines if "step" in l]
    assert len(df) == len(points) == 42
    pct = ["p0", "p6.68", "p15.87", "p30.85", "p50", "p69.15", "p84.13", "p93.32", "p100"]
    for (_, got), want in zip(df.iterrows(), points):
        assert (got["run"], got["tag"], got["step"]) == (want["run"], want["tag"], want["step"])
        assert got["count"] == want["count"] and got["mean"] == want["mean"]
        assert got["shape_name"] == want["shape"]
        assert [got[c] for c in pct] == [v for _, v in want["percentiles"]]
        if want["change_prev"] is None:
            assert got["identical_prev"] is pd.NA
        else:
            assert bool(got["identical_prev"]) == want["change_prev"]["identical"]


@pytest.mark.parametrize("root", [LOGS, str(CORPUS)])
def test_steps_is_every_cell_of_the_csv_typed(root):
    """steps() reads the command's binary columns: every cell must be the CSV's, as a
    number where the CSV has one (NaN for an empty cell), names cleaned the same way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", histinspect.HistinspectWarning)  # the corpus' damage
        df = histinspect.steps(root, config=False)
    rows = cli_csv(root, "--steps", "--format", "csv")
    assert len(df) == len(rows) > 300
    renamed = {"shape": "shape_name"}
    assert list(df.columns) == [renamed.get(c, c) for c in rows[0].keys()]
    assert df["step"].dtype.kind == "i" and df["count"].dtype.kind == "f"
    for got, want in zip(df.itertuples(index=False), rows):
        got = dict(zip(df.columns, got))
        for col, text in want.items():
            cell = got[renamed.get(col, col)]
            if col in ("run", "tag", "form", "shape"):
                assert cell == text, (col, cell, text)
            elif col == "peaks":
                # A peak at an unknown place (NaN) is an empty item in the CSV.
                assert [x for x in cell if x == x] == [float(x) for x in text.split(";") if x]
            else:
                assert same_number(cell, text), (col, cell, text)


def test_buckets_are_the_raw_data_in_long_form():
    df = histinspect.buckets(LOGS, run="tf2_summary", tag="bimodal", config=False)
    assert list(df.columns) == ["run", "tag", "step", "left", "right", "count"]
    points = [json.loads(l) for l in cli("buckets", LOGS, "--run", "tf2_summary", "--tag", "bimodal", "--format", "jsonl").stdout.splitlines()]
    want = [(p["step"], *b) for p in points for b in p["buckets"]]
    got = list(df[["step", "left", "right", "count"]].itertuples(index=False, name=None))
    assert got == want
    one = histinspect.buckets(LOGS, step=2, config=False)
    assert set(one["step"]) == {2} and one["count"].sum() > 0
    with pytest.raises(histinspect.HistinspectError, match="no point at step 999"):
        histinspect.buckets(LOGS, step=999, config=False)


def test_no_column_shadows_a_dataframe_property():
    properties = {
        name for name in dir(pd.DataFrame)
        if isinstance(getattr(pd.DataFrame, name, None), property)
    }
    assert {"shape", "flags", "size", "values"} <= properties
    frames = [
        histinspect.summary(LOGS, config=False),
        histinspect.steps(LOGS, run="torch", config=False),
        histinspect.buckets(LOGS, run="torch", step=0, config=False),
    ]
    for df in frames:
        assert not properties & set(df.columns)


def test_filters_are_the_clis():
    cases = [
        dict(tag="weights$"),
        dict(run="^tf"),
        dict(exclude_tag=["bias", "grad"], exclude_run="keras"),
        dict(step_range=(2, 4)),
        dict(step_range=(None, 1)),
        dict(step_range="3:"),
    ]
    flags = {"tag": "--tag", "run": "--run"}
    for case in cases:
        args = []
        for k, v in case.items():
            if k in flags:
                args += [flags[k], v]
            elif k == "step_range":
                text = v if isinstance(v, str) else "{}:{}".format(*("" if x is None else x for x in v))
                args += ["--step-range", text]
            else:
                for x in [v] if isinstance(v, str) else v:
                    args += ["--" + k.replace("_", "-"), x]
        want = json.loads(cli(LOGS, *args, "--format", "json").stdout)
        assert histinspect.report(LOGS, config=False, **case) == want, case


def test_thresholds_change_the_flags_as_on_the_command_line():
    run = str(CORPUS / "torch_adam_lr1e-9")
    default = histinspect.summary(run, config=False)
    strict = histinspect.summary(run, thresholds={"frozen": 1e-12}, config=False)
    want = cli_csv(run, "--threshold", "frozen=1e-12", "--format", "csv")
    assert [r["flags"].split(";") if r["flags"] else [] for r in want] == list(strict["flag_names"])
    assert list(strict["flag_names"]) != list(default["flag_names"])
    with pytest.raises(histinspect.HistinspectError, match="unknown threshold"):
        histinspect.summary(run, thresholds={"no_such_flag": 1.0}, config=False)


def test_errors_carry_the_commands_message():
    with pytest.raises(histinspect.HistinspectError) as e:
        histinspect.summary("/no/such/logdir", config=False)
    assert "/no/such/logdir" in str(e.value) and e.value.returncode == 2
    with pytest.raises(histinspect.HistinspectError, match="regular expression"):
        histinspect.report(LOGS, tag="(", config=False)
    # A filter that leaves nothing is an empty answer, as on the command line.
    assert len(histinspect.summary(LOGS, tag="^no-such-tag$", config=False)) == 0


def test_damage_is_a_warning_and_the_rest_is_read(tmp_path):
    src = next((Path(LOGS) / "torch").iterdir()).read_bytes()
    damaged = bytearray(src)
    damaged[len(src) // 2] ^= 0xFF
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "events.out.tfevents.1.host").write_bytes(bytes(damaged))
    with pytest.warns(histinspect.HistinspectWarning, match="problem"):
        df = histinspect.summary(str(tmp_path), config=False)
    assert len(df) > 0


def test_without_pandas_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'histinspect\[pandas\]'"):
        histinspect.summary(LOGS, config=False)
    # report() needs no pandas.
    assert histinspect.report(LOGS, config=False)["schema_version"] == 1


def test_help_is_useful():
    doc = histinspect.__doc__
    for name in ("report", "summary", "steps", "buckets", "step_range", "thresholds"):
        assert name in doc
    for f in (histinspect.report, histinspect.summary, histinspect.steps, histinspect.buckets):
        assert f.__doc__ and f.__annotations__

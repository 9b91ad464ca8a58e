"""Read TensorBoard event files and say what the logged histograms mean.

This package is a thin layer over the native ``histinspect`` command installed with it: each
function runs the command once, with the same filters, and turns its output into Python
objects, so the answers are the CLI's own. No TensorFlow, no event-file parsing in Python.

Functions (``paths`` is a logdir, an event file, or a list of them)::

    report(paths, **filters)   -> dict                the JSON report (schema in the README)
    summary(paths, **filters)  -> pandas.DataFrame    one row per run and tag
    steps(paths, **filters)    -> pandas.DataFrame    one row per run, tag and step
    buckets(paths, step=None, **filters) -> pandas.DataFrame
                                                      raw buckets, long form:
                                                      run, tag, step, left, right, count
    binary() -> str                                   the path of the native command

Filters (keyword-only, all optional), the CLI's options by other names::

    tag="regex"            --tag           run="regex"           --run
    exclude_tag=["re",..]  --exclude-tag   exclude_run=["re",..] --exclude-run
    step_range=(a, b)      --step-range a:b   (None for an open end; "a:b" works too)
    thresholds={"frozen": 1e-5}             --threshold frozen=1e-5
    config="histinspect.toml" | False       --config PATH | --no-config
                                            (default: found from the working directory)

Example::

    >>> import histinspect
    >>> df = histinspect.summary("logs/", tag="weight")
    >>> df[df.flag_names.map(lambda f: "frozen" in f)][["run", "tag", "points"]]

The DataFrame functions need pandas (``pip install 'histinspect[pandas]'``). Columns are
named as in ``histinspect --format csv``, except that none shadows a DataFrame property: the
CSV's ``shape`` and ``flags`` become ``shape_name`` and ``flag_names`` (a list of flag names
per row). Statistics keep their names (``df["mean"]``; ``df.mean`` is the method, as always
in pandas).

When the command cannot read or check what it was asked to (exit code 2), the function raises
:class:`HistinspectError` carrying the command's message. Notices about the files that do not
stop the answer (a damaged record, a truncated tail) are issued as :class:`HistinspectWarning`.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence, Tuple, Union

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = [
    "report",
    "summary",
    "steps",
    "buckets",
    "binary",
    "HistinspectError",
    "HistinspectWarning",
]

try:
    from importlib.metadata import version as _version

    __version__ = _version("histinspect")
except Exception:  # pragma: no cover - running from a source tree
    __version__ = "unknown"

PathLike = Union[str, "os.PathLike[str]"]
Paths = Union[PathLike, Iterable[PathLike]]
StepRange = Union[str, Tuple[Optional[int], Optional[int]]]


class HistinspectError(RuntimeError):
    """The command could not do what was asked (it exited with code 2).

    ``str(error)`` is the command's own message; ``returncode`` and ``stderr`` hold the
    rest."""

    def __init__(self, message: str, returncode: int, stderr: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


class HistinspectWarning(UserWarning):
    """A notice from the command that did not stop the answer (damage it read past, a
    problem it could not show in CSV)."""


_EXE = "histinspect" + (".exe" if os.name == "nt" else "")


def binary() -> str:
    """The path of the native ``histinspect`` command.

    Looked up in this order: the ``HISTINSPECT_BIN`` environment variable; the scripts
    directory of the environment this package is installed in (where the wheel puts it);
    the user scripts directory; ``PATH``."""
    override = os.environ.get("HISTINSPECT_BIN")
    if override:
        return override
    candidates = [sysconfig.get_path("scripts")]
    user_scheme = "nt_user" if os.name == "nt" else "posix_user"
    try:
        candidates.append(sysconfig.get_path("scripts", user_scheme))
    except KeyError:  # pragma: no cover
        pass
    for directory in candidates:
        if directory:
            path = os.path.join(directory, _EXE)
            if os.path.isfile(path):
                return path
    found = shutil.which(_EXE)
    if found:
        return found
    raise FileNotFoundError(
        "the histinspect command was not found next to this package or on PATH; "
        "reinstall with `pip install histinspect`, or set HISTINSPECT_BIN"
    )


def _path_list(paths: Paths) -> list:
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    out = [os.fspath(p) for p in paths]
    if not out:
        raise ValueError("no paths given")
    return out


def _filter_args(
    tag: Optional[str] = None,
    run: Optional[str] = None,
    exclude_tag: Union[str, Sequence[str], None] = None,
    exclude_run: Union[str, Sequence[str], None] = None,
    step_range: Optional[StepRange] = None,
    thresholds: Optional[Mapping[str, float]] = None,
    config: Union[PathLike, bool, None] = None,
) -> list:
    args = []
    if tag is not None:
        args += ["--tag", tag]
    if run is not None:
        args += ["--run", run]
    for name, values in (("--exclude-tag", exclude_tag), ("--exclude-run", exclude_run)):
        if isinstance(values, str):
            values = [values]
        for v in values or ():
            args += [name, v]
    if step_range is not None:
        if isinstance(step_range, str):
            text = step_range
        else:
            a, b = step_range
            text = "{}:{}".format("" if a is None else int(a), "" if b is None else int(b))
        args += ["--step-range", text]
    for name, value in (thresholds or {}).items():
        args += ["--threshold", "{}={!r}".format(name, float(value))]
    if config is False:
        args.append("--no-config")
    elif config is not None and config is not True:
        args += ["--config", os.fspath(config)]
    return args


def _run(args: list, parse):
    """Runs the command with `args`; `parse` reads its stdout (a binary file object) while it
    is written, so a large export is never held twice."""
    cmd = [binary(), *args, "--no-progress"]
    result, failure = None, None
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        try:
            result = parse(proc.stdout)
        except Exception as e:  # judged below: a command that failed says why itself
            failure = e
        finally:
            proc.stdout.read()  # let the command finish even if parsing stopped early
            proc.stdout.close()
            code = proc.wait()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    lines = [line for line in stderr.splitlines() if line.strip()]
    if code != 0:
        message = "\n".join(lines) or "histinspect exited with code {}".format(code)
        raise HistinspectError(message, code, stderr) from failure
    if failure is not None:
        raise failure
    for line in lines:
        warnings.warn(line, HistinspectWarning, stacklevel=3)
    return result


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError(
            "this function returns a pandas DataFrame; install pandas with "
            "`pip install 'histinspect[pandas]'` (or `pip install pandas`)"
        ) from None
    return pandas


def report(paths: Paths, **filters: Any) -> dict:
    """The whole report as a dict: ``histinspect PATHS --format json``.

    ``report(...)["runs"][i]["tags"][j]`` has the tag's points, first and last statistics,
    change, flags, role and layer; ``["problems"]`` lists what was found wrong in the files,
    with path and byte offset. See the README's JSON schema. Filters as in the module help."""
    args = _path_list(paths) + _filter_args(**filters) + ["--format", "json"]
    return _run(args, json.load)


# CSV columns renamed so that none shadows a DataFrame attribute.
_SUMMARY_RENAMES = {"shape": "shape_name", "flags": "flag_names"}
_STEP_RENAMES = {"shape": "shape_name"}


def _split(column, convert=str):
    def cell(value):
        if not isinstance(value, str) or value == "":
            return []
        return [convert(x) for x in value.split(";")]

    return column.map(cell)


def _read_csv(strings: Sequence[str], booleans: Sequence[str] = ()):
    pandas = _pandas()

    def parse(stream):
        # Only an empty cell is missing: a run or tag named "NA" or "1" stays text. The
        # true/false columns of the change are nullable booleans (empty on a first step).
        return pandas.read_csv(
            stream,
            dtype={**{c: str for c in strings}, **{c: "boolean" for c in booleans}},
            keep_default_na=False,
            na_values=[""],
        )

    return parse


def summary(paths: Paths, **filters: Any) -> "pandas.DataFrame":
    """One row per run and tag: ``histinspect PATHS --format csv`` as a DataFrame.

    Columns are the CSV's, with ``shape`` as ``shape_name`` and ``flags`` as ``flag_names``
    (a list of flag names per row); ``last_peaks`` is a list of floats. Filters as in the
    module help."""
    texts = ["run", "tag", "form", "shape", "flags", "first_shape", "last_peaks"]
    args = _path_list(paths) + _filter_args(**filters) + ["--format", "csv"]
    df = _run(args, _read_csv(texts, booleans=["identical", "all_steps_identical"]))
    df["flags"] = _split(df["flags"])
    df["last_peaks"] = _split(df["last_peaks"], float)
    return df.rename(columns=_SUMMARY_RENAMES)


# The kinds of column in ``--format columns`` (see its layout in the README): the dtype of
# one cell as written (a list column writes its lengths this way, then the floats).
_COLUMN_DTYPES = {0: "<u4", 1: "<i8", 2: "<f8", 3: "u1", 4: "<u4"}


@contextlib.contextmanager
def _gc_paused():
    """Python's cycle collector paused while hundreds of thousands of small lists are made:
    they hold only floats and can form no cycle, but each few hundred allocations would set
    off a collection that walks them all again (~40 % of ``steps()``'s own time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _read_columns(stream) -> "pandas.DataFrame":
    """Reads ``histinspect ... --format columns`` from `stream` into a DataFrame, a batch of
    rows at a time: each batch's columns are arrays as written (``numpy.frombuffer``), joined
    at the end. Text columns come as codes into dictionaries that precede their first use."""
    import struct

    pandas = _pandas()
    import numpy

    def read(n):
        b = stream.read(n)
        if len(b) != n:
            raise EOFError("histinspect's output ended before its end mark")
        return b

    if read(8) != b"HICOLS1\n":
        raise ValueError(
            "histinspect wrote an unknown columns layout: is the command ({}) from another "
            "version of the package?".format(binary())
        )
    (ncols,) = struct.unpack("<I", read(4))
    cols = []
    for _ in range(ncols):
        kind, n = struct.unpack("<BI", read(5))
        cols.append((read(n).decode("utf-8"), numpy.dtype(_COLUMN_DTYPES[kind]), kind))
    names = [[] for _ in cols]
    parts = [[] for _ in cols]
    # A list column's lists, made batch by batch while the command writes the next.
    lists = [[] for _ in cols]
    # The cycle collector stays paused until the frame is made: see `_gc_paused`.
    with _gc_paused():
        while True:
            mark = read(1)
            if mark == b"D":
                c, n = struct.unpack("<II", read(8))
                names[c].append(read(n).decode("utf-8"))
            elif mark == b"B":
                (n,) = struct.unpack("<I", read(4))
                for c, (_, dtype, kind) in enumerate(cols):
                    cells = numpy.frombuffer(read(n * dtype.itemsize), dtype=dtype)
                    if kind == 4:
                        total = int(cells.sum(dtype=numpy.int64))
                        flat = numpy.frombuffer(read(8 * total), dtype="<f8")
                        lists[c].extend(_lists_of(numpy, cells, flat))
                    else:
                        parts[c].append(cells)
            elif mark == b"E":
                break
            else:
                raise ValueError("histinspect wrote an unknown record {!r}".format(mark))
        return _columns_frame(pandas, numpy, cols, names, parts, lists)


def _lists_of(numpy, lengths, flat) -> list:
    """Python lists of floats: `lengths[i]` items each, one after the other in `flat`. Most
    rows hold one item: those lists are made in one pass, the others after."""
    ends = numpy.cumsum(lengths, dtype=numpy.int64)
    starts = ends - lengths
    firsts = flat[numpy.minimum(starts, len(flat) - 1)] if len(flat) else starts * 0.0
    lists = [[x] for x in firsts.tolist()]
    for i in numpy.flatnonzero(lengths != 1).tolist():
        lists[i] = flat[starts[i] : ends[i]].tolist()
    return lists


def _columns_frame(pandas, numpy, cols, names, parts, lists) -> "pandas.DataFrame":
    """The DataFrame of the columns `_read_columns` has read."""
    data = {}
    for c, (name, dtype, kind) in enumerate(cols):
        if kind == 4:
            data[name] = lists[c]
            continue
        # A copy, also of a single batch: the arrays are then the DataFrame's own, writable.
        cells = numpy.concatenate(parts[c]) if parts[c] else numpy.empty(0, dtype=dtype)
        if kind == 0:
            # Taken from the dictionary as pandas' own text type (Arrow-backed where pandas
            # has it), without a Python object per cell.
            data[name] = pandas.Index(names[c] or [""], dtype="str").take(cells)
        elif kind == 3:
            data[name] = pandas.arrays.BooleanArray(cells == 1, cells == 2)
        else:
            data[name] = cells
    # Not copied again into one block per dtype: the arrays above are the frame's own.
    return pandas.DataFrame(data, columns=[name for name, _, _ in cols], copy=False)


def steps(paths: Paths, **filters: Any) -> "pandas.DataFrame":
    """One row per run, tag and step: ``histinspect PATHS --steps --format csv``.

    Per step: wall time, the statistics (``count``, ``mean``, ``std``, ``min``, ``max``,
    ``median``, ``iqr``, ``mode``), ``peaks`` (a list of floats),
    ``zero_fraction``, ``shape_name`` and its confidence, the change from the tag's previous
    step (``w1_rel_prev``, ``ks_prev``, ``identical_prev``; missing on a tag's first step), and
    TensorBoard's Distributions percentiles ``p0``, ``p6.68``, ``p15.87``, ``p30.85``,
    ``p50``, ``p69.15``, ``p84.13``, ``p93.32``, ``p100``. ``step`` is an integer, the
    statistics (``count`` too: weighted histograms have fractional counts) are floats, missing
    values NaN. Filters as in the module help.

    The rows travel from the command in its binary ``--format columns`` (the CSV's columns,
    typed), not as text: no float is formatted and parsed again, so this costs little more
    than the command's own per-step export."""
    args = _path_list(paths) + _filter_args(**filters) + ["--steps", "--format", "columns"]
    df = _run(args, _read_columns)
    return df.rename(columns=_STEP_RENAMES)


def buckets(paths: Paths, *, step: Optional[int] = None, **filters: Any) -> "pandas.DataFrame":
    """The raw buckets of every point, long form: columns ``run``, ``tag``, ``step``,
    ``left``, ``right``, ``count`` (``histinspect buckets PATHS --format csv``).

    ``step`` keeps only the points at that step (a step no tag has raises
    :class:`HistinspectError`). Buckets are as histinspect's model holds them for both wire
    forms: ascending edges, and for legacy histograms the outer edges are the exact min and
    max (TensorBoard's own normalisation). Filters (``tag=``, ``run=``, …) as in the module
    help. Rebuild one histogram with
    ``df[(df.tag == t) & (df.step == s)][["left", "right", "count"]]``."""
    args = ["buckets", *_path_list(paths), *_filter_args(**filters), "--format", "csv"]
    if step is not None:
        args += ["--step", str(int(step))]
    df = _run(args, _read_csv(["run", "tag"]))
    return df

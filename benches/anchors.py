#!/usr/bin/env python3
"""Helpers of benches/compare.sh: timing with peak RSS, the Python and RustBoard anchors, and
the summary table. The `measure`, `rustboard` and `table` commands use the standard library only;
`ea` and `tbparse` run in the throwaway virtualenv that compare.sh makes.

  anchors.py measure -- CMD...          run CMD (stdout to /dev/null), print
                                        "wall_s,maxrss_kb,exit,cpu_s" (cpu = user + system)
  anchors.py rustboard SERVER LOGDIR [--checksum]
                                        time RustBoard's first load cycle, print the same
  anchors.py ea LOGDIR [--crc32c]       load LOGDIR with TensorBoard's EventMultiplexer
  anchors.py tbparse LOGDIR             load LOGDIR with tbparse's SummaryReader
  anchors.py table RESULTS.tsv          the markdown table of medians and ratios

Wall time is measured around the child process (perf_counter); peak RSS is the kernel's
ru_maxrss from wait4(2), which for a process tree is the largest single process; CPU time is
user + system of the whole tree. CPU seconds do not depend on what else the machine runs, wall
seconds do: compare both.
"""

import os
import statistics
import subprocess
import sys
import time


def _wait(p, t0):
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_maxrss, p.returncode, ru.ru_utime + ru.ru_stime


def measure(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    wall, rss, code, cpu = _wait(p, t0)
    print(f"{wall:.4f},{rss},{code},{cpu:.3f}")


def rustboard(server, logdir, checksum):
    """RustBoard has no one-shot mode that exits: with `--reload once` it loads once and keeps
    serving. We time from spawn to its own "Finished load cycle" log line, then close stdin
    (`--die-after-stdin`) so that it exits, and take its peak RSS from wait4."""
    cmd = [server, "--logdir", logdir, "--reload", "once", "--host", "127.0.0.1",
           "--port", "0", "--die-after-stdin", "-v"]
    if checksum:
        cmd.append("--checksum")
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    wall = None
    for line in p.stderr:
        if b"Finished load cycle" in line:
            wall = time.perf_counter() - t0
            sys.stderr.write(line.decode(errors="replace"))
            break
    p.stdin.close()
    for _ in p.stderr:
        pass
    _, rss, code, cpu = _wait(p, t0)
    if wall is None:
        print(f"nan,{rss},{code or 1},{cpu:.3f}")
    else:
        print(f"{wall:.4f},{rss},0,{cpu:.3f}")


def ea(logdir, fast_crc):
    t0 = time.perf_counter()
    if fast_crc:
        # The pure-Python CRC-32C of TensorBoard's TensorFlow stub, swapped for the C one:
        # masked_crc32c() looks the name up at every call.
        import crc32c as fast
        from tensorboard.compat.tensorflow_stub import pywrap_tensorflow as pw
        pw.crc32c = fast.crc32c
    from tensorboard.backend.event_processing import event_accumulator as acc
    from tensorboard.backend.event_processing import event_multiplexer as mux
    guidance = dict(acc.DEFAULT_SIZE_GUIDANCE)
    # Keep every histogram point (legacy and tensor form) and scalar: what a script that
    # computes per-step statistics needs; images keep TensorBoard's default.
    for kind in (acc.HISTOGRAMS, acc.TENSORS, acc.SCALARS):
        guidance[kind] = 0
    t1 = time.perf_counter()
    m = mux.EventMultiplexer(size_guidance=guidance)
    m.AddRunsFromDirectory(logdir)
    m.Reload()
    t2 = time.perf_counter()
    hist = tens = 0
    for run in m.Runs():
        a = m.GetAccumulator(run)
        tags = a.Tags()
        hist += sum(len(a.Histograms(t)) for t in tags.get(acc.HISTOGRAMS, []))
        tens += sum(len(a.Tensors(t)) for t in tags.get(acc.TENSORS, []))
    sys.stderr.write(f"ea: imports {t1 - t0:.2f}s load {t2 - t1:.2f}s histo {hist} tensors {tens}\n")


def tbparse(logdir):
    t0 = time.perf_counter()
    from tbparse import SummaryReader
    t1 = time.perf_counter()
    r = SummaryReader(logdir)
    h = r.histograms
    t = r.tensors
    t2 = time.perf_counter()
    sys.stderr.write(f"tbparse: imports {t1 - t0:.2f}s load {t2 - t1:.2f}s "
                     f"histograms {len(h)} tensors {len(t)}\n")


def _fmt_s(x):
    return f"{x:.3g}" if x < 10 else f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def _fmt_n(x):
    if x >= 100:
        return f"{x:,.0f}".replace(",", " ")
    return f"{x:.3g}"


def table(path):
    """RESULTS.tsv rows: reader, label, bytes, histograms, round, wall_s, rss_kb, exit, cpu_s."""
    rows = [line.rstrip("\n").split("\t") for line in open(path) if line.strip()]
    by = {}
    order = []
    for r in rows:
        reader, label, nbytes, hist, _rnd, wall, rss, code = r[:8]
        cpu = float(r[8]) if len(r) > 8 and r[8] else float("nan")
        if code != "0" or wall == "nan":
            continue
        key = (reader, label)
        if key not in by:
            by[key] = {"bytes": int(nbytes), "hist": int(hist), "walls": [], "rss": [],
                       "cpu": []}
            order.append(key)
        by[key]["walls"].append(float(wall))
        by[key]["rss"].append(int(rss))
        by[key]["cpu"].append(cpu)
    if not by:
        print("(no successful runs)")
        return
    main_bytes = max(v["bytes"] for v in by.values())
    med = {k: statistics.median(v["walls"]) for k, v in by.items()}
    # Time on the main logdir: measured, or scaled by bytes from a smaller logdir.
    main_time = {}
    for k, v in by.items():
        main_time[k] = med[k] * main_bytes / v["bytes"]
    cat = next((main_time[k] for k in order if k[0] == "cat" and by[k]["bytes"] == main_bytes),
               None)
    hi = next((main_time[k] for k in order
               if k[0] == "histinspect" and by[k]["bytes"] == main_bytes), None)
    print(f"| reader | logdir | wall s (median of n, min–max) | MB/s | histograms/s | peak RSS |"
          f" CPU s | time ÷ cat | time ÷ histinspect |")
    print("|---|---|---|---|---|---|---|---|---|")
    extrapolated = False
    for k in order:
        v = by[k]
        w = v["walls"]
        mbs = v["bytes"] / 1e6 / med[k]
        hps = v["hist"] / med[k]
        rss = statistics.median(v["rss"]) / 1024
        t = main_time[k]
        mark = ""
        if v["bytes"] != main_bytes:
            extrapolated = True
            mark = " †"
        wall = f"{_fmt_s(med[k])} (n={len(w)}, {_fmt_s(min(w))}–{_fmt_s(max(w))})"
        if mark:
            wall += f"; {_fmt_s(t)} extrapolated †"
        ratio_cat = f"{t / cat:.1f}×{mark}" if cat else "—"
        ratio_hi = f"{t / hi:.1f}×{mark}" if hi else "—"
        hist = _fmt_n(hps) if k[0] != "cat" else "—"
        cpu = statistics.median(v["cpu"])
        print(f"| {k[0]} | {k[1]} | {wall} | {_fmt_n(mbs)} | {hist} | {rss:.0f} MB |"
              f" {_fmt_s(cpu)} | {ratio_cat} | {ratio_hi} |")
    if extrapolated:
        print()
        print("† measured on the smaller logdir named in its row; MB/s, histograms/s and peak RSS "
              "are as measured there, its time on the main logdir is extrapolated linearly by "
              "bytes (their RSS grows with the logdir: it is not extrapolated).")


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd = argv[1]
    if cmd == "measure":
        rest = argv[2:]
        if rest and rest[0] == "--":
            rest = rest[1:]
        measure(rest)
    elif cmd == "rustboard":
        rustboard(argv[2], argv[3], "--checksum" in argv[4:])
    elif cmd == "ea":
        ea(argv[2], "--crc32c" in argv[3:])
    elif cmd == "tbparse":
        tbparse(argv[2])
    elif cmd == "table":
        table(argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

#!/usr/bin/env bash
# Side-by-side benchmark of histinspect against the readers people use today (issue 5), on the
# same generated logdir, interleaved over several rounds with a warm page cache.
#
#   benches/compare.sh [--size 100M] [--rounds 5] [--mode normal|many-small|one-file]
#                      [--anchors LIST] [--slow-size SIZE] [--slow-rounds N]
#                      [--logdir DIR] [--data DIR] [--venv DIR] [--histinspect BIN] [--seed S]
#                      [--tags N] [--out FILE] [--baseline BIN]
#
# Readers (--anchors, comma-separated; default all):
#   cat           find + cat of the event files to /dev/null: the page-cache floor
#   histinspect   `histinspect LOGDIR --format json > /dev/null` (the full report), all cores
#   histinspect-1 the same on one core (taskset -c 0, RAYON_NUM_THREADS=1)
#   histinspect-steps
#                 the per-step export, `histinspect LOGDIR --steps --format jsonl > /dev/null`,
#                 all cores (issue 15's second goal: its time ÷ cat); "histograms/s" is rows/s
#   rustboard     TensorBoard's Rust data server from the `tensorboard-data-server` wheel, one
#                 load cycle (--reload once, default --no-checksum), loopback only, port 0;
#                 timed from spawn to its "Finished load cycle" log line
#   rustboard-crc the same with --checksum (data CRC of every record, as histinspect does)
#   ea-crc32c     TensorBoard's EventMultiplexer/EventAccumulator, every histogram kept, its
#                 pure-Python CRC-32C swapped for the `crc32c` package
#   ea            the same with TensorBoard's own pure-Python CRC (no TensorFlow installed)
#   tbparse       tbparse SummaryReader(LOGDIR).histograms and .tensors
#
# --baseline BIN adds "histinspect (baseline)", another build's full report, right after
# histinspect in every round (and, with histinspect-steps, its per-step export after that one):
# this machine's speed moves from one minute to the next, so two versions are compared only in
# the same rounds.
#
# The Python anchors take minutes on 1 GB: --slow-size 100M runs ea, ea-crc32c and tbparse on a
# logdir of that size instead (--slow-rounds rounds, default 1; without --slow-size they run every round); the table then marks their rows
# with † and states that their time on the main logdir is extrapolated by bytes.
#
# --tags N makes the generator write N legacy and N tensor-form histogram tags per run instead of
# 8 + 8 (fewer steps per tag for the same bytes: RustBoard keeps up to 100 points per tag, so its
# memory and time depend on this much more than histinspect's).
#
# The table gives medians of wall time (and min–max), MB/s, histograms/s, peak RSS, CPU seconds
# (user + system: unlike wall time, independent of what else runs on the machine) and ratios.
#
# Generated logdirs go to --data (default /work/bench-data, or $HISTINSPECT_BENCH_DATA) and are
# reused when present; the anchors are installed from PyPI into --venv (default
# /tmp/histinspect-bench-venv). histinspect is built with `cargo build --release` unless --histinspect
# names a binary. Raw results: RESULTS.tsv and a log beside the logdir; the markdown table is
# printed and, with --out, written to a file. Needs python3 (with venv), taskset, bash.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
size=100M
rounds=5
mode=normal
anchors=cat,histinspect,histinspect-1,histinspect-steps,rustboard,rustboard-crc,ea-crc32c,ea,tbparse
slow_size=
slow_rounds=
logdir=
data=${HISTINSPECT_BENCH_DATA:-/work/bench-data}
venv=/tmp/histinspect-bench-venv
hi=
seed=1
tags=
out=
baseline=

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --anchors) anchors=$2; shift 2 ;;
    --slow-size) slow_size=$2; shift 2 ;;
    --slow-rounds) slow_rounds=$2; shift 2 ;;
    --logdir) logdir=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --venv) venv=$2; shift 2 ;;
    --histinspect) hi=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --tags) tags=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done
case $mode in
  normal) mode_flag= ;;
  many-small) mode_flag=--many-small ;;
  one-file) mode_flag=--one-file ;;
  *) echo "compare.sh: --mode is normal, many-small or one-file" >&2; exit 2 ;;
esac

log() { printf '%s\n' "$*" >&2; }
has() { [[ ",$anchors," == *",$1,"* ]]; }
mkdir -p "$data"

# --- histinspect and the generator ----------------------------------------------------------
target=${CARGO_TARGET_DIR:-$repo/target}
# A tree that does not build (someone mid-edit) falls back on the binaries built before.
build() {
  (cd "$repo" && cargo build --release --quiet "$@") ||
    log "compare.sh: warning: cargo build failed; using the binaries already in $target/release"
}
if [[ -z $hi ]]; then
  log "building histinspect and the generator (release)"
  build --bin histinspect --example gen_logdir
  hi=$target/release/histinspect
elif [[ ! -x $target/release/examples/gen_logdir ]]; then
  build --example gen_logdir
fi
gen=$target/release/examples/gen_logdir
for b in "$hi" "$gen"; do [[ -x $b ]] || { echo "compare.sh: missing $b" >&2; exit 1; }; done

# Generates (or reuses) a logdir; echoes its path. Its GEN line is kept in DIR.gen.
make_logdir() {
  local sz=$1 dir="$data/logdir-$mode-$1-s$seed${tags:+-t$tags}"
  if [[ ! -f $dir.gen ]]; then
    log "generating $dir ($sz, $mode)"
    rm -rf "$dir"
    local said
    # shellcheck disable=SC2086
    said=$("$gen" "$dir" --bytes "$sz" --seed "$seed" $mode_flag ${tags:+--legacy-tags $tags --tensor-tags $tags})
    log "$said"
    grep '^GEN ' <<<"$said" >"$dir.gen"
  fi
  echo "$dir"
}

# Bytes and histograms of a logdir: from its .gen file, else by du and histinspect's inventory.
logdir_facts() {
  local dir=$1
  if [[ -f $dir.gen ]]; then
    sed -E 's/.* bytes=([0-9]+) histograms=([0-9]+).*/\1 \2/' "$dir.gen"
  else
    local b h
    b=$(find "$dir" -type f -name '*tfevents*' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
    h=$("$hi" tags "$dir" --format json | python3 -c \
      'import json,sys; d=json.load(sys.stdin); print(sum(t["points"] for r in d["runs"] for t in r["tags"]))')
    echo "$b $h"
  fi
}

if [[ -z $logdir ]]; then
  logdir=$(make_logdir "$size")
fi
read -r bytes hists < <(logdir_facts "$logdir")
slow_logdir=$logdir
if [[ -n $slow_size ]]; then
  slow_logdir=$(make_logdir "$slow_size")
fi
read -r slow_bytes slow_hists < <(logdir_facts "$slow_logdir")

# --- the anchors' virtualenv ------------------------------------------------------------------
py=python3
server=
if has rustboard || has rustboard-crc || has ea || has ea-crc32c || has tbparse; then
  if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import tensorboard, tbparse, crc32c, tensorboard_data_server' 2>/dev/null; then
    log "installing tensorboard, tensorboard-data-server, tbparse, crc32c into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet tensorboard tensorboard-data-server tbparse crc32c
  fi
  py=$venv/bin/python
  server=$("$py" -c 'import os, tensorboard_data_server as t; print(os.path.join(os.path.dirname(t.__file__), "bin", "server"))')
  [[ -x $server ]] || { echo "compare.sh: no RustBoard binary at $server" >&2; exit 1; }
  log "RustBoard: $server ($("$server" --version 2>&1 | head -1)); $("$py" -m pip list 2>/dev/null | grep -iE '^(tensorboard|tbparse|crc32c) ' | tr -s ' ' | paste -sd, -)"
fi

# --- rounds -------------------------------------------------------------------------------------
stamp=$(date +%Y%m%d-%H%M%S)
results=$data/results-$mode-$size-$stamp.tsv
runlog=$data/results-$mode-$size-$stamp.log
: >"$results"
label() { awk -v b="$1" 'BEGIN { printf "%.0f MB", b / 1e6 }'; }
main_label="$(label "$bytes") $mode"
slow_label="$(label "$slow_bytes") $mode"
if [[ $slow_logdir == "$logdir" ]]; then
  slow_label=$main_label
  : "${slow_rounds:=$rounds}"
fi
: "${slow_rounds:=1}"

# run READER ROUND LOGDIR LABEL BYTES HISTS -- measured command...
run() {
  local reader=$1 round=$2 lab=$4 b=$5 h=$6; shift 7
  local res wall rss code cpu
  res=$("$@" 2>>"$runlog" | tail -1) || res="nan,0,1,"
  IFS=, read -r wall rss code cpu <<<"$res"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$reader" "$lab" "$b" "$h" "$round" "$wall" "$rss" "$code" "$cpu" >>"$results"
  log "  round $round  $(printf '%-26s' "$reader") ${wall}s wall  ${cpu}s cpu  $((rss / 1024)) MB  exit $code"
}

measure() { python3 "$here/anchors.py" measure -- "$@"; }
cat_files() { measure find "$1" -type f -name '*tfevents*' -exec cat {} +; }

log "logdir $logdir: $bytes bytes, $hists histograms; $rounds round(s)"
[[ $slow_logdir != "$logdir" ]] && log "slow anchors on $slow_logdir: $slow_bytes bytes, $slow_hists histograms; $slow_rounds round(s)"
# Warm the page cache (and the binaries) once, unrecorded.
find "$logdir" "$slow_logdir" -type f -name '*tfevents*' -exec cat {} + >/dev/null
"$hi" "$logdir" --format json >/dev/null 2>&1 || true

loads=()
for ((r = 1; r <= rounds; r++)); do
  loads+=("$(cut -d' ' -f1 /proc/loadavg)")
  log "round $r: load average $(cut -d' ' -f1-3 /proc/loadavg)"
  has cat && run cat "$r" "$logdir" "$main_label" "$bytes" "$hists" -- cat_files "$logdir"
  has histinspect && run histinspect "$r" "$logdir" "$main_label" "$bytes" "$hists" -- \
    measure "$hi" "$logdir" --format json
  [[ -n $baseline ]] && run "histinspect (baseline)" "$r" "$logdir" "$main_label" "$bytes" "$hists" -- \
    measure "$baseline" "$logdir" --format json
  has histinspect-1 && run "histinspect, 1 core" "$r" "$logdir" "$main_label" "$bytes" "$hists" -- \
    env RAYON_NUM_THREADS=1 taskset -c 0 python3 "$here/anchors.py" measure -- "$hi" "$logdir" --format json
  if has histinspect-steps; then
    run "histinspect --steps jsonl" "$r" "$logdir" "$main_label" "$bytes" "$hists" -- \
      measure "$hi" "$logdir" --steps --format jsonl
    [[ -n $baseline ]] && run "histinspect --steps jsonl (baseline)" "$r" "$logdir" "$main_label" "$bytes" "$hists" -- \
      measure "$baseline" "$logdir" --steps --format jsonl
  fi
  has rustboard && run "RustBoard" "$r" "$logdir" "$main_label" "$bytes" "$hists" -- \
    python3 "$here/anchors.py" rustboard "$server" "$logdir"
  has rustboard-crc && run "RustBoard --checksum" "$r" "$logdir" "$main_label" "$bytes" "$hists" -- \
    python3 "$here/anchors.py" rustboard "$server" "$logdir" --checksum
  if ((r <= slow_rounds)); then
    has ea-crc32c && run "EventAccumulator + crc32c" "$r" "$slow_logdir" "$slow_label" "$slow_bytes" "$slow_hists" -- \
      measure "$py" "$here/anchors.py" ea "$slow_logdir" --crc32c
    has ea && run "EventAccumulator" "$r" "$slow_logdir" "$slow_label" "$slow_bytes" "$slow_hists" -- \
      measure "$py" "$here/anchors.py" ea "$slow_logdir"
    has tbparse && run "tbparse" "$r" "$slow_logdir" "$slow_label" "$slow_bytes" "$slow_hists" -- \
      measure "$py" "$here/anchors.py" tbparse "$slow_logdir"
  fi
done

{
  echo "histinspect: $hi; tree $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet 2>/dev/null || echo '+dirty'), $(nproc) cores, $(uname -m), warm page cache, 1-min load average at round starts: ${loads[*]}; logdir $logdir ($bytes bytes, $hists histograms, generator seed $seed)"
  echo
  python3 "$here/anchors.py" table "$results"
} | tee ${out:+"$out"}
log "raw results: $results (log: $runlog)"

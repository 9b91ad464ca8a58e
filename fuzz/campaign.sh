#!/usr/bin/env bash
# Runs a fuzz campaign of RUNS executions per target on the stable toolchain (no sanitizer),
# one target after the other, and prints each target's execution count and rate.
#   fuzz/campaign.sh [RUNS] [TARGET...]      (default 10000000, all four targets)
# Needs cargo-fuzz (`cargo install cargo-fuzz`). Seeds: `cargo test --release --test
# fuzz_regressions -- --ignored write_seed_corpus`. A crash stops its target; the input is
# left in fuzz/artifacts/<target>/, to be fixed and committed to fuzz/regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-10000000}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(framing event stats report)
# Per target: the largest input tried.
declare -A max_len=([framing]=1024 [event]=1024 [stats]=1024 [report]=1024)
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  start=$(date +%s)
  set +e
  cargo fuzz run -s none -O --no-trace-compares "$t" "corpus/$t" -- \
    -runs="$runs" -max_len="${max_len[$t]}" -print_final_stats=1 > "/tmp/fuzz-$t.log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  done_line=$(grep -E '^#[0-9]+.*DONE' "/tmp/fuzz-$t.log" | tail -1 || true)
  echo "$t: exit $rc after ${secs} s: ${done_line:-no DONE line, see /tmp/fuzz-$t.log}"
done

#!/usr/bin/env bash
# Builds the wheel the way it is published (manylinux2014, linked with zig from PyPI), installs
# it into a fresh virtualenv, runs `histinspect --version` from there, and runs the pytest
# tests of the Python API against that installed command. Needs python3 (with venv) and
# network access to PyPI; nothing is installed outside a temporary directory.
#   python/test-wheel.sh            (called by .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/build"
"$work/build/bin/pip" install --quiet 'maturin>=1.5,<2' ziglang
# A target directory of its own: zig links differently, and sharing target/ would rebuild
# the test build every time.
PATH="$work/build/bin:$PATH" CARGO_TARGET_DIR="$repo/target/wheel" \
  maturin build --release --zig --compatibility manylinux2014 --out "$work/dist"

ls -l "$work"/dist/
python3 -m venv "$work/fresh"
"$work/fresh/bin/pip" install --quiet "$work"/dist/histinspect-*.whl pandas pytest
"$work/fresh/bin/histinspect" --version
# The wheel's command has remote support: a dead S3 endpoint is "cannot reach" and exit 2
# within the bounded retries, not "no remote support".
set +e
remote=$(AWS_ENDPOINT_URL=http://127.0.0.1:9 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x \
  AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 "$work/fresh/bin/histinspect" s3://bucket/logs 2>&1)
code=$?
set -e
if [[ $code -ne 2 || $remote != *"cannot reach the endpoint"* ]]; then
  echo "test-wheel: the wheel's histinspect on s3:// gave exit $code:" >&2
  echo "$remote" >&2
  exit 1
fi
# From outside the checkout, so that `import histinspect` is the installed package.
cd "$work"
"$work/fresh/bin/python" -m pytest "$repo/python/tests" -q -p no:cacheprovider

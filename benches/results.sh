#!/usr/bin/env bash
# Reading results: a 1,000,000-spec run of the quickstart example on the embedded engine, then
# final/scalars.pq read into pandas and polars (time to first row, whole table) against a CSV of
# the same data, and their sizes on disk. Exits non-zero only if it could not run.
#
#   bash benches/results.sh            # SPECS=1000000 REPS=3
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SCYTHE_CACHE:-$HOME/.cache/scythe}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
python="${SCYTHE_PYTHON:-$cache/venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ! "$python" -c 'import pandas, pyarrow, polars' 2>/dev/null; then
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install --quiet --disable-pip-version-check pandas pyarrow polars
  python="$cache/venv/bin/python"
fi
cargo build --release --quiet -p quickstart
specs="${SPECS:-1000000}"
SCYTHE_STORAGE="$work/runs" "$CARGO_TARGET_DIR/release/quickstart" scatter distance --design random -n "$specs" \
  --engine embedded > "$work/scatter.txt"
run="$(sed -n 's|^run *||p' "$work/scatter.txt")"
"$python" "$root/benches/python/read_results.py" "$work/runs/$run" "${REPS:-3}"

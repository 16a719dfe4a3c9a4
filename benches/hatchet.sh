#!/usr/bin/env bash
# End-to-end time of no-op specs on a local Hatchet engine (scripts/hatchet-engine.sh) with two
# worker processes of the quickstart example, next to the same specs on the embedded engine in
# the same run. Prints a table; exits non-zero only if it could not run.
#
#   bash benches/hatchet.sh            # 2,000 specs (one spec per leaf) and 100,000 (batched)
#   SPECS="2000 20000" bash benches/hatchet.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SCYTHE_CACHE:-$HOME/.cache/scythe}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

bash "$root/scripts/hatchet-engine.sh" install >/dev/null
# shellcheck disable=SC1090
. "$(bash "$root/scripts/hatchet-engine.sh" start 2>/dev/null)"
cargo build --release --quiet -p quickstart
bin="$CARGO_TARGET_DIR/release/quickstart"
export SCYTHE_STORAGE="$work/runs"
for name in b1 b2; do
  SCYTHE_WORKER_NAME="$name" "$bin" worker > "$work/$name.log" 2>&1 &
  pids+=($!)
done
sleep 1

seconds() { local start end; start=$(date +%s.%N); "$@" > "$work/last.txt" 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc; }

printf '%-10s %-22s %10s %14s\n' specs engine seconds specs/s
for n in ${SPECS:-2000 100000}; do
  # Up to 256 leaves: 2,000 specs -> 8 per leaf; 100,000 -> 391 per leaf.
  t_hatchet=$(seconds "$bin" scatter distance --sample "$n" --engine hatchet --wait)
  grep -q "($n succeeded" "$work/last.txt" || { cat "$work/last.txt"; exit 1; }
  t_embedded=$(seconds "$bin" scatter distance --sample "$n" --engine embedded --workers 2)
  grep -q "($n succeeded" "$work/last.txt" || { cat "$work/last.txt"; exit 1; }
  printf '%-10s %-22s %10.2f %14.0f\n' "$n" "hatchet (2 workers)" "$t_hatchet" "$(echo "$n / $t_hatchet" | bc -l)"
  printf '%-10s %-22s %10.2f %14.0f\n' "$n" "embedded (2 threads)" "$t_embedded" "$(echo "$n / $t_embedded" | bc -l)"
  echo "ratio hatchet/embedded at $n specs = $(echo "scale=2; $t_hatchet / $t_embedded" | bc -l)"
done

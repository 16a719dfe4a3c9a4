#!/usr/bin/env bash
# The benchmark suite, one command: every comparison of BENCHMARKS.md in one run, on this machine.
#
#   bash benches/run.sh                 # ~15 min on 2 cores; output also in ~/.cache/scythe/bench/latest.txt
#   ONLY="embedded results" bash benches/run.sh
#
# Parts (ONLY selects some): embedded (1,000,000 no-op specs vs a rayon+arrow baseline),
# building (10,000 building-energy specs vs the same), gather (peak memory of a 10,000,000-row
# gather), design (1,000,000 and 10,000,000 specs of 10 fields streamed to Parquet by `design`,
# lhs and sobol, vs a hand-written arrow loop; peak memory 10M/1M), cache (an identical re-run
# of 1,000,000 no-op specs vs the first run, and the peak memory of a lookup against a
# 10,000,000-entry result cache), hatchet (Scythe on Hatchet vs the Python tool and the
# engine's ceiling; 100,000 specs batched), results (reading a 1,000,000-spec run into pandas
# and polars vs CSV), report (`report` of a 1,000,000- and a 4,000,000-spec run: wall time and
# peak memory).
# Each part prints its table and ratio lines. Targets are reported, never asserted: the suite
# exits non-zero only when a part could not run.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SCYTHE_CACHE:-$HOME/.cache/scythe}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
parts="${ONLY:-embedded building gather design cache hatchet results report}"
mkdir -p "$cache/bench"
log="$cache/bench/latest.txt"
cd "$root" || exit 1

run_part() {
  local name=$1
  shift
  printf '\n==> %s: %s\n' "$name" "$*"
  "$@" 2>&1 | grep -v '^\[\(bench-hatchet\|hatchet-engine\|seaweedfs\|python-tool\)\]\|^seaweedfs: \|it/s\]'
  local rc=${PIPESTATUS[0]}
  ((rc == 0)) || { echo "!! $name could not run (exit $rc)"; failed+=("$name"); }
}

failed=()
{
  echo "Scythe benchmark suite, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "machine: $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(. /etc/os-release && echo "$PRETTY_NAME"), $(rustc --version)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  for part in $parts; do
    case $part in
      embedded) run_part embedded cargo bench --quiet --bench embedded ;;
      building) run_part building cargo bench --quiet -p building-energy --bench vs_baseline ;;
      gather) run_part gather cargo bench --quiet --bench gather_memory ;;
      design) run_part design cargo bench --quiet --bench design ;;
      cache) run_part cache cargo bench --quiet --bench cache ;;
      hatchet) run_part hatchet bash benches/hatchet.sh ;;
      results) run_part results bash benches/results.sh ;;
      report) run_part report cargo bench --quiet --bench report ;;
      *) echo "!! unknown part $part"; failed+=("$part") ;;
    esac
  done
  echo
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  ((${#failed[@]} == 0)) || echo "could not run: ${failed[*]}"
} 2>&1 | tee "$log"
grep -q '^could not run:' "$log" && exit 1
exit 0

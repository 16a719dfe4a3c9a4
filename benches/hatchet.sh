#!/usr/bin/env bash
# Scythe on a local Hatchet engine, side by side in one run with
#   - the Python tool (`scythe-engine` 1.3.0 from PyPI, benches/python-tool.sh) on the same engine,
#     the same S3 server (SeaweedFS), the same workers x slots and a no-op experiment of the same
#     shape (two floats in, scalars out);
#   - the engine's ceiling: the lightest client there is (scythe-hatchet's `ceiling` example:
#     trigger no-op tasks in bulk, complete each at once; no storage, no Parquet);
#   - Scythe's own embedded engine on the same specs.
# Scythe runs the quickstart example's `distance` experiment with its workers reading and writing
# the same SeaweedFS bucket. Prints a table and ratio lines; the targets are reported, never
# asserted. Exits non-zero only if it could not run.
#
#   bash benches/hatchet.sh
#   SPECS=500 BIG_SPECS=20000 SKIP_PYTHON=1 bash benches/hatchet.sh
#
# Settings: SPECS [2000] (the comparison), BIG_SPECS [100000] (Scythe batched; 0 skips),
# WORKERS [2] worker processes of SLOTS [3] slots each, SKIP_PYTHON (set: skip the Python tool).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SCYTHE_CACHE:-$HOME/.cache/scythe}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
specs="${SPECS:-2000}" big="${BIG_SPECS:-100000}" workers="${WORKERS:-2}" slots="${SLOTS:-3}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '[bench-hatchet] %s\n' "$*" >&2; }

bash "$root/scripts/hatchet-engine.sh" install >/dev/null
# shellcheck disable=SC1090
. "$(bash "$root/scripts/hatchet-engine.sh" start 2>/dev/null)"
bash "$root/scripts/seaweedfs.sh" start >/dev/null
eval "$(bash "$root/scripts/seaweedfs.sh" env)"
cargo build --release --quiet -p quickstart
cargo build --release --quiet -p scythe-hatchet --example ceiling
bin="$CARGO_TARGET_DIR/release/quickstart"
ceiling="$CARGO_TARGET_DIR/release/examples/ceiling"
engine_version="$(sed -n 's/.*hatchet-lite \(v[0-9.]*\).*/\1/p' <(bash "$root/scripts/hatchet-engine.sh" status) | head -1)"

# Scythe's tasks in a namespace of their own, results in the bucket.
export HATCHET_CLIENT_NAMESPACE="scythe_bench_$$"
export SCYTHE_STORAGE="s3://$SCYTHE_S3_BUCKET/bench-$$"
for i in $(seq 1 "$workers"); do
  SCYTHE_WORKER_NAME="bench-$i" SCYTHE_WORKER_SLOTS="$slots" "$bin" worker > "$work/worker-$i.log" 2>&1 &
  pids+=($!)
done
worker_pids=("${pids[@]}")
sleep 1

# Each `worker` is a supervisor whose child process serves the tasks (crash isolation): the
# Scythe worker processes are the started pids and their descendants.
worker_tree() {
  local pid
  for pid in "$@"; do
    echo "$pid"
    # shellcheck disable=SC2046
    worker_tree $(pgrep -P "$pid")
  done
}
# CPU seconds (user+sys) of the Scythe worker processes, including the children they have
# reaped (a worker process restarted after a crash).
workers_cpu() {
  local total=0 pid fields
  for pid in $(worker_tree "${worker_pids[@]}"); do
    read -ra fields < <(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    total=$((total + fields[11] + fields[12] + fields[13] + fields[14]))
  done
  echo "scale=2; $total / $(getconf CLK_TCK)" | bc
}
# Peak resident MiB of the largest Scythe worker process.
workers_peak_mib() {
  local max=0 pid kib
  for pid in $(worker_tree "${worker_pids[@]}"); do
    kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
    ((kib > max)) && max=$kib
  done
  echo "scale=1; $max / 1024" | bc
}

# CPU seconds (user+sys) of the engine: hatchet-lite, and PostgreSQL (the postmaster with the
# backends it has reaped, plus the live ones).
engine_cpu() {
  local total=0 pid fields postmaster
  for pid in $(pgrep -x hatchet-lite); do
    read -ra fields < <(sed 's/.*) //' "/proc/$pid/stat")
    total=$((total + fields[11] + fields[12]))
  done
  for postmaster in $(pgrep -x postgres); do
    [[ "$(ps -o comm= -p "$(ps -o ppid= -p "$postmaster" | tr -d ' ')")" == postgres ]] && continue
    read -ra fields < <(sed 's/.*) //' "/proc/$postmaster/stat")
    total=$((total + fields[11] + fields[12] + fields[13] + fields[14]))
    for pid in $(pgrep -P "$postmaster"); do
      read -ra fields < <(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
      total=$((total + fields[11] + fields[12]))
    done
  done
  echo "scale=2; $total / $(getconf CLK_TCK)" | bc
}

rows=()
row() { rows+=("$(printf '%-34s %8s %7s %9s %9s %9s %11s %10s %11s %11s' "$@")"); }
# scythe LABEL N [scatter args...]: one Hatchet run; sets wall, cpu.
scythe_run() {
  local label=$1 n=$2 start end cpu0 engine0 tasks engine client
  shift 2
  cpu0=$(workers_cpu)
  engine0=$(engine_cpu)
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$work/client.kib" \
    "$bin" scatter distance --design random -n "$n" --engine hatchet --wait "$@" > "$work/last.txt" 2>&1 || { cat "$work/last.txt" >&2; exit 1; }
  end=$(date +%s.%N)
  grep -q "($n succeeded" "$work/last.txt" || { cat "$work/last.txt" >&2; exit 1; }
  wall=$(echo "$end - $start" | bc)
  cpu=$(echo "$(workers_cpu) - $cpu0" | bc)
  engine=$(echo "$(engine_cpu) - $engine0" | bc)
  client=$(echo "scale=1; $(tail -1 "$work/client.kib") / 1024" | bc)
  tasks=$(sed -n 's/^tasks *\([0-9]*\) leaves.*/\1/p' "$work/last.txt")
  row "$label" "$n" "$tasks" "$(printf %.2f "$wall")" "$(printf %.0f "$(echo "$n / $wall" | bc -l)")" \
    "$(printf %.1f "$(echo "$tasks / $wall" | bc -l)")" "$cpu" "$(workers_peak_mib)" "$engine" "$client"
}

say "Scythe: $specs specs, default batching"
scythe_run "scythe (default batching)" "$specs"
scythe_default_wall=$wall
say "Scythe: $specs specs, one spec per task"
scythe_run "scythe (--batch 1)" "$specs" --batch 1
scythe_one_wall=$wall

say "embedded engine: $specs specs"
start=$(date +%s.%N)
SCYTHE_STORAGE="$work/embedded" "$bin" scatter distance --design random -n "$specs" --engine embedded --workers "$workers" > "$work/last.txt"
embedded_wall=$(echo "$(date +%s.%N) - $start" | bc)
row "scythe embedded (local folder)" "$specs" "-" "$(printf %.2f "$embedded_wall")" \
  "$(printf %.0f "$(echo "$specs / $embedded_wall" | bc -l)")" "-" "-" "-"

say "engine ceiling: $specs no-op tasks"
"$ceiling" "$specs" --slots "$slots" --workers "$workers" > "$work/ceiling.json" 2> "$work/ceiling.err" || {
  cat "$work/ceiling.err" >&2
  exit 1
}
json() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
ceiling_wall=$(json "$work/ceiling.json" seconds)
ceiling_rate=$(json "$work/ceiling.json" tasks_per_s)
row "engine ceiling (minimal client)" "$specs" "$specs" "$ceiling_wall" "$(printf %.0f "$ceiling_rate")" \
  "$ceiling_rate" "-" "-"

python_wall=""
if [[ -z ${SKIP_PYTHON:-} ]]; then
  say "Python scythe-engine 1.3.0: $specs specs (minutes)"
  SPECS="$specs" WORKERS="$workers" SLOTS="$slots" bash "$root/benches/python-tool.sh" > "$work/python.json"
  python_wall=$(json "$work/python.json" wall_s)
  row "python scythe-engine 1.3.0" "$specs" "$specs" "$python_wall" \
    "$(printf %.0f "$(echo "$specs / $python_wall" | bc -l)")" \
    "$(printf %.1f "$(echo "$specs / $python_wall" | bc -l)")" "$(json "$work/python.json" worker_cpu_s)" \
    "$(json "$work/python.json" worker_peak_rss_mib)"
  # The tool's best user sets no durable slots (its tasks are not durable): the engine then
  # hands the default slots out at once instead of about one a second.
  say "Python scythe-engine 1.3.0, no durable slots: $specs specs"
  SPECS="$specs" WORKERS="$workers" SLOTS="$slots" DURABLE_SLOTS=0 bash "$root/benches/python-tool.sh" > "$work/python0.json"
  python0_wall=$(json "$work/python0.json" wall_s)
  row "python, SCYTHE_WORKER_DURABLE_SLOTS=0" "$specs" "$specs" "$python0_wall" \
    "$(printf %.0f "$(echo "$specs / $python0_wall" | bc -l)")" \
    "$(printf %.1f "$(echo "$specs / $python0_wall" | bc -l)")" "$(json "$work/python0.json" worker_cpu_s)" \
    "$(json "$work/python0.json" worker_peak_rss_mib)"
fi

if ((big > 0)); then
  say "Scythe: $big specs, default batching"
  scythe_run "scythe (default batching)" "$big"
  big_wall=$wall
fi

echo
echo "Hatchet $engine_version on loopback, $workers workers x $slots slots, SeaweedFS S3; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %8s %7s %9s %9s %9s %11s %10s %11s %11s\n' client specs tasks "wall s" specs/s tasks/s "worker CPU" "peak MiB" \
  "engine CPU" "scatter MiB"
echo "(peak MiB: the largest worker process so far; engine CPU: hatchet-lite + PostgreSQL during the run;"
echo " scatter MiB: peak of the process that allocated, triggered and waited)"
printf '%s\n' "${rows[@]}"
echo
scythe_task_rate=$(echo "$specs / $scythe_one_wall" | bc -l)
printf 'ratio scythe(--batch 1) tasks/s / ceiling tasks/s = %.2f (target >= 0.8)\n' "$(echo "$scythe_task_rate / $ceiling_rate" | bc -l)"
printf 'ratio scythe(batched) specs/s / ceiling tasks/s = %.1f\n' "$(echo "$specs / $scythe_default_wall / $ceiling_rate" | bc -l)"
if ((big > 0)); then
  printf 'ratio scythe(batched, %s specs) specs/s / ceiling tasks/s = %.1f\n' "$big" "$(echo "$big / $big_wall / $ceiling_rate" | bc -l)"
fi
printf 'ratio hatchet/embedded wall at %s specs = %.1f\n' "$specs" "$(echo "$scythe_default_wall / $embedded_wall" | bc -l)"
if [[ -n $python_wall ]]; then
  printf 'ratio python/scythe wall = %.1f (target >= 5), one spec per task: %.1f\n' \
    "$(echo "$python_wall / $scythe_default_wall" | bc -l)" "$(echo "$python_wall / $scythe_one_wall" | bc -l)"
  printf 'ratio python(no durable slots)/scythe wall = %.1f (target >= 5), one spec per task: %.1f\n' \
    "$(echo "$python0_wall / $scythe_default_wall" | bc -l)" "$(echo "$python0_wall / $scythe_one_wall" | bc -l)"
fi

#!/usr/bin/env bash
# End-to-end time of the Python tool (`scythe-engine==1.3.0` from PyPI) on a no-op experiment,
# on the local Hatchet engine (scripts/hatchet-engine.sh) and SeaweedFS (scripts/seaweedfs.sh),
# for comparison with Scythe (Rust) on the same engine and the same slots.
#
#   bash benches/python-tool.sh                     # 2,000 specs, 2 workers x 3 slots
#   SPECS=200 WORKERS=2 SLOTS=3 bash benches/python-tool.sh
#
# Prints ONE JSON line on stdout, progress on stderr:
#   wall_s                 allocate() + ref.result() in the allocating process (scatter.py);
#                          ref.result() polls every 1 s, so this is rounded up to the next poll
#   allocate_s             allocate() alone (versioning, specs.pq upload, trigger, yml files)
#   worker_cpu_s           user+sys CPU of all worker process trees during that window
#   worker_total_cpu_s     the same over the workers' whole lifetime (incl. Python start-up)
#   worker_peak_rss_mib    largest per-worker peak RSS (VmHWM summed over the worker's tree)
#   worker_peak_rss_total_mib  the sum over all workers
#   scatter_cpu_s          user+sys CPU of the allocating process during the window
#   scatter_process_cpu_s  the same over its whole lifetime (incl. imports)
#   succeeded              rows of final/scalars.pq with z == x + y (distinct sort_index)
# Exits non-zero only if it could not run.
#
# Settings: SPECS [2000], WORKERS [2], SLOTS [3] (slots per worker), DURABLE_SLOTS [unset: the
# tool's default of 1000 durable slots per worker; 0 is what its best user would choose, since
# Scythe's tasks are not durable and the engine then hands out default slots at once], PY_SCYTHE_VENV
# [$SCYTHE_CACHE/py-scythe/venv], PYBENCH_NAMESPACE [scythe_pybench] (Hatchet namespace of the
# Python tasks, so that they never share task names with Scythe's own `scythe_scatter_gather`),
# PYBENCH_LOG_LEVEL [WARNING] (Python logging level of workers and allocator), KEEP_LOGS [unset]
# (set: keep the temp dir with the worker logs).
# The engine and SeaweedFS are started if needed and stopped at the end only if this script
# started them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
here="$root/benches/python"
cache="${SCYTHE_CACHE:-$HOME/.cache/scythe}"
venv="${PY_SCYTHE_VENV:-$cache/py-scythe/venv}"
specs="${SPECS:-2000}"
workers="${WORKERS:-2}"
slots="${SLOTS:-3}"
durable_slots="${DURABLE_SLOTS:-}"
engine_sh="$root/scripts/hatchet-engine.sh"
seaweed_sh="$root/scripts/seaweedfs.sh"

say() { printf '[python-tool] %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

work="$(mktemp -d "${TMPDIR:-/tmp}/python-tool.XXXXXX")"
worker_pids=()
started_engine=0
started_seaweed=0
ok=0

stop_workers() {
  local pid all=() p
  for pid in "${worker_pids[@]}"; do
    all+=("$pid")
    for p in $(pgrep -P "$pid" 2>/dev/null || true); do all+=("$p"); done
  done
  ((${#all[@]})) || return 0
  kill -TERM "${all[@]}" 2>/dev/null || true
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${all[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.2
  done
  kill -KILL "${all[@]}" 2>/dev/null || true
  wait "${worker_pids[@]}" 2>/dev/null || true
  worker_pids=()
}

cleanup() {
  local rc=$?
  stop_workers
  if ((!ok)); then
    for f in "$work"/*.log; do
      [[ -f $f ]] || continue
      say "---- tail of $(basename "$f") ----"
      tail -n 40 "$f" >&2 || true
    done
  fi
  if ((started_engine)); then bash "$engine_sh" stop >/dev/null 2>&1 || true; fi
  if ((started_seaweed)); then bash "$seaweed_sh" stop >/dev/null 2>&1 || true; fi
  if [[ -n ${KEEP_LOGS:-} ]]; then say "logs kept in $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- Python tool -----------------------------------------------------------------------------
# scythe-engine 1.3.0 imports `requests` (scythe/utils/filesys.py) without declaring it.
if ! "$venv/bin/python" -c 'import importlib.metadata as m, requests, hatchet_sdk, pandas, boto3; assert m.version("scythe-engine") == "1.3.0"' 2>/dev/null; then
  say "creating $venv with scythe-engine==1.3.0"
  mkdir -p "$(dirname "$venv")"
  [[ -x $venv/bin/pip ]] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check scythe-engine==1.3.0 requests >&2
fi

# ---- S3 (SeaweedFS) --------------------------------------------------------------------------
seaweed_pid="$cache/seaweedfs/weed.pid"
if ! { [[ -f $seaweed_pid ]] && kill -0 "$(cat "$seaweed_pid")" 2>/dev/null; }; then
  started_seaweed=1
fi
bash "$seaweed_sh" start >&2
eval "$(bash "$seaweed_sh" env)"
export AWS_ENDPOINT_URL="$AWS_ENDPOINT" AWS_DEFAULT_REGION="$AWS_REGION"
export SCYTHE_STORAGE_BUCKET="$SCYTHE_S3_BUCKET" SCYTHE_STORAGE_BUCKET_PREFIX="pybench"

# ---- Hatchet engine --------------------------------------------------------------------------
# Another install (e.g. started by the lead in the background) may be running: wait for it
# instead of starting a second `go install`.
for i in $(seq 1 720); do
  pgrep -f "hatchet-engine.sh install" >/dev/null 2>&1 || break
  ((i == 1)) && say "waiting for a running hatchet-engine.sh install to finish"
  sleep 5
done
bash "$engine_sh" install >"$work/engine-install.log" 2>&1 || die "hatchet-engine.sh install failed: $(tail -n 5 "$work/engine-install.log")"
if ! bash "$engine_sh" status >/dev/null 2>&1; then
  started_engine=1
  say "starting the local Hatchet engine"
fi
envfile="$(bash "$engine_sh" start 2>"$work/engine-start.log")" || die "hatchet-engine.sh start failed: $(tail -n 5 "$work/engine-start.log")"
# shellcheck disable=SC1090
. "$envfile"
export HATCHET_CLIENT_NAMESPACE="${PYBENCH_NAMESPACE:-scythe_pybench}"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

# ---- workers ---------------------------------------------------------------------------------
run_id="$(date +%s)-$$"
names=()
for w in $(seq 1 "$workers"); do
  name="pybench-$run_id-w$w"
  names+=("$name")
  env SCYTHE_WORKER_NAME="$name" SCYTHE_WORKER_SLOTS="$slots" ${durable_slots:+"SCYTHE_WORKER_DURABLE_SLOTS=$durable_slots"} \
    "$venv/bin/python" "$here/worker.py" >"$work/worker$w.log" 2>&1 &
  worker_pids+=($!)
done
say "started $workers workers x $slots slots, ${durable_slots:-default} durable slots (pids ${worker_pids[*]}); logs in $work"

# ---- allocate, wait, verify ------------------------------------------------------------------
SPECS="$specs" WORKERS="$workers" SLOTS="$slots" WORKER_PIDS="${worker_pids[*]}" WORKER_NAMES="${names[*]}" \
  "$venv/bin/python" "$here/scatter.py" >"$work/result.json" ||
  die "scatter.py failed"
for pid in "${worker_pids[@]}"; do
  kill -0 "$pid" 2>/dev/null || die "worker $pid died during the run"
done
line="$(tail -n 1 "$work/result.json")"
[[ $line == \{* ]] || die "no result line from scatter.py"
succeeded="$("$venv/bin/python" -c 'import json,sys; print(json.loads(sys.argv[1])["succeeded"])' "$line")"
[[ $succeeded == "$specs" ]] || say "warning: only $succeeded of $specs specs succeeded"
ok=1
printf '%s\n' "$line"

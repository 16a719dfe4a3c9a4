#!/usr/bin/env bash
# The building-energy example on a real Hatchet engine with two worker processes: a run with a
# failing spec, compared row for row with the same specs on the embedded engine; a three-level
# fan-out tree; a worker killed with SIGKILL mid-run; a worker stopped with SIGTERM while it holds
# scatter tasks; the engine restarted mid-run. Expects the engine started by
# scripts/hatchet-engine.sh (scripts/test.sh does it).
set -euo pipefail

# shellcheck source=scripts/e2e-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/e2e-common.sh"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# shellcheck disable=SC1090
. "$(bash "$root/scripts/hatchet-engine.sh" start)"
export SCYTHE_STORAGE="$work/runs" SCYTHE_CACHE_DIR="$work/cache"

start_worker() { SCYTHE_WORKER_NAME="$1" "$bin" worker > "$work/$1.log" 2>&1 & pids+=($!); }
start_worker w1
start_worker w2

# 1,000 specs with one impossible building (row 57), on Hatchet, then on the embedded engine.
building_specs 1000 100 > "$work/specs.csv"

"$bin" scatter --allow-failures simulate --specs "$work/specs.csv" --engine hatchet --wait | tee "$work/hatchet.txt"
grep -q "1000 (999 succeeded, 1 failed, 0 not run)" "$work/hatchet.txt"
hatchet_run="$(sed -n 's|^run *||p' "$work/hatchet.txt")"
"$bin" scatter --allow-failures simulate --specs "$work/specs.csv" --engine embedded --version keep > "$work/embedded.txt"
embedded_run="$(sed -n 's|^run *||p' "$work/embedded.txt")"

check_building_run "$work/runs/$hatchet_run" 999 1 "[57]"
# Conformance: the same specs give the same tables on both engines, row for row.
"$python" - "$work/runs/$hatchet_run" "$work/runs/$embedded_run" <<'PY'
import sys
import pandas as pd
a, b = sys.argv[1], sys.argv[2]
for table in ["scalars", "monthly", "failures"]:
    x = pd.read_parquet(f"{a}/final/{table}.pq").reset_index().drop(columns=["experiment_id", "weather"])
    y = pd.read_parquet(f"{b}/final/{table}.pq").reset_index().drop(columns=["experiment_id", "weather"])
    pd.testing.assert_frame_equal(x, y)
print("conformance: hatchet and embedded tables are equal")
PY

# A fan-out tree three levels deep (60 leaves of 5 specs, at most 4 children per scatter task),
# with one worker stopped by SIGTERM mid-run: it finishes its leaves and hands its scatter tasks
# back, which re-attach to their children on another worker.
building_specs 300 50 > "$work/tree.csv"
"$bin" scatter --allow-failures simulate --specs "$work/tree.csv" --engine hatchet --wait --batch 5 --fanout 4 \
  > "$work/tree.txt" 2>&1 &
scatter=$!
sleep 1.5
kill -TERM "${pids[1]}"
wait "${pids[1]}" || true
start_worker w4
wait "$scatter"
cat "$work/tree.txt"
grep -q "tasks *60 leaves of up to 5 specs under 3 levels" "$work/tree.txt"
grep -q "300 (299 succeeded, 1 failed, 0 not run)" "$work/tree.txt"
cat "$work/w2.log"
grep -Eq "handing back [1-9][0-9]* scatter" "$work/w2.log"

# A worker killed with SIGKILL mid-run: its leaves are reassigned; every spec appears once.
"$bin" scatter --allow-failures simulate --sample 3000 --engine hatchet --wait > "$work/killed.txt" 2>&1 &
scatter=$!
sleep 3
kill -9 "${pids[0]}"
start_worker w3
wait "$scatter"
cat "$work/killed.txt"
grep -q "3000 (3000 succeeded, 0 failed, 0 not run)" "$work/killed.txt"

# The engine restarted mid-run: workers reconnect and the run completes.
"$bin" scatter --allow-failures simulate --sample 3000 --seed 1 --engine hatchet --wait > "$work/restart.txt" 2>&1 &
scatter=$!
sleep 3
bash "$root/scripts/hatchet-engine.sh" restart-engine >/dev/null
wait "$scatter"
cat "$work/restart.txt"
# Every spec has a result. Rarely, the engine loses a leaf's assignment while it restarts; the
# leaf then fails for good on its timeout (2 min per attempt), its specs are recorded as failed
# (never dropped) and `resume` runs them again.
grep -Eq "3000 \(([0-9]+) succeeded, ([0-9]+) failed, 0 not run\)" "$work/restart.txt"
if ! grep -q "3000 (3000 succeeded, 0 failed, 0 not run)" "$work/restart.txt"; then
  grep -q "the leaf task failed: Task exceeded timeout" "$work/restart.txt"
  restart_run="$(sed -n 's|^run *||p' "$work/restart.txt")"
  "$bin" resume --retry-failed "$restart_run" | tee "$work/restart-resume.txt"
  grep -q "3000 (3000 succeeded, 0 failed, 0 not run)" "$work/restart-resume.txt"
fi
# Without --wait, scatter returns at once and `status` reports progress until the run completes.
"$bin" scatter --allow-failures simulate --sample 600 --seed 2 --engine hatchet | tee "$work/nowait.txt"
nowait="$(sed -n 's|^run *||p' "$work/nowait.txt")"
for _ in $(seq 1 240); do
  "$bin" status "$nowait" > "$work/status.txt"
  grep -q "state:     complete" "$work/status.txt" && break
  grep -q "progress:" "$work/status.txt"
  sleep 0.5
done
cat "$work/status.txt"
grep -q "succeeded: 600" "$work/status.txt"
echo "e2e-hatchet: ok"

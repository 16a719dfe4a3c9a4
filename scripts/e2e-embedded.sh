#!/usr/bin/env bash
# Runs the building-energy example on the embedded engine from a CSV of specs that holds one
# physically impossible spec, then checks the run folder with pandas (tests/python/check_run.py).
set -euo pipefail
# test.sh exports a Hatchet token for other steps; these runs use the embedded engine.
export SCYTHE_ENGINE=embedded

# shellcheck source=scripts/e2e-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/e2e-common.sh"
trap 'rm -rf "$work"' EXIT

building_specs 200 25 > "$work/specs.csv"

(cd "$work" && "$bin" --storage "$work/runs" scatter --allow-failures simulate --specs "$work/specs.csv") | tee "$work/out.txt"
run_dir="$(sed -n 's|^folder *file://||p' "$work/out.txt")"
"$bin" --storage "$work/runs" runs | tee "$work/runs.txt"
grep -q "complete" "$work/runs.txt"

check_building_run "$run_dir" 199 1 "[57]"

# The results downloader fetches every final table.
"$bin" --storage "$work/runs" results simulate/latest --out "$work/download" > /dev/null
for table in scalars failures monthly result_file_refs; do
  test -s "$work/download/$(sed -n 's|^run *||p' "$work/out.txt")/$table.pq"
done
# Allocate once, run shards in separate processes (as on separate machines sharing storage), gather.
sharded="$("$bin" --storage "$work/sharded" allocate simulate --specs "$work/specs.csv")"
"$bin" --storage "$work/sharded" work --allow-failures "$sharded" --shard 0/2 --workers 1 &
"$bin" --storage "$work/sharded" work --allow-failures "$sharded" --shard 1/2 --workers 1 &
wait
"$bin" --storage "$work/sharded" gather --allow-failures "$sharded" | tee "$work/gathered.txt"
grep -q "199 succeeded, 1 failed, 0 missing" "$work/gathered.txt"
"$bin" --storage "$work/sharded" status "$sharded" | grep -q "state:     complete"

# The experiment's schema, as written to experiment_io_spec.yml.
"$bin" schema simulate | grep -q "title: ExperimentIO"

# Ctrl-C stops taking new specs and keeps every finished result; resume runs the rest.
("$bin" --storage "$work/interrupted" scatter --allow-failures simulate --sample 8000 > "$work/interrupted.txt" 2>&1) &
scatter=$!
for _ in $(seq 1 100); do
  [ -n "$(find "$work/interrupted" -path '*results/parts/scalars/*.pq' -print -quit 2>/dev/null)" ] && break
  sleep 0.1
done
kill -INT "$scatter"
status=0; wait "$scatter" || status=$?
cat "$work/interrupted.txt"
[ "$status" -eq 3 ] || { echo "an interrupted scatter must exit with 3, got $status" >&2; exit 1; }
grep -q "interrupted: \`resume" "$work/interrupted.txt"
"$bin" --storage "$work/interrupted" resume --allow-failures simulate/latest | tee "$work/resumed.txt"
grep -q "8000 (8000 succeeded, 0 failed, 0 not run)" "$work/resumed.txt"
echo "e2e-embedded: ok"

#!/usr/bin/env bash
# The building-energy example against a real S3 server (SeaweedFS from PyPI, started here):
# scatter sampled specs into a bucket, list the runs, download the final tables and check them
# with pandas.
set -euo pipefail
# test.sh exports a Hatchet token for other steps; these runs use the embedded engine.
export SCYTHE_ENGINE=embedded

# shellcheck source=scripts/e2e-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/e2e-common.sh"
trap 'rm -rf "$work"; bash "$root/scripts/seaweedfs.sh" stop' EXIT

bash "$root/scripts/seaweedfs.sh" start
eval "$(bash "$root/scripts/seaweedfs.sh" env)"
export SCYTHE_CACHE_DIR="$work/cache"
# The Python tool's venv (scripts/test.sh installs it), also the one with boto3.
tool_python="${SCYTHE_PYTHON_TOOL:-$cache/venv-python-tool/bin/python}"
prefix="e2e-$(date +%s)-$$"
storage="s3://$SCYTHE_S3_BUCKET/$prefix"


"$bin" --storage "$storage" scatter --allow-failures simulate --sample 600 --seed 7 | tee "$work/out.txt"
grep -q "600 (600 succeeded, 0 failed, 0 not run)" "$work/out.txt"
run="$(sed -n 's|^run *||p' "$work/out.txt")"
case "$(sed -n 's|^folder *||p' "$work/out.txt")" in
  "$storage"/simulate/v1.0.0/*) ;;
  *) echo "run folder is not in the bucket" >&2; exit 1 ;;
esac
# The bucket can also come from SCYTHE_STORAGE_BUCKET / SCYTHE_STORAGE_BUCKET_PREFIX.
SCYTHE_STORAGE_BUCKET="$SCYTHE_S3_BUCKET" SCYTHE_STORAGE_BUCKET_PREFIX="$prefix" "$bin" runs | tee "$work/runs.txt"
grep -q "complete" "$work/runs.txt"
"$bin" --storage "$storage" status "$run" | grep -q "succeeded: 600"

"$bin" --storage "$storage" results "$run" --out "$work/download" > /dev/null
check_building_run "$work/download/$run" 600 0 "[]" '"uri_prefix": "s3://"'
# Two runs of one version started at once: a second already taken moves a run to the next one,
# so every folder name is a plain timestamp. The Python tool lists and loads all three runs.
"$bin" --storage "$storage" scatter simulate --sample 5 --seed 1 --version keep > "$work/a.txt" &
first=$!
"$bin" --storage "$storage" scatter simulate --sample 5 --seed 2 --version keep > "$work/b.txt"
wait "$first"
"$tool_python" "$root/tests/python/python_tool_reads_run.py" \
  "$SCYTHE_S3_BUCKET" "$prefix" simulate 3 5
# The result cache on SeaweedFS: the same specs again reuse every result (no spec runs), and
# every final table but provenance.pq equals the first run's row for row (output files keep
# the URIs of the objects the first run stored; uploaded input files are named by each run's
# own folder, so they compare by file name).
"$bin" --storage "$storage" scatter --allow-failures simulate --sample 600 --seed 7 | tee "$work/again.txt"
grep -q "reused 600 specs" "$work/again.txt"
grep -q "running 0 specs" "$work/again.txt"
again="$(sed -n 's|^run *||p' "$work/again.txt")"
"$bin" --storage "$storage" results "$again" --out "$work/download" > /dev/null
"$python" - "$work/download/$run" "$work/download/$again" <<'PY'
import sys
from pathlib import Path
import pandas as pd
first, again = Path(sys.argv[1]), Path(sys.argv[2])
tables = sorted(p.name for p in first.glob("*.pq") if p.name != "provenance.pq")
assert tables == sorted(p.name for p in again.glob("*.pq") if p.name != "provenance.pq"), tables
def load(path):
    frame = pd.read_parquet(path).reset_index().drop(columns=["experiment_id"])
    # Input files uploaded by each run are named by their own run folder: compare file names.
    for column in frame.columns:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) and values.astype(str).str.contains("/artifacts/").any():
            frame[column] = values.astype(str).str.rsplit("/", n=1).str[-1]
    return frame
for name in tables:
    pd.testing.assert_frame_equal(load(first / name), load(again / name))
cached = pd.read_parquet(again / "provenance.pq").reset_index()["cached_from"]
assert (cached == first.relative_to(first.parents[2]).as_posix()).all(), cached.unique()
print(f"e2e-s3: a cached re-run equals the first run row for row ({', '.join(tables)})")
PY
# The worker cache revalidates before reuse: an input object overwritten on the S3 server (same
# key, same length) is fetched again, by the read_input example (built by `cargo test`).
reader="$CARGO_TARGET_DIR/debug/examples/read_input"
[ -x "$reader" ] || cargo build --quiet --example read_input
note="s3://$SCYTHE_S3_BUCKET/$prefix/inputs/note.txt"
printf 'file\n%s\n' "$note" > "$work/note.csv"
read_note() {
  AWS_ENDPOINT_URL="$AWS_ENDPOINT" "$tool_python" -c 'import boto3, sys
boto3.client("s3").put_object(Bucket=sys.argv[1], Key=sys.argv[2], Body=sys.argv[3].encode())' \
    "$SCYTHE_S3_BUCKET" "$prefix/inputs/note.txt" "$1"
  "$reader" --storage "$storage" scatter read_input --specs "$work/note.csv" > /dev/null
  rm -rf "$work/note"
  "$reader" --storage "$storage" results read_input/latest --out "$work/note" > /dev/null
  "$python" -c 'import glob, sys, pandas as pd
text = pd.read_parquet(glob.glob(sys.argv[1] + "/**/scalars.pq", recursive=True)[0])["text"].tolist()
assert text == [sys.argv[2]], (text, sys.argv[2])' "$work/note" "$1"
}
read_note "version 1"
read_note "version 2"
echo "e2e-s3: an object overwritten on the server was fetched again"
# Inputs reached the workers through the cache, keyed by scheme and bucket.
test -n "$(find "$work/cache/s3/$SCYTHE_S3_BUCKET" -name '*.csv' -print -quit)"
echo "e2e-s3: ok"

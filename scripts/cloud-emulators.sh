#!/usr/bin/env bash
# Real Azure Blob and Google Cloud Storage servers for scythe-storage's cloud tests, on loopback
# only, installed from package registries into a cache outside the repository. Idempotent.
#
#   Azure: Azurite (npm `azurite`, blob service only) with its well-known dev account
#          `devstoreaccount1`.
#   GCS:   fake-gcs-server (Go module `github.com/fsouza/fake-gcs-server`), filesystem backend.
#
#   scripts/cloud-emulators.sh install   install both (if not installed yet)
#   scripts/cloud-emulators.sh start     install if needed, start, wait, create the test container/bucket
#   scripts/cloud-emulators.sh stop
#   scripts/cloud-emulators.sh status
#   scripts/cloud-emulators.sh env       print the variables the tests read, e.g.
#                                        eval "$(scripts/cloud-emulators.sh env)"
#
# Settings: SCYTHE_CACHE (default ~/.cache/scythe), SCYTHE_AZURITE_PORT (10000),
# SCYTHE_FAKE_GCS_PORT (4443), SCYTHE_TEST_BUCKET (scythe-test; the Azure container and GCS bucket).
set -euo pipefail

azurite_version="3.35.0" # 3.36+ needs Node >= 21
fake_gcs_version="v1.56.1"

cache="${SCYTHE_CACHE:-$HOME/.cache/scythe}"
azurite_home="$cache/azurite"
gcs_home="$cache/fake-gcs-server"
azurite_port="${SCYTHE_AZURITE_PORT:-10000}"
gcs_port="${SCYTHE_FAKE_GCS_PORT:-4443}"
bucket="${SCYTHE_TEST_BUCKET:-scythe-test}"
host="127.0.0.1"

# Azurite's documented development account; public, not a secret.
azure_account="devstoreaccount1"
azure_key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

azurite_bin="$azurite_home/$azurite_version/node_modules/.bin/azurite-blob"
gcs_bin="$gcs_home/$fake_gcs_version/bin/fake-gcs-server"

env_lines() {
  cat <<ENV
export SCYTHE_TEST_AZURITE=http://$host:$azurite_port
export SCYTHE_TEST_AZURITE_CONTAINER=$bucket
export AZURITE_BLOB_STORAGE_URL=http://$host:$azurite_port
export SCYTHE_TEST_FAKE_GCS=http://$host:$gcs_port
export SCYTHE_TEST_FAKE_GCS_BUCKET=$bucket
ENV
}

log() { echo "cloud-emulators: $*" >&2; }

install_azurite() {
  if [ -x "$azurite_bin" ]; then return 0; fi
  command -v npm >/dev/null || { log "npm is required for Azurite"; exit 1; }
  mkdir -p "$azurite_home/$azurite_version"
  log "installing azurite@$azurite_version into $azurite_home/$azurite_version"
  (cd "$azurite_home/$azurite_version" &&
    npm install --no-audit --no-fund --no-save --loglevel=error --prefix . "azurite@$azurite_version" >/dev/null)
}

install_fake_gcs() {
  if [ -x "$gcs_bin" ]; then return 0; fi
  command -v go >/dev/null || { log "Go is required for fake-gcs-server"; exit 1; }
  mkdir -p "$gcs_home/$fake_gcs_version"
  log "building fake-gcs-server@$fake_gcs_version into $gcs_home/$fake_gcs_version"
  # A pinned version needs no version list from the module proxy. The module and build caches
  # (over 1 GB) are only needed for this build: they live in a scratch folder removed after it.
  local scratch="$gcs_home/build"
  GOBIN="$gcs_home/$fake_gcs_version/bin" GOFLAGS=-mod=mod GOPATH="$scratch/gopath" GOCACHE="$scratch/cache" \
    go install "github.com/fsouza/fake-gcs-server@$fake_gcs_version"
  GOPATH="$scratch/gopath" GOCACHE="$scratch/cache" go clean -modcache -cache
  rm -rf "$scratch"
}

pid_running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_http() { # name url pidfile logfile
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null "$2"; then return 0; fi
    pid_running "$3" || { tail -20 "$4" >&2; log "$1 exited"; exit 1; }
    sleep 0.25
  done
  tail -20 "$4" >&2
  log "$1 did not answer on $2"
  exit 1
}

# A Shared Key signed request to Azurite (path-style URLs: /account/container...).
azure_request() { # method path-and-query
  local method="$1" resource="$2" path query date version="2021-08-06" canonical signature
  path="${resource%%\?*}"
  query=""
  [ "$path" != "$resource" ] && query="${resource#*\?}"
  date="$(LC_ALL=C TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')"
  canonical="/$azure_account$path"
  if [ -n "$query" ]; then
    canonical="$canonical"$'\n'"$(tr '&' '\n' <<<"$query" | sed 's/=/:/' | sort)"
  fi
  # VERB, then 11 standard headers (all empty), then x-ms-* headers and the resource.
  local to_sign="$method"$'\n\n\n\n\n\n\n\n\n\n\n\n'"x-ms-date:$date"$'\n'"x-ms-version:$version"$'\n'"$canonical"
  signature="$(printf '%s' "$to_sign" |
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(base64 -d <<<"$azure_key" | od -An -tx1 | tr -d ' \n')" -binary |
    base64)"
  curl -s -o /dev/null -w '%{http_code}' -X "$method" -H "x-ms-date: $date" -H "x-ms-version: $version" \
    -H "Content-Length: 0" -H "Authorization: SharedKey $azure_account:$signature" \
    "http://$host:$azurite_port$resource"
}

start_azurite() {
  local dir="$azurite_home/data" pidfile="$azurite_home/azurite.pid" logfile="$azurite_home/azurite.log" code
  mkdir -p "$dir"
  if ! pid_running "$pidfile"; then
    nohup "$azurite_bin" --blobHost "$host" --blobPort "$azurite_port" --location "$dir" \
      --skipApiVersionCheck --loose --silent >"$logfile" 2>&1 &
    echo $! >"$pidfile"
  fi
  wait_http azurite "http://$host:$azurite_port/" "$pidfile" "$logfile"
  code="$(azure_request PUT "/$azure_account/$bucket?restype=container")"
  case "$code" in
    201 | 409) log "azurite $azurite_version: az://$bucket on $host:$azurite_port" ;;
    *) log "azurite: could not create container $bucket (HTTP $code)"; exit 1 ;;
  esac
}

start_fake_gcs() {
  local dir="$gcs_home/data" pidfile="$gcs_home/fake-gcs-server.pid" logfile="$gcs_home/fake-gcs-server.log" code
  mkdir -p "$dir"
  if ! pid_running "$pidfile"; then
    # -public-host must be host:port so that the XML API (what object_store speaks) is routed.
    nohup "$gcs_bin" -scheme http -host "$host" -port "$gcs_port" -public-host "$host:$gcs_port" \
      -external-url "http://$host:$gcs_port" -backend filesystem -filesystem-root "$dir" -log-level warn \
      >"$logfile" 2>&1 &
    echo $! >"$pidfile"
  fi
  wait_http fake-gcs-server "http://$host:$gcs_port/_internal/healthcheck" "$pidfile" "$logfile"
  code="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary "{\"name\":\"$bucket\"}" "http://$host:$gcs_port/storage/v1/b")"
  case "$code" in
    200 | 409) log "fake-gcs-server $fake_gcs_version: gs://$bucket on $host:$gcs_port" ;;
    *) log "fake-gcs-server: could not create bucket $bucket (HTTP $code)"; exit 1 ;;
  esac
}

stop_one() { # pidfile
  if pid_running "$1"; then
    kill "$(cat "$1")" 2>/dev/null || true
    for _ in $(seq 1 50); do pid_running "$1" || break; sleep 0.2; done
    if pid_running "$1"; then kill -9 "$(cat "$1")" 2>/dev/null || true; fi
  fi
  rm -f "$1"
}

status() {
  local name pidfile
  for name in azurite/azurite fake-gcs-server/fake-gcs-server; do
    pidfile="$cache/$name.pid"
    if pid_running "$pidfile"; then echo "${name#*/}: running (pid $(cat "$pidfile"))"; else echo "${name#*/}: stopped"; fi
  done
}

case "${1:-}" in
  install) install_azurite; install_fake_gcs ;;
  start) install_azurite; install_fake_gcs; start_azurite; start_fake_gcs ;;
  stop) stop_one "$azurite_home/azurite.pid"; stop_one "$gcs_home/fake-gcs-server.pid" ;;
  status) status ;;
  env) env_lines ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac

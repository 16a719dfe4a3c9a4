#!/usr/bin/env bash
# A real, local Hatchet engine (hatchet-lite + a private PostgreSQL cluster) for Scythe's tests.
# No Docker: the engine binaries are built with `go install`, PostgreSQL comes from Debian packages.
#
# Usage: scripts/hatchet-engine.sh <command>
#   install         PostgreSQL + socat (apt) and hatchet-lite/-migrate/-admin (go install); idempotent
#                   (runs scripts/hatchet-install.sh)
#   start           cluster, database, migrations, keys, tenant, engine, API token, env file; idempotent.
#                   Prints the path of the env file to source (the token itself is never printed).
#   stop            stop the engine and the PostgreSQL cluster this script started; idempotent
#   restart-engine  stop and start only hatchet-lite (simulates an engine restart), wait until healthy
#   status          print whether PostgreSQL and the engine are up (exit 0 only if both are)
#   env             print the path of the env file (exit 1 if it does not exist yet)
#
# Typical test use:
#   scripts/hatchet-engine.sh install && . "$(scripts/hatchet-engine.sh start)"
#
# All state lives under ${SCYTHE_CACHE:-$HOME/.cache/scythe}/hatchet (see "Layout" below); nothing is
# written to the repository and no system PostgreSQL cluster is touched.
#
# Settings (environment variables, defaults in brackets):
#   SCYTHE_CACHE                 cache root [$HOME/.cache/scythe]
#   HATCHET_VERSION              engine version to build and run [v0.104.7]
#   HATCHET_PG_PORT              PostgreSQL, 127.0.0.1 [55432]
#   HATCHET_GRPC_PORT            engine gRPC (workers, triggers), 127.0.0.1 [7077]
#   HATCHET_API_PORT             REST API (/api/ready, /api/v1/...), 127.0.0.1 [8080]
#   HATCHET_HEALTH_PORT          engine health (/live, /ready, /version), 127.0.0.1 [8733]
#   HATCHET_LITE_FRONTEND_PORT   hatchet-lite static file server [8081]   (only inside the engine's
#   HATCHET_LITE_RUNTIME_PORT    hatchet-lite reverse proxy [8888]         network namespace, see below)
#   HATCHET_TENANT_ID            tenant created by `seed` and put in tokens [707d0855-80ab-4e1f-a156-f1c4546cbf52]
#   HATCHET_RETENTION            data retention of the tenant [24h]
#   HATCHET_LOG_LEVEL            engine log level [warn]
#   HATCHET_START_TIMEOUT        seconds to wait for the engine to become healthy [120]
#   HATCHET_NETNS                1: run hatchet-lite in a private network namespace [1]; 0: run it
#                                directly (then its API, health, static and proxy ports bind ALL
#                                interfaces, because hatchet-lite hard-codes ":<port>" for those)
#   HATCHET_PG_DIR               where the cluster lives [<cache>/hatchet/pg, see "PostgreSQL" below]
#
# Network isolation: hatchet-lite v0.104.x binds its REST API, health server, static file server and
# reverse proxy to ":<port>" (all interfaces); only gRPC has a bind address setting. To keep every
# listener on loopback, hatchet-lite runs in its own network namespace (`unshare --net`, loopback
# only) and socat bridges the gRPC, API and health ports to 127.0.0.1 on the host through unix
# sockets in the cache dir. The engine reaches PostgreSQL through the cluster's unix socket (unix
# sockets are file-system objects, visible across network namespaces).
#
# Layout (<h> = <cache>/hatchet):
#   <h>/<version>/bin/          hatchet-lite, hatchet-migrate, hatchet-admin (+ .version stamp)
#   <h>/pg/                     data/ (cluster), run/ (unix socket), postgres.log
#   <h>/state/ (mode 700)       keys/ (Tink keysets), token (API token, mode 600), db-password,
#                               cookie-secrets -- created once, reused by every start
#   <h>/engine/                 hatchet-lite.log (+ .1 of the previous run), pid files, socat
#                               bridges' sockets and log, static/ (placeholder index.html)
#   <h>/env (mode 600)          HATCHET_CLIENT_TOKEN, _HOST_PORT, _TLS_STRATEGY=none, _SERVER_URL,
#                               _TENANT_ID as `export` lines
#   <h>/go-install.log          output of the last `go install`
#
# Engine restarts: hatchet-lite exits on SIGTERM without deleting its partitions and releasing its
# scheduler leases, which stalls a new instance for 30-60 s; the script removes those rows itself
# before it starts hatchet-lite (see clear_engine_leftovers).
#
# PostgreSQL: a dedicated cluster run by the `postgres` user (when this script runs as root) or by
# the calling user. If the `postgres` user cannot reach the cache dir (e.g. it is under /root, mode
# 700), the cluster lives in /var/lib/postgresql/scythe-hatchet-<hash of the cache dir> and
# <cache>/hatchet/pg is a symlink to it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/hatchet-common.sh
. "$here/hatchet-common.sh"

statedir="$hroot/state"  # keys, secrets, token (mode 700)
enginedir="$hroot/engine" # log, pid files, static dir, forwarding sockets
envfile="$hroot/env"

pg_port="${HATCHET_PG_PORT:-55432}"
grpc_port="${HATCHET_GRPC_PORT:-7077}"
api_port="${HATCHET_API_PORT:-8080}"
health_port="${HATCHET_HEALTH_PORT:-8733}"
frontend_port="${HATCHET_LITE_FRONTEND_PORT:-8081}"
runtime_port="${HATCHET_LITE_RUNTIME_PORT:-8888}"
tenant_id="${HATCHET_TENANT_ID:-707d0855-80ab-4e1f-a156-f1c4546cbf52}"
retention="${HATCHET_RETENTION:-24h}"
log_level="${HATCHET_LOG_LEVEL:-warn}"
start_timeout="${HATCHET_START_TIMEOUT:-120}"
keys_created=0

server_url="http://127.0.0.1:$api_port"
grpc_addr="127.0.0.1:$grpc_port"


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------

pg_user() {
  if is_root; then echo postgres; else id -un; fi
}

# Run a command as the cluster's owner (from /, which it can read; without our lock fds, which
# the postmaster would otherwise inherit and keep open).
as_pg() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@" 8>&- 9>&-)
  else
    (cd / && "$@" 8>&- 9>&-)
  fi
}

resolve_pg_dirs() {
  local bin
  bin="$(pg_bin_dir)" || die "PostgreSQL server binaries not found; run: $0 install"
  pg_ctl="$bin/pg_ctl"
  initdb="$bin/initdb"
  psql_bin="$bin/psql"
  [[ -x $psql_bin ]] || psql_bin="$(command -v psql)"

  if [[ -n ${HATCHET_PG_DIR:-} ]]; then
    pgroot="$HATCHET_PG_DIR"
  elif [[ -L $hroot/pg ]]; then
    pgroot="$(readlink -f "$hroot/pg")"
  elif ! is_root || runuser -u postgres -- test -x "$hroot" 2>/dev/null; then
    pgroot="$hroot/pg"
  else
    # The postgres user cannot traverse the cache dir (typically /root is mode 700).
    local h
    h="$(printf '%s' "$hroot" | sha256sum | cut -c1-12)"
    pgroot="/var/lib/postgresql/scythe-hatchet-$h"
    ln -sfn "$pgroot" "$hroot/pg"
  fi
  pgdata="$pgroot/data"
  pgrun="$pgroot/run"
  pglog="$pgroot/postgres.log"
}

pg_running() {
  [[ -f $pgdata/PG_VERSION ]] && as_pg "$pg_ctl" status -D "$pgdata" >/dev/null 2>&1
}

# psql as the superuser over the cluster's unix socket (trust auth, socket dir is private).
pg_psql() {
  "$psql_bin" -X -q -v ON_ERROR_STOP=1 -h "$pgrun" -p "$pg_port" -U postgres "$@"
}

pg_init_and_start() {
  local owner
  owner="$(pg_user)"
  if [[ ! -f $pgdata/PG_VERSION ]]; then
    log "creating PostgreSQL cluster in $pgdata (owner $owner)"
    mkdir -p "$pgroot"
    chmod 700 "$pgroot"
    is_root && chown postgres:postgres "$pgroot"
    as_pg "$initdb" -D "$pgdata" -U postgres -E UTF8 --no-locale --auth-local=trust \
      --auth-host=scram-sha-256 --no-instructions >"$hroot/initdb.log" 2>&1 ||
      die "initdb failed, see $hroot/initdb.log"
    printf "\ninclude_if_exists = 'scythe.conf'\n" | as_pg tee -a "$pgdata/postgresql.conf" >/dev/null
  fi
  if pg_running; then
    return 0
  fi
  as_pg mkdir -p "$pgrun"
  as_pg chmod 700 "$pgrun"
  # Rewritten on every start so that port overrides take effect.
  as_pg tee "$pgdata/scythe.conf" >/dev/null <<EOF
# written by scythe scripts/hatchet-engine.sh
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$pgrun'
max_connections = 300
timezone = 'UTC'
log_timezone = 'UTC'
shared_buffers = 256MB
synchronous_commit = off
EOF
  port_in_use "$pg_port" && die "port 127.0.0.1:$pg_port is already in use (set HATCHET_PG_PORT)"
  log "starting PostgreSQL on 127.0.0.1:$pg_port"
  as_pg "$pg_ctl" start -D "$pgdata" -l "$pglog" -w -t 60 >/dev/null ||
    die "PostgreSQL did not start; log tail:"$'\n'"$(tail -n 30 "$pglog" 2>/dev/null)"
}

db_password() {
  local f="$statedir/db-password"
  if [[ ! -s $f ]]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' 'xy' >"$f")
  fi
  cat "$f"
}

pg_bootstrap_db() {
  local pw
  pw="$(db_password)"
  pg_psql -d postgres -v pw="$pw" >/dev/null <<'SQL'
SELECT format('CREATE ROLE hatchet LOGIN PASSWORD %L', :'pw')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hatchet') \gexec
ALTER ROLE hatchet LOGIN PASSWORD :'pw';
SELECT 'CREATE DATABASE hatchet OWNER hatchet'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'hatchet') \gexec
ALTER DATABASE hatchet SET timezone TO 'UTC';
SQL
}

# ---------------------------------------------------------------------------------------------
# engine configuration
# ---------------------------------------------------------------------------------------------

ensure_keys() {
  local k="$statedir/keys"
  if [[ -s $k/master.key && -s $k/private_ec256.key && -s $k/public_ec256.key ]]; then
    return 0
  fi
  log "creating encryption keys in $k"
  keys_created=1
  mkdir -p "$k"
  chmod 700 "$k"
  "$bindir/hatchet-admin" keyset create-local-keys --key-dir "$k" >/dev/null
  rm -f "$statedir/token" # a token signed by other keys is useless
}

cookie_secrets() {
  local f="$statedir/cookie-secrets"
  if [[ ! -s $f ]]; then
    (umask 077 && printf '%s %s\n' "$(head -c 12 /dev/urandom | base64 | tr '+/' 'xy')" \
      "$(head -c 12 /dev/urandom | base64 | tr '+/' 'xy')" >"$f")
  fi
  cat "$f"
}

# Environment shared by hatchet-migrate, hatchet-admin and hatchet-lite. $1 = DATABASE_URL.
export_engine_env() {
  export DATABASE_URL="$1"
  export DATABASE_POSTGRES_DB_NAME=hatchet
  export DATABASE_LOGGER_LEVEL=error
  export SERVER_URL="$server_url"
  export SERVER_PORT="$api_port"
  export SERVER_GRPC_PORT="$grpc_port"
  export SERVER_GRPC_BIND_ADDRESS=127.0.0.1
  export SERVER_GRPC_BROADCAST_ADDRESS="$grpc_addr"
  export SERVER_GRPC_INSECURE=t
  export SERVER_INTERNAL_CLIENT_INTERNAL_GRPC_BROADCAST_ADDRESS="$grpc_addr"
  export SERVER_HEALTHCHECK=t
  export SERVER_HEALTHCHECK_PORT="$health_port"
  export SERVER_MSGQUEUE_KIND=postgres
  export SERVER_AUTH_COOKIE_DOMAIN=localhost
  SERVER_AUTH_COOKIE_SECRETS="$(cookie_secrets)"
  export SERVER_AUTH_COOKIE_SECRETS
  export SERVER_AUTH_COOKIE_INSECURE=t
  export SERVER_AUTH_SET_EMAIL_VERIFIED=t
  export SERVER_ENCRYPTION_MASTER_KEYSET_FILE="$statedir/keys/master.key"
  export SERVER_ENCRYPTION_JWT_PRIVATE_KEYSET_FILE="$statedir/keys/private_ec256.key"
  export SERVER_ENCRYPTION_JWT_PUBLIC_KEYSET_FILE="$statedir/keys/public_ec256.key"
  export SERVER_SECURITY_CHECK_ENABLED=false
  export SERVER_ANALYTICS_POSTHOG_ENABLED=false
  export SERVER_LIMITS_DEFAULT_TENANT_RETENTION_PERIOD="$retention"
  export SERVER_LOGGER_LEVEL="$log_level"
  export SERVER_ADDITIONAL_LOGGERS_QUEUE_LEVEL="$log_level"
  export SERVER_ADDITIONAL_LOGGERS_PGXSTATS_LEVEL=error
  export DEFAULT_TENANT_ID="$tenant_id"
  export LITE_STATIC_ASSET_DIR="$enginedir/static"
  export LITE_FRONTEND_PORT="$frontend_port"
  export LITE_RUNTIME_PORT="$runtime_port"
}

tcp_db_url() {
  printf 'postgresql://hatchet:%s@127.0.0.1:%s/hatchet?sslmode=disable' "$(db_password)" "$pg_port"
}

socket_db_url() {
  printf 'postgresql://hatchet:%s@/hatchet?host=%s&port=%s&sslmode=disable' \
    "$(db_password)" "$pgrun" "$pg_port"
}

run_migrations() {
  log "running hatchet-migrate"
  local out
  if ! out="$(export_engine_env "$(tcp_db_url)" && "$bindir/hatchet-migrate" 2>&1)"; then
    printf '%s\n' "$out" | tail -n 30 >&2
    die "hatchet-migrate failed"
  fi
}

seed_tenant() {
  local n
  n="$(pg_psql -d hatchet -tA -v tenant="$tenant_id" <<<"SELECT count(*) FROM \"Tenant\" WHERE id = :'tenant'")"
  [[ $n == 1 ]] && return 0
  log "seeding tenant $tenant_id"
  local out
  if ! out="$(export_engine_env "$(tcp_db_url)" && "$bindir/hatchet-admin" seed 2>&1)"; then
    printf '%s\n' "$out" | tail -n 30 >&2
    die "hatchet-admin seed failed"
  fi
}

# ---------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------

# pid_alive <pidfile> <name>: the pid in the file is running and its command line mentions <name>.
pid_alive() {
  local pid
  [[ -f $1 ]] || return 1
  pid="$(cat "$1")"
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

# stop_pids <pattern> <pidfile>...: TERM every live process whose command line matches <pattern>
# (a grep regex; a recycled pid is left alone), wait up to 30 s for all of them, then KILL the rest.
stop_pids() {
  local name="$1" f pid pids=() i alive
  shift
  for f in "$@"; do
    if pid_alive "$f" "$name"; then
      pid="$(cat "$f")"
      log "stopping $(basename "$f" .pid) (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$f"
  done
  ((${#pids[@]})) || return 0
  for ((i = 0; i < 300; i++)); do
    alive=0
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null && alive=1
    done
    ((alive)) || return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not exit within 30 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# hatchet-lite exits on SIGTERM without running the engine's own clean-up, which deletes its
# controller/scheduler/worker partitions and releases its scheduler leases (on queues and workers,
# 30 s). A new instance then cannot schedule anything until those leases expire and keeps routing
# the tenant to the dead partitions until they look stale (heartbeat older than 1 min, checked once a
# minute): measured 30-60 s before the first task runs after a restart. No engine is running at this
# point (this script runs the only one for this database and holds the state lock), so do that
# clean-up here; the foreign keys set the tenants' partition ids to NULL and the new instance claims
# the tenants at start-up.
clear_engine_leftovers() {
  pg_psql -d hatchet >/dev/null <<'SQL'
DELETE FROM "Lease";
DELETE FROM "ControllerPartition";
DELETE FROM "SchedulerPartition";
DELETE FROM "TenantWorkerPartition";
SQL
}

engine_healthy() {
  curl -sf -m 5 -o /dev/null "http://127.0.0.1:$health_port/ready" &&
    curl -sf -m 5 -o /dev/null "http://127.0.0.1:$api_port/api/ready" &&
    port_in_use "$grpc_port"
}

engine_running() {
  pid_alive "$enginedir/hatchet-lite.pid" hatchet-lite
}

forwarded_ports() {
  printf '%s\n' "$grpc_port" "$api_port" "$health_port"
}

start_engine() {
  mkdir -p "$enginedir/static"
  chmod 700 "$enginedir"
  # hatchet-lite's static file server parses index.html at start-up (it panics without one); the
  # dashboard itself is not needed, so a placeholder page is enough.
  [[ -s $enginedir/static/index.html ]] ||
    printf '<!doctype html><title>hatchet-lite</title><p>No dashboard: API and gRPC only.</p>\n' \
      >"$enginedir/static/index.html"
  local logf="$enginedir/hatchet-lite.log" p
  for p in $(forwarded_ports); do
    port_in_use "$p" && die "port 127.0.0.1:$p is already in use by another process" \
      "(set HATCHET_GRPC_PORT / HATCHET_API_PORT / HATCHET_HEALTH_PORT)"
  done
  [[ -f $logf ]] && mv -f "$logf" "$logf.1"
  : >"$enginedir/socat.log"
  clear_engine_leftovers

  if [[ $use_netns == 1 ]]; then
    command -v socat >/dev/null || die "socat not found; run: $0 install"
    local sock
    for p in $(forwarded_ports); do
      sock="$enginedir/fwd-$p.sock"
      ((${#sock} < 100)) || die "unix socket path too long: $sock (use a shorter SCYTHE_CACHE)"
      rm -f "$sock"
      nohup setsid socat "TCP-LISTEN:$p,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$sock" \
        >>"$enginedir/socat.log" 2>&1 </dev/null 8>&- 9>&- &
      echo $! >"$enginedir/fwd-host-$p.pid"
    done
    local unshare_args=(--net)
    is_root || unshare_args=(--map-root-user --net)
    # Inside the namespace: bring loopback up, start the namespace side of the bridges, then exec
    # hatchet-lite (same pid as the launched process, so the pid file points at hatchet-lite).
    (
      export_engine_env "$(socket_db_url)"
      # shellcheck disable=SC2016 # expanded by the inner shell
      nohup setsid unshare "${unshare_args[@]}" -- /bin/sh -c '
        set -e
        ip link set lo up
        dir="$1"; lite="$2"; shift 2
        for p in "$@"; do
          socat "UNIX-LISTEN:$dir/fwd-$p.sock,fork,unlink-early,perm=0600" "TCP:127.0.0.1:$p" \
            >>"$dir/socat.log" 2>&1 </dev/null &
          echo $! >"$dir/fwd-ns-$p.pid"
        done
        exec "$lite"
      ' hatchet-lite-netns "$enginedir" "$bindir/hatchet-lite" "$grpc_port" "$api_port" "$health_port" \
        >"$logf" 2>&1 </dev/null 8>&- 9>&- &
      echo $! >"$enginedir/hatchet-lite.pid"
    )
  else
    log "warning: HATCHET_NETNS=0: hatchet-lite binds its API/health/static/proxy ports on all interfaces"
    (
      export_engine_env "$(tcp_db_url)"
      nohup setsid "$bindir/hatchet-lite" >"$logf" 2>&1 </dev/null 8>&- 9>&- &
      echo $! >"$enginedir/hatchet-lite.pid"
    )
  fi
  log "started hatchet-lite (pid $(cat "$enginedir/hatchet-lite.pid")), log: $logf"
  wait_healthy
}

wait_healthy() {
  local logf="$enginedir/hatchet-lite.log" i
  for ((i = 0; i < start_timeout * 4; i++)); do
    if engine_healthy; then
      log "engine healthy after ~$((i * 250)) ms (gRPC $grpc_addr, API $server_url, health 127.0.0.1:$health_port)"
      return 0
    fi
    if ((i > 4)) && ! engine_running; then
      stop_engine_quiet
      die "hatchet-lite exited during start-up; log tail ($logf):"$'\n'"$(tail -n 40 "$logf" 2>/dev/null)"
    fi
    sleep 0.25
  done
  stop_engine_quiet
  die "hatchet-lite not healthy after $start_timeout s; log tail ($logf):"$'\n'"$(tail -n 40 "$logf" 2>/dev/null)"
}

stop_engine() {
  # the engine and the port bridges (also those of earlier runs with other port settings), together
  local files=("$enginedir/hatchet-lite.pid") f
  for f in "$enginedir"/fwd-*.pid; do
    [[ -e $f ]] && files+=("$f")
  done
  stop_pids 'hatchet-lite\|socat' "${files[@]}"
  rm -f "$enginedir"/fwd-*.sock
}

stop_engine_quiet() { stop_engine 2>/dev/null || true; }

# ---------------------------------------------------------------------------------------------
# token and env file
# ---------------------------------------------------------------------------------------------

# jwt_claim <token> <claim>: a string or number claim of the (unverified) JWT payload, parsed as
# JSON by Python's standard library (empty when the token or the claim is malformed). The token
# goes through stdin, never the command line.
jwt_claim() {
  printf '%s' "$1" | python3 -c '
import base64, json, sys
try:
    payload = sys.stdin.read().split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    value = claims.get(sys.argv[1]) if isinstance(claims, dict) else None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        print(value)
except (IndexError, ValueError):
    pass
' "$2"
}

token_valid() {
  local tok="$1" tid exp now
  [[ $tok == ey*.*.* ]] || return 1
  [[ "$(jwt_claim "$tok" sub)" == "$tenant_id" ]] || return 1
  [[ "$(jwt_claim "$tok" server_url)" == "$server_url" ]] || return 1
  [[ "$(jwt_claim "$tok" grpc_broadcast_address)" == "$grpc_addr" ]] || return 1
  exp="$(jwt_claim "$tok" exp)"
  now="$(date +%s)"
  [[ $exp =~ ^[0-9]+$ ]] && ((exp > now + 86400)) || return 1
  tid="$(jwt_claim "$tok" token_id)"
  [[ $tid =~ ^[0-9a-fA-F-]{36}$ ]] || return 1
  [[ "$(pg_psql -d hatchet -tA -v tid="$tid" -v tenant="$tenant_id" <<<"SELECT count(*) FROM \"APIToken\" \
    WHERE id = :'tid' AND NOT revoked AND \"tenantId\" = :'tenant'")" == 1 ]]
}

ensure_token() {
  local f="$statedir/token" tok=""
  [[ -s $f ]] && tok="$(cat "$f")"
  if [[ -n $tok ]] && token_valid "$tok"; then
    return 0
  fi
  log "creating an API token for tenant $tenant_id"
  local out
  if ! out="$(export_engine_env "$(tcp_db_url)" &&
    "$bindir/hatchet-admin" token create --tenant-id "$tenant_id" --name scythe-tests -e 87600h 2>"$hroot/token-create.log")"; then
    tail -n 30 "$hroot/token-create.log" >&2
    die "hatchet-admin token create failed"
  fi
  tok="$(printf '%s\n' "$out" | grep -E '^ey[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' | tail -n 1)"
  [[ -n $tok ]] || die "hatchet-admin token create printed no token (see $hroot/token-create.log)"
  token_valid "$tok" || die "the new token does not match the engine settings (tenant, URLs, DB row)"
  (umask 077 && printf '%s\n' "$tok" >"$f.tmp")
  mv -f "$f.tmp" "$f"
}

write_env_file() {
  local tok tmp="$envfile.tmp"
  tok="$(cat "$statedir/token")"
  (
    umask 077
    {
      echo "# written by scythe scripts/hatchet-engine.sh; source it: . $envfile"
      printf "export HATCHET_CLIENT_TOKEN='%s'\n" "$tok"
      printf 'export HATCHET_CLIENT_HOST_PORT=%s\n' "$grpc_addr"
      printf 'export HATCHET_CLIENT_TLS_STRATEGY=none\n'
      printf 'export HATCHET_CLIENT_SERVER_URL=%s\n' "$server_url"
      printf 'export HATCHET_CLIENT_TENANT_ID=%s\n' "$tenant_id"
    } >"$tmp"
  )
  mv -f "$tmp" "$envfile"
}

# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------

lock_state() {
  mkdir -p "$hroot" "$statedir"
  chmod 700 "$statedir"
  exec 9>"$hroot/.lock"
  flock 9
}

check_netns() {
  [[ $use_netns == 1 ]] || return 0
  command -v socat >/dev/null || die "socat not found; run: $0 install"
  local args=(--net)
  is_root || args=(--map-root-user --net)
  unshare "${args[@]}" -- true 2>/dev/null ||
    die "cannot create a network namespace (unshare ${args[*]}); set HATCHET_NETNS=0 to run" \
      "hatchet-lite without one (its API/health ports then bind all interfaces)"
}

cmd_start() {
  binaries_ok || die "hatchet $version binaries missing in $bindir; run: $0 install"
  lock_state
  resolve_pg_dirs
  if pg_running && engine_running && engine_healthy && [[ -s $envfile && -s $statedir/token ]] &&
    token_valid "$(cat "$statedir/token")"; then
    log "already running"
    write_env_file
    printf '%s\n' "$envfile"
    return 0
  fi
  check_netns
  pg_init_and_start
  pg_bootstrap_db
  run_migrations
  ensure_keys
  seed_tenant
  if ((keys_created == 0)) && engine_running && engine_healthy; then
    log "hatchet-lite already running"
  else
    stop_engine_quiet
    start_engine
  fi
  ensure_token
  write_env_file
  log "env file: $envfile"
  printf '%s\n' "$envfile"
}

cmd_stop() {
  lock_state
  stop_engine
  if [[ -e $hroot/pg || -n ${HATCHET_PG_DIR:-} ]]; then
    resolve_pg_dirs
    if pg_running; then
      log "stopping PostgreSQL ($pgdata)"
      as_pg "$pg_ctl" stop -D "$pgdata" -m fast -w -t 60 >/dev/null
    fi
  fi
  log "stopped"
}

cmd_restart_engine() {
  binaries_ok || die "hatchet $version binaries missing in $bindir; run: $0 install"
  lock_state
  resolve_pg_dirs
  pg_running || die "PostgreSQL is not running; run: $0 start"
  check_netns
  stop_engine
  start_engine
  ensure_token
  write_env_file
}

cmd_status() {
  local rc=0
  if [[ -e $hroot/pg || -n ${HATCHET_PG_DIR:-} ]]; then
    resolve_pg_dirs
  fi
  if [[ -n ${pgdata:-} ]] && pg_running; then
    echo "postgres: up (127.0.0.1:$pg_port, data $pgdata)"
  else
    echo "postgres: down"
    rc=1
  fi
  if engine_running; then
    local pid
    pid="$(cat "$enginedir/hatchet-lite.pid")"
    if engine_healthy; then
      echo "engine:   up (hatchet-lite $version, pid $pid, gRPC $grpc_addr, API $server_url, health 127.0.0.1:$health_port)"
    else
      echo "engine:   running but not healthy (pid $pid, log $enginedir/hatchet-lite.log)"
      rc=1
    fi
  else
    echo "engine:   down"
    rc=1
  fi
  [[ -s $envfile ]] && echo "env file: $envfile"
  return "$rc"
}

cmd_env() {
  [[ -s $envfile ]] || die "no env file yet; run: $0 start"
  printf '%s\n' "$envfile"
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

main() {
  case "${1:-}" in
    install) bash "$here/hatchet-install.sh" ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart-engine) cmd_restart_engine ;;
    status) cmd_status ;;
    env) cmd_env ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"

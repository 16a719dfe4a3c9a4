# Sourced by scripts/hatchet-install.sh and scripts/hatchet-engine.sh: where the engine's
# binaries live, logging, and the checks both need. Settings: see scripts/hatchet-engine.sh.
# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are read by the scripts that source this file

readonly HATCHET_MODULE="github.com/hatchet-dev/hatchet"
readonly HATCHET_BINARIES=(hatchet-lite hatchet-migrate hatchet-admin)

version="${HATCHET_VERSION:-v0.104.7}"
cache="${SCYTHE_CACHE:-$HOME/.cache/scythe}"
hroot="$cache/hatchet"
bindir="$hroot/$version/bin"
use_netns="${HATCHET_NETNS:-1}"

log() { printf '[hatchet-engine] %s\n' "$*" >&2; }
die() {
  printf '[hatchet-engine] error: %s\n' "$*" >&2
  exit 1
}

is_root() { [[ $EUID -eq 0 ]]; }

# pg_bin_dir: the newest PostgreSQL server binaries (HATCHET_PG_BINDIR overrides).
pg_bin_dir() {
  if [[ -n ${HATCHET_PG_BINDIR:-} ]]; then
    printf '%s\n' "$HATCHET_PG_BINDIR"
    return
  fi
  local d
  d="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
  [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]] || return 1
  printf '%s\n' "$d"
}

# binaries_ok: hatchet-lite/-migrate/-admin of $version are in $bindir.
binaries_ok() {
  local b
  for b in "${HATCHET_BINARIES[@]}"; do
    [[ -x $bindir/$b ]] || return 1
  done
  [[ -f $bindir/.version && "$(cat "$bindir/.version")" == "$version" ]] || return 1
  [[ "$("$bindir/hatchet-lite" --version 2>/dev/null)" == "$version" ]] || return 1
  [[ "$("$bindir/hatchet-migrate" --version 2>/dev/null)" == "$version" ]] || return 1
}

#!/usr/bin/env bash
# Installs what scripts/hatchet-engine.sh runs: PostgreSQL, socat, util-linux, iproute2 and curl
# from Debian packages (apt, as root), and hatchet-lite, hatchet-migrate and hatchet-admin of
# HATCHET_VERSION built with `go install` into <cache>/hatchet/<version>/bin. Idempotent: a second
# run checks and returns. `scripts/hatchet-engine.sh install` runs this script.
#
# Settings: SCYTHE_CACHE, HATCHET_VERSION, HATCHET_NETNS, HATCHET_PG_BINDIR (see hatchet-engine.sh).
set -euo pipefail

# shellcheck source=scripts/hatchet-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/hatchet-common.sh"
# ---------------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------------

apt_install() {
  is_root || die "missing Debian packages: $*; install them as root: apt-get install -y $*"
  log "apt-get install -y $*"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2; then
    log "apt-get install failed; running apt-get update and trying again"
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2
  fi
}



# Module path as stored in the module cache (upper case letters become "!" + lower case).
escape_module_path() {
  # shellcheck disable=SC2001 # needs GNU sed's \L
  sed -e 's/[A-Z]/!\L&/g' <<<"$1"
}

# build_binaries <packages...>: `go install` with two work-arounds for incomplete module mirrors,
# each applied only after the plain command failed for that reason:
#  * `go install pkg@version` also fetches the module's version list (to look for a deprecation
#    notice). A proxy that refuses the list (403) is bridged by a local file:// proxy that only
#    answers that query, with the pinned version; all module files still come from the real proxy.
#  * a dependency that the checksum database (as served by the proxy) does not know (404) is added
#    to GONOSUMDB, and its downloaded zip is then checked against hatchet's own go.sum instead.
build_binaries() {
  local golog="$hroot/go-install.log" proxy="" nosumdb="${GONOSUMDB:-}" skipped=() attempt
  local gomodcache
  gomodcache="$(go env GOMODCACHE)"
  for ((attempt = 1; attempt <= 10; attempt++)); do
    local envs=(GOBIN="$bindir" CGO_ENABLED=0)
    [[ -n $proxy ]] && envs+=(GOPROXY="$proxy")
    [[ -n $nosumdb ]] && envs+=(GONOSUMDB="$nosumdb")
    if env "${envs[@]}" go install -ldflags "-X main.Version=$version" "$@" 2>&1 | tee "$golog" >&2; then
      break
    fi
    if [[ -z $proxy ]] && grep -q -e "$HATCHET_MODULE/@v/list" -e "loading deprecation" "$golog"; then
      local shim
      shim="$(cd "$hroot" && pwd)/goproxy-shim"
      mkdir -p "$shim/$HATCHET_MODULE/@v"
      printf '%s\n' "$version" >"$shim/$HATCHET_MODULE/@v/list"
      proxy="file://$shim,$(go env GOPROXY)"
      log "the Go proxy refused the version list of $HATCHET_MODULE; retrying with GOPROXY=$proxy"
      continue
    fi
    local missing
    missing="$(grep -o '/sumdb/[^ ]*/lookup/[^ ]*: 404' "$golog" |
      sed -e 's|^.*/lookup/\([^ ]*\)@\([^ @]*\): 404$|\1 \2|' -e 's/!\([a-z]\)/\U\1/g' | sort -u)" || true
    if [[ -n $missing ]]; then
      local m v
      while read -r m v; do
        log "the checksum database has no entry for $m@$v; skipping it there (GONOSUMDB) and" \
          "verifying it against $HATCHET_MODULE@$version's go.sum instead"
        nosumdb="${nosumdb:+$nosumdb,}$m"
        skipped+=("$m@$v")
      done <<<"$missing"
      continue
    fi
    return 1
  done
  ((attempt <= 10)) || return 1

  local gosum mv m v want got
  gosum="$gomodcache/$(escape_module_path "$HATCHET_MODULE")@$version/go.sum"
  for mv in "${skipped[@]}"; do
    m="${mv%@*}"
    v="${mv##*@}"
    want="$(awk -v m="$m" -v v="$v" '$1 == m && $2 == v { print $3 }' "$gosum")"
    local dl
    dl="$gomodcache/cache/download/$(escape_module_path "$m")/@v"
    if [[ $v == */go.mod ]]; then
      # h1 hash of a go.mod file: base64(sha256("<sha256 hex>  go.mod\n"))
      got="h1:$(printf '%s  go.mod\n' "$(sha256sum <"$dl/${v%/go.mod}.mod" | cut -d' ' -f1)" |
        sha256sum | cut -d' ' -f1 | perl -ne 'chomp; print pack("H*", $_)' | base64)" || got=""
    else
      got="$(cat "$dl/$v.ziphash" 2>/dev/null || true)"
    fi
    if [[ -z $want || $want != "$got" ]]; then
      rm -f "$bindir"/hatchet-*
      die "checksum of $m@$v (${got:-missing}) does not match $HATCHET_MODULE's go.sum (${want:-no entry})"
    fi
    log "verified $m@$v against $HATCHET_MODULE's go.sum ($got)"
  done
}

install() {
  mkdir -p "$hroot"
  exec 8>"$hroot/.install.lock"
  flock 8

  local pkgs=()
  pg_bin_dir >/dev/null || pkgs+=(postgresql)
  command -v psql >/dev/null || pkgs+=(postgresql-client)
  if [[ $use_netns == 1 ]]; then
    command -v socat >/dev/null || pkgs+=(socat)
    command -v unshare >/dev/null || pkgs+=(util-linux)
    command -v ip >/dev/null || pkgs+=(iproute2)
  fi
  command -v curl >/dev/null || pkgs+=(curl)
  if ((${#pkgs[@]})); then
    apt_install "${pkgs[@]}"
  fi
  log "PostgreSQL binaries: $(pg_bin_dir)"

  if binaries_ok; then
    log "hatchet $version binaries already present in $bindir"
    return 0
  fi
  command -v go >/dev/null || die "go is not installed (needed to build the hatchet binaries)"
  log "building hatchet $version (${HATCHET_BINARIES[*]}) with $(go version) into $bindir"
  log "(the first build downloads and compiles a large dependency graph: expect several minutes)"
  mkdir -p "$bindir"
  rm -f "$bindir/.version"
  local pkgs_at=() b
  for b in "${HATCHET_BINARIES[@]}"; do
    pkgs_at+=("$HATCHET_MODULE/cmd/$b@$version")
  done
  build_binaries "${pkgs_at[@]}" ||
    die "go install of hatchet $version failed (log: $hroot/go-install.log); try another HATCHET_VERSION"
  printf '%s\n' "$version" >"$bindir/.version"
  binaries_ok || die "built binaries in $bindir do not report version $version"
  log "installed hatchet $version into $bindir"
}

install

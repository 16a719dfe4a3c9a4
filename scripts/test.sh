#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit/UI/integration tests, and an end-to-end run of
# the building-energy example whose final tables are read back with pandas.
#
# Idempotent. Builds go to ~/.cache/scythe (override with SCYTHE_CACHE), outside the repo.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SCYTHE_CACHE:-$HOME/.cache/scythe}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# One clean build, no incremental caches: they only help edit-compile loops and take ~8 GiB.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "Python with pandas, pyarrow and polars (for reading results back)"
venv="$cache/venv"
if ! "$venv/bin/python" -c 'import pandas, pyarrow, polars, scipy, SALib' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check pandas pyarrow polars scipy SALib
fi
export SCYTHE_PYTHON="$venv/bin/python"
# Tests that need an engine, an emulator, Python or Chromium fail instead of skipping.
export SCYTHE_TEST_REQUIRE=1

step "the Python tool (scythe-engine from PyPI), to check that it reads our runs"
tool_venv="$cache/venv-python-tool"
tool_packages=(scythe-engine==1.3.0 requests pandas pyarrow PyYAML)
if ! "$tool_venv/bin/python" -c 'import importlib.metadata as m, sys; [m.version(p.split("=")[0]) for p in sys.argv[1:]]' \
    "${tool_packages[@]}" 2>/dev/null; then
  python3 -m venv "$tool_venv"
  # scythe-engine imports requests without declaring it.
  "$tool_venv/bin/pip" install --quiet --disable-pip-version-check "${tool_packages[@]}"
fi
export SCYTHE_PYTHON_TOOL="$tool_venv/bin/python"

step "Debian's chromium (tests/report.rs draws the report in headless Chromium)"
command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

step "a real Hatchet engine on loopback (for scythe-hatchet's integration test)"
bash "$root/scripts/hatchet-engine.sh" install
trap 'bash "$root/scripts/hatchet-engine.sh" stop >/dev/null 2>&1 || true; bash "$root/scripts/cloud-emulators.sh" stop >/dev/null 2>&1 || true' EXIT
# shellcheck disable=SC1090
. "$(bash "$root/scripts/hatchet-engine.sh" start)"

step "Azure and GCS emulators on loopback (Azurite from npm, fake-gcs-server from the Go proxy)"
bash "$root/scripts/cloud-emulators.sh" start
eval "$(bash "$root/scripts/cloud-emulators.sh" env)"

step "shellcheck on every script of the suite"
command -v shellcheck >/dev/null || (apt-get install -y shellcheck || (apt-get update && apt-get install -y shellcheck))
git ls-files -z '*.sh' .ci/run | xargs -0 shellcheck -x

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "an embedded-only build (default-features = false) lints clean"
cargo clippy -p scythe --lib --no-default-features --quiet -- -D warnings

step "cargo test (unit, UI, doc and integration tests)"
cargo test --workspace --quiet 2>&1 | tee "$cache/cargo-test.log"

step "end to end: building-energy example on the embedded engine, read back with pandas"
bash "$root/scripts/e2e-embedded.sh"

step "end to end: building-energy example on S3 (SeaweedFS from PyPI), read back with pandas"
bash "$root/scripts/e2e-s3.sh"

step "end to end: building-energy example on the Hatchet engine with worker processes"
bash "$root/scripts/e2e-hatchet.sh"

echo
echo "all tests passed"

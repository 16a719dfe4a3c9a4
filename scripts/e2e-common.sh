# Sourced by the end-to-end scripts: paths, the release build of the building-energy example,
# and the specs file they share.
# shellcheck shell=bash
# shellcheck disable=SC2034 # python, work and bin are read by the scripts that source this file

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SCYTHE_CACHE:-$HOME/.cache/scythe}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
python="${SCYTHE_PYTHON:-$cache/venv/bin/python}"
work="$(mktemp -d)"
cargo build --release --quiet -p building-energy
bin="$CARGO_TARGET_DIR/release/building-energy"

# The building experiment's inputs: the columns of building_specs, and the levels of the final
# tables' index after experiment_id and sort_index.
building_inputs=(wall_r_value window_ratio window_u heating_setpoint_c cooling_setpoint_c infiltration_ach
  thermal_mass_kj_m2k floor_area_m2 internal_gains_w_m2 weather hourly_trace)

# building_specs N EVERY: N specs as CSV on stdout, over the bundled climates, an hourly trace
# for every EVERY-th spec, and spec 57 physically impossible (heating setpoint above cooling).
building_specs() {
  local n=$1 every=$2 weather="$root/examples/building_energy/weather" climates=(boston phoenix oslo)
  (IFS=,; echo "${building_inputs[*]}")
  for i in $(seq 0 $(( n - 1 ))); do
    local heat=$(( 16 + i % 6 )) cool=$(( 24 + i % 5 )) trace=false
    [ "$i" -eq 57 ] && heat=23 && cool=22
    [ $(( i % every )) -eq 0 ] && trace=true
    echo "$(( 1 + i % 9 )).5,0.$(( 1 + i % 8 )),$(( 1 + i % 5 )).2,$heat,$cool,0.$(( 2 + i % 7 )),$(( 50 + i % 300 )),$(( 100 + 7 * (i % 250) )),$(( i % 20 )),$weather/${climates[$(( i % 3 ))]}.csv,$trace"
  done
}

# check_building_run RUN_DIR SUCCEEDED FAILED FAILED_SORT_INDEXES [MORE]: tests/python/check_run.py
# on a run of building_specs (its index levels, extra tables and file fields are always the same);
# MORE adds members to the expectation, e.g. '"uri_prefix": "s3://"'.
check_building_run() {
  local index
  index="$(printf '"%s", ' experiment_id sort_index "${building_inputs[@]}")"
  "$python" "$root/tests/python/check_run.py" "$1" "{\"succeeded\": $2, \"failed\": $3, \"failed_sort_indexes\": $4,
    \"index\": [${index%, }], \"tables\": [\"monthly\", \"result_file_refs\"], \"file_fields\": [\"hourly\"]${5:+, $5}}"
}

"""Checks a report's time and failure tables against pandas on the run's final tables.

Usage: report_time_check.py RUN_DIR REPORT_DIR (a run of `mixed` with failures).
Exits non-zero with what differs.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

run, report = Path(sys.argv[1]), Path(sys.argv[2])
errors = []

provenance = pd.read_parquet(run / "final" / "provenance.pq").reset_index()
ran = provenance[provenance["cached_from"].isna()]
time = pd.read_parquet(report / "time.pq").iloc[0]
described = ran["duration_s"].describe()
for ours, theirs in [("count", "count"), ("min", "min"), ("q25", "25%"), ("q50", "50%"), ("q75", "75%"),
                     ("max", "max"), ("mean", "mean"), ("std", "std")]:
    # Exact quantiles: the same doubles picked and interpolated; sums may differ in order only.
    if not np.isclose(time[ours], described[theirs], rtol=1e-12, atol=0):
        errors.append(f"time {ours}: report {time[ours]!r}, pandas {described[theirs]!r}")
if not np.isclose(time["total"], ran["duration_s"].sum(), rtol=1e-9):
    errors.append(f"time total: report {time['total']}, pandas {ran['duration_s'].sum()}")

slowest = pd.read_parquet(report / "slowest.pq")
expected = ran.nlargest(len(slowest), "duration_s")["duration_s"].to_numpy()
if not np.array_equal(slowest["duration_s"].to_numpy(), expected):
    errors.append(f"slowest durations: report {list(slowest['duration_s'])}, pandas {list(expected)}")
by_index = ran.set_index("sort_index")["duration_s"]
for _, row in slowest.iterrows():
    if by_index[row["sort_index"]] != row["duration_s"]:
        errors.append(f"slowest sort_index {row['sort_index']}: not that spec's duration")

scalars = pd.read_parquet(run / "final" / "scalars.pq").reset_index()
failures = pd.read_parquet(run / "final" / "failures.pq").reset_index()
specs = pd.concat([scalars.assign(failed=False), failures.assign(failed=True)])
rates = pd.read_parquet(report / "failure_rates.pq")
for name in ["basement", "roof", "label"]:
    ours = rates[rates["input"] == name].set_index("value")
    theirs = specs.groupby(specs[name].astype(str).str.lower())["failed"].agg(["sum", "count"])
    for value, row in ours.iterrows():
        if (row["failed"], row["specs"]) != (theirs.loc[value, "sum"], theirs.loc[value, "count"]):
            errors.append(f"{name}={value}: report {row['failed']}/{row['specs']}, pandas {tuple(theirs.loc[value])}")
floors = rates[rates["input"] == "floors"]
counts, edges = np.histogram(specs["floors"].to_numpy(), bins=len(floors))
failed, _ = np.histogram(specs.loc[specs["failed"], "floors"].to_numpy(), bins=edges)
if list(floors["specs"]) != list(counts) or list(floors["failed"]) != list(failed):
    errors.append(f"floors bins: report {list(floors['failed'])}/{list(floors['specs'])}, numpy {list(failed)}/{list(counts)}")

if errors:
    print("\n".join(errors))
    sys.exit(1)
print("time and failure tables match pandas")

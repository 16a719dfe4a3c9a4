"""Checks a run's report tables against pandas, numpy and SALib on the same final tables.

Usage: report_check.py RUN_DIR (a saltelli run of `ishigami` with `report` written into it).
Exits non-zero with what differs.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from SALib.analyze import sobol

run = Path(sys.argv[1])
scalars = pd.read_parquet(run / "final" / "scalars.pq").reset_index().sort_values("sort_index")
summary = pd.read_parquet(run / "report" / "summary.pq").set_index("output")
histograms = pd.read_parquet(run / "report" / "histograms.pq")
sensitivity = pd.read_parquet(run / "report" / "sensitivity.pq").set_index("input")
errors = []

y = scalars["y"]
described = y.describe()
expected = {
    "count": described["count"], "min": described["min"], "q25": described["25%"], "q50": described["50%"],
    "q75": described["75%"], "max": described["max"], "mean": described["mean"], "std": described["std"],
}
for key, value in expected.items():
    got = summary.loc["y", key]
    # Same arithmetic on the same doubles; summation order may differ (pandas uses pairwise sums).
    if not np.isclose(got, value, rtol=1e-12, atol=1e-12):
        errors.append(f"summary {key}: report {got!r}, pandas {value!r}")

counts, edges = np.histogram(y.to_numpy(), bins=len(histograms))
if list(histograms["count"]) != list(counts):
    errors.append(f"histogram counts: report {list(histograms['count'])}, numpy {list(counts)}")
if not np.allclose(histograms["low"], edges[:-1], rtol=0, atol=1e-12):
    errors.append("histogram edges differ from numpy's")

problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}
salib = sobol.analyze(problem, y.to_numpy(), calc_second_order=False, print_to_console=False)
for key in ["S1", "ST"]:
    ours = sensitivity.loc[["x1", "x2", "x3"], key].to_numpy()
    # The same estimators on the same outputs: agreement to rounding.
    if not np.allclose(ours, salib[key], rtol=0, atol=1e-9):
        errors.append(f"{key}: report {ours}, SALib {salib[key]}")
    # Bootstrap draws differ (our seeded SplitMix64 vs numpy): intervals agree in size only.
    ours_conf = sensitivity.loc[["x1", "x2", "x3"], key + "_conf"].to_numpy()
    if not np.all((ours_conf > 0.5 * salib[key + "_conf"]) & (ours_conf < 2 * salib[key + "_conf"])):
        errors.append(f"{key}_conf: report {ours_conf}, SALib {salib[key + '_conf']}")

if errors:
    print("\n".join(errors))
    sys.exit(1)
print("report tables match pandas, numpy and SALib")

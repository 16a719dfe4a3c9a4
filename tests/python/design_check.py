"""Cross-checks Scythe's designs against the reference libraries (tests/design.rs runs it).

Usage: design_check.py ISHIGAMI_BINARY WORKDIR

- Space filling: the centred L2 discrepancy of our sobol, halton and lhs designs is comparable
  to scipy.stats.qmc's for the same n and d (mean over five seeds each).
- Sobol' indices: SALib's sobol.analyze on our saltelli design of the Ishigami function
  recovers the analytic S1 and ST within 0.05 at N = 1024.
- Elementary effects: SALib's morris.analyze on our morris design gives the exact mu* of a
  linear function and ranks the Ishigami inputs as it does on its own morris sample.
"""

import json
import subprocess
import sys
from math import pi
from pathlib import Path

import numpy as np
import pandas as pd
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import morris as morris_sample
from scipy.stats import qmc

BINARY, WORKDIR = sys.argv[1], Path(sys.argv[2])
PROBLEM = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-pi, pi]] * 3}
SEEDS = [1, 2, 3, 4, 5]


def design(method, n, seed, *extra):
    out = WORKDIR / f"{method}-{n}-{seed}.csv"
    subprocess.run(
        [BINARY, "design", "ishigami", "--method", method, "-n", str(n), "--seed", str(seed), "--out", str(out), *extra],
        check=True,
        capture_output=True,
    )
    return pd.read_csv(out)[["x1", "x2", "x3"]].to_numpy()


def unit(x):
    return (x + pi) / (2 * pi)


def ishigami(x):
    return np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


report = {}

# --- discrepancy -----------------------------------------------------------------------------
n, d = 256, 3
references = {
    "sobol": lambda seed: qmc.Sobol(d, scramble=True, rng=seed).random(n),
    "halton": lambda seed: qmc.Halton(d, scramble=True, rng=seed).random(n),
    "lhs": lambda seed: qmc.LatinHypercube(d, rng=seed).random(n),
}
for method, reference in references.items():
    ours = np.mean([qmc.discrepancy(unit(design(method, n, seed))) for seed in SEEDS])
    theirs = np.mean([qmc.discrepancy(reference(seed)) for seed in SEEDS])
    report[f"discrepancy_{method}"] = {"scythe": ours, "scipy": theirs}
    # Scrambled nets have random discrepancies; 1.5x the mean of five is far outside the spread
    # of a correct implementation and well inside that of a broken one (plain random: ~10x).
    assert ours <= 1.5 * theirs, f"{method}: discrepancy {ours:.3g} vs scipy {theirs:.3g}"
random_cd = np.mean([qmc.discrepancy(unit(design("random", n, seed))) for seed in SEEDS])
report["discrepancy_random"] = random_cd
assert report["discrepancy_sobol"]["scythe"] < random_cd / 3, "sobol should beat random clearly"

# --- Saltelli / Sobol' indices ---------------------------------------------------------------
x = design("saltelli", 1024, 1)
assert x.shape == (1024 * 5, 3), x.shape
indices = sobol_analyze.analyze(PROBLEM, ishigami(x), calc_second_order=False, seed=1)
# Analytic values for a = 7, b = 0.1 (Ishigami and Homma 1990; Sobol' and Levitan 1999).
s1_true, st_true = np.array([0.3139, 0.4424, 0.0]), np.array([0.5576, 0.4424, 0.2437])
report["S1"], report["ST"] = indices["S1"].tolist(), indices["ST"].tolist()
assert np.all(np.abs(indices["S1"] - s1_true) < 0.05), report
assert np.all(np.abs(indices["ST"] - st_true) < 0.05), report

x2 = design("saltelli", 256, 1, "--second-order")
assert x2.shape == (256 * 8, 3), x2.shape
indices2 = sobol_analyze.analyze(PROBLEM, ishigami(x2), calc_second_order=True, seed=1)
report["S2_x1_x3"] = float(indices2["S2"][0, 2])

# --- Morris ------------------------------------------------------------------------------------
r, levels = 100, 4
x = design("morris", r, 1, "--morris-levels", str(levels))
assert x.shape == (r * 4, 3), x.shape
slopes = np.array([4.0, 2.0, 0.5])
linear = morris_analyze.analyze(PROBLEM, x, x @ slopes, num_levels=levels)
# A linear function's elementary effect is its slope times the range, exactly.
assert np.allclose(linear["mu_star"], slopes * 2 * pi, rtol=1e-9), linear["mu_star"]
ours = morris_analyze.analyze(PROBLEM, x, ishigami(x), num_levels=levels)
theirs_x = morris_sample.sample(PROBLEM, r, num_levels=levels, seed=1)
theirs = morris_analyze.analyze(PROBLEM, theirs_x, ishigami(theirs_x), num_levels=levels)
report["mu_star"] = {"scythe": list(ours["mu_star"]), "salib": list(theirs["mu_star"])}
assert list(np.argsort(ours["mu_star"])) == list(np.argsort(theirs["mu_star"])), report

print(json.dumps(report, default=float, indent=1))

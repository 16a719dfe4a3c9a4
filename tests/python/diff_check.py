"""Recomputes `diff <a> <b> --json` from the two runs' Parquet tables with pandas.

Usage: diff_check.py RUN_A_DIR RUN_B_DIR DIFF_JSON. Specs are matched on the input columns
both runs' specs.pq have (uploaded input files by file name), identical rows paired in
sort-index order; outputs of the specs that succeeded in both are compared column by column.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

INDEX = {"experiment_id", "sort_index"}


def specs(run: Path) -> pd.DataFrame:
    frame = pd.read_parquet(run / "specs.pq").reset_index()
    return frame.drop(columns=[c for c in frame.columns if c == "index"])


def canonical(frame: pd.DataFrame, columns: list[str], run: Path) -> pd.DataFrame:
    out = pd.DataFrame({"sort_index": frame["sort_index"].astype("uint64")})
    for column in columns:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) and values.astype(str).str.contains(f"/artifacts/{column}/").any():
            values = values.astype(str).str.rsplit("/", n=1).str[-1]
        elif pd.api.types.is_numeric_dtype(values):
            values = values.astype("float64")
        out[column] = values.astype(str)
    out["key"] = out[columns].agg("\x1f".join, axis=1) if columns else ""
    out["occurrence"] = out.groupby("key").cumcount()
    return out


def main() -> None:
    run_a, run_b, diff_path = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    diff = json.loads(diff_path.read_text())
    spec_a, spec_b = specs(run_a), specs(run_b)
    columns = [c for c in spec_a.columns if c in spec_b.columns and c not in INDEX]
    a, b = canonical(spec_a, columns, run_a), canonical(spec_b, columns, run_b)
    pairs = a.merge(b, on=["key", "occurrence"], suffixes=("_a", "_b"))
    assert diff["matched_on"] == columns, (diff["matched_on"], columns)
    assert diff["common"] == len(pairs), (diff["common"], len(pairs))
    assert diff["only_a"] == len(a) - len(pairs)
    assert diff["only_b"] == len(b) - len(pairs)

    scalars_a = pd.read_parquet(run_a / "final/scalars.pq").reset_index()
    scalars_b = pd.read_parquet(run_b / "final/scalars.pq").reset_index()
    outputs = [
        c for c in scalars_a.columns
        if c in scalars_b.columns and c not in INDEX and c not in spec_a.columns and c not in spec_b.columns
    ]
    ok_a, ok_b = set(scalars_a["sort_index"]), set(scalars_b["sort_index"])
    both = pairs[pairs["sort_index_a"].isin(ok_a) & pairs["sort_index_b"].isin(ok_b)]
    outs = diff["outputs"]
    assert outs["compared"] == len(both), (outs["compared"], len(both))
    assert outs["succeeded_only_in_a"] == int((pairs["sort_index_a"].isin(ok_a) & ~pairs["sort_index_b"].isin(ok_b)).sum())
    assert outs["succeeded_only_in_b"] == int((~pairs["sort_index_a"].isin(ok_a) & pairs["sort_index_b"].isin(ok_b)).sum())
    joined = both.merge(
        scalars_a[["sort_index"] + outputs].rename(columns={"sort_index": "sort_index_a"}), on="sort_index_a"
    ).merge(
        scalars_b[["sort_index"] + outputs].rename(columns={"sort_index": "sort_index_b"}),
        on="sort_index_b",
        suffixes=("_va", "_vb"),
    )
    tolerance = 0.0
    any_changed = np.zeros(len(joined), dtype=bool)
    reported = {c["column"]: c for c in outs["columns"]}
    assert sorted(reported) == sorted(outputs), (sorted(reported), outputs)
    for column in outputs:
        before = joined[f"{column}_va"].astype("float64")
        after = joined[f"{column}_vb"].astype("float64")
        delta = (after - before).abs()
        changed = (delta > tolerance) | (before.isna() != after.isna())
        any_changed |= changed.to_numpy()
        row = reported[column]
        assert row["changed"] == int(changed.sum()), (column, row, int(changed.sum()))
        largest = float(delta[changed].max()) if changed.any() else 0.0
        assert row["max_abs_change"] == largest, (column, row["max_abs_change"], largest)
        if changed.any():
            at = joined.loc[delta[changed].idxmax()]
            assert (row["largest_a"], row["largest_b"]) == (int(at["sort_index_a"]), int(at["sort_index_b"])), (column, row)
    assert outs["changed_specs"] == int(any_changed.sum()), (outs["changed_specs"], int(any_changed.sum()))
    print(f"pandas agrees: {len(pairs)} common specs, {int(any_changed.sum())} changed, outputs {outputs}")


if __name__ == "__main__":
    main()

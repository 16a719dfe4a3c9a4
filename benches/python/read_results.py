"""Reading a run's final/scalars.pq into pandas and polars, against a CSV of the same data.

Usage: python read_results.py RUN_DIR [REPS]

Prints a table (median of REPS runs, default 3) of the time to the first row and to the whole
table for each reader, the sizes on disk, and ratio lines. Each reader starts cold in this
process (the OS page cache is warm after the first repetition for all of them alike).
"""

import os
import statistics
import sys
import tempfile
import time

import pandas as pd
import polars as pl
import pyarrow.parquet as pq


def timed(fn, reps):
    times = []
    result = None
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    run_dir = sys.argv[1]
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    parquet_path = os.path.join(run_dir, "final", "scalars.pq")
    frame = pd.read_parquet(parquet_path)
    rows = len(frame)
    index = list(frame.index.names)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = os.path.join(tmp, "scalars.csv")
        frame.reset_index().to_csv(csv_path, index=False)
        measures = [
            ("pandas.read_parquet", lambda: pd.read_parquet(parquet_path), lambda: next(
                pq.ParquetFile(parquet_path).iter_batches(batch_size=1)).to_pandas()),
            ("polars.read_parquet", lambda: pl.read_parquet(parquet_path),
             lambda: pl.scan_parquet(parquet_path).head(1).collect()),
            # The same DataFrame as read_parquet gives: the index levels restored.
            ("pandas.read_csv", lambda: pd.read_csv(csv_path, index_col=index),
             lambda: pd.read_csv(csv_path, index_col=index, nrows=1)),
            ("polars.read_csv", lambda: pl.read_csv(csv_path), lambda: pl.scan_csv(csv_path).head(1).collect()),
        ]
        results = {}
        for name, whole, first in measures:
            t_first, _ = timed(first, reps)
            t_whole, df = timed(whole, reps)
            if len(df) != rows:
                print(f"{name} read {len(df)} rows, expected {rows}", file=sys.stderr)
                return 1
            results[name] = (t_first, t_whole)
        parquet_mib = os.path.getsize(parquet_path) / 2**20
        csv_mib = os.path.getsize(csv_path) / 2**20
    print(f"final/scalars.pq: {rows} rows, {len(frame.columns)} columns + {frame.index.nlevels} index levels")
    print(f"{'reader':<22} {'first row s':>12} {'whole s':>10}")
    for name, (t_first, t_whole) in results.items():
        print(f"{name:<22} {t_first:>12.4f} {t_whole:>10.3f}")
    print(f"size: parquet {parquet_mib:.1f} MiB, csv {csv_mib:.1f} MiB")
    print(f"ratio csv/parquet size = {csv_mib / parquet_mib:.1f}")
    print(f"ratio pandas csv/parquet read time = {results['pandas.read_csv'][1] / results['pandas.read_parquet'][1]:.1f}")
    print(f"ratio polars csv/parquet read time = {results['polars.read_csv'][1] / results['polars.read_parquet'][1]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reads a Scythe run's final tables with pandas and pyarrow and checks what users rely on.

Usage: check_run.py RUN_DIR EXPECT_JSON
EXPECT_JSON: {"succeeded": int, "failed": int, "index": [level names], "tables": [names],
              "failed_sort_indexes": [ints], "file_fields": [names]}
Exits non-zero with a message on the first mismatch.
"""

import json
import os
import sys

import pandas as pd
import pyarrow.parquet as pq


def main() -> None:
    run_dir, expect = sys.argv[1], json.loads(sys.argv[2])
    # A run folder, or a folder of downloaded final tables (`results --out`).
    final = os.path.join(run_dir, "final") if os.path.isdir(os.path.join(run_dir, "final")) else run_dir
    scalars = pd.read_parquet(os.path.join(final, "scalars.pq"))
    assert list(scalars.index.names) == expect["index"], f"scalars index {list(scalars.index.names)} != {expect['index']}"
    assert len(scalars) == expect["succeeded"], f"{len(scalars)} scalar rows, expected {expect['succeeded']}"
    sort_index = scalars.index.get_level_values("sort_index")
    assert sort_index.is_monotonic_increasing and sort_index.is_unique, "scalars not sorted by a unique sort_index"

    failures = pd.read_parquet(os.path.join(final, "failures.pq"))
    assert len(failures) == expect["failed"], f"{len(failures)} failures, expected {expect['failed']}"
    failed = sorted(failures.index.get_level_values("sort_index").tolist())
    assert failed == expect["failed_sort_indexes"], f"failed sort indexes {failed}"
    assert set(failures.columns) >= {"error", "error_kind", "attempts"}, f"failure columns {list(failures.columns)}"
    assert failures["error"].str.len().min() > 0 if len(failures) else True, "empty error message"
    assert not set(failed) & set(sort_index.tolist()), "a spec is both a success and a failure"

    for table in expect["tables"]:
        frame = pd.read_parquet(os.path.join(final, f"{table}.pq"))
        names = list(frame.index.names)
        assert names[: len(expect["index"])] == expect["index"], f"{table} index {names}"
        if "sort_subindex" in names:
            keys = list(zip(frame.index.get_level_values("sort_index"), frame.index.get_level_values("sort_subindex")))
            assert keys == sorted(keys), f"{table} not sorted by (sort_index, sort_subindex)"
        # The same file through pyarrow: the Arrow schema carries the pandas metadata.
        schema = pq.read_schema(os.path.join(final, f"{table}.pq"))
        assert b"pandas" in (schema.metadata or {}), f"{table} lacks pandas metadata"

    if expect["file_fields"]:
        refs = pd.read_parquet(os.path.join(final, "result_file_refs.pq"))
        for field in expect["file_fields"]:
            uris = refs[field].dropna()
            assert len(uris) > 0, f"no {field} files"
            for uri in uris:
                assert f"/results/{field}/" in uri, f"{field}: {uri} is not under results/{field}/"
                if uri.startswith("file://"):
                    assert os.path.isfile(uri[len("file://"):]), f"{field}: {uri} does not exist"
                else:
                    assert uri.startswith(expect.get("uri_prefix", "s3://")), f"{field}: {uri}"
    print(f"ok: {run_dir}: {len(scalars)} succeeded, {len(failures)} failed, tables {expect['tables']}")


if __name__ == "__main__":
    main()

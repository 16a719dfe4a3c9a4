"""Allocate SPECS no-op specs with the Python Scythe tool, wait for the result, verify it and
print one JSON line with the measurements on stdout (progress goes to stderr).

Environment: SPECS, WORKERS, SLOTS, WORKER_PIDS (space-separated pids of the worker processes),
WORKER_NAMES (space-separated worker names to wait for), plus the Hatchet, AWS and
SCYTHE_STORAGE_* settings the tool itself reads.
"""

import io
import json
import logging
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto3  # noqa: E402
import pandas as pd  # noqa: E402
from hatchet_sdk.clients.rest.models.v1_task_status import V1TaskStatus  # noqa: E402
from hatchet_sdk.features.runs import BulkCancelReplayOpts, RunFilter  # noqa: E402
from scythe.experiments import BaseExperiment  # noqa: E402
from scythe.hatchet import hatchet  # noqa: E402
from scythe.scatter_gather import scatter_gather  # noqa: E402

import procstat  # noqa: E402
from noop_experiment import NoopInput, pybench_noop  # noqa: E402


def log(msg: str) -> None:
    print(f"[python-tool] {msg}", file=sys.stderr, flush=True)


def self_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def cancel_stale_runs() -> None:
    """Cancel queued/running runs of this benchmark's (namespaced) tasks left by an aborted run."""
    from datetime import datetime, timedelta, timezone

    names = {scatter_gather.name, pybench_noop.name}
    wf_ids = [w.metadata.id for w in (hatchet.workflows.list(limit=1000).rows or []) if w.name in names]
    if not wf_ids:
        return
    since = datetime.now(timezone.utc) - timedelta(days=1)
    active = [V1TaskStatus.QUEUED, V1TaskStatus.RUNNING]
    for attempt in range(60):
        runs = hatchet.runs.list(since=since, statuses=active, workflow_ids=wf_ids, limit=1, only_tasks=True)
        if not runs.rows:
            return
        if attempt == 0:
            log("cancelling stale runs of a previous benchmark")
        hatchet.runs.bulk_cancel(
            BulkCancelReplayOpts(filters=RunFilter(since=since, statuses=active, workflow_ids=wf_ids))
        )
        time.sleep(2)
    raise SystemExit("stale runs could not be cancelled")


def wait_for_workers(names: set[str], pids: list[int], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for pid in pids:
            if not procstat.alive(pid):
                raise SystemExit(f"worker process {pid} exited before it became active")
        rows = hatchet.workers.list().rows or []
        # The engine reports the names with the client namespace as a prefix.
        active = {w.name for w in rows if w.status is not None and w.status.value == "ACTIVE"}
        up = {n for n in names if n in active or hatchet.config.apply_namespace(n) in active}
        if up >= names:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"workers not active after {timeout}s: {sorted(names - up)}")
        time.sleep(0.5)


def main() -> None:
    logging.basicConfig(level=os.environ.get("PYBENCH_LOG_LEVEL", "WARNING"), stream=sys.stderr)
    n = int(os.environ.get("SPECS", "2000"))
    workers = int(os.environ.get("WORKERS", "2"))
    slots = int(os.environ.get("SLOTS", "3"))
    worker_pids = [int(p) for p in os.environ.get("WORKER_PIDS", "").split()]
    worker_names = set(os.environ.get("WORKER_NAMES", "").split())

    cancel_stale_runs()
    wait_for_workers(worker_names, worker_pids)
    log(f"{len(worker_names)} workers active; allocating {n} specs")

    specs = [NoopInput(experiment_id="placeholder", sort_index=i, x=i * 0.5, y=1.0) for i in range(n)]
    cpu_w0 = {pid: procstat.tree_cpu_s(pid) for pid in worker_pids}
    cpu0, t0 = self_cpu_s(), time.perf_counter()
    run, ref = BaseExperiment(runnable=pybench_noop).allocate(specs, version="bumpmajor")
    t_alloc = time.perf_counter() - t0
    log(f"allocated {run.experiment_id} in {t_alloc:.2f}s (run {ref.workflow_run_id}); waiting")
    result = ref.result()
    wall = time.perf_counter() - t0
    cpu1 = self_cpu_s()
    cpu_w1 = {pid: procstat.tree_cpu_s(pid) for pid in worker_pids}
    rss = {pid: procstat.tree_peak_rss_mib(pid) for pid in worker_pids}
    log(f"done in {wall:.2f}s")

    uri = result.uris["scalars"]
    bucket, key = uri.host, uri.path.lstrip("/")
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    df = pd.read_parquet(io.BytesIO(body))
    x = df.index.get_level_values("x").to_numpy()
    y = df.index.get_level_values("y").to_numpy()
    correct = int(((df["z"].to_numpy() - (x + y)) == 0).sum())
    sort_ix = set(df.index.get_level_values("sort_index"))
    log(f"{uri}: {len(df)} rows, {correct} with z == x + y, {len(sort_ix)} distinct sort_index")

    print(
        json.dumps(
            {
                "tool": "python scythe-engine 1.3.0",
                "specs": n,
                "workers": workers,
                "slots_per_worker": slots,
                "wall_s": round(wall, 3),
                "allocate_s": round(t_alloc, 3),
                "worker_cpu_s": round(sum(cpu_w1[p] - cpu_w0[p] for p in worker_pids), 2),
                "worker_total_cpu_s": round(sum(cpu_w1.values()), 2),
                "worker_peak_rss_mib": round(max(rss.values()), 1),
                "worker_peak_rss_total_mib": round(sum(rss.values()), 1),
                "scatter_cpu_s": round(cpu1 - cpu0, 2),
                "scatter_process_cpu_s": round(cpu1, 2),
                "succeeded": min(correct, len(sort_ix)),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

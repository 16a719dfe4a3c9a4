"""The Python tool (`scythe-engine` from PyPI) finds and loads runs that Scythe wrote to S3.

Usage: python_tool_reads_run.py BUCKET PREFIX EXPERIMENT N_RUNS N_SPECS

Uses only the Python tool's own API, as its users do: `BaseExperiment.list_versions`,
`VersionedExperiment.list_runs`/`latest_run` (which parse every run folder name with
`%Y-%m-%d_%H-%M-%S`), `ExperimentRun.list_results_files` (every file directly in `final/`,
loaded as a table), and its `ExperimentRunManifest` model for `manifest.yml`.
Reads S3 settings from the AWS_* variables of `scripts/seaweedfs.sh env`.
"""

import base64
import json
import os
import sys


def fake_token() -> str:
    """A JWT-shaped token: the Python tool builds a Hatchet client at import, never used here."""

    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {
        "sub": "00000000-0000-0000-0000-000000000000",
        "server_url": "http://127.0.0.1:1",
        "grpc_broadcast_address": "127.0.0.1:1",
    }
    return f"{part({'alg': 'none'})}.{part(claims)}.c2lnbmF0dXJl"


bucket, prefix, experiment, n_runs, n_specs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
os.environ["HATCHET_CLIENT_TOKEN"] = fake_token()
os.environ["HATCHET_CLIENT_TLS_STRATEGY"] = "none"
os.environ["SCYTHE_STORAGE_BUCKET"] = bucket
os.environ["SCYTHE_STORAGE_BUCKET_PREFIX"] = prefix
os.environ.setdefault("AWS_ENDPOINT_URL", os.environ.get("AWS_ENDPOINT", ""))
os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))

import boto3  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from scythe.base import ExperimentInputSpec, ExperimentOutputSpec  # noqa: E402
from scythe.experiments import BaseExperiment, ExperimentRunManifest  # noqa: E402
from scythe.registry import ExperimentRegistry  # noqa: E402


class StandInInput(ExperimentInputSpec):
    """The experiment's input as the Python tool sees it (no fields needed to read results)."""


class StandInOutput(ExperimentOutputSpec):
    """The experiment's output as the Python tool sees it."""


@ExperimentRegistry.Register(name=experiment)
def stand_in(input_spec: StandInInput) -> StandInOutput:
    """Never run: it names the experiment whose runs are read."""
    raise NotImplementedError


s3 = boto3.client("s3")
base = BaseExperiment(runnable=stand_in)
versions = base.list_versions(s3_client=s3)
assert [str(v.version) for v in versions] == ["v1.0.0"], versions
runs = versions[0].list_runs(s3_client=s3)
assert len(runs) == n_runs, f"{len(runs)} runs listed, {n_runs} expected"
assert len({run.dt_str for run in runs}) == n_runs, "two runs share a folder"
latest = versions[0].latest_run
print(f"python tool: {n_runs} runs listed, latest {latest.experiment_id}")

for run in runs:
    manifest_key = f"{run.prefix}manifest.yml"
    manifest = yaml.safe_load(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    parsed = ExperimentRunManifest.model_validate(manifest)
    assert parsed.experiment_id == run.experiment_id, (parsed.experiment_id, run.experiment_id)

results = latest.list_results_files(s3_client=s3)
assert {"scalars", "failures"} <= set(results), results
for stem, key in sorted(results.items()):
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    local = f"/tmp/python-tool-{os.getpid()}-{stem}.pq"
    with open(local, "wb") as f:
        f.write(body)
    table = pd.read_parquet(local)
    os.remove(local)
    print(f"python tool: {stem}: {len(table)} rows")
    if stem == "scalars":
        assert len(table) == n_specs, f"scalars has {len(table)} rows, {n_specs} expected"
        assert list(table.index.names[:2]) == ["experiment_id", "sort_index"], table.index.names
        assert set(table.index.get_level_values("experiment_id")) == {latest.experiment_id}
print("python tool reads the runs: ok")

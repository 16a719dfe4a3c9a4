"""A no-op experiment for the Python Scythe (`scythe-engine==1.3.0`) benchmark.

Imported by both `worker.py` (which serves it) and `scatter.py` (which allocates it), so that
both processes register the same Hatchet task under the same name.
"""

from datetime import timedelta

from scythe.base import ExperimentInputSpec, ExperimentOutputSpec
from scythe.registry import ExperimentRegistry


class NoopInput(ExperimentInputSpec):
    """Two floats on top of Scythe's base spec."""

    x: float
    y: float


class NoopOutput(ExperimentOutputSpec):
    """One scalar."""

    z: float


@ExperimentRegistry.Register(
    # Without this, the tool sends the description "None" (the docstring fallback is f"{__doc__}").
    description="No-op benchmark experiment: z = x + y",
    schedule_timeout=timedelta(hours=2),
    execution_timeout=timedelta(minutes=10),
)
def pybench_noop(input_spec: NoopInput) -> NoopOutput:
    """Add the two inputs."""
    return NoopOutput(z=input_spec.x + input_spec.y)

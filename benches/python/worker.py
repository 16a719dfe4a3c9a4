"""One Python Scythe worker serving `scythe_scatter_gather` and the no-op experiment.

Name and slots come from SCYTHE_WORKER_NAME and SCYTHE_WORKER_SLOTS (ScytheWorkerConfig).
"""

import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import noop_experiment  # noqa: E402,F401  (registers the experiment)
from scythe.worker import ScytheWorkerConfig  # noqa: E402

if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("PYBENCH_LOG_LEVEL", "WARNING"), stream=sys.stderr)
    ScytheWorkerConfig().start()

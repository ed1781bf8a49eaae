"""A worker warms up before its pool forks, so no child's first task pays the imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import workers.tasks
from celery import signals
cold = "anthropic" in sys.modules
from evofarm.evolution.operators.registry import OPERATORS
loaded = OPERATORS._loaded
signals.worker_init.send(sender=None)
print(json.dumps({"cold": cold, "warm": "anthropic" in sys.modules,
                  "executor": "evofarm.pipeline.executor" in sys.modules,
                  "operators": [loaded, OPERATORS._loaded]}))
"""


def test_worker_init_loads_the_sdk_a_first_task_would_import() -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EVOFARM_")},
        "EVOFARM_BROKER_URL": "redis://127.0.0.1:1/0",  # never connected to here
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    # Importing the tasks leaves the SDK out (the parent stays light until the worker
    # starts); worker_init loads it in the parent, which the pool's children inherit.
    assert found == {"cold": False, "warm": True, "executor": True, "operators": [False, True]}

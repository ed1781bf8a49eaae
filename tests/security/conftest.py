"""Fixtures for hostile-candidate tests: secrets in the worker's environment
and the two isolation modes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from evofarm.sandbox.child.zygote import shutdown_zygote

from .hostile import REDIS_PASSWORD, SECRET, full_isolation_available


@pytest.fixture(scope="module", autouse=True)
def secrets_in_worker_env() -> Iterator[None]:
    """The worker holds secrets in its environment, and its zygote is started
    while they are there (it must not pass them on)."""
    saved = {k: os.environ.get(k) for k in ("ANTHROPIC_API_KEY", "EVOFARM_REDIS_URL")}
    os.environ["ANTHROPIC_API_KEY"] = SECRET
    os.environ["EVOFARM_REDIS_URL"] = f"redis://:{REDIS_PASSWORD}@127.0.0.1:6390/0"
    shutdown_zygote()
    try:
        yield
    finally:
        shutdown_zygote()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(params=["full", "degraded"])
def mode(request: pytest.FixtureRequest) -> str:
    """Each case runs in full isolation (skipped where the platform refuses
    namespaces) and in the degraded mode."""
    if request.param == "full" and not full_isolation_available():
        pytest.skip("this platform refuses the namespaces full isolation needs")
    return str(request.param)

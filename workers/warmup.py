"""Warm a worker before it forks its pool: what every child's first task would pay.

A prefork child inherits the modules its parent loaded. Left cold, the first
task in each child imports the LLM SDKs (``anthropic`` alone takes seconds on
a loaded machine) and the pipeline machinery, loads the extension registries
(the first campaign decoded looks operators, steps and checks up), and parses
the meta pipelines:
enough for a breed task to overrun a short soft time limit. :func:`warm_up`
does it once in the parent (``worker_init``); each step is best effort (a
missing optional SDK is skipped) and never fails the worker.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time

from evofarm.errors import FarmError

log = logging.getLogger(__name__)

#: Modules a first task would import: provider backends and the executor's steps.
MODULES = (
    "evofarm.providers.anthropic",
    "evofarm.providers.gemini",
    "evofarm.pipeline.executor",
    "evofarm.fitness.runner",
    "evofarm.campaign.candidate_runtime",
    "evofarm.campaign.proposer",
)

#: Extension registries (``module:attribute``) a first task's campaign decode would
#: load: each imports its built-in modules and plugins on first use (~0.1 s).
REGISTRIES = (
    "evofarm.providers.base:PROVIDERS",
    "evofarm.pipeline.step_types:STEP_REGISTRY",
    "evofarm.evolution.operators.registry:OPERATORS",
    "evofarm.evolution.selection.registry:SELECTION_STRATEGIES",
    "evofarm.fitness.check_registry:CHECKS",
    "evofarm.fitness.predicates:PREDICATES",
)


def warm_up() -> float:
    """Import :data:`MODULES`, load :data:`REGISTRIES`, parse the meta pipelines; seconds taken."""
    started = time.perf_counter()
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # an optional backend's SDK is not installed
            log.info("warm-up: %s not loaded (%s)", name, exc)
    for spec in REGISTRIES:
        module, _, attr = spec.partition(":")
        try:
            getattr(importlib.import_module(module), attr).load()
        except (ImportError, AttributeError, FarmError) as exc:  # the first task reports it
            log.info("warm-up: registry %s not loaded (%s)", spec, exc)
    from evofarm.campaign.proposer import META_DIR, META_FILES  # noqa: PLC0415 - after the imports
    from evofarm.pipeline.loader import load_pipeline  # noqa: PLC0415

    for file in META_FILES.values():
        with contextlib.suppress(FarmError, OSError):
            load_pipeline(META_DIR / file)
    took = time.perf_counter() - started
    log.info("warm-up took %.2fs", took)
    return took

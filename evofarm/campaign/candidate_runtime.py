"""The runtime every candidate of a campaign runs with, in this process.

Providers: both slots on the offline mock provider unless the campaign's
``providers:`` rebinds them (a candidate's own ``providers:`` applies on top),
each behind the response cache and rate limit (:mod:`evofarm.campaign.provider_stack`).
Limits: the campaign's ``sandbox.wall_timeout_s`` bounds each run and each step,
``sandbox.max_output_bytes`` each step's result. Templates are strict.

In-process runs share one temporary workspace directory owned by the factory
(removed when the factory is garbage-collected or the process exits): a fresh
directory per case cost more than running the demo's cases. The farm's sandbox
gives every run its own private directory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from evofarm.campaign.provider_stack import provider_wrapper
from evofarm.campaign.spec import CampaignSpec
from evofarm.fitness.suite import Case
from evofarm.pipeline.runtime import RunLimits, Runtime
from evofarm.providers.registry import ProviderSet
from evofarm.settings import Settings, get_settings

MAX_STEP_TIMEOUT_S = 300.0


def run_limits(spec: CampaignSpec) -> RunLimits:
    """The executor limits derived from the campaign's sandbox section."""
    wall = spec.sandbox.wall_timeout_s
    return RunLimits(
        run_timeout_s=wall,
        step_timeout_s=min(wall, MAX_STEP_TIMEOUT_S),
        max_output_bytes=spec.sandbox.max_output_bytes,
    )


def provider_set(spec: CampaignSpec, settings: Settings | None = None) -> ProviderSet:
    """Slot bindings for the campaign: mock by default, rebound by ``providers:``.

    The set is locked: a candidate's own ``providers:`` may pick models but never a
    backend the campaign did not bind. Every provider it builds is wrapped with the
    response cache and rate limit of ``settings`` (:mod:`evofarm.campaign.provider_stack`);
    the cache lives as long as the set, so build one set per campaign and process.

    Args:
        spec: The campaign.
        settings: Provider configuration; the process settings if None.

    Raises:
        ProviderConfigError: a binding names a provider that cannot be built, or
            the rate-limit setting is invalid.
    """
    s = settings if settings is not None else get_settings()
    overrides: dict[str, dict[str, str]] = {
        slot: {"provider": b.provider, **({"model": b.model} if b.model else {})}
        for slot, b in spec.providers.items()
    }
    base = ProviderSet.for_provider("mock", s, wrap=provider_wrapper(s))
    return base.with_overrides(overrides).locked()


def runtime_factory(spec: CampaignSpec) -> Callable[[Case], Runtime]:
    """A thread-safe ``(case) -> Runtime`` for evaluating candidates of ``spec``."""
    providers = provider_set(spec)
    limits = run_limits(spec)
    root = tempfile.TemporaryDirectory(prefix=f"evofarm-{spec.name}-")
    runtime = Runtime(
        providers=providers,
        limits=limits,
        strict=True,
        workspace=Path(root.name) / "workspace",
        base_dir=spec.seed_paths[0].parent if spec.seed_paths else spec.base_dir,
    )

    def make(case: Case) -> Runtime:
        del case  # every case gets the same (immutable) runtime
        # Referencing ``root`` keeps the directory alive while the factory is in use.
        assert root.name
        return runtime

    return make

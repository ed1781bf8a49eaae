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

from evofarm.campaign.pipeline_files import pipeline_files
from evofarm.campaign.provider_stack import Services, provider_wrapper
from evofarm.campaign.spec import CampaignSpec
from evofarm.fitness.pipeline_executor_step import DEFAULT_SUITES_DIR
from evofarm.fitness.suite import Case, TaskSuite
from evofarm.pipeline.runtime import RunLimits, Runtime
from evofarm.providers.base import Provider
from evofarm.providers.ledger import Role
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


def provider_set(
    spec: CampaignSpec,
    settings: Settings | None = None,
    *,
    campaign: str | None = None,
    services: Services | None = None,
    role: Role = "evaluation",
) -> ProviderSet:
    """Slot bindings for the campaign: mock by default, rebound by ``providers:``.

    The set is locked: a candidate's own ``providers:`` may pick models but never a
    backend the campaign did not bind. Every provider it builds is metered into the
    campaign's budget ledger and wrapped with the response cache and rate limit of
    ``settings`` (:mod:`evofarm.campaign.provider_stack`); the cache lives as long
    as the set, so build one set per campaign and process.

    Args:
        spec: The campaign.
        settings: Provider configuration; the process settings if None.
        campaign: The ledger's campaign id (the farm's id; default the spec's name).
        services: Limiters and ledger (default: the process's, or what the worker
            bootstrap injected).
        role: The role the set's calls are charged to.

    Raises:
        ProviderConfigError: a binding names a provider that cannot be built, or
            the rate-limit setting is invalid.
    """
    s = settings if settings is not None else get_settings()
    overrides: dict[str, dict[str, str]] = {
        slot: {"provider": b.provider, **({"model": b.model} if b.model else {})}
        for slot, b in spec.providers.items()
    }
    wrap = provider_wrapper(s, spec, campaign=campaign, services=services, role=role)
    base = ProviderSet.for_provider("mock", s, wrap=wrap)
    return base.with_overrides(overrides).locked()


def judge_provider(
    spec: CampaignSpec,
    suite: TaskSuite,
    *,
    campaign: str | None = None,
    services: Services | None = None,
) -> Provider | None:
    """The provider of ``suite``'s ``llm_judge`` checks (None when it has none).

    The campaign's slot bindings, routed by model, with every call charged to
    the campaign's ledger as role ``judge``. It runs where the case is scored
    (the worker, never the sandboxed candidate). Build one per campaign and process.

    Raises:
        ProviderConfigError: as :func:`provider_set`.
    """
    if not any(c.type == "llm_judge" for case in suite.cases for c in suite.checks_for(case)):
        return None
    return provider_set(spec, campaign=campaign, services=services, role="judge").as_provider()


def suites_dir_for(spec: CampaignSpec, settings: Settings) -> Path:
    """Where a campaign's ``pipeline_executor`` steps resolve suite names.

    ``EVOFARM_SUITES_DIR`` when set, else the folder of the campaign's suite
    file, else ``pipelines/suites`` below the working directory.
    """
    if settings.suites_dir is not None:
        return settings.suites_dir
    folder = spec.suite_path.parent
    return folder if folder.is_dir() else DEFAULT_SUITES_DIR


def runtime_factory(spec: CampaignSpec, campaign: str | None = None) -> Callable[[Case], Runtime]:
    """A thread-safe ``(case) -> Runtime`` for evaluating candidates of ``spec``
    (calls charged to ``campaign``'s ledger; default the spec's name)."""
    providers = provider_set(spec, campaign=campaign)
    limits = run_limits(spec)
    root = tempfile.TemporaryDirectory(prefix=f"evofarm-{spec.name}-")
    runtime = Runtime(
        providers=providers,
        limits=limits,
        strict=True,
        workspace=Path(root.name) / "workspace",
        base_dir=spec.seed_paths[0].parent if spec.seed_paths else spec.base_dir,
        suites_dir=suites_dir_for(spec, providers.settings),
        read_files=pipeline_files(spec),
    )

    def make(case: Case) -> Runtime:
        del case  # every case gets the same (immutable) runtime
        # Referencing ``root`` keeps the directory alive while the factory is in use.
        assert root.name
        return runtime

    return make

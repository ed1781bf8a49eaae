"""The proposer runtime a breed/mutate worker gives LLM operators (and genesis).

:class:`CampaignProposer` binds a campaign's ``proposer:`` (provider and model,
behind the same response cache and rate limit as candidates' providers) to the
meta pipelines in ``pipelines/meta/`` (or the campaign's own mutation
pipeline), and runs one with :func:`~evofarm.pipeline.executor.run_pipeline`
when an operator asks. Meta pipelines are trusted files like seeds; what they
return (a proposal) is only parsed, never run, here.

:meth:`CampaignProposer.metered` gives one task its own view whose meter counts
every reply the provider returned: real calls add tokens and cost, cached ones
are counted apart at no cost. The worker reads the meter into
``BreedResult.usage``; nothing reads usage from a pipeline trace. The campaign's
totals and budgets come from its ledger, which the proposer's providers charge
as role ``proposer`` as they call (on the farm: the fleet ledger, by the breed
worker that made the call).

Thread safety: a :class:`CampaignProposer` is immutable and may serve several
tasks at once; each :class:`MeteredProposer` has its own lock.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evofarm.campaign.provider_stack import Services, provider_wrapper
from evofarm.campaign.spec import CampaignSpec, ProposerConfig
from evofarm.errors import BudgetExceeded, ProviderError, UserInputError
from evofarm.evolution.llm.runtime import MetaName, ProposerFailed
from evofarm.evolution.llm.usage import RoleUsage
from evofarm.pipeline.executor import run_pipeline
from evofarm.pipeline.loader import load_pipeline
from evofarm.pipeline.runtime import RunLimits, Runtime
from evofarm.pipeline.schema import Pipeline
from evofarm.providers.base import LLMRequest, LLMResponse, ProviderSlots
from evofarm.providers.registry import ProviderSet
from evofarm.settings import Settings, get_settings

#: The built-in meta pipelines (a source checkout or editable install).
META_DIR = Path(__file__).resolve().parents[2] / "pipelines" / "meta"
META_FILES: dict[MetaName, str] = {
    "mutation": "reflective_mutation.yaml",
    "crossover": "breeding_chamber.yaml",
    "genesis": "genesis_pipeline.yaml",
}
#: Limits of one meta pipeline run (a proposal is a few thousand tokens).
PROPOSER_LIMITS = RunLimits(
    max_steps=50, run_timeout_s=600.0, step_timeout_s=300.0, max_output_bytes=400_000
)


class _Meter:
    """Counts replies (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage = RoleUsage()

    def add(self, response: LLMResponse) -> None:
        if response.cached:
            one = RoleUsage(cached_calls=1)
        else:
            one = RoleUsage(
                input_tokens=response.usage.input_tokens,
                output_tokens=response.usage.output_tokens,
                cost_usd=response.cost_usd,
                calls=1,
            )
        with self._lock:
            self._usage = self._usage + one

    @property
    def usage(self) -> RoleUsage:
        with self._lock:
            return self._usage


class _MeteredSlots:
    """A :class:`ProviderSlots` that counts every reply into a meter."""

    def __init__(self, inner: ProviderSlots, meter: _Meter) -> None:
        self._inner = inner
        self._meter = meter

    def with_overrides(
        self, overrides: Mapping[str, Any] | None, *, pin: bool = False
    ) -> ProviderSlots:
        return _MeteredSlots(self._inner.with_overrides(overrides, pin=pin), self._meter)

    def complete(self, slot: str, request: LLMRequest) -> LLMResponse:
        response = self._inner.complete(slot, request)
        self._meter.add(response)
        return response


def proposer_slots(
    config: ProposerConfig,
    settings: Settings,
    spec: CampaignSpec | None = None,
    *,
    campaign: str | None = None,
    services: Services | None = None,
) -> ProviderSet:
    """Both slots on the proposer's provider, the model pinned when one is given.

    With a ``spec``, every call is metered into the campaign's budget ledger as
    role ``proposer`` (reserved before, settled after; refused past a budget),
    like a candidate's calls; without one (``evofarm genesis``) it is only metered
    by :class:`MeteredProposer`.

    Raises:
        ProviderConfigError: the provider cannot be built.
    """
    wrap = provider_wrapper(settings, spec, campaign=campaign, services=services, role="proposer")
    base = ProviderSet.for_provider(config.provider, settings, wrap=wrap)
    if config.model is None:
        return base.locked()
    pinned = {"claude": {"model": config.model}}
    return base.with_overrides(pinned, pin=True).locked()


def meta_path(meta: MetaName, config: ProposerConfig | None, spec: CampaignSpec | None) -> Path:
    """The file of meta pipeline ``meta`` (the campaign's own mutation pipeline if set)."""
    if meta == "mutation" and config is not None and config.pipeline and spec is not None:
        return spec.resolve(config.pipeline)
    return META_DIR / META_FILES[meta]


class CampaignProposer:
    """Runs the campaign's meta pipelines on its proposer binding.

    Args:
        config: The campaign's ``proposer:``.
        spec: The campaign (resolves its own ``pipeline:``; its ledger is
            charged); None for genesis outside a campaign.
        settings: Provider configuration; the process settings if None.
        campaign: The ledger's campaign id (the farm's id; default the spec's name).
        services: Where the ledger comes from (default: the process's, or the
            fleet's that the worker bootstrap injected).
        slots: Ready provider slots to call instead of building the config's
            provider (``evofarm evolve`` given a provider instance).

    Raises:
        ProviderConfigError: the provider cannot be built.
        PipelineLoadError, PipelineValidationError: a meta pipeline is invalid.
    """

    def __init__(
        self,
        config: ProposerConfig,
        spec: CampaignSpec | None = None,
        settings: Settings | None = None,
        *,
        campaign: str | None = None,
        services: Services | None = None,
        slots: ProviderSlots | None = None,
    ) -> None:
        self.config = config
        self._settings = settings if settings is not None else get_settings()
        self._slots = (
            slots
            if slots is not None
            else proposer_slots(config, self._settings, spec, campaign=campaign, services=services)
        )
        self._pipelines: dict[MetaName, Pipeline] = {}
        self._paths = {meta: meta_path(meta, config, spec) for meta in META_FILES}
        self._lock = threading.Lock()
        self._root = tempfile.TemporaryDirectory(prefix="evofarm-proposer-")

    @classmethod
    def for_campaign(
        cls,
        spec: CampaignSpec,
        settings: Settings | None = None,
        *,
        campaign: str | None = None,
        services: Services | None = None,
    ) -> CampaignProposer | None:
        """The campaign's proposer (charging ``campaign``'s ledger), or None when it names none."""
        if spec.proposer is None:
            return None
        return cls(spec.proposer, spec, settings, campaign=campaign, services=services)

    def pipeline(self, meta: MetaName) -> Pipeline:
        """The meta pipeline (loaded once, with the loader's limits)."""
        with self._lock:
            found = self._pipelines.get(meta)
            if found is None:
                found = self._pipelines[meta] = load_pipeline(self._paths[meta])
            return found

    def metered(self) -> MeteredProposer:
        """A runtime for one task, with its own meter."""
        return MeteredProposer(self)

    def run(self, meta: MetaName, inputs: Mapping[str, str], slots: ProviderSlots) -> str:
        """Run ``meta`` on ``inputs`` through ``slots``; its final output as text.

        Raises:
            ProposerFailed: the run failed (step error, limit, provider error).
        """
        try:
            pipeline = self.pipeline(meta)
        except UserInputError as exc:
            raise ProposerFailed(f"meta pipeline {meta}: {exc}") from None
        runtime = Runtime(
            providers=slots,
            limits=PROPOSER_LIMITS,
            strict=True,
            workspace=Path(self._root.name) / "workspace",
            base_dir=self._paths[meta].parent,
        )
        try:
            trace = run_pipeline(pipeline, dict(inputs), runtime=runtime)
        except ProviderError as exc:
            raise ProposerFailed(f"meta pipeline {meta}: provider: {exc}") from None
        except BudgetExceeded as exc:
            # The ledger remembered the crossed budget: the campaign stops on it.
            raise ProposerFailed(f"meta pipeline {meta}: {exc}") from None
        if trace.status != "completed":
            raise ProposerFailed(f"meta pipeline {meta} failed: {trace.error}")
        output = trace.output
        return output if isinstance(output, str) else str(output)


class MeteredProposer:
    """A :class:`~evofarm.evolution.llm.runtime.ProposerRuntime` for one task, metered."""

    def __init__(self, proposer: CampaignProposer) -> None:
        self._proposer = proposer
        self._meter = _Meter()
        self._slots = _MeteredSlots(proposer._slots, self._meter)

    def ask(self, meta: MetaName, inputs: Mapping[str, str]) -> str:
        """Run meta pipeline ``meta`` (see :meth:`CampaignProposer.run`)."""
        return self._proposer.run(meta, inputs, self._slots)

    @property
    def usage(self) -> RoleUsage:
        """What this task's calls were billed so far."""
        return self._meter.usage

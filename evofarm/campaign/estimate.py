"""What a campaign will cost before it runs: an expected token and USD range.

:func:`estimate` reads the campaign, its suite and its seed pipelines:

* evaluations: the seeds plus ``offspring`` per generation (capped by
  ``budgets.max_evaluations``), each on ``ceil(cases x fidelity)`` cases;
* per case, one call per LLM step of the seeds (nested steps included) and one
  per ``llm_judge`` check of the case; input tokens from the step's static
  prompt text plus the case's inputs (4 characters a token, as the mock
  counts), output tokens from 1 (low) to the step's ``max_tokens`` (high,
  1024 unless the step says);
* prices: the campaign's catalogue, then the default table (the same lookup as
  the ledger, :func:`evofarm.campaign.provider_stack.campaign_prices`); a model
  with no known price is listed in ``unpriced`` and counted at 0 (the ledger
  refuses it for a budgeted campaign). Calls to deterministic offline
  providers (``mock``, ``replay``) cost nothing and are reported apart.

Evolution changes prompts and may add LLM steps, so the high end doubles the
input tokens.

Proposer calls (``llm_mutation``, ``llm_crossover``): each offspring gets an
LLM operator with its rate (at most 1), so ``offspring x generations x rate``
calls per operator, on the campaign's ``proposer:`` binding. Each call sends
the operator's meta pipeline (its static prompt and system prompt) with the
candidate's YAML (the largest seed's); the high end adds the failing-case
feedback at its cap (``MAX_CASES`` cases of input, output and expected at
``VALUE_CHARS`` each) and doubles the rest. The reply carries a whole pipeline:
at least the seed's YAML, at most the meta step's ``max_tokens``. They are
counted in the totals and shown apart under ``proposer``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from evofarm.campaign.proposer import meta_path
from evofarm.campaign.provider_stack import campaign_prices
from evofarm.campaign.spec import CampaignSpec
from evofarm.evolution.llm.prompting import MAX_CASES, VALUE_CHARS
from evofarm.evolution.llm.runtime import MetaName
from evofarm.pipeline.loader import load_pipeline, pipeline_to_data
from evofarm.pipeline.steps.llm import PRESETS
from evofarm.pipeline.structure import calls_llm, iter_steps, provider_slot, top_steps
from evofarm.providers.aliases import resolve_model
from evofarm.settings import Settings, get_settings

CHARS_PER_TOKEN = 4
LOW_OUTPUT_TOKENS = 1
DEFAULT_MAX_TOKENS = 1024
OFFLINE_PROVIDERS = frozenset({"mock", "replay"})
#: LLM operators and the meta pipeline each runs.
PROPOSER_OPERATORS: dict[str, MetaName] = {"llm_mutation": "mutation", "llm_crossover": "crossover"}
#: The most failing-case feedback a proposal prompt carries (characters).
FEEDBACK_CHARS = MAX_CASES * 3 * VALUE_CHARS


@dataclass
class Estimate:
    """The expected range; ``to_json`` is what ``evofarm estimate --json`` prints."""

    evaluations: int
    cases_per_evaluation: int
    calls: int = 0
    offline_calls: int = 0
    tokens: list[int] = field(default_factory=lambda: [0, 0])
    usd: list[float] = field(default_factory=lambda: [0.0, 0.0])
    models: dict[str, dict[str, float] | None] = field(default_factory=dict)
    unpriced: list[str] = field(default_factory=list)
    proposer_calls: int = 0
    proposer_tokens: list[int] = field(default_factory=lambda: [0, 0])
    proposer_usd: list[float] = field(default_factory=lambda: [0.0, 0.0])

    def to_json(self) -> dict[str, Any]:
        return {
            "evaluations": self.evaluations,
            "cases_per_evaluation": self.cases_per_evaluation,
            "llm_calls": self.calls,
            "offline_calls": self.offline_calls,
            "tokens": {"low": self.tokens[0], "high": self.tokens[1]},
            "usd": {"low": round(self.usd[0], 6), "high": round(self.usd[1], 6)},
            "models": self.models,
            "unpriced": self.unpriced,
            "proposer": {
                "calls": self.proposer_calls,
                "tokens": {"low": self.proposer_tokens[0], "high": self.proposer_tokens[1]},
                "usd": {
                    "low": round(self.proposer_usd[0], 6),
                    "high": round(self.proposer_usd[1], 6),
                },
            },
        }


def _tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _prompt_text(step: Mapping[str, Any]) -> str:
    prompt = step.get("prompt")
    if isinstance(prompt, str):
        return prompt
    parts = prompt if isinstance(prompt, list) else []
    return "".join(str(p.get("content", "")) for p in parts if isinstance(p, Mapping))


def _max_tokens(step: Mapping[str, Any], preset: str | None = None) -> int:
    for key, inner in (("claude_options", "max_tokens"), ("token_budget", "max_output_tokens")):
        options = step.get(key)
        if isinstance(options, Mapping) and isinstance(options.get(inner), int):
            return int(options[inner])
    chosen = step.get("preset") or preset
    if isinstance(chosen, str) and chosen in PRESETS:
        return int(PRESETS[chosen]["max_tokens"])
    return DEFAULT_MAX_TOKENS


def estimate(spec: CampaignSpec, settings: Settings | None = None) -> Estimate:
    """The expected cost range of running ``spec`` (see the module docs).

    Raises:
        UserInputError: a seed pipeline or the suite file is invalid.
    """
    s = settings if settings is not None else get_settings()
    suite = spec.load_suite()
    seeds = spec.load_seeds()
    evo = spec.evolution
    evaluations = len(seeds) + (evo.offspring or evo.population) * evo.generations
    if spec.budgets.max_evaluations is not None:
        evaluations = min(evaluations, spec.budgets.max_evaluations)
    cases = suite.cases[: max(1, math.ceil(len(suite.cases) * spec.fidelity))]
    result = Estimate(evaluations=evaluations, cases_per_evaluation=len(cases))
    prices = campaign_prices(spec, s)
    bindings = dict(spec.providers)
    per_seed = max(1, len(seeds))
    for seed in seeds:
        data = pipeline_to_data(seed)
        for step in iter_steps(top_steps(data)):
            kind = str(step.get("type", ""))
            if not calls_llm(kind):
                continue
            slot = provider_slot(kind) or "claude"
            binding = bindings.get(slot)
            provider = binding.provider if binding is not None else "mock"
            default = s.default_claude_model if slot == "claude" else s.default_gemini_model
            model = str(step.get("model") or (binding.model if binding else None) or default)
            _add_calls(
                result,
                spec,
                cases,
                step,
                provider=provider,
                model=resolve_model(model, s),
                prices=prices,
                evaluations=evaluations / per_seed,
            )
    judge_calls = sum(1 for c in cases for check in c.checks if check.type == "llm_judge")
    if judge_calls:
        result.calls += judge_calls * evaluations
    candidate = max((_tokens(yaml.safe_dump(pipeline_to_data(p))) for p in seeds), default=0)
    _add_proposer_calls(result, spec, s, candidate, prices)
    return result


def _add_proposer_calls(
    result: Estimate, spec: CampaignSpec, settings: Settings, candidate: int, prices: Any
) -> None:
    """Count the LLM operators' calls (see the module docs) into ``result``."""
    evo = spec.evolution
    offspring = (evo.offspring or evo.population) * evo.generations
    config = spec.proposer
    for operator, meta in PROPOSER_OPERATORS.items():
        calls = round(offspring * min(1.0, evo.operators.get(operator, 0.0)))
        if not calls:
            continue
        if config is None or config.provider in OFFLINE_PROVIDERS:
            result.offline_calls += calls
            continue
        data = pipeline_to_data(load_pipeline(meta_path(meta, config, spec)))
        defaults = data.get("defaults") or {}
        preset = defaults.get("claude_preset") if isinstance(defaults, Mapping) else None
        steps = [st for st in iter_steps(top_steps(data)) if calls_llm(str(st.get("type", "")))]
        static = sum(_tokens(_prompt_text(st) + _system_text(st)) for st in steps)
        out_high = sum(_max_tokens(st, preset) for st in steps)
        if spec.economy.max_output_tokens is not None:
            out_high = min(out_high, spec.economy.max_output_tokens * max(1, len(steps)))
        low = (static + candidate, candidate)
        high = (2 * (static + candidate) + _tokens("x" * FEEDBACK_CHARS), out_high)
        model = resolve_model(config.model or settings.default_claude_model, settings)
        price = _note_model(result, model, prices)
        result.calls += calls
        result.proposer_calls += calls
        for i, (tin, tout) in enumerate((low, high)):
            result.tokens[i] += calls * (tin + tout)
            result.proposer_tokens[i] += calls * (tin + tout)
            if price is not None:
                usd = calls * (tin * price.input_per_mtok + tout * price.output_per_mtok) / 1e6
                result.usd[i] += usd
                result.proposer_usd[i] += usd


def _system_text(step: Mapping[str, Any]) -> str:
    options = step.get("claude_options")
    if not isinstance(options, Mapping):
        return ""
    return "".join(str(options.get(k) or "") for k in ("system_prompt", "append_system_prompt"))


def _note_model(result: Estimate, model: str, prices: Any) -> Any:
    """``model``'s price (None: unknown, then listed in ``unpriced``); noted in ``models``."""
    price = prices.price_of(model)
    result.models[model] = (
        {"input_usd_per_mtok": price.input_per_mtok, "output_usd_per_mtok": price.output_per_mtok}
        if price is not None
        else None
    )
    if price is None and model not in result.unpriced:
        result.unpriced.append(model)
    return price


def _add_calls(
    result: Estimate,
    spec: CampaignSpec,
    cases: list[Any],
    step: Mapping[str, Any],
    *,
    provider: str,
    model: str,
    prices: Any,
    evaluations: float,
) -> None:
    prompt = _tokens(_prompt_text(step))
    calls = round(evaluations * len(cases))
    if provider in OFFLINE_PROVIDERS:
        result.offline_calls += calls
        return
    result.calls += calls
    high_out = min(_max_tokens(step), spec.economy.max_output_tokens or 10**9)
    price = _note_model(result, model, prices)
    for case in cases:
        inputs = _tokens(json.dumps(case.inputs, sort_keys=True))
        low_in, high_in = prompt + inputs, 2 * (prompt + inputs)
        low = (low_in, LOW_OUTPUT_TOKENS)
        high = (high_in, high_out)
        result.tokens[0] += round(evaluations * sum(low))
        result.tokens[1] += round(evaluations * sum(high))
        if price is not None:
            for i, (tin, tout) in enumerate((low, high)):
                result.usd[i] += (
                    evaluations * (tin * price.input_per_mtok + tout * price.output_per_mtok) / 1e6
                )

"""Provider optimization: move work to another provider or model from the catalogue.

It reads and writes the provider-mapping chromosome
(:mod:`evofarm.evolution.chromosomes`). Two kinds, chosen among those that apply:

* set one LLM step's ``model`` to another catalogue model of its slot;
* rebind one of the pipeline's provider slots (its ``providers:`` mapping,
  slot -> ``{provider, model}``) to a catalogue entry that names its provider.

Half the time the operator takes the cheapest cheaper option (pressure on
cost); otherwise any other option, so a dearer but better model can be found
too. Prices come from the campaign's model catalogue.
"""

from __future__ import annotations

import random

from evofarm.evolution.chromosomes import (
    chromosomes_of,
    with_slot_binding,
    with_step_model,
)
from evofarm.evolution.genome import Genome, MutationRecord, summarize_value
from evofarm.evolution.operators.base import ModelChoice, OperatorContext
from evofarm.evolution.operators.registry import register_operator

NAME = "provider_optimization"


def _options(
    slot: str, exclude: str | None, context: OperatorContext, *, need_provider: bool
) -> list[ModelChoice]:
    return sorted(
        (
            c
            for c in context.catalogue
            if c.slot == slot and c.model != exclude and (c.provider or not need_provider)
        ),
        key=lambda c: (c.blended_price, c.model),
    )


def _choose(
    options: list[ModelChoice], current: str | None, context: OperatorContext, rng: random.Random
) -> tuple[ModelChoice, str]:
    prices = {c.model: c.blended_price for c in context.catalogue}
    now = prices.get(current) if current is not None else None
    cheaper = [c for c in options if now is None or c.blended_price < now]
    if cheaper and rng.random() < 0.5:
        return cheaper[0], "cheapest cheaper model"
    return rng.choice(options), "explore another model"


@register_operator(NAME, 0.1, "switch a step or a provider slot to another catalogue model")
def provider_optimization(
    genome: Genome, rng: random.Random, context: OperatorContext
) -> Genome | None:
    """Change one step's model or rebind one provider slot (see module docs)."""
    chromosomes = chromosomes_of(genome.pipeline)
    mappings = chromosomes.provider_mappings
    step_targets = sorted(
        name
        for name, locus in mappings.items()
        if _options(locus.slot, locus.model, context, need_provider=False)
    )
    bindings = chromosomes.slot_bindings
    slot_targets = sorted(
        slot
        for slot in {locus.slot for locus in mappings.values()}
        if _options(slot, (bindings.get(slot) or {}).get("model"), context, need_provider=True)
    )
    kinds = (["step"] if step_targets else []) + (["slot"] if slot_targets else [])
    if not kinds:
        return None
    if rng.choice(kinds) == "step":
        target = rng.choice(step_targets)
        locus = mappings[target]
        options = _options(locus.slot, locus.model, context, need_provider=False)
        choice, why = _choose(options, locus.model, context, rng)
        data = with_step_model(genome.pipeline, target, choice.model)
        before = locus.model or "slot default"
    else:
        slot = rng.choice(slot_targets)
        current = bindings.get(slot) or {}
        options = _options(slot, current.get("model"), context, need_provider=True)
        choice, why = _choose(options, current.get("model"), context, rng)
        data = with_slot_binding(genome.pipeline, slot, str(choice.provider), choice.model)
        target, before = f"providers.{slot}", summarize_value(current) if current else "default"
    record = MutationRecord(
        operator=NAME,
        target=target,
        before=before,
        after=f"{choice.provider or choice.slot}:{choice.model} "
        f"(${choice.blended_price:.2f}/Mtok blended)",
        rationale=why,
    )
    return genome.derive(data, record, context.generation)

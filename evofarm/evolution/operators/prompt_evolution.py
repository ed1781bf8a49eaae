"""Prompt evolution, edit-based (no LLM): add, delete, swap or paraphrase phrases.

A prompt's static text is split into phrases (sentences and lines). New phrases
come from the phrase library and from the prompts of fitter genomes (the
donors). Phrases that contain a template (``{{...}}``) carry data into the
prompt, so they are never deleted or paraphrased, only moved.
"""

from __future__ import annotations

import random
from typing import Any

from evofarm.evolution.chromosomes import phrases_of, prompt_patterns, with_prompt_phrases
from evofarm.evolution.genome import Genome, prompt_text
from evofarm.evolution.operators import library
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.operators.common import (
    steps_of,
    with_steps,
)
from evofarm.evolution.operators.registry import register_operator
from evofarm.pipeline.structure import calls_llm

NAME = "prompt_evolution"


def _has_static(step: dict[str, Any]) -> bool:
    prompt = step.get("prompt")
    return (
        calls_llm(str(step.get("type")))
        and isinstance(prompt, list)
        and any(isinstance(p, dict) and p.get("type") == "static" for p in prompt)
    )


def _donor_phrases(context: OperatorContext) -> list[str]:
    found: list[str] = []
    for donor in context.donors:
        for step in donor.pipeline.get("steps", []):
            found += [p for p in phrases_of(prompt_text(step)) if "{{" not in p]
    return sorted(set(found))


def _paraphrase(phrase: str) -> str | None:
    for a, b in library.PARAPHRASES:
        if phrase == a:
            return b
        if phrase == b:
            return a
    return None


def _edit(
    phrases: list[str], rng: random.Random, context: OperatorContext
) -> tuple[list[str], str] | None:
    free = [i for i, p in enumerate(phrases) if "{{" not in p]
    paraphrasable = [i for i in free if _paraphrase(phrases[i])]
    kinds = ["add"]
    if free and len(phrases) > 1:
        kinds.append("delete")
    if len(phrases) > 1:
        kinds.append("swap")
    if paraphrasable:
        kinds.append("paraphrase")
    kind = rng.choice(kinds)
    out = list(phrases)
    if kind == "add":
        pool = sorted(set(library.PHRASES) | set(_donor_phrases(context)) - set(phrases))
        if not pool:
            return None
        phrase = rng.choice(pool)
        out.insert(rng.randint(0, len(out)), phrase)
        return out, f"added phrase {phrase!r}"
    if kind == "delete":
        i = rng.choice(free)
        return out[:i] + out[i + 1 :], f"deleted phrase {phrases[i]!r}"
    if kind == "swap":
        i, j = rng.sample(range(len(out)), 2)
        out[i], out[j] = out[j], out[i]
        return out, f"swapped phrases {i + 1} and {j + 1}"
    i = rng.choice(paraphrasable)
    out[i] = _paraphrase(phrases[i]) or phrases[i]
    return out, f"paraphrased {phrases[i]!r} as {out[i]!r}"


@register_operator(NAME, 0.2, "edit a prompt's phrases: add, delete, swap, paraphrase")
def prompt_evolution(genome: Genome, rng: random.Random, context: OperatorContext) -> Genome | None:
    """Edit the first static part of one LLM step's prompt (its prompt pattern)."""
    steps = steps_of(genome)
    patterns = prompt_patterns(genome.pipeline)
    candidates = [str(s["name"]) for s in steps if _has_static(s) and str(s["name"]) in patterns]
    if not candidates:
        return None
    target = rng.choice(candidates)
    before = patterns[target]
    edited = _edit(before, rng, context)
    if edited is None:
        return None
    phrases, why = edited
    data = with_prompt_phrases(genome.pipeline, target, phrases)
    return with_steps(
        genome,
        data["steps"],
        context.generation,
        operator=NAME,
        target=target,
        before=" ".join(before),
        after=" ".join(phrases),
        rationale=why,
    )

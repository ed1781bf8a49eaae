"""Imports every built-in operator so each registers itself (see ``base``)."""

from __future__ import annotations

from evofarm.evolution.operators import (
    feature_insertion,
    prompt_evolution,
    provider_optimization,
    reflective_mutation,
    sequence_reshuffle,
    step_deletion,
    step_mutation,
)

BUILTIN = (
    step_mutation.NAME,
    prompt_evolution.NAME,
    provider_optimization.NAME,
    sequence_reshuffle.NAME,
    feature_insertion.NAME,
    step_deletion.NAME,
    reflective_mutation.NAME,
)
"""Names of the built-in operators."""

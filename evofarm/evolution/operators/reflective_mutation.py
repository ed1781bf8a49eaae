"""Reflective mutation: the offline, example-driven proposer as an operator.

It reads the parent's evidence from the operator context (failing training
cases: inputs, actual and expected output) and lets
:class:`~evofarm.evolution.example_proposer.ExampleProposer` propose the
transform operations that close the difference. Without evidence it does
nothing, so it is registered ``needs_evidence`` (blind draws leave it out).
The LLM-driven ``llm_mutation`` shares its interface
(:class:`~evofarm.evolution.proposals.Proposer`).
"""

from __future__ import annotations

from evofarm.evolution.example_proposer import ExampleProposer
from evofarm.evolution.operators.registry import register_operator
from evofarm.evolution.proposals import proposal_operator

NAME = "reflective_mutation"

reflective_mutation = register_operator(
    NAME,
    0.3,
    "propose transform operations that fix failing training cases (no LLM)",
    needs_evidence=True,
)(proposal_operator(NAME, ExampleProposer()))

"""Strict parsing of LLM proposals: every discard has its reason; hostile text is contained."""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest

from evofarm.evolution.engine import BreedTask, make_offspring
from evofarm.evolution.genome import Genome
from evofarm.evolution.llm.proposal import ProposalRejected, parse_proposal
from evofarm.evolution.llm.runtime import MetaName, ProposerFailed
from evofarm.evolution.operators.base import OperatorContext
from evofarm.evolution.outcomes import OperatorStats, tally
from evofarm.evolution.proposals import CaseEvidence, Evidence
from evofarm.pipeline.loader import load_pipeline_text, pipeline_to_data

PARENT = """\
workflow:
  name: namer
  inputs: {name: ""}
  steps:
    - name: clean
      type: transform
      input: "{{inputs.name}}"
      operations: [{op: strip}]
"""

BETTER = """\
workflow:
  name: namer
  inputs: {name: ""}
  steps:
    - name: clean
      type: transform
      input: "{{inputs.name}}"
      operations: [{op: strip}, {op: title}]
"""


def fenced(yaml_text: str, head: str = "CHANGE: add title\nWHY: names are capitalised\n") -> str:
    return f"{head}```yaml\n{yaml_text}```\n"


def parent_data() -> dict[str, object]:
    return pipeline_to_data(load_pipeline_text(PARENT))


def reason_of(text: str) -> str:
    with pytest.raises(ProposalRejected) as caught:
        parse_proposal(text, parent_data())
    return caught.value.reason


def test_a_good_proposal_parses_to_the_pipeline() -> None:
    pipeline = parse_proposal(fenced(BETTER), parent_data())
    assert pipeline_to_data(pipeline) == pipeline_to_data(load_pipeline_text(BETTER))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I think you should title-case the name.", "no_yaml"),
        ("```python\nprint('hi')\n```", "no_yaml"),
        (fenced(BETTER) + fenced(BETTER), "several_yaml_blocks"),
        (fenced("workflow: [unclosed\n"), "invalid_yaml"),
        (fenced(PARENT), "identical_to_parent"),
        (fenced(BETTER.replace("type: transform", "type: teleport")), "unknown_step_type"),
        (fenced("workflow:\n  name: x\n  steps: 3\n"), "invalid_pipeline"),
        ("x" * 300_000, "too_large"),
    ],
)
def test_bad_proposals_are_rejected_with_their_reason(text: str, reason: str) -> None:
    assert reason_of(text) == reason


def test_a_yaml_bomb_is_stopped_by_the_loader_limits() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    assert reason_of(fenced("\n".join(lines) + "\n")) == "invalid_yaml"


def test_a_python_step_that_reads_files_is_refused_when_the_parent_had_none() -> None:
    hostile = BETTER + (
        '    - name: steal\n      type: python\n      input: "{{steps.clean.result}}"\n'
        "      code: |\n        def run(value):\n            return open('/etc/passwd').read()\n"
    )
    assert reason_of(fenced(hostile)) == "forbidden_step_type"


def test_a_dangling_reference_is_handed_on_for_repair() -> None:
    dangling = BETTER.replace("{{inputs.name}}", "{{steps.gone.result}}") + (
        '    - name: out\n      type: test_echo\n      value: "{{steps.missing.result}}"\n'
    )
    pipeline = parse_proposal(fenced(dangling), parent_data())
    assert [s.name for s in pipeline.steps] == ["clean", "out"]


# ---------------------------------------------------------------- the operator


class Scripted:
    """A ProposerRuntime answering from a list (and recording what it was asked)."""

    def __init__(self, replies: list[str | Exception]) -> None:
        self.replies = list(replies)
        self.asked: list[tuple[MetaName, dict[str, str]]] = []

    def ask(self, meta: MetaName, inputs: Mapping[str, str]) -> str:
        self.asked.append((meta, dict(inputs)))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


EVIDENCE = Evidence(
    fitness=0.4,
    test_rate=0.0,
    cases=(
        CaseEvidence(
            case_id="c1",
            inputs={"name": " ada lovelace "},
            actual="ada lovelace",
            expected="Ada Lovelace",
            reasons=("equals: got 'ada lovelace'",),
        ),
    ),
)


def breed(
    runtime: Scripted, operator: str = "llm_mutation"
) -> tuple[Genome | None, str, str | None]:
    parent = Genome.from_pipeline(load_pipeline_text(PARENT))
    task = BreedTask(
        campaign="c", seed=1, generation=1, slot=0, kind="mutate",
        operators=[operator], parents=[parent.id],
    )  # fmt: skip
    context = OperatorContext(generation=1, evidence=EVIDENCE, proposer=runtime)
    made = make_offspring(task, [parent], context)
    outcome = made.result.outcomes[0]
    return made.genome, outcome.outcome, outcome.reason


def test_llm_mutation_makes_the_proposed_child_and_records_why() -> None:
    runtime = Scripted([fenced(BETTER)])
    child, outcome, reason = breed(runtime)
    assert (outcome, reason) == ("applied", None)
    assert child is not None and child.mutations[-1].rationale == "names are capitalised"
    meta, inputs = runtime.asked[0]
    assert meta == "mutation"
    assert "ada lovelace" in inputs["feedback"] and "Ada Lovelace" in inputs["feedback"]
    assert "equals: got" in inputs["feedback"] and inputs["focus"] == "clean"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("prose only", "no_yaml"),
        (fenced("workflow: {\n"), "invalid_yaml"),
        (ProposerFailed("server error"), "proposer_error"),
    ],
)
def test_discards_are_counted_per_operator_with_their_reason(
    reply: str | Exception, reason: str
) -> None:
    child, outcome, got = breed(Scripted([reply]))
    assert child is None and (outcome, got) == ("invalid", reason)


def test_without_a_proposer_the_llm_operators_do_nothing() -> None:
    parent = Genome.from_pipeline(load_pipeline_text(PARENT))
    from evofarm.evolution.repair import apply_operator  # noqa: PLC0415

    for name in ("llm_mutation", "llm_crossover"):
        assert apply_operator(name, parent, random.Random(0), OperatorContext(generation=1)) == (
            None,
            "noop",
        )


def test_tally_keeps_discard_reasons_and_reports_them() -> None:
    from evofarm.evolution.outcomes import OperatorOutcome  # noqa: PLC0415

    stats = tally(
        {},
        [
            OperatorOutcome(operator="llm_mutation", outcome="invalid", reason="no_yaml"),
            OperatorOutcome(operator="llm_mutation", outcome="invalid", reason="no_yaml"),
            OperatorOutcome(operator="llm_mutation", outcome="applied"),
            OperatorOutcome(operator="step_mutation", outcome="noop"),
        ],
    )
    assert stats["llm_mutation"].report() == {
        "attempts": 3, "success_rate": 0.3333, "discarded": {"no_yaml": 2},
    }  # fmt: skip
    assert "discarded" not in stats["step_mutation"].report()
    assert "discarded" not in OperatorStats().model_dump(mode="json")
    again = tally(stats, [OperatorOutcome(operator="llm_mutation", outcome="invalid", reason="x")])
    assert again["llm_mutation"].discarded == {"no_yaml": 2, "x": 1}


def test_llm_crossover_merges_with_a_donor_and_lists_both_parents() -> None:
    parent = Genome.from_pipeline(load_pipeline_text(PARENT))
    donor = Genome.from_pipeline(load_pipeline_text(BETTER.replace("title", "upper")))
    runtime = Scripted([fenced(BETTER)])
    task = BreedTask(
        campaign="c", seed=1, generation=1, slot=0, kind="mutate",
        operators=["llm_crossover"], parents=[parent.id], donors=[donor.id],
    )  # fmt: skip
    context = OperatorContext(generation=1, donors=(donor,), evidence=EVIDENCE, proposer=runtime)
    made = make_offspring(task, [parent], context)
    assert made.genome is not None and made.genome.parents == [parent.id, donor.id]
    meta, inputs = runtime.asked[0]
    assert meta == "crossover" and "upper" in inputs["parent_b_yaml"]

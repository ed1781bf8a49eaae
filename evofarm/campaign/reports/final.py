"""The final phase's result as the outputs report it (shared by the loop and the farm).

:func:`final_doc` is the JSON the farm scheduler keeps in the campaign's info
(key :data:`INFO_FINAL`) once the final phase is done, so that readback, a
restarted scheduler and ``summary.json`` all see one decision;
:func:`best_ref` and :func:`history_rows` turn it into the summary's ``best``
and the final phase's fitness-history rows.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from evofarm.campaign.reports.outputs import BestRef, HistoryRow
from evofarm.errors import StoreError
from evofarm.evolution.final_choice import FinalChoice

#: Campaign info key holding :class:`FinalDoc` JSON (the farm's final decision).
INFO_FINAL = "final"


class FinalDoc(BaseModel):
    """The stored final decision: the winner and its two fitnesses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    genome: str
    fitness: float
    validation: float | None
    chosen: str | None


#: Budget stops after which the final phase may still run: it costs a few more
#: evaluations, never more money or tokens than the budget the campaign crossed.
_RUNS_AFTER = ("budget exceeded: evaluations", "budget exceeded: wall time")


def runs_final_phase(status: str, reason: str) -> bool:
    """Whether a campaign that ended with ``status``/``reason`` chooses its winner
    on the held-out cases and simplifies it (the loop and the farm agree on this).

    Not after a token or USD budget: its evaluations would be calls the budget no
    longer covers (the ledger would refuse them anyway).
    """
    return status == "completed" or reason.startswith(_RUNS_AFTER)


def final_doc(choice: FinalChoice) -> FinalDoc:
    """The record of ``choice`` (``chosen`` only when the winner was simplified)."""
    return FinalDoc(
        genome=choice.winner.id,
        fitness=choice.fitness,
        validation=choice.validation,
        chosen=choice.chosen if choice.chosen != choice.winner.id else None,
    )


def encode(doc: FinalDoc) -> str:
    """``doc`` as the info string."""
    return json.dumps(doc.model_dump(mode="json"), sort_keys=True)


def decode(text: str | None) -> FinalDoc | None:
    """The stored decision, or None if there is none.

    Raises:
        StoreError: the stored text is not a final decision.
    """
    if not text:
        return None
    try:
        data: Any = json.loads(text)
        return FinalDoc.model_validate(data)
    except (ValueError, ValidationError) as exc:
        raise StoreError(f"corrupt final decision in the campaign info: {exc}") from exc


def best_ref(doc: FinalDoc) -> BestRef:
    """The summary's ``best`` for ``doc``."""
    return BestRef(
        genome=doc.genome, fitness=doc.fitness, validation=doc.validation, chosen=doc.chosen
    )


def history_rows(
    campaign: str,
    generation: int,
    choice: FinalChoice,
    ts: float,
    recorded: set[tuple[str, str]],
) -> list[HistoryRow]:
    """Fitness-history rows of the final phase's evaluations, marked with their split.

    ``recorded`` holds the ``(genome, split)`` pairs that already have a row (an
    evaluation the search had made, or one a resumed scheduler made before):
    there is one row per evaluation, as the evaluation counter counts them.
    """
    rows = []
    seen = set(recorded)
    for item in choice.evaluated:
        key = (item.genome.id, item.split)
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            HistoryRow.of(
                campaign, generation, item.genome.id, item.evaluation, ts, split=item.split
            )
        )
    return rows

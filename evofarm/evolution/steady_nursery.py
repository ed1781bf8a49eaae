"""The nursery in steady state: each birth promoted or culled on its own, stage by stage.

Generational mode ranks a whole cohort at each stage
(:func:`~evofarm.evolution.nursery.promoted`); steady state has no cohort, and a
birth's stage result cannot wait for one. So a birth's stage-``s`` result is
ranked against a *window*: the stage-``s`` results of the last ``lambda``
other genomes that reached stage ``s`` (the size of the cohort a generation
would rank). The birth is promoted iff it is among the best
``max(1, ceil(promote * (n + 1)))`` of those ``n`` results plus its own, by the
same ``by_fitness`` key (fitness, similarity, size, id) and the same
:func:`~evofarm.evolution.nursery.promoted`. Over time this promotes the
``promote`` share a generation would, with no barrier, and a culled birth frees
its slot at once. Until the window has filled it compares with what there is
(the first births are always promoted: nothing shows them worse).

The windows live in the checkpoint (:attr:`~evofarm.evolution.engine.SteadyMemo.stages`)
and grow in the order stage results are told, so the decisions are deterministic
given that order, in process and on the farm alike. A genome seen again (bred
again, or re-decided by a resumed scheduler) replaces its earlier entry.

Pure: this module decides; the loop and the steady scheduler evaluate.
"""

from __future__ import annotations

from evofarm.evolution.engine import SteadyMemo
from evofarm.evolution.nursery import promoted
from evofarm.evolution.selection.base import Member

__all__ = ["stage_verdict"]


def stage_verdict(
    memo: SteadyMemo, stage: int, member: Member, promote: float, window: int
) -> tuple[bool, SteadyMemo]:
    """Whether ``member``'s stage-``stage`` result promotes it, and the memo with it added.

    Args:
        memo: The steady memo (its ``stages`` windows).
        stage: The stage index, from 0.
        member: The birth's genome scored on the stage's cases.
        promote: The stage's ``promote`` share.
        window: How many earlier results to rank against (the campaign's lambda).

    Returns:
        ``(promoted, memo)``: the memo's window of ``stage`` ends with ``member``
        and keeps at most ``window`` entries.
    """
    windows = [list(w) for w in memo.stages]
    while len(windows) <= stage:
        windows.append([])
    others = [m for m in windows[stage] if m.id != member.id][-window:]
    verdict = member.id in promoted([*others, member], promote)
    windows[stage] = [*others, member][-max(1, window) :]
    return verdict, memo.model_copy(update={"stages": windows})

"""Random search (strategy ``random_search``): the no-selection baseline.

Every offspring is a seed genome (drawn uniformly) with a random number, from
1 to ``selection_options.max_operators``, of operator applications, each drawn
in proportion to ``evolution.operators``' rates (repeats allowed; crossover is
never used). Nothing is selected: the population stays the seeds for the whole
campaign, so no offspring ever becomes a parent. The budget and accounting are
those of any campaign (the same engine functions, the same evaluation cache),
and the reported best is the engine's archive: the best genome evaluated so far.

Blind by default: no operator sees an evaluation. Draws are marked
``feedback=False``, so the engine gives their operators no evidence and no
earlier attempts; operators registered ``needs_evidence`` (which do nothing
without it, e.g. ``reflective_mutation``) are left out of the draw; donors are
the seeds in id order, not the fittest. Random search that read the
evaluator's feedback would be one-shot synthesis from the seed, not a baseline.
``selection_options: {feedback: true}`` is that other baseline, "no selection,
same proposer": every configured operator is drawn and sees the seed's evidence.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from evofarm.evolution.operators.registry import needs_evidence
from evofarm.evolution.selection.base import KeyFn, Member, by_fitness, unique_by_id
from evofarm.evolution.selection.registry import register_selection
from evofarm.evolution.selection.strategy import Breeding, Draw, Memo, SelectionStrategy, Survival

if TYPE_CHECKING:
    from evofarm.evolution.config import EvolutionConfig


class RandomSearchOptions(BaseModel):
    """``evolution.selection_options`` of ``random_search``.

    Attributes:
        max_operators: Most operator applications per offspring (k); each
            offspring gets a uniform 1..k.
        feedback: False (default): blind draws, no operator sees an
            evaluation. True: every operator is drawn and sees the seed's
            evidence ("no selection, same proposer").
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_operators: int = Field(default=3, ge=1, le=50)
    feedback: bool = False


def drawable(operators: Mapping[str, float], feedback: bool) -> dict[str, float]:
    """The operators a draw may pick (name -> rate above 0), sorted by name.

    Blind draws (``feedback`` False) leave out every ``needs_evidence`` operator.
    """
    return {
        name: rate
        for name, rate in sorted(operators.items())
        if rate > 0 and (feedback or not needs_evidence(name))
    }


class RandomSearchBreeding:
    """Draws of one generation: a uniform seed and 1..k operators by rate.

    Thread safety: read-only after construction.
    """

    def __init__(self, seeds: Sequence[Member], config: EvolutionConfig) -> None:
        options = RandomSearchOptions.model_validate(config.selection_options)
        self._seeds = sorted({m.id for m in seeds})
        self._feedback = options.feedback
        if options.feedback:
            # Today's draw, unchanged: every configured operator by its rate.
            pool = dict(config.operators)
        else:
            pool = drawable(config.operators, feedback=False)
        self._names = list(pool)
        self._weights = [pool[n] for n in self._names]
        self._most = options.max_operators

    def draw(self, slot: int, rng: random.Random) -> Draw:
        """How offspring ``slot`` is bred (``slot`` does not change the draw)."""
        del slot
        parent = self._seeds[rng.randrange(len(self._seeds))]
        count = rng.randint(1, self._most)
        operators = rng.choices(self._names, weights=self._weights, k=count)
        return Draw(
            kind="mutate", parents=(parent,), operators=tuple(operators), feedback=self._feedback
        )


@register_selection("random_search")
class RandomSearch(SelectionStrategy):
    """Every offspring is a randomly mutated seed; the population stays the seeds."""

    options_model = RandomSearchOptions

    def check_operators(
        self, options: Mapping[str, JsonValue], operators: Mapping[str, float]
    ) -> None:
        """Blind draws need one operator with a rate above 0 that needs no evidence.

        Raises:
            ValueError: every such operator needs evidence.
        """
        if RandomSearchOptions.model_validate(dict(options)).feedback:
            return
        if not drawable(operators, feedback=False):
            left_out = ", ".join(n for n, r in sorted(operators.items()) if r > 0)
            raise ValueError(
                f"random_search draws blind (feedback: false), but every operator with a "
                f"rate above 0 needs evidence ({left_out}); give another operator a rate "
                "or set selection_options.feedback: true"
            )

    def donor_key(self, population: Sequence[Member], config: EvolutionConfig) -> KeyFn:
        """Blind: the seeds in id order (no fitness read); with feedback: the fittest."""
        if RandomSearchOptions.model_validate(config.selection_options).feedback:
            return self.ranking_key(population)
        return lambda member: (member.id,)

    def seed(self, members: Sequence[Member], config: EvolutionConfig) -> Survival:
        """Every seed, best first: all of them are parents for the whole campaign."""
        del config
        return Survival(sorted(unique_by_id(members), key=by_fitness))

    def breeding(
        self, population: Sequence[Member], key: KeyFn, config: EvolutionConfig, memo: Memo
    ) -> Breeding:
        """Uniform draws over the seeds (``key`` and ``memo`` are unused)."""
        del key, memo
        return RandomSearchBreeding(population, config)

    def survivors(
        self,
        parents: Sequence[Member],
        offspring: Sequence[Member],
        config: EvolutionConfig,
        rng: random.Random,
    ) -> list[Member]:
        """The parents (the seeds) unchanged: no selection pressure."""
        del offspring, config, rng
        return list(parents)

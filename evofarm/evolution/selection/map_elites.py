"""MAP-Elites (strategy ``map_elites``): the best genome of every behaviour niche.

The population *is* the archive grid: every evaluated genome falls in one cell
of a grid over its behaviour descriptors (``Member.descriptors``: ``steps``,
``tokens``, ``cost``, ``latency``; the axes and their bin edges are
``selection_options.descriptors``), and each cell keeps its best genome
(``by_fitness``). Offspring are bred from occupants drawn uniformly (classic
MAP-Elites: no fitness pressure in parent choice, the pressure is within a
cell), crossover at ``evolution.crossover_rate`` with a second uniform
occupant, operators by their rates. ``evolution.population`` does not cap the
grid (the bins do); the engine's archive still holds the overall best.

It is a strategy rather than a second archive inside the engine: a campaign
that wants a diverse set of good pipelines asks for it by name, other
campaigns' checkpoints stay unchanged, and the grid (the population) is in the
checkpoint already, so resume and farm runs need nothing more. The cell of a
member is recomputed from its descriptors, so no memo is kept. :func:`grid`
lists the cells for reports.

``latency`` is measured, so a grid over it is reproducible only with a
deterministic evaluator (as for NSGA-II's measured objectives).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evofarm.evolution.selection.base import KeyFn, Member, by_fitness, unique_by_id
from evofarm.evolution.selection.breeding import GenerationalBreeding
from evofarm.evolution.selection.registry import register_selection
from evofarm.evolution.selection.strategy import Breeding, Memo, SelectionStrategy, Survival

if TYPE_CHECKING:
    from evofarm.evolution.config import EvolutionConfig

DescriptorName = Literal["steps", "tokens", "cost", "latency"]


class Axis(BaseModel):
    """One grid axis: a descriptor and its increasing bin edges.

    A value ``v`` falls in bin ``bisect_right(edges, v)``: ``len(edges) + 1`` bins.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: DescriptorName
    edges: list[float] = Field(min_length=1, max_length=64)

    @field_validator("edges")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if any(b <= a for a, b in pairwise(value)):
            raise ValueError("edges must be strictly increasing")
        return value


def _default_axes() -> list[Axis]:
    return [
        Axis(name="steps", edges=[2, 3, 4, 6, 8]),
        Axis(name="tokens", edges=[50, 200, 1000, 5000]),
    ]


class MapElitesOptions(BaseModel):
    """``evolution.selection_options`` of ``map_elites``.

    Attributes:
        descriptors: The grid's axes (default: steps x tokens).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    descriptors: list[Axis] = Field(default_factory=_default_axes, min_length=1, max_length=4)

    @field_validator("descriptors")
    @classmethod
    def _distinct(cls, value: list[Axis]) -> list[Axis]:
        names = [a.name for a in value]
        if len(set(names)) != len(names):
            raise ValueError("descriptors must not repeat")
        return value


def cell_of(member: Member, axes: Sequence[Axis]) -> tuple[int, ...]:
    """The grid cell of ``member`` (a missing descriptor counts as 0)."""
    return tuple(bisect_right(a.edges, member.descriptors.get(a.name, 0.0)) for a in axes)


def grid(members: Sequence[Member], axes: Sequence[Axis]) -> dict[tuple[int, ...], Member]:
    """The best member (``by_fitness``) of every occupied cell, cells sorted."""
    cells: dict[tuple[int, ...], Member] = {}
    for member in sorted(unique_by_id(members), key=by_fitness):
        cells.setdefault(cell_of(member, axes), member)
    return dict(sorted(cells.items()))


@register_selection("map_elites")
class MapElites(SelectionStrategy):
    """Keep the best of every descriptor cell; breed from uniform occupants."""

    options_model = MapElitesOptions
    needs_descriptors = True

    def _axes(self, config: EvolutionConfig) -> list[Axis]:
        return MapElitesOptions.model_validate(config.selection_options).descriptors

    def seed(self, members: Sequence[Member], config: EvolutionConfig) -> Survival:
        """The grid of the seeds."""
        return Survival(sorted(grid(members, self._axes(config)).values(), key=by_fitness))

    def breeding(
        self, population: Sequence[Member], key: KeyFn, config: EvolutionConfig, memo: Memo
    ) -> Breeding:
        """Uniform parents: tournaments of one over the occupants."""
        del key, memo
        uniform = config.model_copy(update={"tournament_size": 1, "pairing": "fitness"})
        return GenerationalBreeding(population, by_fitness, uniform)

    def survivors(
        self,
        parents: Sequence[Member],
        offspring: Sequence[Member],
        config: EvolutionConfig,
        rng: random.Random,
    ) -> list[Member]:
        """The new grid: each cell's best of its occupant and the offspring in it."""
        del rng
        cells = grid([*parents, *offspring], self._axes(config))
        return sorted(cells.values(), key=by_fitness)

"""What selection sees of a genome: its id and scores, never its pipeline.

Selection works on :class:`Member` records, which are small enough to live in the
JSON generation checkpoint. Every function in this package is pure and breaks ties
by genome id, so its result does not depend on the order its input arrived in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from evofarm.evolution.errors import EngineInputError

#: A sort key: smaller sorts first, i.e. "better" members have smaller keys.
RankKey = tuple[float, ...]
KeyFn = Callable[["Member"], tuple[float | str, ...]]


class Member(BaseModel):
    """One scored genome as selection sees it.

    Attributes:
        id: The genome id (content hash).
        fitness: The scalar fitness in [0, 1]; higher is better.
        objectives: Objective vector, every component oriented so higher is better
            (minimised objectives are negated by whoever builds the member).
        passed: One character per suite case, ``"1"`` if the case passed; used to
            pair parents with complementary strengths.
        genes: Short signatures of the genome's steps; used for genetic distance.
        generation: The generation the genome was born in.
        size: Structural size (steps plus transform operations); among equally fit
            and equally similar genomes the smaller wins (parsimony pressure).
        similarity: Mean graded closeness of the outputs to the expected ones
            over the cases (1.0 for a passed case; see
            :func:`~evofarm.evolution.engine.member_of`). Never part of the
            fitness: the second sort key, so candidates failing the same cases
            are ranked by how close they came.
        descriptors: Behaviour descriptors (``steps``, ``tokens``, ``cost``,
            ``latency``) for strategies that place genomes in a grid
            (``map_elites``); filled only when the strategy asks
            (``SelectionStrategy.needs_descriptors``) and left out of the
            JSON when empty, so other checkpoints are unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    fitness: float
    objectives: tuple[float, ...] = ()
    passed: str = ""
    genes: tuple[str, ...] = ()
    generation: int = 0
    size: int = 0
    similarity: float = 0.0
    descriptors: dict[str, float] = Field(default_factory=dict, exclude_if=lambda d: not d)


def by_fitness(member: Member) -> tuple[float | str, ...]:
    """Sort key: higher fitness, then higher similarity, then smaller size, then smaller id."""
    return (-member.fitness, -member.similarity, float(member.size), member.id)


def unique_by_id(members: Iterable[Member]) -> list[Member]:
    """Drop repeated ids (keeping the first) and return the rest sorted by id."""
    seen: dict[str, Member] = {}
    for member in members:
        seen.setdefault(member.id, member)
    return [seen[key] for key in sorted(seen)]


def best(members: Sequence[Member], key: KeyFn = by_fitness) -> Member:
    """Return the best member under ``key``.

    Raises:
        EngineInputError: ``members`` is empty (a ``ValueError``).
    """
    if not members:
        raise EngineInputError("best() of an empty population")
    return min(members, key=key)


class RankedMember(BaseModel):
    """A member with its NSGA-II rank and crowding distance (for reports)."""

    model_config = ConfigDict(frozen=True)

    member: Member
    rank: int = Field(ge=0)
    crowding: float

"""Steady-state evolution (``evolution.mode: steady``): one child at a time, no barrier.

Generational mode plans ``lambda`` children, waits for all of them, then
selects: every generation waits for its slowest evaluation. Steady state keeps
``lambda`` children in flight and, as each one's evaluation arrives, tells the
population at once (the child joins it, the worst of ``population + 1``
leaves: elitist replacement, ``mu_plus_lambda`` with one offspring) and the
freed slot gets a new child, bred by the strategy's draw from the population
as it is now, so from everything evaluated so far.

Births are numbered from 0. Birth ``b`` is slot ``b % lambda`` of "generation"
``b // lambda + 1``, which seeds its rng exactly as a generational slot's, and
keys its breed result in the store. The generation counter is for reporting:
a checkpoint is written every ``lambda`` births told (and one for a final
partial share), with a fitness-history row per child evaluated since the last.

With ``evolution.nursery`` a birth's child is promoted or culled stage by
stage on its own (:mod:`~evofarm.evolution.steady_nursery`; a culled birth is
told with ``culled=True``); with ``evolution.noise`` a would-be champion is
resampled before it is crowned (:mod:`~evofarm.evolution.steady_noise`).

Reproducibility: every function here is pure and deterministic; what a
campaign does depends on the *order* in which evaluations complete, which on a
farm depends on timing. So a steady campaign is reproducible only when its
evaluations complete in the same order (e.g. one worker slot); the
generational mode stays bit-identical however the work is spread.
"""

from __future__ import annotations

from evofarm.evolution.engine import (
    BreedResult,
    BreedTask,
    EngineSpec,
    EvolutionState,
    SteadyMemo,
    archive_of,
    donors_of,
    member_of,
    planned_task,
    strategy_of,
)
from evofarm.evolution.errors import EngineInputError
from evofarm.evolution.genome import Genome
from evofarm.evolution.outcomes import tally
from evofarm.evolution.rng import rng_for
from evofarm.fitness.records import Evaluation

__all__ = ["SteadyMemo", "birth_slot", "close_generation", "plan_birth", "tell_birth"]


def birth_slot(birth: int, lam: int) -> tuple[int, int]:
    """The (generation, slot) of birth number ``birth`` (its rng and store keys)."""
    return birth // lam + 1, birth % lam


def plan_birth(state: EvolutionState, spec: EngineSpec, birth: int) -> BreedTask:
    """The breed task of birth ``birth``, drawn from ``state``'s population now.

    Raises:
        EngineInputError: The state has an empty population (a ``ValueError``).
    """
    config = spec.evolution
    population = state.population
    if not population:
        raise EngineInputError("cannot plan a birth from an empty population")
    generation, slot = birth_slot(birth, config.lam)
    strategy = strategy_of(config)
    key = strategy.ranking_key(population)
    donors = donors_of(population, config)
    breeding = strategy.breeding(population, key, config, state.strategy_state)
    return planned_task(state, generation, slot, breeding, donors)


def tell_birth(
    state: EvolutionState,
    result: BreedResult,
    spec: EngineSpec,
    child: tuple[Genome, Evaluation] | None,
    *,
    culled: bool = False,
) -> EvolutionState:
    """Tell the engine one birth's outcome; return the new state (generation unchanged).

    Args:
        state: The current state (its ``steady`` memo set).
        result: The birth's breed result.
        spec: The campaign.
        child: The child and its full evaluation; None when the birth was
            discarded (``result.genome`` None) or is a duplicate of a member of
            the population or of a child still in flight (counted, not selected).
        culled: The nursery stopped the child before full evaluation
            (:mod:`~evofarm.evolution.steady_nursery`; ``child`` is then None):
            counted in ``Counters.culled``, never selected.
    """
    config = spec.evolution
    memo = state.steady or SteadyMemo()
    counters = state.counters.model_copy(update={"tasks": state.counters.tasks + 1})
    population, archive = list(state.population), list(state.archive)
    if result.genome is None:
        counters.discarded += 1
    elif culled:
        counters.culled += 1
    elif child is None or child[0].id in {m.id for m in population}:
        counters.duplicates += 1
    else:
        genome, evaluation = child
        strategy = strategy_of(config)
        member = member_of(genome, evaluation, spec.fitness, descriptors=strategy.needs_descriptors)
        counters.offspring += 1
        generation, slot = birth_slot(memo.told, config.lam)
        survival = strategy.survive_slotted(
            population,
            [member],
            config,
            rng_for(state.seed, generation, f"survive:{slot}"),
            state.strategy_state,
            slots={member.id: result.slot},
        )
        population = survival.population
        archive = archive_of(archive, [member], config.archive_size)
    return state.model_copy(
        update={
            "population": population,
            "archive": archive,
            "operator_stats": tally(state.operator_stats, result.outcomes),
            "counters": counters,
            "steady": memo.model_copy(update={"told": memo.told + 1}),
        }
    )


def close_generation(state: EvolutionState, births: int, open_births: list[int]) -> EvolutionState:
    """The state to checkpoint: the reporting generation advanced, its best recorded.

    Args:
        state: The current state.
        births: Births planned so far.
        open_births: Births planned and not yet told (a resumed scheduler
            finishes them from the store).
    """
    memo = state.steady or SteadyMemo()
    best = state.archive[0].fitness if state.archive else 0.0
    return state.model_copy(
        update={
            "generation": state.generation + 1,
            "best_history": [*state.best_history, best],
            "steady": memo.model_copy(update={"births": births, "open": sorted(open_births)}),
        }
    )

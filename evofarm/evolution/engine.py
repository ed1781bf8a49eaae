"""The ask/tell evolution engine shared by the in-process loop and the farm scheduler.

Contract
========
Everything here is a pure, deterministic function of JSON-serialisable data, so the
in-process loop and the distributed scheduler run *exactly* the same evolution and
reach the same final best for the same seed, however the work was spread and however
often the campaign was interrupted. One campaign is driven like this::

    seeds = initial_genomes(seed_pipelines)                 # generation 0, deduplicated
    genomes = {g.id: g for g in seeds}                      # the store
    evals = {g.id: evaluate(g) for g in seeds}              # once per genome/suite/fidelity
    state = seed_state(spec, campaign, seed, seeds, evals)  # checkpoint of generation 0
    while state.generation < spec.evolution.generations:
        tasks = plan_generation(state, spec)                # list[BreedTask] (JSON)
        offspring = [make_offspring(t, parents_of(t), breed_context(t, spec, donors_of(t)))
                     for t in tasks]                        # any order, any worker
        results = [o.result for o in offspring]             # list[BreedResult] (JSON)
        for o in sorted(offspring, key=lambda o: o.result.slot):
            if o.genome:                                    # first record of an id wins
                genomes.setdefault(o.genome.id, o.genome)
        evals |= {i: evaluate(genomes[i]) for i in to_evaluate(results, evals)}
        state = select(state, results, genomes, evals, spec)  # next checkpoint (JSON)

* ``plan_generation`` draws parents and operators from ``rng_for(seed, gen, "plan:SLOT")``.
* ``make_offspring`` is what a breed/mutate worker runs; it draws only from
  ``rng_for(seed, gen, SLOT)`` so the child depends on the task alone. Workers load
  ``task.parents`` and ``task.donors`` from the store (ids only travel in tasks).
* A genome id's record (lineage, mutations) is the first one stored: from an earlier
  generation if the pipeline existed before, else from the lowest slot. Stores keep
  the first write, so the scheduler and the loop agree.
* The caller evaluates every new genome id of the results that it has no evaluation
  for (an identical pipeline is one genome, evaluated once per suite and fidelity),
  and passes evaluations for *every* offspring id to ``select``.
* ``select`` sorts offspring by slot and breaks every tie by genome id, so it does
  not matter in which order results arrived. It tallies operator outcomes.
* Ranking (``by_fitness``): fitness, then ``Member.similarity`` (the graded
  closeness of outputs to expected ones, :func:`case_similarity`; never part of
  the reported fitness), then size, then id.
* Determinism holds for a deterministic evaluator. ``Member.objectives`` may carry
  measured values (latency); scalar strategies never read them, but ``nsga2`` does,
  so NSGA-II campaigns are reproducible only with deterministic objectives
  (``quality``, ``fitness``, ``tokens``, ``cost``).
* Budgets, stopping and persistence belong to the caller (loop or scheduler);
  :class:`EvolutionState` is the generation checkpoint: ids and scores only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from evofarm.evolution.config import EvolutionConfig
from evofarm.evolution.crossover import CROSSOVERS
from evofarm.evolution.errors import EngineInputError, MissingGenome
from evofarm.evolution.examples import Example
from evofarm.evolution.genome import Genome
from evofarm.evolution.llm.runtime import Attempt, ProposerRuntime
from evofarm.evolution.llm.usage import RoleUsage
from evofarm.evolution.material import Material
from evofarm.evolution.noise import NoiseMemo
from evofarm.evolution.operators.base import ModelChoice, OperatorContext
from evofarm.evolution.outcomes import OperatorOutcome, OperatorStats, tally
from evofarm.evolution.proposals import Evidence, evidence_of
from evofarm.evolution.repair import apply_operator_with_reason, finalize
from evofarm.evolution.rng import rng_for
from evofarm.evolution.selection.base import KeyFn, Member
from evofarm.evolution.selection.elitism import elites
from evofarm.evolution.selection.registry import get_strategy
from evofarm.evolution.selection.strategy import Breeding, Memo, SelectionStrategy
from evofarm.fitness.records import CaseResult, Evaluation
from evofarm.fitness.scoring import FitnessConfig
from evofarm.pipeline.schema import Pipeline


class EngineSpec(Protocol):
    """What the engine reads of a campaign (``CampaignSpec`` satisfies it)."""

    @property
    def evolution(self) -> EvolutionConfig: ...

    @property
    def fitness(self) -> FitnessConfig: ...

    def model_choices(self) -> tuple[ModelChoice, ...]: ...


class BreedTask(BaseModel):
    """One offspring to make: what a breed (crossover) or mutate task carries.

    Attributes:
        campaign: Campaign id.
        seed: Campaign seed.
        generation: The generation the offspring is born in.
        slot: Its index within the generation; it seeds the offspring's rng.
        kind: ``crossover`` (two parents) or ``mutate`` (one).
        crossover: The crossover kind, for ``crossover`` tasks.
        operators: Mutation operators to apply, in order.
        parents: Parent genome ids.
        donors: Ids of the genomes operators may borrow from (the fittest,
            unless the strategy's draws are blind).
        feedback: Whether the operators may read an evaluation (the parent's
            evidence, earlier attempts with their scores); False for a blind
            draw (``random_search``'s default), and then the context built by
            :func:`breed_context` carries neither. Left out of the JSON when
            True, so other tasks are unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    campaign: str
    seed: int
    generation: int = Field(ge=1)
    slot: int = Field(ge=0)
    kind: Literal["crossover", "mutate"]
    crossover: str | None = None
    operators: list[str] = Field(default_factory=list)
    parents: list[str] = Field(min_length=1, max_length=2)
    donors: list[str] = Field(default_factory=list)
    feedback: bool = Field(default=True, exclude_if=lambda v: v)

    def genome_ids(self) -> list[str]:
        """Every genome the worker must load: parents, then donors, no repeats."""
        return list(dict.fromkeys([*self.parents, *self.donors]))


class BreedResult(BaseModel):
    """What a worker reports for one task (JSON, small).

    ``usage`` is what the task's proposer calls were billed (LLM operators; set
    by the caller that metered them, never by :func:`make_offspring`); left out
    of the JSON when None, so results without LLM calls are unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    slot: int
    genome: str | None
    outcomes: list[OperatorOutcome] = Field(default_factory=list)
    usage: RoleUsage | None = Field(default=None, exclude_if=lambda u: u is None)


@dataclass(frozen=True)
class Offspring:
    """The child a task produced (``None`` if it was discarded) and the report."""

    genome: Genome | None
    result: BreedResult


class Counters(BaseModel):
    """Campaign-long breeding counts (evaluations and spend are the caller's)."""

    model_config = ConfigDict(extra="forbid")

    tasks: int = 0
    offspring: int = 0
    duplicates: int = 0
    discarded: int = 0
    culled: int = Field(default=0, ge=0, exclude_if=lambda v: v == 0)
    """Offspring the nursery stopped before full evaluation (left out of the JSON when 0)."""


class SteadyMemo(BaseModel):
    """Steady state's bookkeeping in the checkpoint (:mod:`~evofarm.evolution.steady`).

    Attributes:
        births: Births planned so far (the next birth's number).
        told: Births whose outcome the state includes.
        open: Births planned and not yet told when the checkpoint was written.
        stages: With ``evolution.nursery``, per stage the latest stage results
            a birth's promotion is ranked against, oldest first
            (:mod:`~evofarm.evolution.steady_nursery`); left out of the JSON
            when empty, so other checkpoints are unchanged.
    """

    model_config = ConfigDict(extra="forbid")

    births: int = Field(default=0, ge=0)
    told: int = Field(default=0, ge=0)
    open: list[int] = Field(default_factory=list)
    stages: list[list[Member]] = Field(default_factory=list, exclude_if=lambda v: not v)


class EvolutionState(BaseModel):
    """The generation checkpoint: ids and scores, never pipelines.

    Attributes:
        campaign: Campaign id.
        seed: Campaign seed.
        generation: The generation whose survivors ``population`` holds.
        population: Survivors, best first.
        archive: Hall of fame: the best genomes ever seen, best first.
        operator_stats: Outcome counts per operator (and crossover kind).
        counters: Breeding counts.
        best_history: Best fitness after each generation, from generation 0.
        strategy_state: The selection strategy's own JSON memo (islands, ...);
            left out of the JSON when empty, so checkpoints of strategies
            without one are unchanged.
        steady: Steady state's bookkeeping (None, and left out of the JSON, in
            generational mode).
        noise: Noise-aware acceptance's champion and sample counts
            (``evolution.noise``; None, and left out of the JSON, without it).
    """

    model_config = ConfigDict(extra="forbid")

    campaign: str
    seed: int
    generation: int = 0
    population: list[Member] = Field(default_factory=list)
    archive: list[Member] = Field(default_factory=list)
    operator_stats: dict[str, OperatorStats] = Field(default_factory=dict)
    counters: Counters = Field(default_factory=Counters)
    best_history: list[float] = Field(default_factory=list)
    strategy_state: dict[str, JsonValue] = Field(
        default_factory=dict, exclude_if=lambda memo: not memo
    )
    steady: SteadyMemo | None = Field(default=None, exclude_if=lambda memo: memo is None)
    noise: NoiseMemo | None = Field(default=None, exclude_if=lambda memo: memo is None)

    @property
    def best(self) -> Member | None:
        """The best genome seen so far."""
        return self.archive[0] if self.archive else None


def initial_genomes(seeds: Iterable[Pipeline]) -> list[Genome]:
    """Generation-0 genomes from seed pipelines: identical seeds collapse, sorted by id."""
    by_id: dict[str, Genome] = {}
    for pipeline in seeds:
        genome = Genome.from_pipeline(pipeline)
        by_id.setdefault(genome.id, genome)
    return [by_id[key] for key in sorted(by_id)]


_CASE_ID = attrgetter("case_id")


def descriptors_of(genome: Genome, evaluation: Evaluation) -> dict[str, float]:
    """A genome's behaviour descriptors: ``steps``, ``tokens``, ``cost``, ``latency``.

    ``latency`` is the evaluation's ``latency`` objective (milliseconds), so a
    grid over it is reproducible only with a deterministic evaluator.
    """
    return {
        "steps": float(genome.traits.step_count),
        "tokens": float(evaluation.tokens),
        "cost": round(evaluation.cost_usd, 9),
        "latency": float(evaluation.objectives.get("latency", evaluation.time_ms)),
    }


def member_of(
    genome: Genome,
    evaluation: Evaluation,
    fitness: FitnessConfig,
    *,
    genes: bool = True,
    descriptors: bool = False,
) -> Member:
    """The selection record of an evaluated genome.

    Args:
        genome: The genome.
        evaluation: Its evaluation.
        fitness: The campaign's fitness config (orients the objectives).
        genes: Whether to fill ``Member.genes``. No ranking reads genes, so
            :func:`select` leaves them out of offspring until survival is
            decided and then fills them for those kept (see :func:`_with_genes`).
        descriptors: Whether to fill ``Member.descriptors`` (:func:`descriptors_of`).
    """
    cases = sorted(evaluation.cases, key=_CASE_ID)
    size = genome.traits.step_count + genome.traits.transform_ops
    return Member(
        id=genome.id,
        fitness=evaluation.score,
        objectives=fitness.oriented(evaluation.objectives, size=size),
        passed="".join(
            ["1" if c.total_checks and c.passed_checks == c.total_checks else "0" for c in cases]
        ),
        genes=genome.genes if genes else (),
        generation=genome.generation,
        size=size,
        similarity=case_similarity(evaluation),
        descriptors=descriptors_of(genome, evaluation) if descriptors else {},
    )


def strategy_of(config: EvolutionConfig) -> SelectionStrategy:
    """The campaign's selection strategy, from the registry.

    Raises:
        UnknownExtension: ``config.selection`` names no registered strategy
            (the campaign spec validates it on load, so only for unchecked configs).
    """
    return get_strategy(config.selection)


def _case_closeness(case: CaseResult) -> float:
    if case.total_checks and case.passed_checks == case.total_checks:
        return 1.0
    if not case.checks:
        return 0.0
    graded = [1.0 if c.passed else (c.score or 0.0) for c in case.checks]
    return sum(graded) / len(graded)


def case_similarity(evaluation: Evaluation) -> float:
    """The search's graded signal: weighted mean closeness over the cases, in [0, 1].

    A passed case counts 1.0; otherwise the mean over its checks of 1.0 (passed)
    or the check's score (``equals`` on text and ``similarity`` give one: how
    close the output came; other failed checks give 0). Rounded to 6 digits so
    the value survives the JSON checkpoint unchanged.
    """
    total = sum(c.weight for c in evaluation.cases)
    if not total:
        return 0.0
    return round(sum(c.weight * _case_closeness(c) for c in evaluation.cases) / total, 6)


def selection_key(population: Sequence[Member], config: EvolutionConfig) -> KeyFn:
    """The key ranking a population under the campaign's strategy."""
    return strategy_of(config).ranking_key(population)


def _members(
    ids: Iterable[str],
    genomes: Mapping[str, Genome],
    evaluations: Mapping[str, Evaluation],
    fitness: FitnessConfig,
    *,
    genes: bool = True,
    descriptors: bool = False,
) -> list[Member]:
    missing = [i for i in ids if i not in genomes or i not in evaluations]
    if missing:
        raise MissingGenome(f"no genome or evaluation for {', '.join(sorted(missing)[:3])}")
    return [
        member_of(genomes[i], evaluations[i], fitness, genes=genes, descriptors=descriptors)
        for i in ids
    ]


def _with_genes(
    members: Sequence[Member],
    partial: Mapping[str, Member],
    genomes: Mapping[str, Genome],
    completed: dict[str, Member],
) -> list[Member]:
    """``members`` with each gene-less record of ``partial`` replaced by a complete one.

    A record is replaced only if it *is* the object in ``partial`` (an older
    member with the same id, e.g. from the archive, already has its genes).
    The completed record equals what :func:`member_of` would have built, since
    genes are the only field left out. Completed records are kept in
    ``completed`` (by id) so survivors and archive share them.
    """
    done: list[Member] = []
    for member in members:
        if partial.get(member.id) is member:
            if member.id not in completed:
                genes = genomes[member.id].genes
                completed[member.id] = member.model_copy(update={"genes": genes})
            done.append(completed[member.id])
        else:
            done.append(member)
    return done


def archive_of(old: Sequence[Member], new: Sequence[Member], size: int) -> list[Member]:
    """The hall of fame after ``new``: the ``size`` best of both, best first."""
    return elites([*old, *new], size)


def seed_state(
    spec: EngineSpec,
    campaign: str,
    seed: int,
    genomes: Sequence[Genome],
    evaluations: Mapping[str, Evaluation],
) -> EvolutionState:
    """The generation-0 checkpoint from the evaluated seed genomes.

    Raises:
        EngineInputError: No seed genomes (a ``ValueError``).
        MissingGenome: A seed has no evaluation (a ``KeyError``).
    """
    if not genomes:
        raise EngineInputError("a campaign needs at least one seed pipeline")
    config = spec.evolution
    strategy = strategy_of(config)
    members = _members(
        sorted({g.id for g in genomes}),
        {g.id: g for g in genomes},
        evaluations,
        spec.fitness,
        descriptors=strategy.needs_descriptors,
    )
    seeded = strategy.seed(members, config)
    archive = archive_of([], members, config.archive_size)
    return EvolutionState(
        campaign=campaign,
        seed=seed,
        population=seeded.population,
        archive=archive,
        best_history=[archive[0].fitness],
        strategy_state=seeded.memo,
    )


def plan_generation(state: EvolutionState, spec: EngineSpec) -> list[BreedTask]:
    """The breed tasks of generation ``state.generation + 1`` (pure, deterministic).

    Raises:
        EngineInputError: The state has an empty population (a ``ValueError``).
    """
    config = spec.evolution
    population = state.population
    if not population:
        raise EngineInputError("cannot plan a generation from an empty population")
    generation = state.generation + 1
    strategy = strategy_of(config)
    key = strategy.ranking_key(population)
    donors = donors_of(population, config)
    breeding = strategy.breeding(population, key, config, state.strategy_state)
    return [planned_task(state, generation, slot, breeding, donors) for slot in range(config.lam)]


def donors_of(population: Sequence[Member], config: EvolutionConfig) -> list[str]:
    """The ids operators may borrow from: ``config.donors`` of ``population``, by the
    strategy's :meth:`~evofarm.evolution.selection.strategy.SelectionStrategy.donor_key`."""
    strategy = strategy_of(config)
    return [m.id for m in elites(population, config.donors, strategy.donor_key(population, config))]


def planned_task(
    state: EvolutionState, generation: int, slot: int, breeding: Breeding, donors: list[str]
) -> BreedTask:
    """The breed task of ``slot`` in ``generation``: its draw, with the donors it may use."""
    draw = breeding.draw(slot, rng_for(state.seed, generation, f"plan:{slot}"))
    return BreedTask(
        campaign=state.campaign,
        seed=state.seed,
        generation=generation,
        slot=slot,
        kind=draw.kind,
        crossover=draw.crossover,
        operators=list(draw.operators),
        parents=list(draw.parents),
        donors=[d for d in donors if d not in draw.parents],
        feedback=draw.feedback,
    )


def breed_context(
    task: BreedTask,
    spec: EngineSpec,
    donors: Sequence[Genome] = (),
    *,
    material: Material | None = None,
    evidence: Evidence | None = None,
    proposer: ProposerRuntime | None = None,
    attempts: tuple[Attempt, ...] = (),
) -> OperatorContext:
    """The operator context for ``task``; ``donors`` in any order (sorted as planned).

    Args:
        task: The breed task.
        spec: The campaign.
        donors: The donor genomes the task names.
        material: The campaign's material (:func:`~evofarm.evolution.material.material_of`
            of its training examples and seeds); the generic set when None.
        evidence: The first parent's evidence (:func:`evidence_for`), if known.
        proposer: The LLM runtime (the worker's), for LLM operators.
        attempts: Earlier children of the first parent
            (:func:`~evofarm.evolution.llm.attempts.attempts_of`).

    A blind task (``task.feedback`` False) gets no evidence and no attempts
    whatever the caller passes: the one place the loop, the scheduler and the
    workers all go through, so blindness cannot differ between them.
    """
    by_id = {g.id: g for g in donors}
    if not task.feedback:
        evidence, attempts = None, ()
    return OperatorContext(
        generation=task.generation,
        donors=tuple(by_id[i] for i in task.donors if i in by_id),
        catalogue=spec.model_choices(),
        max_steps=spec.evolution.max_steps,
        material=material if material is not None else Material(),
        evidence=evidence,
        proposer=proposer,
        attempts=attempts,
    )


def evidence_for(
    task: BreedTask, evaluations: Mapping[str, Evaluation], examples: Sequence[Example]
) -> Evidence | None:
    """The evidence a mutate task's operators get: its parent's, on the training examples.

    ``None`` for crossover tasks (the child's outputs are not the parent's), for
    blind tasks (``task.feedback`` False) and when the parent's evaluation is
    not in ``evaluations``.
    """
    if task.kind != "mutate" or not task.feedback:
        return None
    evaluation = evaluations.get(task.parents[0])
    return None if evaluation is None else evidence_of(evaluation, examples)


def make_offspring(
    task: BreedTask, parents: Sequence[Genome], context: OperatorContext
) -> Offspring:
    """Make the child of one task: what a breed/mutate worker runs.

    Deterministic: the same task, parents and context give the same child on any
    machine. The child is validated (and repaired if needed); ``Offspring.genome`` is
    ``None`` when it was discarded or is identical to a parent.

    Raises:
        MissingGenome: A parent named by the task is not in ``parents`` (a ``KeyError``).
        EngineInputError: The task names an unknown crossover kind (a ``ValueError``).
    """
    by_id = {g.id: g for g in parents}
    missing = [i for i in task.parents if i not in by_id]
    if missing:
        raise MissingGenome(f"task {task.slot}: parent {missing[0]} not loaded")
    rng = rng_for(task.seed, task.generation, task.slot)
    outcomes: list[OperatorOutcome] = []
    child: Genome | None = by_id[task.parents[0]]
    if task.kind == "crossover":
        name = task.crossover or ""
        if name not in CROSSOVERS:
            raise EngineInputError(f"unknown crossover {name!r}")
        a, b = by_id[task.parents[0]], by_id[task.parents[-1]]
        raw = CROSSOVERS[name](a, b, rng, task.generation)
        child, outcome = finalize(raw, context) if raw is not None else (None, "noop")
        outcomes.append(OperatorOutcome(operator=f"crossover:{name}", outcome=outcome))
    for name in task.operators:
        if child is None:
            break
        made, outcome, reason = apply_operator_with_reason(name, child, rng, context)
        outcomes.append(OperatorOutcome(operator=name, outcome=outcome, reason=reason))
        if made is not None:
            child = made
    if child is not None and child.id in task.parents:
        child = None
    return Offspring(
        genome=child,
        result=BreedResult(slot=task.slot, genome=child.id if child else None, outcomes=outcomes),
    )


def to_evaluate(results: Sequence[BreedResult], known: Iterable[str] = ()) -> list[str]:
    """Distinct offspring ids not in ``known`` (already evaluated), sorted."""
    seen = set(known)
    return sorted({r.genome for r in results if r.genome is not None and r.genome not in seen})


def _survival(
    state: EvolutionState,
    offspring: list[Member],
    slots: Mapping[str, int],
    config: EvolutionConfig,
) -> tuple[list[Member], Memo]:
    rng = rng_for(state.seed, state.generation + 1, "survive")
    survival = strategy_of(config).survive_slotted(
        list(state.population), offspring, config, rng, state.strategy_state, slots=slots
    )
    return survival.population, survival.memo


def select(
    state: EvolutionState,
    results: Sequence[BreedResult],
    genomes: Mapping[str, Genome],
    evaluations: Mapping[str, Evaluation],
    spec: EngineSpec,
    *,
    culled: Collection[str] = (),
) -> EvolutionState:
    """Tell the engine a generation's outcome; return the next checkpoint.

    Args:
        state: The checkpoint the generation was planned from.
        results: One result per planned task, in any order.
        genomes: At least every offspring genome named by ``results``.
        evaluations: At least one full evaluation per offspring id not in ``culled``.
        spec: The campaign.
        culled: Offspring ids the nursery stopped (:mod:`~evofarm.evolution.nursery`):
            counted in ``Counters.culled``, never selected or archived.

    Raises:
        MissingGenome: An offspring has no genome or no evaluation (a ``KeyError``).
    """
    config = spec.evolution
    generation = state.generation + 1
    ordered = sorted(results, key=lambda r: r.slot)
    parent_ids = {m.id for m in state.population}
    offspring_ids: list[str] = []
    slots: dict[str, int] = {}
    duplicates = discarded = stopped = 0
    for result in ordered:
        if result.genome is None:
            discarded += 1
        elif result.genome in culled and result.genome not in parent_ids:
            stopped += 1
        elif result.genome in parent_ids or result.genome in slots:
            duplicates += 1
        else:
            offspring_ids.append(result.genome)
            slots[result.genome] = result.slot
    # Genes (hashes of every step) are the costliest field and no ranking reads
    # them: compute them only for the offspring that survive or enter the archive.
    strategy = strategy_of(config)
    offspring = _members(
        offspring_ids,
        genomes,
        evaluations,
        spec.fitness,
        genes=strategy.needs_genes,
        descriptors=strategy.needs_descriptors,
    )
    partial = {m.id: m for m in offspring}
    survivors, memo = _survival(state, offspring, slots, config)
    archive = archive_of(state.archive, offspring, config.archive_size)
    completed: dict[str, Member] = {}
    survivors = _with_genes(survivors, partial, genomes, completed)
    archive = _with_genes(archive, partial, genomes, completed)
    counters = state.counters.model_copy(
        update={
            "tasks": state.counters.tasks + len(ordered),
            "offspring": state.counters.offspring + len(offspring_ids),
            "duplicates": state.counters.duplicates + duplicates,
            "discarded": state.counters.discarded + discarded,
            "culled": state.counters.culled + stopped,
        }
    )
    return EvolutionState(
        campaign=state.campaign,
        seed=state.seed,
        generation=generation,
        population=survivors,
        archive=archive,
        operator_stats=tally(state.operator_stats, (o for r in ordered for o in r.outcomes)),
        counters=counters,
        best_history=[*state.best_history, archive[0].fitness],
        strategy_state=memo,
    )

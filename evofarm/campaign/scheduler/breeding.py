"""Breeding in the scheduler: the children that need no LLM, made in one batch.

A breed task without an LLM operator is a few milliseconds of pure computation
(:func:`~evofarm.evolution.engine.make_offspring`); sent through Celery it costs
a publish, a worker's dozen store round trips and a completion event, and the
first child can be evaluated only after the queue hands it back. So the
scheduler makes those children itself, all of a generation's at once: one read
of the parents and donors, one of the mutated parents' evaluations, the
material (with the campaign's frozen memory offer) built once; each child's
evaluation is sent as soon as it is made.
LLM operators (``llm_mutation``, ``llm_crossover``) still go to the breed
queue, where the proposer, its rate limits and its ledger live.

The result is the worker's exactly: the same task, parents and operator context
give the same child (the proposer and its attempts are read only by LLM
operators, which never run here), stored the same way (content hash,
put-if-absent; lineage; the slot's breed result, which a resumed scheduler
reuses). The generational mode stays bit-identical to the in-process loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal

from pydantic import ValidationError

from evofarm.campaign.bundle import Campaign
from evofarm.campaign.spec import LLM_OPERATORS
from evofarm.campaign.worker import work
from evofarm.evolution.engine import (
    BreedResult,
    BreedTask,
    breed_context,
    evidence_for,
    make_offspring,
)
from evofarm.evolution.examples import Example, examples_of
from evofarm.evolution.genome import Genome
from evofarm.evolution.material import Material
from evofarm.fitness.records import Evaluation
from evofarm.store.base import EvalKey, PopulationStore

Breeding = Literal["auto", "scheduler", "batch", "tasks"]
"""Where the children that need no LLM are made (see ``SchedulerOptions.breeding``)."""


def resolve_breeding(breeding: Breeding, mode: str) -> Breeding:
    """``auto`` made concrete: batches in generational mode, the scheduler in steady state."""
    if breeding != "auto":
        return breeding
    return "scheduler" if mode == "steady" else "batch"


def needs_worker(task: BreedTask) -> bool:
    """Whether ``task`` runs an LLM operator (and so goes to the breed queue)."""
    return any(name in LLM_OPERATORS for name in task.operators)


def partition(
    tasks: Iterable[BreedTask], breeding: Breeding
) -> tuple[list[BreedTask], list[BreedTask]]:
    """(children made here or batched, children sent one task each), in order."""
    cheap: list[BreedTask] = []
    single: list[BreedTask] = []
    for task in tasks:
        (single if breeding == "tasks" or needs_worker(task) else cheap).append(task)
    return cheap, single


class LocalBreeder:
    """Makes one campaign's non-LLM children in the scheduler. Use from one thread.

    Args:
        store: the population store (shared with the workers).
        campaign: the decoded campaign.
    """

    def __init__(self, store: PopulationStore, campaign: Campaign) -> None:
        self.store = store
        self.campaign = campaign
        self._examples: list[Example] | None = None
        self._material: Material | None = None
        #: Children made here so far (for watchers and tests).
        self.made = 0

    def _material_of(self) -> tuple[list[Example], Material]:
        if self._examples is None or self._material is None:
            campaign = self.campaign
            self._examples = list(examples_of(campaign.suite))
            seeds = work.load_genomes(self.store, campaign.id, list(campaign.seed_genomes))
            ordered = [seeds[i] for i in campaign.seed_genomes]
            self._material = campaign.material(self._examples, ordered)
        return self._examples, self._material

    def _parent_evaluations(self, tasks: Sequence[BreedTask]) -> dict[str, Evaluation]:
        """The stored evaluations of mutated parents (their evidence), as the worker reads them."""
        campaign = self.campaign
        # Blind tasks read no evaluation (evidence_for gives them none): none is loaded.
        ids = sorted({t.parents[0] for t in tasks if t.kind == "mutate" and t.feedback})
        keys = [EvalKey(g, campaign.suite_id, campaign.fidelity) for g in ids]
        found: dict[str, Evaluation] = {}
        for gid, doc in zip(ids, self.store.get_evaluations(campaign.id, keys), strict=True):
            if doc is not None:
                # A corrupt one gives no evidence, as on a worker and in the loop.
                with contextlib.suppress(ValidationError):
                    found[gid] = Evaluation.model_validate(doc)
        return found

    def breed(self, tasks: Sequence[BreedTask]) -> list[tuple[BreedResult, Genome | None]]:
        """All of :meth:`breed_each`, as a list."""
        return list(self.breed_each(tasks))

    def breed_each(self, tasks: Sequence[BreedTask]) -> Iterator[tuple[BreedResult, Genome | None]]:
        """Make, store and record the children of ``tasks`` (none may need an LLM), one by one.

        Each child is stored (genome, lineage, then the slot's result: a resumed
        scheduler trusts a stored result to mean a stored child) before it is
        yielded, so the caller can send its evaluation while the next is made.

        Yields:
            Per task, in order: its result and its child if this call stored it
            first (None when discarded or already stored: the stored record, an
            earlier one as the loop keeps, is then the truth).

        Raises:
            StoreError: the store failed or lacks a parent.
            ValueError: a task needs an LLM operator.
        """
        if not tasks:
            return
        if any(needs_worker(t) for t in tasks):
            raise ValueError("LLM operators breed on the workers, not in the scheduler")
        campaign_id = self.campaign.id
        ids = list(dict.fromkeys(g for t in tasks for g in t.genome_ids()))
        genomes = work.load_genomes(self.store, campaign_id, ids)
        examples, material = self._material_of()
        evaluations = self._parent_evaluations(tasks)
        for task in tasks:
            context = breed_context(
                task,
                self.campaign.spec,
                [genomes[i] for i in task.donors],
                material=material,
                evidence=evidence_for(task, evaluations, examples),
            )
            offspring = make_offspring(task, [genomes[i] for i in task.parents], context)
            child, first = offspring.genome, None
            if child is not None:
                if self.store.put_genome(campaign_id, child.model_dump(mode="json")):
                    first = child
                self.store.add_lineage(
                    campaign_id,
                    [
                        {"parent": p, "child": child.id, "generation": task.generation,
                         "kind": task.kind}
                        for p in task.parents
                    ],
                )  # fmt: skip
            result = offspring.result
            self.store.put_task_result(
                campaign_id, task.generation, work.BREED, task.slot, result.model_dump(mode="json")
            )
            self.made += 1
            yield result, first

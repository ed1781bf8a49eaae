"""What a farm worker does for one task: breed one child, or evaluate one genome.

Both are idempotent, because late acknowledgement may deliver a task twice:
the child is stored under its content hash (put-if-absent), the breed result
once per slot, and the evaluation once per (genome, suite, fidelity) with its
counters in the same atomic step. A redelivery only signals its completion again.

Completion is signalled on the campaign's event channel
(:data:`~evofarm.campaign.lifecycle.EVENTS`), which the scheduler blocks on.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from evofarm.campaign.budgets import usd_to_micro
from evofarm.campaign.bundle import Campaign, CampaignCache, parse_sample
from evofarm.campaign.evaluation_cache import (
    EVALUATION_CACHE_HITS,
    SHARED_OUTCOMES,
    EvaluationCache,
    shared_key,
)
from evofarm.campaign.lifecycle import ENDED, EVENTS
from evofarm.campaign.proposer import CampaignProposer, MeteredProposer
from evofarm.campaign.worker import shards, staged
from evofarm.errors import BudgetExceeded, Location, StoreError, UserInputError
from evofarm.evolution.engine import BreedTask, breed_context, evidence_for, make_offspring
from evofarm.evolution.examples import examples_of
from evofarm.evolution.genome import Genome
from evofarm.evolution.llm.attempts import attempts_of
from evofarm.evolution.llm.runtime import Attempt
from evofarm.evolution.operators.base import OperatorContext
from evofarm.fitness.records import Evaluation, invalid_evaluation
from evofarm.fitness.runner import evaluate_pipeline
from evofarm.providers.base import Provider
from evofarm.store.base import EvalKey, JSONDoc, PopulationStore

if TYPE_CHECKING:
    from evofarm.fitness.metered import CaseMeter

BREED = "breed"
EVALUATED = "evaluated"
TASK_FAILED = "task_failed"

#: Runs one genome on the campaign's suite (the farm's evaluator).
GenomeEvaluator = Callable[[Campaign, Genome], Evaluation]


def load_genomes(store: PopulationStore, campaign: str, ids: list[str]) -> dict[str, Genome]:
    """Genomes by id from the store.

    Raises:
        StoreError: one is missing or does not decode.
    """
    docs = store.get_genomes(campaign, ids)
    found: dict[str, Genome] = {}
    for gid, doc in zip(ids, docs, strict=True):
        if doc is None:
            raise StoreError(f"campaign {campaign!r}: genome {gid} is not in the store")
        try:
            found[gid] = Genome.model_validate(doc)
        except ValidationError as exc:
            raise StoreError(f"campaign {campaign!r}: genome {gid} is corrupt: {exc}") from exc
    return found


def _active(store: PopulationStore, campaign: str) -> bool:
    status = store.get_status(campaign)
    return status is not None and status not in ENDED


# ---- llm: the proposer runtime of LLM operators (one per campaign and process) ----

_proposers: dict[str, CampaignProposer | None] = {}
_proposers_lock = threading.Lock()


def proposer_of(campaign: Campaign) -> CampaignProposer | None:
    """This process's proposer of ``campaign`` (made once; None without ``proposer:``).

    Its calls pass the process's rate limiter and are charged to the campaign's
    ledger as role ``proposer`` (in a worker: the fleet's, which the bootstrap installed).
    """
    with _proposers_lock:
        if campaign.id not in _proposers:
            _proposers[campaign.id] = CampaignProposer.for_campaign(
                campaign.spec, campaign=campaign.id
            )
        return _proposers[campaign.id]


def _proposer_for(campaign: Campaign) -> MeteredProposer | None:
    """A metered proposer runtime for one task of ``campaign`` (None without ``proposer:``)."""
    proposer = proposer_of(campaign)
    return proposer.metered() if proposer is not None else None


def _attempts(store: PopulationStore, campaign: Campaign, task: BreedTask) -> tuple[Attempt, ...]:
    """Earlier children of the task's first parent, as the loop computes them."""
    parent = task.parents[0]
    ids = sorted(
        {
            str(e["child"])
            for e in store.lineage(campaign.id)
            if e.get("parent") == parent and int(e.get("generation", 0)) < task.generation
        }
    )
    if not ids:
        return ()
    docs = store.get_genomes(campaign.id, ids)
    children = [Genome.model_validate(d) for d in docs if d is not None]
    keys = [EvalKey(c.id, campaign.suite_id, campaign.fidelity) for c in children]
    scores = {
        c.id: float(d["score"])
        for c, d in zip(children, store.get_evaluations(campaign.id, keys), strict=True)
        if d is not None
    }
    return attempts_of(parent, children, task.generation, scores)


# ---- end llm ------------------------------------------------------------------


def _context(
    store: PopulationStore,
    campaign: Campaign,
    task: BreedTask,
    donors: list[Genome],
    proposer: MeteredProposer | None = None,
) -> OperatorContext:
    """The operator context the in-process loop would build for ``task``.

    The material comes from the bundle's suite, the stored seed genomes and
    the memory offer frozen in the bundle (:meth:`Campaign.material`); the
    evidence from the parent's stored evaluation (a missing or corrupt one
    gives no evidence, as in the loop; a blind task gets none, nor attempts).
    """
    examples = examples_of(campaign.suite)
    seeds = load_genomes(store, campaign.id, list(campaign.seed_genomes))
    material = campaign.material(examples, [seeds[i] for i in campaign.seed_genomes])
    evaluations: dict[str, Evaluation] = {}
    if task.kind == "mutate" and task.feedback:  # a blind task reads no evaluation
        parent = task.parents[0]
        doc = store.get_evaluation(
            campaign.id, EvalKey(parent, campaign.suite_id, campaign.fidelity)
        )
        if doc is not None:
            with contextlib.suppress(ValidationError):
                evaluations[parent] = Evaluation.model_validate(doc)
    return breed_context(
        task,
        campaign.spec,
        donors,
        material=material,
        evidence=evidence_for(task, evaluations, examples),
        proposer=proposer,
        attempts=_attempts(store, campaign, task) if proposer and task.feedback else (),
    )


def breed(store: PopulationStore, cache: CampaignCache, task_doc: JSONDoc) -> JSONDoc:
    """Make one child (crossover or mutation), store it, record and signal the result.

    Returns:
        The ``BreedResult`` JSON (``genome`` is None when the child was discarded).

    Raises:
        StoreError: the store failed or lacks a parent (infrastructure: retried).
    """
    try:
        task = BreedTask.model_validate(task_doc)
    except ValidationError as exc:
        raise StoreError(f"malformed breed task: {exc}") from exc
    if not _active(store, task.campaign):
        return {"slot": task.slot, "genome": None, "skipped": "campaign ended"}
    campaign = cache.get(store, task.campaign)
    genomes = load_genomes(store, task.campaign, task.genome_ids())
    parents = [genomes[i] for i in task.parents]
    donors = [genomes[i] for i in task.donors]
    runtime = _proposer_for(campaign)
    offspring = make_offspring(task, parents, _context(store, campaign, task, donors, runtime))
    child = offspring.genome
    breed_result = offspring.result
    if runtime is not None and not runtime.usage.empty:
        # The ledger already counted every call as it was made (a redelivered
        # task's too); the result only reports this task's share.
        breed_result = breed_result.model_copy(update={"usage": runtime.usage})
    child_doc: JSONDoc | None = None
    if child is not None:
        doc = child.model_dump(mode="json")
        # Only a genome this task stored first travels with the event: otherwise
        # the stored record (an earlier one, as the loop keeps) is the truth.
        if store.put_genome(task.campaign, doc):
            child_doc = doc
        store.add_lineage(
            task.campaign,
            [
                {"parent": p, "child": child.id, "generation": task.generation, "kind": task.kind}
                for p in task.parents
            ],
        )
    result = breed_result.model_dump(mode="json")
    store.put_task_result(task.campaign, task.generation, BREED, task.slot, result)
    store.push_event(
        task.campaign,
        EVENTS,
        {
            "type": BREED,
            "generation": task.generation,
            "slot": task.slot,
            "result": result,
            "child": child_doc,
        },
    )
    return result


@dataclass(frozen=True)
class EvalRequest:
    """One evaluation to run: ids and small parameters only (what the task carries)."""

    campaign: str
    genome_id: str
    suite_id: str
    fidelity: str
    generation: int
    #: This task's share of the cases, of ``shards`` (:mod:`~evofarm.campaign.worker.shards`).
    shard: int = 0
    shards: int = 1

    @property
    def key(self) -> EvalKey:
        """The store key of the evaluation."""
        return EvalKey(self.genome_id, self.suite_id, self.fidelity)

    def to_args(self) -> list[Any]:
        """Positional task arguments (the shard pair only when the evaluation is split)."""
        args: list[Any] = [
            self.campaign,
            self.genome_id,
            self.suite_id,
            self.fidelity,
            self.generation,
        ]
        return [*args, self.shard, self.shards] if self.shards > 1 else args

    def split(self) -> list[EvalRequest]:
        """One request per shard (just this one when the evaluation is not split)."""
        if self.shards <= 1:
            return [self]
        return [replace(self, shard=i) for i in range(self.shards)]


def _signal_evaluated(store: PopulationStore, request: EvalRequest, doc: JSONDoc) -> None:
    store.push_event(
        request.campaign,
        EVENTS,
        {
            "type": EVALUATED,
            "generation": request.generation,
            "genome": request.genome_id,
            # Tells a resample (``evolution.noise``) from the genome's first evaluation.
            "fidelity": request.fidelity,
            # The scheduler needs it for selection: sending it saves a read later.
            "evaluation": doc,
        },
    )


def evaluate(
    store: PopulationStore,
    cache: CampaignCache,
    request: EvalRequest,
    evaluator: GenomeEvaluator,
    *,
    metered: bool = False,
    shared: EvaluationCache | None = None,
) -> JSONDoc:
    """Evaluate one genome unless already evaluated; record it once; signal completion.

    A failed candidate (outcome other than ``ok``) also goes to the failure museum.
    With ``metered``, the evaluator's provider calls were counted by the
    campaign's budget ledger as they were made (the one cost path, which also
    counts failed and repeated evaluations), so the evaluation adds no tokens
    or cost of its own to the counters. A call the ledger refused scores the
    genome 0 with outcome ``budget``; the ledger flagged the crossed budget and
    the scheduler stops the campaign.

    With ``shared`` (the fleet's evaluation cache), a campaign whose
    evaluations are shareable takes an evaluation another campaign made of the
    same genome on the same suite and fidelity instead of running it (no call,
    no cost; counted in the ``evaluation_cache_hits`` counter), and offers its
    own reproducible ones.

    Returns:
        The evaluation JSON (the stored one if it was already there).

    Raises:
        StoreError, ProviderError, SandboxError: infrastructure (retried by the farm).
    """
    existing = store.get_evaluation(request.campaign, request.key)
    if existing is not None:
        _signal_evaluated(store, request, existing)
        return existing
    if not _active(store, request.campaign):
        return {"skipped": "campaign ended"}
    campaign = cache.get(store, request.campaign)
    # The final phase asks for the held-out cases by their suite id.
    if request.suite_id == campaign.validation_id:
        campaign = campaign.for_split("validation")
    # A resample (``evolution.noise``) names its index in the fidelity key.
    sample = parse_sample(request.fidelity)[1]
    if sample:
        campaign = campaign.for_sample(sample)
    # A nursery campaign's training evaluations (stages and full) reuse lower stages'
    # cases; a resample never does (it must be a new draw of every case).
    staged_at = (
        None if sample else staged.nursery_fidelity(campaign, request.suite_id, request.fidelity)
    )
    if staged_at is None and (request.suite_id, request.fidelity) != (
        campaign.suite_id,
        campaign.fidelity,
    ):
        raise StoreError(
            f"evaluation request for suite {request.suite_id}@{request.fidelity} does not "
            f"match campaign {request.campaign!r} ({campaign.suite_id}@{campaign.fidelity})"
        )
    partial = staged_at is not None and staged.is_partial(campaign, request.fidelity)
    genome = load_genomes(store, request.campaign, [request.genome_id])[request.genome_id]
    # Nursery evaluations are not shared: their cost is the cases they add.
    key = shared_key(campaign, genome.id) if shared is not None and staged_at is None else None
    reused = _shared_evaluation(shared, key)
    ran = _run(store, request, campaign, genome, evaluator, reused=reused, staged_at=staged_at)
    if not isinstance(ran, tuple):
        return ran  # a shard whose evaluation other tasks finish
    evaluation, case_runs = ran
    doc = evaluation.model_dump(mode="json")
    failed = evaluation.outcome != "ok"
    # A stage's usage is counted by the ledger (metered) or, unmetered, with the
    # full evaluation that reuses its cases (as the in-process loop charges it).
    unmetered = not (metered or partial) and reused is None
    recorded = store.record_evaluation(
        request.campaign,
        request.key,
        doc,
        tokens=evaluation.tokens if unmetered else 0,
        cost_micro_usd=usd_to_micro(evaluation.cost_usd) if unmetered else 0,
        failed=failed,
        case_runs=case_runs,
        partial=partial,
    ).recorded
    if recorded and reused is not None:
        store.add_counters(request.campaign, {EVALUATION_CACHE_HITS: 1})
    elif recorded and shared is not None and key and evaluation.outcome in SHARED_OUTCOMES:
        shared.put(key, doc)
    if not recorded:
        # A redelivery of this task ran at the same time and recorded first:
        # its evaluation is the one the museum and the scheduler must see
        # (this run's may differ, e.g. in latency or in which limit hit first).
        stored = store.get_evaluation(request.campaign, request.key)
        if stored is not None:
            doc, evaluation = stored, Evaluation.model_validate(stored)
            failed = evaluation.outcome != "ok"
    if failed:
        store.add_to_museum(
            request.campaign,
            request.key.member(),
            {
                "genome": request.genome_id,
                "generation": request.generation,
                "outcome": evaluation.outcome,
                "reason": evaluation.reason,
                "score": evaluation.score,
                "errors": evaluation.errors,
            },
        )
    _signal_evaluated(store, request, doc)
    return doc


def _run(
    store: PopulationStore,
    request: EvalRequest,
    campaign: Campaign,
    genome: Genome,
    evaluator: GenomeEvaluator,
    *,
    reused: Evaluation | None,
    staged_at: float | None,
) -> tuple[Evaluation, int] | JSONDoc:
    """The evaluation this task makes and the cases it ran, or a shard's reply.

    Reused (fleet cache): no case run. A nursery stage reuses the stored lower
    stage's cases (shard 0 runs it whole). A split evaluation: this task runs
    its share; the one that stores the last share gets the merged evaluation.
    """
    if reused is not None:
        return reused, 0
    if staged_at is not None:
        if request.shards > 1 and request.shard > 0:
            # A nursery evaluation reuses a stage's cases: shard 0 runs it whole.
            return {"shard": request.shard, "shards": request.shards, "skipped": "staged"}
        try:
            earlier = staged.earlier_evaluation(store, campaign, genome.id, staged_at)
            return staged.evaluate_at(campaign, genome, staged_at, earlier, evaluator)
        except BudgetExceeded as exc:
            return _refused(campaign, genome, staged_at, exc), 0
    elif request.shards > 1 and shards.is_splittable(evaluator):
        part = shards.shard_campaign(campaign, request.shard, request.shards)
        merged = shards.keep_shard(
            store,
            campaign,
            request.key,
            _run_evaluator(evaluator, part, genome),
            shard=request.shard,
            shards=request.shards,
        )
        if merged is None:  # the other shards' tasks finish the evaluation
            return {"shard": request.shard, "shards": request.shards}
        return merged, len(merged.cases)
    elif request.shards > 1 and request.shard > 0:
        # An evaluator that cannot be split: shard 0 runs the whole evaluation.
        return {"shard": request.shard, "shards": request.shards, "skipped": "not splittable"}
    evaluation = _run_evaluator(evaluator, campaign, genome)
    return evaluation, len(evaluation.cases)


def _run_evaluator(evaluator: GenomeEvaluator, campaign: Campaign, genome: Genome) -> Evaluation:
    """``evaluator(campaign, genome)``; a call the budget refused scores 0 (outcome ``budget``)."""
    try:
        return evaluator(campaign, genome)
    except BudgetExceeded as exc:
        return _refused(campaign, genome, campaign.spec.fidelity, exc)


def _refused(
    campaign: Campaign, genome: Genome, fidelity: float, exc: BudgetExceeded
) -> Evaluation:
    """The evaluation of a genome whose call the budget refused: 0, outcome ``budget``."""
    return invalid_evaluation(
        suite_id=campaign.suite_id,
        fidelity=fidelity,
        reason=str(exc),
        genome_id=genome.id,
        outcome="budget",
    )


def _shared_evaluation(shared: EvaluationCache | None, key: str | None) -> Evaluation | None:
    """The fleet's evaluation under ``key``, if there is a valid one."""
    if shared is None or key is None:
        return None
    found = shared.get(key)
    if found is None:
        return None
    try:
        return Evaluation.model_validate(found)
    except ValidationError:
        return None


def signal_failure(store: PopulationStore, campaign: str, what: str, error: str) -> None:
    """Tell the scheduler a task failed for good (its retries are exhausted)."""
    store.push_event(campaign, EVENTS, {"type": TASK_FAILED, "task": what, "error": error})


def in_process_evaluator(
    max_workers: int = 1, case_pool: Executor | None = None
) -> GenomeEvaluator:
    """Evaluate with the campaign's runtime in this process, cases on ``max_workers`` threads.

    The same call as the in-process loop's evaluator
    (:func:`evofarm.campaign.local.evaluator.make_evaluator`), plus concurrency across
    cases, which does not change the result (cases are scored in case-id order).
    With ``case_pool`` (the worker's, :mod:`~evofarm.campaign.worker.case_pool`) the
    cases run on its shared threads instead of ``max_workers`` of their own.
    """
    from evofarm.campaign.candidate_runtime import runtime_factory  # noqa: PLC0415 - heavy import

    factories: dict[str, Any] = {}

    def run(campaign: Campaign, genome: Genome) -> Evaluation:
        factory = factories.get(campaign.id)
        if factory is None:
            factory = factories.setdefault(campaign.id, runtime_factory(campaign.spec, campaign.id))
        return evaluate_pipeline(
            genome.to_pipeline(),
            campaign.suite,
            runtime_factory=factory,
            fidelity=campaign.spec.fidelity,
            config=campaign.spec.fitness,
            genome_id=genome.id,
            max_workers=max_workers,
            judge=_judge_for(campaign),
            sample=campaign.sample,
            pool=case_pool,
        )

    return shards.splittable(run)


#: Evaluators a worker can be configured with by name.
IN_PROCESS = "in_process"
SANDBOX = "sandbox"
#: Built-in evaluators whose provider calls the campaign's ledger meters.
METERED = frozenset({IN_PROCESS, SANDBOX})


def sandbox_evaluator(max_workers: int = 1) -> GenomeEvaluator:
    """Evaluate each genome in one fresh sandbox (no network, no secrets, resource limits).

    Same scoring as :func:`in_process_evaluator`: the sandboxed child runs the
    same executor with the same provider bindings, per-case limits and
    strictness, ``max_workers`` cases at once; its LLM calls come back to this
    worker's providers. The traces are then scored by :func:`evaluate_pipeline`
    (through its ``case_runner``). A case outcome other than ``ok`` (timeout,
    memory limit, forbidden syscall ...) fails the case with that outcome; when
    the whole sandbox ends badly, every case it had not finished fails with its
    outcome (:mod:`evofarm.sandbox.parent.batch`).
    """
    import threading  # noqa: PLC0415

    from evofarm.campaign.candidate_runtime import provider_set, run_limits  # noqa: PLC0415
    from evofarm.campaign.pipeline_files import pipeline_files  # noqa: PLC0415
    from evofarm.campaign.worker.nested import nested_scorer  # noqa: PLC0415
    from evofarm.campaign.worker.relay_meter import NOTHING, relay_meter  # noqa: PLC0415
    from evofarm.fitness.runner import CaseFailed, select_cases  # noqa: PLC0415
    from evofarm.providers.registry import ProviderSet  # noqa: PLC0415
    from evofarm.sandbox.parent.batch import CaseReport, run_pipeline_batch_sandboxed  # noqa: PLC0415
    from evofarm.sandbox.wire.outcome import Outcome  # noqa: PLC0415

    # One provider set per campaign in this process: its response cache then
    # serves every evaluation of the campaign this worker runs.
    sets: dict[str, ProviderSet] = {}
    allowed: dict[str, frozenset[Path]] = {}  # each campaign's readable pipeline files
    sets_lock = threading.Lock()

    def run(campaign: Campaign, genome: Genome) -> Evaluation:
        spec = campaign.spec
        with sets_lock:
            providers = sets.get(campaign.id)
            if providers is None:
                providers = sets[campaign.id] = provider_set(spec, campaign=campaign.id)
                allowed[campaign.id] = pipeline_files(spec)
            read_files = allowed[campaign.id]
        base_dir = spec.seed_paths[0].parent if spec.seed_paths else None
        if base_dir is not None and not base_dir.is_dir():
            base_dir = None  # a worker on another machine: no campaign files here
        cases = select_cases(campaign.suite, spec.fidelity)
        batch: list[dict[str, CaseReport] | Exception] = []
        meters: list[CaseMeter] = []
        lock = threading.Lock()

        def case_runner(pipeline: Any, case: Any) -> Any:
            # The first case asked for runs the whole batch (evaluate_pipeline
            # asks only once the pipeline validated); the others wait for it.
            # An infrastructure failure is raised to every case, never retried here.
            with lock:
                if not batch:
                    try:
                        result = run_pipeline_batch_sandboxed(
                            pipeline,
                            [(c.id, c.inputs) for c in cases],
                            llm=providers.as_provider(),
                            concurrency=max_workers,
                            limits=spec.sandbox,
                            run_limits=run_limits(spec),
                            strict=True,
                            base_dir=base_dir,
                            read_files=read_files,
                            settings=providers.settings,
                            source=f"genome {genome.id[:12]}",
                            scorer=nested_scorer(spec, providers, max_workers),
                        )
                    except Exception as exc:
                        batch.append(exc)
                        raise
                    batch.append(result.cases)
                    meters.append(relay_meter(result.sandbox, [c.id for c in cases], max_workers))
            done = batch[0]
            if isinstance(done, Exception):
                raise done
            report = done[case.id]
            if report.outcome is not Outcome.OK:
                raise CaseFailed(report.outcome.value, report.message, trace=report.value)
            return report.value

        return evaluate_pipeline(
            genome.to_pipeline(),
            campaign.suite,
            case_runner=case_runner,
            fidelity=spec.fidelity,
            config=spec.fitness,
            genome_id=genome.id,
            max_workers=max_workers,
            judge=_judge_for(campaign),
            # Usage is the worker's count, never the traces' (relay_meter's docs).
            meter=lambda case: meters[0](case) if meters else NOTHING,
            sample=campaign.sample,
        )

    return shards.splittable(run)


_judges: dict[str, Provider] = {}
_judges_lock = threading.Lock()


def _judge_for(campaign: Campaign) -> Provider | None:
    """The campaign's ``llm_judge`` provider in this worker (made once; role ``judge``).

    None when ``campaign.suite`` has no ``llm_judge`` check. Decided per call,
    not cached as None: a nursery stage evaluates a subset of the cases, and a
    later subset may need the judge an earlier one did not.
    """
    from evofarm.campaign.candidate_runtime import judge_provider  # noqa: PLC0415 - heavy import

    with _judges_lock:
        found = _judges.get(campaign.id)
        if found is not None:
            return found
        judge = judge_provider(campaign.spec, campaign.suite, campaign=campaign.id)
        if judge is not None:
            _judges[campaign.id] = judge
        return judge


def resolve_evaluator(
    name: str, max_workers: int, case_pool: Executor | None = None
) -> GenomeEvaluator:
    """The evaluator called ``name``: ``sandbox``, ``in_process`` or ``package.module:factory``.

    A factory is called with ``max_workers`` and returns a :data:`GenomeEvaluator`
    (e.g. ``evofarm.testing.synthetic_eval:factory`` for benchmarks). For an
    ``evolution.noise`` resample the campaign it gets says which sample to draw
    (``Campaign.sample``; the built-in evaluators pass it to the checks).

    ``case_pool``, the worker's shared case threads
    (:mod:`~evofarm.campaign.worker.case_pool`), goes to ``in_process`` and to a
    factory with a ``case_pool`` parameter; ``sandbox`` runs each evaluation's
    cases in its own child and ignores it.

    Raises:
        UserInputError: the factory cannot be imported (names EVOFARM_EVALUATOR).
    """
    if name == IN_PROCESS:
        return in_process_evaluator(max_workers, case_pool)
    if name == SANDBOX:
        return sandbox_evaluator(max_workers)
    module_name, _, attr = name.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise UserInputError(
            f"cannot load evaluator {name!r} ({exc}): expected {IN_PROCESS!r} or "
            "'package.module:factory'",
            Location(key="EVOFARM_EVALUATOR"),
        ) from None
    if case_pool is not None and _takes_case_pool(factory):
        evaluator: GenomeEvaluator = factory(max_workers, case_pool=case_pool)
    else:
        evaluator = factory(max_workers)
    return evaluator


def _takes_case_pool(factory: Callable[..., object]) -> bool:
    try:
        return "case_pool" in inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no signature to read: called as before
        return False

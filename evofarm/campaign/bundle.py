"""The self-contained campaign record the farm stores: spec, suite, seed, seed genomes.

Workers may run on machines without the campaign's files, so the campaign is
stored as JSON holding everything they need: the validated spec, the task suite
(cases and checks), the seed and the ids of the generation-0 genomes (which are
stored as genomes themselves). Workers cache the decoded bundle per campaign;
it never changes after submission.

A ``request:`` campaign is stored with no seed genomes and ``genesis_pending``:
its genesis runs on a breed worker (:mod:`evofarm.campaign.worker.genesis`),
which stores the seed genomes and records their ids once, as the campaign's
genesis record (:data:`GENESIS`); :func:`completed` (and :class:`CampaignCache`,
which caches a pending campaign only once it is complete) fill them in.

A campaign that opts in to the collective memory (``memory.use``) carries its
offer, the fragments read from the memory once at submission
(:func:`evofarm.campaign.memory.offered`), in ``memory_offer``: frozen with
the campaign, so every worker, the scheduler's own breeding and a resumed
scheduler build the same material (:meth:`Campaign.material`), and the
in-process loop's for the same memory content. Decoding checks each fragment
again as a user's pipeline (the bundle is read back from a shared store).

The decoded :class:`Campaign` splits the suite: ``suite``/``suite_id`` are the
training cases (all that breeding and selection ever see), ``held_out`` the
validation cases the final phase evaluates (None without a split).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from evofarm.campaign.memory import Offer, with_offer
from evofarm.campaign.spec import CampaignSpec
from evofarm.errors import StoreError
from evofarm.evolution.engine import initial_genomes
from evofarm.evolution.examples import Example
from evofarm.evolution.genome import Genome
from evofarm.evolution.material import Material, material_of
from evofarm.evolution.memory import fragment_problem
from evofarm.fitness.suite import TaskSuite
from evofarm.store.base import JSONDoc, PopulationStore


class Bundle(BaseModel):
    """The JSON stored as a farm campaign's spec."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: dict[str, Any]
    suite: dict[str, Any]
    seed: int
    base_dir: str
    seed_genomes: list[str]
    suite_id: str
    fidelity: str
    #: Genesis has yet to make the seeds (``seed_genomes`` is then empty).
    genesis_pending: bool = False
    #: The collective memory's fragments frozen at submission (``memory.use``).
    memory_offer: Offer = ()


class GenesisRecord(BaseModel):
    """What a farm genesis left: the seed genome ids, or why it made none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed_genomes: list[str] = []
    error: str | None = None


#: Task-result kind of the genesis record (generation 0, slot 0; recorded once).
GENESIS = "genesis"


@dataclass(frozen=True)
class Campaign:
    """A decoded bundle: what the scheduler and the workers work from."""

    id: str
    spec: CampaignSpec
    suite: TaskSuite
    seed: int
    seed_genomes: tuple[str, ...]
    suite_id: str
    fidelity: str
    held_out: TaskSuite | None = None
    genesis_pending: bool = False
    #: Which evaluation of a genome this campaign view draws (``evolution.noise``;
    #: 0: the ordinary one). Evaluators pass it to the checks.
    sample: int = 0
    memory_offer: Offer = ()

    def for_sample(self, sample: int) -> Campaign:
        """This campaign drawing sample ``sample``: its evaluations are keyed apart.

        Sample ``k > 0`` of a genome is stored under the fidelity key
        :func:`sample_fidelity` gives, so it is one more evaluation, recorded
        and counted once like any other, and never mistaken for the first.
        """
        base, _ = parse_sample(self.fidelity)
        return replace(self, fidelity=sample_fidelity(base, sample), sample=sample)

    def material(self, examples: Sequence[Example], seeds: Sequence[Genome]) -> Material:
        """The operators' material: from ``examples`` and the seed genomes, plus the offer.

        The same as the in-process loop's for the same suite, seeds and memory content.
        """
        return with_offer(material_of(examples, [g.pipeline for g in seeds]), self.memory_offer)

    def for_split(self, split: str) -> Campaign:
        """This campaign with ``suite``/``suite_id`` the ``split`` cases (``train``/``validation``).

        Raises:
            StoreError: ``validation`` asked of a campaign without held-out cases.
        """
        if split == "train":
            return self
        if split != "validation" or self.held_out is None:
            raise StoreError(f"campaign {self.id!r} has no {split!r} cases")
        return replace(self, suite=self.held_out, suite_id=self.held_out.id, held_out=None)

    @property
    def validation_id(self) -> str | None:
        """The id of the held-out suite (evaluation keys of the final phase), or None."""
        return self.held_out.id if self.held_out is not None else None


def fidelity_key(fidelity: float) -> str:
    """The fidelity as it appears in evaluation keys (``repr`` of the float)."""
    return repr(float(fidelity))


#: Separates a resample's index from the fidelity in evaluation keys (``1.0+s2``).
SAMPLE_MARK = "+s"


def sample_fidelity(fidelity: str, sample: int) -> str:
    """The fidelity key of sample ``sample`` (0: ``fidelity`` itself, the ordinary key)."""
    return fidelity if sample == 0 else f"{fidelity}{SAMPLE_MARK}{sample}"


def parse_sample(fidelity: str) -> tuple[str, int]:
    """Inverse of :func:`sample_fidelity`: ``(fidelity key, sample)``.

    Raises:
        StoreError: the sample index is not a positive integer.
    """
    base, mark, index = fidelity.partition(SAMPLE_MARK)
    if not mark:
        return fidelity, 0
    if not index.isdigit() or int(index) < 1:
        raise StoreError(f"malformed sample in the fidelity key {fidelity!r}")
    return base, int(index)


def build_bundle(
    spec: CampaignSpec, seed: int, memory_offer: Offer = ()
) -> tuple[Bundle, list[Genome]]:
    """Load the campaign's seeds and suite into a bundle, with the seed genomes.

    A ``request:`` campaign gets none and ``genesis_pending``: nothing here calls
    a provider (genesis runs on the farm). ``memory_offer`` is frozen in it as is.

    Raises:
        UserInputError: a seed pipeline or the suite file is invalid.
    """
    suite = spec.load_suite()
    genomes = initial_genomes(spec.load_seeds()) if spec.request is None else []
    bundle = Bundle(
        spec=spec.model_dump(mode="json"),
        suite=suite.model_dump(mode="json", by_alias=True),
        seed=seed,
        base_dir=str(spec.base_dir),
        seed_genomes=[g.id for g in genomes],
        suite_id=suite.training().id,
        fidelity=fidelity_key(spec.fidelity),
        genesis_pending=spec.request is not None,
        memory_offer=memory_offer,
    )
    return bundle, genomes


def genesis_record(store: PopulationStore, campaign: str) -> GenesisRecord | None:
    """The campaign's genesis record, or None while genesis has not ended.

    Raises:
        StoreError: the store failed or the record is corrupt.
    """
    doc = store.task_results(campaign, 0, GENESIS).get(0)
    if doc is None:
        return None
    try:
        return GenesisRecord.model_validate(doc)
    except ValidationError as exc:
        raise StoreError(f"campaign {campaign!r}: corrupt genesis record: {exc}") from exc


def completed(store: PopulationStore, campaign: Campaign) -> Campaign:
    """``campaign`` with its genesis's seed genomes (as is unless pending and recorded).

    Raises:
        StoreError: the store failed.
    """
    if not campaign.genesis_pending:
        return campaign
    record = genesis_record(store, campaign.id)
    if record is None or record.error is not None:
        return campaign
    return replace(campaign, seed_genomes=tuple(record.seed_genomes), genesis_pending=False)


def decode(campaign: str, doc: JSONDoc) -> Campaign:
    """Decode a stored bundle.

    Raises:
        StoreError: the stored document is not a valid bundle.
    """
    try:
        bundle = Bundle.model_validate(doc)
        spec = CampaignSpec.model_validate(bundle.spec).with_base_dir(Path(bundle.base_dir))
        suite = TaskSuite.model_validate(bundle.suite)
    except ValidationError as exc:
        raise StoreError(f"campaign {campaign!r}: stored spec is invalid: {exc}") from exc
    for index, fragment in enumerate(bundle.memory_offer):
        problem = fragment_problem(list(fragment))
        if problem is not None:
            raise StoreError(
                f"campaign {campaign!r}: stored memory_offer[{index}] is invalid: {problem}"
            )
    return Campaign(
        id=campaign,
        spec=spec,
        suite=suite.training(),
        seed=bundle.seed,
        seed_genomes=tuple(bundle.seed_genomes),
        suite_id=bundle.suite_id,
        fidelity=bundle.fidelity,
        held_out=suite.held_out(),
        genesis_pending=bundle.genesis_pending,
        memory_offer=bundle.memory_offer,
    )


class CampaignCache:
    """Decoded campaigns by id, loaded from the store once per process (once
    complete: see :func:`completed`). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, Campaign] = {}

    def get(self, store: PopulationStore, campaign: str) -> Campaign:
        """The decoded campaign.

        Raises:
            StoreError: no such campaign, or its record is invalid.
        """
        with self._lock:
            found = self._cache.get(campaign)
        if found is not None:
            return found
        record = store.get_campaign(campaign)
        if record is None:
            raise StoreError(f"no campaign {campaign!r} in the store")
        decoded = completed(store, decode(campaign, record.spec))
        if decoded.genesis_pending:
            return decoded  # its seeds are still to come: never cache it so
        with self._lock:
            return self._cache.setdefault(campaign, decoded)

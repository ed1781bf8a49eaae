"""The farm's touch point with the collective memory: mine a campaign when it ends.

When a farm campaign ends completed or stopped, its winner (the final phase's
choice, else the best of the last checkpoint) is cut into patterns and its
failed training evaluations go to the failure museum, exactly as the
in-process loop does (:func:`evofarm.campaign.memory.contribute`), in the
memory the farm's Redis holds (``evofarm:{memory}:*``). Done once per campaign:
a flag in the campaign info keeps a resumed scheduler from counting the winner
twice. Offering the memory to a farm campaign (``memory.use``) happens at
submission: :func:`evofarm.campaign.control.submit` freezes the offer into
the bundle.
"""

from __future__ import annotations

from collections.abc import Collection

from evofarm.campaign import memory
from evofarm.campaign.bundle import Campaign
from evofarm.campaign.reports import final
from evofarm.campaign.worker.work import load_genomes
from evofarm.fitness.records import Evaluation
from evofarm.store.base import PopulationStore

#: Info field set once the campaign was mined into the collective memory.
INFO_CONTRIBUTED = "memory_contributed"

#: Endings whose winner is mined (a killed or failed campaign's is not trusted).
CONTRIBUTING = frozenset({"completed", "stopped"})


def contribute_on_end(
    store: PopulationStore, campaign: Campaign, status: str, *, known_ok: Collection[str] = ()
) -> int:
    """Mine an ended campaign into the memory once; returns the new gallery entries.

    Args:
        known_ok: genomes whose training evaluation the caller saw end ``ok``:
            the memory takes nothing from them but the winner's score, so they
            are not read back (reading every evaluation was most of an ending).

    Raises:
        StoreError: the store or the memory failed.
    """
    cid = campaign.id
    collective = memory.collective_of(store)
    if (
        collective is None
        or status not in CONTRIBUTING
        or not campaign.spec.memory.contribute
        or store.get_info(cid, INFO_CONTRIBUTED) == "1"
    ):
        return 0
    keys = sorted(
        (k for k in store.evaluation_keys(cid)
         if (k.suite_id, k.fidelity) == (campaign.suite_id, campaign.fidelity)),
        key=lambda k: k.genome_id,
    )  # fmt: skip
    decided = final.decode(store.get_info(cid, final.INFO_FINAL))
    best_id = decided.genome if decided is not None else None
    if best_id is None:
        checkpoint = store.load_checkpoint(cid)
        archive = checkpoint.state.get("archive") if checkpoint is not None else None
        best_id = str(archive[0]["id"]) if archive else None
    # The memory takes the failed evaluations and the winner's score: only those are decoded.
    skip = set(known_ok) - {best_id}
    keys = [k for k in keys if k.genome_id not in skip]
    evaluations = {
        key.genome_id: Evaluation.model_validate(doc)
        for key, doc in zip(keys, store.get_evaluations(cid, keys), strict=True)
        if doc is not None and (doc.get("outcome") != "ok" or key.genome_id == best_id)
    }
    best = load_genomes(store, cid, [best_id])[best_id] if best_id else None
    added = memory.contribute(collective, campaign.spec, cid, best, evaluations)
    store.update_info(cid, {INFO_CONTRIBUTED: "1"})
    return added

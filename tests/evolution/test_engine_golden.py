"""Golden outputs: the exact checkpoint and plan of a fixed small campaign, per strategy.

Seeded campaigns promise the same final best for the same seed, across machines,
resumptions and releases of the engine. Speed-ups to selection must therefore not
change a single draw. These digests were recorded before the selection hot path
was optimised; a change that alters any survivor, archive entry, operator count or
planned task fails here. If a change of results is *intended*, say so in the change
and re-record the digests (print ``_digests(...)``).
"""

from __future__ import annotations

import hashlib
import json

import pytest

from evofarm.evolution.engine import plan_generation

from .test_engine import drive, spec_with

#: (selection, pairing) -> (sha256 of the checkpoint after 4 generations, of the next plan).
GOLDEN: dict[tuple[str, str], tuple[str, str]] = {
    ("mu_plus_lambda", "fitness"): (
        "0b7b107ff19ef30abe3a74d016b165bd58cdce2453333f8daf95c94809c327f8",
        "45831799df3f9f58213a47a55b278bfe89b059351cba0936890b7ae02eb1b08f",
    ),
    ("mu_plus_lambda", "complementary"): (
        "2e5e30e69dcc38f90422ed67a50f8db89709efe1d25360cc5bf7b1b15475ae04",
        "8c99a4adced86a061d2546ac61e34ed7a27d20b2efb4284f43e8c8a941c7599d",
    ),
    ("mu_plus_lambda", "distance"): (
        "c6575a28678a8877a70b53f230e7b26fcb4a70a43e59d271ac188394af7c9ed7",
        "e94e5bc3c459cb7c93ea54eacc35326ea0b5cf11171b3e1bb11173e08c0cc131",
    ),
    ("mu_comma_lambda", "fitness"): (
        "1b771701480842f20b31dbc3acc8b8e3f3e33bf8c96a0d0008fb05fec3fb82e0",
        "7215376997ef73858c703c8c1219bb9631a8067eab5533135083190d9c165324",
    ),
    ("mu_comma_lambda", "complementary"): (
        "77a37cf6c6086b0c472e0530e62e60e3bfe04f240e3d444dc74999d140ae00ac",
        "22333d0c6b0e00524d79b17d96277e874a2c656982f4857ec9c1f21ee20950ec",
    ),
    ("mu_comma_lambda", "distance"): (
        "3c307fbaae5a9207062d9fc4883289e9c1011012af09a77c7655018eae50d71e",
        "35d0a1f0f7e2c5311378042b8da82da39b604301fb373db753cc495b0bf28ffb",
    ),
    ("tournament", "fitness"): (
        "905af2ac83c47ed306d4b057f1392dc86bec49e4822233f1d7685b5e42687776",
        "5392a545d07d5f2f32ebdfbaac71b39740985328db8eaa178d5e6626b089ff63",
    ),
    ("tournament", "complementary"): (
        "5dce448c066bd1bc47f8cffc5294bd70a1df9ca9a8c17875a8e70b3f2e9a4264",
        "ec0262ec4fc4bfcb05e4d7af9183886176b4283d1d5017944b92debc9477b8cc",
    ),
    ("tournament", "distance"): (
        "ed3940bb640a2af620fea824982e746a8673c0c151e9f4e0767e0c08208e8e02",
        "2855e91312c6834d99391b50022cd72423d81f917dbd23d893c4c12d9f8c381d",
    ),
    ("nsga2", "fitness"): (
        "aa95bfab0d82c6a8fb215da0b1245681d55d21999d53c597f0023bc4f4a54d04",
        "e1fe316188a305deacbeced6e9e317f4e464bc8b20e2b775329b5c57b648026a",
    ),
    ("nsga2", "complementary"): (
        "ddae2f228767bd3c9bd57e5cead1513b3d64355e1ca01175e0eaacfdd5b2af33",
        "cebabf97297bff714cf082ed5a04465e75c253ca84e8cd2ccd688d894c7bf626",
    ),
    ("nsga2", "distance"): (
        "c7ba4bc314be8c41cb46395b48b64688501ff7ddd51da9aa2392ee59ed878409",
        "b4a7f19b5a28ad660e8268cc8d58ccb00b5a0e8e8b9c092bc9c256b2ff4e4c5b",
    ),
}


def _sha(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _digests(selection: str, pairing: str) -> tuple[str, str]:
    spec = spec_with(
        selection=selection,
        pairing=pairing,
        population=12,
        offspring=12,
        crossover_rate=0.6,
        tournament_size=3,
    )
    state, _ = drive(spec, 7, 4)
    plan = plan_generation(state, spec)
    return (
        _sha(state.model_dump(mode="json")),
        _sha([task.model_dump(mode="json") for task in plan]),
    )


@pytest.mark.parametrize(("selection", "pairing"), sorted(GOLDEN))
def test_checkpoint_and_plan_are_pinned(selection: str, pairing: str) -> None:
    assert _digests(selection, pairing) == GOLDEN[(selection, pairing)]

"""Golden outputs: the exact checkpoint and plan of a fixed small campaign, per strategy.

Seeded campaigns promise the same final best for the same seed, across machines,
resumptions and releases of the engine. Speed-ups to selection must therefore not
change a single draw. These digests were recorded before the selection hot path
was optimised; a change that alters any survivor, archive entry, operator count or
planned task fails here. If a change of results is *intended*, say so in the change
and re-record the digests (print ``_digests(...)``).

Re-recorded deliberately for issue 11: the default operator set gained
``reflective_mutation``, operators draw constants from the campaign's material
instead of a built-in list, and ``Member.similarity`` became the second sort key.
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
        "c319a5afe75771df2e6a4a1446bb9fb29a91560754f202738beb1389e665be06",
        "503a117cb218220352483d0dc1542bbf0a74a4d4ddc0b0171f6673323d66f16d",
    ),
    ("mu_plus_lambda", "complementary"): (
        "c319a5afe75771df2e6a4a1446bb9fb29a91560754f202738beb1389e665be06",
        "c85bc850ab122a700c5eb1d7976539a69923894802c582eb27a8fd768e392a93",
    ),
    ("mu_plus_lambda", "distance"): (
        "8eaf8fe858d7d58ca3ea1695008fa43812c501d974389cced374fc729d915dca",
        "5dd4aa4de77a94e6894bc40f3b8155e3a885b4a3618f8fb3cb7454bfc4b84f47",
    ),
    ("mu_comma_lambda", "fitness"): (
        "5b415a97ed95542c697eb6db6fd2139fcf4696b24be98b200fef38a589cabc57",
        "63968995600e36cd314c35448c2445ef29ac324bd9d044f8822733c43fccf310",
    ),
    ("mu_comma_lambda", "complementary"): (
        "e492ad70f5856084b3ecba4c2f6706462b34b3e67defd8fee679f8138df99222",
        "9307ad3ed1e4b25e912537a598fdd9c81f7f7b9a46361b103d6a0a9ce93b1c73",
    ),
    ("mu_comma_lambda", "distance"): (
        "2ef8b998b2e1b55d2f69e135826e03110cb043067385cfaa2974170c19b60ad6",
        "bb5cab915833320ccd42853f1fc528b3f51a7c8f1f45508696db22fc5a274984",
    ),
    ("tournament", "fitness"): (
        "f87684fc631d8fbd876f7664c71e6a97d9d6b1f860dd0a86dcd12cd8a7550bae",
        "098c35aae91aa5e67274de2e2b2d563e2c38c59b660a8488ee49930d1aa7072f",
    ),
    ("tournament", "complementary"): (
        "75553a105a4f9fd2c34281dbc2489ec344688b4bf73f31b347969046444c0c6d",
        "58c6e75b6d0a7135419a70dfe15cfeb9f5594a25dde20af6f7e8fa6e65efe199",
    ),
    ("tournament", "distance"): (
        "016e0b007e40b1a8f156614579d100efc65479adadb981bf524d36622f55df09",
        "a6ecaac411480f120efb7ae01892cc758d24ad2451999ee18bb8003a765975bf",
    ),
    ("nsga2", "fitness"): (
        "049c28faaa7072aaf50c31b60d8796b21392d191903ccc7d0a10bb35c1911133",
        "a8455d2c73873301946d8a3d3c2ab4591b102b78aef9477a92199cb8775c3658",
    ),
    ("nsga2", "complementary"): (
        "049c28faaa7072aaf50c31b60d8796b21392d191903ccc7d0a10bb35c1911133",
        "a8455d2c73873301946d8a3d3c2ab4591b102b78aef9477a92199cb8775c3658",
    ),
    ("nsga2", "distance"): (
        "9df48aaf385251966004f73c0f1803d77eaca7c4ead48c0c51cb41875752b105",
        "824c97b90f3eefcd04f4e8ffbf8c3b3ad719a16253ed85d4abdf6a6250242a45",
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

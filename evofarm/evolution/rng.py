"""Deterministic randomness: one independent stream per (campaign seed, generation, slot).

Every random choice evolution makes is drawn from ``rng_for(seed, generation, slot)``.
A slot names one unit of work (one offspring, one selection step), so the numbers a
unit sees never depend on which other units ran first, on which worker ran them, or
on how often the campaign was interrupted: the in-process loop and the distributed
farm draw exactly the same numbers for the same seed.
"""

from __future__ import annotations

import hashlib
import random

#: Slot used by selection-side draws (parent picks, operator picks) of a generation.
PLAN_SLOT = "plan"


def derive_seed(seed: int, generation: int, slot: int | str) -> int:
    """Return a 64-bit integer seed derived from the three coordinates.

    The derivation hashes a canonical text form with SHA-256, so it is stable across
    Python versions, processes and machines (unlike ``hash()``).
    """
    material = f"evofarm:{seed}:{generation}:{slot}".encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big")


def rng_for(seed: int, generation: int, slot: int | str) -> random.Random:
    """Return a fresh ``random.Random`` for one unit of work.

    Args:
        seed: The campaign seed.
        generation: The generation the work belongs to (0 for seeds).
        slot: The unit's slot within the generation (an offspring index, or a
            name such as :data:`PLAN_SLOT`).

    Returns:
        A new generator; two calls with equal arguments give equal streams.
    """
    return random.Random(derive_seed(seed, generation, slot))

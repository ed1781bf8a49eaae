"""A check type whose verdict is noise: ``noisy`` passes with probability ``rate``.

For testing noise-aware acceptance (``evolution.noise``) with the real
evaluators, in-process and on farm workers. Load it as a plugin
(``plugins: [evofarm.testing.noisy_check]`` in the campaign); the check runs
where checks run (the worker, never the sandbox's child).

The draw is a pure function of (genome id, sample index, case id, the check's
label) (SHA-256), so every process computes the same verdict for the same
sample, while each new sample of a genome (``CheckContext.sample``) is a fresh
draw. The value checked is ignored: every genome has the same true pass rate,
so any genome that scores above it was lucky.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import Field

from evofarm.fitness.check_base import CheckBase, CheckContext
from evofarm.fitness.check_registry import register_check_type


def draw(genome_id: str | None, sample: int, case_id: str, label: str) -> float:
    """A uniform number in [0, 1) fixed by its arguments."""
    text = f"noisy|{genome_id}|{sample}|{case_id}|{label}"
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@register_check_type
class NoisyCheck(CheckBase):
    """Passes when the (genome, sample, case, label) draw is below ``rate``."""

    type: Literal["noisy"] = "noisy"
    rate: float = Field(default=0.5, ge=0.0, le=1.0)

    def test(self, value: Any, ctx: CheckContext) -> tuple[bool, str, float | None]:
        """Pass with probability ``rate`` (see the module docs); ``value`` is ignored."""
        ok = draw(ctx.genome_id, ctx.sample, ctx.case_id, self.display) < self.rate
        return ok, "" if ok else "unlucky draw", None

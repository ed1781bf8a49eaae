"""Noise-aware acceptance for stochastic evaluators (``evolution.noise``).

With LLM steps at temperature > 0 one evaluation is one sample: the highest
single score of a campaign is mostly the luckiest draw. With ``evolution.noise``
the loop keeps every sample of a genome (up to ``samples``), re-evaluates the
population's ``elites`` and any challenger for the crown each generation, ranks
by the mean over samples, and crowns a challenger only when a test says it
beats the current champion:

* ``paired_t``: a one-sided paired t-test over the cases (per-case check rate
  averaged over each genome's samples; the challenger minus the champion) at
  ``confidence``;
* ``lcb``: the challenger's lower confidence bound (mean score minus
  ``z * sd / sqrt(k)`` over its ``k`` samples) above the champion's mean score.

This module is the pure part (statistics and the decision);
:mod:`evofarm.evolution.noise_settle` re-ranks and crowns a checkpoint from
samples, which the in-process loop (:mod:`evofarm.campaign.local.noise`) and
the farm's scheduler (:mod:`evofarm.campaign.scheduler.noise`) draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist, fmean, stdev
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evofarm.fitness.records import Evaluation


class NoiseConfig(BaseModel):
    """``evolution.noise``: how evaluations of a stochastic evaluator are trusted.

    Attributes:
        samples: Most evaluations kept (and run) per genome.
        elites: The population's best this-many are re-evaluated each generation
            until they have ``samples``.
        test: ``paired_t`` or ``lcb`` (see the module docs).
        confidence: One-sided confidence of the test.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: int = Field(default=4, ge=2, le=64)
    elites: int = Field(default=2, ge=0)
    test: Literal["paired_t", "lcb"] = "paired_t"
    confidence: float = Field(default=0.95, gt=0.5, lt=1)


class NoiseMemo(BaseModel):
    """What a checkpoint keeps of noise-aware acceptance, so a resumed campaign goes on.

    Attributes:
        champion: The crowned genome id (the archive's head after settling).
        samples: Samples per genome, for genomes with more than one (every
            evaluated genome has its first); genomes no longer in the
            population or the archive stay, as they may be bred again.
        job: Steady state on the farm: the resample job out when the
            checkpoint was written (genome id -> samples it will have), which
            ``samples`` does not count yet; a resumed scheduler sends it again
            (:mod:`~evofarm.campaign.scheduler.steady_resamples`).
        elites_due: Steady state on the farm: the elites' once-a-generation
            resample was not drawn yet when the checkpoint was written.

    ``job`` and ``elites_due`` are left out of the JSON when unset, so other
    checkpoints (and those written before they existed) are unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    champion: str | None = None
    samples: dict[str, int] = Field(default_factory=dict)
    job: dict[str, int] | None = Field(default=None, exclude_if=lambda v: not v)
    elites_due: bool = Field(default=False, exclude_if=lambda v: not v)

    def count(self, genome_id: str) -> int:
        """Samples of ``genome_id`` so far (1 for any evaluated genome not listed)."""
        return self.samples.get(genome_id, 1)


def t_critical(confidence: float, dof: int) -> float:
    """One-sided Student-t quantile (Cornish-Fisher expansion; exact enough for dof >= 2)."""
    z = NormalDist().inv_cdf(confidence)
    v = max(1, dof)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


def case_means(samples: Sequence[Evaluation]) -> dict[str, float]:
    """Per-case check rate averaged over ``samples`` (cases any sample ran)."""
    rates: dict[str, list[float]] = {}
    for evaluation in samples:
        for case in evaluation.cases:
            rates.setdefault(case.case_id, []).append(case.check_rate)
    return {case: fmean(values) for case, values in sorted(rates.items())}


def mean_score(samples: Sequence[Evaluation]) -> float:
    """The mean score over ``samples`` (0 for none), rounded to survive JSON."""
    return round(fmean(e.score for e in samples), 9) if samples else 0.0


def beats(
    challenger: Sequence[Evaluation], champion: Sequence[Evaluation], config: NoiseConfig
) -> bool:
    """Whether ``challenger``'s samples show it better than ``champion``'s (see module docs).

    False when there is too little data for the test (fewer than two cases in
    common for ``paired_t``, fewer than two samples for ``lcb``).
    """
    if config.test == "lcb":
        if len(challenger) < 2:
            return False
        scores = [e.score for e in challenger]
        bound = fmean(scores) - NormalDist().inv_cdf(config.confidence) * stdev(scores) / math.sqrt(
            len(scores)
        )
        return bound > mean_score(champion)
    ours, theirs = case_means(challenger), case_means(champion)
    shared = sorted(set(ours) & set(theirs))
    if len(shared) < 2:
        return False
    diffs = [ours[c] - theirs[c] for c in shared]
    mean = fmean(diffs)
    spread = stdev(diffs)
    if spread == 0:
        return mean > 0
    t = mean / (spread / math.sqrt(len(diffs)))
    return t > t_critical(config.confidence, len(diffs) - 1)


def averaged(samples: Sequence[Evaluation]) -> Evaluation:
    """One evaluation standing for ``samples``: the first one with the mean score.

    Selection ranks by it; per-case results stay the first sample's (they feed
    pairing, similarity and a mutation's evidence, which need no averaging to
    stay fair; the first is the one a farm worker reads as the genome's
    evaluation, so breeding sees the same evidence in-process and on the farm).
    """
    first = samples[0]
    if len(samples) == 1:
        return first
    score = mean_score(samples)
    objectives = dict(first.objectives)
    if "fitness" in objectives:
        objectives["fitness"] = score
    return first.model_copy(update={"score": score, "objectives": objectives})

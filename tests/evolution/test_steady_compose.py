"""Steady state's pure decisions with the nursery (per-birth promotion) and noise (the crown)."""

from __future__ import annotations

from evofarm.evolution.config import EvolutionConfig
from evofarm.evolution.engine import EvolutionState, SteadyMemo, member_of
from evofarm.evolution.genome import Genome
from evofarm.evolution.noise import NoiseConfig, NoiseMemo
from evofarm.evolution.selection.base import Member
from evofarm.evolution.steady_noise import hold_crown, next_job, settle_samples, wanted_samples
from evofarm.evolution.steady_nursery import stage_verdict
from evofarm.fitness.records import Evaluation
from evofarm.fitness.scoring import FitnessConfig

from .helpers import random_genome, synthetic_evaluation


def _m(gid: str, fitness: float) -> Member:
    return Member(id=gid, fitness=fitness)


def _decide(scores: list[tuple[str, float]], promote: float, window: int) -> list[bool]:
    memo, verdicts = SteadyMemo(), []
    for gid, fitness in scores:
        verdict, memo = stage_verdict(memo, 0, _m(gid, fitness), promote, window)
        verdicts.append(verdict)
    return verdicts


def test_a_birth_is_promoted_when_it_ranks_in_the_share_of_its_stage_window() -> None:
    # The first is compared with nothing: promoted. Then best ceil(0.5 * (n + 1)).
    scores = [("a", 0.5), ("b", 0.4), ("c", 0.6), ("d", 0.45), ("e", 0.55)]
    assert _decide(scores, 0.5, window=4) == [True, False, True, False, True]
    # Ties break by id, as in the generational cohort ranking.
    assert _decide([("b", 0.5), ("a", 0.5)], 0.5, 4) == [True, True]
    assert _decide([("a", 0.5), ("b", 0.5)], 0.5, 4) == [True, False]


def test_the_window_keeps_the_last_lambda_results_per_stage_and_a_genome_once() -> None:
    memo = SteadyMemo()
    for i, fitness in enumerate([0.9, 0.1, 0.2, 0.3]):
        _, memo = stage_verdict(memo, 1, _m(f"g{i}", fitness), 0.5, window=2)
    assert memo.stages[0] == [] and [m.id for m in memo.stages[1]] == ["g2", "g3"]
    # 0.9 has left the window: 0.25 ranks second of (0.2, 0.3, 0.25), within ceil(1.5).
    promoted, after = stage_verdict(memo, 1, _m("x", 0.25), 0.5, window=2)
    assert promoted and [m.id for m in after.stages[1]] == ["g3", "x"]
    # The same genome again replaces its entry instead of ranking against itself.
    again, twice = stage_verdict(after, 1, _m("x", 0.25), 0.34, window=2)
    assert not again and [m.id for m in twice.stages[1]] == ["g3", "x"]
    # The memo is a checkpoint: the windows survive JSON.
    assert SteadyMemo.model_validate(twice.model_dump(mode="json")) == twice
    assert "stages" not in SteadyMemo().model_dump(mode="json")


def _state(population: list[Member], archive: list[Member], champion: str | None) -> EvolutionState:
    noise = NoiseMemo(champion=champion) if champion else None
    return EvolutionState(campaign="c", seed=1, population=population, archive=archive, noise=noise)


def test_a_lucky_child_joins_the_archive_behind_the_champion() -> None:
    champ, lucky = _m("champ", 0.6), _m("lucky", 0.9)
    before = _state([champ], [champ], "champ")
    after = _state([lucky, champ], [lucky, champ], None)
    held = hold_crown(before, after, archive_size=10)
    assert [m.id for m in held.archive] == ["champ", "lucky"]
    assert held.population == after.population
    # Dropped from a full archive, the champion is put back (at the head).
    assert [m.id for m in hold_crown(before, _state([lucky], [lucky], None), 1).archive] == [
        "champ"
    ]
    assert hold_crown(_state([champ], [champ], None), after, 10) is after  # no champion yet


def test_a_would_be_champion_and_the_champion_are_resampled_the_elites_once_a_generation() -> None:
    config = NoiseConfig(samples=4, elites=2)
    champ, lucky, other = _m("champ", 0.6), _m("lucky", 0.9), _m("other", 0.5)
    state = _state([lucky, champ, other], [champ, lucky, other], "champ")
    state = state.model_copy(update={"noise": NoiseMemo(champion="champ", samples={"champ": 4})})
    assert wanted_samples(state, config, elites=False) == {"lucky": 4}
    # Elites get one more each (the champion has all its samples already).
    assert wanted_samples(state, config, elites=True) == {"lucky": 4}
    calm = _state([champ, other], [champ, other], "champ")
    calm = calm.model_copy(update={"noise": NoiseMemo(champion="champ", samples={"champ": 4})})
    assert wanted_samples(calm, config, elites=False) == {}
    assert wanted_samples(calm, config, elites=True) == {"other": 2}
    # The challenger's job comes first; the elites stay due until none is left.
    assert next_job(state, config, elites_due=True) == ({"lucky": 4}, True)
    assert next_job(calm, config, elites_due=True) == ({"other": 2}, False)
    assert next_job(calm, config, elites_due=False) == ({}, False)


def _samples(genome: Genome, passes: list[list[int]]) -> list[Evaluation]:
    return [synthetic_evaluation(genome, p) for p in passes]


def test_settling_crowns_a_challenger_only_on_fresh_evidence() -> None:
    fitness, evolution = FitnessConfig(), EvolutionConfig(population=4, mode="steady")
    config = NoiseConfig(samples=4, confidence=0.95)
    champ_g, lucky_g, good_g = random_genome(1), random_genome(2), random_genome(3)
    honest = [[2] * 8, [2, 3] * 4, [3, 2] * 4, [2] * 8]
    champ = _samples(champ_g, honest)
    # Lucky: one great draw (its mean still leads), then draws no better than the champion's.
    lucky = _samples(lucky_g, [[4] * 8, [2] * 8, [2] * 8, [2, 3] * 4])
    good = _samples(good_g, [[4] * 8, [4, 3] * 4, [3, 4] * 4, [4] * 8])
    genomes = {g.id: g for g in (champ_g, lucky_g, good_g)}

    def settled(challenger: Genome, samples: list[Evaluation]) -> EvolutionState:
        first = member_of(challenger, samples[0], fitness)
        crowned = member_of(champ_g, champ[0], fitness)
        memo = NoiseMemo(champion=champ_g.id, samples={champ_g.id: 4})
        state = _state([first, crowned], [crowned, first], None)
        state = state.model_copy(update={"noise": memo, "best_history": [0.1]})
        return settle_samples(
            state,
            {challenger.id: samples, champ_g.id: champ},
            genomes,
            {challenger.id: 4},
            config=config,
            evolution=evolution,
            fitness=fitness,
        )

    kept = settled(lucky_g, lucky)
    assert kept.noise is not None and kept.noise.champion == champ_g.id
    assert kept.archive[0].id == champ_g.id and kept.noise.samples[lucky_g.id] == 4
    # Its mean leads, but the first sample is no evidence and the fresh ones do not win.
    assert kept.archive[1].id == lucky_g.id and kept.archive[1].fitness > kept.archive[0].fitness
    assert kept.best_history == [0.1]  # a steady generation records its best when it closes
    won = settled(good_g, good)
    assert won.noise is not None and won.noise.champion == good_g.id == won.archive[0].id


def test_the_memo_keeps_the_job_out_and_the_elites_due_and_old_checkpoints_load() -> None:
    memo = NoiseMemo(champion="champ", samples={"champ": 4}, job={"lucky": 4}, elites_due=True)
    assert NoiseMemo.model_validate(memo.model_dump(mode="json")) == memo
    # Unset, both are left out of the JSON: checkpoints without them are unchanged...
    plain = NoiseMemo(champion="champ", samples={"champ": 4})
    assert plain.model_dump(mode="json") == {"champion": "champ", "samples": {"champ": 4}}
    # ... and one written before they existed loads with nothing out and nothing due.
    old = NoiseMemo.model_validate({"champion": "champ", "samples": {"champ": 4}})
    assert old == plain and old.job is None and not old.elites_due

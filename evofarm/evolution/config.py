"""The ``evolution:`` section of a campaign: population, operators, selection.

It lives here rather than in :mod:`evofarm.campaign.spec` because the engine
reads it and ``evolution`` must not import ``campaign``; the campaign spec
embeds it. Every field is read by :mod:`evofarm.evolution.engine` or the loop.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from evofarm.evolution.crossover import CROSSOVERS
from evofarm.evolution.noise import NoiseConfig
from evofarm.evolution.nursery import NurseryConfig
from evofarm.evolution.operators.registry import OPERATORS, registered_operators
from evofarm.evolution.selection.registry import SELECTION_STRATEGIES
from evofarm.registry import UnknownExtension

PairingName = Literal["fitness", "complementary", "distance"]
CrossoverName = Literal["one_point", "uniform"]
CROSSOVER_NAMES: tuple[CrossoverName, ...] = ("one_point", "uniform")
#: Selections whose survival is elitist replacement, the only kind steady state can use.
STEADY_SELECTIONS = ("mu_plus_lambda",)


def _default_operators() -> dict[str, float]:
    # Operators registered with rate 0 (the LLM ones) are opt-in: leaving them out
    # keeps the default rates, and so every default campaign's draws, unchanged.
    return {n: info.rate for n, info in sorted(registered_operators().items()) if info.rate > 0}


class EvolutionConfig(BaseModel):
    """How a campaign breeds and selects.

    Attributes:
        population: Survivors kept per generation (mu).
        offspring: Offspring bred per generation (lambda); defaults to ``population``.
        generations: Generations to run after the seeds (the loop may stop early
            on ``target_fitness`` or a budget).
        seed: Campaign seed; ``evofarm run --seed`` overrides it.
        operators: Mutation operators to use and their rates: each is applied to
            an offspring with this probability (a mutate offspring always gets at
            least one, drawn in proportion to the rates).
        crossover_rate: Probability that an offspring is bred by crossover.
        crossover: Crossover kinds to draw from, uniformly.
        selection: The selection strategy, a name in
            :data:`~evofarm.evolution.selection.registry.SELECTION_STRATEGIES`.
        selection_options: Settings of that strategy, validated by its
            ``options_model`` (e.g. ``random_search``'s ``max_operators``).
        tournament_size: Entrants per tournament (parent selection, and survival
            under ``tournament``).
        pairing: How the second crossover parent is chosen.
        elitism: The best this-many genomes always survive (``tournament`` and
            ``mu_comma_lambda``; implicit in ``mu_plus_lambda``).
        donors: How many of the fittest genomes operators may borrow from.
        max_steps: Top-level step limit for offspring (operators and repair).
        target_fitness: Stop once the best fitness reaches this (None: never).
        archive_size: Size of the hall of fame kept in the checkpoint.
        nursery: Staged evaluation of new offspring before full evaluation
            (:mod:`~evofarm.evolution.nursery`; in steady state each birth is
            promoted or culled on its own, :mod:`~evofarm.evolution.steady_nursery`);
            None: every child is fully evaluated. Left out of the JSON when None.
        noise: Noise-aware acceptance for stochastic evaluators
            (:mod:`~evofarm.evolution.noise`; in steady state a would-be
            champion is resampled before it is crowned,
            :mod:`~evofarm.evolution.steady_noise`); None: one evaluation per
            genome is trusted. Left out of the JSON when None.
        mode: ``generational`` (a barrier per generation; bit-reproducible) or
            ``steady`` (no barrier: each finished evaluation frees a slot that a
            new child, bred from the population as it is then, fills at once;
            reproducible only up to the order evaluations complete in; see
            :mod:`~evofarm.evolution.steady`; needs ``mu_plus_lambda``;
            combines with ``nursery`` and ``noise``). Left out of the JSON when
            generational, so existing campaigns' bundles are unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    population: int = Field(default=16, ge=1, le=10_000)
    offspring: int | None = Field(default=None, ge=1, le=10_000)
    generations: int = Field(default=20, ge=0, le=100_000)
    seed: int = 0
    operators: dict[str, float] = Field(default_factory=_default_operators)
    crossover_rate: float = Field(default=0.3, ge=0, le=1)
    crossover: list[CrossoverName] = Field(
        default_factory=lambda: list(CROSSOVER_NAMES), min_length=1
    )
    selection: str = "mu_plus_lambda"
    selection_options: dict[str, JsonValue] = Field(default_factory=dict)
    tournament_size: int = Field(default=3, ge=1)
    pairing: PairingName = "fitness"
    elitism: int = Field(default=1, ge=0)
    donors: int = Field(default=3, ge=0)
    max_steps: int = Field(default=12, ge=1, le=200)
    target_fitness: float | None = Field(default=None, ge=0, le=1)
    archive_size: int = Field(default=10, ge=1)
    nursery: NurseryConfig | None = Field(default=None, exclude_if=lambda v: v is None)
    noise: NoiseConfig | None = Field(default=None, exclude_if=lambda v: v is None)
    mode: Literal["generational", "steady"] = Field(
        default="generational", exclude_if=lambda v: v == "generational"
    )

    @field_validator("operators")
    @classmethod
    def _known_operators(cls, value: dict[str, float]) -> dict[str, float]:
        for name, rate in value.items():
            if name not in OPERATORS:
                raise ValueError(str(UnknownExtension("operator", name, OPERATORS.names())))
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"rate of {name!r} must be in [0, 1], got {rate}")
        if not any(rate > 0 for rate in value.values()):
            raise ValueError("at least one operator needs a rate above 0")
        return dict(sorted(value.items()))

    @field_validator("selection")
    @classmethod
    def _known_selection(cls, value: str) -> str:
        if value not in SELECTION_STRATEGIES:
            raise ValueError(
                str(UnknownExtension("selection strategy", value, SELECTION_STRATEGIES.names()))
            )
        return value

    @field_validator("selection_options")
    @classmethod
    def _strategy_options(
        cls, value: dict[str, JsonValue], info: ValidationInfo
    ) -> dict[str, JsonValue]:
        name = info.data.get("selection")
        if not isinstance(name, str):
            return value  # the selection key itself is wrong: reported there
        strategy = SELECTION_STRATEGIES.get(name)
        try:
            strategy.validate_options(value)
        except ValidationError as exc:
            problem = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in problem["loc"])
            message = str(problem["msg"])
            if problem["type"] == "extra_forbidden":
                message = "unknown key"
            raise ValueError(f"{name} option {where!r}: {message}") from None
        operators = info.data.get("operators")
        if isinstance(operators, dict):  # else the operators key is wrong: reported there
            strategy.check_operators(value, operators)
        return value

    @field_validator("crossover")
    @classmethod
    def _known_crossovers(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in CROSSOVERS:
                raise ValueError(f"unknown crossover {name!r}")
        return value

    @field_validator("elitism")
    @classmethod
    def _elitism_fits(cls, value: int, info: ValidationInfo) -> int:
        # A field validator (not a model one) so the error points at the key.
        population = info.data.get("population")
        if isinstance(population, int) and value > population:
            raise ValueError(f"elitism ({value}) cannot exceed population ({population})")
        return value

    @model_validator(mode="after")
    def _steady_fits(self) -> EvolutionConfig:
        if self.mode != "steady":
            return self
        if self.selection not in STEADY_SELECTIONS:
            raise ValueError(
                f"mode: steady needs selection {' or '.join(STEADY_SELECTIONS)} "
                f"(each child joins the population and the worst leaves), not {self.selection!r}"
            )
        return self

    @property
    def lam(self) -> int:
        """Offspring per generation (lambda)."""
        return self.offspring if self.offspring is not None else self.population

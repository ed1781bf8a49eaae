"""The campaign file: what to evolve, on which suite, how, and within which budgets.

A campaign is one YAML mapping, validated with pydantic; unknown keys are errors
and every error names ``FILE:LINE:COL`` and the key path::

    name: contact-cleaner          # campaign id: letters, digits, . _ -
    seeds: [../examples/contacts-seed.yaml]   # paths relative to this file
    suite: ../suites/contacts.yaml
    fidelity: 1.0                  # share of the suite's cases each evaluation runs
    fitness: {weights: {test_rate: 0.5, gates: 0.25, efficiency: 0.25}}
    evolution: {population: 12, generations: 40, seed: 7, selection: mu_plus_lambda}
    providers: {claude: {provider: mock}}     # slot bindings for every candidate
    models:                        # catalogue for provider optimization
      - {slot: claude, model: haiku, provider: anthropic,
         input_usd_per_mtok: 1.0, output_usd_per_mtok: 5.0}
    budgets: {max_evaluations: 400, max_tokens: 1000000, max_usd: 5, max_wall_s: 600}
    sandbox: {wall_timeout_s: 30}  # limits of one candidate run
    approval: {policy: manual}     # or auto with min_fitness

Who enforces what: ``fitness`` is applied by evaluation; ``evolution`` by the engine;
``budgets`` by the in-process loop (and atomically by the farm); ``providers`` and
``sandbox.wall_timeout_s`` / ``sandbox.max_output_bytes`` by the runtime every
candidate runs with (:mod:`evofarm.campaign.candidate_runtime`), all ``sandbox`` limits by the
farm's sandbox; ``approval`` decides the winner's approval state in the outputs.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from evofarm.errors import CampaignSpecError, Location, ProviderConfigError
from evofarm.evolution.config import EvolutionConfig
from evofarm.evolution.operators.base import ModelChoice
from evofarm.fitness.scoring import FitnessConfig
from evofarm.fitness.suite import TaskSuite, load_suite
from evofarm.pipeline.loader import load_pipeline
from evofarm.pipeline.schema import Pipeline
from evofarm.pipeline.structure import provider_slots
from evofarm.pipeline.yaml_source import SourceMap, format_path, parse_yaml, read_text
from evofarm.providers.base import ProviderName
from evofarm.registry import ExtensionError, import_plugins
from evofarm.sandbox.limits import SandboxLimits

MAX_CAMPAIGN_BYTES = 1_000_000


class ProviderBinding(BaseModel):
    """Which provider (and pinned model) serves one slot for every candidate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: ProviderName
    model: str | None = None


def _known_slot(value: Any) -> str:
    slots = sorted(provider_slots())
    if not isinstance(value, str) or value not in slots:
        # Worded as a Literal would be, so the located message reads "expected ...".
        raise PydanticCustomError(
            "literal_error",
            "Input should be {expected}",
            {"expected": " or ".join(repr(s) for s in slots)},
        )
    return value


SlotName = Annotated[str, PlainValidator(_known_slot)]
"""A provider slot some registered LLM step type uses (from the step-type registry)."""


def _import_plugin(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError("plugin", "expected a module name")
    try:
        import_plugins([value])
    except ExtensionError as exc:
        raise PydanticCustomError("plugin", "{why}", {"why": str(exc)}) from None
    return value


PluginModule = Annotated[str, PlainValidator(_import_plugin)]
"""A module to import (it registers operators, checks, step types, ...): ``plugins:``."""


class ModelEntry(BaseModel):
    """One model of the catalogue, with its prices."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slot: SlotName
    model: str = Field(min_length=1)
    provider: ProviderName | None = None
    input_usd_per_mtok: float = Field(default=0.0, ge=0)
    output_usd_per_mtok: float = Field(default=0.0, ge=0)


class EconomyConfig(BaseModel):
    """The campaign's share of the fleet's LLM economy (``economy:``).

    ``rate_limits`` has the shape of ``EVOFARM_RATE_LIMITS`` and may only lower
    the farm's limits; ``max_output_tokens`` clamps every call's ``max_tokens``.
    ``cache_sampled`` lets the response cache answer calls at a positive
    temperature too (off: only temperature 0 is cached, since sampling
    variance is part of what an evaluation measures). ``share_evaluations``
    shares the campaign's evaluations with every campaign of the farm that
    opts in too (:mod:`evofarm.campaign.evaluation_cache`): for deterministic
    evaluators.
    Enforced by :mod:`evofarm.campaign.provider_stack`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate_limits: dict[str, dict[str, Any]] = Field(default_factory=dict)
    max_output_tokens: int | None = Field(default=None, ge=1)
    cache_sampled: bool = False
    share_evaluations: bool = False

    @model_validator(mode="after")
    def _limits_valid(self) -> EconomyConfig:
        from evofarm.providers.rate_limits import parse_rate_limits  # noqa: PLC0415

        try:
            parse_rate_limits(self.rate_limits)
        except ProviderConfigError as exc:  # pydantic locates a ValueError at the key
            raise ValueError(str(exc).replace("EVOFARM_RATE_LIMITS: ", "")) from None
        return self


class CampaignBudgets(BaseModel):
    """Limits on the whole campaign; ``None`` means unlimited.

    Crossing one stops the campaign after the generation in progress, with the
    budget's name recorded as the reason.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_evaluations: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_usd: float | None = Field(default=None, gt=0)
    max_wall_s: float | None = Field(default=None, gt=0)


class ApprovalPolicy(BaseModel):
    """How the campaign's winner is approved.

    ``manual``: the winner waits for a human (``pending``). ``auto``: approved
    when its fitness reaches ``min_fitness``, else ``rejected``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: Literal["manual", "auto"] = "manual"
    min_fitness: float = Field(default=0.9, ge=0, le=1)

    def decide(self, fitness: float | None) -> Literal["pending", "approved", "rejected"]:
        """The winner's approval state under this policy."""
        if self.policy == "manual":
            return "pending"
        return "approved" if fitness is not None and fitness >= self.min_fitness else "rejected"


# ---- llm: the proposer of LLM operators and genesis (issue 10) ----------------

LLM_OPERATORS = ("llm_mutation", "llm_crossover")


class ProposerConfig(BaseModel):
    """``proposer:``: the LLM that ``llm_mutation``/``llm_crossover`` ask.

    Attributes:
        provider: Any registered provider (``anthropic``, ``mock``, ``replay``, ...).
        model: Model id or alias (``haiku``); the provider's default if None.
        pipeline: Own mutation meta pipeline (relative to the campaign file),
            replacing ``pipelines/meta/reflective_mutation.yaml``; it gets the
            same inputs and must end in a step whose result is the reply.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: ProviderName
    model: str | None = Field(default=None, min_length=1)
    pipeline: str | None = Field(default=None, min_length=1)


class GenesisRequest(BaseModel):
    """``request:`` (instead of ``seeds:``): genesis makes the seeds from a request.

    Attributes:
        text: What the pipeline should do.
        proposals: Genesis proposals asked for; the valid ones are the seeds.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1, max_length=10_000)
    proposals: int = Field(default=4, ge=1, le=50)


# ---- end llm ------------------------------------------------------------------


# ---- issue 16 (scale): the collective memory ------------------------------------


class MemoryUse(BaseModel):
    """``memory:``: how a campaign uses the collective memory across campaigns.

    Attributes:
        use: Offer remembered winner fragments to feature insertion.
        offer: How many fragments are offered (most winners first).
        contribute: Mine this campaign's winner (and failures) when it ends.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    use: bool = False
    offer: int = Field(default=16, ge=1, le=256)
    contribute: bool = True


class CampaignSpec(BaseModel):
    """A validated campaign (see module docs). Paths are kept as written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # First field: its validator imports the plugin modules, so the operators,
    # strategies, checks and step types they register exist when the fields after
    # it (and the suite and seeds) are validated, in every process that loads it.
    plugins: list[PluginModule] = Field(default_factory=list)
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seeds: list[str] = Field(default_factory=list)
    suite: str = Field(min_length=1)
    fidelity: float = Field(default=1.0, gt=0, le=1)
    fitness: FitnessConfig = Field(default_factory=FitnessConfig)
    evolution: EvolutionConfig = Field(default_factory=EvolutionConfig)
    providers: dict[SlotName, ProviderBinding] = Field(default_factory=dict)
    models: list[ModelEntry] = Field(default_factory=list)
    budgets: CampaignBudgets = Field(default_factory=CampaignBudgets)
    economy: EconomyConfig = Field(default_factory=EconomyConfig)
    sandbox: SandboxLimits = Field(default_factory=SandboxLimits)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    memory: MemoryUse = Field(default_factory=MemoryUse, exclude_if=lambda m: m == MemoryUse())
    proposer: ProposerConfig | None = None
    request: GenesisRequest | None = None

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="after")
    def _models_unique(self) -> CampaignSpec:
        seen: set[tuple[str, str]] = set()
        for entry in self.models:
            key = (entry.slot, entry.model)
            if key in seen:
                raise ValueError(f"model {entry.model!r} listed twice for slot {entry.slot!r}")
            seen.add(key)
        return self

    @model_validator(mode="after")
    def _seeds_or_request(self) -> CampaignSpec:
        if self.seeds and self.request is not None:
            raise ValueError("give either 'seeds' or 'request', not both")
        if not self.seeds and self.request is None:
            raise ValueError("a campaign needs 'seeds' (pipeline files) or a 'request'")
        if self.request is not None and self.proposer is None:
            raise ValueError("'request' needs a 'proposer:' section to run genesis")
        return self

    @model_validator(mode="after")
    def _llm_operators_need_a_proposer(self) -> CampaignSpec:
        used = [n for n in LLM_OPERATORS if self.evolution.operators.get(n, 0) > 0]
        if used and self.proposer is None:
            raise ValueError(
                f"{', '.join(used)} need a 'proposer:' section "
                "(e.g. proposer: {provider: anthropic, model: claude-haiku-4-5})"
            )
        return self

    @property
    def base_dir(self) -> Path:
        """The directory relative paths are resolved against (the campaign file's)."""
        return self._base_dir

    def with_base_dir(self, base_dir: Path) -> CampaignSpec:
        """A copy resolving relative paths against ``base_dir``."""
        copy = self.model_copy()
        copy._base_dir = base_dir
        return copy

    def resolve(self, path: str) -> Path:
        """``path`` relative to the campaign file (absolute paths unchanged)."""
        candidate = Path(path)
        return (candidate if candidate.is_absolute() else self._base_dir / candidate).resolve()

    @property
    def seed_paths(self) -> list[Path]:
        """The seed pipeline files."""
        return [self.resolve(p) for p in self.seeds]

    @property
    def suite_path(self) -> Path:
        """The task suite file."""
        return self.resolve(self.suite)

    def load_seeds(self) -> list[Pipeline]:
        """Load every seed pipeline.

        Raises:
            PipelineLoadError, PipelineValidationError: a seed is not a valid pipeline.
        """
        return [load_pipeline(p) for p in self.seed_paths]

    def load_suite(self) -> TaskSuite:
        """Load the task suite.

        Raises:
            SuiteError: the suite file is not valid.
        """
        return load_suite(self.suite_path)

    def model_choices(self) -> tuple[ModelChoice, ...]:
        """The catalogue as operators see it."""
        return tuple(
            ModelChoice(
                slot=m.slot,
                model=m.model,
                provider=m.provider,
                input_usd_per_mtok=m.input_usd_per_mtok,
                output_usd_per_mtok=m.output_usd_per_mtok,
            )
            for m in self.models
        )


# ---------------------------------------------------------------- loading


def _data_path(data: Any, loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """The longest prefix of pydantic's ``loc`` that indexes the user's data."""
    path: list[str | int] = []
    current = data
    for part in loc:
        # Two branches (not one ``or``) so mypy narrows ``current`` and ``part`` in each.
        if isinstance(current, Mapping) and isinstance(part, str) and part in current:  # noqa: SIM114
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        elif isinstance(current, Mapping) and part not in current:
            # A missing key: point at its parent mapping, name the key in the message.
            path.append(part)
            break
        else:
            break
        path.append(part)
    return tuple(path)


def _known_keys(loc: Sequence[str | int]) -> list[str]:
    model: type[BaseModel] | None = CampaignSpec
    for part in loc[:-1]:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return []
        annotation = model.model_fields[part].annotation
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return list(model.model_fields) if model is not None else []


def _problem(error: Any, data: Any, source_map: SourceMap) -> CampaignSpecError:
    loc = tuple(error["loc"])
    path = _data_path(data, loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        message = f"unknown key {key!r}"
        close = difflib.get_close_matches(key, _known_keys(loc), n=1, cutoff=0.6)
        message += f" (did you mean {close[0]!r}?)" if close else ""
        return CampaignSpecError(message, source_map.location(path, prefer_key=True))
    if kind == "missing":
        where = source_map.location(path[:-1])
        location = Location(where.file, where.line, where.column, format_path(path))
        return CampaignSpecError(f"missing required key {str(loc[-1])!r}", location)
    message = str(error["msg"]).removeprefix("Value error, ")
    message = message.replace("Input should be", "expected")
    return CampaignSpecError(message, source_map.location(path))


def campaign_from_data(data: Any, source_map: SourceMap, base_dir: Path) -> CampaignSpec:
    """Validate parsed campaign data; check that its files exist.

    Raises:
        CampaignSpecError: the first problem (by position in the file).
    """
    if not isinstance(data, Mapping):
        raise CampaignSpecError(
            "a campaign must be a mapping with 'name', 'seeds' and 'suite'",
            Location(file=source_map.file),
        )
    try:
        spec = CampaignSpec.model_validate(data).with_base_dir(base_dir)
    except ValidationError as exc:
        problems = [_problem(e, data, source_map) for e in exc.errors(include_url=False)]
        problems.sort(key=lambda p: (p.location.line or 0, p.location.column or 0))
        first = problems[0]
        if len(problems) > 1:
            raise CampaignSpecError(
                f"{first.message} (and {len(problems) - 1} more problem"
                f"{'s' if len(problems) > 2 else ''})",
                first.location,
            ) from None
        raise first from None
    for i, path in enumerate(spec.seed_paths):
        if not path.is_file():
            raise CampaignSpecError(
                f"seed pipeline {path} does not exist", source_map.location(("seeds", i))
            )
    own = spec.proposer.pipeline if spec.proposer is not None else None
    if own is not None and not spec.resolve(own).is_file():
        raise CampaignSpecError(
            f"proposer pipeline {spec.resolve(own)} does not exist",
            source_map.location(("proposer", "pipeline")),
        )
    if not spec.suite_path.is_file():
        raise CampaignSpecError(
            f"suite {spec.suite_path} does not exist", source_map.location(("suite",))
        )
    return spec


def load_campaign(path: str | Path) -> CampaignSpec:
    """Load and validate a campaign file; relative paths resolve against its directory.

    Raises:
        CampaignSpecError: unreadable file, YAML error, unknown or missing key, bad
            value, or a seed/suite file that does not exist (file, line and key).
    """
    path = Path(path)
    text = read_text(path, max_bytes=MAX_CAMPAIGN_BYTES, error=CampaignSpecError)
    data, source_map = parse_yaml(text, str(path), error=CampaignSpecError)
    return campaign_from_data(data, source_map, path.resolve().parent)

"""The step-type registry: the single source of which step types exist.

A step type is a :class:`StepType` record: its name (the ``type:`` key), its
schema model (a :class:`~evofarm.pipeline.schema_base.StepBase` subclass whose
``type`` is a ``Literal`` of that name), its implementation ``(step, ctx) ->
result`` and the facts other layers need about it (does it call an LLM, which
keys hold nested step lists, may it run without a thread). Adding a step type,
inside evofarm or from a user's package, is one module that calls
:func:`register_step_type` when imported; the registry finds it through the
``evofarm.steps`` entry-point group or ``EVOFARM_PLUGINS``
(see :mod:`evofarm.registry`).

:data:`Step` is the annotation of every step list in the schema: it validates a
mapping against the model registered for its ``type`` (so registered types load
without any edit to the schema) and serialises each step with its own model.
Errors keep pydantic's shape and location (``steps.2.prompt.0``); an unknown or
missing ``type`` is a ``union_tag_invalid`` / ``union_tag_not_found`` error as a
discriminated union gives, which :mod:`evofarm.pipeline.schema_errors` words.

Thread safety: the registry locks; records are immutable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import SerializeAsAny, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import PydanticCustomError

from evofarm.pipeline.schema_base import LLMStep, StepBase
from evofarm.registry import ExtensionError, Registry

StepImpl = Callable[[Any, Any], Any]
"""``(step model, StepContext) -> result`` (see :mod:`evofarm.pipeline.steps.registry`)."""

#: Modules of evofarm that register the built-in step types. ``pipeline_executor``
#: lives in the fitness layer; naming it by module string keeps the import direction
#: (nothing in the language imports fitness until the registry is first asked).
BUILTIN_MODULES: tuple[str, ...] = (
    "evofarm.pipeline.steps.llm",
    "evofarm.pipeline.steps.extract",
    "evofarm.pipeline.steps.batch",
    "evofarm.pipeline.steps.control",
    "evofarm.pipeline.steps.for_loop",
    "evofarm.pipeline.steps.loop_control",
    "evofarm.pipeline.steps.data",
    "evofarm.pipeline.steps.files",
    "evofarm.pipeline.steps.nested",
    "evofarm.fitness.pipeline_executor_step",
)


@dataclass(frozen=True)
class StepType:
    """Everything evofarm knows about one step type.

    Attributes:
        name: The ``type:`` value.
        model: The schema model; its ``type`` field is ``Literal[name]``.
        impl: ``(step, ctx) -> result``; raises ``ExecutionError`` (usually
            ``StepFailed``) when the step fails.
        calls_llm: Steps of this type call an LLM (default: the model derives
            from :class:`~evofarm.pipeline.schema_base.LLMStep`).
        provider_slot: The provider slot its calls use (default: the model's
            ``provider_slot`` for LLM steps, else None).
        bodies: Keys whose value is a list of nested steps run in the same
            scope (loop bodies), e.g. ``("steps",)``.
        inline: The step never blocks and its work is capped, so the executor
            runs it without a thread.
    """

    name: str
    model: type[StepBase]
    impl: StepImpl
    calls_llm: bool | None = None
    provider_slot: str | None = None
    bodies: tuple[str, ...] = ()
    inline: bool = False

    def __post_init__(self) -> None:
        declared = model_type_name(self.model)
        if declared != self.name:
            raise ExtensionError(
                f"step type {self.name!r}: its model {self.model.__name__} declares "
                f"type {declared!r}"
            )
        model: type[StepBase] = self.model
        if self.calls_llm is None:
            object.__setattr__(self, "calls_llm", issubclass(model, LLMStep))
        if self.provider_slot is None and issubclass(model, LLMStep):
            object.__setattr__(self, "provider_slot", model.provider_slot)


def model_type_name(model: type[StepBase]) -> str:
    """The name in a step model's ``type: Literal[...]``.

    Raises:
        ExtensionError: the model is not a ``StepBase`` with a one-value ``Literal`` type.
    """
    if not (isinstance(model, type) and issubclass(model, StepBase)):
        raise ExtensionError(f"a step type's model must be a StepBase subclass, got {model!r}")
    args: tuple[object, ...] = getattr(model.model_fields["type"].annotation, "__args__", ())
    name = args[0] if len(args) == 1 else None
    if not isinstance(name, str):
        raise ExtensionError(f"step model {model.__name__} needs 'type: Literal[\"name\"]'")
    return name


STEP_REGISTRY: Registry[StepType] = Registry("step type", "evofarm.steps", BUILTIN_MODULES)
"""Step type name -> :class:`StepType`."""


def register_step_type(step_type: StepType, *, replace: bool = False) -> StepType:
    """Register ``step_type`` under its name and return it.

    Raises:
        ExtensionError: the name is taken by another record and ``replace`` is false.
    """
    return STEP_REGISTRY.register(step_type.name, step_type, replace=replace)


def step_type(name: str) -> StepType:
    """The record of step type ``name``.

    Raises:
        UnknownExtension: no such step type (a ``KeyError`` and a ``FarmError``).
    """
    return STEP_REGISTRY.get(name)


def step_models() -> dict[str, type[StepBase]]:
    """Step type name -> model, in registration order."""
    return {name: record.model for name, record in STEP_REGISTRY.items().items()}


def llm_step_types() -> frozenset[str]:
    """Names of the step types that call an LLM."""
    return frozenset(name for name, record in STEP_REGISTRY.items().items() if record.calls_llm)


def _expected_tags(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _validate_step(value: Any, handler: ValidatorFunctionWrapHandler) -> StepBase:
    """Validate one step against the model registered for its ``type``."""
    del handler  # the declared StepBase schema is never used for input
    records = STEP_REGISTRY.items()
    if isinstance(value, StepBase):
        record = records.get(value.type)
        if record is not None and isinstance(value, record.model):
            return value
        value = value.model_dump(by_alias=True, exclude_unset=True)
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
        )
    if "type" not in value:
        raise PydanticCustomError(
            "union_tag_not_found",
            "Unable to extract tag using discriminator {discriminator}",
            {"discriminator": "'type'"},
        )
    tag = value["type"]
    record = records.get(tag) if isinstance(tag, str) else None
    if record is None:
        raise PydanticCustomError(
            "union_tag_invalid",
            "Input tag '{tag}' found using {discriminator} does not match any of the "
            "expected tags: {expected_tags}",
            {
                "discriminator": "'type'",
                "tag": str(tag),
                "expected_tags": _expected_tags(list(records)),
            },
        )
    return record.model.model_validate(value)


Step = Annotated[SerializeAsAny[StepBase], WrapValidator(_validate_step)]
"""Any registered step: validated by its type's model, dumped with its own fields."""


__all__ = [
    "BUILTIN_MODULES",
    "STEP_REGISTRY",
    "Step",
    "StepImpl",
    "StepType",
    "llm_step_types",
    "model_type_name",
    "register_step_type",
    "step_models",
    "step_type",
]

"""The registry of check types (kind ``check``, group ``evofarm.checks``) and the ``Check`` type.

The single source of the ``type`` values a suite's checks may take: the suite
loader validates against it (:data:`Check` looks the class up when a check is
parsed, so a check type registered by a plugin is accepted by every suite
loaded afterwards) and messages list its names. A check type is a
:class:`~evofarm.fitness.check_base.CheckBase` subclass with a ``Literal``
``type`` default, decorated with :func:`register_check_type`, in one module:
the built-in ones are :mod:`evofarm.fitness.checks` (imported on the first
lookup); a plugin module is named by an ``evofarm.checks`` entry point or in
``EVOFARM_PLUGINS``.

Custom predicates (``type: custom, name: X``) are a separate, finer registry:
:mod:`evofarm.fitness.predicates`.

Thread safety: that of :class:`~evofarm.registry.Registry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import PlainValidator, SerializeAsAny

from evofarm.fitness.check_base import CheckBase
from evofarm.fitness.suite_errors import LocatedValueError
from evofarm.registry import ExtensionError, Registry, UnknownExtension

C = TypeVar("C", bound=CheckBase)

CHECKS: Registry[type[CheckBase]] = Registry("check", "evofarm.checks", ("evofarm.fitness.checks",))
"""Check type name -> its model class."""


def register_check_type(cls: type[C]) -> type[C]:
    """Class decorator: register ``cls`` under its ``type`` field's default.

    Raises:
        ExtensionError: ``cls`` has no string ``type`` default, or the name is
            taken by another class.
    """
    name = cls.model_fields["type"].default
    if not isinstance(name, str) or not name:
        raise ExtensionError(f"check class {cls.__qualname__} needs a Literal 'type' default")
    try:
        CHECKS.register(name, cls)
    except ExtensionError:
        # The same module imported twice defines an equal class: not a clash.
        current = CHECKS.get(name)
        if (current.__module__, current.__qualname__) != (cls.__module__, cls.__qualname__):
            raise
    return cls


def check_type(name: str) -> type[CheckBase]:
    """The model class of check type ``name``.

    Raises:
        UnknownExtension: no such check type (a ``KeyError``; "did you mean" and
            the known names in the message).
    """
    return CHECKS.get(name)


def parse_check(data: Any) -> CheckBase:
    """Validate one check's data as the class its ``type`` names.

    A :class:`CheckBase` instance passes through unchanged.

    Raises:
        LocatedValueError: ``type`` is missing or unknown (pointing at it); the
            class's own validation errors propagate with their key paths.
    """
    if isinstance(data, CheckBase):
        return data
    if not isinstance(data, Mapping) or "type" not in data:
        raise LocatedValueError((), f"a check needs 'type' (one of {', '.join(CHECKS.names())})")
    name = data["type"]
    if not isinstance(name, str) or name not in CHECKS:
        unknown = UnknownExtension("check type", str(name), CHECKS.names())
        raise LocatedValueError(("type",), unknown.message)
    return CHECKS.get(name).model_validate(data)


Check = Annotated[SerializeAsAny[CheckBase], PlainValidator(parse_check)]
"""A check of any registered type (validated by :func:`parse_check`)."""

"""``{{ ... }}`` templates with pipeline_ex semantics.

- A string that is exactly one ``{{expr}}`` (surrounding blanks allowed) resolves to
  the expression's value with its type: ``"{{inputs.count}}"`` gives ``3``, not
  ``"3"``.
- Otherwise every ``{{expr}}`` in the string is replaced by its value as text:
  strings as they are, numbers in decimal, ``true``/``false``, ``null`` as the
  empty string, lists and mappings as JSON.
- Mappings and lists are resolved element by element; other values pass through.
- An unresolved reference stays literal (``{{ timestamp }}`` is left as written),
  as in pipeline_ex; with ``strict=True`` it raises :class:`TemplateError` naming
  the reference. A malformed or ill-typed expression (``{{multiply(a, 'x')}}``)
  likewise stays literal, or raises in strict mode.
- Values inserted are never re-scanned for templates.

The expression language is documented in :mod:`evofarm.pipeline.expressions`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from evofarm.errors import TemplateError
from evofarm.pipeline.expressions import ExpressionError, evaluate, unresolved_reference
from evofarm.pipeline.scope import Scope

TEMPLATE_PATTERN: Final = re.compile(r"\{\{([^{}]*)\}\}")
# A rendered string may not grow past this (many references to one big value).
MAX_RENDERED_CHARS: Final = 10_000_000
# Nested data deeper than this is not walked (YAML from users is far shallower).
_MAX_DEPTH: Final = 100


def has_template(value: Any) -> bool:
    """Whether a string contains at least one ``{{ ... }}``."""
    return isinstance(value, str) and TEMPLATE_PATTERN.search(value) is not None


def to_text(value: Any) -> str:
    """The text a value becomes when inserted into a string.

    Raises:
        TemplateError: the value cannot be written as text (an integer past Python's
            digit cap, data nested too deeply).
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError as exc:  # beyond Python's int->str digit cap
            raise TemplateError(f"number too large to render: {exc}") from None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    try:
        # NaN/Infinity are written as JavaScript does: this is prompt text, not JSON.
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError) as exc:
        raise TemplateError(f"value cannot be rendered as text: {exc}") from None


def _expression_value(expression: str, scope: Scope, *, strict: bool) -> tuple[bool, Any]:
    """(resolved?, value) of one expression; raises only in strict mode."""
    try:
        value = evaluate(expression, scope)
    except ExpressionError as exc:
        if strict:
            raise TemplateError(f"template {{{{{expression.strip()}}}}}: {exc}") from None
        return False, None
    reference = unresolved_reference(value)
    if reference is not None:
        if strict:
            raise TemplateError(
                f"unresolved reference {reference!r} in template {{{{{expression.strip()}}}}}"
            )
        return False, None
    return True, value


def render(text: str, scope: Scope, *, strict: bool = False) -> str:
    """Replace every ``{{expr}}`` in ``text`` by its value as text.

    Raises:
        TemplateError: strict mode and a reference does not resolve or an
            expression is malformed; or the result is larger than
            :data:`MAX_RENDERED_CHARS` (in any mode).
    """
    pieces: list[str] = []
    size = 0
    last = 0
    for match in TEMPLATE_PATTERN.finditer(text):
        pieces.append(text[last : match.start()])
        resolved, value = _expression_value(match.group(1), scope, strict=strict)
        piece = to_text(value) if resolved else match.group(0)
        pieces.append(piece)
        size += match.start() - last + len(piece)
        if size > MAX_RENDERED_CHARS:
            raise TemplateError(f"rendered template longer than {MAX_RENDERED_CHARS} characters")
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)


def resolve_string(text: str, scope: Scope, *, strict: bool = False) -> Any:
    """Resolve one string: a whole-expression string keeps the value's type."""
    whole = TEMPLATE_PATTERN.fullmatch(text.strip())
    if whole is not None:
        resolved, value = _expression_value(whole.group(1), scope, strict=strict)
        return value if resolved else text
    if "{{" not in text:
        return text
    return render(text, scope, strict=strict)


def resolve(value: Any, scope: Scope, *, strict: bool = False) -> Any:
    """Resolve every template inside ``value`` (strings, lists, mappings).

    Mapping keys are not templated. The input is not modified.

    Raises:
        TemplateError: strict mode and a reference does not resolve or an
            expression is malformed; a rendered string too large; data nested
            more than 100 levels deep.
    """
    return _resolve(value, scope, strict, 0)


def _resolve(value: Any, scope: Scope, strict: bool, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise TemplateError(f"data nested more than {_MAX_DEPTH} levels deep")
    if isinstance(value, str):
        return resolve_string(value, scope, strict=strict)
    if isinstance(value, dict):
        return {k: _resolve(v, scope, strict, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve(v, scope, strict, depth + 1) for v in value]
    return value

"""The small expression language inside ``{{ ... }}`` and condition operands.

Grammar (pipeline_ex's, made precise)::

    expr     := operand [OP operand]          one arithmetic operator at most
    OP       := "+" | "-" | "*" | "/"
    operand  := NUMBER | STRING | "true" | "false" | "null" | call | reference
    call     := NAME "(" [expr ("," expr)*] ")"   NAME in FUNCTIONS
    reference:= dotted path (see :mod:`evofarm.pipeline.scope`)
              | "previous_response:" STEP [(":" | ".") path]

Functions: ``multiply, add, subtract, divide, max, min, round, floor, ceil``.
Arithmetic works on numbers and numeric strings (``"3"``), never on booleans.

:func:`evaluate` returns the value, or :data:`~evofarm.pipeline.scope.MISSING`
when a reference does not resolve (the caller decides what that means), and
raises :class:`ExpressionError` for anything malformed or ill-typed. It never
raises anything else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from evofarm.pipeline.scope import MISSING, Scope

MAX_EXPRESSION_CHARS: Final = 2_000
# Python refuses int<->str conversions past ~4300 digits; stay well inside that.
_MAX_INT_DIGITS: Final = 1_000


_INT_TEXT: Final = re.compile(rf"-?[0-9]{{1,{_MAX_INT_DIGITS}}}")


class ExpressionError(Exception):
    """An expression is malformed or its operands have the wrong type.

    ``reference`` names the reference that failed to resolve, when that is the
    cause; internal to the pipeline package (callers turn it into a FarmError).
    """

    def __init__(self, message: str, reference: str | None = None) -> None:
        self.reference = reference
        super().__init__(message)


_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<number>-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?(?![\w.]))
     |(?P<string>'[^']*'|"[^"]*")
     |(?P<prev>previous_response:[\w\-]+(?:[.:][\w\-]+)*)
     |(?P<name>[A-Za-z_][\w\-]*(?:\.[\w\-]+)*)
     |(?P<op>[+\-*/])
     |(?P<lparen>\()
     |(?P<rparen>\))
     |(?P<comma>,)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokenize(expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    text = expression.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ExpressionError(f"unexpected text {text[pos : pos + 20]!r}")
        kind = match.lastgroup
        assert kind is not None  # every alternative is a named group
        token_text = match.group(kind)
        # "a -1" is "a - 1": a number token right after an operand is an operator.
        negative = kind == "number" and token_text.startswith("-")
        if negative and tokens and _is_operand_end(tokens[-1]):
            tokens.append(_Token("op", "-"))
            token_text = token_text[1:]
        tokens.append(_Token(kind, token_text))
        pos = match.end()
    return tokens


def _is_operand_end(token: _Token) -> bool:
    return token.kind in ("number", "string", "prev", "name", "rparen")


def _as_number(value: Any, what: str) -> int | float:
    if isinstance(value, bool) or value is None:
        raise ExpressionError(f"{what} is not a number: {value!r}")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _INT_TEXT.fullmatch(text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            raise ExpressionError(f"{what} is not a number: {value!r}") from None
        if math.isfinite(number):
            return number
    raise ExpressionError(f"{what} is not a number: {_short(value)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _checked(result: int | float) -> int | float:
    if isinstance(result, float) and not math.isfinite(result):
        raise ExpressionError("arithmetic result is not finite")
    if isinstance(result, int) and result.bit_length() > _MAX_INT_DIGITS * 3:
        raise ExpressionError("arithmetic result is too large")
    return result


def _divide(a: int | float, b: int | float) -> int | float:
    if b == 0:
        raise ExpressionError("division by zero")
    if isinstance(a, int) and isinstance(b, int) and a % b == 0:
        return a // b
    return a / b


def _binary(op: str, left: Any, right: Any) -> int | float:
    a = _as_number(left, f"left operand of {op!r}")
    b = _as_number(right, f"right operand of {op!r}")
    if op == "+":
        return _checked(a + b)
    if op == "-":
        return _checked(a - b)
    if op == "*":
        return _checked(a * b)
    return _checked(_divide(a, b))


def _fold(op: str) -> Callable[[list[Any]], int | float]:
    def apply(args: list[Any]) -> int | float:
        if len(args) < 2:
            raise ExpressionError(f"needs at least 2 arguments, got {len(args)}")
        result: int | float = _as_number(args[0], "argument 1")
        for i, arg in enumerate(args[1:], start=2):
            result = _binary(op, result, _as_number(arg, f"argument {i}"))
        return result

    return apply


def _numbers(args: list[Any]) -> list[int | float]:
    # max/min accept either several numbers or one list of numbers.
    items = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    if not items:
        raise ExpressionError("needs at least 1 argument")
    return [_as_number(v, f"argument {i + 1}") for i, v in enumerate(items)]


def _round(args: list[Any]) -> int | float:
    if len(args) not in (1, 2):
        raise ExpressionError(f"takes 1 or 2 arguments, got {len(args)}")
    number = _as_number(args[0], "argument 1")
    if len(args) == 1:
        return round(number)
    digits = _as_number(args[1], "argument 2")
    if not isinstance(digits, int) or not 0 <= digits <= 15:
        raise ExpressionError("digits must be an integer from 0 to 15")
    return round(number, digits) if digits else round(number)


def _unary(fn: Callable[[float], int]) -> Callable[[list[Any]], int | float]:
    def apply(args: list[Any]) -> int | float:
        if len(args) != 1:
            raise ExpressionError(f"takes 1 argument, got {len(args)}")
        number = _as_number(args[0], "argument 1")
        return number if isinstance(number, int) else fn(number)

    return apply


FUNCTIONS: Final[dict[str, Callable[[list[Any]], int | float]]] = {
    "multiply": _fold("*"),
    "add": _fold("+"),
    "subtract": _fold("-"),
    "divide": _fold("/"),
    "max": lambda args: max(_numbers(args)),
    "min": lambda args: min(_numbers(args)),
    "round": _round,
    "floor": _unary(math.floor),
    "ceil": _unary(math.ceil),
}


class _Parser:
    """Recursive descent over the token list; evaluates as it parses."""

    def __init__(self, tokens: list[_Token], scope: Scope) -> None:
        self.tokens = tokens
        self.pos = 0
        self.scope = scope

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str) -> _Token:
        token = self.peek()
        if token is None or token.kind != kind:
            found = "end of expression" if token is None else repr(token.text)
            raise ExpressionError(f"expected {kind}, found {found}")
        self.pos += 1
        return token

    def expression(self) -> Any:
        left = self.operand()
        token = self.peek()
        if token is None or token.kind != "op":
            return left
        self.pos += 1
        right = self.operand()
        following = self.peek()
        if following is not None and following.kind == "op":
            raise ExpressionError("only one arithmetic operator is allowed per expression")
        return self.apply_binary(token.text, left, right)

    def apply_binary(self, op: str, left: Any, right: Any) -> Any:
        """The value of ``left OP right``."""
        return _binary(op, left, right)

    def apply_call(self, name: str, args: list[Any]) -> Any:
        """The value of ``name(args)`` (``name`` is a known function)."""
        try:
            return FUNCTIONS[name](args)
        except ExpressionError as exc:
            raise ExpressionError(f"{name}(): {exc}") from None
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise ExpressionError(f"{name}(): {exc}") from None

    def operand(self) -> Any:
        token = self.peek()
        if token is None:
            raise ExpressionError("expected a value, found end of expression")
        self.pos += 1
        if token.kind == "number":
            return _as_number(token.text, "number")
        if token.kind == "string":
            return token.text[1:-1]
        if token.kind == "prev":
            return self.previous_response(token.text)
        if token.kind == "name":
            following = self.peek()
            if following is not None and following.kind == "lparen":
                return self.call(token.text)
            return self.reference(token.text)
        raise ExpressionError(f"unexpected {token.text!r}")

    def reference(self, name: str) -> Any:
        literals: dict[str, Any] = {"true": True, "false": False, "null": None, "nil": None}
        if name in literals:
            return literals[name]
        value = self.scope.lookup(name)
        if value is MISSING:
            raise _Unresolved(name)
        return value

    def previous_response(self, text: str) -> Any:
        spec = text.split(":", 1)[1]
        parts = re.split(r"[.:]", spec)
        value = self.scope.step_value(parts[0], parts[1:])
        if value is MISSING:
            raise _Unresolved(text)
        return value

    def call(self, name: str) -> Any:
        if name not in FUNCTIONS:
            raise ExpressionError(
                f"unknown function {name!r} (known: {', '.join(sorted(FUNCTIONS))})"
            )
        self.take("lparen")
        args: list[Any] = []
        token = self.peek()
        if token is not None and token.kind == "rparen":
            self.pos += 1
        else:
            while True:
                args.append(self.expression())
                closing = self.peek()
                if closing is not None and closing.kind == "comma":
                    self.pos += 1
                    continue
                self.take("rparen")
                break
        return self.apply_call(name, args)


class _SyntaxParser(_Parser):
    """Parses without evaluating: references, operators and calls give None."""

    def reference(self, name: str) -> Any:
        return None

    def previous_response(self, text: str) -> Any:
        return None

    def apply_binary(self, op: str, left: Any, right: Any) -> Any:
        return None

    def apply_call(self, name: str, args: list[Any]) -> Any:
        return None


def check_syntax(expression: str) -> None:
    """Check that ``expression`` is well formed, without evaluating it (load time).

    Raises:
        ExpressionError: too long, malformed, or names an unknown function.
    """
    _parse(expression, _SyntaxParser)


class _Unresolved(Exception):
    """A reference did not resolve; unwinds to :func:`evaluate`."""

    def __init__(self, reference: str) -> None:
        self.reference = reference
        super().__init__(reference)


def evaluate(expression: str, scope: Scope) -> Any:
    """Evaluate one expression against ``scope``.

    Returns:
        The value, or ``MISSING`` if a reference in it does not resolve.

    Raises:
        ExpressionError: the expression is malformed, names an unknown function,
            or applies arithmetic to something that is not a number.
    """
    try:
        return _parse(expression, _Parser, scope)
    except _Unresolved as exc:
        return _MissingReference(exc.reference)


def _parse(expression: str, parser_class: type[_Parser], scope: Scope | None = None) -> Any:
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    tokens = _tokenize(expression)
    if not tokens:
        raise ExpressionError("empty expression")
    parser = parser_class(tokens, scope if scope is not None else Scope())
    try:
        value = parser.expression()
    except RecursionError:
        raise ExpressionError("expression nested too deeply") from None
    if parser.peek() is not None:
        token = parser.peek()
        assert token is not None
        raise ExpressionError(f"unexpected {token.text!r} after the expression")
    return value


class _MissingReference:
    """Returned by :func:`evaluate` for an unresolved reference; falsy like MISSING."""

    def __init__(self, reference: str) -> None:
        self.reference = reference

    def __bool__(self) -> bool:
        return False


def unresolved_reference(value: Any) -> str | None:
    """The reference name if ``value`` is :func:`evaluate`'s "did not resolve" result."""
    if isinstance(value, _MissingReference):
        return value.reference
    if value is MISSING:
        return "<unknown>"
    return None

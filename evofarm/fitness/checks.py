"""The built-in checks: what a suite says good output is.

Every check is a pydantic model registered by its ``type``
(:mod:`evofarm.fitness.check_registry`; a plugin adds a type the same way,
from its own module) and shares three
keys: ``required`` (a *gate*: the judge formula's ``gates`` term is the share
of required checks passed), ``path`` (which field of the run to look at, see
:mod:`evofarm.fitness.paths`; default the final output) and ``label`` (a
name for reports). Types:

* ``equals``: ``value`` (any JSON), ``normalize`` (collapse whitespace),
  ``case_insensitive``. Text output is parsed as JSON when ``value`` is not
  text, so ``value: 42`` matches the output ``"42"``.
  For a text ``value`` the result's score is a graded similarity (1.0 when
  equal, else the normalised edit similarity): the search ranks candidates
  that fail the same cases by it; the fitness never reads it.
* ``similarity``: ``value`` (text) with ``metric`` (``edit`` or ``token``) and
  ``threshold`` (default 0.8): passes when the output is at least that similar
  (partial credit in the fitness); ``normalize`` and ``case_insensitive`` as
  for ``equals``.
* ``contains``: ``value`` (text) is a substring; for list output, an element.
* ``regex``: ``pattern`` searched (or ``mode: fullmatch``) with ``flags``
  (letters of ``imsx``), guarded against catastrophic backtracking and capped
  in input size by :mod:`evofarm.pipeline.regex_guard` (shared with the
  ``transform`` step).
* ``json_schema``: ``schema`` (checked when the suite loads); text output is
  parsed as JSON first.
* ``numeric``: ``value`` within ``abs_tol`` or ``rel_tol``
  (:func:`math.isclose`); ``extract`` takes the first number in text.
* ``one_of``: equals any of ``values``.
* ``custom``: the predicate registered under ``name`` with ``params``
  (:mod:`evofarm.fitness.predicates`).
* ``llm_judge``: asks a judge model to score the output; passes when
  ``score / max_score >= min_score``. It needs a judge provider in the
  :class:`CheckContext`, so it is used only when one is configured.

Evaluating a check never raises for anything the candidate produced: a
missing path, unparseable text or a predicate that throws is a failed check
with a detail. Provider infrastructure errors from the judge do propagate
(the farm retries them).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import SchemaError
from pydantic import Field, PrivateAttr, ValidationInfo, field_validator

from evofarm.errors import ProviderError
from evofarm.fitness.check_base import CheckBase, CheckContext, CheckResult
from evofarm.fitness.check_registry import Check, register_check_type
from evofarm.fitness.llm_judge import as_text, parse_score, render_judge_prompt
from evofarm.fitness.paths import PathNotFound, select_path
from evofarm.fitness.predicates import PredicateError, get_predicate
from evofarm.fitness.similarity import Metric, similarity
from evofarm.pipeline.regex_guard import (
    MAX_REGEX_INPUT_CHARS,
    GuardedPattern,
    RegexTimeout,
    UnsafePattern,
    compile_guarded,
    flags_value,
)
from evofarm.providers.base import LLMRequest

__all__ = [
    "Check",
    "CheckBase",
    "CheckContext",
    "CheckResult",
    "ContainsCheck",
    "CustomCheck",
    "EqualsCheck",
    "JsonSchemaCheck",
    "LlmJudgeCheck",
    "NumericCheck",
    "OneOfCheck",
    "RegexCheck",
    "run_check",
]

DETAIL_CHARS = 300


def _short(text: str) -> str:
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 3] + "..."


def _fold(text: str, normalize: bool, case_insensitive: bool) -> str:
    if normalize:
        text = " ".join(text.split())
    if case_insensitive:
        text = text.casefold()
    return text


def _equal(actual: Any, expected: Any, normalize: bool, case_insensitive: bool) -> bool:
    """Equality with the text/JSON coercions documented for ``equals``."""
    if isinstance(expected, str):
        return _fold(as_text(actual), normalize, case_insensitive) == _fold(
            expected, normalize, case_insensitive
        )
    if isinstance(actual, str):
        try:
            actual = json.loads(actual)
        except ValueError:
            return False
    # bool is an int in Python; True must not equal 1 here.
    if isinstance(actual, bool) != isinstance(expected, bool):
        return False
    return bool(actual == expected)


@register_check_type
class EqualsCheck(CheckBase):
    type: Literal["equals"] = "equals"
    value: Any
    normalize: bool = False
    case_insensitive: bool = False

    def test(self, value: Any, ctx: CheckContext) -> tuple[bool, str, float | None]:
        ok = _equal(value, self.value, self.normalize, self.case_insensitive)
        detail = "" if ok else f"got {as_text(value)!r}, expected {as_text(self.value)!r}"
        # A graded score for the search (never for the fitness): how close text came.
        score = None
        if isinstance(self.value, str):
            score = (
                1.0
                if ok
                else similarity(
                    _fold(as_text(value), self.normalize, self.case_insensitive),
                    _fold(self.value, self.normalize, self.case_insensitive),
                )
            )
        return ok, detail, score


@register_check_type
class SimilarityCheck(CheckBase):
    """Partial credit: passes when the output is at least ``threshold`` similar to ``value``.

    ``metric`` is ``edit`` (normalised edit distance) or ``token`` (token
    overlap), see :mod:`evofarm.fitness.similarity`; the score is the similarity.
    """

    type: Literal["similarity"] = "similarity"
    value: str
    metric: Metric = "edit"
    threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    normalize: bool = False
    case_insensitive: bool = False

    def test(self, value: Any, ctx: CheckContext) -> tuple[bool, str, float | None]:
        score = similarity(
            _fold(as_text(value), self.normalize, self.case_insensitive),
            _fold(self.value, self.normalize, self.case_insensitive),
            self.metric,
        )
        ok = score >= self.threshold
        detail = "" if ok else f"{self.metric} similarity {score:.3f} < {self.threshold}"
        return ok, detail, score


@register_check_type
class ContainsCheck(CheckBase):
    type: Literal["contains"] = "contains"
    value: str
    normalize: bool = False
    case_insensitive: bool = False

    def test(self, value: Any, ctx: CheckContext) -> tuple[bool, str, float | None]:
        if isinstance(value, list):
            ok = any(_equal(v, self.value, self.normalize, self.case_insensitive) for v in value)
        else:
            hay = _fold(as_text(value), self.normalize, self.case_insensitive)
            ok = _fold(self.value, self.normalize, self.case_insensitive) in hay
        return ok, "" if ok else f"{self.value!r} not in {as_text(value)!r}", None


@register_check_type
class RegexCheck(CheckBase):
    type: Literal["regex"] = "regex"
    # Declared before ``pattern`` so the pattern's validator can see the flags.
    flags: str = ""
    pattern: str
    mode: Literal["search", "fullmatch"] = "search"
    _compiled: GuardedPattern | None = PrivateAttr(default=None)

    @field_validator("flags")
    @classmethod
    def _valid_flags(cls, value: str) -> str:
        try:
            flags_value(value)
        except UnsafePattern as exc:
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("pattern")
    @classmethod
    def _safe_pattern(cls, value: str, info: ValidationInfo) -> str:
        try:
            compile_guarded(value, info.data.get("flags", ""))
        except UnsafePattern as exc:
            raise ValueError(str(exc)) from exc
        return value

    def model_post_init(self, context: Any, /) -> None:
        # Validated above; compile_guarded caches, so this is a lookup.
        self._compiled = compile_guarded(self.pattern, self.flags)

    def test(self, value: Any, ctx: CheckContext) -> tuple[bool, str, float | None]:
        assert self._compiled is not None  # set in model_post_init
        text = as_text(value)
        if len(text) > MAX_REGEX_INPUT_CHARS:
            limit = MAX_REGEX_INPUT_CHARS
            return False, f"output has {len(text)} characters; regex limit {limit}", None
        compiled = self._compiled
        try:
            match = compiled.fullmatch(text) if self.mode == "fullmatch" else compiled.search(text)
        except RegexTimeout as exc:
            # The candidate's output is the subject: a hostile one fails the check, fast.
            return False, exc.message, None
        ok = match is not None
        return ok, "" if ok else f"{self.pattern!r} does not match {text!r}", None


@register_check_type
class JsonSchemaCheck(CheckBase):
    type: Literal["json_schema"] = "json_schema"
    json_schema: dict[str, Any] = Field(alias="schema")
    _validator: Any = PrivateAttr(default=None)

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            jsonschema.validators.validator_for(value).check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"invalid JSON schema: {exc.message}") from exc
        return value

    def test(self, value: Any, ctx: CheckContext) -> tuple[bool, str, float | None]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                return False, f"output is not JSON: {exc}", None
        if self._validator is None:
            # Building a validator resolves the metaschema; once per check is enough.
            validator_cls = jsonschema.validators.validator_for(self.json_schema)
            self._validator = validator_cls(self.json_schema)
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
        if error is None:
            return True, "", None
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        return False, f"{where}: {error.message}", None


_FIRST_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@register_check_type
class NumericCheck(CheckBase):
    type: Literal["numeric"] = "numeric"
    value: float
    abs_tol: float = Field(default=0.0, ge=0.0)
    rel_tol: float = Field(default=0.0, ge=0.0)
    extract: bool = False

    def _number(self, value: Any) -> float | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            text = value.strip()
            if self.extract:
                match = _FIRST_NUMBER.search(text)
                text = match.group(0) if match else ""
            try:
                return float(text)
            except ValueError:
                return None
        return None

    def test(self, value: Any, ctx: CheckContext) -> tuple[bool, str, float | None]:
        number = self._number(value)
        if number is None or math.isnan(number):
            return False, f"not a number: {as_text(value)!r}", None
        ok = math.isclose(number, self.value, rel_tol=self.rel_tol, abs_tol=self.abs_tol)
        return ok, "" if ok else f"got {number}, expected {self.value}", None


@register_check_type
class OneOfCheck(CheckBase):
    type: Literal["one_of"] = "one_of"
    values: list[Any] = Field(min_length=1)
    normalize: bool = False
    case_insensitive: bool = False

    def test(self, value: Any, ctx: CheckContext) -> tuple[bool, str, float | None]:
        ok = any(_equal(value, v, self.normalize, self.case_insensitive) for v in self.values)
        return ok, "" if ok else f"{as_text(value)!r} is none of {len(self.values)} values", None


@register_check_type
class CustomCheck(CheckBase):
    type: Literal["custom"] = "custom"
    name: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)

    def test(self, value: Any, ctx: CheckContext) -> tuple[bool, str, float | None]:
        try:
            verdict = get_predicate(self.name)(value, self.params)
        except PredicateError as exc:
            return False, str(exc), None
        except Exception as exc:
            # A predicate meeting output it did not expect is a failed check.
            return False, f"predicate {self.name!r} raised {type(exc).__name__}: {exc}", None
        if isinstance(verdict, tuple):
            return bool(verdict[0]), str(verdict[1]), None
        return bool(verdict), "", None


@register_check_type
class LlmJudgeCheck(CheckBase):
    type: Literal["llm_judge"] = "llm_judge"
    prompt: str = Field(min_length=1)
    model: str | None = None
    expected: str | None = None
    max_score: float = Field(default=10.0, gt=0.0)
    min_score: float = Field(default=0.7, ge=0.0, le=1.0)
    max_tokens: int = Field(default=256, ge=1)

    def test(self, value: Any, ctx: CheckContext) -> tuple[bool, str, float | None]:
        if ctx.judge is None:
            return False, "llm_judge check but no judge provider is configured", None
        request = LLMRequest.from_prompt(
            self.model or ctx.judge_model,
            render_judge_prompt(self.prompt, value, ctx.inputs, self.expected),
            max_tokens=self.max_tokens,
            temperature=0.0,
        )
        reply = ctx.judge.complete(request).text
        score = parse_score(reply, self.max_score)
        if score is None:
            return False, f"judge reply has no score in 0..{self.max_score}: {reply!r}", None
        fraction = score / self.max_score
        ok = fraction >= self.min_score
        return ok, f"judge score {score}/{self.max_score}", fraction


def run_check(check: CheckBase, view: Mapping[str, Any], ctx: CheckContext) -> CheckResult:
    """Evaluate one check against a run view (never raises for candidate output).

    Raises:
        ProviderError: the judge provider failed (infrastructure; retried upstream).
    """
    try:
        value = select_path(view, check.path)
    except PathNotFound as exc:
        passed, detail, score = False, f"path {check.path or 'output'!r}: {exc}", None
    else:
        try:
            passed, detail, score = check.test(value, ctx)
        except ProviderError:
            raise
        except Exception as exc:
            passed, detail, score = False, f"check raised {type(exc).__name__}: {exc}", None
    return CheckResult(
        type=check.type,
        label=check.display,
        required=check.required,
        passed=passed,
        detail=_short(detail),
        score=score,
    )

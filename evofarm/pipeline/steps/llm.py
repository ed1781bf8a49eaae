"""Single-call LLM steps: ``claude``, ``claude_smart``, ``claude_robust``,
``claude_session``, ``gemini``, ``gemini_instructor``.

``claude*`` steps use the ``claude`` provider slot and ``gemini*`` steps the
``gemini`` slot. A step's result is the answer text, except:

- ``gemini`` with ``functions`` (or pipeline_ex's ``tools``: the same, names of
  ``gemini_functions``; ``functions`` first): ``{"content": text, "function_calls": [{"name",
  "arguments"}]}``; the (first) function's parameter schema is sent as the
  response schema and the answer must be JSON matching it;
- ``gemini_instructor``: the parsed JSON answer, checked against ``schema``
  (unless ``validation_mode: loose``).

Options: ``model`` (else ``claude_options.model``, else the slot's default;
gemini: ``defaults.gemini_model``), ``claude_options.system_prompt`` /
``append_system_prompt`` (the system prompt), presets (``claude_smart`` ...:
``preset``, else ``defaults.claude_preset``) set max_tokens, temperature and a
system hint, gemini ``token_budget`` (else ``defaults.gemini_token_budget``) sets
max_tokens, temperature, top_p and top_k; a gemini step's ``timeout_ms`` is its
own wall limit (:mod:`evofarm.pipeline.step_policy`).

``claude_robust`` retries a failed call ``retry_config.max_retries`` times (default
3) with linear or exponential backoff (the first wait is
``retry_config.base_delay_ms``, default 500 ms), then applies ``fallback_action``:
``graceful_degradation`` / ``emergency_response`` answer with a fixed notice,
``cached_response`` reuses this step's last result in the run, ``simplified_prompt``
tries once more with a shortened prompt; anything else fails the step.

``claude_session`` keeps a conversation per ``session_config.session_name`` for
the rest of the run: each call sends the earlier turns, and
``session_config.max_turns`` bounds the turns.
"""

from __future__ import annotations

import time
from typing import Any, Final

from evofarm.errors import ProviderError, StepFailed
from evofarm.pipeline.context import StepContext
from evofarm.pipeline.prompts import build_prompt
from evofarm.pipeline.schema import (
    ClaudeRobustStep,
    ClaudeSessionStep,
    ClaudeSmartStep,
    ClaudeStep,
    GeminiInstructorStep,
    GeminiStep,
    LLMStep,
)
from evofarm.pipeline.step_policy import NOT_RETRIED, backoff_s
from evofarm.pipeline.step_types import StepType, register_step_type
from evofarm.pipeline.steps import jsonout
from evofarm.providers.base import LLMResponse, Message

PRESETS: Final[dict[str, dict[str, Any]]] = {
    "development": {"max_tokens": 4096, "temperature": 0.7},
    "production": {"max_tokens": 2048, "temperature": 0.2},
    "analysis": {"max_tokens": 4096, "temperature": 0.3},
    "chat": {"max_tokens": 1024, "temperature": 0.8},
}
PRESET_SYSTEM: Final[dict[str, str]] = {
    "development": "Be thorough and show your reasoning where it helps.",
    "production": "Be precise, safe and concise.",
    "analysis": "Analyse carefully and support conclusions with evidence.",
    "chat": "Answer conversationally.",
}
DEFAULT_ROBUST_RETRIES: Final = 3
FALLBACK_NOTICE: Final = "Unable to complete the request; this is a degraded fallback answer."
SIMPLIFIED_PROMPT_CHARS: Final = 500


def claude_options(step: LLMStep, ctx: StepContext) -> dict[str, Any]:
    """``defaults.claude_options`` overlaid with the step's ``claude_options``."""
    merged: dict[str, Any] = {}
    defaults = ctx.frame.pipeline.defaults
    if defaults is not None and defaults.claude_options is not None:
        merged.update(defaults.claude_options.model_dump(exclude_none=True))
    own = getattr(step, "claude_options", None)
    if own is not None:
        merged.update(own.model_dump(exclude_none=True))
    return merged


def claude_request(
    step: LLMStep, ctx: StepContext, options: dict[str, Any] | None = None
) -> tuple[str | None, dict[str, Any]]:
    """``(model, request params)`` for a claude-family step."""
    opts = claude_options(step, ctx) if options is None else options
    defaults = ctx.frame.pipeline.defaults
    preset = getattr(step, "preset", None) or (defaults.claude_preset if defaults else None)
    params: dict[str, Any] = dict(PRESETS.get(preset, {})) if preset else {}
    system_parts = [opts.get("system_prompt"), opts.get("append_system_prompt")]
    if preset:
        system_parts.append(PRESET_SYSTEM.get(preset))
    system = "\n".join(ctx.render(str(s)) for s in system_parts if s)
    if system:
        params["system"] = system
    model = step.model or opts.get("model")
    return _model(model, ctx), params


def gemini_request(
    step: GeminiStep | GeminiInstructorStep, ctx: StepContext
) -> tuple[str | None, dict[str, Any]]:
    """``(model, request params)`` for a gemini-family step."""
    defaults = ctx.frame.pipeline.defaults
    budget = step.token_budget or (defaults.gemini_token_budget if defaults else None)
    params: dict[str, Any] = {}
    if budget is not None:
        for key, name in (
            ("max_output_tokens", "max_tokens"),
            ("temperature", "temperature"),
            ("top_p", "top_p"),
            ("top_k", "top_k"),
        ):
            value = getattr(budget, key)
            if value is not None:
                params[name] = value
    model = step.model or (defaults.gemini_model if defaults else None)
    return _model(model, ctx), params


def _model(model: Any, ctx: StepContext) -> str | None:
    """The model name, templates resolved (``model: "{{inputs.model}}"``)."""
    if not model:
        return None
    return ctx.render(str(model)).strip() or None


def claude(step: ClaudeStep | ClaudeSmartStep, ctx: StepContext) -> Any:
    """One Claude call; the answer text."""
    model, params = claude_request(step, ctx)
    return ctx.complete("claude", build_prompt(step.prompt, ctx), model=model, **params).text


def claude_robust(step: ClaudeRobustStep, ctx: StepContext) -> Any:
    """Claude with retries, backoff and a fallback action (see the module doc)."""
    config = step.retry_config
    retries = config.max_retries if config and config.max_retries else DEFAULT_ROBUST_RETRIES
    strategy = config.backoff_strategy if config else None
    model, params = claude_request(step, ctx)
    prompt = build_prompt(step.prompt, ctx)
    last_error = ""
    for attempt in range(retries + 1):
        if attempt:
            ctx.meter.record_retry(last_error)
            delay_ms = config.base_delay_ms if config else None
            base = delay_ms / 1000.0 if delay_ms is not None else None
            delay = min(backoff_s(strategy, attempt, base), max(ctx.shared.remaining_s(), 0.0))
            time.sleep(delay)
        try:
            return _answer(ctx, prompt, model, params)
        except NOT_RETRIED:
            raise
        except (ProviderError, StepFailed) as exc:
            last_error = f"attempt {attempt + 1}: {exc}"
    return _fallback(step, ctx=ctx, prompt=prompt, model=model, params=params, error=last_error)


def _answer(ctx: StepContext, prompt: str, model: str | None, params: dict[str, Any]) -> str:
    text = ctx.complete("claude", prompt, model=model, retry=False, **params).text
    if not text.strip():
        raise StepFailed("empty answer")
    return text


def _fallback(
    step: ClaudeRobustStep,
    *,
    ctx: StepContext,
    prompt: str,
    model: str | None,
    params: dict[str, Any],
    error: str,
) -> Any:
    action = step.retry_config.fallback_action if step.retry_config else None
    ctx.meter.record_error(f"retries exhausted ({error}); fallback: {action or 'none'}")
    if action in ("graceful_degradation", "emergency_response"):
        return FALLBACK_NOTICE
    if action in ("cached_response", "use_cached_response"):  # pipeline_ex's spelling too
        previous = ctx.frame.records.get(step.name)
        if previous is not None and previous.status == "completed":
            return previous.result
    if action == "simplified_prompt":
        try:
            return _answer(ctx, prompt[:SIMPLIFIED_PROMPT_CHARS], model, params)
        except NOT_RETRIED:
            raise
        except (ProviderError, StepFailed) as exc:
            error = f"simplified prompt: {exc}"
    raise StepFailed(f"claude_robust failed after retries: {error}")


def claude_session(step: ClaudeSessionStep, ctx: StepContext) -> Any:
    """One or more turns of a named conversation; the last answer's text."""
    config = step.session_config
    session = config.session_name or config.session_id or step.name
    max_turns = config.max_turns or config.max_session_turns
    history = ctx.frame.sessions.setdefault(session, [])
    model, params = claude_request(step, ctx)
    prompts = [build_prompt(step.prompt, ctx)]
    for turn in step.conversation or []:
        prompts.append(build_prompt(turn.prompt, ctx))
    text = ""
    for prompt in prompts:
        if max_turns is not None and len(history) // 2 >= max_turns:
            raise StepFailed(f"session {session!r} reached its max_turns ({max_turns})")
        response = ctx.complete("claude", prompt, model=model, history=tuple(history), **params)
        text = response.text
        history.extend(
            (Message(role="user", content=prompt), Message(role="assistant", content=text))
        )
    return text


def gemini(step: GeminiStep, ctx: StepContext) -> Any:
    """One Gemini call; with ``functions``, the structured function call."""
    model, params = gemini_request(step, ctx)
    prompt = build_prompt(step.prompt, ctx)
    callable_names = [*(step.functions or []), *(step.tools or [])]
    if not callable_names:
        return ctx.complete("gemini", prompt, model=model, **params).text
    declared = ctx.frame.pipeline.gemini_functions or {}
    missing = [f for f in callable_names if f not in declared]
    if missing:
        raise StepFailed(f"unknown gemini function(s): {', '.join(missing)}")
    name = callable_names[0]
    schema = jsonout.to_json_schema(declared[name].parameters)
    response = _structured(ctx, prompt, model, params, schema)
    arguments = jsonout.parse_json(response.text)
    jsonout.validate(arguments, schema)
    return {"content": response.text, "function_calls": [{"name": name, "arguments": arguments}]}


def gemini_instructor(step: GeminiInstructorStep, ctx: StepContext) -> Any:
    """Gemini with structured output: the parsed (and checked) JSON answer."""
    model, params = gemini_request(step, ctx)
    prompt = build_prompt(step.prompt, ctx)
    schema = jsonout.to_json_schema(step.schema_) if step.schema_ else None
    response = _structured(ctx, prompt, model, params, schema)
    if schema is None:
        try:
            return jsonout.parse_json(response.text)
        except StepFailed:
            return response.text
    value = jsonout.parse_json(response.text)
    if step.validation_mode != "loose":
        jsonout.validate(value, schema)
    return value


def _structured(
    ctx: StepContext,
    prompt: str,
    model: str | None,
    params: dict[str, Any],
    schema: dict[str, Any] | None,
) -> LLMResponse:
    return ctx.complete("gemini", prompt, model=model, response_schema=schema, **params)


register_step_type(StepType("claude", ClaudeStep, claude))
register_step_type(StepType("claude_smart", ClaudeSmartStep, claude))
register_step_type(StepType("claude_robust", ClaudeRobustStep, claude_robust))
register_step_type(StepType("claude_session", ClaudeSessionStep, claude_session))
register_step_type(StepType("gemini", GeminiStep, gemini))
register_step_type(StepType("gemini_instructor", GeminiInstructorStep, gemini_instructor))

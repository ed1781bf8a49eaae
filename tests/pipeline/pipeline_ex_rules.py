"""pipeline_ex's own validation rules, written down as a checker.

Transcribed from ``Pipeline.Config.validate_workflow`` (lib/pipeline/config.ex)
and its extension ``Pipeline.EnhancedConfig`` (lib/pipeline/enhanced_config.ex)
of the public pipeline_ex repository: required fields, gemini function
definitions, per step: name and type present, a type pipeline_ex executes,
``parallel_claude`` needs ``parallel_tasks``, LLM steps need their prompt *as a
list of parts* (``claude_batch``: prompt or tasks) whose parts carry what their
type needs, ``functions`` name defined functions, ``previous_response`` parts
name a step of the same workflow; and the enhanced rules: ``claude_session``
needs a ``session_config`` map, presets, extraction formats, output formats,
permission modes and backoff strategies are enums, batch tasks need ``file`` or
``prompt``, ``defaults.claude_preset`` is a preset. pipeline_ex does not reject
unknown keys, so neither does this checker.

The checker is independent of evofarm's code on purpose: it is the yardstick
evofarm's canonical dumps and exports are measured against.
"""

from __future__ import annotations

from typing import Any

# The types pipeline_ex's executor dispatches at commit ff625ec (Pipeline.Executor and
# Pipeline.Step.Loop); break/continue are handled inside loop bodies.
SUPPORTED_TYPES = frozenset(
    {
        "set_variable",
        "claude",
        "gemini",
        "parallel_claude",
        "gemini_instructor",
        "claude_smart",
        "claude_session",
        "claude_extract",
        "claude_batch",
        "claude_robust",
        "for_loop",
        "while_loop",
        "data_transform",
        "file_ops",
        "pipeline",
        "test_echo",
        "codebase_query",
    }
)
LOOP_ONLY_TYPES = frozenset({"break", "continue"})
PROMPTED_TYPES = frozenset(
    {
        "claude",
        "gemini",
        "gemini_instructor",
        "claude_smart",
        "claude_session",
        "claude_extract",
        "claude_robust",
    }
)
PART_NEEDS = {
    "static": "content",
    "file": "path",
    "previous_response": "step",
    "session_context": "session_id",
    "claude_continue": "session_id",
}
ENHANCED_TYPES = frozenset(
    {"claude_smart", "claude_session", "claude_extract", "claude_batch", "claude_robust"}
)
PRESETS = ("development", "production", "analysis", "chat")
BACKOFF = ("linear", "exponential")
OUTPUT_FORMATS = ("text", "json", "stream_json")
PERMISSION_MODES = ("default", "accept_edits", "bypass_permissions", "plan")
EXTRACTION_FORMATS = ("text", "json", "structured", "summary", "markdown")


def _enum(mapping: Any, key: str, valid: tuple[str, ...], what: str) -> list[str]:
    if not isinstance(mapping, dict) or mapping.get(key) is None or mapping[key] in valid:
        return []
    return [f"{what}.{key} must be one of {list(valid)}, got: {mapping[key]!r}"]


def _enhanced(step: dict[str, Any], name: str) -> list[str]:
    """EnhancedConfig's per-step rules (types, enums, required maps)."""
    kind = step.get("type")
    problems: list[str] = []
    if kind in (
        "claude_smart",
        "claude_session",
        "claude_extract",
        "claude_batch",
        "claude_robust",
    ):
        problems += _enum(step, "preset", PRESETS, f"step '{name}'")
    if kind == "claude_session" and not isinstance(step.get("session_config"), dict):
        problems.append(f"Step '{name}' of type 'claude_session' requires session_config")
    if kind == "claude_extract":
        problems += _enum(
            step.get("extraction_config"), "format", EXTRACTION_FORMATS, f"step '{name}'"
        )
    if kind == "claude_batch":
        for task in step.get("tasks") or []:
            if not isinstance(task, dict) or ("file" not in task and "prompt" not in task):
                problems.append(f"Step '{name}' batch task must have 'file' or 'prompt'")
    if kind == "claude_robust":
        problems += _enum(step.get("retry_config"), "backoff_strategy", BACKOFF, f"step '{name}'")
    options = step.get("claude_options")
    if options is not None and not isinstance(options, dict):
        problems.append(f"Step '{name}' claude_options must be a map")
    elif isinstance(options, dict):
        problems += _enum(options, "output_format", OUTPUT_FORMATS, f"step '{name}'")
        problems += _enum(options, "permission_mode", PERMISSION_MODES, f"step '{name}'")
        problems += _enum(options.get("retry_config"), "backoff_strategy", BACKOFF, name)
    parts = step.get("prompt") if isinstance(step.get("prompt"), list) else []
    for part in parts:
        extract_with = part.get("extract_with") if isinstance(part, dict) else None
        if extract_with not in (None, "content_extractor"):
            problems.append(f"Step '{name}' extract_with must be 'content_extractor'")
    return problems


def pipeline_ex_problems(document: Any) -> list[str]:
    """pipeline_ex's verdict on a parsed YAML document: its error messages (empty: valid).

    pipeline_ex stops at the first error; this returns every one it finds, in order.
    """
    if not isinstance(document, dict) or not isinstance(document.get("workflow"), dict):
        return ["Configuration missing required 'workflow' section"]
    workflow = document["workflow"]
    if workflow.get("name") is None:
        return ["Workflow missing required 'name' field"]
    steps = workflow.get("steps")
    if not isinstance(steps, list):
        return ["Workflow missing required 'steps' array"]
    if not steps:
        return ["Workflow must contain at least one step"]
    problems = _functions(workflow.get("gemini_functions"))
    problems += _enum(workflow.get("defaults"), "claude_preset", PRESETS, "defaults")
    functions = set(workflow.get("gemini_functions") or {})
    problems += _steps(steps, functions, in_loop=False)
    names = {s.get("name") for s in steps if isinstance(s, dict)}
    for step in steps:
        if not isinstance(step, dict):
            continue
        bad = [
            p.get("step")
            for p in step.get("prompt") or []
            if isinstance(p, dict) and p.get("type") == "previous_response"
            if p.get("step") not in names
        ]
        if bad:
            problems.append(f"Step '{step.get('name')}' references non-existent steps: {bad}")
    return problems


def _functions(functions: Any) -> list[str]:
    if functions is None:
        return []
    if not isinstance(functions, dict):
        return ["gemini_functions must be a map of function definitions"]
    problems = []
    for name, definition in functions.items():
        if not isinstance(definition, dict):
            problems.append(f"Function '{name}' definition must be a map")
        elif definition.get("description") is None:
            problems.append(f"Function '{name}' missing 'description' field")
        elif not isinstance(definition.get("parameters"), dict):
            problems.append(f"Function '{name}' parameters must be a map")
    return problems


def _steps(steps: list[Any], functions: set[str], *, in_loop: bool) -> list[str]:
    problems: list[str] = []
    for step in steps:
        if not isinstance(step, dict):
            problems.append("Step must be a map")
            continue
        problems += _step(step, functions, in_loop=in_loop)
    return problems


def _step(step: dict[str, Any], functions: set[str], *, in_loop: bool) -> list[str]:
    name, kind = step.get("name"), step.get("type")
    if name is None:
        return ["Step missing required 'name' field"]
    if kind is None:
        return [f"Step '{name}' missing required 'type' field"]
    allowed = SUPPORTED_TYPES | (LOOP_ONLY_TYPES if in_loop else frozenset())
    if kind not in allowed:
        return [f"Step '{name}' has invalid type '{kind}'"]
    problems = _enhanced(step, str(name))
    if kind == "parallel_claude" and step.get("parallel_tasks") is None:
        problems.append(f"Step '{name}' of type 'parallel_claude' missing 'parallel_tasks'")
    if kind == "claude_batch":
        if step.get("prompt") is None and step.get("tasks") is None:
            problems.append(f"Step '{name}' of type 'claude_batch' needs 'prompt' or 'tasks'")
        if step.get("prompt") is not None:
            problems += _prompt(step["prompt"], name)
    elif kind in PROMPTED_TYPES:
        if step.get("prompt") is None:
            problems.append(f"Step '{name}' missing required 'prompt' field")
        else:
            problems += _prompt(step["prompt"], name)
    called = step.get("functions")
    if called is not None:
        if not isinstance(called, list):
            problems.append(f"Step '{name}' functions must be a list")
        else:
            problems += [
                f"Step '{name}' references undefined function: {f}"
                for f in called
                if f not in functions
            ]
    if kind in ("for_loop", "while_loop"):
        problems += _steps(step.get("steps") or [], functions, in_loop=True)
    inner = step.get("pipeline")
    if kind == "pipeline" and isinstance(inner, dict):
        problems += pipeline_ex_problems(inner if "workflow" in inner else {"workflow": inner})
    return problems


def _prompt(prompt: Any, name: str) -> list[str]:
    if not isinstance(prompt, list):
        return [f"Step '{name}' prompt must be an array of prompt parts"]
    problems = []
    for part in prompt:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind is None:
            problems.append(f"Step '{name}' has prompt part without type")
        elif kind not in PART_NEEDS:
            problems.append(f"Step '{name}' has prompt part with invalid type: {kind}")
        elif part.get(PART_NEEDS[kind]) is None:
            problems.append(f"Step '{name}' has {kind} prompt part without {PART_NEEDS[kind]}")
    return problems

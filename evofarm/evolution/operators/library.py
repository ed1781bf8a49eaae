"""The built-in material operators draw on: phrases, op fragments, parameter values.

These are generic: nothing here knows about any one task suite. Prompt evolution
draws phrases from :data:`PHRASES` and :data:`PARAPHRASES`; feature insertion
draws clean-ups of LLM output from :data:`LLM_CLEANUPS`. Constants of transform
operations (separators, literals, regexes) are *not* here: they come from the
campaign itself (:mod:`evofarm.evolution.material`) through
:mod:`evofarm.evolution.operators.op_factory`.
"""

from __future__ import annotations

from typing import Any, Final

#: Instruction phrases worth trying in prompts.
PHRASES: Final[tuple[str, ...]] = (
    "Answer concisely.",
    "Think step by step before answering.",
    "Return only the final answer, with no explanation.",
    "Respond with valid JSON only.",
    "If you are unsure, say so explicitly.",
    "Use the exact format of the examples.",
    "Do not add any text before or after the answer.",
    "Check your answer against the input before replying.",
    "Keep the original wording where possible.",
    "Use plain ASCII characters only.",
)

#: Paraphrase pairs: either side may replace the other.
PARAPHRASES: Final[tuple[tuple[str, str], ...]] = (
    ("Answer concisely.", "Be brief."),
    ("Return only the final answer, with no explanation.", "Output just the answer."),
    ("Respond with valid JSON only.", "Your whole reply must be one JSON document."),
    ("Think step by step before answering.", "Reason carefully first, then answer."),
    ("Do not add any text before or after the answer.", "No preamble, no closing remarks."),
)

#: Fragments that clean up LLM output: for clean-up steps after LLM steps, and for
#: transform steps that read an LLM step.
LLM_CLEANUPS: Final[tuple[tuple[str, tuple[dict[str, Any], ...]], ...]] = (
    ("strip code fences", ({"op": "strip_code_fences"}, {"op": "strip"})),
    ("parse JSON answer", ({"op": "strip_code_fences"}, {"op": "json_parse"})),
    ("first line", ({"op": "split", "separator": "\n", "index": 0}, {"op": "strip"})),
    ("empty to placeholder", ({"op": "default", "value": "n/a"},)),
    ("trim whitespace", ({"op": "strip"},)),
)

#: Operations interchangeable with each other (step mutation swaps within a family).
OP_FAMILIES: Final[tuple[frozenset[str], ...]] = (
    frozenset({"lower", "upper", "title"}),
    frozenset({"prefix", "suffix"}),
    frozenset({"replace", "regex_replace"}),
    frozenset({"split", "slice"}),
    frozenset({"json_parse", "strip_code_fences"}),
)

#: LLM step types interchangeable with each other (same provider slot).
STEP_FAMILIES: Final[tuple[frozenset[str], ...]] = (
    frozenset({"claude", "claude_smart", "claude_robust"}),
    frozenset({"gemini", "gemini_instructor"}),
    frozenset({"transform", "data_transform"}),
)

#: Values for numeric LLM parameters.
TEMPERATURES: Final[tuple[float, ...]] = (0.0, 0.2, 0.5, 0.7, 1.0)
MAX_TOKENS: Final[tuple[int, ...]] = (256, 512, 1024, 2048, 4096)
MAX_RETRIES: Final[tuple[int, ...]] = (0, 1, 2, 3, 5)

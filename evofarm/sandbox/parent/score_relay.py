"""Serve a sandboxed child's ``score`` requests: nested ``pipeline_executor`` evaluations.

The child sends ``{"type": "score", "id", "pipeline", "suite", "fidelity",
"inputs"}``; the worker's :data:`WorkerScorer` evaluates the pipeline on the
named suite (in a sandbox of its own, one level deeper) and the child gets
back ``{"type": "score_result", "id", "result"}`` with only the scores, or
``{"type": "score_error", "id", "message"}``. A candidate so can be scored on
a suite but never read it.

Requests are untrusted: every field is checked strictly (types, a suite *name*
not a path, fidelity in (0, 1], at most :data:`MAX_INPUTS` inputs of at most
:data:`MAX_INPUT_BYTES` as JSON), at most ``max_scores`` are served per
sandbox, and the usage of each nested evaluation (as the worker counted it,
never as the child reports it) is added to this sandbox's usage. Like
:class:`~evofarm.sandbox.parent.llm_relay.LLMRelay`, each request runs on a
daemon thread and wakes the parent's loop through a pipe; the loop collects
replies with :meth:`ScoreRelay.ready`. Driven by one thread.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import re
import threading
from collections.abc import Callable
from typing import Any

from evofarm.errors import FarmError, ProviderUnavailable, SandboxError, StoreError
from evofarm.sandbox.wire.outcome import SandboxUsage

WorkerScorer = Callable[[dict[str, Any], str, float, dict[str, Any]], dict[str, Any]]
"""``(pipeline_data, suite, fidelity, inputs) -> result`` on the worker: the keys
``fitness, passed, total, reason, outcome`` and ``usage`` (``input_tokens,
output_tokens, cost_usd``). Raises :class:`~evofarm.errors.FarmError` to refuse."""

#: Failures of the machinery, not refusals: they fail the outer evaluation (retried).
_INFRA = (SandboxError, ProviderUnavailable, StoreError)
#: Score requests one sandbox may make.
MAX_SCORES = 16
MAX_INPUTS = 32
MAX_INPUT_BYTES = 64 * 1024
RESULT_KEYS = ("fitness", "passed", "total", "reason", "outcome")
REASON_CHARS = 500
_SUITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def score_error(call_id: Any, message: str) -> dict[str, Any]:
    """The reply that fails the child's ``pipeline_executor`` step with ``message``."""
    return {"type": "score_error", "id": call_id, "message": message}


def _problem(message: dict[str, Any]) -> str | None:
    """Why ``message`` is not a valid score request (None: it is)."""
    if not isinstance(message.get("pipeline"), dict):
        return "pipeline must be a mapping"
    suite = message.get("suite")
    if not isinstance(suite, str) or not _SUITE_NAME.match(suite) or ".." in suite:
        return "suite must be a suite name"
    fidelity = message.get("fidelity")
    if (
        isinstance(fidelity, bool)
        or not isinstance(fidelity, (int, float))
        or not math.isfinite(fidelity)
        or not 0.0 < fidelity <= 1.0
    ):
        return "fidelity must be a number in (0, 1]"
    inputs = message.get("inputs")
    if not isinstance(inputs, dict) or len(inputs) > MAX_INPUTS:
        return f"inputs must be a mapping of at most {MAX_INPUTS} entries"
    if len(json.dumps(inputs)) > MAX_INPUT_BYTES:
        return f"inputs exceed {MAX_INPUT_BYTES} bytes"
    return None


def _clean(result: dict[str, Any]) -> dict[str, Any]:
    """Only the scores, typed; nothing else of the evaluation crosses to the child."""
    reason = result.get("reason")
    return {
        "fitness": float(result.get("fitness", 0.0)),
        "passed": int(result.get("passed", 0)),
        "total": int(result.get("total", 0)),
        "reason": None if reason is None else str(reason)[:REASON_CHARS],
        "outcome": str(result.get("outcome", "")),
        "usage": {
            k: (result.get("usage") or {}).get(k, 0)
            for k in ("input_tokens", "output_tokens", "cost_usd")
        },
    }


class ScoreRelay:
    """The parent's side of the child's score requests (see module docs).

    Args:
        scorer: the worker's scorer; ``None`` refuses every request.
        max_scores: requests served; later ones are refused.
        usage: the sandbox's usage, to which nested evaluations' tokens are added.
    """

    def __init__(
        self, scorer: WorkerScorer | None, usage: SandboxUsage, max_scores: int = MAX_SCORES
    ) -> None:
        self.scorer = scorer
        self.max_scores = max_scores
        self.usage = usage
        self.served = 0
        self.read_fd, self._write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._lock = threading.Lock()
        self._closed = False
        self._done: queue.SimpleQueue[tuple[Any, dict[str, Any] | BaseException]] = (
            queue.SimpleQueue()
        )

    def submit(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Start serving one ``score`` message; return a reply at once when refused."""
        call_id = message.get("id")
        if self.scorer is None:
            return score_error(call_id, "pipeline_executor is not available in this sandbox")
        if self.served >= self.max_scores:
            return score_error(call_id, f"at most {self.max_scores} evaluations per sandbox")
        problem = _problem(message)
        if problem is not None:
            return score_error(call_id, f"invalid score request: {problem}")
        self.served += 1
        args = (
            message["pipeline"],
            message["suite"],
            float(message["fidelity"]),
            message["inputs"],
        )
        thread = threading.Thread(
            target=self._call, args=(self.scorer, args, call_id), name="sandbox-score", daemon=True
        )
        thread.start()
        return None

    def _call(self, scorer: WorkerScorer, args: tuple[Any, ...], call_id: Any) -> None:
        outcome: dict[str, Any] | BaseException
        try:
            outcome = _clean(scorer(*args))
        except BaseException as exc:  # handed to the loop's thread, which decides
            outcome = exc
        self._done.put((call_id, outcome))
        with self._lock:
            if not self._closed:
                with contextlib.suppress(BlockingIOError):
                    os.write(self._write_fd, b"!")

    def ready(self) -> list[dict[str, Any]]:
        """Replies of the requests that finished.

        Raises:
            Exception: a scorer failure that is not a refusal (infrastructure).
        """
        with contextlib.suppress(BlockingIOError):
            while os.read(self.read_fd, 4096):
                pass
        replies: list[dict[str, Any]] = []
        while True:
            try:
                call_id, outcome = self._done.get_nowait()
            except queue.Empty:
                return replies
            if isinstance(outcome, _INFRA):
                raise outcome
            if isinstance(outcome, FarmError):
                replies.append(score_error(call_id, str(outcome)[:REASON_CHARS]))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                used = outcome["usage"]
                self.usage.input_tokens += int(used["input_tokens"])
                self.usage.output_tokens += int(used["output_tokens"])
                self.usage.cost_usd += float(used["cost_usd"])
                replies.append({"type": "score_result", "id": call_id, "result": outcome})

    def close(self) -> None:
        """Stop waking the loop; requests still running finish unheard."""
        with self._lock:
            self._closed = True
            os.close(self._write_fd)
            os.close(self.read_fd)

"""The sandboxed child's ``pipeline_executor`` scorer: ask the worker over the pipe.

A candidate never reads a suite (expected outputs included): its
``pipeline_executor`` steps send the produced pipeline and a suite *name* to the
worker as a ``score`` frame and get back only the scores
(:data:`~evofarm.pipeline.runtime.NestedScorer`). The worker validates the
request, caps how many a sandbox may make, counts their usage and runs the
evaluation in a sandbox of its own (:mod:`evofarm.sandbox.parent.score_relay`).
Frames share the id space of the LLM calls (:meth:`PipeProvider.call`).
"""

from __future__ import annotations

from typing import Any

from evofarm.errors import ProviderError, StepFailed
from evofarm.sandbox.child.proxy import PipeProvider

RESULT_KEYS = ("fitness", "passed", "total", "reason", "outcome")


class PipeScorer:
    """A :data:`~evofarm.pipeline.runtime.NestedScorer` served by the worker. Thread-safe."""

    def __init__(self, pipe: PipeProvider) -> None:
        self._pipe = pipe

    def __call__(
        self, pipeline: dict[str, Any], suite: str, fidelity: float, inputs: dict[str, Any]
    ) -> dict[str, Any]:
        """The worker's scores of ``pipeline`` on ``suite``.

        Raises:
            StepFailed: the worker refused (unknown suite, cap reached, malformed)
                or the pipe was lost.
        """
        message = {
            "type": "score",
            "pipeline": pipeline,
            "suite": suite,
            "fidelity": fidelity,
            "inputs": inputs,
        }
        try:
            reply = self._pipe.call(message)
        except ProviderError as exc:
            raise StepFailed(f"pipeline_executor: {exc}") from None
        if reply.get("type") != "score_result" or not isinstance(reply.get("result"), dict):
            raise StepFailed(f"pipeline_executor: {reply.get('message', 'refused by the worker')}")
        result: dict[str, Any] = reply["result"]
        return result

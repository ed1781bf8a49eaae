"""The run state step implementations work with.

- :class:`RunShared`: one per top-level run, shared by nested pipelines: the
  runtime, the provider set, the step counter and the run deadline.
- :class:`Frame`: one per pipeline invocation (the top level, each nested
  pipeline): inputs, variables, step records, conversation sessions.
- :class:`StepContext`: what a step implementation receives; it resolves
  templates and conditions, builds prompts, calls providers (recording usage)
  and runs sub-steps and nested pipelines through the engine.

Thread safety: a frame is written only by the thread running its current step;
batch/parallel steps call :meth:`StepContext.complete` from several threads,
which only touches the thread-safe :class:`~evofarm.pipeline.trace.UsageMeter`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from evofarm.errors import LimitExceeded, ProviderError, StepFailed
from evofarm.pipeline import conditions, templates
from evofarm.pipeline.runtime import Runtime
from evofarm.pipeline.schema import Pipeline, StepBase
from evofarm.pipeline.scope import Scope, StepRecord
from evofarm.pipeline.step_policy import NOT_RETRIED, retry_policy
from evofarm.pipeline.trace import UsageMeter
from evofarm.providers.base import LLMRequest, LLMResponse, Message, ProviderSlots


class RunShared:
    """State of one top-level run shared by every frame and thread of it."""

    def __init__(self, runtime: Runtime, providers: ProviderSlots) -> None:
        self.runtime = runtime
        self.providers = providers
        self.started = time.monotonic()
        self.deadline = self.started + runtime.limits.run_timeout_s
        self._lock = threading.Lock()
        self.steps_executed = 0

    def count_step(self, step: str) -> None:
        """Count one step execution.

        Raises:
            LimitExceeded: ``max_steps`` would be crossed.
        """
        limit = self.runtime.limits.max_steps
        with self._lock:
            if self.steps_executed >= limit:
                raise LimitExceeded(
                    f"more than {limit} step executions in one run", limit="max_steps", step=step
                )
            self.steps_executed += 1

    def remaining_s(self) -> float:
        """Seconds left before the run deadline (may be negative)."""
        return self.deadline - time.monotonic()

    def check_deadline(self, step: str | None) -> None:
        """Raises LimitExceeded (``run_timeout_s``) once the run is out of time."""
        if self.remaining_s() <= 0:
            raise LimitExceeded(
                f"run exceeded {self.runtime.limits.run_timeout_s}s",
                limit="run_timeout_s",
                step=step,
            )


class StepBudget:
    """A cap on the step executions of one nested pipeline (``config.max_total_steps``).

    Thread-safe: parallel loop iterations count against the same budget.
    """

    def __init__(self, limit: int, owner: str) -> None:
        self.limit = limit
        self.owner = owner
        self.used = 0
        self._lock = threading.Lock()

    def count(self, step: str) -> None:
        """Count one step execution.

        Raises:
            LimitExceeded: (``max_total_steps``) the budget would be crossed.
        """
        with self._lock:
            if self.used >= self.limit:
                raise LimitExceeded(
                    f"more than {self.limit} step executions in the nested pipeline of "
                    f"step {self.owner!r}",
                    limit="max_total_steps",
                    step=step,
                )
            self.used += 1


@dataclass
class Frame:
    """One pipeline invocation's state.

    ``runtime`` overrides the run's runtime for this frame (a nested pipeline with
    a private workspace); ``budgets`` are the step budgets of this frame and of the
    nested pipelines enclosing it (each step execution counts against all).
    """

    pipeline: Pipeline
    inputs: dict[str, Any]
    global_vars: dict[str, Any]
    depth: int = 0
    variables: dict[str, Any] = field(default_factory=dict)
    records: dict[str, StepRecord] = field(default_factory=dict)
    sessions: dict[str, list[Message]] = field(default_factory=dict)
    providers: ProviderSlots | None = None
    runtime: Runtime | None = None
    budgets: tuple[StepBudget, ...] = ()


class Engine(Protocol):
    """What :class:`StepContext` needs from the executor (avoids an import cycle)."""

    def run_steps(
        self,
        steps: Sequence[StepBase],
        frame: Frame,
        shared: RunShared,
        *,
        loop: Mapping[str, Any] | None,
        meter: UsageMeter,
    ) -> None:
        """Run ``steps`` in ``frame`` (records written into it)."""

    def run_nested(
        self,
        pipeline: Pipeline,
        inputs: dict[str, Any],
        shared: RunShared,
        *,
        parent: Frame,
        inherit: bool,
        step: str,
        max_depth: int | None,
        meter: UsageMeter,
        runtime: Runtime | None = None,
        max_steps: int | None = None,
    ) -> Frame:
        """Run a nested pipeline to completion; its finished frame (``runtime``:
        its own runtime, e.g. a private workspace; ``max_steps``: its step budget)."""


class StepContext:
    """Everything a step implementation may use. Created by the executor per step."""

    def __init__(
        self,
        step: StepBase,
        frame: Frame,
        shared: RunShared,
        engine: Engine,
        *,
        loop: Mapping[str, Any] | None,
        meter: UsageMeter,
    ) -> None:
        self.step = step
        self.frame = frame
        self.shared = shared
        self.engine = engine
        self.loop = loop
        self.meter = meter

    @property
    def runtime(self) -> Runtime:
        """The runtime of this frame (the run's, unless a nested pipeline has its own)."""
        return self.frame.runtime or self.shared.runtime

    @property
    def strict(self) -> bool:
        """Whether unresolved references are errors."""
        return self.shared.runtime.strict

    def scope(self) -> Scope:
        """A view of the state templates and conditions see right now."""
        return Scope(
            inputs=self.frame.inputs,
            global_vars=self.frame.global_vars,
            variables=self.frame.variables,
            steps=self.frame.records,
            loop=self.loop,
        )

    def resolve(self, value: Any) -> Any:
        """Resolve templates in ``value`` (typed for whole expressions).

        Raises:
            TemplateError: strict mode and an unresolved reference.
        """
        return templates.resolve(value, self.scope(), strict=self.strict)

    def render(self, text: str) -> str:
        """Resolve templates in ``text`` and always return text."""
        return templates.render(text, self.scope(), strict=self.strict)

    def holds(self, condition: Any) -> bool:
        """Evaluate a condition in the current scope (raises ConditionError)."""
        return conditions.evaluate(condition, self.scope())

    def record(self, name: str) -> StepRecord:
        """The record of an earlier step of this frame.

        Raises:
            StepFailed: no step of that name has run.
        """
        record = self.frame.records.get(name)
        if record is None:
            raise StepFailed(f"Step {name!r} not found in results")
        return record

    def complete(
        self,
        slot: str,
        prompt: str,
        *,
        model: str | None = None,
        history: Sequence[Message] = (),
        retry: bool = True,
        **params: Any,
    ) -> LLMResponse:
        """One LLM call on provider ``slot``; usage goes to this step's meter.

        Args:
            slot: ``claude`` or ``gemini`` (or a pipeline-defined slot).
            prompt: The user turn.
            model: The step's model; None means the slot's default.
            history: Earlier turns of a conversation (claude_session).
            retry: Apply the step's retry policy
                (:func:`~evofarm.pipeline.step_policy.retry_policy`); steps with
                their own retry loop pass False.
            **params: Further :class:`LLMRequest` fields (system, max_tokens, ...).

        Raises:
            LimitExceeded: the run is out of time.
            ProviderError: the provider failed (infrastructure), after the retries
                the step's policy allows.
        """
        self.shared.check_deadline(self.step.name)
        messages = (*history, Message(role="user", content=prompt))
        request = LLMRequest(model=model or "", messages=messages, **params)
        providers = self.frame.providers or self.shared.providers
        policy = retry_policy(self.step, self.frame.pipeline.defaults) if retry else None
        attempt = 0
        while True:
            try:
                response = providers.complete(slot, request)
                break
            except NOT_RETRIED:
                raise
            except ProviderError as exc:
                attempt += 1
                if policy is None or attempt > policy.retries:
                    raise
                self.meter.record_retry(f"attempt {attempt}: {exc}")
                time.sleep(min(policy.delay_s(attempt), max(self.shared.remaining_s(), 0.0)))
                self.shared.check_deadline(self.step.name)
        self.meter.record(response)
        return response

    def run_steps(self, steps: Sequence[StepBase], loop: Mapping[str, Any] | None) -> None:
        """Run sub-steps (a loop body) in this frame with ``loop`` as the loop frame."""
        self.engine.run_steps(steps, self.frame, self.shared, loop=loop, meter=self.meter)

    def run_nested(
        self,
        pipeline: Pipeline,
        inputs: dict[str, Any],
        *,
        inherit: bool,
        max_depth: int | None,
        runtime: Runtime | None = None,
        max_steps: int | None = None,
    ) -> Frame:
        """Run a nested pipeline one level deeper; its finished frame (see
        :meth:`Engine.run_nested` for ``runtime`` and ``max_steps``)."""
        return self.engine.run_nested(
            pipeline,
            inputs,
            self.shared,
            parent=self.frame,
            inherit=inherit,
            step=self.step.name,
            max_depth=max_depth,
            meter=self.meter,
            runtime=runtime,
            max_steps=max_steps,
        )

"""What a pipeline run is given: providers, limits, strictness, directories, runners.

The language sees providers only through
:class:`~evofarm.providers.base.ProviderSlots` (slot -> provider + model).

A :class:`Runtime` is immutable; derive variants with :func:`dataclasses.replace`
(``replace(runtime, strict=True)``). It is shared by every thread of one run
and may be shared by concurrent runs: nothing in it is mutated while running.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from evofarm.providers.base import ProviderSlots

PythonRunner = Callable[[str, Any], Any]
"""``(code, value) -> result``: runs a ``python`` step's code (the sandbox provides one).

It raises :class:`~evofarm.errors.StepFailed` or
:class:`~evofarm.errors.LimitExceeded` when the code fails or is stopped.
"""

NestedScorer = Callable[[dict[str, Any], str, float, dict[str, Any]], dict[str, Any]]
"""``(pipeline_data, suite_name, fidelity, inputs) -> result``: scores a pipeline elsewhere.

Set in a sandboxed child, where no suite is readable: ``pipeline_executor`` then
asks its worker to evaluate the pipeline on the named suite and gets back only
the scores (``fitness, passed, total, reason, outcome``, and ``usage``). It
raises :class:`~evofarm.errors.StepFailed` when the worker refuses (unknown
suite, cap reached, no scorer).
"""


class RunLimits(BaseModel):
    """Bounds one run may not cross; each breach is a ``LimitExceeded`` naming it.

    Attributes:
        max_steps: Step executions in the whole run, counting steps inside loops
            and nested pipelines (skipped steps do not count).
        max_depth: Nesting depth of ``pipeline`` steps (the top level is depth 0).
        max_loop_iterations: Iterations of any single ``for_loop``/``while_loop``.
        max_output_bytes: Size of one step's result, as UTF-8 JSON.
        step_timeout_s: Wall time of one step (a loop or nested pipeline counts
            as one step, including everything inside it).
        run_timeout_s: Wall time of the whole run.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_steps: int = Field(default=500, ge=1)
    max_depth: int = Field(default=5, ge=0)
    max_loop_iterations: int = Field(default=1000, ge=1)
    max_output_bytes: int = Field(default=1_000_000, ge=1)
    step_timeout_s: float = Field(default=300.0, gt=0)
    run_timeout_s: float = Field(default=1800.0, gt=0)


@dataclass(frozen=True)
class Runtime:
    """Everything a run needs from outside the pipeline.

    Attributes:
        providers: LLM provider slots (``claude``, ``gemini``); the pipeline's own
            ``providers:`` mapping is applied on top for its run.
        limits: The run's bounds.
        strict: Unresolved template references fail the step (evaluation uses
            strict mode); otherwise they stay literal, as in pipeline_ex.
        workspace: The only directory ``file_ops``, ``output_to_file`` and
            ``conditional_deploy`` may write to (created if missing).
        base_dir: Where ``file`` prompt parts and nested ``pipeline_file`` paths
            are read from (reads are confined to it, the workspace and
            ``read_roots``).
        read_roots: Further directories reads may reach (``--allow-dir`` of the
            CLI, e.g. for ``../shared/x.md`` prompt parts); empty for campaigns,
            which set ``read_files`` instead.
        python_runner: Runs ``python`` steps; without one they fail clearly.
        evaluation_depth: How many ``pipeline_executor`` evaluations enclose this
            run (0 at the top); carried here so every derived runtime keeps it.
        suites_dir: Where ``pipeline_executor`` steps resolve suite names; None
            means ``pipelines/suites`` below the working directory.
        scorer: When set, ``pipeline_executor`` scores through it instead of
            reading suites (the sandbox's pipe to its worker).
        read_files: When set (campaigns), reads outside the workspace reach only
            these resolved files, the campaign's own pipeline files, whatever
            else ``base_dir`` holds (its suite, expected outputs); see
            :func:`evofarm.pipeline.workspace.confine_read`.
    """

    providers: ProviderSlots
    limits: RunLimits = field(default_factory=RunLimits)
    strict: bool = False
    workspace: Path = field(default_factory=lambda: Path("workspace"))
    base_dir: Path = field(default_factory=Path.cwd)
    python_runner: PythonRunner | None = None
    evaluation_depth: int = 0
    suites_dir: Path | None = None
    scorer: NestedScorer | None = None
    read_roots: tuple[Path, ...] = ()
    read_files: frozenset[Path] | None = None

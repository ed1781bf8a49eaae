"""The farm's progress bar: generation, evaluations/s, best fitness, tokens, cost, ETA."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from evofarm.campaign.reports.readback import Snapshot


def describe(snap: Snapshot, rate: float, extra: str = "") -> str:
    """One line of figures for a snapshot (also used without a terminal)."""
    best = "-" if snap.best_fitness is None else f"{snap.best_fitness:.4f}"
    line = (
        f"gen {snap.generation}/{snap.generations}  {rate:.1f} eval/s  best {best}  "
        f"tokens {snap.tokens}  ${snap.cost_usd:.4f}"
    )
    return f"{line}  {extra}" if extra else line


class ProgressView:
    """A rich progress bar fed with :class:`Snapshot` s (context manager).

    On a terminal it redraws in place; otherwise (logs, CI) it prints a line
    whenever the generation changes.
    """

    def __init__(self, campaign: str, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.campaign = campaign
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[figures]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._started = time.monotonic()
        self._first_evaluations: int | None = None
        self._last_generation = -1

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            self._progress.start()
        self._task = self._progress.add_task(self.campaign, total=None, figures="starting")
        return self

    def update(self, snap: Snapshot, extra: str = "") -> None:
        """Show ``snap`` (``extra``: more figures, e.g. ETA and budget use)."""
        if self._first_evaluations is None:
            self._first_evaluations = snap.evaluations
        elapsed = max(1e-6, time.monotonic() - self._started)
        rate = (snap.evaluations - self._first_evaluations) / elapsed
        figures = describe(snap, rate, extra)
        assert self._task is not None
        self._progress.update(
            self._task,
            total=max(1, snap.generations),
            completed=snap.generation,
            figures=figures,
        )
        if not self.console.is_terminal and snap.generation != self._last_generation:
            self.console.print(f"{self.campaign}: {figures}", soft_wrap=True)
        self._last_generation = snap.generation

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.console.is_terminal:
            self._progress.stop()

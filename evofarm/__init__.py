"""evofarm: a distributed task-queue farm that evolves LLM pipelines."""

from __future__ import annotations

__version__ = "0.1.0"

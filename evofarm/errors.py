r"""The one exception tree of evofarm.

Every error evofarm raises on purpose derives from :class:`FarmError`, so the
CLI can turn any of them into one clear line and never show a traceback::

    FarmError
    ├── UserInputError              bad input from a user file; carries a Location
    │   ├── PipelineLoadError       YAML syntax, schema, size/alias caps
    │   ├── PipelineValidationError unknown step type, dangling reference, limits
    │   ├── PipelineExportError     a pipeline uses what the export target cannot express
    │   ├── SuiteError              task suite files
    │   └── CampaignSpecError       campaign files
    ├── ExecutionError              a pipeline run failed; names the step
    │   ├── StepFailed              a step raised or returned an unusable result
    │   ├── TemplateError           strict mode: unresolved reference
    │   ├── ConditionError          a condition that cannot be evaluated
    │   └── LimitExceeded           a run limit was breached (``limit`` says which)
    ├── ProviderError               an LLM provider failed
    │   ├── ProviderConfigError     missing key, unknown provider or model alias
    │   ├── ProviderUnavailable     retryable infrastructure failure after retries
    │   └── ReplayMiss              replay-only mode and no cassette entry
    ├── SandboxError                the sandbox itself could not run (not the candidate)
    ├── StoreError                  the population store failed or is inconsistent
    │   ├── StoreUnreachable        the store or the broker cannot be reached (an outage)
    │   └── ServerBusy              another private redis-server serves that data directory
    ├── BudgetExceeded              a campaign budget was crossed (``budget`` says which)
    ├── CampaignStateError          an operation not allowed in the campaign's state
    ├── ExtensionError              a plugin failed to load or a name is taken (registry.py)
    │   └── UnknownExtension        no step type/provider/operator/... of that name (a KeyError)
    ├── EvolutionError              the engine got input it cannot use (evolution/errors.py)
    ├── FitnessError                checks, paths and suites misused (fitness/errors.py)
    └── (wire)                      FrameTooLarge, ProtocolError, ResultTooLarge: a sandboxed
                                    child broke the pipe protocol; deliberately not a
                                    SandboxError, so the farm does not retry a hostile candidate

Package-level errors subclass the builtin they replace too (``EngineInputError`` is a
``ValueError``, ``MissingGenome`` and ``UnknownExtension`` are ``KeyError`` subclasses), so
callers that caught the builtin keep working.

Infrastructure errors (``ProviderUnavailable``, ``StoreError``, ``SandboxError``)
are retried by the farm; candidate errors (``ExecutionError``) are scored and never
retried.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where in a user file a problem is: any part may be unknown."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        if self.key:
            where += f": {self.key}"
        return where


class FarmError(Exception):
    """Root of every error evofarm raises on purpose."""


class UserInputError(FarmError):
    """A user file is wrong. ``str()`` is the one line the user sees."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        self.message = message
        self.location = location or Location()
        super().__init__(f"{self.location}: {message}")


class PipelineLoadError(UserInputError):
    """A pipeline file could not be read or does not match the schema."""


class PipelineValidationError(UserInputError):
    """A pipeline parsed but is not runnable (unknown type, bad reference, limits)."""


class PipelineExportError(UserInputError):
    """A pipeline cannot be written for the export target (``evofarm pipeline export``)."""


class SuiteError(UserInputError):
    """A task suite file is wrong."""


class CampaignSpecError(UserInputError):
    """A campaign file is wrong."""


class ExecutionError(FarmError):
    """A pipeline run failed. ``step`` names the step, when there is one."""

    def __init__(self, message: str, step: str | None = None) -> None:
        self.step = step
        self.message = message
        super().__init__(f"step {step!r}: {message}" if step else message)


class StepFailed(ExecutionError):
    """A step raised or produced an unusable result."""


class TemplateError(ExecutionError):
    """A template reference could not be resolved in strict mode."""


class ConditionError(ExecutionError):
    """A condition could not be parsed or evaluated."""


class LimitExceeded(ExecutionError):
    """A run limit was breached; ``limit`` is its name (e.g. ``max_steps``)."""

    def __init__(self, message: str, limit: str, step: str | None = None) -> None:
        self.limit = limit
        super().__init__(message, step)


class ProviderError(FarmError):
    """An LLM provider failed."""


class ProviderConfigError(ProviderError):
    """A provider is misconfigured: missing key, unknown provider or model alias."""


class ProviderUnavailable(ProviderError):
    """The provider kept failing (429/5xx/timeouts) after its retries."""


class ReplayMiss(ProviderError):
    """Replay-only mode found no recorded response for a request."""


class SandboxError(FarmError):
    """The sandbox machinery itself failed (not the candidate inside it)."""


class StoreError(FarmError):
    """The population store failed or found inconsistent data."""


class StoreUnreachable(StoreError):
    """The store or the broker could not be reached: a connection failure, not bad data.

    The scheduler rides these out (reconnect with backoff, re-read its checkpoint);
    any other ``StoreError`` (an inconsistency) ends its run.
    """


class ServerBusy(StoreError):
    """A private redis-server could not start: another one serves its data directory."""


class BudgetExceeded(FarmError):
    """A campaign budget was crossed; ``budget`` names it (evaluations, tokens, ...)."""

    def __init__(self, budget: str, message: str) -> None:
        self.budget = budget
        super().__init__(message)


class CampaignStateError(FarmError):
    """The operation is not allowed in the campaign's current state."""

"""Farm settings (``EVOFARM_*``): time limits, visibility timeout, result expiry.

Kept apart from :mod:`evofarm.settings` because only the farm reads them. With
late acknowledgement, a message unacknowledged for longer than the visibility
timeout is handed to a second worker, and that timeout is also how long a task
held by a SIGKILLed worker waits before redelivery. With task heartbeats (the
default, :mod:`evofarm.farm.heartbeat`) running tasks keep their messages fresh,
so the timeout is short (:data:`HEARTBEAT_VISIBILITY_S`) whatever the time
limit. Without them it is derived from the hard time limit, as it must exceed
the longest a task may run.
"""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from evofarm.campaign.worker.case_pool import CasePool
from evofarm.errors import Location, UserInputError

#: Slack between the hard time limit and the visibility timeout: covers the time
#: a prefetched message waits and the worker's own shutdown.
VISIBILITY_MARGIN_S = 60.0
#: The default visibility timeout with heartbeats: a lost worker's task is back
#: on its queue about this long after its last heartbeat.
HEARTBEAT_VISIBILITY_S = 60.0


class FarmSettings(BaseSettings):
    """Farm-wide Celery tuning. Every field maps to ``EVOFARM_<NAME>``.

    Raises:
        UserInputError: a limit is not positive, the soft limit is not below the
            hard one, or the visibility timeout does not exceed the hard limit.
    """

    model_config = SettingsConfigDict(env_prefix="EVOFARM_", extra="ignore")

    #: Soft limit: the task gets SoftTimeLimitExceeded and can record a failure.
    task_soft_time_limit_s: float = Field(default=600.0, gt=0)
    #: Hard limit: the pool process running the task is killed.
    task_time_limit_s: float = Field(default=660.0, gt=0)
    #: Broker visibility timeout; None: 60 s with heartbeats, else from the hard limit.
    visibility_timeout_s: float | None = Field(default=None, gt=0)
    #: Running tasks refresh their broker delivery every quarter visibility timeout,
    #: so redelivery after a lost worker is fast and long tasks are not redelivered.
    task_heartbeat: bool = True
    #: How long Celery keeps task results (seconds).
    result_expires_s: int = Field(default=86_400, gt=0)
    #: Worker pool processes/threads per worker; None = Celery's default (cores).
    worker_concurrency: int | None = Field(default=None, gt=0)
    #: Cases of one genome a worker evaluates at once (their LLM calls overlap).
    case_concurrency: int = Field(default=8, gt=0)
    #: ``worker``: the evaluations of one worker process share one pool of
    #: (tasks it runs at once x case_concurrency) case threads, so a thread one
    #: evaluation leaves idle runs another's case; ``evaluation``: each
    #: evaluation its own case_concurrency threads. The ``sandbox`` evaluator
    #: always runs an evaluation's cases in its own child
    #: (:mod:`evofarm.campaign.worker.case_pool`; measured in docs/scaling.md).
    case_pool: CasePool = "worker"
    #: How workers evaluate: ``sandbox`` (each case in a fresh sandbox: no network,
    #: no secrets, resource limits), ``in_process`` (no isolation, for trusted
    #: candidates) or ``package.module:factory``.
    evaluator: str = "sandbox"
    #: A scheduler's lease on its campaign expires this long after its last renewal;
    #: ``resume`` of a SIGKILLed scheduler's campaign waits at most this long.
    scheduler_lease_ttl_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _check_limits(self) -> FarmSettings:
        if self.task_soft_time_limit_s >= self.task_time_limit_s:
            raise UserInputError(
                f"must be below EVOFARM_TASK_TIME_LIMIT_S ({self.task_time_limit_s:g})",
                Location(key="EVOFARM_TASK_SOFT_TIME_LIMIT_S"),
            )
        if (
            not self.task_heartbeat
            and self.visibility_timeout_s is not None
            and self.visibility_timeout_s <= self.task_time_limit_s
        ):
            raise UserInputError(
                "must exceed EVOFARM_TASK_TIME_LIMIT_S "
                f"({self.task_time_limit_s:g}) without EVOFARM_TASK_HEARTBEAT, "
                "or running tasks are redelivered",
                Location(key="EVOFARM_VISIBILITY_TIMEOUT_S"),
            )
        return self

    @property
    def visibility_timeout(self) -> int:
        """The broker visibility timeout in whole seconds (kombu wants an int)."""
        if self.visibility_timeout_s is not None:
            return max(1, round(self.visibility_timeout_s))
        if self.task_heartbeat:
            return round(HEARTBEAT_VISIBILITY_S)
        return round(self.task_time_limit_s + VISIBILITY_MARGIN_S)

    @property
    def restore_interval(self) -> int:
        """Seconds between sweeps that requeue messages of lost workers.

        A fifth of the visibility timeout, between 1 and 10 s, so a lost task is
        back on its queue at most ~1.2 visibility timeouts after delivery.
        """
        return max(1, min(10, self.visibility_timeout // 5))

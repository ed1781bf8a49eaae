"""Retry timing for HTTP providers: bounded exponential backoff and retry-after.

Providers run their own retry loop (instead of an SDK's) so that a response can
say how many retries it took, a server's ``retry-after`` is honoured up to a cap
we choose, and tests can shrink every delay to milliseconds.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from evofarm.errors import ProviderConfigError
from evofarm.settings import Settings


@dataclass(frozen=True)
class BackoffPolicy:
    """How often and how long to wait between attempts.

    The delay before retry ``n`` (0-based) is ``min(cap_s, base_s * 2**n)`` scaled by
    a random factor in ``[1 - jitter, 1]`` (jitter spreads out clients that failed
    together). A server's ``retry-after`` replaces it, capped at
    ``retry_after_cap_s`` so a hostile or broken header cannot park a worker.

    Attributes:
        max_retries: Retries after the first attempt (0: no retry).
        base_s: First backoff delay.
        cap_s: Largest backoff delay.
        retry_after_cap_s: Largest honoured ``retry-after``.
        jitter: Fraction of the delay that is random, in [0, 1].
    """

    max_retries: int = 4
    base_s: float = 0.5
    cap_s: float = 20.0
    retry_after_cap_s: float = 60.0
    jitter: float = 0.5
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be >= 0, got {value}"
            for name, value in (
                ("max_retries", self.max_retries),
                ("base_s", self.base_s),
                ("cap_s", self.cap_s),
                ("retry_after_cap_s", self.retry_after_cap_s),
            )
            if value < 0
        ]
        if not 0.0 <= self.jitter <= 1.0:
            problems.append(f"jitter must be in [0, 1], got {self.jitter}")
        if problems:
            raise ProviderConfigError("invalid backoff policy: " + "; ".join(problems))

    @classmethod
    def from_settings(cls, settings: Settings, *, max_retries: int) -> BackoffPolicy:
        """The ``provider_backoff_*`` timing of ``settings`` with ``max_retries``."""
        return cls(
            max_retries=max_retries,
            base_s=settings.provider_backoff_base_s,
            cap_s=settings.provider_backoff_cap_s,
            retry_after_cap_s=settings.provider_retry_after_cap_s,
        )

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.retry_after_cap_s)
        raw = min(self.cap_s, self.base_s * 2.0 ** min(attempt, 60))
        with self._lock:
            factor = 1.0 - self.jitter * self._rng.random()
        return raw * factor


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds a server asked us to wait, or None.

    Understands ``retry-after-ms`` (Anthropic's precise variant), ``retry-after``
    in (possibly fractional) seconds, and ``retry-after`` as an HTTP date.
    Negative or unparsable values give None.
    """
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    millis = lower.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    raw = lower.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        seconds = email.utils.mktime_tz(parsed) - (time.time() if now is None else now)
    return seconds if seconds >= 0 else None

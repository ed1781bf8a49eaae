"""Record real LLM calls to a JSONL cassette and replay them offline.

Each cassette line is one JSON object::

    {"key": "<LLMRequest.cache_key()>", "request": {...}, "response": {...},
     "recorded_at": 1700000000.0}

The key hashes the model, messages and every parameter, so a replay answers
exactly the request that was recorded. Modes:

* ``replay``: answer from the cassette; a miss raises :class:`ReplayMiss`.
* ``record``: always call the real provider and append what it said.
* ``replay_or_record``: answer from the cassette, calling and recording on a miss.

Appends are whole lines written with one ``write`` on an ``O_APPEND`` descriptor
under an exclusive ``flock``, so threads and processes (several workers recording
into one cassette) never interleave. Readers ignore a trailing line without its
newline (a write still in progress) and pick up lines other processes appended
before treating a request as a miss.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, cast, get_args

from pydantic import ValidationError

from evofarm.errors import ProviderConfigError, ReplayMiss
from evofarm.providers.base import (
    LLMRequest,
    LLMResponse,
    Provider,
    ProviderOptions,
    register_provider,
    slot_family,
)
from evofarm.settings import Settings

ReplayMode = Literal["replay", "record", "replay_or_record"]
REPLAY_MODES: tuple[str, ...] = get_args(ReplayMode)


class ReplayProvider:
    """A cassette-backed provider. Thread- and process-safe (see the module doc).

    Args:
        cassette: The JSONL file (created on first record).
        mode: ``replay``, ``record`` or ``replay_or_record``.
        inner: The real provider used when recording.
        inner_factory: Builds ``inner`` on first need, so replay-only use never
            needs an API key.

    Raises:
        ProviderConfigError: unknown mode; recording without an inner provider;
            a corrupt cassette line (from ``complete``, naming file and line).
    """

    name = "replay"

    def __init__(
        self,
        cassette: Path | str,
        mode: str = "replay",
        *,
        inner: Provider | None = None,
        inner_factory: Callable[[], Provider] | None = None,
    ) -> None:
        if mode not in REPLAY_MODES:
            raise ProviderConfigError(
                f"unknown replay mode {mode!r}; expected one of: {', '.join(REPLAY_MODES)}"
            )
        self.cassette = Path(cassette)
        self.mode: ReplayMode = cast(ReplayMode, mode)
        self._inner = inner
        self._inner_factory = inner_factory
        self._lock = threading.Lock()
        self._index: dict[str, LLMResponse] = {}
        self._offset = 0  # bytes of the cassette already indexed
        self._lines_read = 0

    @classmethod
    def from_settings(
        cls, settings: Settings, *, inner_factory: Callable[[], Provider] | None = None
    ) -> ReplayProvider:
        """The cassette and mode from ``EVOFARM_REPLAY_CASSETTE`` / ``_MODE``.

        Raises:
            ProviderConfigError: no cassette configured or unknown mode.
        """
        if settings.replay_cassette is None:
            raise ProviderConfigError(
                "the replay provider needs a cassette: set EVOFARM_REPLAY_CASSETTE"
            )
        return cls(settings.replay_cassette, settings.replay_mode, inner_factory=inner_factory)

    @property
    def deterministic(self) -> bool:
        """Replay-only answers are fixed; recording modes call a real model."""
        return self.mode == "replay"

    @property
    def recorded(self) -> int:
        """How many distinct requests the cassette holds (as read so far)."""
        with self._lock:
            self._refresh()
            return len(self._index)

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Replay or record ``request`` according to the mode.

        Raises:
            ReplayMiss: ``replay`` mode and the cassette lacks the request.
            ProviderConfigError: corrupt cassette or no provider to record with.
            ProviderError: whatever the inner provider raises while recording.
        """
        key = request.cache_key()
        if self.mode != "record":
            with self._lock:
                self._refresh()
                hit = self._index.get(key)
            if hit is not None:
                return hit.model_copy(update={"cached": True})
            if self.mode == "replay":
                raise ReplayMiss(self._miss_message(request, key))
        response = self._inner_provider().complete(request)
        self._append(key, request, response)
        return response

    def _inner_provider(self) -> Provider:
        with self._lock:
            if self._inner is None:
                if self._inner_factory is None:
                    raise ProviderConfigError(
                        f"replay mode {self.mode!r} needs a real provider to record "
                        f"into {self.cassette}, and none is configured"
                    )
                self._inner = self._inner_factory()
            return self._inner

    def _append(self, key: str, request: LLMRequest, response: LLMResponse) -> None:
        record = {
            "key": key,
            "request": request.model_dump(mode="json"),
            "response": response.model_dump(mode="json"),
            "recorded_at": time.time(),
        }
        line = (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode()
        self.cassette.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.cassette, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                written = os.write(fd, line)
                # A short write on a regular file means a full disk; finish it so
                # the cassette never holds half a line followed by another record.
                while written < len(line):
                    written += os.write(fd, line[written:])
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        with self._lock:
            self._index[key] = response

    def _refresh(self) -> None:
        """Index complete lines appended since the last read. Caller holds the lock."""
        try:
            with self.cassette.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n")
        if end < 0:
            return
        for raw in data[: end + 1].splitlines():
            self._lines_read += 1
            if raw.strip():
                key, response = self._parse_line(raw, self._lines_read)
                self._index[key] = response
        self._offset += end + 1

    def _parse_line(self, raw: bytes, line_no: int) -> tuple[str, LLMResponse]:
        where = f"{self.cassette}:{line_no}"
        try:
            record = json.loads(raw)
        except ValueError as err:
            raise ProviderConfigError(f"{where}: cassette line is not JSON ({err})") from err
        if not isinstance(record, dict) or not isinstance(record.get("key"), str):
            raise ProviderConfigError(f"{where}: cassette line needs a string 'key'")
        try:
            response = LLMResponse.model_validate(record.get("response"))
        except ValidationError as err:
            raise ProviderConfigError(
                f"{where}: cassette 'response' is not a valid response: {err.errors()[0]['msg']}"
            ) from err
        return record["key"], response

    def _miss_message(self, request: LLMRequest, key: str) -> str:
        prompt = request.prompt_text.replace("\n", " ")
        if len(prompt) > 60:
            prompt = prompt[:57] + "..."
        exists = "" if self.cassette.exists() else " (the file does not exist)"
        return (
            f"replay cassette {self.cassette}{exists} has no recording for model "
            f"{request.model!r}, prompt {prompt!r} (key {key[:12]}); record it with "
            "EVOFARM_REPLAY_MODE=replay_or_record"
        )


def _factory(settings: Settings, options: ProviderOptions) -> ReplayProvider:
    """The ``replay`` provider; recording modes forward to the slot's real backend.

    A ``gemini`` slot records from ``gemini``, any other from ``anthropic``.
    """
    backend = "gemini" if slot_family(options.slot) == "gemini" else "anthropic"
    make = options.make
    inner = (lambda: make(backend)) if make is not None else None
    return ReplayProvider.from_settings(settings, inner_factory=inner)


register_provider("replay", _factory)

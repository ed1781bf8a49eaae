"""A headless Chromium driven over the DevTools protocol on a pipe (for page tests).

No driver and no websocket library: Chromium's ``--remote-debugging-pipe``
reads JSON commands from fd 3 and writes replies and events to fd 4, each
message ended by a NUL byte. :class:`Browser` starts it, opens one page and
offers what the tests need: navigate, evaluate, wait for a condition, real
mouse clicks and typing (``Input.*`` events), screenshots.

Not thread safe: one test drives one browser.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from evofarm.errors import FarmError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


class BrowserError(FarmError):
    """Chromium failed, answered with an error, or a wait timed out."""


def find_chromium() -> str | None:
    """The path of an installed Chromium (``EVOFARM_CHROMIUM`` first), or None."""
    given = os.environ.get("EVOFARM_CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium with one page (context manager)."""

    def __init__(self, executable: str, *, width: int = 1280, height: int = 900) -> None:
        self.executable = executable
        self.size = (width, height)
        self._next_id = 0
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        self._profile = tempfile.TemporaryDirectory(prefix="evofarm-chromium-")
        self._proc: subprocess.Popen[bytes] | None = None
        self._session: str | None = None

    def __enter__(self) -> Browser:
        commands_r, self._commands = os.pipe()
        self._replies, replies_w = os.pipe()

        def wire() -> None:  # runs in the child before exec: fds 3 and 4 are the pipe
            os.dup2(commands_r, 3)
            os.dup2(replies_w, 4)

        self._proc = subprocess.Popen(
            [
                self.executable,
                "--headless=new",
                "--remote-debugging-pipe",
                "--no-sandbox",  # root in CI containers; the page is our own loopback app
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                f"--user-data-dir={self._profile.name}",
                f"--window-size={self.size[0]},{self.size[1]}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=wire,  # noqa: PLW1509 - single-threaded test setup
        )
        os.close(commands_r)
        os.close(replies_w)
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = str(attached["sessionId"])
        self.send("Page.enable")
        self.send("Runtime.enable")
        width, height = self.size
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self.send("Browser.close", session=False, timeout=5)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for fd in (self._commands, self._replies):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._profile.cleanup()

    # ---- the protocol --------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict[str, Any]:
        import select  # noqa: PLC0415 - only the reader needs it

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("chromium did not answer in time")
            ready, _, _ = select.select([self._replies], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise BrowserError("chromium closed its DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: bool = True,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Send one command and return its result.

        Raises:
            BrowserError: an error reply, or no reply within ``timeout``.
        """
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self._session is not None:
            command["sessionId"] = self._session
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") != self._next_id:
                if "method" in message:
                    self._events.append(message)
                continue
            if "error" in message:
                raise BrowserError(f"{method}: {message['error']}")
            result: dict[str, Any] = message.get("result", {})
            return result

    # ---- what tests do ---------------------------------------------------------------
    def goto(self, url: str, timeout: float = 30.0) -> None:
        """Load ``url`` and wait until the document has loaded."""
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'", timeout=timeout)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (promises awaited).

        Raises:
            BrowserError: the expression threw.
        """
        reply = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
        )
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression!r} threw: {reply['exceptionDetails']}")
        return reply.get("result", {}).get("value")

    def wait_for(self, condition: str, timeout: float = 20.0) -> Any:
        """Poll a JavaScript condition until it is truthy; return its value.

        Raises:
            BrowserError: still false after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(condition)
            except BrowserError:
                value = None  # the page is navigating: its context is being replaced
            if value:
                return value
            if time.monotonic() > deadline:
                url = self.evaluate("location.href")
                raise BrowserError(f"timed out waiting for {condition!r} on {url}")
            time.sleep(0.1)

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) at the middle of the element.

        Raises:
            BrowserError: no such element.
        """
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        if not box:
            raise BrowserError(f"no element {selector!r} to click")
        x, y = float(box[0]), float(box[1])
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )

    def type_into(self, selector: str, text: str) -> None:
        """Focus an input and type ``text`` into it (``Input.insertText``)."""
        self.click(selector)
        self.send("Input.insertText", {"text": text})

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """Save a PNG of the whole page (or of the top ``size`` of it); return its path."""
        metrics = self.send("Page.getLayoutMetrics")
        content = metrics.get("cssContentSize") or metrics.get("contentSize") or {}
        width, height = self.size
        if full_page:
            width = max(width, int(content.get("width", width)))
            height = max(height, int(content.get("height", height)))
        shot = self.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

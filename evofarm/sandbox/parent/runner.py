"""``run_sandboxed``: the worker's side of one sandboxed evaluation.

The parent (the worker process) asks the zygote for a sandbox, sends the job
over a pipe, serves the child's LLM calls with its own provider (on helper
threads, see :mod:`evofarm.sandbox.parent.llm_relay`), reads the
result with a cap checked before any body is read, enforces the wall timeout
and classifies how the evaluation ended. It never raises for anything the
candidate does; it raises :class:`~evofarm.errors.SandboxError` when the
sandbox itself could not run, and re-raises
:class:`~evofarm.errors.ProviderUnavailable` from the provider (both are
infrastructure failures that the farm retries).

Safe to call from several threads at once and from a daemonic Celery prefork
worker: everything is ``subprocess``/``os.fork`` based, no ``multiprocessing``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import shutil
import signal
import tempfile
import time
from typing import Any

from evofarm.errors import SandboxError
from evofarm.providers.base import Provider
from evofarm.sandbox.child.isolation import DEFAULT_HIDDEN
from evofarm.sandbox.child.zygote import get_zygote
from evofarm.sandbox.limits import SandboxLimits
from evofarm.sandbox.parent.llm_relay import LLMRelay
from evofarm.sandbox.parent.score_relay import ScoreRelay, WorkerScorer
from evofarm.sandbox.wire import channel
from evofarm.sandbox.wire.codes import EXIT_MEMORY
from evofarm.sandbox.wire.job import AnyJob, PipelineBatchJob
from evofarm.sandbox.wire.llm_frames import BadFrame
from evofarm.sandbox.wire.outcome import Isolation, Outcome, SandboxResult, SandboxUsage

log = logging.getLogger(__name__)

# Room for the envelope around a result of exactly ``max_output_bytes``.
ENVELOPE_BYTES = 64 * 1024
STATUS_CAP = 64 * 1024
# After a kill, how long to wait for the supervisor to report its end.
KILL_GRACE_S = 5.0
_warned: set[tuple[str, ...]] = set()


def run_sandboxed(
    job: AnyJob,
    *,
    limits: SandboxLimits | None = None,
    llm: Provider | None = None,
    namespaces: bool = True,
    hidden: tuple[str, ...] = DEFAULT_HIDDEN,
    expose: tuple[str, ...] = (),
    scorer: WorkerScorer | None = None,
) -> SandboxResult:
    """Run ``job`` in a fresh sandbox and classify how it ended.

    Args:
        job: what to run (JSON data only).
        limits: resource limits; defaults to ``SandboxLimits()``.
        llm: the provider that serves the child's LLM calls; ``None`` refuses
            them (the child's step fails with ``ProviderError``).
        namespaces: ``False`` forces the degraded mode (no namespaces), as on a
            platform that refuses them; the result records it.
        hidden: directories shown empty to the child in full isolation.
        expose: directories below ``hidden`` ones that the child must still
            read (e.g. a pipeline's ``base_dir``); always read-only.
        scorer: evaluates the pipelines the child's ``pipeline_executor`` steps
            ask about (:mod:`evofarm.sandbox.parent.score_relay`); ``None``
            refuses them.

    Returns:
        The :class:`SandboxResult`; every outcome of the candidate is data.
        For a :class:`PipelineBatchJob` its ``value`` is always
        ``{"cases": {case_id: {"outcome", "message", "value"}}}`` with the
        cases the child reported before it ended (whatever the outcome);
        :mod:`evofarm.sandbox.parent.batch` fails the others.

    Raises:
        SandboxError: the sandbox machinery failed (retryable).
        ProviderUnavailable: ``llm`` failed past its retries (retryable).
    """
    limits = limits or SandboxLimits()
    start = time.monotonic()
    # Encoded first: a job that is not JSON is the caller's bug, raised here
    # (TypeError/ValueError) before any process is started.
    job_frame = channel.encode(
        {
            "type": "job",
            "job": job.model_dump(mode="json"),
            "max_output_bytes": limits.max_output_bytes,
        }
    )
    workdir = tempfile.mkdtemp(prefix="evofarm-sandbox-")
    pipes = [os.pipe() for _ in range(3)]
    (from_child, child_out), (child_in, to_child), (status_r, status_w) = pipes
    session: _Session | None = None
    try:
        spec = {
            "limits": limits.model_dump(mode="json"),
            "workdir": workdir,
            "hidden": list(hidden),
            "expose": [str(p) for p in expose],
            "namespaces": namespaces,
        }
        try:
            supervisor = get_zygote().spawn(spec, [child_out, child_in, status_w])
        finally:
            for fd in (child_out, child_in, status_w):
                os.close(fd)
        session = _Session(
            limits=limits,
            llm=llm,
            scorer=scorer,
            from_child=from_child,
            to_child=to_child,
            status=status_r,
            supervisor=supervisor,
            cases=job.case_ids if isinstance(job, PipelineBatchJob) else None,
        )
        result = session.run(job_frame, deadline=start + limits.wall_timeout_s)
    finally:
        if session is not None:
            session.close()
        else:
            for fd in (from_child, to_child, status_r):
                os.close(fd)
        shutil.rmtree(workdir, ignore_errors=True)
    result.wall_ms = (time.monotonic() - start) * 1000
    if result.isolation.missing and result.isolation.missing not in _warned:
        _warned.add(result.isolation.missing)
        log.warning("sandbox runs degraded: %s", "; ".join(result.isolation.missing))
    return result


class _Session:
    """One evaluation's parent-side state machine. Single-threaded."""

    def __init__(
        self,
        *,
        limits: SandboxLimits,
        llm: Provider | None,
        from_child: int,
        scorer: WorkerScorer | None = None,
        to_child: int,
        status: int,
        supervisor: int,
        cases: frozenset[str] | None = None,
    ) -> None:
        self.limits = limits
        # A batch job's case ids, and the case reports received so far.
        self.expected = cases
        self.cases: dict[str, dict[str, Any]] = {}
        self.from_child = from_child
        self.to_child = to_child
        self.status = status
        self.supervisor_fd: int | None = _pidfd(supervisor)
        self.init_fd: int | None = None
        self.outbox = bytearray()
        self.results = channel.FrameReader(limits.max_output_bytes + ENVELOPE_BYTES)
        self.statuses = channel.FrameReader(STATUS_CAP)
        self.usage = SandboxUsage()
        self.missing: list[str] | None = None
        self.verdict: tuple[Outcome, str] | None = None
        self.report: dict[str, Any] | None = None
        self.exit: dict[str, Any] | None = None
        self.error: str | None = None
        self.infra: BaseException | None = None
        self.relay = LLMRelay(llm, limits.max_llm_calls, self.usage)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.relay.wake_fd, selectors.EVENT_READ)
        self.scores = ScoreRelay(scorer, self.usage)
        self.selector.register(self.scores.read_fd, selectors.EVENT_READ)
        self.reading = {from_child, status}
        for fd in self.reading:
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ)
        os.set_blocking(to_child, False)
        self.writing = False
        self.child_gone = False

    # -- the loop -----------------------------------------------------------

    def run(self, job_frame: bytes, deadline: float) -> SandboxResult:
        self.outbox += job_frame
        self._want_write(True)
        killed_at: float | None = None
        # Done when the init reported the candidate's end (the candidate and
        # everything it started are dead or being killed by the kernel, and
        # its result is already in the pipe), or when both pipes reached end
        # of file. Not waiting for the namespaces' teardown saves ~10 ms.
        while self.reading:
            if self.exit is not None and self.verdict is None:
                self._drain_child()
                break
            now = time.monotonic()
            if killed_at is None and now >= deadline:
                self._stop(Outcome.TIMEOUT, f"wall-clock timeout of {self.limits.wall_timeout_s}s")
            if killed_at is None and self.verdict is not None:
                self._kill()
                killed_at = now
            if killed_at is not None and now - killed_at > KILL_GRACE_S:
                self.error = "the sandbox did not end after SIGKILL"
                break
            wait = (killed_at + KILL_GRACE_S if killed_at is not None else deadline) - now
            for key, events in self.selector.select(max(wait, 0.0)):
                if events & selectors.EVENT_WRITE:
                    self._flush()
                elif key.fd == self.relay.wake_fd:
                    self._collect_llm()
                elif key.fd == self.scores.read_fd:
                    self._collect_scores()
                elif events & selectors.EVENT_READ:
                    self._read(key.fd)
        if self.infra is not None:
            raise self.infra
        return self._result()

    def _drain_child(self) -> None:
        """Read what the dead candidate left in its pipe (bounded: a process
        it forked might still be writing until the kernel kills it)."""
        stop = time.monotonic() + KILL_GRACE_S
        while self.from_child in self.reading and time.monotonic() < stop:
            if not self._read(self.from_child):
                return

    def _want_write(self, on: bool) -> None:
        if on and not self.writing and not self.child_gone:
            self.selector.register(self.to_child, selectors.EVENT_WRITE)
            self.writing = True
        elif not on and self.writing:
            self.selector.unregister(self.to_child)
            self.writing = False

    def _flush(self) -> None:
        try:
            written = os.write(self.to_child, self.outbox)
        except BlockingIOError:
            return
        except BrokenPipeError:
            written = len(self.outbox)  # the child is gone; its end says why
            self.child_gone = True
        del self.outbox[:written]
        if not self.outbox or self.child_gone:
            self._want_write(False)

    def _stop_reading(self, fd: int) -> None:
        if fd in self.reading:
            self.reading.discard(fd)
            self.selector.unregister(fd)
        if not self.reading:
            self._want_write(False)

    def _read(self, fd: int) -> bool:
        """Read once from ``fd``; False when nothing was there (or at EOF)."""
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return False
        if not data:
            self._stop_reading(fd)
            return False
        try:
            if fd == self.from_child:
                for message in self.results.feed(data):
                    self._on_child(message)
            else:
                for message in self.statuses.feed(data):
                    self._on_status(message)
        except channel.FrameTooLarge as exc:
            self._stop(Outcome.OUTPUT_LIMIT, str(exc))
            self._stop_reading(fd)
        except channel.ProtocolError as exc:
            # Only code the candidate controls writes non-JSON or NaN frames.
            self._stop(Outcome.FORBIDDEN, f"protocol violation: {exc}")
            self._stop_reading(fd)
        return True

    def _stop(self, outcome: Outcome, message: str) -> None:
        if self.verdict is None:
            self.verdict = (outcome, message)

    # -- messages -----------------------------------------------------------

    def _on_status(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "started":
            self.init_fd = _pidfd(int(message["pid"]))
        elif kind == "isolation":
            self.missing = [str(m) for m in message.get("missing", [])]
        elif kind == "exit":
            self.exit = message
        elif kind == "error":
            self.error = str(message.get("message"))

    def _on_child(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "result" and self.report is None:
            self.report = message
        elif kind == "llm":
            self._serve_llm(message)
        elif kind == "score":
            self._serve_score(message)
        elif kind == "case" and self.expected is not None and self.report is None:
            self._on_case(message)
        else:
            self._stop(Outcome.CANDIDATE_ERROR, f"protocol violation: unexpected {kind!r} message")

    def _on_case(self, message: dict[str, Any]) -> None:
        # Each expected case reports once, each report within the frame cap:
        # a batch's results never exceed ``max_output_bytes`` per case.
        case_id = message.get("id")
        expected = self.expected or frozenset()
        if not isinstance(case_id, str) or case_id not in expected or case_id in self.cases:
            self._stop(Outcome.CANDIDATE_ERROR, f"protocol violation: bad case id {case_id!r}")
            return
        try:
            outcome = Outcome(str(message.get("outcome")))
        except ValueError:
            self._stop(Outcome.CANDIDATE_ERROR, "protocol violation: bad case outcome")
            return
        self.cases[case_id] = {
            "outcome": outcome.value,
            "message": str(message.get("message", ""))[:2000],
            "value": message.get("value"),
        }

    def _serve_llm(self, message: dict[str, Any]) -> None:
        try:
            reply = self.relay.submit(message)
        except BadFrame as exc:
            self._stop(Outcome.FORBIDDEN, str(exc))
            return
        if reply is not None:
            self._send(reply)

    def _collect_llm(self) -> None:
        try:
            replies = self.relay.ready()
        except Exception as exc:  # infrastructure: re-raised once the sandbox is down
            self.infra = exc
            self._stop(Outcome.CRASHED, f"the worker's provider failed: {exc}")
            return
        for reply in replies:
            self._send(reply)

    def _serve_score(self, message: dict[str, Any]) -> None:
        reply = self.scores.submit(message)
        if reply is not None:
            self._send(reply)

    def _collect_scores(self) -> None:
        try:
            replies = self.scores.ready()
        except Exception as exc:  # infrastructure: re-raised once the sandbox is down
            self.infra = exc
            self._stop(Outcome.CRASHED, f"the worker's nested evaluation failed: {exc}")
            return
        for reply in replies:
            self._send(reply)

    def _send(self, reply: dict[str, Any]) -> None:
        self.outbox += channel.encode(reply)
        self._want_write(True)

    # -- the end ------------------------------------------------------------

    def _kill(self) -> None:
        # Killing the namespace's init makes the kernel kill every process in
        # it; the supervisor then reaps it and exits (ending the status pipe).
        for fd in (self.init_fd, self.supervisor_fd):
            if fd is not None:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(fd, signal.SIGKILL)

    def _result(self) -> SandboxResult:
        if self.exit is not None:
            self.usage.cpu_s = float(self.exit.get("cpu_s", 0.0))
            self.usage.max_rss_bytes = int(self.exit.get("max_rss_bytes", 0))
        outcome, message, value = self._classify()
        if self.expected is not None:
            value = {"cases": self.cases}
        missing = self.missing
        if missing is None:
            missing = ["unknown: the sandbox never reported its isolation"]
        return SandboxResult(
            outcome=outcome,
            message=message,
            value=value,
            isolation=Isolation.from_missing(missing),
            usage=self.usage,
        )

    def _classify(self) -> tuple[Outcome, str, Any]:
        if self.verdict is not None:
            return (*self.verdict, None)
        if self.report is not None:
            # The child's report is the candidate's word about itself: it can
            # only misreport its own evaluation, so any valid outcome is taken.
            try:
                outcome = Outcome(str(self.report.get("outcome")))
            except ValueError:
                return Outcome.CANDIDATE_ERROR, "protocol violation: bad outcome", None
            # A failed pipeline run still carries its trace as the value.
            return outcome, str(self.report.get("message", ""))[:2000], self.report.get("value")
        if self.exit is None:
            if self.error is None and self.missing is not None:
                # The candidate was started and its init vanished without a
                # word: in the degraded mode a candidate can kill it.
                return Outcome.CRASHED, "the sandbox's init was killed", None
            raise SandboxError(self.error or "the sandbox ended without reporting")
        status = int(self.exit["status"])
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            cpu = float(self.exit.get("cpu_s", 0.0))
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= self.limits.cpu_s):
                return Outcome.CPU_LIMIT, f"CPU limit of {self.limits.cpu_s}s exceeded", None
            if sig == signal.SIGXFSZ:
                return Outcome.OUTPUT_LIMIT, "file size limit exceeded", None
            return Outcome.CRASHED, f"killed by signal {signal.Signals(sig).name}", None
        code = os.WEXITSTATUS(status)
        if code == EXIT_MEMORY:
            return Outcome.MEMORY_LIMIT, "out of memory", None
        return Outcome.CANDIDATE_ERROR, f"exited with status {code} without a result", None

    def close(self) -> None:
        if self.verdict is None and (self.report is None or self.exit is None):
            self._kill()
        self.selector.close()
        self.relay.close()
        self.scores.close()
        for fd in (self.from_child, self.to_child, self.status, self.init_fd, self.supervisor_fd):
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)


def _pidfd(pid: int) -> int | None:
    # A pidfd names the process itself, so a later kill cannot hit a recycled pid.
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None

"""Resource limits of one sandboxed evaluation.

Every field is enforced: the CPU, memory, process, file-size and open-file limits
by ``setrlimit`` in the sandboxed child; the wall timeout, output cap and LLM call
count by the parent (:mod:`evofarm.sandbox.parent.runner`); ``workdir_bytes`` by the size
of the private ``tmpfs`` the child works in (full isolation only: the degraded
mode records that it cannot enforce it).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MIB = 1024 * 1024


class SandboxLimits(BaseModel):
    """Limits applied to one evaluation. Immutable and JSON-serialisable.

    Attributes:
        cpu_s: CPU seconds (``RLIMIT_CPU``); past it the child gets ``SIGXCPU``.
        memory_bytes: address space (``RLIMIT_AS``) of every sandboxed process.
        max_processes: processes and threads the candidate may have at once,
            itself included (``RLIMIT_NPROC``, which counts threads too; per
            user namespace in full isolation). The executor runs each step on
            a thread, so leave room for them.
        max_file_bytes: largest file the candidate may write (``RLIMIT_FSIZE``).
        max_open_files: open file descriptors per process (``RLIMIT_NOFILE``).
        wall_timeout_s: wall-clock time after which the whole sandbox is killed.
        max_output_bytes: largest message (result or LLM request) the parent
            accepts; checked from the frame header, before the body is read.
        workdir_bytes: size of the private working directory (a ``tmpfs``).
        max_llm_calls: LLM calls the parent serves for one evaluation.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu_s: int = Field(default=10, ge=1)
    memory_bytes: int = Field(default=1024 * MIB, ge=64 * MIB)
    max_processes: int = Field(default=64, ge=1)
    max_file_bytes: int = Field(default=16 * MIB, ge=0)
    max_open_files: int = Field(default=64, ge=16)
    wall_timeout_s: float = Field(default=30.0, gt=0)
    max_output_bytes: int = Field(default=8 * MIB, ge=1024)
    workdir_bytes: int = Field(default=64 * MIB, ge=MIB)
    max_llm_calls: int = Field(default=100, ge=0)

from __future__ import annotations

import pytest
from pydantic import ValidationError

from evofarm.sandbox.limits import SandboxLimits
from evofarm.sandbox.wire.outcome import Isolation, Outcome, SandboxResult, SandboxUsage


def test_limits_defaults_are_positive_and_json_round_trip() -> None:
    limits = SandboxLimits()
    again = SandboxLimits.model_validate_json(limits.model_dump_json())
    assert again == limits
    assert limits.cpu_s >= 1 and limits.memory_bytes >= 64 * 1024 * 1024


@pytest.mark.parametrize(
    "field,value",
    [
        ("cpu_s", 0),
        ("memory_bytes", 1024),
        ("max_processes", 0),
        ("max_file_bytes", -1),
        ("max_open_files", 3),
        ("wall_timeout_s", 0),
        ("max_output_bytes", 10),
        ("workdir_bytes", 100),
        ("max_llm_calls", -1),
    ],
)
def test_limits_reject_unusable_values(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        SandboxLimits.model_validate({field: value})


def test_limits_reject_unknown_fields_and_are_frozen() -> None:
    with pytest.raises(ValidationError, match="extra"):
        SandboxLimits.model_validate({"cpu_seconds": 3})
    limits = SandboxLimits()
    with pytest.raises(ValidationError):
        limits.cpu_s = 99  # type: ignore[misc]


def test_isolation_mode_follows_missing() -> None:
    assert Isolation.from_missing([]).mode == "full"
    degraded = Isolation.from_missing(["network: shared"])
    assert degraded.mode == "degraded"
    assert degraded.missing == ("network: shared",)


def test_outcome_names_are_the_issue_s() -> None:
    assert {o.value for o in Outcome} == {
        "ok",
        "candidate_error",
        "timeout",
        "memory_limit",
        "cpu_limit",
        "process_limit",
        "output_limit",
        "forbidden",
        "crashed",
    }


def test_result_json_round_trip() -> None:
    result = SandboxResult(
        outcome=Outcome.TIMEOUT,
        message="wall-clock timeout",
        isolation=Isolation.from_missing(["proc: shared"]),
        wall_ms=12.5,
        usage=SandboxUsage(llm_calls=2, input_tokens=10, output_tokens=5, cpu_s=0.5),
    )
    again = SandboxResult.model_validate_json(result.model_dump_json())
    assert again == result
    assert not again.ok
    assert again.outcome is Outcome.TIMEOUT

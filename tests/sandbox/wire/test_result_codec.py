from __future__ import annotations

import json

import pytest

from evofarm.errors import StepFailed
from evofarm.sandbox.wire.result_codec import ResultTooLarge, encode_result


def test_encodes_json_compactly() -> None:
    value = {"a": [1, 2.5, None, True], "b": "é"}
    text = encode_result(value, cap=1000)
    assert json.loads(text) == value


@pytest.mark.parametrize(
    "value",
    [
        "x" * 2000,
        ["y" * 100] * 30,
        {str(i): i for i in range(500)},
        [[[[1] * 10] * 10] * 10] * 5,
    ],
)
def test_refuses_results_over_the_cap(value: object) -> None:
    with pytest.raises(ResultTooLarge):
        encode_result(value, cap=1000)


def test_escaping_counts_against_the_cap() -> None:
    # 400 quotes pass the rough size check but encode to 800+ bytes.
    with pytest.raises(ResultTooLarge):
        encode_result('"' * 400, cap=700)


@pytest.mark.parametrize("value", [{1, 2}, float("nan"), object(), {"k": b"bytes"}])
def test_refuses_non_json(value: object) -> None:
    with pytest.raises(StepFailed, match="JSON"):
        encode_result(value, cap=1000)

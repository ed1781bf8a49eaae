"""Encode a job's result under a byte cap, without first building it whole."""

from __future__ import annotations

import json
from typing import Any

from evofarm.errors import FarmError, StepFailed


class ResultTooLarge(FarmError):
    """The result would take more than the cap once encoded (the child reports an output limit)."""


def _rough_size_exceeds(value: Any, cap: int) -> bool:
    """A cheap lower bound of the encoded size, walked without recursion.

    Catches a huge string or a huge container before ``json`` makes copies of
    it (which could exhaust the memory limit and misreport the outcome).
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 2 + len(item)
            for key, sub in item.items():
                stack.append(key)
                stack.append(sub)
        elif isinstance(item, list | tuple):
            total += 2 + len(item)
            stack.extend(item)
        else:
            total += 1
        if total > cap:
            return True
    return False


def encode_result(value: Any, cap: int) -> str:
    """JSON text of ``value``, at most ``cap`` UTF-8 bytes.

    Raises:
        ResultTooLarge: the encoding exceeds ``cap``.
        StepFailed: ``value`` is not JSON-serialisable (sets, objects, NaN...).
    """
    if _rough_size_exceeds(value, cap):
        raise ResultTooLarge(f"the result exceeds {cap} bytes")
    parts: list[str] = []
    size = 0
    try:
        for chunk in json.JSONEncoder(allow_nan=False, separators=(",", ":")).iterencode(value):
            size += len(chunk.encode())
            if size > cap:
                raise ResultTooLarge(f"the result exceeds {cap} bytes")
            parts.append(chunk)
    except (TypeError, ValueError) as exc:
        raise StepFailed(f"result is not JSON-serialisable: {exc}") from None
    return "".join(parts)

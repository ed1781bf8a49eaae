"""``run --workers N`` on a shared broker is refused with a clear line (no silent hang)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from evofarm.cli import main
from evofarm.settings import get_settings

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "campaigns" / "demo.yaml"


def test_workers_with_a_shared_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 9 on loopback: nothing is contacted, the option is refused first.
    monkeypatch.setenv("EVOFARM_BROKER_URL", "redis://127.0.0.1:9/0")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main.app, ["run", str(DEMO), "--workers", "2"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "--workers starts local workers for the embedded farm only" in result.stderr

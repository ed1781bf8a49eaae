from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from evofarm.errors import ProviderConfigError, ProviderUnavailable, ReplayMiss
from evofarm.providers.base import LLMRequest
from evofarm.providers.mock import MockProvider, ScriptedProvider
from evofarm.providers.replay import ReplayProvider


def test_record_then_replay_offline(tmp_path: Path) -> None:
    cassette = tmp_path / "sub" / "cassette.jsonl"
    real = MockProvider(name="real")
    recorder = ReplayProvider(cassette, "record", inner=real)
    request = LLMRequest.from_prompt("claude-haiku-4-5", "hello", temperature=0.0)
    recorded = recorder.complete(request)
    assert real.calls == 1

    # A fresh provider with no inner provider at all: fully offline.
    replayer = ReplayProvider(cassette, "replay")
    replayed = replayer.complete(request)
    assert replayed.text == recorded.text
    assert replayed.usage == recorded.usage
    assert replayed.cost_usd == recorded.cost_usd
    assert replayed.cached is True
    assert replayer.deterministic and not recorder.deterministic

    line = json.loads(cassette.read_text().splitlines()[0])
    assert line["key"] == request.cache_key()
    assert line["request"]["messages"][0]["content"] == "hello"


def test_key_covers_parameters(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    ReplayProvider(cassette, "record", inner=MockProvider()).complete(
        LLMRequest.from_prompt("m", "hello", max_tokens=10)
    )
    replayer = ReplayProvider(cassette, "replay")
    with pytest.raises(ReplayMiss):
        replayer.complete(LLMRequest.from_prompt("m", "hello", max_tokens=11))
    with pytest.raises(ReplayMiss):
        replayer.complete(LLMRequest.from_prompt("other-model", "hello", max_tokens=10))


def test_miss_names_cassette_and_request(tmp_path: Path) -> None:
    cassette = tmp_path / "missing.jsonl"
    with pytest.raises(ReplayMiss) as info:
        ReplayProvider(cassette, "replay").complete(LLMRequest.from_prompt("haiku", "what is 2+2?"))
    message = str(info.value)
    assert str(cassette) in message and "does not exist" in message
    assert "'haiku'" in message and "what is 2+2?" in message
    assert "replay_or_record" in message


def test_replay_or_record_calls_once_per_request(tmp_path: Path) -> None:
    inner = ScriptedProvider(function=lambda r: f"answer to {r.prompt_text}")
    provider = ReplayProvider(tmp_path / "c.jsonl", "replay_or_record", inner=inner)
    a, b = LLMRequest.from_prompt("m", "a"), LLMRequest.from_prompt("m", "b")
    assert provider.complete(a).text == "answer to a"
    assert provider.complete(a).text == "answer to a"
    assert provider.complete(b).cached is False
    assert len(inner.requests) == 2
    assert provider.recorded == 2


def test_inner_provider_is_built_only_when_recording(tmp_path: Path) -> None:
    built: list[int] = []

    def factory() -> MockProvider:
        built.append(1)
        return MockProvider()

    cassette = tmp_path / "c.jsonl"
    ReplayProvider(cassette, "record", inner=MockProvider()).complete(
        LLMRequest.from_prompt("m", "x")
    )
    provider = ReplayProvider(cassette, "replay_or_record", inner_factory=factory)
    provider.complete(LLMRequest.from_prompt("m", "x"))
    assert built == []
    provider.complete(LLMRequest.from_prompt("m", "new"))
    assert built == [1]


def test_recording_without_inner_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError, match="needs a real provider"):
        ReplayProvider(tmp_path / "c.jsonl", "record").complete(LLMRequest.from_prompt("m", "x"))
    with pytest.raises(ProviderConfigError, match="unknown replay mode 'play'"):
        ReplayProvider(tmp_path / "c.jsonl", "play")


def test_inner_errors_are_not_recorded(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    inner = ScriptedProvider([ProviderUnavailable("down")])
    with pytest.raises(ProviderUnavailable):
        ReplayProvider(cassette, "record", inner=inner).complete(LLMRequest.from_prompt("m", "x"))
    assert not cassette.exists()


def test_corrupt_line_names_file_and_line(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    ReplayProvider(cassette, "record", inner=MockProvider()).complete(
        LLMRequest.from_prompt("m", "x")
    )
    with cassette.open("a") as fh:
        fh.write("{not json\n")
    with pytest.raises(ProviderConfigError, match=r"c\.jsonl:2: cassette line is not JSON"):
        ReplayProvider(cassette, "replay").complete(LLMRequest.from_prompt("m", "x"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"key": "k", "response": {"text": 1}}) + "\n")
    with pytest.raises(ProviderConfigError, match=r"bad\.jsonl:1: cassette 'response'"):
        ReplayProvider(bad, "replay").complete(LLMRequest.from_prompt("m", "x"))


def test_partial_trailing_line_is_ignored_until_complete(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    ReplayProvider(cassette, "record", inner=MockProvider()).complete(
        LLMRequest.from_prompt("m", "x")
    )
    with cassette.open("a") as fh:
        fh.write('{"key": "half')  # a writer in progress
    reader = ReplayProvider(cassette, "replay")
    assert reader.complete(LLMRequest.from_prompt("m", "x")).text.startswith("Mock response")


def test_picks_up_lines_other_writers_append(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    reader = ReplayProvider(cassette, "replay")
    request = LLMRequest.from_prompt("m", "later")
    with pytest.raises(ReplayMiss):
        reader.complete(request)
    ReplayProvider(cassette, "record", inner=MockProvider()).complete(request)
    assert reader.complete(request).cached


def test_concurrent_threads_and_processes_append_whole_lines(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    big = "y" * 20_000  # far beyond PIPE_BUF: atomicity comes from the lock
    script = (
        "import sys\n"
        "from evofarm.providers.base import LLMRequest\n"
        "from evofarm.providers.mock import MockProvider\n"
        "from evofarm.providers.replay import ReplayProvider\n"
        "p = ReplayProvider(sys.argv[1], 'record', inner=MockProvider())\n"
        "for i in range(20):\n"
        f"    p.complete(LLMRequest.from_prompt('m', sys.argv[2] + str(i) + {big!r}))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(cassette), f"proc{n}-"])
        for n in range(2)
    ]
    local = ReplayProvider(cassette, "record", inner=MockProvider())
    threads = [
        threading.Thread(
            target=lambda n=n: [
                local.complete(LLMRequest.from_prompt("m", f"thread{n}-{i}{big}"))
                for i in range(20)
            ]
        )
        for n in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(p.wait(timeout=60) == 0 for p in procs)
    lines = cassette.read_bytes().split(b"\n")
    assert lines[-1] == b""
    records = [json.loads(line) for line in lines[:-1]]
    assert len(records) == 100
    assert ReplayProvider(cassette, "replay").recorded == 100

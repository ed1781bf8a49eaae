"""A step type and a provider added from a module outside evofarm.

The plugin module is written under the test's tmp dir and imported the two ways
users have: ``import_plugins`` (a campaign's ``plugins:``) in this process, and
``EVOFARM_PLUGINS`` in a fresh ``evofarm pipeline run`` process. Both then load,
validate and run a pipeline through the CLI's code path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evofarm.cli import main
from evofarm.errors import PipelineLoadError, PipelineValidationError
from evofarm.pipeline import schema
from evofarm.pipeline.loader import load_pipeline_text
from evofarm.pipeline.step_types import STEP_REGISTRY
from evofarm.pipeline.structure import provider_slot
from evofarm.providers.base import PROVIDERS
from evofarm.registry import import_plugins

REPO = Path(__file__).resolve().parents[2]

PLUGIN = '''\
"""A user's plugin: a 'shout' step type and a 'parrot' provider."""
from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from evofarm.pipeline.prompts import build_prompt
from evofarm.pipeline.schema_base import LLMStep
from evofarm.pipeline.schema_prompts import Prompt
from evofarm.pipeline.step_types import StepType, register_step_type
from evofarm.providers.base import LLMResponse, register_provider


class ShoutStep(LLMStep):
    """``shout``: ask the LLM, answer upper-cased ``times`` times."""

    provider_slot: ClassVar[str] = "claude"
    type: Literal["shout"]
    prompt: Prompt
    times: int = Field(default=1, ge=1)


def shout(step: ShoutStep, ctx: Any) -> str:
    text = ctx.complete("claude", build_prompt(step.prompt, ctx), model=step.model).text
    return " ".join([text.upper()] * step.times)


class Parrot:
    name = "parrot"

    def complete(self, request: Any) -> LLMResponse:
        return LLMResponse(text="polly " + request.prompt_text, model=request.model,
                           provider=self.name)


register_step_type(StepType("shout", ShoutStep, shout))
register_provider("parrot", lambda settings, options: Parrot())
'''

PIPELINE = """\
name: plugged
providers:
  claude: {provider: parrot}
steps:
  - name: loud
    type: shout
    times: 2
    prompt: "hello {{inputs.who}}"
"""


def _write_plugin(directory: Path, module: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{module}.py").write_text(PLUGIN)


@pytest.fixture(scope="module")
def plugged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("plugged")
    _write_plugin(root / "plugins", "evofarm_test_plugin_a")
    sys.path.insert(0, str(root / "plugins"))
    try:
        import_plugins(["evofarm_test_plugin_a"])  # what a campaign's plugins: does
        yield root
    finally:
        sys.path.remove(str(root / "plugins"))
        STEP_REGISTRY.unregister("shout")
        PROVIDERS.unregister("parrot")


def test_registered_names_reach_every_reader(plugged: Path) -> None:
    assert "shout" in schema.STEP_TYPES and "shout" in schema.LLM_STEP_TYPES  # read when asked
    assert provider_slot("shout") == "claude"
    assert "parrot" in PROVIDERS.names()
    pipeline = load_pipeline_text(PIPELINE)
    assert pipeline.steps[0].type == "shout"


def test_the_plugin_step_validates_with_locations(plugged: Path) -> None:
    with pytest.raises(PipelineLoadError) as info:
        load_pipeline_text(PIPELINE.replace("times: 2", "times: 0"), "p.yaml")
    assert info.value.location.file == "p.yaml"
    assert info.value.location.key == "steps[0].times"
    assert (info.value.location.line, info.value.location.column) == (7, 12)
    with pytest.raises(PipelineValidationError) as unknown:
        load_pipeline_text(PIPELINE.replace("type: shout", "type: shuot"), "p.yaml")
    assert unknown.value.location.key == "steps[0].type"
    assert "'shout'" in str(unknown.value)  # "did you mean" names the plugin's type
    with pytest.raises(PipelineLoadError) as provider:
        load_pipeline_text(PIPELINE.replace("provider: parrot", "provider: parot"), "p.yaml")
    assert provider.value.location.key == "providers.claude.provider"


def test_the_plugin_runs_through_pipeline_run(plugged: Path) -> None:
    file = plugged / "p.yaml"
    file.write_text(PIPELINE)
    result = CliRunner().invoke(
        main.app,
        [
            "pipeline",
            "run",
            str(file),
            "--json",
            "-i",
            "who=you",
            "--provider",
            "parrot",
            "--workspace",
            str(plugged / "ws"),
        ],
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "completed"
    assert data["output"] == "POLLY HELLO YOU POLLY HELLO YOU"


def test_a_fresh_process_loads_the_plugin_from_evofarm_plugins(tmp_path: Path) -> None:
    _write_plugin(tmp_path / "plugins", "evofarm_test_plugin_b")
    file = tmp_path / "p.yaml"
    file.write_text(PIPELINE)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "plugins"), str(REPO)]),
        "EVOFARM_PLUGINS": "evofarm_test_plugin_b",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from evofarm.cli.main import main; main()",
            "pipeline",
            "run",
            str(file),
            "--json",
            "-i",
            "who=me",
            "--workspace",
            str(tmp_path / "ws"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["output"] == "POLLY HELLO ME POLLY HELLO ME"

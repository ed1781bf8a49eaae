"""A small LLM campaign for tests: files, and a fake proposer that is right 1 time in 3.

:func:`write_campaign` writes a seed pipeline that only trims a name, a suite
asking for the name in title case, and a campaign evolving it with
``llm_mutation`` alone (proposer: anthropic). :class:`OneInThree` answers the
proposer's requests on a :class:`~evofarm.testing.fake_anthropic.FakeAnthropicServer`:
prose, then broken YAML, then the fixed pipeline, over and over, each reply
billed a fixed usage, so a test can compare the campaign's tokens with what the
server billed.
"""

from __future__ import annotations

import threading
from pathlib import Path

from evofarm.testing.fake_anthropic import FakeReply, RecordedRequest

SEED = """\
workflow:
  name: namer
  inputs: {name: ""}
  steps:
    - name: clean
      type: transform
      input: "{{inputs.name}}"
      operations: [{op: strip}]
"""

FIXED = SEED.replace("[{op: strip}]", "[{op: strip}, {op: title}]")

NAMES = [(" ada lovelace", "Ada Lovelace"), ("ALAN TURING ", "Alan Turing"),
         ("grace hopper", "Grace Hopper"), ("Edsger Dijkstra", "Edsger Dijkstra")]  # fmt: skip

#: Billed per proposer reply.
INPUT_TOKENS = 700
OUTPUT_TOKENS = 120


def suite_text() -> str:
    """The suite: the name in title case (one required equals check per case)."""
    cases = "".join(
        f"  - id: c{i}\n    inputs: {{name: {raw!r}}}\n    checks:\n"
        f"      - {{type: equals, value: {want!r}, required: true}}\n"
        for i, (raw, want) in enumerate(NAMES)
    )
    return f"name: names\ncases:\n{cases}"


def campaign_text(*, generations: int = 6, seeds: bool = True) -> str:
    """The campaign (``seeds: false`` gives a ``request:`` campaign instead)."""
    origin = (
        "seeds: [seed.yaml]\n"
        if seeds
        else "request: {text: 'Turn a name into title case', proposals: 3}\n"
    )
    return (
        "name: llm-namer\n"
        f"{origin}"
        "suite: suite.yaml\n"
        "evolution:\n"
        "  population: 2\n  offspring: 3\n"
        f"  generations: {generations}\n"
        "  seed: 3\n  crossover_rate: 0\n"
        "  operators: {llm_mutation: 1.0}\n"
        "  target_fitness: 0.9\n"
        "proposer: {provider: anthropic, model: claude-haiku-4-5}\n"
        "approval: {policy: auto, min_fitness: 0.9}\n"
    )


def write_campaign(directory: Path, **options: bool | int) -> Path:
    """Write seed.yaml, suite.yaml and campaign.yaml into ``directory``; the campaign path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "seed.yaml").write_text(SEED)
    (directory / "suite.yaml").write_text(suite_text())
    path = directory / "campaign.yaml"
    path.write_text(campaign_text(**options))  # type: ignore[arg-type]
    return path


def fenced(pipeline: str) -> str:
    """A reply in the strict format."""
    head = "CHANGE: title-case the name\nWHY: expected names are capitalised\n"
    return f"{head}```yaml\n{pipeline}```\n"


class OneInThree:
    """Fake-server handler: prose, broken YAML, the fixed pipeline, repeated (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.replies = 0

    def __call__(self, request: RecordedRequest) -> FakeReply:
        with self._lock:
            n = self.replies
            self.replies += 1
        texts = ("I would title-case the name.", fenced("workflow: [broken\n"), fenced(FIXED))
        return FakeReply.ok(texts[n % 3], input_tokens=INPUT_TOKENS, output_tokens=OUTPUT_TOKENS)

    @property
    def billed_tokens(self) -> int:
        """Tokens the server billed so far."""
        return self.replies * (INPUT_TOKENS + OUTPUT_TOKENS)

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

#: A first step that calls the candidate's model (its output is not scored), so
#: evaluations bill calls too: ``with_evaluation_calls(SEED)``.
GREETING = """\
    - name: greet
      type: claude
      model: claude-haiku-4-5
      prompt: [{type: static, content: 'Greet {{inputs.name}}'}]
"""

NAMES = [(" ada lovelace", "Ada Lovelace"), ("ALAN TURING ", "Alan Turing"),
         ("grace hopper", "Grace Hopper"), ("Edsger Dijkstra", "Edsger Dijkstra")]  # fmt: skip

#: Billed per proposer reply.
INPUT_TOKENS = 700
OUTPUT_TOKENS = 120


#: An ``llm_judge`` check (``suite_text(judge=True)``): its calls are role ``judge``.
JUDGE_CHECK = "      - {type: llm_judge, prompt: 'Judge this name: {{output}}'}\n"


def suite_text(*, judge: bool = False) -> str:
    """The suite: the name in title case (one required equals check per case, and
    with ``judge`` an :data:`JUDGE_CHECK` too)."""
    cases = "".join(
        f"  - id: c{i}\n    inputs: {{name: {raw!r}}}\n    checks:\n"
        f"      - {{type: equals, value: {want!r}, required: true}}\n"
        + (JUDGE_CHECK if judge else "")
        for i, (raw, want) in enumerate(NAMES)
    )
    return f"name: names\ncases:\n{cases}"


def with_evaluation_calls(pipeline: str) -> str:
    """``pipeline`` with the :data:`GREETING` step first."""
    return pipeline.replace("  steps:\n", "  steps:\n" + GREETING, 1)


def campaign_text(
    *, generations: int = 6, seeds: bool = True, evaluation_calls: bool = False, judge: bool = False
) -> str:
    """The campaign (``seeds: false`` gives a ``request:`` campaign instead;
    ``evaluation_calls`` binds the candidates' claude slot to anthropic)."""
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
        + ("providers: {claude: {provider: anthropic}}\n" if evaluation_calls or judge else "")
    )


def write_campaign(directory: Path, **options: bool | int) -> Path:
    """Write seed.yaml, suite.yaml and campaign.yaml into ``directory``; the campaign path."""
    directory.mkdir(parents=True, exist_ok=True)
    seed = with_evaluation_calls(SEED) if options.get("evaluation_calls") else SEED
    (directory / "seed.yaml").write_text(seed)
    (directory / "suite.yaml").write_text(suite_text(judge=bool(options.get("judge"))))
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


#: Billed per evaluation (greeting) reply, and per judge reply.
GREETING_INPUT_TOKENS = 40
GREETING_OUTPUT_TOKENS = 8
JUDGE_INPUT_TOKENS = 60
JUDGE_OUTPUT_TOKENS = 5


class ProposerAndCandidates:
    """Fake-server handler for a campaign with ``evaluation_calls`` (and ``judge``):
    greetings from candidates get a short reply, judges ``SCORE: 9``, proposer
    requests go to a :class:`OneInThree` whose fix keeps the greeting step
    (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.proposer = OneInThree()
        self.greetings = 0
        self.judgements = 0

    def __call__(self, request: RecordedRequest) -> FakeReply:
        if request.prompt_text.startswith("Judge this name: "):
            with self._lock:
                self.judgements += 1
            return FakeReply.ok(
                "SCORE: 9", input_tokens=JUDGE_INPUT_TOKENS, output_tokens=JUDGE_OUTPUT_TOKENS
            )
        if request.prompt_text.startswith("Greet "):
            with self._lock:
                self.greetings += 1
            return FakeReply.ok(
                "Hello!", input_tokens=GREETING_INPUT_TOKENS, output_tokens=GREETING_OUTPUT_TOKENS
            )
        text = self.proposer(request).text or ""
        return FakeReply.ok(
            with_evaluation_calls(text) if "```yaml" in text else text,
            input_tokens=INPUT_TOKENS,
            output_tokens=OUTPUT_TOKENS,
        )

    @property
    def judge_tokens(self) -> int:
        """Tokens billed for judges' calls so far."""
        return self.judgements * (JUDGE_INPUT_TOKENS + JUDGE_OUTPUT_TOKENS)

    @property
    def evaluation_tokens(self) -> int:
        """Tokens billed for candidates' calls so far."""
        return self.greetings * (GREETING_INPUT_TOKENS + GREETING_OUTPUT_TOKENS)

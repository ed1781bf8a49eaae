"""Where the pipeline_ex compatibility corpus is, and its expected verdicts.

The corpus lives in the shared directory beside the repository
(``../shared/compat/pipeline_ex``); MANIFEST.md there states the verdicts
mirrored in :data:`INVALID`.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "compat" / "pipeline_ex"

# file (relative to CORPUS) -> (step the error names, words the message must contain)
INVALID: dict[str, tuple[str, tuple[str, ...]]] = {
    "test/fixtures/pipelines/nested_with_error.yaml": (
        "bad_step",
        ("unknown type 'invalid_step_type'", "valid types", "test_echo", "claude"),
    ),
    "examples/claude_output_formats_test.yaml": (
        "test_session_format_switch",
        ("prompt",),
    ),
}


def corpus_files() -> list[str]:
    """Every YAML file of the corpus, relative to CORPUS, sorted."""
    assert CORPUS.is_dir(), f"compat corpus missing at {CORPUS}"
    return sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.yaml"))


def valid_files() -> list[str]:
    """The corpus files evofarm must accept."""
    return [name for name in corpus_files() if name not in INVALID]

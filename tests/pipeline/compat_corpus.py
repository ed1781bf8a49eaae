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


EXTRA = Path(__file__).resolve().parent / "compat_extra"
"""More pipeline_ex files, written in the corpus's style for the keys of issue 14."""

# file (relative to EXTRA) -> the compatibility-only keys its validation warns about
EXTRA_VALID: dict[str, frozenset[str]] = {
    "claude_code_sdk_settings.yaml": frozenset(
        {
            "setting_sources",
            "enable_context_management",
            "enable_skills",
            "hooks",
            "mcp_servers",
            "agents",
            "memory_config",
            "variables",
            "claude_options.fallback_model",
            "claude_options.pass_through_streaming",
            "claude_options.timeout_seconds",
            "claude_options.hooks",
            "claude_options.mcp_servers",
            "claude_options.agents",
        }
    ),
    "generated_pipeline.yaml": frozenset({"input", "options"}),
    "loop_control.yaml": frozenset(),
    "gemini_tools.yaml": frozenset(),
    "robust_with_delay.yaml": frozenset(),
    "nested_safety.yaml": frozenset(),
    "error_handling.yaml": frozenset(),
}

# file (relative to EXTRA) -> (the key path the error names, words the message must contain)
EXTRA_INVALID: dict[str, tuple[str, tuple[str, ...]]] = {
    "misspelt_mcp_servers.yaml": (
        "mcp_server",
        ("unknown key 'mcp_server'", "did you mean 'mcp_servers'"),
    ),
    "nested_bad_config.yaml": (
        "steps[0].config.cleanup_on_eror",
        ("unknown key 'cleanup_on_eror'", "did you mean 'cleanup_on_error'", "'inner_work'"),
    ),
    "break_outside_loop.yaml": (
        "steps[1].type",
        ("'stop_here'", "'break' is only valid inside a for_loop or while_loop body"),
    ),
}

# Corpus files pipeline_ex itself refuses (MANIFEST.md): "valid for evofarm only".
PIPELINE_EX_REFUSES: frozenset[str] = frozenset({"examples/data_transform_example.yaml"})


def corpus_files() -> list[str]:
    """Every YAML file of the corpus, relative to CORPUS, sorted."""
    assert CORPUS.is_dir(), f"compat corpus missing at {CORPUS}"
    return sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.yaml"))


def valid_files() -> list[str]:
    """The corpus files evofarm must accept."""
    return [name for name in corpus_files() if name not in INVALID]

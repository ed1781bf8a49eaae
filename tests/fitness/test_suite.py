"""Suite files: YAML and JSONL loading, stable ids, and errors with file, line and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import evofarm.fitness.suite as suite_module
from evofarm.errors import SuiteError
from evofarm.fitness.suite import (
    TaskSuite,
    load_suite,
    load_suite_text,
    resolve_suite,
)

SUITES = Path(__file__).resolve().parents[2] / "pipelines" / "suites"

GOOD = """\
name: demo
budgets: {tokens_per_case: 100}
required_checks:
  - {type: regex, pattern: "\\\\S"}
cases:
  - id: a
    inputs: {text: hi}
    checks:
      - {type: equals, value: HI}
  - inputs: {text: yo}
    checks:
      - {type: contains, value: Y}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_suite_loads_with_defaults_and_forced_gates(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, "demo.yaml", GOOD))
    assert suite.name == "demo"
    assert suite.budgets.tokens_per_case == 100
    assert suite.budgets.time_ms_per_case is None
    assert suite.cases[0].id == "a"
    assert suite.cases[1].id.startswith("c-")
    assert suite.required_checks[0].required is True
    assert [c.type for c in suite.checks_for(suite.cases[0])] == ["equals", "regex"]
    assert suite.case("a").inputs == {"text": "hi"}


def test_suite_id_is_a_stable_content_hash(tmp_path: Path) -> None:
    first = load_suite(write(tmp_path, "one.yaml", GOOD))
    second = load_suite(write(tmp_path, "two.yaml", "# comment\n" + GOOD))
    assert first.id == second.id
    assert first.id.startswith("s-") and len(first.id) == 18
    edited = load_suite(write(tmp_path, "three.yaml", GOOD.replace("value: HI", "value: Hi")))
    assert edited.id != first.id
    # Default case ids depend on content, not on position.
    assert edited.cases[1].id == first.cases[1].id
    assert TaskSuite.model_validate_json(first.model_dump_json(by_alias=True)).id == first.id
    assert first.model_copy(update={"name": "renamed"}).id != first.id


def test_yaml_and_jsonl_of_the_same_suite_agree(tmp_path: Path) -> None:
    yaml_suite = load_suite(write(tmp_path, "demo.yaml", GOOD))
    data = yaml_suite.model_dump(mode="json", by_alias=True)
    header = {"suite": {k: v for k, v in data.items() if k != "cases"}}
    lines = [json.dumps(header), "", *(json.dumps(c) for c in data["cases"])]
    jsonl_suite = load_suite(write(tmp_path, "demo.jsonl", "\n".join(lines) + "\n"))
    assert jsonl_suite == yaml_suite
    assert jsonl_suite.id == yaml_suite.id


def test_jsonl_without_header_is_named_after_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, "maths.jsonl", '{"id": "x", "checks": [{"type": "numeric", "value": 2}]}\n'
    )
    suite = load_suite(path)
    assert (suite.name, len(suite.cases)) == ("maths", 1)


def test_shipped_example_suites_load() -> None:
    yaml_suite = load_suite(SUITES / "example-text.yaml")
    jsonl_suite = load_suite(SUITES / "example-text.jsonl")
    assert [c.id for c in yaml_suite.cases] == ["hello-world", "single", "mixed-case"]
    assert [c.id for c in jsonl_suite.cases] == ["hello-world", "single", "mixed-case"]


def error_for(tmp_path: Path, name: str, text: str) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        load_suite(write(tmp_path, name, text))
    return info.value


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        (
            GOOD.replace(
                "      - {type: equals, value: HI}",
                "      - {type: equals, value: HI, tolerance: 1}",
            ),
            9,
            "cases[0].checks[0].tolerance",
            "unknown key",
        ),
        (
            GOOD.replace("{type: contains, value: Y}", "{type: fuzzy, value: Y}"),
            12,
            "cases[1].checks[0].type",
            "unknown check type",
        ),
        (
            GOOD.replace("{type: contains, value: Y}", "{type: regex, pattern: '(a+)+'}"),
            12,
            "cases[1].checks[0].pattern",
            "nested quantifiers",
        ),
        (
            GOOD.replace("budgets: {tokens_per_case: 100}", "budgets: {tokens_per_case: -5}"),
            2,
            "budgets.tokens_per_case",
            "greater than or equal to 1",
        ),
        (GOOD.replace("name: demo\n", ""), None, None, "missing required key"),
        (
            GOOD.replace("  - inputs: {text: yo}", "  - id: a\n    inputs: {text: yo}"),
            10,
            "cases[1].id",
            "duplicate case id",
        ),
        (
            GOOD.replace("{type: contains, value: Y}", "{type: custom, name: nobody}"),
            12,
            "cases[1].checks[0].name",
            "no custom check named 'nobody'",
        ),
        (
            "name: x\npredicates: os.path\ncases: [{checks: [{type: equals, value: 1}]}]\n",
            2,
            "predicates",
            "not under an allowed package",
        ),
        ("name: x\ncases:\n  - inputs: {}\n", 3, "cases[0]", "has no checks"),
        ("name: x\ncases: []\n", 2, "cases", "at least 1"),
        (
            "name: x\ncases:\n  - {checks: [{type: json_schema, schema: {type: nope}}]}\n",
            3,
            "cases[0].checks[0].schema",
            "invalid JSON schema",
        ),
    ],
)
def test_yaml_errors_name_line_and_key(
    tmp_path: Path, text: str, line: int | None, key: str | None, message: str
) -> None:
    error = error_for(tmp_path, "bad.yaml", text)
    assert message in error.message
    assert error.location.file is not None and error.location.file.endswith("bad.yaml")
    if line is not None:
        assert error.location.line == line
    if key is not None:
        assert error.location.key == key
    assert "bad.yaml" in str(error)


def test_missing_name_points_at_root(tmp_path: Path) -> None:
    error = error_for(tmp_path, "bad.yaml", GOOD.replace("name: demo\n", ""))
    assert error.location.key == "name"


def test_yaml_syntax_error_has_position(tmp_path: Path) -> None:
    error = error_for(tmp_path, "bad.yaml", "name: x\ncases: [\n  {id: a\n")
    assert "YAML syntax error" in error.message
    assert error.location.line is not None


def test_yaml_must_be_a_mapping(tmp_path: Path) -> None:
    assert "mapping" in error_for(tmp_path, "bad.yaml", "- a\n- b\n").message


def test_billion_laughs_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A smaller cap keeps the test fast; the wiring is what is under test.
    monkeypatch.setattr(suite_module, "MAX_SUITE_NODES", 5_000)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    error = error_for(tmp_path, "bomb.yaml", "\n".join(lines) + "\nname: x\n")
    assert "nodes" in error.message


@pytest.mark.parametrize(
    ("lines", "line", "key", "message"),
    [
        (
            ['{"suite": {"name": "j"}}', '{"checks": [{"type": "equals", "value": 1}]}', "{oops"],
            3,
            None,
            "invalid JSON",
        ),
        (
            ['{"suite": {"name": "j"}}', '{"checks": [{"type": "equals", "value": 1}]}', "[1, 2]"],
            3,
            None,
            "JSON object",
        ),
        (
            ['{"suite": {"name": "j"}}', "", '{"checks": [{"type": "equals"}]}'],
            3,
            "cases[0].checks[0].value",
            "missing required key",
        ),
        (
            [
                '{"suite": {"name": "j", "budgets": {"tokens": 5}}}',
                '{"checks": [{"type": "equals", "value": 1}]}',
            ],
            1,
            "budgets.tokens",
            "unknown key",
        ),
        (['{"suite": 3}'], 1, "suite", "must be an object"),
        (
            [
                '{"checks": [{"type": "equals", "value": 1}]}',
                '{"id": "q", "checks": [{"type": "numeric", "value": "x"}]}',
            ],
            2,
            "cases[1].checks[0].value",
            "valid number",
        ),
    ],
)
def test_jsonl_errors_name_line_and_key(
    tmp_path: Path, lines: list[str], line: int, key: str | None, message: str
) -> None:
    error = error_for(tmp_path, "bad.jsonl", "\n".join(lines) + "\n")
    assert message in error.message
    assert error.location.line == line
    if key is not None:
        assert error.location.key == key


def test_unreadable_and_oversized_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SuiteError, match="no such file"):
        load_suite(tmp_path / "missing.yaml")
    monkeypatch.setattr(suite_module, "MAX_SUITE_BYTES", 10)
    with pytest.raises(SuiteError, match="limit"):
        load_suite(write(tmp_path, "big.yaml", GOOD))


def test_unknown_format() -> None:
    with pytest.raises(SuiteError, match="unknown suite format"):
        load_suite_text("x", fmt="csv")


def test_resolve_suite(tmp_path: Path) -> None:
    write(tmp_path, "alpha.yaml", GOOD)
    write(tmp_path, "beta.jsonl", "")
    assert resolve_suite("alpha", tmp_path) == (tmp_path / "alpha.yaml").resolve()
    assert resolve_suite("beta.jsonl", tmp_path) == (tmp_path / "beta.jsonl").resolve()
    with pytest.raises(SuiteError, match="no suite named"):
        resolve_suite("gamma", tmp_path)
    with pytest.raises(SuiteError, match="outside"):
        resolve_suite("../alpha.yaml", tmp_path / "sub")

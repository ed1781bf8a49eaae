"""Property tests: random YAML never raises anything but evofarm's errors,
and pipelines that load survive the dump/load round trip unchanged."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evofarm.errors import UserInputError
from evofarm.pipeline.loader import (
    check_pipeline_text,
    dump_pipeline,
    load_pipeline_text,
    pipeline_from_data,
    pipeline_to_data,
)
from evofarm.pipeline.schema import STEP_TYPES
from evofarm.pipeline.transform_ops import OP_NAMES

from .strategies import json_values as shared_json_values
from .strategies import scalars

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalar_values = scalars(int_bound=10**12, non_finite=False)
json_values = shared_json_values(int_bound=10**12, non_finite=False, key_size=8, max_leaves=15)
keys = st.sampled_from(
    [
        "name",
        "type",
        "steps",
        "prompt",
        "value",
        "workflow",
        "content",
        "op",
        "operations",
        "input",
        "condition",
        "claude_options",
        "model",
        "description",
        "steps",
        "x",
    ]
)
types = st.sampled_from([*STEP_TYPES, "static", "previous_response", "nope", *OP_NAMES])
loose = st.recursive(
    st.one_of(scalar_values, types),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)
yaml_noise = st.text(
    alphabet=st.sampled_from(list("ab:- \n\t[]{}&*!|>'\"#%@`,?~0.5\\")), max_size=80
)


def assert_only_user_errors(text: str) -> None:
    report = check_pipeline_text(text, "random.yaml")
    for problem in report.problems:
        assert isinstance(problem, UserInputError)
        assert problem.location.file == "random.yaml"
    with contextlib.suppress(UserInputError):
        load_pipeline_text(text, "random.yaml")


@SETTINGS
@given(yaml_noise)
def test_random_yaml_text_only_raises_user_errors(text: str) -> None:
    assert_only_user_errors(text)


@SETTINGS
@given(st.text(max_size=60))
def test_random_unicode_only_raises_user_errors(text: str) -> None:
    assert_only_user_errors(text)


@SETTINGS
@given(loose, st.booleans())
def test_random_structures_only_raise_user_errors(data: Any, wrap: bool) -> None:
    document = {"workflow": data} if wrap else data
    assert_only_user_errors(yaml.safe_dump(document, allow_unicode=True))
    with contextlib.suppress(UserInputError):
        pipeline_from_data(document)


names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
ops = st.lists(
    st.one_of(
        st.sampled_from([{"op": "lower"}, {"op": "upper"}, {"op": "strip"}, {"op": "json_parse"}]),
        st.builds(lambda t: {"op": "prefix", "text": t}, st.text(max_size=10)),
        st.builds(lambda w: {"op": "pad", "width": w}, st.integers(0, 50)),
        st.builds(
            lambda s, i: {"op": "split", "separator": s, "index": i},
            st.text(min_size=1, max_size=3),
            st.integers(-3, 3),
        ),
        st.builds(lambda v: {"op": "default", "value": v}, json_values),
    ),
    min_size=1,
    max_size=4,
)


@st.composite
def pipelines(draw: st.DrawFn) -> dict[str, Any]:
    step_names = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    steps: list[dict[str, Any]] = []
    for index, name in enumerate(step_names):
        kind = draw(st.sampled_from(["test_echo", "transform", "claude", "set_variable"]))
        earlier = step_names[:index]
        ref = f"{{{{steps.{draw(st.sampled_from(earlier))}.result}}}}" if earlier else "x"
        if kind == "test_echo":
            steps.append({"name": name, "type": kind, "value": draw(json_values)})
        elif kind == "transform":
            steps.append({"name": name, "type": kind, "input": ref, "operations": draw(ops)})
        elif kind == "claude":
            prompt: Any = draw(
                st.one_of(
                    st.text(max_size=30),
                    st.just(
                        [
                            {"type": "static", "content": ref},
                            *(
                                [{"type": "previous_response", "step": earlier[0]}]
                                if earlier
                                else []
                            ),
                        ]
                    ),
                )
            )
            steps.append(
                {
                    "name": name,
                    "type": kind,
                    "prompt": prompt,
                    **draw(st.sampled_from([{}, {"model": "haiku"}])),
                }
            )
        else:
            steps.append({"name": name, "type": kind, "variable": name, "value": draw(json_values)})
    top: dict[str, Any] = {"name": draw(names), "steps": steps}
    if draw(st.booleans()):
        top["global_vars"] = draw(st.dictionaries(names, json_values, max_size=3))
    if draw(st.booleans()):
        top["providers"] = {"claude": {"provider": draw(st.sampled_from(["mock", "replay"]))}}
    return {"workflow": top} if draw(st.booleans()) else top


@SETTINGS
@given(pipelines())
def test_generated_pipelines_round_trip(data: dict[str, Any]) -> None:
    first = pipeline_from_data(data)
    text = dump_pipeline(first)
    second = load_pipeline_text(text)
    assert second == first
    canonical = json.dumps(pipeline_to_data(first), sort_keys=True)
    assert json.dumps(pipeline_to_data(second), sort_keys=True) == canonical
    assert pipeline_from_data(json.loads(canonical)) == first
    assert dump_pipeline(second) == text

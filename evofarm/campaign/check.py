"""``evofarm campaign validate``: every problem of a campaign file at once.

:func:`load_campaign` stops at the first problem (what ``run`` needs); this
collects them all: the campaign's own keys, each seed pipeline's problems and
the suite's, each located (file, line, key).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evofarm.campaign.spec import MAX_CAMPAIGN_BYTES, CampaignSpec, _problem
from evofarm.errors import CampaignSpecError, Location, UserInputError
from evofarm.fitness.suite import load_suite
from evofarm.pipeline.loader import check_pipeline_file
from evofarm.pipeline.yaml_source import SourceMap, parse_yaml, read_text


def _files(data: Mapping[str, Any], base: Path) -> tuple[list[tuple[int, Path]], Path | None]:
    seeds = data.get("seeds")
    found = [
        (i, base / s)
        for i, s in enumerate(seeds if isinstance(seeds, list) else [])
        if isinstance(s, str)
    ]
    suite = data.get("suite")
    return found, base / suite if isinstance(suite, str) else None


def campaign_problems(path: Path) -> list[UserInputError]:
    """Every problem of the campaign at ``path``, its seeds and its suite (empty: valid)."""
    try:
        text = read_text(path, max_bytes=MAX_CAMPAIGN_BYTES, error=CampaignSpecError)
        data, source_map = parse_yaml(text, str(path), error=CampaignSpecError)
    except CampaignSpecError as exc:
        return [exc]
    if not isinstance(data, Mapping):
        return [
            CampaignSpecError(
                "a campaign must be a mapping with 'name', 'seeds' and 'suite'",
                Location(file=str(path)),
            )
        ]
    problems: list[UserInputError] = []
    try:
        CampaignSpec.model_validate(data)
    except ValidationError as exc:
        found = [_problem(e, data, source_map) for e in exc.errors(include_url=False)]
        problems += sorted(found, key=lambda p: (p.location.line or 0, p.location.column or 0))
    seeds, suite = _files(data, path.resolve().parent)
    problems += _seed_problems(seeds, source_map)
    if suite is not None:
        problems += _suite_problems(suite, source_map)
    return problems


def _seed_problems(seeds: list[tuple[int, Path]], source_map: SourceMap) -> list[UserInputError]:
    problems: list[UserInputError] = []
    for i, seed in seeds:
        if not seed.is_file():
            where = source_map.location(("seeds", i))
            problems.append(CampaignSpecError(f"seed pipeline {seed} does not exist", where))
            continue
        problems += check_pipeline_file(seed).problems
    return problems


def _suite_problems(suite: Path, source_map: SourceMap) -> list[UserInputError]:
    if not suite.is_file():
        where = source_map.location(("suite",))
        return [CampaignSpecError(f"suite {suite} does not exist", where)]
    try:
        load_suite(suite)
    except UserInputError as exc:
        return [exc]
    return []


def looks_like_campaign(path: Path) -> bool:
    """Whether a YAML file is a campaign (``seeds`` and ``suite``, no ``steps``/``workflow``)."""
    try:
        data, _ = parse_yaml(read_text(path, max_bytes=MAX_CAMPAIGN_BYTES), str(path))
    except UserInputError:
        return False
    return (
        isinstance(data, Mapping)
        and "seeds" in data
        and "suite" in data
        and not {"steps", "workflow"} & set(data)
    )

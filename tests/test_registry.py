"""The generic extension registry: names, errors, entry points, EVOFARM_PLUGINS."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from evofarm.registry import ExtensionError, Registry, UnknownExtension, import_plugins


def test_register_get_and_names() -> None:
    registry: Registry[int] = Registry("widget", "evofarm.tests.none")
    registry.register("one", 1)
    registry.register("two", 2)
    assert registry.get("one") == 1
    assert registry.names() == ["one", "two"]
    assert "two" in registry and "three" not in registry


def test_unknown_name_lists_known_and_suggests() -> None:
    registry: Registry[int] = Registry("widget", "evofarm.tests.none")
    registry.register("tournament", 1)
    with pytest.raises(UnknownExtension) as caught:
        registry.get("tournamnet")
    assert str(caught.value) == (
        "unknown widget 'tournamnet' (did you mean 'tournament'?); known: tournament"
    )
    assert isinstance(caught.value, KeyError)


def test_taken_name_is_refused_unless_replaced() -> None:
    registry: Registry[object] = Registry("widget", "evofarm.tests.none")
    first, second = object(), object()
    registry.register("a", first)
    registry.register("a", first)  # the same object again: harmless
    with pytest.raises(ExtensionError, match="already registered"):
        registry.register("a", second)
    registry.register("a", second, replace=True)
    assert registry.get("a") is second


def _write_plugin(root: Path, module: str, body: str) -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(body))


def test_entry_points_and_env_plugins_register_on_first_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry: Registry[str] = Registry("gadget", "evofarm.tests.gadgets")
    sys.modules["tests_core_gadget_registry"] = type(sys)("tests_core_gadget_registry")
    sys.modules["tests_core_gadget_registry"].registry = registry  # type: ignore[attr-defined]
    body = """
        import tests_core_gadget_registry as host
        host.registry.register("{name}", "{name}-impl")
    """
    _write_plugin(tmp_path, "gadget_from_ep", body.format(name="ep"))
    _write_plugin(tmp_path, "gadget_from_env", body.format(name="env"))
    dist = tmp_path / "gadget_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gadget-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[evofarm.tests.gadgets]\nep = gadget_from_ep\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("EVOFARM_PLUGINS", "gadget_from_env")
    try:
        assert registry.names() == ["env", "ep"]
        assert registry.get("ep") == "ep-impl"
    finally:
        for name in ("tests_core_gadget_registry", "gadget_from_ep", "gadget_from_env"):
            sys.modules.pop(name, None)


def test_a_broken_plugin_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_plugin(tmp_path, "broken_plugin_mod", "raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    expected = r"plugin module 'broken_plugin_mod' failed to import: boom"
    with pytest.raises(ExtensionError, match=expected):
        import_plugins(["broken_plugin_mod"])

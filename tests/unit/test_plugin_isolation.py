"""Isolation through pluggy's own seams: calls through ``pm.hook`` run isolated twins of the
implementations (``_hookexec``), the registered ``HookImpl`` objects stay untouched, and
pluggy's hook-call monitoring still sees every call."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from waxell_observe import hookimpl
from waxell_observe.delivery.report import DeliveryReport
from waxell_observe.plugins import plugin_errors, plugin_manager


class Failing:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def on_flush(self, timeout: float | None) -> DeliveryReport | None:
        self.calls += 1
        raise RuntimeError("flush bug")


class Answering:
    @hookimpl
    def on_flush(self, timeout: float | None) -> DeliveryReport | None:
        return DeliveryReport(sent=1)


class Renamed:
    @hookimpl(specname="on_flush")
    def deliver_now(self, timeout: float | None) -> None:
        raise ValueError("renamed bug")


def test_a_raising_implementation_is_logged_once_counted_and_the_others_still_run(
    register_plugin: Any, caplog: pytest.LogCaptureFixture
) -> None:
    failing = register_plugin(Failing(), name="failing-flush")
    register_plugin(Answering(), name="answering-flush")
    before = plugin_errors[("failing-flush", "on_flush")]
    with caplog.at_level(logging.DEBUG, logger="waxell_observe"):
        first = plugin_manager().hook.on_flush(timeout=1.0)
        second = plugin_manager().hook.on_flush(timeout=1.0)
    assert failing.calls == 2
    assert any(isinstance(r, DeliveryReport) and r.sent == 1 for r in first)
    assert any(isinstance(r, DeliveryReport) and r.sent == 1 for r in second)
    assert plugin_errors[("failing-flush", "on_flush")] == before + 2
    tracebacks = [r for r in caplog.records if "failing-flush" in r.getMessage() and r.exc_info]
    assert len(tracebacks) == (1 if before == 0 else 0)


def test_the_registered_implementations_are_not_modified(register_plugin: Any) -> None:
    plugin = register_plugin(Failing(), name="untouched")
    impls = [i for i in plugin_manager().hook.on_flush.get_hookimpls() if i.plugin is plugin]
    assert len(impls) == 1
    assert impls[0].function == plugin.on_flush  # the plugin's own bound method, not a wrapper
    plugin_manager().hook.on_flush(timeout=1.0)
    assert impls[0].function == plugin.on_flush


def test_the_failure_is_reported_under_the_hook_s_name(register_plugin: Any) -> None:
    register_plugin(Renamed(), name="renamed")
    before = plugin_errors[("renamed", "on_flush")]
    plugin_manager().hook.on_flush(timeout=1.0)
    assert plugin_errors[("renamed", "on_flush")] == before + 1


def test_hook_call_monitoring_sees_the_calls_and_isolation_holds(register_plugin: Any) -> None:
    register_plugin(Failing(), name="monitored")
    seen: list[tuple[str, list[str]]] = []

    def before(hook_name: str, impls: Any, kwargs: Any) -> None:
        seen.append((hook_name, [i.plugin_name for i in impls]))

    def after(outcome: Any, hook_name: str, impls: Any, kwargs: Any) -> None:
        assert outcome.exception is None

    undo = plugin_manager().add_hookcall_monitoring(before, after)
    try:
        plugin_manager().hook.on_flush(timeout=1.0)
    finally:
        undo()
    assert [hook for hook, _ in seen] == ["on_flush"]
    assert "monitored" in seen[0][1]


# -- the plugin API ------------------------------------------------------------------------------


def _waxell_imports(path: Any) -> set[str]:
    import ast

    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return {m for m in modules if m == "waxell_observe" or m.startswith("waxell_observe.")}


def test_the_example_plugin_imports_only_from_the_plugin_api() -> None:
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "plugins" / "example" / "src" / "waxell_observe_example"
    imported = set().union(*(_waxell_imports(path) for path in package.glob("*.py")))
    assert imported == {"waxell_observe.plugin_api"}


def test_the_plugin_api_exports_what_it_lists() -> None:
    from waxell_observe import plugin_api

    assert all(hasattr(plugin_api, name) for name in plugin_api.__all__)
    assert plugin_api.hookimpl is __import__("waxell_observe").hookimpl

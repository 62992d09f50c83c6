"""Integrations load when the program imports their library, before or after ``init()``.

A fake integration distribution (a ``.dist-info`` with ``waxell_observe`` and
``waxell_observe.triggers`` entry points, its plugin package, and the library it patches) is written
to a temporary directory; fresh interpreters run small programs against it, so what is imported is
exactly what a real program would see. The installed integrations (OpenAI, LangChain, LlamaIndex)
are checked the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from waxell_observe import entry_point_catalog
from waxell_observe.entry_point_catalog import PLUGIN_GROUP, TRIGGER_GROUP, Catalog, EntryPoint

PLUGIN = """
from waxell_observe.plugins import hookimpl

NAME = "fake"
TRIGGERS = ("fakelib",)

@hookimpl
def on_instrument(config, libraries):
    if libraries is not None and NAME not in libraries:
        return None
    import fakelib
    fakelib.call = lambda: "patched"
    return [NAME]
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "fakelib").mkdir(parents=True)
    (root / "fakelib" / "__init__.py").write_text("def call():\n    return 'real'\n")
    (root / "waxell_observe_fake").mkdir()
    (root / "waxell_observe_fake" / "__init__.py").write_text("")
    (root / "waxell_observe_fake" / "plugin.py").write_text(PLUGIN)
    dist = root / "waxell_observe_fake-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: waxell-observe-fake\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[waxell_observe]\nfake = waxell_observe_fake.plugin\n\n"
        "[waxell_observe.triggers]\nfakelib = waxell_observe_fake.plugin\n"
    )
    return root


def run(program: str, site: Path, tmp_path: Path, **env: str) -> dict[str, Any]:
    """Run ``program`` in a fresh interpreter with ``site`` on the path; its last stdout line is JSON."""
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "WAXELL_CACHE_DIR": str(tmp_path / "cache"),
        "WAXELL_DB": str(tmp_path / "runs.db"),
        "WAXELL_JOURNAL_DIR": str(tmp_path / "journal"),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(program)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_library_imported_after_init_is_instrumented_then(site: Path, tmp_path: Path) -> None:
    result = run(
        """
        import json, sys
        import waxell_observe
        waxell_observe.init()
        before = waxell_observe.diagnose()
        plugin_loaded = "waxell_observe_fake.plugin" in sys.modules
        import fakelib
        after = waxell_observe.diagnose()
        print(json.dumps({
            "plugin_loaded_before": plugin_loaded,
            "before": before["integrations"]["fake"],
            "waiting": before["waiting_instrumentors"],
            "call": fakelib.call(),
            "after": after["integrations"]["fake"],
            "active": after["active_instrumentors"],
            "waiting_after": after["waiting_instrumentors"],
        }))
        """,
        site,
        tmp_path,
    )
    assert result["plugin_loaded_before"] is False
    assert result["before"] == {"state": "waiting", "triggers": ["fakelib"], "package": "waxell_observe_fake"}
    assert "fake" in result["waiting"]
    assert result["call"] == "patched"
    assert result["after"] == {
        "state": "active",
        "triggers": ["fakelib"],
        "package": "waxell_observe_fake",
        "loaded_by": "fakelib",
    }
    assert "fake" in result["active"]
    assert "fake" not in result["waiting_after"]


def test_a_library_imported_before_init_is_instrumented_by_init(site: Path, tmp_path: Path) -> None:
    result = run(
        """
        import json
        import fakelib
        import waxell_observe
        waxell_observe.init(instrument=["fake"])
        print(json.dumps({"call": fakelib.call(), "fake": waxell_observe.diagnose()["integrations"]["fake"],
                          "active": waxell_observe.diagnose()["active_instrumentors"]}))
        """,
        site,
        tmp_path,
    )
    assert result == {
        "call": "patched",
        "fake": {
            "state": "active",
            "triggers": ["fakelib"],
            "package": "waxell_observe_fake",
            "loaded_by": "fakelib",
        },
        "active": ["fake"],
    }


def test_excluded_unselected_and_cancelled_integrations_stay_unloaded(site: Path, tmp_path: Path) -> None:
    result = run(
        """
        import json, sys
        import waxell_observe
        from waxell_observe.initialization import _reset_for_tests
        from waxell_observe.plugins import plugin_manager
        states = {}
        waxell_observe.init(exclude=["fake"])
        states["excluded"] = waxell_observe.diagnose()["integrations"]["fake"]["state"]
        _reset_for_tests()
        waxell_observe.init(instrument=["openai"])
        states["not_selected"] = waxell_observe.diagnose()["integrations"]["fake"]["state"]
        _reset_for_tests()
        waxell_observe.init(instrument=["fakelib"])  # a trigger module selects it too
        states["by_trigger"] = waxell_observe.diagnose()["integrations"]["fake"]["state"]
        plugin_manager().hook.on_uninstrument(libraries=frozenset({"fake"}))
        states["cancelled"] = waxell_observe.diagnose()["integrations"]["fake"]["state"]
        import fakelib
        states["call"] = fakelib.call()
        states["plugin_loaded"] = "waxell_observe_fake.plugin" in sys.modules
        print(json.dumps(states))
        """,
        site,
        tmp_path,
    )
    assert result == {
        "excluded": "excluded",
        "not_selected": "not_selected",
        "by_trigger": "waiting",
        "cancelled": "not_selected",
        "call": "real",
        "plugin_loaded": False,
    }


def test_disabled_integrations_are_not_armed(site: Path, tmp_path: Path) -> None:
    result = run(
        """
        import json
        import waxell_observe
        waxell_observe.init()
        import fakelib
        state = waxell_observe.diagnose()["integrations"]["fake"]["state"]
        print(json.dumps({"call": fakelib.call(), "state": state}))
        """,
        site,
        tmp_path,
        WAXELL_DISABLE_PLUGINS="fake",
    )
    assert result == {"call": "real", "state": "disabled"}


ROOT = Path(__file__).resolve().parents[2]


def _workspace_integrations() -> dict[str, dict[str, Any]]:
    """``{directory: [project.entry-points] table}`` of every package under ``integrations/``."""
    import tomllib

    found = {}
    for directory in sorted((ROOT / "integrations").iterdir()):
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            project = tomllib.loads(pyproject.read_text())["project"]
            found[directory.name] = project.get("entry-points", {})
    return found


def test_every_workspace_integration_declares_its_trigger_modules() -> None:
    """An integration without triggers would be imported by every program (docs/integrations.md)."""
    for directory, groups in _workspace_integrations().items():
        plugins = groups.get(PLUGIN_GROUP, {})
        triggers = groups.get(TRIGGER_GROUP, {})
        assert plugins, f"integrations/{directory} registers no waxell_observe entry point"
        assert triggers, f"integrations/{directory} declares no waxell_observe.triggers entry points"
        assert set(triggers.values()) <= set(plugins.values()), directory


def _eager_workspace_plugins() -> str:
    """Workspace integrations that do not declare triggers yet (reported by the test above)."""
    return ",".join(
        name
        for groups in _workspace_integrations().values()
        if not groups.get(TRIGGER_GROUP)
        for name in groups.get(PLUGIN_GROUP, {})
    )


def test_init_imports_no_instrumented_library_and_openai_is_patched_on_import(tmp_path: Path) -> None:
    result = run(
        """
        import json, sys
        import waxell_observe
        waxell_observe.init()
        heavy = sorted(m for m in ("langchain_core", "langchain_core.tracers.context", "langsmith",
                       "llama_index_instrumentation", "openai", "anthropic", "waxell_observe_openai",
                       "waxell_observe_langchain", "waxell_observe_llamaindex", "wrapt")
                       if m in sys.modules)
        state = waxell_observe.diagnose()["integrations"]["openai"]["state"]
        import openai
        from waxell_observe_openai import is_instrumented
        print(json.dumps({"heavy": heavy, "before": state, "after": is_instrumented(),
                          "active": "openai" in waxell_observe.diagnose()["active_instrumentors"]}))
        """,
        tmp_path,
        tmp_path,
        WAXELL_DISABLE_PLUGINS=_eager_workspace_plugins(),
    )
    assert result == {"heavy": [], "before": "waiting", "after": True, "active": True}


def test_installed_integrations_declare_matching_triggers() -> None:
    """Every installed integration's ``TRIGGERS`` attribute equals its entry-point metadata."""
    from importlib.metadata import entry_points

    triggers: dict[str, list[str]] = {}
    for ep in entry_points(group=TRIGGER_GROUP):
        triggers.setdefault(ep.value, []).append(ep.name)
    checked = 0
    for ep in entry_points(group=PLUGIN_GROUP):
        if not ep.value.startswith("waxell_observe_") or ep.value not in triggers:
            continue
        plugin = ep.load()
        assert tuple(sorted(triggers[ep.value])) == tuple(sorted(plugin.TRIGGERS)), ep.name
        checked += 1
    assert checked >= 4  # openai, anthropic, langchain, llamaindex at least


def test_the_catalog_is_cached_on_disk_and_rescanned_when_the_path_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAXELL_CACHE_DIR", str(tmp_path / "cache"))
    scans: list[int] = []
    entries = [
        EntryPoint(PLUGIN_GROUP, "x", "pkg_x.plugin", "pkg-x"),
        EntryPoint(TRIGGER_GROUP, "libx", "pkg_x.plugin", "pkg-x"),
        EntryPoint(TRIGGER_GROUP, "libx.sub", "pkg_x.plugin", "pkg-x"),
        EntryPoint(PLUGIN_GROUP, "exporter", "pkg_y:Plugin", "pkg-y"),
    ]

    def scan() -> list[EntryPoint]:
        scans.append(1)
        return list(entries)

    monkeypatch.setattr(entry_point_catalog, "_scan", scan)
    watched_dir = tmp_path / "on-path"
    watched_dir.mkdir()
    monkeypatch.syspath_prepend(str(watched_dir))
    try:
        entry_point_catalog.forget_catalog()
        first = entry_point_catalog.catalog()
        entry_point_catalog.forget_catalog()
        second = entry_point_catalog.catalog()
        assert len(scans) == 1  # the second process-level read came from the file
        assert first == second == Catalog((entries[0], entries[3]), {"pkg_x.plugin": ("libx", "libx.sub")})
        assert first.is_integration(entries[0]) and not first.is_integration(entries[3])
        assert Path(entry_point_catalog.cache_path()).is_file()
        (watched_dir / "new.dist-info").mkdir()  # a distribution installed: the directory changes
        entry_point_catalog.forget_catalog()
        entry_point_catalog.catalog()
        assert len(scans) == 2
        monkeypatch.setenv("WAXELL_ENTRY_POINT_CACHE", "off")
        entry_point_catalog.forget_catalog()
        entry_point_catalog.catalog()
        assert len(scans) == 3
    finally:
        monkeypatch.undo()
        entry_point_catalog.forget_catalog()


def test_the_cache_holds_while_the_distributions_on_the_path_stay_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory holding distributions counts by its modification time; any other by the
    distributions it holds (none): files written beside a program do not make it scan again."""
    monkeypatch.setenv("WAXELL_CACHE_DIR", str(tmp_path / "cache"))
    scans: list[int] = []

    def scan() -> list[EntryPoint]:
        scans.append(1)
        return [EntryPoint(PLUGIN_GROUP, "x", "pkg_x.plugin", "pkg-x")]

    monkeypatch.setattr(entry_point_catalog, "_scan", scan)
    site, program = tmp_path / "site", tmp_path / "program"
    (site / "a-1.0.dist-info").mkdir(parents=True)
    program.mkdir()
    an_hour_ago = time.time() - 3600
    for directory in (site, program):  # settled: not modified in the last seconds
        os.utime(directory, (an_hour_ago, an_hour_ago))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(program))

    def read() -> int:
        entry_point_catalog.forget_catalog()
        assert entry_point_catalog.catalog().plugins == (
            EntryPoint(PLUGIN_GROUP, "x", "pkg_x.plugin", "pkg-x"),
        )
        return len(scans)

    try:
        assert (read(), read()) == (1, 1)
        (program / "output.log").write_text("written beside the program")
        assert read() == 1
        (program / "b-1.0.dist-info").mkdir()  # the program's directory now holds a distribution
        assert (read(), read()) == (2, 2)
        (site / "c-1.0.dist-info").mkdir()  # installed into site-packages
        assert (read(), read()) == (3, 3)
        os.utime(site, (an_hour_ago, an_hour_ago))  # same distributions, another time: scanned
        assert (read(), read()) == (4, 4)
    finally:
        monkeypatch.undo()
        entry_point_catalog.forget_catalog()


def test_load_reference_reads_module_and_attribute_paths() -> None:
    assert entry_point_catalog.load_reference("os.path:join.__name__") == "join"
    assert entry_point_catalog.load_reference("json [extra]").__name__ == "json"
    with pytest.raises(ValueError, match="names no module"):
        entry_point_catalog.load_reference(":x")

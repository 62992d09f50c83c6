"""``import waxell_observe`` and ``init()`` import only what a program uses (the speed is in
``benchmarks/bench_import_time.py``; these tests pin which modules are imported, which is what
the speed depends on)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import waxell_observe

PACKAGE_INIT = Path(waxell_observe.__file__)

HEAVY = (
    "asyncio",
    "httpx",
    "msgspec",
    "pydantic",
    "sqlalchemy",
    "email.utils",
    "uuid",
    "wrapt",
    "importlib.metadata",
    "pathlib",  # with urllib.parse, ~5 ms: paths are strings at init() (config.py)
    "urllib.parse",
    "configparser",  # only when a configuration file exists
    "datetime",
    "random",
    "waxell_observe.governance.content_scan",
    "waxell_observe.governance.request",  # the built-in deciders import what a check needs then
    "waxell_observe.governance.results",
    "waxell_observe.governance.breaker",
    "waxell_observe.records",  # four dataclasses, ~3 ms: plugins name them under TYPE_CHECKING
    "waxell_observe.run",
    "waxell_observe.pipeline.frames",
    "waxell_observe.delivery.report",  # a dataclass: imported where a report is made
    "waxell_observe.context",
)


def _imported_after(body: str, tmp_path: Path) -> list[str]:
    program = textwrap.dedent(body) + textwrap.dedent(
        f"""
        import json, sys
        print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
        """
    )
    env = {
        **os.environ,
        "WAXELL_DB": str(tmp_path / "observe.db"),
        "WAXELL_JOURNAL_DIR": str(tmp_path / "journal"),
        "WAXELL_CACHE_DIR": str(tmp_path / "cache"),
        "WAXELL_CONFIG_FILE": str(tmp_path / "no-config"),
    }
    env.pop("WAXELL_API_URL", None)
    # a first process fills the entry-point cache (a program's second start reads it)
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", program], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
        )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_import_waxell_observe_imports_none_of_the_heavy_modules(tmp_path: Path) -> None:
    assert _imported_after("import waxell_observe", tmp_path) == []


def test_import_waxell_observe_imports_not_even_typing() -> None:
    """``typing`` (~8 ms, with re, enum and collections) was most of what importing the package cost."""
    program = (
        "import sys; before = set(sys.modules); import waxell_observe; "
        "print(sorted(m for m in ('typing', 're', 'enum') if m in set(sys.modules) - before))"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_init_imports_none_of_them_either(tmp_path: Path) -> None:
    assert _imported_after("import waxell_observe\nwaxell_observe.init()", tmp_path) == []


def test_importing_the_context_does_not_import_asyncio(tmp_path: Path) -> None:
    """asyncio (~20 ms) comes with async code (an async handler, an awaited flush), not with the
    context class: the approval and mid-execution flush modules import it where they await."""
    body = """
    import waxell_observe
    waxell_observe.init()
    from waxell_observe import WaxellContext, observe
    """
    loaded = _imported_after(body, tmp_path)
    assert "waxell_observe.context" in loaded
    assert "asyncio" not in loaded


def test_recording_a_run_imports_what_it_needs_then(tmp_path: Path) -> None:
    body = """
    import waxell_observe
    waxell_observe.init()
    with waxell_observe.WaxellContext(agent_name="a") as ctx:
        ctx.record_step("one")
    """
    loaded = _imported_after(body, tmp_path)
    assert "waxell_observe.context" in loaded
    assert "msgspec" in loaded and "waxell_observe.pipeline.frames" in loaded


def _type_checking_names() -> set[str]:
    """The names the ``if TYPE_CHECKING:`` blocks of the package's ``__init__`` bind (its own
    annotations' names from :mod:`typing` aside)."""
    tree = ast.parse(PACKAGE_INIT.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module == "typing":
                    continue
                if isinstance(statement, ast.ImportFrom | ast.Import):
                    names.update((alias.asname or alias.name).split(".")[0] for alias in statement.names)
                elif isinstance(statement, ast.Assign):
                    names.update(t.id for t in statement.targets if isinstance(t, ast.Name))
    return names


def test_the_export_table_and_the_names_type_checkers_see_agree() -> None:
    exports = set(waxell_observe._EXPORTS) | {"context"}
    assert _type_checking_names() == exports
    assert set(waxell_observe.__all__) - {"__version__"} <= exports


def test_every_public_name_resolves_to_the_object_of_its_module() -> None:
    for name, (module_name, attribute) in waxell_observe._EXPORTS.items():
        module = sys.modules.get(module_name) or __import__(module_name, fromlist=["_"])
        expected = getattr(module, attribute) if attribute else module
        assert getattr(waxell_observe, name) is expected, name


def test_context_is_the_class_even_after_the_subpackage_is_imported() -> None:
    import waxell_observe.context.waxell_context  # noqa: F401 - the import that would rebind the name

    assert waxell_observe.context is waxell_observe.WaxellContext
    assert "WaxellContext" in dir(waxell_observe) and "context" in dir(waxell_observe)


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    try:
        waxell_observe.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert str(error) == "module 'waxell_observe' has no attribute 'no_such_name'"
    else:
        raise AssertionError("no AttributeError")

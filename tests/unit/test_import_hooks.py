"""``waxell_observe.import_hooks``: callbacks run after a module's import, now or later."""

from __future__ import annotations

import importlib
import logging
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from waxell_observe import import_hooks


@pytest.fixture
def package(tmp_path: Path) -> Iterator[str]:
    """A fresh importable package ``pkg_<random>`` with a submodule ``sub``."""
    name = f"pkg_{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("VALUE = 41\n")
    (root / "sub.py").write_text("DONE = True\n")
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    yield name
    sys.path.remove(str(tmp_path))
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


def test_a_module_imported_later_runs_the_callback_after_its_code(package: str) -> None:
    seen: list[tuple[str, int]] = []
    import_hooks.when_imported(package, lambda m: seen.append((m.__name__, m.VALUE)))
    assert seen == []
    assert package in import_hooks.watched()
    module = importlib.import_module(package)
    assert seen == [(package, 41)]
    assert package not in import_hooks.watched()
    # the module keeps its real loader (not ours), so source and resources still work
    assert type(module.__loader__).__name__ == "SourceFileLoader"
    assert type(module.__spec__.loader).__name__ == "SourceFileLoader"
    importlib.reload(module)
    assert seen == [(package, 41)]  # once only


def test_an_imported_module_runs_the_callback_at_once(package: str) -> None:
    module = importlib.import_module(package)
    seen: list[ModuleType] = []
    import_hooks.when_imported(package, seen.append)
    assert seen == [module]


def test_a_submodule_and_several_callbacks(package: str) -> None:
    seen: list[str] = []
    import_hooks.when_imported(f"{package}.sub", lambda m: seen.append("first:" + str(m.DONE)))
    import_hooks.when_imported(f"{package}.sub", lambda m: seen.append("second"))
    importlib.import_module(package)
    assert seen == []
    importlib.import_module(f"{package}.sub")
    assert seen == ["first:True", "second"]


def test_a_failing_callback_is_logged_and_the_import_succeeds(
    package: str, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(module: ModuleType) -> None:
        raise RuntimeError("boom")

    import_hooks.when_imported(package, broken)
    with caplog.at_level(logging.ERROR, logger="waxell_observe"):
        module = importlib.import_module(package)
    assert module.VALUE == 41
    assert f"a post-import hook for {package!r} failed" in caplog.text


def test_cancel_forgets_a_waiting_callback(package: str) -> None:
    seen: list[str] = []

    def callback(module: ModuleType) -> None:
        seen.append(module.__name__)

    import_hooks.when_imported(package, callback)
    assert import_hooks.cancel(package, callback) is True
    assert import_hooks.cancel(package, callback) is False
    importlib.import_module(package)
    assert seen == []


def test_a_missing_module_still_raises_import_error() -> None:
    name = f"missing_{uuid.uuid4().hex[:10]}"
    import_hooks.when_imported(name, lambda m: None)
    with pytest.raises(ModuleNotFoundError, match=name):
        importlib.import_module(name)
    assert name in import_hooks.watched()  # still waiting: installed later, it would fire
    import_hooks.cancel(name, import_hooks._callbacks[name][0])


def test_an_empty_name_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a module name"):
        import_hooks.when_imported("", lambda m: None)


def test_a_namespace_package_fires_too(tmp_path: Path) -> None:
    """A package without ``__init__.py`` (``mistralai`` from 2.x on) is a trigger like any other."""
    name = f"ns_{uuid.uuid4().hex[:10]}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "client.py").write_text("READY = 'yes'\n")
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    seen: list[str] = []
    try:
        import_hooks.when_imported(name, lambda m: seen.append(m.__name__))
        module = importlib.import_module(name)
        assert seen == [name]
        assert getattr(module, "__file__", None) is None and list(module.__path__) == [str(tmp_path / name)]
        assert type(module.__loader__).__name__ == "NamespaceLoader"
        assert importlib.import_module(f"{name}.client").READY == "yes"  # submodules still import
    finally:
        sys.path.remove(str(tmp_path))
        for module_name in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module_name]

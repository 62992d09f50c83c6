"""Post-import hooks: run a callback once a module has been imported (now, or when it is).

:func:`when_imported` calls ``callback(module)`` at once when ``module_name`` is already in
``sys.modules``; otherwise it is called right after the module's code has finished executing, in
the thread that imported it. This is what lets ``init()`` prepare an integration without importing
its library: the integration is loaded only when the program imports the library, before or after
``init()``.

A small finder at the front of ``sys.meta_path`` does it: for a watched name it asks the other
finders for the module's spec and hands the import system a loader that runs the real loader, then
the callbacks (and puts the real loader back on the module). Unwatched names cost one dictionary
lookup. ``wrapt`` offers the same (``register_post_import_hook``) but importing it costs ~70 ms
(asyncio, importlib.metadata), which a program that never imports an instrumented library should
not pay. A callback that raises is logged; the import it follows still succeeds.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

__all__ = ["cancel", "watched", "when_imported"]

logger = logging.getLogger("waxell_observe")

Callback = Callable[[ModuleType], None]

_lock = threading.RLock()
_callbacks: dict[str, list[Callback]] = {}
_resolving = threading.local()  # names whose spec this thread is looking up (re-entry guard)


def when_imported(module_name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once ``module_name`` is imported (at once if it already is)."""
    if not module_name:
        raise ValueError("when_imported needs a module name")
    module = sys.modules.get(module_name)
    if module is not None:
        _run(module_name, [callback], module)
        return
    with _lock:
        module = sys.modules.get(module_name)
        if module is None:
            _callbacks.setdefault(module_name, []).append(callback)
            _install()
            return
    _run(module_name, [callback], module)


def cancel(module_name: str, callback: Callback) -> bool:
    """Forget a callback that has not run yet. True when it was waiting."""
    with _lock:
        waiting = _callbacks.get(module_name)
        if not waiting or callback not in waiting:
            return False
        waiting.remove(callback)
        if not waiting:
            del _callbacks[module_name]
        return True


def watched() -> tuple[str, ...]:
    """The module names with callbacks waiting for their import."""
    with _lock:
        return tuple(sorted(_callbacks))


def _run(module_name: str, callbacks: Sequence[Callback], module: ModuleType) -> None:
    for callback in callbacks:
        try:
            callback(module)
        except Exception:  # noqa: BLE001 - the program's import must not fail because of us
            logger.exception("waxell-observe: a post-import hook for %r failed", module_name)


def _fire(module_name: str, module: ModuleType) -> None:
    with _lock:
        callbacks = _callbacks.pop(module_name, [])
    _run(module_name, callbacks, module)


class _HookLoader:
    """Runs the real loader, then the callbacks of the module (and restores the real loader)."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        loader = self._loader
        try:
            module.__loader__ = loader
            if module.__spec__ is not None:
                module.__spec__.loader = loader
        except AttributeError:  # a module type that refuses the attribute: keep ours
            pass
        loader.exec_module(module)
        name = module.__name__
        _fire(name, sys.modules.get(name, module))

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, get_resource_reader, ...
        return getattr(self._loader, name)


class _PostImportFinder:
    """The finder at the front of ``sys.meta_path``; acts only for watched module names."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in _callbacks:
            return None
        resolving: set[str] = getattr(_resolving, "names", None) or set()
        if fullname in resolving:
            return None
        resolving.add(fullname)
        _resolving.names = resolving
        try:
            spec = self._find_with_others(fullname, path, target)
        finally:
            resolving.discard(fullname)
        if spec is None:
            return spec
        if spec.loader is None and spec.submodule_search_locations is not None:
            # a namespace package (no __init__.py): the import system would give it a
            # NamespaceLoader after this returns; give it one now, wrapped, so its import fires too
            import importlib.machinery as machinery

            namespace_loader: Any = getattr(machinery, "NamespaceLoader")  # noqa: B009 - not in typeshed
            path_finder: Any = machinery.PathFinder
            spec.loader = namespace_loader(fullname, spec.submodule_search_locations, path_finder._get_spec)
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _HookLoader(spec.loader)  # type: ignore[assignment]
        return spec

    def _find_with_others(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None
    ) -> ModuleSpec | None:
        for finder in list(sys.meta_path):
            if finder is self or isinstance(finder, _PostImportFinder):
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec: ModuleSpec | None = find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None

    def invalidate_caches(self) -> None:
        """Nothing cached here (``importlib.invalidate_caches`` calls every finder)."""


_finder = _PostImportFinder()


def _install() -> None:
    if not any(isinstance(finder, _PostImportFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _finder)

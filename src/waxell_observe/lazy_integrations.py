"""Integrations loaded when the program imports their library, not before.

An integration declares its *trigger modules* in entry-point metadata (see
:mod:`waxell_observe.entry_point_catalog`). ``init()`` calls :func:`arm`: for each selected
integration, if a trigger module is already imported the plugin is loaded and registered at once
(``init()`` then asks it to instrument with everybody else); otherwise a post-import hook
(:mod:`waxell_observe.import_hooks`) waits for the first trigger module to be imported, then loads
and registers the plugin and calls its ``on_instrument`` with the configuration ``init()`` had. A
library imported after ``init()`` is therefore captured exactly like one imported before, and a
program that imports none of them loads none of them.

Also a built-in plugin: its ``on_uninstrument`` cancels the integrations still waiting, so a
library imported after ``on_uninstrument`` is not instrumented.
"""

from __future__ import annotations

import logging
import sys
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any

from waxell_observe import import_hooks
from waxell_observe.entry_point_catalog import Catalog, EntryPoint, catalog, load_reference
from waxell_observe.plugins import hookimpl

if TYPE_CHECKING:
    import pluggy

    from waxell_observe.config import ObserveConfig

__all__ = ["arm", "disarm", "on_uninstrument", "report", "selected", "waiting"]

logger = logging.getLogger("waxell_observe")


class _Integration:
    """One installed integration as :func:`arm` prepared it (a plain class: every ``init()`` imports
    this module, and making a dataclass costs ~0.5 ms)."""

    __slots__ = ("entry", "triggers", "state", "hooks", "fired_by", "error")

    def __init__(self, entry: EntryPoint, triggers: tuple[str, ...]) -> None:
        self.entry = entry
        self.triggers = triggers
        self.state = "not_selected"
        self.hooks: list[tuple[str, Any]] = []
        """(trigger module, the post-import callback waiting for it)"""
        self.fired_by = ""
        self.error = ""


_lock = threading.RLock()
_integrations: dict[str, _Integration] = {}
_config: ObserveConfig | None = None
_libraries: frozenset[str] | None = None


def selected(name: str, triggers: tuple[str, ...], libraries: frozenset[str] | None) -> bool:
    """True when ``init(instrument=libraries)`` asks for the integration: everything (``None``),
    its name, or one of its trigger modules (or their top-level package, e.g. ``llama_index``)."""
    if libraries is None or name in libraries:
        return True
    return any(t in libraries or t.partition(".")[0] in libraries for t in triggers)


def arm(
    pm: pluggy.PluginManager,
    config: ObserveConfig,
    libraries: frozenset[str] | None,
    excluded: frozenset[str] | None,
) -> None:
    """Prepare every integration of the catalog for ``init()`` (see the module docstring)."""
    global _config, _libraries
    from waxell_observe.plugins import disabled_plugin_names

    disarm()
    disabled = disabled_plugin_names()
    found = catalog()
    with _lock:
        _config, _libraries = config, libraries
        for entry in _integration_entries(found):
            item = _Integration(entry, found.triggers[entry.value])
            _integrations[entry.name] = item
            if "all" in disabled or entry.name in disabled or pm.is_blocked(entry.name):
                item.state = "disabled"
            elif excluded and entry.name in excluded:
                item.state = "excluded"
            elif not selected(entry.name, item.triggers, libraries):
                item.state = "not_selected"
            elif pm.get_plugin(entry.name) is not None:
                item.state = "loaded"  # loaded by an earlier init(): asked to instrument with the rest
            else:
                item.state = "waiting"
    for item in list(_integrations.values()):
        if item.state != "waiting":
            continue
        imported = next((t for t in item.triggers if t in sys.modules), None)
        if imported is not None:
            item.fired_by = imported
            _load(pm, item)  # init() asks it to instrument right after
            continue
        for module_name in item.triggers:
            callback = _trigger(item.entry.name)
            item.hooks.append((module_name, callback))
            import_hooks.when_imported(module_name, callback)


def _integration_entries(found: Catalog) -> list[EntryPoint]:
    seen: set[str] = set()
    entries = []
    for entry in found.plugins:
        if found.is_integration(entry) and entry.name not in seen:
            seen.add(entry.name)
            entries.append(entry)
    return entries


def _trigger(name: str) -> import_hooks.Callback:
    def fire(module: ModuleType) -> None:
        _fire(name, module.__name__)

    return fire


def _claim(name: str, module_name: str) -> _Integration | None:
    """The waiting integration ``name``, no longer waiting (its other hooks cancelled)."""
    with _lock:
        item = _integrations.get(name)
        if item is None or item.state != "waiting":
            return None
        item.state = "loading"
        item.fired_by = module_name
        hooks, item.hooks = item.hooks, []
    for hooked, callback in hooks:
        import_hooks.cancel(hooked, callback)
    return item


def _fire(name: str, module_name: str) -> None:
    """A trigger module of ``name`` was imported after ``init()``: load it and instrument now."""
    item = _claim(name, module_name)
    if item is None or _config is None:
        return
    from waxell_observe import initialization
    from waxell_observe.plugins import plugin_manager

    pm = plugin_manager()
    plugin = _load(pm, item)
    if plugin is None:
        return
    answered: list[str] = []
    for impl in pm.hook.on_instrument.get_hookimpls():
        if impl.plugin is not plugin:
            continue
        arguments: dict[str, Any] = {"config": _config, "libraries": _libraries}
        try:
            answer = impl.function(**{arg: arguments[arg] for arg in impl.argnames})
        except Exception:  # noqa: BLE001 - an integration must not break the program's import
            logger.exception("waxell-observe: integration %r failed to instrument", name)
            item.state, item.error = "failed", "on_instrument raised"
            return
        if isinstance(answer, (list, tuple)):
            answered.extend(str(n) for n in answer)
    initialization.note_instrumented(answered)
    logger.debug(
        "waxell-observe: %s imported; instrumented %s", module_name, ", ".join(answered) or "nothing"
    )


def _load(pm: pluggy.PluginManager, item: _Integration) -> object | None:
    """Import and register the integration's plugin; ``item.state`` says how it went."""
    name = item.entry.name
    existing: object | None = pm.get_plugin(name)
    if existing is not None:
        item.state = "loaded"
        return existing
    try:
        plugin = load_reference(item.entry.value)
        pm.register(plugin, name=name)
    except Exception as exc:  # noqa: BLE001 - a broken integration must not break the program
        logger.exception("waxell-observe: cannot load integration %r from %s", name, item.entry.value)
        item.state, item.error = "failed", f"{type(exc).__name__}: {exc}"
        return None
    item.state = "loaded"
    return plugin


def disarm() -> None:
    """Cancel every waiting integration (``shutdown()``; a new ``init()``)."""
    global _config, _libraries
    with _lock:
        items = list(_integrations.values())
        _integrations.clear()
        _config, _libraries = None, None
    for item in items:
        for module_name, callback in item.hooks:
            import_hooks.cancel(module_name, callback)


def waiting() -> dict[str, tuple[str, ...]]:
    """``{integration: trigger modules}`` of the integrations waiting for an import."""
    with _lock:
        return {n: i.triggers for n, i in sorted(_integrations.items()) if i.state == "waiting"}


def report(active: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Every installed integration: ``state`` (see ``vocabulary.integrations``), ``triggers``,
    ``package``, and ``loaded_by`` (the trigger module that loaded it) / ``error`` when known.
    ``active`` are the names ``init()`` and later imports instrumented."""
    found = catalog()
    with _lock:
        known = dict(_integrations)
    rows: dict[str, dict[str, Any]] = {}
    for entry in _integration_entries(found):
        item = known.get(entry.name)
        state = item.state if item is not None else "not_selected"
        if entry.name in active:
            state = "active"
        row: dict[str, Any] = {
            "state": state,
            "triggers": list(found.triggers[entry.value]),
            "package": entry.distribution,
        }
        if item is not None and item.fired_by:
            row["loaded_by"] = item.fired_by
        if item is not None and item.error:
            row["error"] = item.error
        rows[entry.name] = row
    return rows


@hookimpl
def on_uninstrument(libraries: frozenset[str] | None) -> list[str] | None:
    """Cancel the integrations still waiting for their import (all of them, or those named)."""
    with _lock:
        names = [
            n
            for n, i in _integrations.items()
            if i.state == "waiting" and (libraries is None or selected(n, i.triggers, libraries))
        ]
        cancelled = []
        for name in names:
            item = _integrations[name]
            item.state = "not_selected"
            cancelled.extend(item.hooks)
            item.hooks = []
    for module_name, callback in cancelled:
        import_hooks.cancel(module_name, callback)
    return None

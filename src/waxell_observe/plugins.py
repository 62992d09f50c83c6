"""The plugin manager: pluggy, with entry-point loading and failure isolation.

``plugin_manager()`` returns the process's :class:`pluggy.PluginManager`. On first use it
loads every plugin installed under the ``waxell_observe`` entry-point group (the built-in
sinks and integrations included) except those named in ``WAXELL_DISABLE_PLUGINS``
(``name,name`` or ``all``). Plugins registered later with ``plugin_manager().register(obj)``
take effect immediately.

Unlike plain pluggy, a hook implementation that raises does not propagate: the error is
logged (once per plugin and hook with its traceback, then counted) and the other plugins
still run. Telemetry never breaks the agent.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections import Counter
from typing import Any, Callable

import pluggy

from waxell_observe import hookspecs
from waxell_observe.hookspecs import PROJECT_NAME

__all__ = [
    "hookimpl",
    "plugin_manager",
    "ENTRY_POINT_GROUP",
    "plugin_errors",
    "disabled_plugin_names",
    "reset_plugin_manager",
]

logger = logging.getLogger("waxell_observe")

ENTRY_POINT_GROUP = PROJECT_NAME
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: ``@waxell_observe.hookimpl``."""

plugin_errors: Counter[tuple[str, str]] = Counter()
"""How many times each (plugin, hook) raised since the process started."""


class _IsolatingPluginManager(pluggy.PluginManager):
    """A PluginManager whose hook implementations cannot raise into the caller."""

    def register(self, plugin: object, name: str | None = None) -> str | None:
        plugin_name = super().register(plugin, name)
        if plugin_name is None:
            return None
        for caller in self.get_hookcallers(plugin) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not (impl.hookwrapper or impl.wrapper):
                    if not getattr(impl.function, "__waxell_isolated__", False):
                        impl.function = _isolated(impl.function, plugin_name, caller.name)
        return plugin_name


def _isolated(function: Callable[..., Any], plugin_name: str, hook_name: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception:  # noqa: BLE001 - isolation is the point
            key = (plugin_name, hook_name)
            plugin_errors[key] += 1
            if plugin_errors[key] == 1:
                logger.exception("waxell-observe: plugin %r failed in %s (isolated)", plugin_name, hook_name)
            else:
                logger.debug("waxell-observe: plugin %r failed in %s again", plugin_name, hook_name)
            return None

    call.__waxell_isolated__ = True  # type: ignore[attr-defined]
    return call


def disabled_plugin_names() -> frozenset[str]:
    """Names blocked by ``WAXELL_DISABLE_PLUGINS`` (``{"all"}`` blocks every entry point)."""
    raw = os.environ.get("WAXELL_DISABLE_PLUGINS", "")
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    from importlib.metadata import entry_points

    disabled = disabled_plugin_names()
    if "all" in disabled:
        return
    seen: set[str] = set()
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        name = entry_point.name
        if name in disabled or name in seen:
            continue
        seen.add(name)
        if pm.get_plugin(name) is not None or pm.is_blocked(name):
            continue
        try:
            plugin = entry_point.load()
        except Exception:  # noqa: BLE001 - a broken plugin must not break the agent
            logger.exception("waxell-observe: cannot load plugin %r from %s", name, entry_point.value)
            continue
        try:
            pm.register(plugin, name=name)
        except Exception:  # noqa: BLE001
            logger.exception("waxell-observe: cannot register plugin %r", name)


_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None


def plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, created (and entry points loaded) on first use."""
    pm = _pm
    if pm is not None:
        return pm
    with _lock:
        if _pm is None:
            _create()
        assert _pm is not None
        return _pm


def _create() -> None:
    global _pm
    pm = _IsolatingPluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    _pm = pm
    _load_entry_points(pm)
    from waxell_observe.config import get_config

    pm.hook.on_configure(config=get_config())


def reset_plugin_manager() -> None:
    """Forget the plugin manager (tests): the next use loads plugins again."""
    global _pm
    with _lock:
        _pm = None

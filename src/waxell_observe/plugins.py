"""The plugin manager: pluggy, with entry-point loading and failure isolation.

``plugin_manager()`` returns the process's :class:`pluggy.PluginManager`. On first use it
registers the built-in plugins (:data:`DEFAULT_PLUGINS`: the pipeline, the collector of calls made
outside runs, the embedded and the remote decider, the loader of integrations) and loads every plugin
installed under the ``waxell_observe`` entry-point group (exporters, third parties; integrations wait for
their library's import, see :mod:`waxell_observe.lazy_integrations`) except those named in
``WAXELL_DISABLE_PLUGINS`` (``name,name``, or ``all`` for every entry point). Plugins registered later
with ``plugin_manager().register(obj)`` take effect immediately.

Unlike plain pluggy, a hook implementation that raises does not propagate: the error is
logged (once per plugin and hook with its traceback, then counted) and the other plugins
still run. Telemetry never breaks the agent. Isolation goes through pluggy's own seam:
:meth:`_IsolatingPluginManager._hookexec` hands pluggy's call loop (``_inner_hookexec``, which
``add_hookcall_monitoring`` traces) implementations whose functions catch their exceptions; the
implementations pluggy registered are never modified.

The record hooks (``on_run_start``, ``on_llm_call``, ...), called for every record on the agent's
thread, are called through a :class:`HookTable`: pluggy's own list of implementations for the hook,
in pluggy's order, cached per configuration until plugins change, so a record costs a call rather
than a trip through pluggy's machinery (a hook wrapper sends them through pluggy).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import types
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import pluggy

from waxell_observe import hookspecs
from waxell_observe.hookspecs import PROJECT_NAME
from waxell_observe.process import fork_safe

__all__ = [
    "hookimpl",
    "emit",
    "plugin_manager",
    "ENTRY_POINT_GROUP",
    "plugin_errors",
    "disabled_plugin_names",
    "reset_plugin_manager",
    "record_hooks",
    "HookTable",
    "RECORD_HOOKS",
    "direct_implementations",
    "report_failure",
]

logger = logging.getLogger("waxell_observe")

ENTRY_POINT_GROUP = PROJECT_NAME
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: ``@waxell_observe.hookimpl``."""

plugin_errors: Counter[tuple[str, str]] = Counter()
"""How many times each (plugin, hook) raised since the process started."""


class _IsolatingPluginManager(pluggy.PluginManager):
    """A PluginManager whose hook implementations cannot raise into the caller, with a
    cached fast path for the record hooks (see :meth:`implementations`)."""

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        # (hook name, id(config)) -> (config, implementations); the config is kept so that a
        # recycled id of a dead configuration can never match.
        self._fast: dict[tuple[str, int], tuple[Any, tuple[tuple[Callable[..., Any], str], ...] | None]] = {}
        # id(config) -> that configuration's HookTable (which keeps the config: see _fast)
        self._tables: dict[int, HookTable] = {}
        # id(implementation) -> (implementation, its isolated twin): see _hookexec
        self._isolated: dict[int, tuple[pluggy.HookImpl, pluggy.HookImpl]] = {}
        # hook name -> (the implementations of its last call, their twins): one list comparison per call
        self._twins: dict[str, tuple[list[pluggy.HookImpl], list[pluggy.HookImpl]]] = {}

    def _forget(self) -> None:
        """Drop every cached dispatch list and mark the tables runs hold as stale."""
        global generation
        generation += 1
        self._fast.clear()
        self._isolated.clear()
        self._twins.clear()
        tables, self._tables = self._tables, {}
        for table in tables.values():
            table.valid = False

    def _hookexec(
        self,
        hook_name: str,
        methods: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, object],
        firstresult: bool,
    ) -> object | list[object]:
        """Every call of a hook through pluggy (``pm.hook.<name>(...)``) comes here: pluggy's own
        call loop (with its ordering, ``firstresult``, wrappers and hook-call monitoring) runs the
        isolated twins of the implementations. Wrappers are passed as they are."""
        entry = self._twins.get(hook_name)
        if entry is not None and entry[0] == methods:  # the same implementations as last time
            twins = entry[1]
        else:
            twins = [self._twin(impl, hook_name) for impl in methods]
            self._twins[hook_name] = (list(methods), twins)
        return self._inner_hookexec(hook_name, twins.copy(), kwargs, firstresult)

    def _twin(self, impl: pluggy.HookImpl, hook_name: str) -> pluggy.HookImpl:
        entry = self._isolated.get(id(impl))
        if entry is not None and entry[0] is impl:
            return entry[1]
        if impl.hookwrapper or impl.wrapper:
            twin = impl
        else:
            # A new HookImpl with the same plugin, name and options; its function logs and counts
            # an exception instead of raising it (pluggy reads the argument names through it).
            isolated = _isolated(impl.function, impl.plugin_name, hook_name)
            twin = pluggy.HookImpl(impl.plugin, impl.plugin_name, isolated, impl.opts)
        if len(self._isolated) > 1024:
            self._isolated.clear()
        self._isolated[id(impl)] = (impl, twin)
        return twin

    def register(self, plugin: object, name: str | None = None) -> str | None:
        try:
            return super().register(plugin, name)
        finally:
            self._forget()

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        """pluggy's answer, read straight from a plain module's ``__dict__``.

        Registering a plugin asks this for every name in ``dir(plugin)``, and pluggy reads each
        through ``inspect.getattr_static``: ~0.5 ms per built-in plugin at ``init()``, mostly for a
        module's imports, constants and helpers. For a plain module the answer is known from its
        ``__dict__``, and is pluggy's: a function's marker options (unless ``ModuleType`` has an
        attribute of that name, which ``getattr_static`` would look at first); ``None`` for anything
        but a function, a static or class method or a bound method. The rest, and every other kind
        of plugin, go to pluggy (``tests/unit/test_plugins.py`` compares both answers)."""
        if type(plugin) is types.ModuleType:
            value = plugin.__dict__.get(name, _ABSENT)
            kind = type(value)
            if kind is types.FunctionType and name not in _MODULE_TYPE_NAMES:
                opts = getattr(value, self.project_name + "_impl", None)
                return cast("pluggy.HookimplOpts", opts) if isinstance(opts, dict) else None
            if value is not _ABSENT and kind not in _HOOKABLE:
                return None
        return super().parse_hookimpl_opts(plugin, name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        try:
            return super().unregister(plugin, name)
        finally:
            self._forget()

    def set_blocked(self, name: str) -> None:
        super().set_blocked(name)
        self._forget()

    def invalidate(self) -> None:
        """Forget the cached dispatch lists (a plugin's :data:`ACTIVE_ATTRIBUTE` answer changed)."""
        self._forget()

    def table(self, config: Any) -> HookTable:
        """The :class:`HookTable` of ``config`` (cached until plugins change)."""
        table = self._tables.get(id(config))
        if table is not None and table.config is config:
            return table
        owners: dict[str, str] = {}
        table = HookTable(config, {name: self._caller(name, config, owners) for name in RECORD_HOOKS}, owners)
        if len(self._tables) > 64:
            self._forget()
        self._tables[id(config)] = table
        return table

    def _caller(self, hook_name: str, config: Any, owners: dict[str, str]) -> Callable[..., None]:
        """One callable doing what :func:`emit` does for ``hook_name`` and runs of ``config``.
        A single implementation is returned as it is, its plugin noted in ``owners`` (the
        caller isolates it: one call less per record); several are called by a loop that
        isolates each."""
        functions = self.implementations(hook_name, config)
        if functions is None:  # a hook wrapper: pluggy must run the call
            return functools.partial(_through_pluggy, self, hook_name)
        if not functions:
            return _nothing
        if len(functions) == 1:
            function, plugin_name = functions[0]
            owners[hook_name] = plugin_name
            return function
        return _several(functions, hook_name)

    def implementations(
        self, hook_name: str, config: Any = None
    ) -> tuple[tuple[Callable[..., Any], str], ...] | None:
        """``(function, plugin name)`` for each implementation of ``hook_name`` in pluggy's
        call order, each callable with the hook's arguments positionally and NOT isolated
        (the caller catches) — or ``None`` when a hook wrapper is registered and the call must
        go through pluggy. With ``config``, plugins whose ``waxell_active(config)`` answers
        False are left out. Cached per hook and configuration until plugins change."""
        key = (hook_name, id(config))
        entry = self._fast.get(key)
        if entry is not None and entry[0] is config:
            return entry[1]
        caller = getattr(self.hook, hook_name)
        impls = [impl for impl in caller.get_hookimpls() if config is None or _is_active(impl.plugin, config)]
        functions: tuple[tuple[Callable[..., Any], str], ...] | None
        if any(impl.hookwrapper or impl.wrapper for impl in impls):
            functions = None
        else:
            spec_args = tuple(caller.spec.argnames) if caller.spec else ()
            functions = tuple(
                (_positional(impl.function, tuple(impl.argnames), spec_args), impl.plugin_name)
                for impl in reversed(impls)
            )
        if len(self._fast) > 256:
            self._fast.clear()
        self._fast[key] = (config, functions)
        return functions


_ABSENT = object()
_HOOKABLE = (types.FunctionType, staticmethod, classmethod, types.MethodType)
"""What pluggy takes a hook implementation from (``pluggy._manager._static_hook_attr``)."""
_MODULE_TYPE_NAMES = frozenset(dir(types.ModuleType))


RECORD_HOOKS = ("on_run_start", "on_llm_call", "on_step", "on_span", "on_score", "on_run_end")
"""The hooks announcing runs and records (called through :class:`HookTable`)."""


class HookTable:
    """The record hooks for the runs of one configuration: ``table.on_step(run, step)`` calls
    every implementation active for that configuration, in pluggy's order, with no pluggy
    machinery unless a hook wrapper is registered. Several implementations are each isolated
    (an exception is logged and counted, the others still run); a single one (the pipeline's,
    usually) is called as it is, so the caller wraps the call in ``try``/``except`` and calls
    :meth:`failed` (or uses :meth:`call`). A run keeps its table (``Run._hooks``) while
    :attr:`valid`: registering, unregistering or blocking a plugin,
    :meth:`~_IsolatingPluginManager.invalidate` and :func:`reset_plugin_manager` make every
    table stale, so the next record of a run looks its table up again."""

    __slots__ = ("valid", "config", "owners") + RECORD_HOOKS

    on_run_start: Callable[..., None]
    on_llm_call: Callable[..., None]
    on_step: Callable[..., None]
    on_span: Callable[..., None]
    on_score: Callable[..., None]
    on_run_end: Callable[..., None]

    def __init__(
        self, config: Any, callers: dict[str, Callable[..., None]], owners: dict[str, str] | None = None
    ) -> None:
        self.valid = True
        self.config = config
        self.owners = owners or {}
        """hook -> the plugin whose (only) implementation is called unwrapped: a caller that
        calls the hook itself catches its exceptions and reports them with :meth:`failed`."""
        for name in RECORD_HOOKS:
            setattr(self, name, callers[name])

    def failed(self, hook_name: str) -> None:
        """Called by the recording API in an ``except`` block around ``table.<hook>(...)``:
        logs and counts the failure of the plugin that raised (an exception that did not come
        from an unwrapped plugin is raised again)."""
        owner = self.owners.get(hook_name)
        if owner is None:
            raise  # noqa: PLE0704 - re-raises the exception being handled by the caller
        _report_failure(owner, hook_name)

    def call(self, hook_name: str, run: Any, *args: Any) -> None:
        """``table.<hook_name>(run, *args)`` with every implementation isolated."""
        try:
            getattr(self, hook_name)(run, *args)
        except Exception:  # noqa: BLE001 - a plugin never breaks the agent
            self.failed(hook_name)


def _nothing(*args: Any) -> None:
    return None


_RUN_ONLY_HOOKS = frozenset({"on_run_start", "on_run_end"})
"""Record hooks called with the run alone (the others with the run and one record)."""


def _several(functions: tuple[tuple[Callable[..., Any], str], ...], hook_name: str) -> Callable[..., None]:
    """Call each of ``functions`` isolated; written per arity (a call with ``*args`` costs more per
    implementation than the loop around it)."""
    if hook_name in _RUN_ONLY_HOOKS:

        def call_with_run(run: Any) -> None:
            for function, plugin_name in functions:
                try:
                    function(run)
                except Exception:  # noqa: BLE001 - a plugin never breaks the agent
                    _report_failure(plugin_name, hook_name)

        return call_with_run

    def call_with_record(run: Any, record: Any) -> None:
        for function, plugin_name in functions:
            try:
                function(run, record)
            except Exception:  # noqa: BLE001 - a plugin never breaks the agent
                _report_failure(plugin_name, hook_name)

    return call_with_record


def _through_pluggy(pm: pluggy.PluginManager, hook_name: str, run: Any, *args: Any) -> None:
    caller = getattr(pm.hook, hook_name)
    caller(**dict(zip(caller.spec.argnames, (run, *args), strict=True)))


def record_hooks(run: Any) -> HookTable:
    """The :class:`HookTable` for ``run`` (kept on the run while it stays valid)."""
    config = run.config
    table = _last_table
    if table is None or table.config is not config or not table.valid:
        table = _table_for(config)
    with contextlib.suppress(AttributeError):  # not a Run: nothing to keep the table on
        run._hooks = table
    return table


generation = 0
"""Counts the times cached dispatch lists were dropped (plugins registered, unregistered,
blocked, invalidated, or the manager reset): what caches built from them compare against."""

_last_table: HookTable | None = None
"""The table looked up last (most processes record with one configuration)."""


def _table_for(config: Any) -> HookTable:
    global _last_table
    pm = _pm or plugin_manager()
    if isinstance(pm, _IsolatingPluginManager):
        table = _last_table = pm.table(config)
        return table
    # a plain pluggy manager: every call goes through pluggy, the table is never kept
    table = HookTable(config, {name: functools.partial(_through_pluggy, pm, name) for name in RECORD_HOOKS})
    table.valid = False
    return table


ACTIVE_ATTRIBUTE = "waxell_active"
"""A plugin may define ``waxell_active(config) -> bool``. When it answers False for a run's
configuration, the record hooks (``on_run_start``, ``on_llm_call``, ``on_step``, ``on_span``,
``on_score``, ``on_run_end``) skip the plugin for that run: a sink that is off costs the
agent nothing. The answer is cached per configuration; a plugin whose answer changes for
the same configuration calls ``plugin_manager().invalidate()``."""


def _is_active(plugin: object, config: Any) -> bool:
    check = getattr(plugin, ACTIVE_ATTRIBUTE, None)
    if check is None:
        return True
    try:
        return bool(check(config))
    except Exception:  # noqa: BLE001 - a broken check keeps the plugin (its hooks are isolated)
        logger.exception("waxell-observe: %s(config) of plugin %r failed", ACTIVE_ATTRIBUTE, plugin)
        return True


def _positional(
    function: Callable[..., Any], argnames: tuple[str, ...], spec_args: tuple[str, ...]
) -> Callable[..., Any]:
    """Adapt an implementation taking a subset of the hook's arguments to positional calls."""
    if argnames == spec_args:
        return function
    indexes = [spec_args.index(name) for name in argnames]

    def adapter(*args: Any) -> Any:
        return function(*[args[i] for i in indexes])

    return adapter


def direct_implementations(hook_name: str) -> tuple[tuple[Callable[..., Any], str], ...] | None:
    """``(function, plugin name)`` for each implementation of ``hook_name``, to call directly with the
    hook's arguments positionally, each in a ``try`` that calls :func:`report_failure` (cached until
    plugins change) — or ``None`` when the call must go through pluggy (a hook wrapper is registered,
    or the manager is a plain pluggy one)."""
    pm = _pm or plugin_manager()
    if isinstance(pm, _IsolatingPluginManager):
        return pm.implementations(hook_name)
    return None


def report_failure(plugin_name: str, hook_name: str) -> None:
    """What a caller of :func:`direct_implementations` does when an implementation raised: log and
    count it as pluggy's isolated call would."""
    _report_failure(plugin_name, hook_name)


def _report_failure(plugin_name: str, hook_name: str) -> None:
    """Log (once with its traceback, then at debug level) and count a plugin's exception."""
    key = (plugin_name, hook_name)
    plugin_errors[key] += 1
    if plugin_errors[key] == 1:
        logger.exception("waxell-observe: plugin %r failed in %s (isolated)", plugin_name, hook_name)
    else:
        logger.debug("waxell-observe: plugin %r failed in %s again", plugin_name, hook_name)


def _isolated(function: Callable[..., Any], plugin_name: str, hook_name: str) -> Callable[..., Any]:
    """``function`` logging and counting its exceptions instead of raising them (``functools.wraps``
    keeps its signature visible: pluggy reads the argument names through ``__wrapped__``)."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception:  # noqa: BLE001 - isolation is the point
            _report_failure(plugin_name, hook_name)
            return None

    return call


def emit(hook_name: str, run: Any, *args: Any) -> None:
    """Call every active implementation of a record hook (``on_run_start``, ``on_llm_call``,
    ``on_step``, ``on_span``, ``on_score``, ``on_run_end``) with ``run`` and the hook's other
    arguments in spec order. The hot path of recording: no pluggy machinery unless a hook
    wrapper is present, and plugins inactive for ``run.config`` are skipped (see
    :class:`HookTable`; the recording API calls the run's table directly)."""
    if hook_name in RECORD_HOOKS:
        table = getattr(run, "_hooks", None)
        if table is None or not table.valid:
            table = record_hooks(run)
        table.call(hook_name, run, *args)
        return
    _through_pluggy(_pm or plugin_manager(), hook_name, run, *args)


def disabled_plugin_names() -> frozenset[str]:
    """Names blocked by ``WAXELL_DISABLE_PLUGINS`` (``{"all"}`` blocks every entry point)."""
    raw = os.environ.get("WAXELL_DISABLE_PLUGINS", "")
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    """Register the installed plugins that are not integrations (exporters, third parties).

    Integrations (plugins with trigger modules, see :mod:`waxell_observe.entry_point_catalog`) are
    loaded by ``init()`` when the program imports their library (:mod:`waxell_observe.lazy_integrations`).
    """
    from waxell_observe.entry_point_catalog import catalog, load_reference

    disabled = disabled_plugin_names()
    if "all" in disabled:
        return
    found = catalog()
    seen: set[str] = set()
    for entry_point in found.plugins:
        name = entry_point.name
        if name in disabled or name in seen:
            continue
        seen.add(name)
        if found.is_integration(entry_point):
            continue
        if pm.get_plugin(name) is not None or pm.is_blocked(name):
            continue
        try:
            plugin = load_reference(entry_point.value)
        except Exception:  # noqa: BLE001 - a broken plugin must not break the agent
            logger.exception("waxell-observe: cannot load plugin %r from %s", name, entry_point.value)
            continue
        try:
            pm.register(plugin, name=name)
        except Exception:  # noqa: BLE001
            logger.exception("waxell-observe: cannot register plugin %r", name)


_lock = fork_safe(threading.RLock())  # a fork waits while another thread loads the plugins
_pm: pluggy.PluginManager | None = None
_loading: pluggy.PluginManager | None = None  # seen only by the thread loading the plugins (re-entry)


def plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, created (and entry points loaded) on first use."""
    pm = _pm
    if pm is not None:
        return pm
    with _lock:
        if _pm is None:
            if _loading is not None:  # re-entered while loading plugins (other threads wait on _lock)
                return _loading
            _create()
        assert _pm is not None
        return _pm


DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("pipeline", "waxell_observe.pipeline.plugin"),
    ("collector", "waxell_observe.calls_outside_runs"),
    ("governance", "waxell_observe.governance.embedded_decider"),
    ("remote", "waxell_observe.governance.remote_decider"),
    ("lazy_integrations", "waxell_observe.lazy_integrations"),
    ("lineage", "waxell_observe.lineage_env"),
    ("exit_finalizer", "waxell_observe.exit_finalizer"),
)
"""Built-in plugins, registered by import (not through entry points): ``WAXELL_DISABLE_PLUGINS=all``
blocks the installed plugins, never these. Naming one of them blocks it, except the first
(:data:`REQUIRED_PLUGIN`)."""

REQUIRED_PLUGIN = "pipeline"
"""The pipeline that journals and delivers every record is not optional."""


def _register_defaults(pm: pluggy.PluginManager) -> None:
    import importlib

    disabled = disabled_plugin_names()
    for name, module_name in DEFAULT_PLUGINS:
        if name in disabled and name != REQUIRED_PLUGIN:
            continue
        if pm.get_plugin(name) is None:
            pm.register(importlib.import_module(module_name), name=name)


def _create() -> None:
    global _pm
    global _loading
    pm = _IsolatingPluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    # Published only once every plugin is loaded: a run on another thread must not be checked by
    # a half-loaded manager (e.g. without the policy decider).
    _loading = pm
    try:
        _register_defaults(pm)
        _load_entry_points(pm)
        from waxell_observe.config import get_config

        pm.hook.on_configure(config=get_config())
    finally:
        _loading = None
    _pm = pm


def reset_plugin_manager() -> None:
    """Forget the plugin manager (tests): the next use loads plugins again."""
    global _pm
    with _lock:
        if isinstance(_pm, _IsolatingPluginManager):
            _pm._forget()  # runs holding its tables look the new manager up
        _pm = None

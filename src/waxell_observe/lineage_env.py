"""Run lineage across processes through environment variables (reference SDK §2.2).

While a run is active, this process exports it for the processes it starts::

    WAXELL_PARENT_WORKFLOW_ID   the active run's id
    WAXELL_ROOT_WORKFLOW_ID     its root run's id (its own when it is a root)
    WAXELL_PARENT_SESSION_ID    its session id (when it has one)
    WAXELL_PARENT_USER_ID       its user id (when it has one)

A run opened with no enclosing context reads them: its parent and root run ids, and (when neither the
context nor a ``session()`` block gave them) its session and user come from there, so a child
process's runs hang under the run that started it. While this process has runs of its own active,
the values the variables had before its first run are read instead.

"The active run" is the one innermost run when the active runs form a single chain (a run and the
runs nested in it): a subprocess started inside a nested run names that run as its parent. With two
runs active side by side (threads, ``asyncio`` tasks) there is no one parent: the variables are
removed while that lasts. When the last run ends, the variables are put back as they were before
the first one started. Registered as the built-in plugin ``lineage`` (``WAXELL_DISABLE_PLUGINS=lineage``
turns the export off; reading stays on).

**How the export is made cheap.** A run start or end only notes the run as active or not (one dict
operation, no lock) and marks the variables stale; nothing is written. The variables are brought in line
with the active runs when someone looks: ``os.environ`` (and ``os.environb``) become instances of a
subclass of ``os._Environ`` whose reading methods (``[]``, ``get``, ``in``, iteration, ``len``, ``copy``,
``|``, ``repr``) first write the variables into its mapping when they are stale — so Python code, a
``subprocess`` given ``env=os.environ`` or a copy of it, sees them exactly as if they were written at each
run start and end. The C environment (what a process started with the inherited environment gets) is
brought in line at the moments a process is started: before every ``fork`` (``os.register_at_fork``), in
``subprocess``'s and ``multiprocessing``'s fork-exec, ``os.system`` and ``os.execv`` (through which the
``os.exec*`` and ``os.spawn*`` functions without an ``env`` go). The C library's ``setenv`` keeps every
distinct ``NAME=value`` string it was ever given for the life of the process, so writing it at every run
would grow a long-lived agent by about 100 bytes a run, forever. The hooks and the subclass are installed
at the first run start. Where ``os.environ`` has no ``_data`` mapping (not POSIX) the variables are written
through ``os.environ`` at each run start and end, as the C environment is written with them.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from waxell_observe.plugins import hookimpl

if TYPE_CHECKING:
    from waxell_observe.run import Run

__all__ = [
    "LINEAGE_VARIABLES",
    "PARENT_SESSION_ID",
    "PARENT_USER_ID",
    "PARENT_WORKFLOW_ID",
    "ROOT_WORKFLOW_ID",
    "inherit",
    "refresh",
    "sync_process_environment",
]

PARENT_WORKFLOW_ID = "WAXELL_PARENT_WORKFLOW_ID"
ROOT_WORKFLOW_ID = "WAXELL_ROOT_WORKFLOW_ID"
PARENT_SESSION_ID = "WAXELL_PARENT_SESSION_ID"
PARENT_USER_ID = "WAXELL_PARENT_USER_ID"
LINEAGE_VARIABLES = (PARENT_WORKFLOW_ID, ROOT_WORKFLOW_ID, PARENT_SESSION_ID, PARENT_USER_ID)

_ENCODING = sys.getfilesystemencoding()
_mirror: dict[bytes, bytes] | None = getattr(os.environ, "_data", None) if os.name == "posix" else None
"""``os.environ``'s own mapping (encoded name -> encoded value) where it has one, else ``None``."""
_KEYS = tuple(name.encode(_ENCODING, "surrogateescape") for name in LINEAGE_VARIABLES)
_K_PARENT, _K_ROOT, _K_SESSION, _K_USER = _KEYS

_lock = threading.Lock()
_active: dict[str, Run] = {}
"""Every run this process has active, by run id (set and popped without a lock: atomic under the GIL)."""
_stale = False
"""True when runs started or ended since the variables were last written."""
_UNSET: tuple[bytes | None, ...] = (None, None, None, None)
_saved: tuple[bytes | None, ...] | None = None
"""The variables (encoded, in ``_KEYS`` order) as they were before this process first wrote them
(``None``: nothing of ours is in the environment; :data:`_UNSET` when none of them was set)."""
_written: tuple[bytes | None, ...] | None = None
"""What this process wrote last (``None``: nothing)."""
_hooks_installed = False


def _encode(value: str) -> bytes:
    return value.encode(_ENCODING, "surrogateescape")


def _read_all() -> tuple[bytes | None, ...]:
    """The four variables as ``os.environ`` holds them now, encoded, in ``_KEYS`` order."""
    if _mirror is not None:
        get = _mirror.get
        values: tuple[bytes | None, ...] = (get(_K_PARENT), get(_K_ROOT), get(_K_SESSION), get(_K_USER))
    else:
        environ = os.environ
        values = tuple(None if (v := environ.get(name)) is None else _encode(v) for name in LINEAGE_VARIABLES)
    return _UNSET if values == _UNSET else values


def _write(key: bytes, value: bytes | None) -> None:
    if _mirror is not None:
        if value is None:
            _mirror.pop(key, None)
        else:
            _mirror[key] = value
        return
    name = key.decode(_ENCODING, "surrogateescape")
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value.decode(_ENCODING, "surrogateescape")


def inherit(run: Run) -> None:
    """Give a run opened outside any context the lineage a parent process exported. While the
    variables hold this process's own runs, the values they had before are read."""
    if _saved is not None or _active:
        with _lock:
            parent, root, session, user = _saved if _saved is not None else _read_all()
    elif _mirror is not None:
        get = _mirror.get
        parent, session, user = get(_K_PARENT), get(_K_SESSION), get(_K_USER)
        if parent is None and session is None and user is None:
            return  # the common case: nothing exported to this process
        root = get(_K_ROOT)
    else:
        parent, root, session, user = _read_all()
    if parent and not run.parent_run_id:
        run.parent_run_id = parent.decode(_ENCODING, "surrogateescape")
        run.root_run_id = root.decode(_ENCODING, "surrogateescape") if root else run.parent_run_id
    if session and not run.session_id:
        run.session_id = session.decode(_ENCODING, "surrogateescape")
    if user and not run.user_id:
        run.user_id = user.decode(_ENCODING, "surrogateescape")


@hookimpl
def on_run_start(run: Run) -> None:
    global _stale
    if not _hooks_installed:
        _install_spawn_hooks()
    _active[run.run_id] = run
    _stale = True  # after the run is in _active: a writer that missed it is told again
    if _mirror is None:
        refresh()


@hookimpl
def on_run_end(run: Run) -> None:
    global _stale
    if _active.pop(run.run_id, None) is not None:
        _stale = True
        if _mirror is None:
            refresh()


def _wanted(runs: list[Run]) -> tuple[bytes | None, ...]:
    """The variables for the active ``runs``: the innermost run's lineage when they form one chain,
    else none (two runs side by side have no one parent)."""
    parents = {run.parent_run_id for run in runs}
    leaves = [run for run in runs if run.run_id not in parents]
    if len(leaves) != 1:
        return _UNSET
    (run,) = leaves
    encoded = _encode(run.run_id)
    return (
        encoded,
        _encode(run.root_run_id) if run.root_run_id else encoded,
        _encode(run.session_id) if run.session_id else None,
        _encode(run.user_id) if run.user_id else None,
    )


def refresh() -> None:
    """Write the variables for the runs active now, if runs started or ended since the last write
    (the environment's reading methods call it; so do the process-starting hooks)."""
    global _stale, _saved, _written
    if not _stale:
        return
    with _lock:
        if not _stale:
            return
        _stale = False  # before reading _active: a run starting meanwhile marks them stale again
        runs = list(_active.values())
        if not runs:
            if _saved is not None:
                for key, value in zip(_KEYS, _saved, strict=True):
                    _write(key, value)
                _saved = _written = None
            return
        if _saved is None:
            _saved = _read_all()
        wanted = _wanted(runs)
        if wanted != _written:
            for key, value in zip(_KEYS, wanted, strict=True):
                _write(key, value)
            _written = wanted


_Environ: Any = type(os.environ)
_REFRESHING = (
    "__getitem__", "__setitem__", "__delitem__", "__iter__", "__len__",
    "copy", "__or__", "__ror__", "__repr__",
)  # fmt: skip
"""The methods of ``os._Environ`` that read or write its mapping (``get``, ``in``, ``items()``,
``pop``, ``setdefault``, ``update`` go through them)."""


def _after_refresh(name: str) -> Any:
    """``os._Environ.<name>``, writing stale lineage variables first (a write comes after them)."""
    base = getattr(_Environ, name)

    def method(self: Any, *args: Any) -> Any:
        if _stale:
            refresh()
        return base(self, *args)

    method.__name__ = name
    method.__qualname__ = f"_EnvironWithLineage.{name}"
    method.__doc__ = base.__doc__
    return method


_EnvironWithLineage: Any = type(
    "_EnvironWithLineage",
    (_Environ,),
    {
        "__doc__": "``os.environ`` whose readers see the lineage variables of the runs active now.",
        "__module__": __name__,
        **{name: _after_refresh(name) for name in _REFRESHING},
    },
)


def _install_environ_readers() -> None:
    """Make ``os.environ`` and ``os.environb`` (same mapping) refresh the variables when read."""
    for name in ("environ", "environb"):
        environ = getattr(os, name, None)
        if environ is not None and type(environ) is _Environ:
            environ.__class__ = _EnvironWithLineage


def sync_process_environment() -> None:
    """Bring the C environment in line with ``os.environ`` for the four variables: called right
    before a process is started with the inherited environment (see the module's docstring)."""
    if _mirror is None:
        return  # os.environ writes through to the C environment itself
    refresh()
    for key in _KEYS:
        value = _mirror.get(key)
        if value is None:
            os.unsetenv(key)
        else:
            os.putenv(key, value)


def _synced(start: Any) -> Any:
    """``start`` with the C environment synced first (the wrapper keeps the name for tracebacks)."""

    def start_with_lineage(*args: Any, **kwargs: Any) -> Any:
        sync_process_environment()
        return start(*args, **kwargs)

    start_with_lineage.__wrapped__ = start  # type: ignore[attr-defined]
    start_with_lineage.__name__ = getattr(start, "__name__", "start_with_lineage")
    start_with_lineage.__qualname__ = start_with_lineage.__name__
    return start_with_lineage


def _install_spawn_hooks() -> None:
    """Sync before the process-starting calls that inherit the C environment (once per process)."""
    global _hooks_installed
    with _lock:
        if _hooks_installed:
            return
        _hooks_installed = True
        if _mirror is None:
            return
        _install_environ_readers()
        os.register_at_fork(before=sync_process_environment)
        for name in ("system", "execv"):
            if hasattr(os, name):
                setattr(os, name, _synced(getattr(os, name)))
        try:
            import _posixsubprocess
        except ImportError:  # pragma: no cover - every POSIX CPython has it
            return
        # multiprocessing's spawn and forkserver start methods look it up at each call; subprocess
        # took its own reference when it was imported (a later import takes the wrapper).
        _posixsubprocess.fork_exec = _synced(_posixsubprocess.fork_exec)
        subprocess = sys.modules.get("subprocess")
        fork_exec = getattr(subprocess, "_fork_exec", None)
        if fork_exec is not None:
            subprocess._fork_exec = _synced(fork_exec)  # type: ignore[union-attr]


def _forget_after_fork() -> None:
    """A forked child has no active run (its parent completes them); the variables it inherited
    (written before the fork) name the parent's run, which is this process's parent lineage now."""
    global _lock, _stale, _saved, _written
    _lock = threading.Lock()
    _active.clear()
    _stale = False
    _saved = _written = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)

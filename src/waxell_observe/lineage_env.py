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

**How the export is made cheap.** ``os.environ[name] = value`` calls the C library's ``setenv``, which
keeps every distinct ``NAME=value`` string it was ever given for the life of the process (callers of
``getenv`` may hold pointers into them): a fresh run id per run would grow the process by about 100
bytes a run, forever, and cost the agent's thread two ``setenv`` and two ``unsetenv`` per run. So on
POSIX a run start or end updates only ``os.environ``'s own mapping (what Python code reads, what
``os.environ.copy()`` and ``subprocess`` with ``env=os.environ`` pass on), and the C environment is
brought in line with it at the moments a process is started with the inherited environment: before
every ``fork`` (``os.register_at_fork``), in ``subprocess``'s and ``multiprocessing``'s fork-exec,
``os.system`` and ``os.execv`` (through which the ``os.exec*`` and ``os.spawn*`` functions without an
``env`` go). Those hooks are installed at the first run start. Elsewhere (no ``os.environ._data``
mapping) the variables are set through ``os.environ`` itself.
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
"""Every run this process has active, by run id."""
_children: dict[str, int] = {}
"""run id -> how many of its child runs are active (only runs with at least one)."""
_leaves: dict[str, Run] = {}
"""The active runs with no active child run."""
_exported = ""
"""The run whose lineage the variables hold ("" when none or cleared)."""
_UNSET: tuple[bytes | None, ...] = (None, None, None, None)
_saved: tuple[bytes | None, ...] = ()
"""The variables (encoded, in ``_KEYS`` order) as they were before the first active run (``()``: no
run active; :data:`_UNSET` when none of them was set, the common case)."""
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
    """Give a run opened outside any context the lineage a parent process exported. While this
    process has active runs the variables are its own: the values they had before are read."""
    if _active:
        with _lock:
            parent, root, session, user = _saved if _saved else _read_all()
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
    global _saved
    if not _hooks_installed:
        _install_spawn_hooks()
    run_id = run.run_id
    with _lock:
        if not _active:
            _saved = _read_all()
        _active[run_id] = run
        _leaves[run_id] = run
        parent = run.parent_run_id
        if parent in _active:
            _children[parent] = _children.get(parent, 0) + 1
            _leaves.pop(parent, None)
        if len(_leaves) == 1 and _mirror is not None:
            _export_run(_mirror, run)  # the one leaf is the run just started
        else:
            _export()


@hookimpl
def on_run_end(run: Run) -> None:
    global _exported, _saved
    run_id = run.run_id
    with _lock:
        if _active.pop(run_id, None) is None:
            return  # never started here (or already ended)
        if not _active:  # the last one (the common case): the variables go back as they were
            _leaves.clear()
            _children.clear()
            _exported = ""
            mirror = _mirror
            if mirror is not None and _saved is _UNSET:
                pop = mirror.pop
                pop(_K_PARENT, None)
                pop(_K_ROOT, None)
                pop(_K_SESSION, None)
                pop(_K_USER, None)
            else:
                for key, value in zip(_KEYS, _saved, strict=True):
                    _write(key, value)
            _saved = ()
            return
        _leaves.pop(run_id, None)
        _children.pop(run_id, None)
        parent = run.parent_run_id
        if parent in _children:
            _children[parent] -= 1
            if not _children[parent]:
                del _children[parent]
                _leaves[parent] = _active[parent]
        _export()


def _export_run(mirror: dict[bytes, bytes], run: Run) -> None:
    """Point the variables at ``run`` (written into ``os.environ``'s mapping directly)."""
    global _exported
    run_id = run.run_id
    if run_id == _exported:
        return
    _exported = run_id
    encoded = run_id.encode(_ENCODING, "surrogateescape")
    mirror[_K_PARENT] = encoded
    root = run.root_run_id
    mirror[_K_ROOT] = root.encode(_ENCODING, "surrogateescape") if root else encoded
    session, user = run.session_id, run.user_id
    if session:
        mirror[_K_SESSION] = session.encode(_ENCODING, "surrogateescape")
    else:
        mirror.pop(_K_SESSION, None)
    if user:
        mirror[_K_USER] = user.encode(_ENCODING, "surrogateescape")
    else:
        mirror.pop(_K_USER, None)


def _export() -> None:
    """Point the variables at the one innermost active run, or remove them when there are several."""
    global _exported
    if len(_leaves) == 1:
        (run,) = _leaves.values()
        if _mirror is not None:
            _export_run(_mirror, run)
            return
        run_id = run.run_id
        if run_id == _exported:
            return
        _exported = run_id
        encoded = _encode(run_id)
        _write(_K_PARENT, encoded)
        _write(_K_ROOT, _encode(run.root_run_id) if run.root_run_id else encoded)
        _write(_K_SESSION, _encode(run.session_id) if run.session_id else None)
        _write(_K_USER, _encode(run.user_id) if run.user_id else None)
    elif _exported or any(value is not None for value in _read_all()):
        _exported = ""
        for key in _KEYS:
            _write(key, None)


def sync_process_environment() -> None:
    """Bring the C environment in line with ``os.environ`` for the four variables: called right
    before a process is started with the inherited environment (see the module's docstring)."""
    if _mirror is None:
        return  # os.environ writes through to the C environment itself
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
    name the parent's run, which is this process's parent lineage now."""
    global _lock, _exported, _saved
    _lock = threading.Lock()
    _active.clear()
    _children.clear()
    _leaves.clear()
    _saved = ()
    _exported = ""


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)

"""The installed plugins and integrations, read from entry points once and cached on disk.

Two entry-point groups matter:

* ``waxell_observe``: every plugin (``name = "package.module"`` or ``"package.module:object"``);
* ``waxell_observe.triggers``: what makes an integration load. Each entry is
  ``"<module the program imports>" = "<the integration's plugin reference>"``, e.g.
  ``"google.genai" = "waxell_observe_gemini.plugin"``. A plugin named here is an *integration*:
  it is loaded only once the program imports one of its trigger modules. Plugins with no trigger
  (exporters, third-party plugins) are loaded with the plugin manager, as before.

Reading entry points with :mod:`importlib.metadata` costs ~7 ms to import it plus ~7 ms per scan of
the installed distributions; :func:`catalog` pays that once per environment and otherwise reads a
small text file (``$WAXELL_CACHE_DIR``, else ``$XDG_CACHE_HOME/waxell-observe``, else
``~/.cache/waxell-observe``). The file is keyed by the Python version, ``sys.prefix``, and the
modification time of every ``sys.path`` entry: installing or removing a distribution changes its
``site-packages`` directory, so the next process scans again (a directory holding no distribution,
such as the program's own, counts only by the distributions it holds: none). Checking it costs a
``stat`` per ``sys.path`` entry; a directory is listed again only when its time changed or was too
recent to trust (:func:`_unchanged`). ``WAXELL_ENTRY_POINT_CACHE=off`` always scans. A cache that
cannot be read or written is logged at debug level and ignored.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sys
import threading
import time
import types
import zlib
from collections.abc import Mapping
from typing import NamedTuple

__all__ = [
    "PLUGIN_GROUP",
    "TRIGGER_GROUP",
    "Catalog",
    "EntryPoint",
    "cache_path",
    "catalog",
    "forget_catalog",
    "load_reference",
]

logger = logging.getLogger("waxell_observe")

PLUGIN_GROUP = "waxell_observe"
TRIGGER_GROUP = "waxell_observe.triggers"
_GROUPS = (PLUGIN_GROUP, TRIGGER_GROUP)
_HEADER = "waxell-observe entry points v2"


# Named tuples rather than dataclasses: every init() imports this module, and making a dataclass
# costs ~0.5 ms (it compiles the methods it generates), a named tuple ~0.05 ms.


class EntryPoint(NamedTuple):
    """One entry point: its group, name, value (an object reference) and distribution."""

    group: str
    name: str
    value: str
    distribution: str = ""


class Catalog(NamedTuple):
    """The ``waxell_observe`` plugins and the trigger modules of the integrations among them."""

    plugins: tuple[EntryPoint, ...] = ()
    triggers: Mapping[str, tuple[str, ...]] = types.MappingProxyType({})
    """plugin reference -> the modules whose import loads it (in declaration order)."""

    def is_integration(self, entry: EntryPoint) -> bool:
        """True when ``entry`` is loaded on the import of a trigger module (not up front)."""
        return entry.value in self.triggers

    @classmethod
    def from_entries(cls, entries: list[EntryPoint]) -> Catalog:
        plugins: list[EntryPoint] = []
        triggers: dict[str, list[str]] = {}
        for entry in entries:
            if entry.group == PLUGIN_GROUP:
                plugins.append(entry)
            elif entry.group == TRIGGER_GROUP:
                modules = triggers.setdefault(entry.value.strip(), [])
                if entry.name not in modules:
                    modules.append(entry.name)
        return cls(tuple(plugins), {value: tuple(modules) for value, modules in triggers.items()})


def load_reference(value: str) -> object:
    """Import the object an entry point names: ``module`` or ``module:attr.attr`` (extras ignored)."""
    import importlib

    reference = value.split("[", 1)[0].strip()
    module_name, _, attribute = reference.partition(":")
    module_name, attribute = module_name.strip(), attribute.strip()
    if not module_name:
        raise ValueError(f"entry point value {value!r} names no module")
    obj: object = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        obj = getattr(obj, part)
    return obj


_lock = threading.Lock()
_cached: Catalog | None = None


def catalog() -> Catalog:
    """The entry points of this environment (read once per process; cached on disk)."""
    global _cached
    result = _cached
    if result is not None:
        return result
    with _lock:
        if _cached is None:
            _cached = _read_or_scan()
        return _cached


def forget_catalog() -> None:
    """Read the entry points again on next use (tests; a distribution installed at run time)."""
    global _cached
    with _lock:
        _cached = None


def cache_path() -> str:
    """The cache file of this interpreter and ``sys.path``."""
    base = os.environ.get("WAXELL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "waxell-observe"
    )
    digest = zlib.crc32(f"{sys.version}|{sys.prefix}|{os.pathsep.join(sys.path)}".encode())
    return os.path.join(base, f"entry-points-{digest:08x}.txt")


_DISTRIBUTION_SUFFIXES = (".dist-info", ".egg-info")
_SETTLED_NS = 2_000_000_000
"""A directory modified this long before it was listed is *settled*: any later change gives it a
newer modification time, even on file systems with 1-2 s timestamps. One modified more recently
may change again without its time changing, so it is listed again at every start."""


class _PathEntry(NamedTuple):
    """What the cache remembers of one ``sys.path`` entry when it was scanned."""

    entry: str
    kind: str
    """``"dir"``, ``"file"`` (a zip archive), ``"unreadable"`` (a directory) or ``"missing"``."""
    mtime_ns: int
    distributions: str
    """A directory's: ``""`` when it holds none, else the CRC-32 of their names (hex)."""
    settled: bool
    """Its modification time was settled (see :data:`_SETTLED_NS`) when it was listed."""


def _distributions(directory: str) -> str:
    names = sorted(n for n in os.listdir(directory) if n.endswith(_DISTRIBUTION_SUFFIXES))
    return f"{zlib.crc32('/'.join(names).encode()):08x}" if names else ""


def _look(entry: str) -> _PathEntry:
    """``entry`` as it is now (what a scan is valid for)."""
    now = time.time_ns()
    try:
        status = os.stat(entry or ".")
    except OSError:
        return _PathEntry(entry, "missing", -1, "", True)
    if not stat.S_ISDIR(status.st_mode):
        return _PathEntry(entry, "file", status.st_mtime_ns, "", True)
    try:
        held = _distributions(entry or ".")
    except OSError:
        return _PathEntry(entry, "unreadable", status.st_mtime_ns, "", True)
    return _PathEntry(entry, "dir", status.st_mtime_ns, held, status.st_mtime_ns < now - _SETTLED_NS)


def _unchanged(known: _PathEntry) -> bool:
    """Whether ``known.entry`` would still give the scan's answer. A directory holding distributions
    (``site-packages``) must keep its modification time (installing, upgrading or removing one changes
    it) and their names; any other directory (the program's own, its working directory) must still
    hold none, whatever else changed in it, so a program that writes files beside itself does not make
    every start scan again. A directory whose time is settled and unchanged is not listed: its
    contents are unchanged too (one ``stat`` instead of a listing of ``site-packages``)."""
    try:
        status = os.stat(known.entry or ".")
    except OSError:
        return known.kind == "missing"
    if not stat.S_ISDIR(status.st_mode):
        return known.kind == "file" and status.st_mtime_ns == known.mtime_ns
    if known.kind == "unreadable":
        try:
            _distributions(known.entry or ".")
        except OSError:
            return True
        return False
    if known.kind != "dir":
        return False
    same_time = status.st_mtime_ns == known.mtime_ns
    if same_time and known.settled:
        return True
    if known.distributions and not same_time:
        return False
    try:
        return _distributions(known.entry or ".") == known.distributions
    except OSError:
        return False


def _read_or_scan() -> Catalog:
    use_cache = os.environ.get("WAXELL_ENTRY_POINT_CACHE", "").strip().lower() not in (
        "off",
        "0",
        "false",
        "no",
    )
    if not use_cache:
        return Catalog.from_entries(_scan())
    path = cache_path()
    cached = _read(path)
    if cached is not None and all(_unchanged(known) for known in cached[0]):
        return Catalog.from_entries(cached[1])
    path_entries = [_look(entry) for entry in sys.path]  # before the scan: a change during it counts
    entries = _scan()
    _write(path, path_entries, entries)
    return Catalog.from_entries(entries)


def _interpreter() -> str:
    return repr((sys.version, sys.prefix))


def _read(path: str) -> tuple[list[_PathEntry], list[EntryPoint]] | None:
    """The ``sys.path`` entries the cache at ``path`` was made for and its entry points, or ``None``
    (no cache, another interpreter or path, or a damaged file)."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().split("\n")
    except FileNotFoundError:
        return None
    except OSError:
        logger.debug("waxell-observe: cannot read the entry point cache %s", path, exc_info=True)
        return None
    if len(lines) < 2 or lines[0] != _HEADER or lines[1] != "key\t" + _interpreter():
        return None
    path_entries: list[_PathEntry] = []
    entries: list[EntryPoint] = []
    try:
        for line in lines[2:]:
            if not line:
                continue
            parts = line.split("\t")
            if parts[0] == "path" and len(parts) == 6:
                path_entries.append(_PathEntry(parts[1], parts[2], int(parts[3]), parts[4], parts[5] == "1"))
            elif parts[0] == "ep" and len(parts) == 5:
                entries.append(EntryPoint(parts[1], parts[2], parts[3], parts[4]))
            else:
                raise ValueError(line)
    except ValueError:
        logger.debug("waxell-observe: the entry point cache %s is damaged; scanning", path)
        return None
    if [known.entry for known in path_entries] != sys.path:
        return None
    return path_entries, entries


def _write(path: str, path_entries: list[_PathEntry], entries: list[EntryPoint]) -> None:
    rows = [
        *(
            ("path", p.entry, p.kind, str(p.mtime_ns), p.distributions, "1" if p.settled else "0")
            for p in path_entries
        ),
        *(("ep", e.group, e.name, e.value, e.distribution) for e in entries),
    ]
    interpreter = _interpreter()
    if any("\t" in f or "\n" in f for row in rows for f in row) or "\n" in interpreter:
        return  # not representable in the file: scan every time
    text = "\n".join([_HEADER, "key\t" + interpreter, *("\t".join(row) for row in rows)]) + "\n"
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError:
        logger.debug("waxell-observe: cannot write the entry point cache %s", path, exc_info=True)
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _scan() -> list[EntryPoint]:
    """Every entry point of the two groups, the first distribution of each name on the path winning."""
    from importlib.metadata import distributions

    entries: list[EntryPoint] = []
    seen: set[str] = set()
    for dist in distributions():
        try:
            # the name from the .dist-info directory (parsing METADATA is what makes scans slow)
            name = getattr(dist, "_normalized_name", None) or dist.metadata["Name"] or ""
            normalized = name.lower().replace("_", "-").replace(".", "-")
            if normalized in seen:
                continue
            seen.add(normalized)
            for ep in dist.entry_points:
                if ep.group in _GROUPS:
                    entries.append(EntryPoint(ep.group, ep.name, ep.value, name))
        except Exception:  # noqa: BLE001 - a broken distribution must not hide the others
            logger.debug("waxell-observe: cannot read the entry points of %r", dist, exc_info=True)
    return entries

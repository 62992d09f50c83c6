"""The on-disk spool: what could not be delivered to a control plane, kept for later.

A spool holds *segments*: files of JSON lines, one pending run per line (its undelivered
start, records and completion, already in wire format — see
:mod:`waxell_observe.delivery.remote`). A segment is written whole (temporary file, then an
atomic rename), so a reader never sees half of one; it is rewritten with what is left after
a partial delivery and removed once everything in it was delivered — never before.

Each control plane (``api_url``) has its own sub-directory of the spool directory:
``$WAXELL_SPOOL_DIR`` or the user's data directory (``platformdirs``:
``~/.local/share/waxell-observe/spool`` on Linux). Keys are never written to disk.
The spool is bounded (``WAXELL_SPOOL_MAX_MB``, default 256 MB per control plane): a segment
that would exceed the bound is refused and its records are counted as dropped.

Only one process at a time delivers a spool directory (an advisory lock held during a
replay pass); any number of processes may add segments to it concurrently.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_MAX_MB", "SEGMENT_SUFFIX", "Spool", "SpoolLock", "max_spool_bytes", "spool_root"]

logger = logging.getLogger("waxell_observe")

SEGMENT_SUFFIX = ".jsonl"
DEFAULT_MAX_MB = 256.0
_FORMAT_VERSION = 1
_LOCK_NAME = ".replay.lock"
_IDS_NAME = "ids.json"
_MAX_IDS = 10_000
_counter = itertools.count()
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def spool_root() -> Path:
    """``$WAXELL_SPOOL_DIR``, or ``<user data dir>/waxell-observe/spool``."""
    configured = os.environ.get("WAXELL_SPOOL_DIR", "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("waxell-observe", appauthor=False)) / "spool"


def max_spool_bytes() -> int:
    """The size bound of one control plane's spool, from ``WAXELL_SPOOL_MAX_MB``."""
    raw = os.environ.get("WAXELL_SPOOL_MAX_MB", "").strip()
    megabytes = DEFAULT_MAX_MB
    if raw:
        try:
            megabytes = float(raw)
            if megabytes < 0:
                raise ValueError(raw)
        except ValueError:
            logger.warning("waxell-observe: ignoring WAXELL_SPOOL_MAX_MB=%r (expected a number of megabytes)", raw)
            megabytes = DEFAULT_MAX_MB
    return int(megabytes * 1024 * 1024)


def destination_key(api_url: str) -> str:
    """The sub-directory name of a control plane's spool (a hash: URLs are not file names)."""
    return hashlib.sha256(api_url.rstrip("/").encode("utf-8")).hexdigest()[:20]


def _segment_bytes(header: dict[str, Any], entries: Sequence[dict[str, Any] | str]) -> bytes:
    """A segment's content: the header line, then one JSON line per entry (an entry given as a
    string is JSON text already)."""
    lines = [_encode(header)]
    lines.extend(entry if isinstance(entry, str) else _encode(entry) for entry in entries)
    lines.append("")
    return "\n".join(lines).encode("utf-8")


class SpoolLock:
    """An advisory, non-blocking, process-level lock on one spool directory.

    Released when :meth:`release` is called or the process dies. Where ``fcntl`` is not
    available the lock always succeeds (one process per spool directory is then assumed).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            self._fd = -1
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            logger.warning("waxell-observe: cannot open spool lock %s: %s", self.path, exc)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None or fd < 0:
            return
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


class Spool:
    """The spool of one control plane: a directory of segments."""

    def __init__(self, directory: Path, api_url: str = "", *, max_bytes: int | None = None) -> None:
        self.directory = Path(directory)
        self.api_url = api_url
        self.max_bytes = max_spool_bytes() if max_bytes is None else max_bytes
        self.lock = SpoolLock(self.directory / _LOCK_NAME)
        self._size_lock = threading.Lock()
        self._ready = False

    @classmethod
    def for_destination(cls, api_url: str, *, root: Path | None = None, max_bytes: int | None = None) -> Spool:
        """The spool of the control plane at ``api_url`` under ``root`` (default :func:`spool_root`)."""
        base = spool_root() if root is None else root
        return cls(base / destination_key(api_url), api_url, max_bytes=max_bytes)

    def _ensure_dir(self) -> None:
        if not self._ready:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._ready = True

    # -- writing ----------------------------------------------------------------------------

    def size(self) -> int:
        """Bytes used by the segments now on disk."""
        total = 0
        for path in self.segments():
            try:
                total += path.stat().st_size
            except OSError:
                continue
        return total

    def write(self, entries: Sequence[dict[str, Any] | str]) -> Path | None:
        """Write ``entries`` (pending runs: objects, or their JSON text) as a new segment.

        Returns its path, or ``None`` when nothing was written: ``entries`` is empty, the
        spool is full (:attr:`max_bytes`) or the disk refused (logged).
        """
        if not entries:
            return None
        header = {"v": _FORMAT_VERSION, "api_url": self.api_url, "written_at": time.time(), "pid": os.getpid()}
        data = _segment_bytes(header, entries)
        with self._size_lock:
            try:
                self._ensure_dir()
                if self.size() + len(data) > self.max_bytes:
                    logger.warning(
                        "waxell-observe: spool %s is full (%d bytes max); %d run(s) not spooled",
                        self.directory, self.max_bytes, len(entries),
                    )  # fmt: skip
                    return None
                name = f"{time.time_ns():020d}-{os.getpid()}-{next(_counter):06d}{SEGMENT_SUFFIX}"
                path = self.directory / name
                self._atomic_write(path, data)
                return path
            except OSError as exc:
                logger.warning("waxell-observe: cannot write to the spool %s: %s", self.directory, exc)
                return None

    def _atomic_write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{path.name}")
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise

    def rewrite(self, path: Path, entries: Sequence[dict[str, Any] | str]) -> None:
        """Replace segment ``path`` with ``entries`` (what is left of it); remove it when empty."""
        if not entries:
            self.remove(path)
            return
        header = {"v": _FORMAT_VERSION, "api_url": self.api_url, "written_at": time.time(), "pid": os.getpid()}
        try:
            self._atomic_write(path, _segment_bytes(header, entries))
        except OSError as exc:
            logger.warning("waxell-observe: cannot rewrite spool segment %s: %s", path, exc)

    def remove(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("waxell-observe: cannot remove delivered spool segment %s: %s", path, exc)

    # -- reading ----------------------------------------------------------------------------

    def segments(self) -> list[Path]:
        """Segments on disk, oldest first."""
        try:
            names = sorted(
                entry.name
                for entry in os.scandir(self.directory)
                if entry.name.endswith(SEGMENT_SUFFIX) and not entry.name.startswith(".")
            )
        except FileNotFoundError:
            return []
        except OSError as exc:
            logger.warning("waxell-observe: cannot list the spool %s: %s", self.directory, exc)
            return []
        return [self.directory / name for name in names]

    def load(self, path: Path) -> list[dict[str, Any]] | None:
        """The entries of segment ``path``; ``None`` when it is gone. Unreadable lines are
        logged and skipped (a corrupt segment is moved aside as ``*.corrupt``)."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            logger.warning("waxell-observe: cannot read spool segment %s: %s", path, exc)
            self._quarantine(path)
            return None
        entries: list[dict[str, Any]] = []
        bad = 0
        for number, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if number == 0 and isinstance(value, dict) and "v" in value and "run_id" not in value:
                continue  # the header
            if isinstance(value, dict) and value.get("run_id"):
                entries.append(value)
            else:
                bad += 1
        if bad:
            logger.warning("waxell-observe: skipped %d unreadable line(s) of spool segment %s", bad, path)
        return entries

    def _quarantine(self, path: Path) -> None:
        try:
            os.replace(path, path.with_name(path.name + ".corrupt"))
        except OSError:
            pass

    def __iter__(self) -> Iterator[Path]:
        return iter(self.segments())

    # -- id map -----------------------------------------------------------------------------

    def load_ids(self) -> dict[str, list[str]]:
        """Our run id -> [server run id, server workflow id], for servers that assign their own."""
        try:
            data = json.loads((self.directory / _IDS_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, list) and len(v) == 2}

    def save_ids(self, ids: dict[str, list[str]]) -> None:
        """Persist the id map (the newest :data:`_MAX_IDS` entries)."""
        if len(ids) > _MAX_IDS:
            ids = dict(list(ids.items())[-_MAX_IDS:])
        try:
            self._ensure_dir()
            self._atomic_write(self.directory / _IDS_NAME, json.dumps(ids).encode("utf-8"))
        except OSError as exc:
            logger.warning("waxell-observe: cannot save the spool id map in %s: %s", self.directory, exc)

    def __repr__(self) -> str:
        return f"Spool({str(self.directory)!r})"

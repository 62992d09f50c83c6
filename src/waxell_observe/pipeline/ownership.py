"""Who owns a journal directory: the owner's lock, adopting the journal of a dead process,
finding journals under a root, and removing one that was delivered."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from waxell_observe.pipeline.layout import LOCK_NAME

__all__ = ["owner_alive", "try_adopt", "journal_directories", "remove_journal"]


def owner_alive(directory: Path) -> bool:
    """True while the process that owns the journal in ``directory`` (or an adopter) holds it."""
    lock = try_adopt(directory)
    if lock is None:
        return True
    os.close(lock)
    return False


def try_adopt(directory: Path) -> int | None:
    """Take the owner lock of ``directory`` when nobody holds it (its process died); returns the
    lock's descriptor (close it to let go) or ``None``."""
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def journal_directories(root: Path) -> Iterator[Path]:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(root):
            if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                yield Path(entry.path)


def remove_journal(directory: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
    with contextlib.suppress(FileNotFoundError, OSError):
        os.rmdir(directory)

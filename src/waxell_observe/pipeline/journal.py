"""The journal: an append-only, memory-mapped log of frames, one per process.

Layout on disk (under the journal root, ``WAXELL_JOURNAL_DIR`` or the user's data
directory)::

    <root>/<host>-<pid>-<token>/owner.lock     flock'ed by the owning process while it lives
                               seg-00000001.wj  segments: a 16-byte header, then frames
                               ack-<hash>       each destination's acknowledged position
                               notes-<hash>     what a destination must remember (ids a server chose)

A frame is ``[u32 length][payload]``, 4-byte aligned; the length is stored *after* the
payload, so a reader (or a process adopting the journal of a crashed one) sees either a
whole frame or a zero length. ``0xFFFFFFFF`` closes a segment: the next frame is at the
start of the next segment. Segments are reserved with ``posix_fallocate`` before they are
mapped, so a full disk shows up as a refused segment (frames dropped, counted, logged) and
never as a ``SIGBUS`` in the agent's thread. A disk without room for a whole segment (8 MiB)
gets smaller ones (halved down to 64 KiB): frames are dropped only when not even those fit.

The agent's thread appends by copying bytes into the mapping (no system call per frame);
the kernel's page cache keeps what was written when the process dies (``os._exit``,
``kill -9``, a crash). A position is ``segment << 32 | offset``.

After ``os.fork()`` the child drops the parent's journals (mappings and lock) and opens its
own on its first record; the fork waits for an append in progress, so no frame is torn.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import mmap
import os
import secrets
import socket
import threading
import time
import weakref
from pathlib import Path

from waxell_observe.pipeline.layout import (
    DEFAULT_SEGMENT_BYTES,
    END_OF_SEGMENT,
    HEADER_BYTES,
    LOCK_NAME,
    MAGIC,
    _align,
    _pack_u32,
    position,
    segment_name,
    split_position,
)
from waxell_observe.pipeline.ownership import remove_journal
from waxell_observe.pipeline.reader import JournalReader
from waxell_observe.process import current_pid

__all__ = ["Journal"]

logger = logging.getLogger("waxell_observe")


class Journal:
    """This process's journal in ``directory`` (created; the owner lock held until :meth:`close`).

    :meth:`append` is the only method called on the agent's thread. ``max_bytes`` bounds
    the segments kept on disk: beyond it (or when the disk is full) frames are dropped and
    counted in :attr:`dropped` by reason.
    """

    def __init__(
        self, root: Path, *, segment_bytes: int = DEFAULT_SEGMENT_BYTES, max_bytes: int = 4 << 30
    ) -> None:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{socket.gethostname()}-{current_pid()}-{secrets.token_hex(4)}"
        # Made under a hidden name, locked, then renamed: an adopter never sees it unlocked.
        hidden = root / f".new-{name}"
        hidden.mkdir(mode=0o700)
        self._lock_fd = os.open(hidden / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self.directory = root / name
        os.rename(hidden, self.directory)
        self.root = root
        self.pid = current_pid()
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        self.lock = threading.Lock()
        self._acquire = self.lock.acquire
        self._release = self.lock.release
        self.dropped: dict[str, int] = {}
        self.counts: dict[int, int] = {}
        """Frames written per route (route frames themselves under route 0)."""
        self._routes: list[bytes] = []
        self.route_log: list[tuple[int, bytes, int]] = []
        """``(route id, route frame, position written at)`` in the order routes were added."""
        self.segments: dict[int, mmap.mmap] = {}
        self._sizes: dict[int, int] = {}
        self._segment = 0
        self._mm: mmap.mmap | None = None
        self._offset = 0
        self._end = 0
        self._full_until = 0.0
        """Until then only the smallest segment is tried (the disk was full: a try per frame stays cheap)."""
        self.closed = False
        self._open_segment(
            1, 0, count=False
        )  # on a full disk: no segment yet; every append tries again (and counts)
        _journals.add(self)

    # -- the agent's side -----------------------------------------------------------------------

    def append(self, data: bytes, route: int = 0) -> bool:
        """Write one frame of ``route``; False (counted in :attr:`dropped`) when there is no room
        on disk. :attr:`counts` keeps how many frames of each route were written."""
        size = len(data)
        self._acquire()  # the lock's bound methods: cheaper than ``with self.lock`` per frame
        try:
            mm = self._mm
            offset = self._offset
            if mm is None or offset + size + 8 > self._end:
                if not self._roll(size, count=route != 0):
                    return False
                mm = self._mm
                assert mm is not None
                offset = self._offset
            end = offset + 4 + size
            mm[offset + 4 : end] = data
            _pack_u32(mm, offset, size)  # the length last: a reader sees the whole frame or none
            self._offset = (end + 3) & -4  # layout._align written out
            try:
                self.counts[route] += 1
            except KeyError:  # the route's first frame
                self.counts[route] = 1
        finally:
            self._release()
        return True

    def add_route(self, route: int, frame: bytes) -> bool:
        """Write a route frame and keep it: every new segment starts with all routes again, so
        a reader starting at any segment knows where each frame goes. The drainer of this
        process learns routes from :attr:`route_log` instead of reading every frame."""
        with self.lock:
            self._routes.append(frame)
            self.route_log.append((route, frame, position(self._segment, self._offset)))
        return self.append(frame, 0)

    def _roll(self, size: int, *, count: bool = True) -> bool:
        """Close the current segment and open the next (lock held). False: the frame is dropped
        (counted, unless it is a route frame: every new segment starts with the routes again)."""
        if self.closed:
            if count:
                self._drop("journal closed")
            return False
        return self._open_segment(self._segment + 1, size, count=count)

    def _open_segment(self, number: int, size: int, *, count: bool = True) -> bool:
        routes = sum(len(r) + 8 for r in self._routes)
        needed = _align(HEADER_BYTES + routes + size + 16)
        length = max(self.segment_bytes, needed)
        used = sum(self._sizes.values())
        if used + length > self.max_bytes:
            self._drop_if(
                count, f"journal size bound reached ({self.max_bytes // (1 << 20)} MB of segments waiting)"
            )
            return False
        path = self.directory / segment_name(number)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            self._drop_if(count, _disk_reason(exc))
            return False
        try:
            smallest = max(needed, MIN_SEGMENT_BYTES)
            if time.monotonic() < self._full_until:  # full a moment ago: one small try per frame
                length = smallest
            try:
                length = _reserve(fd, length, smallest)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(path)
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    self._full_until = time.monotonic() + FULL_DISK_BACKOFF
                self._drop_if(count, _disk_reason(exc))
                return False
            mm = mmap.mmap(fd, length)
        finally:
            os.close(fd)
        mm[0:4] = MAGIC
        _pack_u32(mm, 4, 1)
        _pack_u32(mm, 8, length)
        old, old_offset = self._mm, self._offset
        self.segments[number] = mm
        self._sizes[number] = length
        self._segment, self._mm, self._offset, self._end = number, mm, HEADER_BYTES, length
        for route in self._routes:
            start = self._offset + 4
            mm[start : start + len(route)] = route
            _pack_u32(mm, self._offset, len(route))
            self._offset = _align(start + len(route))
        if old is not None:
            _pack_u32(old, old_offset, END_OF_SEGMENT)  # published last: the reader moves on
        return True

    def _drop_if(self, count: bool, reason: str) -> None:
        if count:
            self._drop(reason)

    def _drop(self, reason: str) -> None:
        first = not self.dropped
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        if first or self.dropped[reason] == 1:
            logger.warning(
                "waxell-observe: cannot journal records in %s: %s; records are dropped and counted until "
                "there is room again",
                self.directory,
                reason,
            )

    # -- positions -------------------------------------------------------------------------------

    def head(self) -> int:
        """The position after the last frame written."""
        with self.lock:
            return position(self._segment, self._offset)

    def first_position(self) -> int:
        numbers = sorted(self.segments)
        return position(numbers[0], HEADER_BYTES) if numbers else position(self._segment, HEADER_BYTES)

    def release_before(self, pos: int) -> None:
        """Delete the segments wholly before ``pos`` (every destination has passed them)."""
        segment, _ = split_position(pos)
        with self.lock:
            old = [n for n in self.segments if n < segment and n != self._segment]
            for number in old:
                mm = self.segments.pop(number)
                self._sizes.pop(number, None)
                with contextlib.suppress(BufferError, ValueError):
                    mm.close()
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.directory / segment_name(number))

    def reader(self) -> JournalReader:
        return JournalReader(self.directory, live=self)

    def close(self, *, remove: bool, unmap: bool = True) -> None:
        """Stop writing; with ``remove`` delete the journal (everything was delivered). Without
        ``unmap`` the segments stay mapped for a reader that may still be at work (a drainer
        thread finishing a delivery at exit); they are released with the process."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            mms = list(self.segments.values()) if unmap else []
            if unmap:
                self.segments.clear()
            self._mm = None
        for mm in mms:
            with contextlib.suppress(BufferError, ValueError):
                mm.close()
        if remove:
            remove_journal(self.directory)
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)
        _journals.discard(self)

    # -- fork ----------------------------------------------------------------------------------

    def _abandon_in_child(self) -> None:
        """In a forked child: this journal is the parent's; forget it without touching its files."""
        self.closed = True
        self.lock = threading.Lock()
        self._acquire = self.lock.acquire
        self._release = self.lock.release
        self.segments = {}
        self._mm = None
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


MIN_SEGMENT_BYTES = 64 * 1024
"""The smallest segment reserved when a full-size one does not fit on the disk any more."""
FULL_DISK_BACKOFF = 0.1
"""Seconds after a full disk refused even the smallest segment during which frames try that size only."""


def _reserve(fd: int, length: int, smallest: int) -> int:
    """Reserve ``length`` bytes for the segment file ``fd``; on a disk without room for that,
    half as much, and so on down to ``smallest`` (so the frames fill what room is left rather than
    being dropped while the disk still has some). Returns the length reserved; raises the last
    ``OSError`` when even ``smallest`` does not fit (or on any error but a full disk)."""
    while True:
        try:
            os.posix_fallocate(fd, 0, length)
            return length
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or length <= smallest:
                raise
            os.ftruncate(fd, 0)  # give back whatever the refused reservation took
            length = max(smallest, _align(length // 2))


def _disk_reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full ({exc.strerror})"
    return f"cannot write the journal ({exc.strerror or exc})"


# -- fork safety ---------------------------------------------------------------------------------

_journals: weakref.WeakSet[Journal] = weakref.WeakSet()
_held: list[Journal] = []


def _before_fork() -> None:
    for journal in list(_journals):
        journal.lock.acquire()
        _held.append(journal)


def _after_fork_parent() -> None:
    while _held:
        _held.pop().lock.release()


def _after_fork_child() -> None:
    _held.clear()
    for journal in list(_journals):
        journal._abandon_in_child()
    _journals.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_parent, after_in_child=_after_fork_child
    )

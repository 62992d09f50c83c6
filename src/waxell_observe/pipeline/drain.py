"""One journal being drained (:class:`Drain`) and each destination's progress through it
(:class:`Consumer`: its acknowledged position, the batches it has in flight, backoff, and notes
kept beside the journal)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections import deque
from pathlib import Path
from typing import Any

from waxell_observe.pipeline.destination import Destination
from waxell_observe.pipeline.journal import Journal
from waxell_observe.pipeline.layout import split_position
from waxell_observe.pipeline.reader import JournalReader
from waxell_observe.pipeline.sending import Sending

__all__ = ["Consumer", "Drain", "InFlight", "hopeless", "BATCH_FRAMES", "GATHER_BYTES"]

logger = logging.getLogger("waxell_observe")

BATCH_FRAMES = 4096
GATHER_BYTES = 256 * 1024
"""A consumer waits for this much to be journaled (or the drainer's ``GATHER_SECONDS``) before a
delivery: bigger batches cost the destination (and the agent's GIL) far less per record."""


class InFlight:
    """A batch handed to a pipelined destination and not acknowledged yet: its frames, the
    position after it, the frames of each route it passes, and its delivery."""

    __slots__ = ("batch", "after", "passed", "sending")

    def __init__(self, batch: list[list[Any]], after: int, passed: dict[int, int], sending: Sending) -> None:
        self.batch = batch
        self.after = after
        self.passed = passed
        self.sending = sending


class Consumer:
    """One destination's progress through one journal."""

    def __init__(self, drain: Drain, destination: Destination, pos: int) -> None:
        self.drain = drain
        self.destination = destination
        self.position = pos
        self.routes: set[int] = set()
        self.passed: dict[int, int] = {}
        """Frames of each route this consumer has passed (delivered, refused or unreadable)."""
        self.failures = 0
        self.retry_at = 0.0
        self.last_error = ""
        self.persistent = False
        self.batch_frames = BATCH_FRAMES
        self.last_delivery = 0.0
        self.in_flight: deque[InFlight] = deque()
        """Batches handed over after ``position``, in journal order (pipelined destinations)."""
        self.abandoned: list[Sending] = []
        """Deliveries still running of batches given up after an earlier batch failed: nothing
        is handed over again until they ended (the same runs are never sent twice at once)."""
        digest = hashlib.sha1(destination.key.encode()).hexdigest()[:16]
        self.ack_path = drain.directory / f"ack-{digest}"
        self.notes_path = drain.directory / f"notes-{digest}"

    def keep_notes(self, notes: list[str]) -> None:
        """Append the destination's notes to the journal's notes file (see :class:`Delivered`)."""
        data = "".join(f"{note}\n" for note in notes if "\n" not in note).encode()
        try:
            fd = os.open(self.notes_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as exc:
            logger.warning(
                "waxell-observe: cannot keep %s's notes beside the journal (%s); a process adopting it "
                "will not know them",
                self.destination.name, exc,
            )  # fmt: skip

    def recall_notes(self) -> None:
        """Hand the notes kept beside this journal (by any process) back to the destination."""
        recall = getattr(self.destination, "recall", None)
        if recall is None:
            return
        try:
            text = self.notes_path.read_text()
        except FileNotFoundError:
            return
        except OSError as exc:
            logger.warning("waxell-observe: cannot read %s (%s)", self.notes_path, exc)
            return
        recall(text.splitlines())

    def save(self) -> None:
        text = f"{self.position:020d} {self.destination.key}\n".encode()
        with contextlib.suppress(OSError):
            fd = os.open(self.ack_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.pwrite(fd, text, 0)
            finally:
                os.close(fd)

    @staticmethod
    def load(path: Path) -> tuple[int, str] | None:
        try:
            text = path.read_text()
        except OSError:
            return None
        head, _, key = text.strip().partition(" ")
        try:
            return int(head), key
        except ValueError:
            return None

    @property
    def read_position(self) -> int:
        """Where the next batch starts: after the last one in flight, else the acknowledged position."""
        return self.in_flight[-1].after if self.in_flight else self.position

    @property
    def backing_off(self) -> bool:
        return self.failures > 0 and time.monotonic() < self.retry_at


class Drain:
    """One journal being drained: this process's own (``journal`` set) or an adopted one."""

    def __init__(
        self, directory: Path, *, journal: Journal | None = None, lock_fd: int | None = None
    ) -> None:
        self.directory = directory
        self.journal = journal
        self.lock_fd = lock_fd
        self.reader = journal.reader() if journal is not None else JournalReader(directory)
        self.scan = self.reader.first_position()
        self.routes_seen = 0
        self.routes: dict[int, list[str]] = {}
        self.unresolved: dict[int, tuple[dict[str, Any], int]] = {}
        """Route -> (destinations that could not be opened yet, position of the route frame)."""
        self.consumers: dict[str, Consumer] = {}
        self.acks: dict[str, int] = {}
        for entry in directory.glob("ack-*"):
            loaded = Consumer.load(entry)
            if loaded is not None:
                self.acks[loaded[1]] = loaded[0]

    @property
    def own(self) -> bool:
        return self.journal is not None

    def head(self) -> int:
        if self.journal is not None:
            return self.journal.head()
        return self.scan

    def done(self) -> bool:
        """Every destination has everything written so far (none is still to be opened)."""
        return (
            not self.unresolved
            and all(c.position >= self.scan for c in self.consumers.values())
            and self._scanned_to_head()
        )

    def _scanned_to_head(self) -> bool:
        return self.journal is None or self.scan >= self.journal.head()

    def scan_done(self) -> bool:
        """Everything written has been scanned (an adopted journal's writer is gone: always)."""
        return self._scanned_to_head()


def _backlog_bytes(start: int, end: int) -> int:
    start_segment, start_offset = split_position(start)
    end_segment, end_offset = split_position(end)
    if start_segment != end_segment:
        return GATHER_BYTES  # a whole segment boundary away: plenty
    return end_offset - start_offset


def hopeless(consumer: Consumer, deadline: float | None) -> bool:
    """A consumer a flush stops waiting for: failing persistently (a full disk), or backing off
    past the deadline."""
    if not consumer.failures:
        return False
    return consumer.persistent or (deadline is not None and consumer.retry_at >= deadline)

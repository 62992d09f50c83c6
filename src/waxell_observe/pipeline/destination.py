"""What a destination is to the drainer: something that takes a batch of decoded frames.

A destination (the embedded store, a control plane, an OTLP receiver) receives the frames
routed to it, in journal order, in batches. :meth:`Destination.deliver` either stores the
whole batch (its acknowledged position then moves past it), raises :class:`RetryLater`
(nothing moves; the same frames come again after a backoff), or returns a
:class:`Delivered` saying how many frames were refused for good and why (those are counted
as dropped; the position moves on).

A destination may learn facts it needs to deliver the rest of a journal (ids a control plane
chose for runs it started). It returns them as :attr:`Delivered.notes`; the drainer keeps them
in a file beside the journal and, when another process adopts that journal, hands them back
through the destination's optional ``recall(notes)`` before it delivers anything more.

A destination whose writes take a round trip (a control plane) may also let the drainer keep
more than one batch in flight (:class:`Pipelined`): the drainer reads and hands over the next
batch while the destination stores the previous one, and still acknowledges batches only in
journal order, each only once it and every batch before it were delivered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Destination", "Delivered", "Pipelined", "RetryLater"]


class RetryLater(Exception):
    """The destination cannot take the batch now (down, busy, locked); try again later.

    ``after``: seconds to wait at least (a ``Retry-After`` header). ``persistent``: the cause
    will not go away by itself soon (a full disk): a flush stops waiting for it.
    """

    def __init__(self, message: str = "", *, after: float | None = None, persistent: bool = False) -> None:
        super().__init__(message)
        self.after = after
        self.persistent = persistent


@dataclass
class Delivered:
    """The outcome of one delivered batch: frames refused for good, by reason, and notes to keep
    beside the journal (one line each, no newlines) for whoever delivers the rest of it.

    ``recalled``: frames of EARLIER batches, counted as sent then, whose content this batch lost
    for good — a destination that carries a record between batches (an OTLP run span is made from
    the run's start and end frames) recalls the start when the run's span is refused. The drainer
    moves them from sent to dropped, so the report's totals stay exact."""

    refused: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    recalled: dict[str, int] = field(default_factory=dict)

    def refuse(self, reason: str, count: int = 1) -> None:
        if count > 0:
            self.refused[reason] = self.refused.get(reason, 0) + count

    def recall(self, reason: str, count: int = 1) -> None:
        if count > 0:
            self.recalled[reason] = self.recalled.get(reason, 0) + count


class Destination(Protocol):
    """A place frames go. ``key`` identifies it across processes (it names its acknowledged
    position on disk); ``name`` is what reports call it (``embedded``, ``remote``, ``otlp``)."""

    key: str
    name: str

    def deliver(self, frames: list[list[Any]]) -> Delivered | None:
        """Store ``frames`` (all routed here, in journal order) or raise :class:`RetryLater`."""
        ...

    def close(self) -> None:
        """Release connections (the drainer stops)."""
        ...


class Pipelined(Destination, Protocol):
    """A destination that takes a batch before the previous one is delivered.

    ``max_in_flight``: how many batches the drainer may hand over before the first of them is
    delivered (1: one at a time, through :meth:`Destination.deliver`; read on every batch, so a
    destination can raise it once it knows its peer takes it).

    :meth:`submit` is called on the drainer's thread, in journal order, with the next batch; it
    returns the rest of the delivery, which the drainer runs on a thread of its own and which
    means what :meth:`Destination.deliver` means (a :class:`Delivered`, or :class:`RetryLater`,
    or any other error). The destination orders what depends on an earlier batch still in
    flight (a run that batch starts) after that batch, and sends none of it when that batch
    failed. The drainer acknowledges a batch only when it and every batch before it are
    delivered; after a failure it waits for the later batches in flight to end, ignores their
    outcomes, and hands them over again (the destination's writes are idempotent).
    """

    max_in_flight: int

    def submit(self, frames: list[list[Any]]) -> Callable[[], Delivered | None]:
        """Start delivering ``frames``; returns what finishes it (run on another thread)."""
        ...

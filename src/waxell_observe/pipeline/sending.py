"""One batch being delivered on a thread of its own (for a pipelined destination).

The drainer keeps reading and handing over the next batch meanwhile; it takes the outcome of
each :class:`Sending` in journal order once :meth:`Sending.done` says it ended. The thread is a
daemon: interpreter exit never waits for a request in flight (what it carried is acknowledged
only by the drainer, so an unfinished one stays journaled and is delivered again).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from waxell_observe.pipeline.destination import Delivered

__all__ = ["Sending"]


class Sending:
    """The rest of one batch's delivery, running (or already ended)."""

    __slots__ = ("outcome", "error", "_done", "thread")

    def __init__(self) -> None:
        self.outcome: Delivered | None = None
        self.error: BaseException | None = None
        """What the delivery raised (its outcome then means nothing)."""
        self._done = threading.Event()
        self.thread: threading.Thread | None = None

    @classmethod
    def start(cls, send: Callable[[], Delivered | None], wake: Callable[[], None]) -> Sending:
        """Run ``send`` on a daemon thread; ``wake`` is called when it ended (either way)."""
        sending = cls()
        sending.thread = threading.Thread(
            target=sending._run, args=(send, wake), name="waxell-send-batch", daemon=True
        )
        sending.thread.start()
        return sending

    @classmethod
    def ended(cls, outcome: Delivered | None = None, error: BaseException | None = None) -> Sending:
        """A delivery that ended before it started (nothing to send, or handing it over failed)."""
        sending = cls()
        sending.outcome, sending.error = outcome, error
        sending._done.set()
        return sending

    def _run(self, send: Callable[[], Delivered | None], wake: Callable[[], None]) -> None:
        try:
            self.outcome = send()
        except BaseException as exc:  # noqa: BLE001 - handed to the drainer, which decides
            self.error = exc
        finally:
            self._done.set()
            wake()

    def done(self) -> bool:
        return self._done.is_set()

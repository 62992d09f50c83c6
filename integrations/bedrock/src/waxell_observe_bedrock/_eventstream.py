"""A recording proxy over botocore's ``EventStream`` (the ``stream`` of a ``converse_stream`` answer,
the ``body`` of an ``invoke_model_with_response_stream`` one).

``EventStream`` is iterable but not an iterator (its ``__iter__`` is a generator over the parsed
events), so the proxy keeps that generator and takes each event from it; everything else
(``close()``, ``get_initial_response()``, ``isinstance(stream, EventStream)``) is the stream's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from waxell_observe.instrumentation import RecordingStream, StreamObserver

__all__ = ["RecordingEventStream"]


class RecordingEventStream(RecordingStream):
    """Records the call when the events run out (or fail, or the stream is closed or collected)."""

    def __init__(self, wrapped: Any, observer: StreamObserver) -> None:
        super().__init__(wrapped, observer)
        self._self_events: Iterator[Any] | None = None

    def __next__(self) -> Any:
        if self._self_events is None:
            self._self_events = iter(self.__wrapped__)
        observer = self._self_observer
        try:
            item = next(self._self_events)
        except StopIteration:
            observer.complete()
            raise
        except Exception as exc:
            observer.failed(exc)
            raise
        observer.item(item)
        return item

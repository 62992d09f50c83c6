"""Transparent proxies over an SDK's stream objects that record the call when the stream ends.

Provider-neutral: the integration supplies an :class:`Accumulator` that reads its SDK's chunks or
events. The caller gets exactly the chunks/events the provider sent, from an object that still is (for
``isinstance``) and behaves like the SDK's ``Stream``/``AsyncStream``: iteration, ``next()``, the
context manager protocol, ``close()``, ``.response`` and every other attribute. Each item is shown to
an accumulator on its way through; the call is recorded once, when the stream

* is exhausted (complete),
* raises (an error, with what arrived so far),
* is closed or its context exited before the end (``attributes["partial"] = True``), or
* is garbage-collected unfinished (partial as well).

The SDK's own helpers (``.stream()`` managers) close the underlying HTTP response directly;
``.response`` is therefore proxied too, and closing it counts as closing the stream.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any, Protocol

import wrapt

from waxell_observe.instrumentation.recording import CallObservation, CallResult

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Accumulator", "AsyncRecordingStream", "RecordingStream", "StreamObserver"]

logger = logging.getLogger("waxell_observe")


class Accumulator(Protocol):
    """Builds a :class:`CallResult` from the items of one stream."""

    @property
    def finished(self) -> bool:
        """True once the terminal item arrived (usage / completion event): closing now is not partial."""

    def add(self, item: Any) -> bool:
        """Take one item; return True when it carries generated output (for time to first token)."""

    def result(self) -> CallResult:
        """What arrived so far."""


class StreamObserver:
    """Connects a stream's items to its :class:`CallObservation`. Holds no reference to the proxy."""

    __slots__ = ("__weakref__", "accumulator", "observation")

    def __init__(self, observation: CallObservation, accumulator: Accumulator) -> None:
        self.observation = observation
        self.accumulator = accumulator

    def item(self, item: Any) -> None:
        """One item went through to the caller."""
        try:
            if self.accumulator.add(item):
                self.observation.first_token()
        except Exception:
            logger.exception("waxell-observe: could not read a %s stream item", self.observation.provider)

    def complete(self) -> None:
        """The stream was exhausted."""
        self.observation.succeed(self._result(), partial=False)

    def failed(self, error: BaseException) -> None:
        """The stream raised ``error`` (recorded as an error, with what arrived before)."""
        self.observation.fail(error, self._result())

    def stopped(self) -> None:
        """The stream was closed, exited or collected: partial unless its end already arrived."""
        if self.observation.done:
            return
        self.observation.succeed(self._result(), partial=not self.accumulator.finished)

    def _result(self) -> CallResult:
        try:
            return self.accumulator.result()
        except Exception:
            logger.exception("waxell-observe: could not summarise a %s stream", self.observation.provider)
            return CallResult(usage_reported=False)


def _watch(proxy: object, observer: StreamObserver) -> None:
    finalizer = weakref.finalize(proxy, observer.stopped)
    finalizer.atexit = False  # at interpreter exit the delivery workers are already drained


def _then_stop(proxy: Any, method: str, *args: object) -> Any:
    """``proxy.__wrapped__.method(*args)``; then the stream's observation stops, whatever happened."""
    try:
        return getattr(proxy.__wrapped__, method)(*args)
    finally:
        proxy._self_observer.stopped()


async def _then_stop_async(proxy: Any, method: str, *args: object) -> Any:
    """``await proxy.__wrapped__.method(*args)``; then the stream's observation stops."""
    try:
        return await getattr(proxy.__wrapped__, method)(*args)
    finally:
        proxy._self_observer.stopped()


class _ClosingResponse(wrapt.ObjectProxy):  # type: ignore[type-arg]  # generic only in wrapt's stubs
    """The stream's HTTP response; closing it stops the stream's observation."""

    def __init__(self, wrapped: Any, observer: StreamObserver) -> None:
        super().__init__(wrapped)
        self._self_observer = observer

    def close(self) -> Any:
        return _then_stop(self, "close")

    async def aclose(self) -> Any:
        return await _then_stop_async(self, "aclose")


class _StreamProxyBase(wrapt.ObjectProxy):  # type: ignore[type-arg]  # generic only in wrapt's stubs
    def __init__(self, wrapped: Any, observer: StreamObserver) -> None:
        super().__init__(wrapped)
        self._self_observer = observer
        self._self_response: Any = None
        _watch(self, observer)

    @property
    def response(self) -> Any:
        if self._self_response is None:
            real = self.__wrapped__.response
            self._self_response = _ClosingResponse(real, self._self_observer)
        return self._self_response

    def __repr__(self) -> str:
        return repr(self.__wrapped__)


class RecordingStream(_StreamProxyBase):
    """Proxy over a synchronous SDK stream."""

    def __iter__(self) -> RecordingStream:
        return self

    def __next__(self) -> Any:
        observer = self._self_observer
        try:
            item = self.__wrapped__.__next__()
        except StopIteration:
            observer.complete()
            raise
        except Exception as exc:
            observer.failed(exc)
            raise
        observer.item(item)
        return item

    def __enter__(self) -> Self:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> Any:
        return _then_stop(self, "__exit__", *exc_info)

    def close(self) -> Any:
        return _then_stop(self, "close")


class AsyncRecordingStream(_StreamProxyBase):
    """Proxy over an asynchronous SDK stream."""

    def __aiter__(self) -> AsyncRecordingStream:
        return self

    async def __anext__(self) -> Any:
        observer = self._self_observer
        try:
            item = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            observer.complete()
            raise
        except Exception as exc:
            observer.failed(exc)
            raise
        observer.item(item)
        return item

    async def __aenter__(self) -> Self:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> Any:
        return await _then_stop_async(self, "__aexit__", *exc_info)

    async def close(self) -> Any:
        return await _then_stop_async(self, "close")

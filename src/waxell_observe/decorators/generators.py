"""``@observe`` on generators and async generators.

A decorated generator is one run that starts when iteration starts and stays open until the
generator is exhausted, raises, is closed, or is garbage-collected (which closes it).

The run must be current inside the generator's body but never leak to the code that
iterates it, even though both run in the same thread or task. So the current-run
ContextVar "hops": before each step of the body it is set to the generator's own value,
after the step that value is saved (the body may have entered a nested run that spans
yields) and the caller's value is restored. No task or thread is created, so
``asyncio.timeout`` and cancellation reach the body exactly as without the decorator.

The wrappers are real generator functions (``inspect.isgeneratorfunction`` and
``inspect.isasyncgenfunction`` hold for them), and ``send``, ``throw``, ``close`` (and
their async forms) are forwarded to the decorated generator.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Generator
from contextvars import Token
from typing import TYPE_CHECKING, Any

from waxell_observe.current import current_context
from waxell_observe.decorators import _runtime
from waxell_observe.decorators._run import aenter, aexit, enter, exit_run, inert_context

if TYPE_CHECKING:
    from waxell_observe.context import WaxellContext
    from waxell_observe.decorators.observe import ObservedFunction

__all__ = ["wrap_generator", "wrap_async_generator", "MAX_CAPTURED_ITEMS"]

logger = logging.getLogger("waxell_observe")

MAX_CAPTURED_ITEMS = 1000
"""Yielded items kept in a generator run's result; later ones are only counted."""


class _Hop:
    """The generator's own value of the current-run ContextVar, kept between its steps."""

    __slots__ = ("value", "token")

    def __init__(self) -> None:
        self.value = current_context.get()
        self.token: Token[Any] | None = None

    def enter(self) -> None:
        self.token = current_context.set(self.value)

    def leave(self) -> None:
        self.value = current_context.get()
        token, self.token = self.token, None
        if token is not None:
            current_context.reset(token)


class _Yields:
    """What the generator yielded, for the run's result."""

    __slots__ = ("capture", "limit", "items", "count")

    def __init__(self, capture: bool, limit: int) -> None:
        self.capture = capture
        self.limit = limit
        self.items: list[Any] = []
        self.count = 0

    def add(self, item: Any) -> None:
        self.count += 1
        if self.capture and len(self.items) < MAX_CAPTURED_ITEMS:
            try:
                self.items.append(_runtime.capture(item, self.limit))
            except Exception:  # noqa: BLE001 - telemetry never breaks the agent
                logger.exception(
                    "waxell-observe: cannot capture a yielded item of type %s", type(item).__name__
                )
                self.items.append(None)

    def result(self, return_value: Any, closed: bool) -> dict[str, Any]:
        result: dict[str, Any] = {"output": self.items, "yield_count": self.count}
        if self.count > len(self.items):
            result["truncated"] = True
        if return_value is not None:
            result["return_value"] = return_value
        if closed:
            result["closed_early"] = True
        return result


def _finish(
    observed: ObservedFunction,
    context: WaxellContext,
    yields: _Yields,
    exc: BaseException | None,
    return_value: Any = None,
    closed: bool = False,
) -> None:
    observed.set_result(context, yields.result(return_value, closed), yields.limit)
    exit_run(context, exc)


def wrap_generator(observed: ObservedFunction) -> Callable[..., Generator[Any, Any, Any]]:
    """A generator function that runs ``observed.fn``'s generator as one run."""
    fn = observed.fn

    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        config = _runtime.current_config()
        if config is None or not config.enabled:
            if observed.signature.declares_context:
                inert_context(observed, args, kwargs)
            return (yield from fn(*args, **kwargs))
        context, limit = observed.context_for(config, args, kwargs)
        inner = fn(*args, **kwargs)
        if context is None:
            return (yield from inner)
        hop = _Hop()
        hop.enter()
        try:
            started = enter(context)
        finally:
            hop.leave()
        if not started:
            return (yield from inner)
        yields = _Yields(observed.capture_io, limit)
        send: Any = None
        thrown: BaseException | None = None
        while True:
            hop.enter()
            try:
                if thrown is None:
                    item = inner.send(send)
                else:
                    exc_in, thrown = thrown, None
                    item = inner.throw(exc_in)
            except StopIteration as stop:
                _finish(observed, context, yields, None, stop.value)
                return stop.value
            except BaseException as exc:
                _finish(observed, context, yields, exc)
                raise
            finally:
                hop.leave()
            yields.add(item)
            try:
                send = yield item
            except GeneratorExit:
                hop.enter()
                try:
                    inner.close()
                except BaseException as exc:
                    _finish(observed, context, yields, exc)
                    raise
                else:
                    _finish(observed, context, yields, None, closed=True)
                finally:
                    hop.leave()
                raise
            except BaseException as exc:  # thrown in by the consumer: forward it
                thrown, send = exc, None

    return wrapper


def wrap_async_generator(observed: ObservedFunction) -> Callable[..., AsyncGenerator[Any, Any]]:
    """An async generator function that runs ``observed.fn``'s async generator as one run."""
    fn = observed.fn

    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        context, limit = _async_context_for(observed, args, kwargs)
        inner = fn(*args, **kwargs)
        hop = _Hop()
        if context is not None and not await _aenter_hopping(context, hop):
            context = None
        yields = _Yields(observed.capture_io, limit)
        send: Any = None
        thrown: BaseException | None = None
        while True:
            if context is not None:
                hop.enter()
            try:
                if thrown is None:
                    item = await inner.asend(send)
                else:
                    exc_in, thrown = thrown, None
                    item = await inner.athrow(exc_in)
            except StopAsyncIteration:
                if context is not None:
                    await _afinish(observed, context, yields, None)
                return
            except BaseException as exc:
                if context is not None:
                    await _afinish(observed, context, yields, exc)
                raise
            finally:
                if context is not None:
                    hop.leave()
            if context is not None:
                yields.add(item)
            try:
                send = yield item
            except GeneratorExit:
                await _aclose(observed, inner, context, yields, hop)
                raise
            except BaseException as exc:  # thrown in by the consumer: forward it
                thrown, send = exc, None

    return wrapper


def _async_context_for(
    observed: ObservedFunction, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[WaxellContext | None, int]:
    """The run for one call of an async generator, and its capture limit (``None``: none)."""
    config = _runtime.current_config()
    if config is None or not config.enabled:
        if observed.signature.declares_context:
            inert_context(observed, args, kwargs)
        return None, 0
    return observed.context_for(config, args, kwargs)


async def _aenter_hopping(context: WaxellContext, hop: _Hop) -> bool:
    """Enter the run with the generator's own current run set; False when it did not start."""
    hop.enter()
    try:
        return await aenter(context)
    finally:
        hop.leave()


async def _aclose(
    observed: ObservedFunction,
    inner: AsyncGenerator[Any, Any],
    context: WaxellContext | None,
    yields: _Yields,
    hop: _Hop,
) -> None:
    """The consumer closed the wrapper: close the decorated generator and end the run."""
    if context is not None:
        hop.enter()
    try:
        await inner.aclose()
    except BaseException as exc:
        if context is not None:
            await _afinish(observed, context, yields, exc)
        raise
    else:
        if context is not None:
            await _afinish(observed, context, yields, None, closed=True)
    finally:
        if context is not None:
            hop.leave()


async def _afinish(
    observed: ObservedFunction,
    context: WaxellContext,
    yields: _Yields,
    exc: BaseException | None,
    closed: bool = False,
) -> None:
    observed.set_result(context, yields.result(None, closed), yields.limit)
    await aexit(context, exc)

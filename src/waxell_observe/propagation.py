"""Carrying the current run into threads and executors.

The current run lives in a :class:`contextvars.ContextVar`, so it already follows the code
through calls, ``await``, ``asyncio`` tasks (each task starts with a copy of its creator's
context) and ``asyncio.to_thread``. A new thread or a ``concurrent.futures`` pool starts
with an empty context; these helpers carry it over:

- :func:`wrap_context` binds a callable to the context of the code that wrapped it;
- :class:`ContextThreadPoolExecutor` runs every submitted callable in a copy of the
  submitter's context (a drop-in ``ThreadPoolExecutor``).

Records made in the other thread land on the same run; ``@observe`` calls there become
child runs of it.

A process started with ``os.fork()`` starts with no current run: the run that was active
in the forking thread belongs to the parent, which completes and delivers it (the
delivery workers and the background collector of the child start empty, too).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor as _ThreadPoolExecutor
from typing import Any, TypeVar

from waxell_observe.current import current_context

__all__ = ["wrap_context", "ContextThreadPoolExecutor", "ThreadPoolExecutor"]

R = TypeVar("R")


def wrap_context(fn: Callable[..., R]) -> Callable[..., R]:
    """Return ``fn`` bound to the current context (the active run included).

    Each call of the result runs in a fresh copy of the context captured here, so
    concurrent calls from several threads never interfere and nothing the callable sets
    leaks back. Works for plain callables and ``async def`` functions.
    """
    if not callable(fn):
        raise ValueError(f"wrap_context expects a callable, got {type(fn).__name__}: {fn!r}")
    captured = contextvars.copy_context()

    if inspect.iscoroutinefunction(fn):

        async def run_async(*args: Any, **kwargs: Any) -> Any:
            coroutine = fn(*args, **kwargs)
            if sys.version_info >= (3, 11):
                task = asyncio.get_running_loop().create_task(coroutine, context=captured.copy())
                return await task  # cancelling the caller cancels the task
            token = current_context.set(captured.get(current_context))
            try:
                return await coroutine
            finally:
                current_context.reset(token)

        return functools.wraps(fn)(run_async)  # type: ignore[return-value]

    def run(*args: Any, **kwargs: Any) -> R:
        return captured.copy().run(fn, *args, **kwargs)

    try:
        return functools.wraps(fn)(run)
    except AttributeError:  # callables without __name__ and friends
        return run


class ContextThreadPoolExecutor(_ThreadPoolExecutor):
    """A :class:`concurrent.futures.ThreadPoolExecutor` whose tasks run in the submitter's context.

    ``submit`` (and so ``map``) captures the context at submission; the task runs in it,
    so records go to the run that submitted it and decorated calls become its children.
    """

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)


def _forget_current_run_in_fork_child() -> None:
    current_context.set(None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_current_run_in_fork_child)


ThreadPoolExecutor = ContextThreadPoolExecutor
"""Alias: ``from waxell_observe.propagation import ThreadPoolExecutor`` as a drop-in replacement."""

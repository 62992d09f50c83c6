"""``on_policy_block``: what to do when a policy refuses a run (the reference SDK's approval hook).

A handler is any callable ``handler(error: PolicyViolationError)`` returning an
:class:`~waxell_observe.types.ApprovalDecision` (or anything truthy/falsy), sync or ``async``.
``init(on_policy_block=...)`` sets the process default; ``@observe(on_policy_block=...)`` and the
per-call keyword argument of the same name override it (per call > decorator > default).

When a :class:`~waxell_observe.errors.PolicyViolationError` escapes an ``@observe`` call and a handler
applies, the handler is asked; approved → the function is run **again** in a new run with
``enforce_policy=False``; denied → the error propagates.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from waxell_observe.errors import PolicyViolationError
from waxell_observe.types import ApprovalDecision

__all__ = ["default_handler", "set_default_handler", "decide", "adecide"]

Handler = Callable[[PolicyViolationError], Any]

_default: Handler | None = None


def set_default_handler(handler: Handler | None) -> None:
    """The process-wide default (``init(on_policy_block=...)``; ``None`` clears it)."""
    global _default
    if handler is not None and not callable(handler):
        raise ValueError(f"on_policy_block must be callable or None, got {type(handler).__name__}")
    _default = handler


def default_handler() -> Handler | None:
    """The handler ``init()`` set, or ``None``."""
    return _default


def _as_decision(answer: Any) -> ApprovalDecision:
    if isinstance(answer, ApprovalDecision):
        return answer
    return ApprovalDecision(approved=bool(answer))


def decide(handler: Handler, error: PolicyViolationError) -> ApprovalDecision:
    """Ask ``handler`` about ``error`` from sync code (an ``async`` handler is run to completion;
    from inside a running event loop that is impossible: ``TypeError``)."""
    answer = handler(error)
    if inspect.isawaitable(answer):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return _as_decision(asyncio.run(_await(answer)))
        if inspect.iscoroutine(answer):
            answer.close()
        raise TypeError(
            "an async on_policy_block handler cannot be awaited from sync code inside an event loop"
        )
    return _as_decision(answer)


async def adecide(handler: Handler, error: PolicyViolationError) -> ApprovalDecision:
    """Ask ``handler`` about ``error`` from async code (sync or ``async`` handler)."""
    answer = handler(error)
    if inspect.isawaitable(answer):
        answer = await answer
    return _as_decision(answer)


async def _await(awaitable: Any) -> Any:
    return await awaitable

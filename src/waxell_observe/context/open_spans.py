"""The container spans opened by ``WaxellContext.enter_span`` and not yet exited, per execution
context (a context variable: threads and tasks each see their own): records made meanwhile name
the innermost one as their parent.

:data:`OPEN` counts open containers in the process, so the recording methods pay one list read,
not a context-variable lookup, while none is open (the common case).
"""

from __future__ import annotations

from contextvars import ContextVar, Token

__all__ = ["OPEN", "innermost", "push", "pop"]

OPEN = [0]
"""How many containers are open in the process (``OPEN[0]``)."""

_stack: ContextVar[tuple[str, ...]] = ContextVar("waxell_open_spans", default=())


def innermost() -> str:
    """The id of the innermost open container of this context, or ``""``."""
    if not OPEN[0]:
        return ""
    stack = _stack.get()
    return stack[-1] if stack else ""


def push(span_id: str) -> Token[tuple[str, ...]]:
    """Open ``span_id`` in this context; the token closes it (:func:`pop`)."""
    OPEN[0] += 1
    return _stack.set((*_stack.get(), span_id))


def pop(span_id: str, token: Token[tuple[str, ...]] | None) -> None:
    """Close ``span_id`` (exited in another context than it was entered in: removed from there)."""
    OPEN[0] = max(OPEN[0] - 1, 0)
    try:
        if token is not None:
            _stack.reset(token)
            return
    except ValueError:
        pass
    stack = _stack.get()
    if span_id in stack:
        index = len(stack) - 1 - stack[::-1].index(span_id)
        _stack.set(stack[:index])

"""The container spans opened by ``WaxellContext.enter_span`` and not yet exited, per execution
context (a context variable: threads and tasks each see their own): records made meanwhile on the
same run name the innermost one as their parent.

:data:`OPEN` counts open containers in the process, so the recording methods pay one list read,
not a context-variable lookup, while none is open (the common case). Entries name their run, so a
container left open by a run that ended (an exception past ``exit_span``) never becomes the parent
of another run's records.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar, Token

__all__ = ["OPEN", "innermost", "push", "pop"]

OPEN = [0]
"""How many containers are open in the process (``OPEN[0]``)."""

_Stack = tuple[tuple[str, str], ...]
_stack: ContextVar[_Stack] = ContextVar("waxell_open_spans", default=())
_count_lock = threading.Lock()


def innermost(run_id: str) -> str:
    """The id of the innermost container of run ``run_id`` open in this context, or ``""``."""
    if not OPEN[0]:
        return ""
    for owner, span_id in reversed(_stack.get()):
        if owner == run_id:
            return span_id
    return ""


def push(run_id: str, span_id: str) -> Token[_Stack]:
    """Open ``span_id`` of run ``run_id`` in this context; the token closes it (:func:`pop`)."""
    with _count_lock:
        OPEN[0] += 1
    return _stack.set((*_stack.get(), (run_id, span_id)))


def pop(span_id: str, token: Token[_Stack] | None) -> None:
    """Close ``span_id`` (exited in another context than it was entered in: removed from there)."""
    with _count_lock:
        OPEN[0] = max(OPEN[0] - 1, 0)
    try:
        if token is not None:
            _stack.reset(token)
            return
    except ValueError:
        pass
    stack = _stack.get()
    ids = [entry[1] for entry in stack]
    if span_id in ids:
        index = len(ids) - 1 - ids[::-1].index(span_id)
        _stack.set(stack[:index])

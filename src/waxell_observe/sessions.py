"""``session()``: context-local defaults for the ``session_id`` / ``user_id`` of runs opened inside.

::

    with waxell_observe.session(session_id="sess-1", user_id="u-42"):
        answer("hi")  # an @observe run: session sess-1, user u-42

An explicit argument of the run and a parent run's value win over the block's; an empty argument
leaves the enclosing block's value in place; the previous defaults come back when the block ends.
The defaults live in a ``ContextVar``, so they follow ``await``, tasks and
:func:`~waxell_observe.wrap_context` like the current run does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["session", "session_defaults"]

_defaults: ContextVar[tuple[str, str]] = ContextVar("waxell_session_defaults", default=("", ""))


@contextmanager
def session(session_id: str = "", user_id: str = "") -> Iterator[None]:
    """Runs opened inside the block default to this ``session_id`` and ``user_id``."""
    for name, value in (("session_id", session_id), ("user_id", user_id)):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    outer_session, outer_user = _defaults.get()
    token = _defaults.set((session_id or outer_session, user_id or outer_user))
    try:
        yield
    finally:
        _defaults.reset(token)


def session_defaults() -> tuple[str, str]:
    """The ``(session_id, user_id)`` of the innermost :func:`session` block (``""`` outside)."""
    return _defaults.get()

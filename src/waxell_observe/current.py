"""The active context: a ContextVar that follows the code through calls, threads and tasks."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from waxell_observe.context import WaxellContext

__all__ = ["current_context", "get_current_context", "get_context"]

current_context: ContextVar[WaxellContext | None] = ContextVar("waxell_observe_current_context", default=None)


def get_current_context() -> WaxellContext | None:
    """The innermost active :class:`~waxell_observe.WaxellContext`, or ``None`` outside a run."""
    return current_context.get()


get_context = get_current_context

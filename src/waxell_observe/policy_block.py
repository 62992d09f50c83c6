"""``on_policy_block``: who is asked when a policy refuses a run, and where the handler comes from.

A handler is any callable ``handler(error: PolicyViolationError)`` returning an
:class:`~waxell_observe.types.ApprovalDecision` (or anything truthy/falsy), sync or ``async``
(:mod:`waxell_observe.approval` runs the rounds). ``init(on_policy_block=...)`` sets the process default.

- In a :class:`~waxell_observe.WaxellContext` the handler is the one given to it, else the enclosing
  context's, else ``init()``'s. A block at entry is put to it on the refused run itself: approved, the
  run goes on without policy checks; denied, the run completes ``blocked`` and the error is raised.
- In ``@observe`` the handler is the per-call keyword, else the decorator's, else ``init()``'s. A
  :class:`~waxell_observe.errors.PolicyViolationError` that escapes a call is put to it (on the blocked
  run, while it is still open); approved, the function runs **again** in a new run with
  ``enforce_policy=False``; denied, the error propagates.

An error is put to a person once: the decision is kept on it (``error.approval_decision``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.errors import PolicyViolationError

__all__ = ["Handler", "RerunOnApproval", "default_handler", "set_default_handler"]

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


class RerunOnApproval:
    """The handler of an ``@observe`` call, as its context holds it: a block at entry is put to
    ``handler`` on the refused run, which then completes ``blocked`` either way; the decorator runs
    the function again when the answer was yes. Nested contexts inherit ``handler`` itself.

    ``handler=None``: the call has no handler of its own (``init()``'s applies): a block at entry is
    then approved in place, as in a plain context; a block at completion still goes to ``init()``'s
    handler on the open run, and the decorator runs the function again when approved."""

    __slots__ = ("handler",)

    def __init__(self, handler: Handler | None) -> None:
        self.handler = handler


def handler_of(given: Any) -> Handler | None:
    """The callable behind a context's ``on_policy_block`` slot (unwrapping :class:`RerunOnApproval`)."""
    if isinstance(given, RerunOnApproval):
        return given.handler
    return given  # type: ignore[no-any-return]

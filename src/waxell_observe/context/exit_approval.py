"""A block at the completion check of an ``@observe`` call, put to the call's ``on_policy_block`` handler
while the refused run is still open, so the approval round (request, human turn, answer) is recorded on
the run it concerns — as for a block at entry or mid-run.

Only the context of an ``@observe`` call asks (its slot holds a
:class:`~waxell_observe.policy_block.RerunOnApproval`): a plain context cannot run its body again, so its
completion block is simply raised. The handler is the call's (per call > decorator > ``init()``'s); the
decision is kept on the error (``error.approval_decision``), and the decorator runs the function again
when it was yes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from waxell_observe import approval
from waxell_observe.context.base import _violation
from waxell_observe.errors import PolicyViolationError
from waxell_observe.policy_block import Handler, RerunOnApproval, default_handler

if TYPE_CHECKING:
    from waxell_observe.context.waxell_context import WaxellContext
    from waxell_observe.governance.results import PolicyCheckResult
    from waxell_observe.run import Run

__all__ = ["aask_at_completion", "ask_at_completion", "completion_handler"]


def completion_handler(ctx: WaxellContext) -> Handler | None:
    """The handler an ``@observe`` call's completion block goes to, or ``None`` (a plain context)."""
    given = ctx._on_policy_block
    if not isinstance(given, RerunOnApproval):
        return None
    return given.handler or default_handler()


def _refused(ctx: WaxellContext, run: Run, verdict: PolicyCheckResult) -> PolicyViolationError:
    ctx._record_evaluations(verdict, "post_execution")
    return _violation(verdict, run)


def ask_at_completion(ctx: WaxellContext, run: Run, verdict: PolicyCheckResult, handler: Handler) -> None:
    """Record the block, ask ``handler`` on the open run, complete it ``blocked``, raise the block (or
    the handler's own exception)."""
    error = _refused(ctx, run, verdict)
    try:
        approval.ask_sync(handler, error, ctx)
    finally:
        ctx._complete(run, None, verdict, evaluations_recorded=True)
    raise error


async def aask_at_completion(
    ctx: WaxellContext, run: Run, verdict: PolicyCheckResult, handler: Handler
) -> None:
    """:func:`ask_at_completion` for async code (an async handler is awaited on the caller's loop)."""
    error = _refused(ctx, run, verdict)
    try:
        await approval.ask(handler, error, ctx)
    finally:
        ctx._complete(run, None, verdict, evaluations_recorded=True)
    raise error

"""A block at context entry put to the ``on_policy_block`` handler (spec: explicit > the enclosing
context's > ``init()``'s). The refused run is started so that the approval round is recorded on it:

- approved: the run goes on with ``enforce_policy=False`` (no post-execution check either);
- denied (or a handler that raised): the run completes ``blocked`` (error ``Policy violation: <reason>``,
  result ``{"blocked_by": <reason>}``) and the policy error (or the handler's) is raised;
- the context of an ``@observe`` call (:class:`~waxell_observe.policy_block.RerunOnApproval`): the run
  completes ``blocked`` either way and the decorator runs the function again when approved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from waxell_observe import approval
from waxell_observe.context.base import _violation
from waxell_observe.errors import PolicyViolationError
from waxell_observe.policy_block import Handler, RerunOnApproval, default_handler, handler_of
from waxell_observe.types import ApprovalDecision

if TYPE_CHECKING:
    from waxell_observe.context.waxell_context import WaxellContext
    from waxell_observe.governance.results import PolicyCheckResult
    from waxell_observe.run import Run

__all__ = ["handler_for", "admit_blocked", "aadmit_blocked"]


def handler_for(ctx: WaxellContext) -> tuple[Handler, bool] | None:
    """``(handler, rerun)`` for a block at ``ctx``'s entry, or ``None`` when nobody is to be asked."""
    given = ctx._on_policy_block
    own = handler_of(given)
    if own is not None:
        return own, isinstance(given, RerunOnApproval)
    parent = ctx._parent
    while parent is not None:
        inherited = handler_of(parent._on_policy_block)
        if inherited is not None:
            return inherited, False
        parent = parent._parent
    fallback = default_handler()
    return (fallback, False) if fallback is not None else None


def _start(ctx: WaxellContext, run: Run, verdict: PolicyCheckResult) -> PolicyViolationError:
    error = _violation(verdict, run)
    ctx._admit(run, None)
    ctx._record_evaluations(verdict, "pre_execution")
    return error


def _settle(
    ctx: WaxellContext,
    run: Run,
    verdict: PolicyCheckResult,
    error: PolicyViolationError,
    decision: ApprovalDecision | None,
    rerun: bool,
    failure: BaseException | None,
) -> None:
    if failure is None and decision is not None and decision.approved and not rerun:
        ctx.enforce_policy = False
        return
    reason = verdict.reason or f"policy answered {verdict.action}"
    ctx._result = {"blocked_by": reason}
    blocked = PolicyViolationError(f"Policy violation: {reason}", verdict)
    ctx._complete(run, blocked, None)
    if failure is not None:
        raise failure
    raise error


def admit_blocked(
    ctx: WaxellContext, run: Run, verdict: PolicyCheckResult, handler: Handler, rerun: bool
) -> None:
    """Start the refused run, ask ``handler`` (sync code), then go on or raise."""
    error = _start(ctx, run, verdict)
    try:
        decision = approval.ask_sync(handler, error, ctx)
    except BaseException as exc:
        _settle(ctx, run, verdict, error, None, rerun, exc)
    _settle(ctx, run, verdict, error, decision, rerun, None)


async def aadmit_blocked(
    ctx: WaxellContext, run: Run, verdict: PolicyCheckResult, handler: Handler, rerun: bool
) -> None:
    """:func:`admit_blocked` for async code (an async handler is awaited on the caller's loop)."""
    error = _start(ctx, run, verdict)
    try:
        decision = await approval.ask(handler, error, ctx)
    except BaseException as exc:
        _settle(ctx, run, verdict, error, None, rerun, exc)
    _settle(ctx, run, verdict, error, decision, rerun, None)

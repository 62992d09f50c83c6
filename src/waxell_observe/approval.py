"""Approvals: when a policy blocks an operation, ask a person (or a rule) whether it may go on.

An ``on_policy_block`` handler is any callable ``handler(error: PolicyViolationError)`` returning an
:class:`ApprovalDecision` (anything else is read with ``bool()``), sync or ``async``. Ready-made:
:func:`prompt_approval` (asks at the terminal), :func:`auto_approve`, :func:`auto_deny`, and
``waxell_observe.approval_from_control_plane`` (waits for an answer given in the dashboard or the CLI).

:func:`handle_policy_block` runs one approval round on the current run and records it: the request
(``record_approval_request``), the person's time (a human turn, action ``approval``) and the answer
(``record_approval_response``). ``init``, ``@observe`` and ``WaxellContext`` take ``on_policy_block=``
and call it for you.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from waxell_observe.current import current_context
from waxell_observe.errors import PolicyViolationError
from waxell_observe.types import ApprovalDecision
from waxell_observe.vocabulary.human import APPROVAL_CATEGORY, decision_word

if TYPE_CHECKING:
    from waxell_observe.context import WaxellContext

__all__ = [
    "ApprovalDecision",
    "Handler",
    "auto_approve",
    "auto_deny",
    "extract_block_metadata",
    "handle_policy_block",
    "handle_policy_block_sync",
    "prompt_approval",
]

logger = logging.getLogger("waxell_observe")

Handler = Callable[[PolicyViolationError], Any]
"""An ``on_policy_block`` handler: ``(error) -> ApprovalDecision`` (or a truthy/falsy value), sync or
async."""

INTERACTIVE_APPROVER = "interactive_user"
"""The ``approver`` of a ``y`` answered at the terminal."""

_PHASES = ("pre_execution", "mid_execution", "post_execution")


# -- what the block says ----------------------------------------------------------------------------


def _evaluations(policy_result: Any) -> list[Any]:
    evaluations = getattr(policy_result, "evaluations", None)
    if evaluations is None and isinstance(getattr(policy_result, "metadata", None), dict):
        evaluations = policy_result.metadata.get("evaluations")
    return list(evaluations) if isinstance(evaluations, (list, tuple)) else []


def _field(evaluation: Any, name: str) -> Any:
    if isinstance(evaluation, dict):
        return evaluation.get(name)
    return getattr(evaluation, name, None)


def extract_block_metadata(error: PolicyViolationError) -> dict[str, Any]:
    """What an approval needs to know about a block: ``{"reason": str(error), "action_type",
    "approvers": list, "timeout_minutes": float | None}``, from ``error.policy_result.metadata``
    overridden by the ``metadata`` of its first evaluation of category ``approval``.
    ``action_type`` = metadata ``workflow_type``, else ``action_type``, else ``"unknown"``."""
    result = getattr(error, "policy_result", None)
    merged: dict[str, Any] = {}
    metadata = getattr(result, "metadata", None) if result is not None else None
    if isinstance(metadata, dict):
        merged.update({k: v for k, v in metadata.items() if k != "evaluations"})
    for evaluation in _evaluations(result):
        if _field(evaluation, "category") == APPROVAL_CATEGORY:
            own = _field(evaluation, "metadata")
            if isinstance(own, dict):
                merged.update(own)
            break
    action_type = merged.get("workflow_type") or merged.get("action_type") or "unknown"
    approvers = merged.get("approvers")
    if isinstance(approvers, str):
        approvers = [approvers]
    timeout = merged.get("timeout_minutes")
    try:
        timeout_minutes = None if timeout is None or isinstance(timeout, bool) else float(timeout)
    except (TypeError, ValueError):
        logger.warning("waxell-observe: ignoring approval timeout_minutes %r (not a number)", timeout)
        timeout_minutes = None
    return {
        "reason": str(error),
        "action_type": str(action_type),
        "approvers": [str(a) for a in approvers] if isinstance(approvers, (list, tuple)) else [],
        "timeout_minutes": timeout_minutes,
    }


# -- ready-made handlers ----------------------------------------------------------------------------


def auto_approve(error: PolicyViolationError) -> ApprovalDecision:
    """Approve every block (for tests and trusted automation): approver ``auto_approve``."""
    return ApprovalDecision(approved=True, approver="auto_approve", elapsed_seconds=0.0)


def auto_deny(error: PolicyViolationError) -> ApprovalDecision:
    """Deny every block."""
    return ApprovalDecision(approved=False, elapsed_seconds=0.0)


_RED, _BOLD, _RESET = "\033[31m", "\033[1m", "\033[0m"


def _colour(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def _banner(details: dict[str, Any], stream: TextIO) -> str:
    red, bold, reset = (_RED, _BOLD, _RESET) if _colour(stream) else ("", "", "")
    approvers = ", ".join(details["approvers"]) or "(none configured)"
    timeout = details["timeout_minutes"]
    lines = [
        "",
        f"{red}{bold}=== Blocked by approval policy ==={reset}",
        f"{red}  Reason:    {details['reason']}{reset}",
        f"  Operation: {details['action_type']}",
        f"  Approvers: {approvers}",
        f"  Timeout:   {f'{timeout:g} min' if timeout is not None else 'none'}",
        "",
    ]
    return "\n".join(lines)


class _TimedOut(Exception):
    pass


def _read_line(stream: TextIO, seconds: float | None) -> str:
    """One line from ``stream``, waiting at most ``seconds`` (``None``: no limit). ``EOFError`` at end
    of input, :class:`_TimedOut` when the time runs out first."""
    if seconds is not None:
        try:
            fileno = stream.fileno()
        except (AttributeError, OSError, ValueError):
            fileno = -1
        if fileno >= 0 and sys.platform != "win32":
            ready, _, _ = select.select([fileno], [], [], max(seconds, 0.0))
            if not ready:
                raise _TimedOut
    line = stream.readline()
    if not line:
        raise EOFError
    return line


def prompt_approval(error: PolicyViolationError) -> ApprovalDecision:
    """Ask at the terminal: print a red "Blocked by approval policy" banner (reason, operation,
    approvers, timeout), then ``Approve this operation? [y/N]`` on standard input. ``y``/``yes``
    approves (approver ``interactive_user``); no answer within the policy's ``timeout_minutes``
    (also a timeout of 0: already elapsed) is ``timed_out=True``; anything else, end of input or
    Ctrl-C denies. ``elapsed_seconds`` is always filled."""
    started = time.monotonic()
    details = extract_block_metadata(error)
    timeout = details["timeout_minutes"]
    out, inp = sys.stdout, sys.stdin
    out.write(_banner(details, out))
    out.flush()

    def elapsed() -> float:
        return round(time.monotonic() - started, 3)

    if timeout is not None and timeout <= 0:
        out.write("Approval window already elapsed: denied (timeout).\n")
        out.flush()
        return ApprovalDecision(approved=False, timed_out=True, elapsed_seconds=elapsed())
    deadline = None if timeout is None else started + timeout * 60.0
    try:  # from the question on: Ctrl-C the moment it shows (still in write/flush) denies too
        out.write("Approve this operation? [y/N]: ")
        out.flush()
        answer = _read_line(inp, None if deadline is None else deadline - time.monotonic())
    except _TimedOut:
        out.write("\nNo answer in time: denied (timeout).\n")
        out.flush()
        return ApprovalDecision(approved=False, timed_out=True, elapsed_seconds=elapsed())
    except EOFError:
        out.write("\nNo answer (end of input): denied.\n")
        out.flush()
        return ApprovalDecision(approved=False, elapsed_seconds=elapsed())
    except KeyboardInterrupt:
        out.write("\nInterrupted: denied.\n")
        out.flush()
        return ApprovalDecision(approved=False, elapsed_seconds=elapsed())
    if deadline is not None and time.monotonic() > deadline:
        out.write("Answer came after the approval window: denied (timeout).\n")
        out.flush()
        return ApprovalDecision(approved=False, timed_out=True, elapsed_seconds=elapsed())
    if answer.strip().lower() in ("y", "yes"):
        out.write("Approved.\n")
        out.flush()
        return ApprovalDecision(approved=True, approver=INTERACTIVE_APPROVER, elapsed_seconds=elapsed())
    out.write("Denied.\n")
    out.flush()
    return ApprovalDecision(approved=False, elapsed_seconds=elapsed())


# -- one approval round -----------------------------------------------------------------------------


def is_async_handler(handler: Any) -> bool:
    """Whether ``handler`` is an ``async`` function (or an object whose ``__call__`` is one)."""
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - the method, not callability
    )


def _active(ctx: WaxellContext | None) -> WaxellContext | None:
    if ctx is None or ctx._run is None or ctx._finished:
        return None
    return ctx


def _phase_of(error: PolicyViolationError) -> str:
    for evaluation in _evaluations(getattr(error, "policy_result", None)):
        phase = _field(evaluation, "phase")
        if phase in _PHASES:
            return str(phase)
    return "mid_execution"


def _coerce(answer: Any) -> ApprovalDecision:
    if isinstance(answer, ApprovalDecision):
        return answer
    return ApprovalDecision(approved=bool(answer))


class _Round:
    """The bookkeeping of one approval round on ``ctx`` (``None``: nothing recorded)."""

    def __init__(self, error: PolicyViolationError, ctx: WaxellContext | None) -> None:
        self.ctx = _active(ctx)
        self.details = extract_block_metadata(error)
        self.phase = _phase_of(error)
        self.started = time.monotonic()
        self.turn: Any = None

    def begin(self) -> None:
        ctx, details = self.ctx, self.details
        if ctx is None:
            return
        try:
            ctx.record_approval_request(
                action_type=details["action_type"],
                approvers=details["approvers"],
                timeout_minutes=details["timeout_minutes"],
                reason=details["reason"],
                _phase=self.phase,
            )
        except Exception:  # noqa: BLE001 - recording never stops the round
            logger.exception("waxell-observe: could not record an approval request")
        self.turn = ctx.human_turn(
            prompt=details["reason"],
            channel="terminal",
            action="approval",
            metadata={"operation": details["action_type"]},
        )
        self.turn.__enter__()

    def failed(self, exc: BaseException) -> None:
        if self.turn is not None:
            self.turn.set_response("error")
            self.turn.__exit__(type(exc), exc, exc.__traceback__)

    def end(self, answer: Any) -> ApprovalDecision:
        decision = _coerce(answer)
        if decision.elapsed_seconds is None:
            decision.elapsed_seconds = round(time.monotonic() - self.started, 3)
        word = decision_word(decision.approved, decision.timed_out)
        if self.turn is not None:
            self.turn.set_response(word)
            self.turn.__exit__(None, None, None)
        ctx = self.ctx
        if ctx is not None:
            try:
                ctx.record_approval_response(
                    action_type=self.details["action_type"],
                    decision=word,
                    approver=decision.approver or "",
                    elapsed_seconds=decision.elapsed_seconds,
                    _phase=self.phase,
                )
            except Exception:  # noqa: BLE001 - recording never changes the answer
                logger.exception("waxell-observe: could not record an approval response")
        return decision


async def _around(
    handler: Handler, error: PolicyViolationError, ctx: WaxellContext | None
) -> ApprovalDecision:
    round_ = _Round(error, ctx)
    round_.begin()
    try:
        answer = handler(error)
        if inspect.isawaitable(answer):
            answer = await answer
    except BaseException as exc:
        round_.failed(exc)
        raise
    return round_.end(answer)


def _round_sync(handler: Handler, error: PolicyViolationError, ctx: WaxellContext | None) -> ApprovalDecision:
    round_ = _Round(error, ctx)
    round_.begin()
    try:
        answer = handler(error)
        if inspect.isawaitable(answer):
            if inspect.iscoroutine(answer):
                answer.close()
            raise TypeError(
                "on_policy_block handler returned an awaitable: "
                "use handle_policy_block (async) for async handlers"
            )
    except BaseException as exc:
        round_.failed(exc)
        raise
    return round_.end(answer)


def _check_handler(handler: Any) -> None:
    if not callable(handler):
        raise TypeError(f"on_policy_block handler must be callable, got {type(handler).__name__}")


async def handle_policy_block(handler: Handler, error: PolicyViolationError) -> ApprovalDecision:
    """Run one approval round for ``error`` on the current run (recorded when a run is active):
    record the request, open a human turn (action ``approval``), call ``handler`` (awaited when
    async; if it raises, the turn's response is ``error`` and the exception propagates), read a
    non-:class:`ApprovalDecision` answer with ``bool()``, fill a missing ``elapsed_seconds``, close the
    turn with ``approved`` / ``timeout`` / ``denied`` and record the response. Returns the decision."""
    _check_handler(handler)
    return await _around(handler, error, current_context.get())


def handle_policy_block_sync(handler: Handler, error: PolicyViolationError) -> ApprovalDecision:
    """:func:`handle_policy_block` for sync code; an ``async`` handler is a ``TypeError``."""
    _check_handler(handler)
    if is_async_handler(handler):
        raise TypeError("handle_policy_block_sync cannot call an async handler: use handle_policy_block")
    return _round_sync(handler, error, current_context.get())


# -- for the SDK's own callers (contexts, decorators, code review) -----------------------------------


async def ask(handler: Handler, error: PolicyViolationError, ctx: WaxellContext | None) -> ApprovalDecision:
    """One round recorded on ``ctx`` (async code; sync or async handler); the decision is also kept
    on the error (``error.approval_decision``) so nobody asks twice."""
    decision = await _around(handler, error, ctx)
    error.approval_decision = decision
    return decision


def ask_sync(handler: Handler, error: PolicyViolationError, ctx: WaxellContext | None) -> ApprovalDecision:
    """:func:`ask` from sync code. An async handler runs on an event loop of its own (in a helper
    thread when this thread already runs one; the caller waits for the answer)."""
    if not is_async_handler(handler):
        decision = _round_sync(handler, error, ctx)
        error.approval_decision = decision
        return decision
    import asyncio  # an async handler only: WaxellContext's import does not pull asyncio in

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(ask(handler, error, ctx))
    outcome: list[Any] = []
    snapshot = contextvars.copy_context()

    def run() -> None:
        try:
            outcome.append((True, snapshot.run(asyncio.run, ask(handler, error, ctx))))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            outcome.append((False, exc))

    thread = threading.Thread(target=run, name="waxell-approval", daemon=True)
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]

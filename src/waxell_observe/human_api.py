"""Top-level one-liners for people in the loop: each records on the current run
(:meth:`WaxellContext.record_approval_request` and the others) and is a no-op outside a run, except
:func:`observed_input` (then the plain builtin ``input``), :func:`pause` (then it just waits) and
:func:`human_turn` (then a turn that records nothing but still has ``set_response``)."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator
from typing import Any

from waxell_observe.current import current_context
from waxell_observe.human import HumanTurn

__all__ = [
    "approval_request",
    "approval_response",
    "human_interaction",
    "human_turn",
    "mark_resumed",
    "observed_input",
    "pause",
]


def _active() -> Any:
    ctx = current_context.get()
    if ctx is None or ctx._run is None or ctx._finished:
        return None
    return ctx


def approval_request(
    action_type: str,
    approvers: list[str] | None = None,
    timeout_minutes: float | None = None,
    reason: str = "",
    metadata: dict[str, Any] | None = None,
) -> None:
    """Record that an operation waits for approval (:meth:`WaxellContext.record_approval_request`)."""
    ctx = _active()
    if ctx is not None:
        ctx.record_approval_request(
            action_type=action_type,
            approvers=approvers,
            timeout_minutes=timeout_minutes,
            reason=reason,
            metadata=metadata,
        )


def approval_response(
    action_type: str,
    decision: str,
    approver: str = "",
    elapsed_seconds: float | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Record the answer to an approval request (``approved`` / ``denied`` / ``timeout`` or another
    word; :meth:`WaxellContext.record_approval_response`)."""
    ctx = _active()
    if ctx is not None:
        ctx.record_approval_response(
            action_type=action_type,
            decision=decision,
            approver=approver,
            elapsed_seconds=elapsed_seconds,
            metadata=metadata,
        )


@contextlib.contextmanager
def pause(reason: str = "awaiting_user", **metadata: Any) -> Iterator[None]:
    """Wrap a blocking wait (for a person, a webhook, ...): a ``paused`` span whose time is not the
    agent's active time (:meth:`WaxellContext.pause`). Outside a run it just waits."""
    ctx = _active()
    if ctx is None:
        yield
        return
    with ctx.pause(reason, **metadata):
        yield


def mark_resumed(from_run_id: str = "", payload: Any = None) -> None:
    """Record that this run resumes earlier work (:meth:`WaxellContext.mark_resumed`)."""
    ctx = _active()
    if ctx is not None:
        ctx.mark_resumed(from_run_id=from_run_id, payload=payload)


def human_turn(
    prompt: str = "",
    channel: str = "terminal",
    action: str = "",
    metadata: dict[str, Any] | None = None,
) -> HumanTurn:
    """Time one exchange with a person (``with human_turn(...) as turn: turn.set_response(answer)``),
    recorded on the current run when the block ends; outside a run it records nothing."""
    return HumanTurn(_active(), prompt=prompt, channel=channel, action=action, metadata=metadata)


def human_interaction(
    prompt: str = "",
    response: str = "",
    channel: str = "terminal",
    action: str = "",
    elapsed_seconds: float | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Record an exchange with a person that already happened (``elapsed_seconds`` of their time)."""
    ctx = _active()
    if ctx is not None:
        ctx.record_human_interaction(
            prompt=prompt,
            response=response,
            channel=channel,
            action=action,
            elapsed_ms=None if elapsed_seconds is None else elapsed_seconds * 1000.0,
            metadata=metadata,
        )


def observed_input(prompt: str = "", *, action: str = "input") -> str:
    """The builtin ``input(prompt)``, recorded as a timed human turn when a run is active
    (exported as ``waxell_observe.input``)."""
    ctx = _active()
    if ctx is None:
        return builtins.input(prompt)
    return ctx.input(prompt, action=action)  # type: ignore[no-any-return]

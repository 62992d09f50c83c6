"""``approval_from_control_plane``: an ``on_policy_block`` handler answered from anywhere.

When a policy blocks a run, the handler files a *pending approval* — in the embedded store when no
``api_url`` is configured, on the control plane otherwise — and waits. Whoever may answer sees it in
the dashboard's Approvals page, in the read API (``GET /api/v1/read/approvals/``) or with
``waxell-observe approvals list``, and approves or denies it there (``waxell-observe approvals approve
ID``). The handler returns as soon as the answer is stored (it polls the store every ``poll_interval``
seconds, or long-polls the control plane), as an :class:`~waxell_observe.types.ApprovalDecision`
naming who decided. When nobody answers within ``timeout`` seconds the approval is marked ``expired``
and the decision says ``timed_out``.

The handler records nothing on the run itself: ``handle_policy_block`` (which calls it) records the
approval request and response.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from waxell_observe.approval_backends import (
    ApprovalBackend,
    ApprovalState,
    EmbeddedApprovals,
    RemoteApprovals,
)
from waxell_observe.errors import PolicyViolationError
from waxell_observe.types import ApprovalDecision

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "DEFAULT_POLL_INTERVAL",
    "approval_from_control_plane",
    "async_approval_from_control_plane",
    "approval_fields",
]

logger = logging.getLogger("waxell_observe")

DEFAULT_TIMEOUT_SECONDS = 600.0
"""How long the handler waits when neither ``timeout`` nor the policy (``timeout_minutes``) says."""

DEFAULT_POLL_INTERVAL = 0.25
"""Seconds between two looks at the embedded store (a control plane is long-polled instead)."""

_BLOCKING = ("block", "throttle")


def _blocking_evaluation(error: PolicyViolationError) -> dict[str, Any]:
    """The evaluation to name as the policy: the first of category ``approval``, else the first that
    blocked (``{}`` when there is none)."""
    result = error.policy_result
    if result is None:
        return {}
    evaluations = [e.to_dict() for e in result.evaluations] or [
        e for e in result.metadata.get("evaluations", []) if isinstance(e, dict)
    ]
    return (
        next((e for e in evaluations if e.get("category") == "approval"), None)
        or next((e for e in evaluations if e.get("action") in _BLOCKING), None)
        or {}
    )


def approval_fields(error: PolicyViolationError) -> tuple[dict[str, Any], float | None]:
    """The pending approval's fields for ``error`` (run, agent, reason, policy, action type and approvers
    as :func:`waxell_observe.approval.extract_block_metadata` reads them) and the policy's
    ``timeout_minutes`` in seconds (``None`` when it sets none)."""
    from waxell_observe.approval import extract_block_metadata

    details = extract_block_metadata(error)
    evaluation = _blocking_evaluation(error)
    minutes = details["timeout_minutes"]
    timeout = (
        float(minutes) * 60.0 if minutes is not None and math.isfinite(minutes) and minutes > 0 else None
    )
    fields = {
        "run_id": error.run_id,
        "agent_name": error.agent_name or _configured_agent_name(),
        "workflow_name": error.workflow_name,
        "action_type": str(details["action_type"])[:256],
        "reason": str(error),
        "policy_name": str(evaluation.get("policy_name") or "")[:256],
        "category": str(evaluation.get("category") or "")[:64],
        "approvers": [a[:256] for a in details["approvers"] if a.strip()][:100],
        "metadata": {"action": error.policy_result.action} if error.policy_result is not None else {},
    }
    return fields, timeout


def _configured_agent_name() -> str:
    import os

    return os.environ.get("WAXELL_AGENT_NAME") or "unknown"


def _check(timeout: float | None, poll_interval: float) -> None:
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    if (
        isinstance(poll_interval, bool)
        or not isinstance(poll_interval, int | float)
        or not 0 < poll_interval <= 60
    ):
        raise ValueError(f"poll_interval must be > 0 and at most 60 seconds, got {poll_interval!r}")


class _Waiter:
    """One configured handler (what the factories return wraps it)."""

    def __init__(
        self,
        timeout: float | None,
        poll_interval: float,
        api_url: str | None,
        api_key: str | None,
        db: str | None,
    ) -> None:
        _check(timeout, poll_interval)
        self.timeout = timeout
        self.poll_interval = float(poll_interval)
        self.api_url = api_url
        self.api_key = api_key
        self.db = db

    def backend(self) -> ApprovalBackend:
        """Resolved when a block happens (``init()`` may come after the handler was made)."""
        from waxell_observe.config import db_url_from, get_config

        config = get_config()
        api_url = self.api_url if self.api_url is not None else ("" if self.db else config.api_url)
        if api_url:
            api_key = self.api_key if self.api_key is not None else config.api_key
            return RemoteApprovals(api_url, api_key, self.poll_interval)
        return EmbeddedApprovals(db_url_from(self.db) if self.db else config.db_url, self.poll_interval)

    def run(self, error: PolicyViolationError, stop: threading.Event | None = None) -> ApprovalDecision:
        started = time.monotonic()
        if not isinstance(error, PolicyViolationError):
            raise TypeError(
                f"an on_policy_block handler takes a PolicyViolationError, got {type(error).__name__}"
            )
        fields, policy_timeout = approval_fields(error)
        wait_seconds = self.timeout or policy_timeout or DEFAULT_TIMEOUT_SECONDS
        from waxell_observe.store.approvals import MAX_TIMEOUT_SECONDS, new_approval_id

        wait_seconds = min(wait_seconds, MAX_TIMEOUT_SECONDS)
        backend = self.backend()
        approval_id = new_approval_id()
        try:
            state = backend.create({**fields, "approval_id": approval_id}, wait_seconds)
        except Exception:
            logger.exception(
                "waxell-observe: could not file the approval for run %s of %s in %s; the block stands",
                fields["run_id"] or "(not started)",
                fields["agent_name"],
                backend.where,
            )
            return ApprovalDecision(approved=False, elapsed_seconds=time.monotonic() - started)
        logger.warning(
            "waxell-observe: %s (run %s) waits up to %.0f s for approval %s in %s: answer it in the "
            "dashboard (Approvals) or with `waxell-observe approvals approve|deny %s`",
            fields["agent_name"],
            fields["run_id"] or "(not started)",
            wait_seconds,
            approval_id,
            backend.where,
            approval_id,
        )
        deadline = started + wait_seconds
        state = self._wait(backend, state, deadline, stop)
        if state.pending:
            state = self._close(
                backend, state, "cancelled" if stop is not None and stop.is_set() else "expired"
            )
        return _decision(state, time.monotonic() - started)

    def _wait(
        self, backend: ApprovalBackend, state: ApprovalState, deadline: float, stop: threading.Event | None
    ) -> ApprovalState:
        while state.pending and not (stop is not None and stop.is_set()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                state = backend.wait(state.id, min(left, 1.0 if stop is not None else left))
            except Exception:
                logger.exception(
                    "waxell-observe: lost track of approval %s in %s; the block stands",
                    state.id,
                    backend.where,
                )
                break
        return state

    @staticmethod
    def _close(backend: ApprovalBackend, state: ApprovalState, status: str) -> ApprovalState:
        """Mark the approval ``status`` — unless an answer came first, which is then honoured."""
        try:
            return backend.close(state.id, status)
        except Exception:
            logger.exception(
                "waxell-observe: could not mark approval %s %s in %s (it expires there at its deadline)",
                state.id,
                status,
                backend.where,
            )
            return ApprovalState(state.id, status)


def _decision(state: ApprovalState, elapsed: float) -> ApprovalDecision:
    if state.status == "approved":
        return ApprovalDecision(approved=True, approver=state.decided_by, elapsed_seconds=elapsed)
    if state.status == "expired" or state.pending:
        return ApprovalDecision(approved=False, timed_out=True, elapsed_seconds=elapsed)
    return ApprovalDecision(approved=False, approver=state.decided_by, elapsed_seconds=elapsed)


def approval_from_control_plane(
    timeout: float | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    *,
    api_url: str | None = None,
    api_key: str | None = None,
    db: str | None = None,
) -> Callable[[PolicyViolationError], ApprovalDecision]:
    """An ``on_policy_block`` handler that asks a person through the control plane or the embedded store.

    ``timeout``: seconds to wait for an answer (default: the policy's ``timeout_minutes``, else
    :data:`DEFAULT_TIMEOUT_SECONDS`); afterwards the approval is ``expired`` and the decision
    ``timed_out``. ``poll_interval``: seconds between looks at the embedded store (a control plane
    answers a long-poll at once). Where the approval goes is decided when a block happens: ``api_url``
    (with ``api_key``) or ``db`` if given, else the configuration (its ``api_url``, else its store).

    The handler blocks the calling thread while it waits; in async code use
    :func:`async_approval_from_control_plane`.
    """
    waiter = _Waiter(timeout, poll_interval, api_url, api_key, db)

    def handler(error: PolicyViolationError) -> ApprovalDecision:
        return waiter.run(error)

    handler.__name__ = handler.__qualname__ = "approval_from_control_plane"
    return handler


def async_approval_from_control_plane(
    timeout: float | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    *,
    api_url: str | None = None,
    api_key: str | None = None,
    db: str | None = None,
) -> Callable[[PolicyViolationError], Awaitable[ApprovalDecision]]:
    """:func:`approval_from_control_plane` as a coroutine function: the wait runs in a worker thread, so
    the event loop keeps serving other tasks. Cancelling the awaiting task marks the approval
    ``cancelled`` (within about a second)."""
    waiter = _Waiter(timeout, poll_interval, api_url, api_key, db)

    async def handler(error: PolicyViolationError) -> ApprovalDecision:
        stop = threading.Event()
        work = asyncio.ensure_future(asyncio.to_thread(waiter.run, error, stop))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            stop.set()
            await asyncio.wait({work})  # the approval is closed as cancelled before we go
            raise

    handler.__name__ = handler.__qualname__ = "async_approval_from_control_plane"
    return handler

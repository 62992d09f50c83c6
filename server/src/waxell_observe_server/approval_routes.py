"""Pending approvals on the control plane (our extension; ``docs/wire-protocol.md`` and
``docs/read-api.md``), over :mod:`waxell_observe.store.approvals`.

Three routers, each included by :func:`waxell_observe_server.create_app` behind ``require_key``:

* :data:`router` (wire protocol, ``/api/v1/observe/``) — what a waiting agent calls:
  ``POST approvals/`` (create), ``GET approvals/{id}/?wait=S`` (read; long-poll up to ``S`` seconds
  for an answer) and ``POST approvals/{id}/close/`` (stop waiting: ``expired`` or ``cancelled``);
* :data:`read_router` (``/api/v1/read/``) — ``GET approvals/`` and ``GET approvals/{id}/``;
* :data:`decision_router` (``/api/v1/admin/``) — ``POST approvals/{id}/approve/`` and ``.../deny/``.
  Answering always needs an active API key, also on a local-mode server: the key's name (else its id)
  is recorded as who decided, in the approval and in the audit log.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlalchemy import select

from waxell_observe.store.approvals import (
    Approval,
    ApprovalNotAllowed,
    ApprovalNotFound,
    ApprovalNotPending,
    close_approval,
    create_approval,
    decide_approval,
    get_approval,
    list_approvals,
    may_decide,
)
from waxell_observe.store.keys import hash_key
from waxell_observe.store.reader import iso
from waxell_observe.store.schema import api_keys
from waxell_observe.vocabulary.approvals import APPROVAL_STATUSES, PENDING
from waxell_observe_server.approval_models import (
    MAX_WAIT_SECONDS,
    ApprovalAnswerBody,
    ApprovalCloseBody,
    ApprovalCreateBody,
)
from waxell_observe_server.auth import _presented_key
from waxell_observe_server.sanitize import clean_json, clean_text

__all__ = ["router", "read_router", "decision_router", "Decider", "decider_of"]

router = APIRouter(tags=["approvals"])
read_router = APIRouter(tags=["read"])
decision_router = APIRouter(tags=["admin"])

_POLL_SECONDS = 0.1
"""How often a long-polling request looks at the store (an answer reaches the agent this much later
at most, plus the request's round trip)."""
_MAX_OFFSET = 1_000_000_000


class Decider:
    """Who answers: the API key presented with the request."""

    def __init__(self, key_id: str, name: str) -> None:
        self.key_id = key_id
        self.name = name

    @property
    def label(self) -> str:
        """What the approval and the audit log record as ``decided_by``: the key's name, else ``key <id>``."""
        return self.name or f"key {self.key_id}"


def _store(request: Request) -> Any:
    return request.app.state.store


def _find_key(request: Request) -> Decider | None:
    key = _presented_key(request)
    if not key:
        return None
    with _store(request).read() as conn:
        row = conn.execute(
            select(api_keys.c.key_id, api_keys.c.name).where(
                api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None)
            )
        ).first()
    return None if row is None else Decider(row.key_id, row.name)


def decider_of(request: Request) -> Decider:
    """The active key presented with ``request``; 401 when there is none (answering needs a key even
    where reading does not)."""
    found = _find_key(request)
    if found is None:
        problem = (
            "invalid or revoked API key"
            if _presented_key(request)
            else "answering an approval needs an API key (send it as X-Wax-Key): "
            "create one with `waxell-observe keys create --name <your name>`"
        )
        raise HTTPException(status_code=401, detail=problem, headers={"WWW-Authenticate": "Bearer"})
    return found


def _reply(approval: Approval) -> dict[str, Any]:
    return approval.to_dict(time.time())


def _for_reader(approval: Approval, decider: Decider | None, now: float) -> dict[str, Any]:
    """An approval as the read API shows it to the key of the request: with ``may_decide``, whether that key
    may answer it (it names no approvers, or the key's name is one of them; the rule of
    :func:`~waxell_observe.store.approvals.may_decide`, which refuses everyone else)."""
    reply = approval.to_dict(now)
    reply["may_decide"] = decider is not None and may_decide(approval, decider.label)
    return reply


def _known(request: Request, approval_id: str) -> Approval:
    approval = get_approval(_store(request), clean_text(approval_id))
    if approval is None:
        raise HTTPException(status_code=404, detail=f"unknown approval {approval_id[:80]!r}")
    return approval


# -- the waiting agent -----------------------------------------------------------------------------


@router.post("/approvals/", status_code=201)
def create(body: ApprovalCreateBody, request: Request, response: Response) -> dict[str, Any]:
    """A pending approval (201), or the existing one when ``id`` names an approval already stored (200)."""
    store = _store(request)
    if body.id:
        existing = get_approval(store, clean_text(body.id))
        if existing is not None:
            response.status_code = 200
            return _reply(existing)
    metadata = clean_json(body.metadata or {})
    try:
        approval = create_approval(
            store,
            approval_id=clean_text(body.id) if body.id else None,
            agent_name=clean_text(body.agent_name),
            run_id=clean_text(body.run_id or ""),
            workflow_name=clean_text(body.workflow_name or ""),
            action_type=clean_text(body.action_type or ""),
            reason=clean_text(body.reason or ""),
            policy_name=clean_text(body.policy_name or ""),
            category=clean_text(body.category or ""),
            approvers=[clean_text(a) for a in body.approvers or []],
            timeout_seconds=body.timeout_seconds,
            metadata=metadata if isinstance(metadata, dict) else {},
        )
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return _reply(approval)


@router.get("/approvals/{approval_id}/")
async def wait(
    approval_id: str,
    request: Request,
    wait: float = Query(
        default=0.0, ge=0.0, le=MAX_WAIT_SECONDS, description="Seconds to hold the request while pending"
    ),
) -> dict[str, Any]:
    """The approval; with ``wait``, the reply comes as soon as it is no longer pending, or after ``wait``
    seconds (still ``pending``). 404 when unknown."""
    deadline = time.monotonic() + wait
    while True:
        approval = await anyio.to_thread.run_sync(_known, request, approval_id)
        if not approval.pending or time.monotonic() >= deadline or await request.is_disconnected():
            return _reply(approval)
        await asyncio.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))


@router.post("/approvals/{approval_id}/close/")
def close(approval_id: str, body: ApprovalCloseBody, request: Request) -> dict[str, Any]:
    """The agent stops waiting: a pending approval becomes ``expired`` or ``cancelled``. Replies with the
    approval as it now stands (an answer that came first is kept). 404 when unknown."""
    try:
        approval = close_approval(_store(request), clean_text(approval_id), body.status, by="agent")
    except ApprovalNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return _reply(approval)


# -- the read API ----------------------------------------------------------------------------------


@read_router.get("/approvals/")
def approvals_list(
    request: Request,
    status: str = Query(default="", description="pending, approved, denied, expired or cancelled"),
    run_id: str = "",
    agent_name: str = "",
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=_MAX_OFFSET),
) -> dict[str, Any]:
    """Approvals (``pending`` ones most urgent first, others newest first), how many match, how many are
    pending in all, whether the request presents a key that can answer approvals (``can_decide``, as
    ``decider``) and, for each approval, whether that key may answer it (``may_decide``)."""
    status = clean_text(status)
    if status and status not in APPROVAL_STATUSES:
        raise HTTPException(
            status_code=422,
            detail=f"status must be one of {', '.join(APPROVAL_STATUSES)}, got {status[:32]!r}",
        )
    store = _store(request)
    now = time.time()
    page, total = list_approvals(
        store,
        status=status,
        run_id=clean_text(run_id),
        agent_name=clean_text(agent_name),
        limit=limit,
        offset=offset,
        now=now,
    )
    _, pending = list_approvals(store, status=PENDING, limit=1, now=now)
    decider = _find_key(request)
    return {
        "approvals": [_for_reader(approval, decider, now) for approval in page],
        "total": total,
        "pending": pending,
        "limit": limit,
        "offset": offset,
        "now": iso(now),
        "can_decide": decider is not None,
        "decider": decider.label if decider is not None else "",
    }


@read_router.get("/approvals/{approval_id}/")
def approval_detail(approval_id: str, request: Request) -> dict[str, Any]:
    """One approval (with ``may_decide`` for the request's key); 404 when unknown."""
    return _for_reader(_known(request, approval_id), _find_key(request), time.time())


# -- answering -------------------------------------------------------------------------------------


def _answer(
    request: Request, approval_id: str, answer: str, body: ApprovalAnswerBody | None
) -> dict[str, Any]:
    decider = decider_of(request)
    try:
        approval = decide_approval(
            _store(request),
            clean_text(approval_id),
            answer,
            decided_by=decider.label,
            comment=clean_text(body.comment or "") if body is not None else "",
            key_id=decider.key_id,
        )
    except ApprovalNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except ApprovalNotPending as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except ApprovalNotAllowed as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from None
    return _reply(approval)


@decision_router.post("/approvals/{approval_id}/approve/")
def approve(approval_id: str, request: Request, body: ApprovalAnswerBody | None = None) -> dict[str, Any]:
    """Approve a pending approval (the waiting agent proceeds). 401 without an active key, 404 unknown,
    409 when it was answered, expired or cancelled already."""
    return _answer(request, approval_id, "approved", body)


@decision_router.post("/approvals/{approval_id}/deny/")
def deny(approval_id: str, request: Request, body: ApprovalAnswerBody | None = None) -> dict[str, Any]:
    """Deny a pending approval (the waiting agent gets its ``PolicyViolationError``). Same errors as
    ``approve/``."""
    return _answer(request, approval_id, "denied", body)

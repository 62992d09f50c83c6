"""Pending approvals (table ``approvals``): a blocked run waits here until a person answers.

An approval is created ``pending`` with a deadline (``expires_at``). A person with the right to answer
approves or denies it (:func:`decide_approval`: once; the audit log gets a row naming who decided); when
the deadline passes unanswered it becomes ``expired`` (the first read or write that sees it so records
it); the waiting agent may also close it itself (:func:`close_approval`: ``expired`` on its own timeout,
``cancelled``). A final status never changes again. Every change of status writes one audit row
(``event`` :data:`~waxell_observe.vocabulary.approvals.AUDIT_APPROVAL_DECISION`, ``action`` the status).

The same functions serve the embedded store (the SDK's handler, ``waxell-observe approvals``) and the
server (its approval routes), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, func, insert, select, true, update

from waxell_observe.store.approval_table import approvals, ensure_table
from waxell_observe.store.reader import iso
from waxell_observe.store.schema import audit_events
from waxell_observe.vocabulary.approvals import (
    APPROVAL_ANSWERS,
    APPROVAL_STATUSES,
    AUDIT_APPROVAL_DECISION,
    FINAL_APPROVAL_STATUSES,
    PENDING,
)

if TYPE_CHECKING:
    from waxell_observe.store import Store

__all__ = [
    "MAX_TIMEOUT_SECONDS",
    "Approval",
    "ApprovalNotAllowed",
    "ApprovalNotFound",
    "ApprovalNotPending",
    "close_approval",
    "create_approval",
    "decide_approval",
    "expire_due",
    "get_approval",
    "list_approvals",
    "may_decide",
    "new_approval_id",
    "wait_for_answer",
]

MAX_TIMEOUT_SECONDS = 7 * 24 * 3600.0
"""The longest an approval may wait for an answer (a week)."""

_TEXT_LIMITS = {
    "action_type": 256,
    "policy_name": 256,
    "category": 64,
    "agent_name": 256,
    "workflow_name": 256,
}
_MAX_ID = 64
_MAX_APPROVERS = 100


class ApprovalNotFound(LookupError):
    """No approval has this id."""


class ApprovalNotAllowed(PermissionError):
    """The approval names its approvers and whoever answers is not one of them."""

    def __init__(self, approval: Approval, decided_by: str) -> None:
        super().__init__(
            f"{decided_by!r} may not answer approval {approval.id}: its approvers are "
            + ", ".join(approval.approvers)
        )
        self.approval = approval


def may_decide(approval: Approval, decided_by: str) -> bool:
    """True when ``decided_by`` may answer ``approval``: anyone when it names no approvers, else one of
    them (names compared trimmed, in any case)."""
    if not approval.approvers:
        return True
    name = decided_by.strip().casefold()
    return any(name == approver.strip().casefold() for approver in approval.approvers)


class ApprovalNotPending(RuntimeError):
    """The approval was answered, expired or cancelled already; ``approval`` is how it ended."""

    def __init__(self, approval: Approval) -> None:
        by = f" by {approval.decided_by}" if approval.decided_by else ""
        super().__init__(
            f"approval {approval.id} is {approval.status}{by} already: it cannot be answered again"
        )
        self.approval = approval


@dataclass(frozen=True)
class Approval:
    """One approval as stored (times are UNIX epoch seconds)."""

    id: str
    run_id: str
    agent_name: str
    workflow_name: str
    action_type: str
    reason: str
    policy_name: str
    category: str
    approvers: tuple[str, ...]
    requested_at: float
    expires_at: float
    status: str
    decided_by: str = ""
    decided_at: float | None = None
    comment: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    def seconds_left(self, now: float | None = None) -> float:
        """Seconds until the deadline while pending (never below 0); 0 once it ended."""
        if not self.pending:
            return 0.0
        return max(0.0, self.expires_at - (time.time() if now is None else now))

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        """The JSON form the read API, the wire protocol and the CLI show (times in ISO 8601 UTC;
        ``seconds_left`` counted at ``now``)."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "agent_name": self.agent_name,
            "workflow_name": self.workflow_name,
            "action_type": self.action_type,
            "reason": self.reason,
            "policy_name": self.policy_name,
            "category": self.category,
            "approvers": list(self.approvers),
            "status": self.status,
            "requested_at": iso(self.requested_at),
            "expires_at": iso(self.expires_at),
            "seconds_left": round(self.seconds_left(now), 3),
            "decided_by": self.decided_by,
            "decided_at": iso(self.decided_at),
            "comment": self.comment,
            "metadata": dict(self.metadata),
        }


def new_approval_id() -> str:
    """A fresh approval id (``apr_`` and 32 hex characters)."""
    return "apr_" + uuid.uuid4().hex


def _row_to_approval(row: Any) -> Approval:
    return Approval(
        id=row.id,
        run_id=row.run_id,
        agent_name=row.agent_name,
        workflow_name=row.workflow_name,
        action_type=row.action_type,
        reason=row.reason,
        policy_name=row.policy_name,
        category=row.category,
        approvers=tuple(str(a) for a in (row.approvers or [])),
        requested_at=float(row.requested_at),
        expires_at=float(row.expires_at),
        status=row.status,
        decided_by=row.decided_by,
        decided_at=None if row.decided_at is None else float(row.decided_at),
        comment=row.comment,
        metadata=dict(row.metadata or {}),
    )


def _check_text(value: Any, name: str, limit: int | None = None) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    if limit is not None and len(value) > limit:
        raise ValueError(f"{name} must be at most {limit} characters, got {len(value)}")
    return value


def _check_approvers(approvers: Iterable[str] | None) -> list[str]:
    if approvers is None:
        return []
    if isinstance(approvers, str):
        raise ValueError(f"approvers must be a list of names, got the string {approvers!r}")
    names = list(approvers)
    if len(names) > _MAX_APPROVERS:
        raise ValueError(f"approvers: at most {_MAX_APPROVERS} names, got {len(names)}")
    for name in names:
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            raise ValueError(f"approvers must be non-empty names of at most 256 characters, got {name!r}")
    return names


def _check_timeout(timeout_seconds: Any) -> float:
    if isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, int | float):
        raise ValueError(f"timeout_seconds must be a number, got {type(timeout_seconds).__name__}")
    value = float(timeout_seconds)
    if not math.isfinite(value) or value <= 0 or value > MAX_TIMEOUT_SECONDS:
        raise ValueError(
            f"timeout_seconds must be > 0 and at most {MAX_TIMEOUT_SECONDS:.0f}, got {timeout_seconds}"
        )
    return value


def _select(conn: Connection, approval_id: str, *, lock: bool = False) -> Approval | None:
    query = select(approvals).where(approvals.c.id == approval_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else _row_to_approval(row)


def _audit(conn: Connection, approval: Approval, *, key_id: str = "") -> None:
    metadata: dict[str, Any] = {
        "approval_id": approval.id,
        "decided_by": approval.decided_by,
        "action_type": approval.action_type,
    }
    if key_id:
        metadata["key_id"] = key_id
    if approval.comment:
        metadata["comment"] = approval.comment
    conn.execute(
        insert(audit_events).values(
            ts=approval.decided_at if approval.decided_at is not None else time.time(),
            run_id=approval.run_id,
            agent_name=approval.agent_name,
            workflow_name=approval.workflow_name,
            event=AUDIT_APPROVAL_DECISION,
            policy_name=approval.policy_name,
            category=approval.category,
            action=approval.status,
            reason=approval.reason,
            phase="",
            metadata=metadata,
        )
    )


def create_approval(
    store: Store,
    *,
    agent_name: str,
    timeout_seconds: float,
    run_id: str = "",
    workflow_name: str = "",
    action_type: str = "",
    reason: str = "",
    policy_name: str = "",
    category: str = "",
    approvers: Iterable[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    approval_id: str | None = None,
    now: float | None = None,
) -> Approval:
    """Store a new ``pending`` approval that expires ``timeout_seconds`` from now; returns it.

    ``approval_id`` (default: a new one) makes creation idempotent: an approval of that id already
    stored is returned as it is (a retried request creates nothing twice). Raises ``ValueError``
    naming the problem for bad input.
    """
    ensure_table(store)
    _check_text(agent_name, "agent_name", _TEXT_LIMITS["agent_name"])
    if not agent_name.strip():
        raise ValueError("agent_name must not be empty: say which agent waits for the approval")
    for name, value in (
        ("run_id", run_id),
        ("workflow_name", workflow_name),
        ("action_type", action_type),
        ("reason", reason),
        ("policy_name", policy_name),
        ("category", category),
    ):
        _check_text(value, name, _TEXT_LIMITS.get(name, _MAX_ID if name == "run_id" else None))
    names = _check_approvers(approvers)
    timeout = _check_timeout(timeout_seconds)
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
    if approval_id is None:
        approval_id = new_approval_id()
    elif not isinstance(approval_id, str) or not approval_id.strip() or len(approval_id) > _MAX_ID:
        raise ValueError(f"approval_id must be a non-empty string of at most {_MAX_ID} characters")
    at = time.time() if now is None else now
    with store.write() as conn:
        existing = _select(conn, approval_id)
        if existing is not None:
            return existing
        conn.execute(
            insert(approvals).values(
                id=approval_id,
                run_id=run_id,
                agent_name=agent_name,
                workflow_name=workflow_name,
                action_type=action_type,
                reason=reason,
                policy_name=policy_name,
                category=category,
                approvers=names,
                requested_at=at,
                expires_at=at + timeout,
                status=PENDING,
                decided_by="",
                decided_at=None,
                comment="",
                metadata=dict(metadata or {}),
            )
        )
        created = _select(conn, approval_id)
    assert created is not None
    return created


def expire_due(store: Store, now: float | None = None) -> int:
    """Mark every pending approval whose deadline passed as ``expired`` (with its audit row); returns how
    many. Cheap when there are none (one indexed read)."""
    ensure_table(store)
    at = time.time() if now is None else now
    due = and_(approvals.c.status == PENDING, approvals.c.expires_at <= at)
    with store.read() as conn:
        if conn.execute(select(approvals.c.id).where(due).limit(1)).first() is None:
            return 0
    with store.write() as conn:
        query = select(approvals).where(due)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = [_row_to_approval(row) for row in conn.execute(query)]
        for approval in rows:
            _finish(conn, approval, "expired", decided_by="", comment="", at=approval.expires_at)
    return len(rows)


def _finish(
    conn: Connection,
    approval: Approval,
    status: str,
    *,
    decided_by: str,
    comment: str,
    at: float,
    key_id: str = "",
) -> Approval:
    """Move a pending approval to ``status`` (a final one) and write its audit row."""
    values = {"status": status, "decided_by": decided_by[:256], "decided_at": at, "comment": comment}
    changed = conn.execute(
        update(approvals).where(approvals.c.id == approval.id, approvals.c.status == PENDING).values(**values)
    ).rowcount
    current = _select(conn, approval.id)
    assert current is not None
    if changed:
        _audit(conn, current, key_id=key_id)
    return current


def get_approval(store: Store, approval_id: str, now: float | None = None) -> Approval | None:
    """The approval ``approval_id`` (``expired`` once its deadline passed), or ``None``."""
    expire_due(store, now)
    with store.read() as conn:
        return _select(conn, approval_id)


def list_approvals(
    store: Store,
    *,
    status: str = "",
    run_id: str = "",
    agent_name: str = "",
    limit: int = 50,
    offset: int = 0,
    now: float | None = None,
) -> tuple[list[Approval], int]:
    """Approvals with ``status`` (``""``: all, newest first), a page of them, and how many match in all.

    Pending approvals come most urgent first (the nearest deadline); the others newest first.
    """
    ensure_table(store)
    if status and status not in APPROVAL_STATUSES:
        raise ValueError(f"status must be one of {', '.join(APPROVAL_STATUSES)}, got {status!r}")
    if limit < 1 or offset < 0:
        raise ValueError(f"limit must be >= 1 and offset >= 0, got limit={limit}, offset={offset}")
    expire_due(store, now)
    conditions = []
    if status:
        conditions.append(approvals.c.status == status)
    if run_id:
        conditions.append(approvals.c.run_id == run_id)
    if agent_name:
        conditions.append(approvals.c.agent_name == agent_name)
    where = and_(*conditions) if conditions else true()
    order = (
        (approvals.c.expires_at.asc(), approvals.c.id)
        if status == PENDING
        else (approvals.c.requested_at.desc(), approvals.c.id)
    )
    with store.read() as conn:
        total = int(conn.execute(select(func.count()).select_from(approvals).where(where)).scalar_one())
        rows = conn.execute(select(approvals).where(where).order_by(*order).limit(limit).offset(offset)).all()
    return [_row_to_approval(row) for row in rows], total


def decide_approval(
    store: Store,
    approval_id: str,
    answer: str,
    *,
    decided_by: str,
    comment: str = "",
    key_id: str = "",
    now: float | None = None,
) -> Approval:
    """A person's answer (``approved`` or ``denied``) to a pending approval; returns the approval as it
    now stands and writes the audit row naming ``decided_by`` (and ``key_id``, the API key used).

    Raises :class:`ApprovalNotFound` (no such id), :class:`ApprovalNotPending` (answered, expired or
    cancelled already: the first answer wins), :class:`ApprovalNotAllowed` (the approval names its
    approvers and ``decided_by`` is not one of them) or ``ValueError`` (bad answer, empty ``decided_by``).
    """
    ensure_table(store)
    if answer not in APPROVAL_ANSWERS:
        raise ValueError(f"answer must be one of {', '.join(APPROVAL_ANSWERS)}, got {answer!r}")
    _check_text(decided_by, "decided_by", 256)
    if not decided_by.strip():
        raise ValueError("decided_by must name who answers")
    _check_text(comment, "comment", 4000)
    at = time.time() if now is None else now
    with store.write() as conn:
        approval = _select(conn, approval_id, lock=True)
        if approval is None:
            raise ApprovalNotFound(f"no approval {approval_id[:80]!r}")
        if approval.pending and approval.expires_at <= at:
            approval = _finish(conn, approval, "expired", decided_by="", comment="", at=approval.expires_at)
        if not approval.pending:
            ended = approval
        elif not may_decide(approval, decided_by):
            raise ApprovalNotAllowed(approval, decided_by)
        else:
            return _finish(
                conn, approval, answer, decided_by=decided_by, comment=comment, at=at, key_id=key_id
            )
    raise ApprovalNotPending(ended)


def close_approval(
    store: Store, approval_id: str, status: str = "expired", *, by: str = "", now: float | None = None
) -> Approval:
    """The waiting side gives up: a pending approval becomes ``status`` (``expired`` when its wait timed
    out, ``cancelled`` otherwise; ``by`` is recorded as who cancelled — nobody decides an expiry). Returns
    the approval as it now stands — answered, when the answer came first (so the caller can still honour
    it). Raises :class:`ApprovalNotFound`."""
    ensure_table(store)
    if status not in FINAL_APPROVAL_STATUSES or status in APPROVAL_ANSWERS:
        raise ValueError(f"status must be 'expired' or 'cancelled', got {status!r}")
    at = time.time() if now is None else now
    with store.write() as conn:
        approval = _select(conn, approval_id, lock=True)
        if approval is None:
            raise ApprovalNotFound(f"no approval {approval_id[:80]!r}")
        if not approval.pending:
            return approval
        return _finish(
            conn, approval, status, decided_by=by if status == "cancelled" else "", comment="", at=at
        )


def wait_for_answer(
    store: Store, approval_id: str, *, timeout: float, poll_interval: float = 0.2
) -> Approval:
    """Poll until the approval is no longer pending or ``timeout`` seconds passed; returns it as it then
    stands (still ``pending`` on timeout). Raises :class:`ApprovalNotFound`."""
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        approval = get_approval(store, approval_id)
        if approval is None:
            raise ApprovalNotFound(f"no approval {approval_id[:80]!r}")
        left = deadline - time.monotonic()
        if not approval.pending or left <= 0:
            return approval
        time.sleep(min(poll_interval, left))

"""The names of pending approvals (``waxell_observe.store.approvals``, the server's approval routes, the
``approvals`` CLI and the dashboard's Approvals page): their statuses, the answers a person gives, and
the audit event that records who answered."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "APPROVAL_ANSWERS",
    "APPROVAL_STATUSES",
    "AUDIT_APPROVAL_DECISION",
    "ApprovalAnswer",
    "ApprovalStatus",
    "FINAL_APPROVAL_STATUSES",
    "PENDING",
]

ApprovalStatus = Literal["pending", "approved", "denied", "expired", "cancelled"]
"""Where an approval stands: ``pending`` until a person answers (``approved`` / ``denied``), its time runs
out (``expired``) or the agent stops waiting for another reason (``cancelled``)."""

APPROVAL_STATUSES: tuple[str, ...] = get_args(ApprovalStatus)
"""Every status of an approval, ``pending`` first."""

PENDING = "pending"
"""The status of an approval nobody has answered yet."""

FINAL_APPROVAL_STATUSES: tuple[str, ...] = APPROVAL_STATUSES[1:]
"""The statuses an approval ends in; it never changes again afterwards."""

ApprovalAnswer = Literal["approved", "denied"]
"""What a person can answer."""

APPROVAL_ANSWERS: tuple[str, ...] = get_args(ApprovalAnswer)
"""What a person can answer, as a tuple."""

AUDIT_APPROVAL_DECISION = "approval_decision"
"""The ``event`` of the audit row written when an approval ends: ``action`` is its final status, the
``metadata`` names the approval (``approval_id``) and who decided (``decided_by``, ``key_id``)."""

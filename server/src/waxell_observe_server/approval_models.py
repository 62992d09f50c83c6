"""Request bodies of the approval endpoints (``docs/wire-protocol.md``, "Pending approvals"; our
extension). Like :mod:`.wire_models`: unknown fields are ignored and ``null`` is accepted for every
optional field."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from waxell_observe.store.approvals import MAX_TIMEOUT_SECONDS
from waxell_observe_server.wire_models import Name, _Body

__all__ = ["ApprovalCreateBody", "ApprovalCloseBody", "ApprovalAnswerBody", "MAX_WAIT_SECONDS"]

MAX_WAIT_SECONDS = 30.0
"""The longest a ``GET approvals/{id}/?wait=`` request is held open waiting for an answer."""


class ApprovalCreateBody(_Body):
    """``POST approvals/``: a blocked run asks for approval."""

    id: Annotated[str | None, Field(max_length=64)] = None
    """The approval's id, chosen by the client (a retried request then creates nothing twice)."""
    agent_name: Annotated[Name, Field(max_length=256)]
    run_id: Annotated[str | None, Field(max_length=64)] = ""
    workflow_name: Annotated[str | None, Field(max_length=256)] = ""
    action_type: Annotated[str | None, Field(max_length=256)] = ""
    reason: Annotated[str | None, Field(max_length=20_000)] = ""
    policy_name: Annotated[str | None, Field(max_length=256)] = ""
    category: Annotated[str | None, Field(max_length=64)] = ""
    approvers: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=256)]] | None, Field(max_length=100)
    ] = None
    timeout_seconds: Annotated[float, Field(gt=0, le=MAX_TIMEOUT_SECONDS, allow_inf_nan=False)]
    metadata: dict[str, Any] | None = None


class ApprovalCloseBody(_Body):
    """``POST approvals/{id}/close/``: the waiting agent stops waiting."""

    status: Literal["expired", "cancelled"] = "expired"


class ApprovalAnswerBody(_Body):
    """``POST /api/v1/admin/approvals/{id}/approve/`` and ``.../deny/``."""

    comment: Annotated[str | None, Field(max_length=4000)] = ""

"""Policy endpoints of the wire protocol, and the governance hooks the other routes call.

Until the governance engine is wired in here, ``policy-check/`` allows everything,
``policy-manifest/`` is empty (``manifest_version`` ``"1"``), ingest batches carry no
governance and completions answer ``allow``. The functions below are the only places the
rest of the server asks about governance, so wiring the engine means editing this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from waxell_observe.server.wire_models import PolicyCheckBody

if TYPE_CHECKING:
    from waxell_observe.server.ingest_store import RunRef
    from waxell_observe.server.wire_models import CompleteBody

__all__ = [
    "router",
    "ALLOW",
    "empty_manifest",
    "ingest_governance",
    "completion_governance",
    "list_policies",
]

router = APIRouter(tags=["policies"])

ALLOW: dict[str, Any] = {"action": "allow", "reason": "", "metadata": {}, "evaluations": []}


def empty_manifest() -> dict[str, Any]:
    """A manifest with no policies (``manifest_version`` is always a non-empty string)."""
    return {"manifest_version": "1", "ttl_seconds": 60, "checkpoints": [], "surfaces": {}, "policies": []}


@router.post("/policy-check/")
def policy_check(body: PolicyCheckBody, request: Request) -> dict[str, Any]:
    """Pre-execution (or gate) policy check: ``action``, ``reason``, ``metadata``, ``evaluations``."""
    return {**ALLOW, "metadata": {}, "evaluations": []}


@router.get("/policy-manifest/")
def policy_manifest(
    request: Request, agent_name: str = "", workflow_name: str = "", agent_id: str = "", user_group: str = ""
) -> dict[str, Any]:
    """The policies that apply to an agent, by surface, for client-side evaluation."""
    return empty_manifest()


def ingest_governance(request: Request, run: RunRef, kind: str) -> dict[str, Any] | None:
    """Governance after a batch of ``kind`` (``llm-calls``/``steps``) was stored for ``run``:
    ``{"action", "reason", "evaluations"}``, or ``None`` for no opinion (reply ``{}``)."""
    return None


def completion_governance(request: Request, run: RunRef, body: CompleteBody) -> dict[str, Any] | None:
    """Post-execution outcome of a completed run (``action, reason, retry_feedback,
    max_retries``), or ``None`` (the reply then says ``allow``; nothing is stored)."""
    return None


def list_policies(request: Request) -> list[dict[str, Any]]:
    """The policies as stored, for ``GET /api/v1/read/policies/``."""
    return []

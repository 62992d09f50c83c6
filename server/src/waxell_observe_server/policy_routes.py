"""The policy endpoints of the wire protocol, answered by the app's decider (:mod:`.decider`) over the
policies stored in the server's store.

* ``POST policy-check/`` — pre-execution (a body with ``surface`` is a gate check: ``run.start`` is
  pre-execution, ``step.mid`` mid-execution, ``run.complete``/``run.error`` post-execution, any other surface
  is evaluated at that surface, by the categories that act there; ``categories`` /
  ``policies`` narrow the check). Our SDK adds ``phase`` and the run's state (``llm_calls``, ``step_count``,
  ``tool_calls``, ``retries``, ``conversation_state``, ``run_id``) for mid-execution checks. A refused
  pre-execution check writes its non-allow evaluations to the audit log (there is no run to carry them).
  Rate-limit slots are held by the body's ``run_id`` or, without one, by the ``admission_id`` returned
  in ``metadata``.
* ``GET policy-manifest/`` — the policies covering an identity, by the gate surfaces their categories act at
  (``eval``: ``server`` for the categories counted in the store, ``hybrid`` for the others, which an SDK may
  evaluate in process).

Governance in the ingest replies is :mod:`.run_governance`'s; the admin endpoints are
:mod:`.policy_admin_routes`'.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from waxell_observe.governance.decider import Decider
from waxell_observe.governance.engine import PolicyEngine
from waxell_observe.governance.request import PolicyRequest, normalize_checkpoint, normalize_phase
from waxell_observe.governance.results import PolicyCheckResult
from waxell_observe.governance.rules import EVALUATORS
from waxell_observe.vocabulary import (
    GATE_SURFACES,
    STATEFUL_POLICY_CATEGORIES,
    SURFACE_OF_PHASE,
    canonical_category,
)
from waxell_observe.vocabulary.rows import policy_audit_row
from waxell_observe_server import governance_store
from waxell_observe_server.decider import ALLOW, decider
from waxell_observe_server.wire_models import PolicyCheckBody

__all__ = ["empty_manifest", "router"]

router = APIRouter(tags=["policies"])


def _surfaces_of(phases: frozenset[str]) -> list[str]:
    """The gate surfaces where an evaluator acts (a phase stands for its surface), in run order."""
    names = {SURFACE_OF_PHASE.get(phase, phase) for phase in phases}
    return [surface for surface in GATE_SURFACES if surface in names]


def empty_manifest() -> dict[str, Any]:
    """A manifest with no policies (``manifest_version`` is always a non-empty string)."""
    return {"manifest_version": "1", "ttl_seconds": 60, "checkpoints": [], "surfaces": {}, "policies": []}


# --------------------------------------------------------------------------- policy-check


def _phase(data: dict[str, Any]) -> str:
    """Where the check happens: the body's ``phase``; else its ``surface`` (``run.start`` is
    pre-execution, ``step.mid`` mid-execution, ``run.complete`` post-execution, any other surface is
    evaluated at that surface: by the categories whose evaluators act there); else pre-execution."""
    phase = data.get("phase")
    if isinstance(phase, str) and phase:
        try:
            return normalize_phase(phase)
        except ValueError:
            raise HTTPException(
                status_code=422,
                detail=f"phase must be pre_execution, mid_execution or post_execution, got {phase!r}",
            ) from None
    surface = data.get("surface")
    if not surface:
        return "pre_execution"
    if surface == "run.error":
        return "post_execution"
    try:
        return normalize_checkpoint(str(surface))
    except ValueError:
        raise HTTPException(
            status_code=422, detail=f"surface must be one of {', '.join(GATE_SURFACES)}, got {surface!r}"
        ) from None


def _gate_engine(found: Decider, categories: list[Any] | None, names: list[Any] | None) -> PolicyEngine:
    """The engine, or one over the subset of policies a gate check asks for."""
    engine = found.engine()
    if not categories and not names:
        return engine
    wanted_categories = {canonical_category(str(c)) for c in categories or ()}  # aliases: net, rag, ...
    wanted_names = {str(n) for n in names or ()}
    subset = [
        p
        for p in engine.policies
        if (not wanted_categories or p.category in wanted_categories)
        and (not wanted_names or p.name in wanted_names)
    ]
    return PolicyEngine(subset, found.usage, found.now)


@router.post("/policy-check/")
def policy_check(body: PolicyCheckBody, request: Request) -> dict[str, Any]:
    """Pre-execution (or gate) policy check: ``action``, ``reason``, ``metadata``, ``evaluations``."""
    found = decider(request)
    if found.empty:
        return {**ALLOW, "metadata": {}, "evaluations": []}
    data = body.model_dump(exclude_none=True)
    phase = _phase(data)
    try:
        policy_request = PolicyRequest.from_dict(data)
    except (TypeError, ValueError, AttributeError) as exc:
        raise HTTPException(
            status_code=422, detail=f"invalid run state in policy-check body: {exc}"
        ) from None
    engine = _gate_engine(found, body.categories, body.policies)
    result = engine.evaluate(policy_request, phase)
    if phase == "pre_execution" and result.blocked:
        _audit_refused(request, policy_request, result)
    reply: dict[str, Any] = result.to_dict()
    return reply


def _audit_refused(request: Request, policy_request: PolicyRequest, result: PolicyCheckResult) -> None:
    now = time.time()
    rows = [
        policy_audit_row(
            ts=now,
            run_id="",
            agent_name=policy_request.agent_name,
            workflow_name=policy_request.workflow_name,
            policy_name=e.policy_name,
            category=e.category,
            action=e.action,
            reason=e.reason,
            phase=e.phase or "pre_execution",
            metadata={
                **e.metadata,
                "refused_run_id": policy_request.run_id,
                "user_id": policy_request.user_id,
            },
        )
        for e in result.evaluations
        if e.action != "allow"
    ]
    with request.app.state.writer.write() as conn:
        governance_store.add_audit_rows(conn, rows)


# --------------------------------------------------------------------------- manifest


def _policy_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:16]


@router.get("/policy-manifest/")
def policy_manifest(
    request: Request, agent_name: str = "", workflow_name: str = "", agent_id: str = "", user_group: str = ""
) -> dict[str, Any]:
    """The policies that apply to an agent, by surface. ``manifest_version`` changes whenever the policies
    do (it is the store's policies version plus one: ``"1"`` before any policy was ever added)."""
    found = decider(request)
    engine = found.engine()
    manifest = empty_manifest()
    manifest["manifest_version"] = str(max(found.version, 0) + 1)
    if found.empty:
        return manifest
    surfaces: dict[str, list[dict[str, Any]]] = {}
    listed = []
    for policy in engine.policies_for(agent_name, workflow_name, user_group):
        mode = "server" if policy.category in STATEFUL_POLICY_CATEGORIES else "hybrid"
        for surface in _surfaces_of(EVALUATORS[policy.category].phases):
            surfaces.setdefault(surface, []).append(
                {"policy": policy.name, "category": policy.category, "eval": mode}
            )
        definition = policy.to_dict()
        listed.append(
            {
                "name": policy.name,
                "policy_id": _policy_id(policy.name),
                "category": policy.category,
                "priority": policy.priority,
                "scope": definition["scope"],
                "rules": definition["rules"],
            }
        )
    manifest["checkpoints"] = [s for s in GATE_SURFACES if s in surfaces]
    manifest["surfaces"] = surfaces
    manifest["policies"] = listed
    return manifest

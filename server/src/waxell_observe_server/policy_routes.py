"""Governance on the server: the policy endpoints of the wire protocol, the ``governance`` replies of the
ingest endpoints, and the admin endpoints that manage policies.

One :class:`~waxell_observe.governance.decider.Decider` per app evaluates the policies stored in the
server's store with the same engine and counters as the embedded mode:

* ``POST policy-check/`` — pre-execution (a body with ``surface`` is a gate check: ``run.start`` is
  pre-execution, ``run.complete`` post-execution, any other surface mid-execution; ``categories`` /
  ``policies`` narrow the check). Our SDK adds ``phase`` and the run's state (``llm_calls``, ``step_count``,
  ``tool_calls``, ``retries``, ``conversation_state``, ``run_id``) for mid-execution checks. A refused
  pre-execution check writes its non-allow evaluations to the audit log (there is no run to carry them).
  Rate-limit slots are held by the body's ``run_id`` or, without one, by the ``admission_id`` returned
  in ``metadata``.
* ``GET policy-manifest/`` — the policies covering an identity, by surface.
* ``runs/{id}/llm-calls/`` and ``steps/`` — mid-execution evaluation over the run's stored records and the
  texts of the batch just received; the reply carries ``governance`` when the answer is not ``allow``.
* ``runs/{id}/complete/`` — counts the run's usage and outcome, frees its concurrency slots (its run id
  and any ``admission_id`` of its ``pre_execution_evaluations``), and evaluates post-execution policies
  on the result: ``{action, reason, retry_feedback, max_retries, evaluations}``. Non-allow post-execution
  evaluations are stored on the run as ``policy`` spans and in the audit log; a ``redact`` replaces the
  stored result with the masked copy.
* ``/api/v1/admin/policies/`` — ``GET`` (list), ``POST {"policies": [...]}`` (add; a bad list is rejected
  whole with 422 naming policy, field and problem), ``DELETE {name}/``, ``POST test/`` (dry run).
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import JSONResponse

from waxell_observe_server.wire_models import PolicyCheckBody, parse_timestamp

if TYPE_CHECKING:
    from waxell_observe.governance.decider import Decider
    from waxell_observe.governance.engine import PolicyEngine
    from waxell_observe.governance.results import PolicyCheckResult
    from waxell_observe_server.ingest_store import RunRef
    from waxell_observe_server.wire_models import CompleteBody

__all__ = [
    "ADMIN_PREFIX",
    "ALLOW",
    "admin_router",
    "completion_governance",
    "decider",
    "empty_manifest",
    "ingest_governance",
    "list_policies",
    "router",
]

router = APIRouter(tags=["policies"])
admin_router = APIRouter(tags=["admin"])
ADMIN_PREFIX = "/api/v1/admin"

ALLOW: dict[str, Any] = {"action": "allow", "reason": "", "metadata": {}, "evaluations": []}

#: Surface names of the manifest, by phase.
_SURFACES = {"pre_execution": "run.start", "mid_execution": "step.mid", "post_execution": "run.complete"}
_EXTRA_SURFACES = {"llm": ("llm.after",), "safety": ("tool.after",), "content": ("llm.after", "tool.after")}
_STATEFUL = frozenset({"budget", "rate-limit", "kill-switch"})
_decider_lock = threading.Lock()


def empty_manifest() -> dict[str, Any]:
    """A manifest with no policies (``manifest_version`` is always a non-empty string)."""
    return {"manifest_version": "1", "ttl_seconds": 60, "checkpoints": [], "surfaces": {}, "policies": []}


def decider(request: Request) -> Decider:
    """The app's decider (created on first use over ``app.state.store``)."""
    state = request.app.state
    found = getattr(state, "governance_decider", None)
    if found is not None:
        return found
    with _decider_lock:
        found = getattr(state, "governance_decider", None)
        if found is None:
            from waxell_observe.governance.local_plugin import _slot_ttl

            from waxell_observe.governance.decider import Decider

            # slots belong to remote runs: freed at complete/, else when they expire
            found = Decider(state.store, owner="", slot_ttl_seconds=_slot_ttl())
            state.governance_decider = found
    return found


# --------------------------------------------------------------------------- policy-check


def _phase(data: dict[str, Any]) -> str:
    from waxell_observe.governance.request import normalize_phase

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
    if surface == "run.start":
        return "pre_execution"
    if surface == "run.complete":
        return "post_execution"
    return "mid_execution"


def _gate_engine(found: Decider, categories: list[Any] | None, names: list[Any] | None) -> PolicyEngine:
    """The engine, or one over the subset of policies a gate check asks for."""
    engine = found.engine()
    if not categories and not names:
        return engine
    from waxell_observe.governance.engine import PolicyEngine

    wanted_categories = {str(c) for c in categories or ()}
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
    from waxell_observe.governance.request import PolicyRequest

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
    return result.to_dict()


def _audit_refused(request: Request, policy_request: Any, result: PolicyCheckResult) -> None:
    from waxell_observe.store import writer

    now = time.time()
    rows = [
        {
            "ts": now,
            "run_id": "",
            "agent_name": policy_request.agent_name,
            "workflow_name": policy_request.workflow_name,
            "event": "policy_decision",
            "policy_name": e.policy_name,
            "category": e.category,
            "action": e.action,
            "reason": e.reason,
            "phase": e.phase or "pre_execution",
            "metadata": {
                **e.metadata,
                "refused_run_id": policy_request.run_id,
                "user_id": policy_request.user_id,
            },
        }
        for e in result.evaluations
        if e.action != "allow"
    ]
    with request.app.state.writer.write() as conn:
        writer.add_audit_events(conn, rows)


# --------------------------------------------------------------------------- manifest


def _policy_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:16]


@router.get("/policy-manifest/")
def policy_manifest(
    request: Request, agent_name: str = "", workflow_name: str = "", agent_id: str = "", user_group: str = ""
) -> dict[str, Any]:
    """The policies that apply to an agent, by surface. ``manifest_version`` changes whenever the policies
    do (it is the store's policies version plus one: ``"1"`` before any policy was ever added)."""
    from waxell_observe.governance.rules import EVALUATORS

    found = decider(request)
    engine = found.engine()
    manifest = empty_manifest()
    manifest["manifest_version"] = str(max(found.version, 0) + 1)
    if found.empty:
        return manifest
    surfaces: dict[str, list[dict[str, Any]]] = {}
    listed = []
    for policy in engine.policies_for(agent_name, workflow_name, user_group):
        mode = "server" if policy.category in _STATEFUL else "hybrid"
        names = [_SURFACES[phase] for phase in ("pre_execution", "mid_execution", "post_execution")
                 if phase in EVALUATORS[policy.category].phases]  # fmt: skip
        names.extend(_EXTRA_SURFACES.get(policy.category, ()))
        for surface in names:
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
    order = ["run.start", "llm.after", "tool.after", "step.mid", "run.complete"]
    manifest["checkpoints"] = [s for s in order if s in surfaces]
    manifest["surfaces"] = surfaces
    manifest["policies"] = listed
    return manifest


# --------------------------------------------------------------------------- ingest replies


def _batch_texts(kind: str, body: Any) -> tuple[list[str], list[str]]:
    """Texts of a received batch that content policies scan (inputs, outputs)."""
    from waxell_observe.governance.content_scan import iter_strings
    from waxell_observe_server.behaviours import behaviour_span

    inputs: list[str] = []
    outputs: list[str] = []
    if body is None:
        return inputs, outputs
    if kind == "llm-calls":
        for call in getattr(body, "calls", None) or ():
            if call.prompt_preview:
                inputs.append(call.prompt_preview)
            if call.response_preview:
                outputs.append(call.response_preview)
    elif kind == "steps":
        for step in getattr(body, "steps", None) or ():
            span = behaviour_span(step.step_name or "", step.output)
            if span is None:
                continue
            if span["kind"] == "io":
                inputs.extend(iter_strings(span.get("input")))
                outputs.extend(iter_strings(span.get("output")))
            elif span["kind"] in ("tool", "retrieval"):
                outputs.extend(iter_strings(span.get("output")))
    return inputs, outputs


def ingest_governance(request: Request, run: RunRef, kind: str, body: Any = None) -> dict[str, Any] | None:
    """Mid-execution governance after a batch of ``kind`` (``llm-calls``/``steps``) was stored for ``run``:
    ``{"action", "reason", "evaluations"}``, or ``None`` when the answer is ``allow`` (reply ``{}``)."""
    from waxell_observe.governance.stored_run import load_stored_run, request_for_stored_run

    found = decider(request)
    if found.empty:
        return None
    store = request.app.state.store
    with store.read() as conn:
        stored = load_stored_run(conn, run.run_id)
        if stored is None:
            return None
        facts = found.facts(stored.agent_name, stored.workflow_name, stored.user_group)
        if "mid_execution" not in facts.phases:
            return None
        inputs, outputs = _batch_texts(kind, body)
        policy_request = request_for_stored_run(conn, stored, input_texts=inputs, output_texts=outputs)
    result = found.evaluate(policy_request, "mid_execution")
    if result.action == "allow":
        return None
    return result.to_governance_dict()


# --------------------------------------------------------------------------- completion


def _admission_ids(governance: Any) -> list[str]:
    """``admission_id``s the run was given at pre-execution (from ``pre_execution_evaluations``)."""
    ids = []
    for evaluation in (governance or {}).get("pre_execution_evaluations") or ():
        metadata = evaluation.get("metadata") if isinstance(evaluation, dict) else None
        if isinstance(metadata, dict) and isinstance(metadata.get("admission_id"), str):
            ids.append(metadata["admission_id"])
    return ids


def completion_governance(request: Request, run: RunRef, body: CompleteBody) -> dict[str, Any] | None:
    """Post-execution outcome of a completed run (``action, reason, retry_feedback, max_retries``,
    ``evaluations``), or ``None`` for a plain ``allow`` (the reply then says ``allow``; nothing is stored).

    Also counts the run's usage and outcome (once per run) and frees its concurrency slots."""
    from sqlalchemy import select

    from waxell_observe.governance.stored_run import load_stored_run, request_for_stored_run
    from waxell_observe.store.schema import runs

    found = decider(request)
    store = request.app.state.store
    with store.read() as conn:
        stored = load_stored_run(conn, run.run_id)
        if stored is None:
            return None
        row = conn.execute(
            select(runs.c.status, runs.c.governance, runs.c.result).where(runs.c.run_id == run.run_id)
        ).first()
        status, governance, result = row if row is not None else ("success", {}, {})
        facts = found.facts(stored.agent_name, stored.workflow_name, stored.user_group)
        policy_request = None
        if "post_execution" in facts.phases:
            policy_request = request_for_stored_run(conn, stored, result=result or None)
    models = {
        c.model: (c.tokens_in + c.tokens_out, c.cost)
        for c in (policy_request.llm_calls if policy_request else ())
    }
    if policy_request is None:
        with store.read() as conn:
            models = _models_of(conn, run.run_id)
    found.finish_run(
        run.run_id,
        stored.agent_name,
        stored.workflow_name,
        stored.user_group,
        models=models,
        error=status == "error",
        holds_slot=True,
        extra_holders=_admission_ids(governance),
        always_count=True,
    )
    if policy_request is None:
        return None
    verdict = found.evaluate(policy_request, "post_execution")
    _record_post_evaluations(request, run, verdict)
    if verdict.action == "allow":
        return None
    reply = verdict.to_governance_dict()
    reply.setdefault("retry_feedback", "")
    reply.setdefault("max_retries", 0)
    return reply


def _models_of(conn: Any, run_id: str) -> dict[str, tuple[int, float]]:
    from sqlalchemy import func, select

    from waxell_observe.store.schema import llm_calls

    c = llm_calls.c
    rows = conn.execute(
        select(c.model, func.sum(c.tokens_in + c.tokens_out), func.sum(c.cost))
        .where(c.run_id == run_id)
        .group_by(c.model)
    ).all()
    return {model: (int(tokens or 0), float(cost or 0.0)) for model, tokens, cost in rows}


def _record_post_evaluations(request: Request, run: RunRef, verdict: PolicyCheckResult) -> None:
    """Store non-allow post-execution evaluations as policy spans + audit events (once per run), and a
    redacted result in place of the original."""
    from sqlalchemy import select, update

    from waxell_observe.store import writer
    from waxell_observe.store.schema import runs, spans
    from waxell_observe_server.ingest_store import derived_id

    evaluations = [e for e in verdict.evaluations if e.action != "allow"]
    redacted = verdict.metadata.get("redacted_result")
    if not evaluations and not isinstance(redacted, dict):
        return
    now = time.time()
    rows: list[dict[str, Any]] = []
    for index, e in enumerate(evaluations):
        attributes: dict[str, Any] = {
            "policy_name": e.policy_name,
            "action": e.action,
            "category": e.category,
            "reason": e.reason,
            "phase": "post_execution",
            "priority": 100,
        }
        if e.metadata:
            attributes["metadata"] = e.metadata
        rows.append(
            {
                "id": derived_id(run.run_id, "post-policy", index),
                "position": 0,
                "kind": "policy",
                "name": e.policy_name,
                "status": "error" if e.action in ("block", "throttle") else "ok",
                "duration_ms": round(e.duration_ms, 4),
                "started_at": now,
                "parent_span_id": "",
                "attributes": attributes,
                "input": None,
                "output": None,
                "error": "",
            }
        )
    with request.app.state.writer.write() as conn:
        if isinstance(redacted, dict):
            conn.execute(update(runs).where(runs.c.run_id == run.run_id).values(result=redacted))
        if not rows:
            return
        known = set(conn.execute(select(spans.c.id).where(spans.c.id.in_([r["id"] for r in rows]))).scalars())
        fresh = [r for r in rows if r["id"] not in known]
        if not fresh:
            return
        top = conn.execute(
            select(spans.c.position)
            .where(spans.c.run_id == run.run_id)
            .order_by(spans.c.position.desc())
            .limit(1)
        ).scalar()
        for offset, r in enumerate(fresh, start=1):
            r["position"] = int(top or 0) + offset
        writer.add_spans(conn, run.run_id, fresh)
        writer.add_audit_events(
            conn,
            [
                {
                    "ts": now,
                    "run_id": run.run_id,
                    "agent_name": run.agent_name,
                    "workflow_name": run.workflow_name,
                    "event": "policy_decision",
                    "policy_name": r["attributes"]["policy_name"],
                    "category": r["attributes"]["category"],
                    "action": r["attributes"]["action"],
                    "reason": r["attributes"]["reason"],
                    "phase": "post_execution",
                    "metadata": r["attributes"].get("metadata", {}),
                }
                for r in fresh
            ],
        )
        writer.refresh_totals(conn, [run.run_id])


# --------------------------------------------------------------------------- admin: managing policies


def list_policies(request: Request) -> list[dict[str, Any]]:
    """The stored policies (``Policy.to_dict()`` form, loadable again), for ``GET /api/v1/read/policies/``."""
    from waxell_observe.governance.policy_store import policy_rows

    with request.app.state.store.read() as conn:
        return [row["definition"] for row in policy_rows(conn)]


@admin_router.get("/policies/")
def admin_list_policies(request: Request) -> dict[str, Any]:
    """``{"policies": [...]}``: the stored policies."""
    return {"policies": list_policies(request)}


def _problem_reply(exc: Exception) -> JSONResponse:
    problems = list(getattr(exc, "problems", [str(exc)]))
    return JSONResponse(status_code=422, content={"detail": str(exc), "problems": problems})


@admin_router.post("/policies/", response_model=None)
def admin_add_policies(
    request: Request, payload: Annotated[dict[str, Any], Body()]
) -> dict[str, Any] | JSONResponse:
    """Add policies: ``{"policies": [policy, ...]}`` (a policy with an existing name replaces it). A bad
    list is rejected whole: 422 ``{"detail", "problems": [...]}``."""
    from waxell_observe.governance.loader import PolicyFileError, parse_policies
    from waxell_observe.governance.policy_store import add_policies, policy_rows

    items = payload.get("policies")
    if not isinstance(items, list):
        return _problem_reply(PolicyFileError(["'policies' must be a list of policies"]))
    try:
        policies = parse_policies(items, source="request")
    except PolicyFileError as exc:
        return _problem_reply(exc)
    store = request.app.state.store
    with store.read() as conn:
        existing = {row["name"] for row in policy_rows(conn)}
    names = add_policies(store, policies)
    decider(request).expire()
    return {
        "added": [n for n in names if n not in existing],
        "replaced": [n for n in names if n in existing],
    }


@admin_router.delete("/policies/{name}/")
def admin_remove_policy(name: str, request: Request) -> dict[str, Any]:
    """Remove one policy; 404 when there is none of that name."""
    from waxell_observe.governance.policy_store import PolicyNotFound, remove_policies

    try:
        remove_policies(request.app.state.store, [name])
    except PolicyNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    decider(request).expire()
    return {"removed": name}


@admin_router.post("/policies/test/", response_model=None)
def admin_test_policies(
    request: Request, payload: Annotated[dict[str, Any], Body()]
) -> dict[str, Any] | JSONResponse:
    """Dry run: ``{"policies": [...]?, "request": {agent_name, ...}, "phase": "pre_execution", "at": time?}``
    evaluated over this server's counters without recording anything (``policies`` default: the stored
    ones). Reply: the ``policy-check/`` shape."""
    from waxell_observe.governance.engine import PolicyEngine
    from waxell_observe.governance.loader import PolicyFileError, parse_policies
    from waxell_observe.governance.request import PolicyRequest, normalize_phase

    found = decider(request)
    items = payload.get("policies")
    try:
        policies = found.engine().policies if items is None else parse_policies(items, source="request")
    except PolicyFileError as exc:
        return _problem_reply(exc)
    data = payload.get("request")
    if not isinstance(data, dict) or not isinstance(data.get("agent_name"), str) or not data["agent_name"]:
        raise HTTPException(status_code=422, detail="request.agent_name is required")
    try:
        phase = normalize_phase(str(payload.get("phase") or "pre_execution"))
        at = parse_timestamp(payload.get("at"))
        policy_request = PolicyRequest.from_dict(data)
    except (TypeError, ValueError, AttributeError) as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    clock = (lambda: at) if at is not None else found.now
    engine = PolicyEngine(policies, found.usage, clock)
    return engine.evaluate(policy_request, phase, dry_run=True).to_dict()

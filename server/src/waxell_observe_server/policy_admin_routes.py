"""``/api/v1/admin/policies/``: managing the policies the server's decider evaluates.

``GET`` (list), ``POST {"policies": [...]}`` (add; a bad list is rejected whole with 422 naming policy,
field and problem), ``DELETE {name}/``, ``POST test/`` (dry run).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import JSONResponse

from waxell_observe.governance.engine import PolicyEngine
from waxell_observe.governance.loader import PolicyFileError, parse_policies
from waxell_observe.governance.policy_store import PolicyNotFound, add_policies, policy_rows, remove_policies
from waxell_observe.governance.request import PolicyRequest, normalize_checkpoint
from waxell_observe_server.decider import decider
from waxell_observe_server.wire_models import parse_timestamp

__all__ = ["ADMIN_PREFIX", "admin_router", "list_policies"]

admin_router = APIRouter(tags=["admin"])
ADMIN_PREFIX = "/api/v1/admin"


def list_policies(request: Request) -> list[dict[str, Any]]:
    """The stored policies (``Policy.to_dict()`` form, loadable again), for ``GET /api/v1/read/policies/``."""
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
    """Dry run: ``{"policies": [...]?, "request": {agent_name, ..., surface?, signal?},
    "phase": "pre_execution", "at": time?}`` (``phase``: a phase or a gate surface such as
    ``tool.before``) evaluated over this server's counters without recording anything (``policies``
    default: the stored ones). Reply: the ``policy-check/`` shape."""
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
        phase = normalize_checkpoint(str(payload.get("phase") or "pre_execution"))
        at = parse_timestamp(payload.get("at"))
        policy_request = PolicyRequest.from_dict(data)
    except (TypeError, ValueError, AttributeError) as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    clock = (lambda: at) if at is not None else found.now
    engine = PolicyEngine(policies, found.usage, clock)
    reply: dict[str, Any] = engine.evaluate(policy_request, phase, dry_run=True).to_dict()
    return reply

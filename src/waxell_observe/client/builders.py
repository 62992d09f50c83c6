"""The requests of the wire protocol, built from keyword arguments.

One builder per endpoint, shared by the client's coroutines, its ``*_sync`` twins and the
SDK's own senders (the remote policy decider, the delivery pipeline), so each body is
written once. Builders validate what would make a request meaningless (an empty run id
would put ``runs//...`` on the wire) and raise ``ValueError`` for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from waxell_observe.client.http import Request

__all__ = [
    "complete_run",
    "daily_run",
    "episodic_memory",
    "events",
    "execution_region",
    "governance_decisions",
    "llm_calls",
    "partial_output",
    "policy_check",
    "policy_manifest",
    "prompt",
    "prompt_guard",
    "records",
    "region_metadata",
    "semantic_fact",
    "start_run",
    "steps",
    "surface_check",
]

PARTIAL_MAX_CHARS = 20_000
MEMORY_PREFIX = "/api/v1/observability/runs/"


def segment(value: str, what: str) -> str:
    """``value`` as one URL path segment; an empty one is a caller error."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def _run_path(run_id: str, tail: str) -> str:
    return f"runs/{segment(run_id, 'run_id')}/{tail}"


def _require_name(agent_name: str) -> None:
    if not isinstance(agent_name, str) or not agent_name:
        raise ValueError(f"agent_name must be a non-empty string, got {agent_name!r}")


def _truthy(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value}


def _region() -> tuple[str, str] | None:
    """(region, source) of this machine: the process's region (``WAXELL_EXECUTION_REGION``, a cloud's
    variable or metadata service: :mod:`waxell_observe.execution_region`), else the OS locale's country
    (source ``device_locale``); ``None`` when unknown or when ``WAXELL_REGION_DETECT`` is off."""
    from waxell_observe import execution_region as process_region

    declared = process_region.declared_region()  # read each time: set after the first run, it still counts
    if declared:
        return declared, process_region.DECLARED
    if not process_region.detection_enabled():
        return None
    found = process_region.region()
    if found is not None:
        return found
    import locale

    try:
        name = locale.getlocale()[0] or ""
    except ValueError:
        return None
    country = name.split(".")[0].split("_")[-1] if "_" in name else ""
    return (country.upper(), "device_locale") if len(country) == 2 and country.isalpha() else None


def execution_region() -> str:
    """The region of this machine (see :func:`region_metadata`), ``""`` when unknown."""
    found = _region()
    return found[0] if found is not None else ""


def region_metadata() -> dict[str, str]:
    """``{"execution_region", "execution_region_source"}`` when the region is known, else ``{}``: the
    process's region as runs carry it (source ``declared``, ``env:<VARIABLE>`` or
    ``metadata:<cloud>``), else the OS locale's country (``en_US`` → ``US``, source ``device_locale``)."""
    found = _region()
    return {"execution_region": found[0], "execution_region_source": found[1]} if found is not None else {}


def start_run(
    *,
    agent_name: str,
    workflow_name: str = "default",
    inputs: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    trace_id: str = "",
    user_id: str = "",
    user_group: str = "",
    session_id: str = "",
    parent_workflow_id: str = "",
    root_workflow_id: str = "",
    pre_execution_evaluations: Sequence[Mapping[str, Any]] | None = None,
    agent_slug: str = "",
    agent_id: str = "",
    interaction_mode: str = "",
) -> Request:
    """POST ``runs/start/``."""
    _require_name(agent_name)
    body: dict[str, Any] = {
        "agent_name": agent_name,
        "workflow_name": workflow_name,
        "inputs": dict(inputs or {}),
        "metadata": dict(metadata or {}),
        "trace_id": trace_id,
    }
    body.update(
        _truthy(
            interaction_mode=interaction_mode,
            user_id=user_id,
            user_group=user_group,
            session_id=session_id,
            parent_workflow_id=parent_workflow_id,
            root_workflow_id=root_workflow_id,
            pre_execution_evaluations=[dict(e) for e in pre_execution_evaluations or ()],
            agent_slug=agent_slug,
            agent_id=agent_id,
        )
    )
    return Request("POST", "runs/start/", body)


def complete_run(
    *,
    run_id: str,
    result: Mapping[str, Any] | None = None,
    status: str = "success",
    error: str = "",
    error_type: str = "",
    traceback: str = "",
    steps: Sequence[Mapping[str, Any]] | None = None,
    trace_id: str = "",
    root_span_id: str = "",
    conversation_state: Mapping[str, Any] | None = None,
) -> Request:
    """POST ``runs/{run_id}/complete/``."""
    body: dict[str, Any] = {
        "result": dict(result or {}),
        "status": status,
        "error": error,
        "steps": [dict(s) for s in steps or ()],
    }
    body.update(
        _truthy(
            error_type=error_type,
            traceback=traceback,
            trace_id=trace_id,
            root_span_id=root_span_id,
            conversation_state=dict(conversation_state or {}),
        )
    )
    return Request("POST", _run_path(run_id, "complete/"), body)


def _batch(
    path: str,
    kind: str,
    items: Sequence[Mapping[str, Any]],
    conversation_state: Mapping[str, Any] | None,
    hardware_uuid: str,
) -> Request:
    body: dict[str, Any] = {kind: [dict(item) for item in items], "hardware_uuid": hardware_uuid}
    if conversation_state:
        body["conversation_state"] = dict(conversation_state)
    return Request("POST", path, body)


def llm_calls(
    *,
    run_id: str,
    calls: Sequence[Mapping[str, Any]],
    conversation_state: Mapping[str, Any] | None = None,
    hardware_uuid: str = "",
) -> Request:
    """POST ``runs/{run_id}/llm-calls/``."""
    return _batch(_run_path(run_id, "llm-calls/"), "calls", calls, conversation_state, hardware_uuid)


def steps(
    *,
    run_id: str,
    steps: Sequence[Mapping[str, Any]],
    conversation_state: Mapping[str, Any] | None = None,
    hardware_uuid: str = "",
) -> Request:
    """POST ``runs/{run_id}/steps/``."""
    return _batch(_run_path(run_id, "steps/"), "steps", steps, conversation_state, hardware_uuid)


def records(*, run_id: str, kind: str, items: Sequence[Mapping[str, Any]]) -> Request:
    """POST ``runs/{run_id}/{kind}/`` with ``{kind: items}`` (``scores`` or ``spans``)."""
    return Request("POST", _run_path(run_id, f"{kind}/"), {kind: [dict(item) for item in items]})


def policy_check(
    *,
    agent_name: str,
    workflow_name: str = "",
    agent_id: str = "",
    inputs: Mapping[str, Any] | None = None,
    user_id: str = "",
    user_group: str = "",
    agent_type: str = "",
    delegation: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    signal: Mapping[str, Any] | None = None,
    workflow_id: str = "",
    extra: Mapping[str, Any] | None = None,
) -> Request:
    """POST ``policy-check/`` (the run-start check). ``delegation`` becomes
    ``signal.conversation_state.delegation_data``; ``metadata`` (the client sends the machine's
    region there, :func:`region_metadata`), ``signal``, ``workflow_id`` and ``extra`` are ours."""
    _require_name(agent_name)
    body: dict[str, Any] = {"agent_name": agent_name, "workflow_name": workflow_name, "agent_id": agent_id}
    body.update(
        _truthy(agent_type=agent_type, inputs=dict(inputs or {}), user_id=user_id, user_group=user_group)
    )
    if delegation:
        body["signal"] = {"conversation_state": {"delegation_data": dict(delegation)}}
    if signal:
        body["signal"] = {**body.get("signal", {}), **signal}
    if metadata:
        body["metadata"] = dict(metadata)
    if workflow_id:
        body["workflow_id"] = workflow_id
    body.update(extra or {})
    return Request("POST", "policy-check/", body)


def surface_check(
    *,
    agent_name: str,
    workflow_name: str = "",
    user_group: str = "",
    surface: str,
    signal: Mapping[str, Any] | None = None,
    categories: Sequence[str] | None = None,
    policies: Sequence[str] | None = None,
    workflow_id: str = "",
) -> Request:
    """POST ``policy-check/`` as a gate check at ``surface``."""
    body: dict[str, Any] = {
        "agent_name": agent_name,
        "workflow_name": workflow_name,
        "user_group": user_group,
        "surface": surface,
        "signal": dict(signal or {}),
        "categories": sorted(set(categories or ())),
        "policies": list(policies or ()),
    }
    if workflow_id:
        body["workflow_id"] = workflow_id
    region = region_metadata()
    if region:
        body["metadata"] = region
    return Request("POST", "policy-check/", body)


def policy_manifest(
    *, agent_name: str, workflow_name: str = "", agent_id: str = "", user_group: str = ""
) -> Request:
    """GET ``policy-manifest/`` (query parameters other than ``agent_name`` only when set)."""
    params = {"agent_name": agent_name}
    params.update(_truthy(workflow_name=workflow_name, agent_id=agent_id, user_group=user_group))
    return Request("GET", "policy-manifest/", params=params)


def governance_decisions(
    *,
    agent_name: str,
    surface: str,
    decisions: Sequence[Mapping[str, Any]],
    workflow_id: str = "",
    span_only: bool = False,
) -> Request:
    """POST ``governance-decision/`` (all five fields always)."""
    body = {
        "agent_name": agent_name,
        "workflow_id": workflow_id,
        "surface": surface,
        "decisions": [dict(d) for d in decisions],
        "span_only": bool(span_only),
    }
    return Request("POST", "governance-decision/", body)


def events(*, events: Sequence[Mapping[str, Any]]) -> Request:
    """POST ``events/``."""
    return Request("POST", "events/", {"events": [dict(e) for e in events]})


def prompt_guard(*, text: str, model: str = "", agent_name: str | None = None) -> Request:
    """POST ``prompt-guard/`` (``agent_name`` only in the retrying variant)."""
    body: dict[str, Any] = {"text": text}
    if agent_name is not None:
        body["agent_name"] = agent_name
    body["model"] = model
    return Request("POST", "prompt-guard/", body)


def prompt(*, name: str, label: str = "", version: int = 0) -> Request:
    """GET ``prompts/{name}/`` (``label`` / ``version`` only when set)."""
    params = _truthy(label=label, version=str(version) if version else "")
    return Request("GET", f"prompts/{segment(name, 'prompt name')}/", params=params or None)


def daily_run(*, agent_slug: str, agent_type: str = "mcp", date: str | None = None) -> Request:
    """POST ``runs/daily/``."""
    body: dict[str, Any] = {"agent_slug": agent_slug, "agent_type": agent_type}
    body.update(_truthy(date=date, execution_region=execution_region()))
    return Request("POST", "runs/daily/", body)


def partial_output(
    *, run_id: str, partial: str, chunk_count: int | None = None, model: str = "", done: bool = False
) -> Request:
    """POST ``runs/{run_id}/partial/`` (``partial`` cut to 20 000 characters)."""
    body = {"partial": partial[:PARTIAL_MAX_CHARS], "chunk_count": chunk_count, "model": model, "done": done}
    return Request("POST", _run_path(run_id, "partial/"), body)


def _memory_type(data: Any) -> str:
    if isinstance(data, dict):
        return "dict"
    if isinstance(data, list):
        return "list"
    return "value"


def episodic_memory(
    *,
    run_id: str,
    slot_name: str,
    scope_key: str,
    data: Any,
    memory_type: str | None = None,
    ttl_seconds: int | None = None,
    max_items: int | None = None,
) -> Request:
    """POST ``/api/v1/observability/runs/{run_id}/memory/episodic/``."""
    body: dict[str, Any] = {
        "slot_name": slot_name,
        "scope_key": scope_key,
        "memory_type": memory_type or _memory_type(data),
        "data": data,
    }
    if ttl_seconds is not None:
        body["ttl_seconds"] = ttl_seconds
    if max_items is not None:
        body["max_items"] = max_items
    return Request("POST", f"{MEMORY_PREFIX}{segment(run_id, 'run_id')}/memory/episodic/", body)


def semantic_fact(
    *,
    run_id: str,
    slot_name: str,
    scope_key: str,
    content: str,
    content_embedding: Sequence[float],
    importance: float = 0.7,
    tags: Sequence[str] | None = None,
    fact_key: str | None = None,
    source_tool: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> Request:
    """POST ``/api/v1/observability/runs/{run_id}/memory/semantic/``."""
    body: dict[str, Any] = {
        "slot_name": slot_name,
        "scope_key": scope_key,
        "content": content,
        "content_embedding": list(content_embedding),
        "importance": importance,
        "tags": list(tags or ()),
        "source_tool": source_tool,
    }
    if fact_key is not None:
        body["fact_key"] = fact_key
    if metadata is not None:
        body["metadata"] = dict(metadata)
    return Request("POST", f"{MEMORY_PREFIX}{segment(run_id, 'run_id')}/memory/semantic/", body)

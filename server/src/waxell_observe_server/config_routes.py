"""``GET config/`` of the wire protocol: where clients should export OTLP traces, the tenant, and
where to deliver many runs per request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from waxell_observe_server.batch_routes import BATCH_INGEST_PATH, BATCH_MAX_RUNS

__all__ = ["router"]

router = APIRouter(tags=["config"])


@router.get("/config/")
def read_config(request: Request) -> dict[str, Any]:
    """``otel_endpoint`` (base URL of an OTLP/HTTP receiver, or ``""``), ``tenant_id``, ``tenant_slug``;
    *ours*: ``batch_ingest`` (the batch endpoint's path, relative to the observe base URL) and
    ``batch_max_runs`` (the most runs it takes per request). Clients that do not know these
    fields keep using the per-run endpoints.

    Without ``--otel-endpoint``, a server whose own OTLP receiver is mounted (``/v1/traces``)
    names itself, as the client reached it."""
    settings = request.app.state.settings
    endpoint = settings.otel_endpoint
    if not endpoint and getattr(request.app.state, "otlp_traces_path", None):
        endpoint = str(request.base_url).rstrip("/")
    return {
        "otel_endpoint": endpoint,
        "tenant_id": settings.tenant_id,
        "tenant_slug": settings.tenant_slug,
        "batch_ingest": BATCH_INGEST_PATH,
        "batch_max_runs": BATCH_MAX_RUNS,
    }

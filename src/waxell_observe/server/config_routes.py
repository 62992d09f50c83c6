"""``GET config/`` of the wire protocol: where clients should export OTLP traces, and the tenant."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

__all__ = ["router"]

router = APIRouter(tags=["config"])


@router.get("/config/")
def read_config(request: Request) -> dict[str, Any]:
    """``otel_endpoint`` (base URL of an OTLP/HTTP receiver, or ``""``), ``tenant_id``, ``tenant_slug``.

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
    }

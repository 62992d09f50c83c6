"""``GET config/`` of the wire protocol: where clients should export OTLP traces, and the tenant."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

__all__ = ["router"]

router = APIRouter(tags=["config"])


@router.get("/config/")
def read_config(request: Request) -> dict[str, Any]:
    """``otel_endpoint`` (base URL of an OTLP/HTTP receiver, or ``""``), ``tenant_id``, ``tenant_slug``."""
    settings = request.app.state.settings
    return {
        "otel_endpoint": settings.otel_endpoint,
        "tenant_id": settings.tenant_id,
        "tenant_slug": settings.tenant_slug,
    }

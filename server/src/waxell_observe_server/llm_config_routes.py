"""The tenant's LLM configuration over HTTP (``waxell_observe.store.llm_config``). Three routers, each
included by :func:`waxell_observe_server.create_app` behind ``require_key``:

* :data:`router` (wire protocol): ``GET llm-config/manifest/`` — the manifest ``waxell_observe.llm``
  reads, with an ``ETag``; a request whose ``If-None-Match`` names the current tag gets ``304`` and no
  body;
* :data:`admin_router`: ``PUT /api/v1/admin/llm-config/`` — replace the configuration (a bad document
  is rejected whole: 422 ``{"detail", "problems": [...]}``, each problem naming its field);
* :data:`read_router`: ``GET /api/v1/read/llm-config/`` — the stored configuration, when and by whom it
  was stored, and the manifest's current ``etag`` (for the dashboard and the CLI).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from waxell_observe.store.llm_config import (
    LlmConfigError,
    StoredLlmConfig,
    manifest_body,
    manifest_etag,
    read_llm_config,
    replace_llm_config,
)
from waxell_observe_server.approval_routes import _find_key

__all__ = ["MANIFEST_PATH", "admin_router", "etag_matches", "read_router", "router"]

MANIFEST_PATH = "/llm-config/manifest/"
"""The manifest's path under the wire protocol's prefix."""

router = APIRouter(tags=["llm-config"])
admin_router = APIRouter(tags=["admin"])
read_router = APIRouter(tags=["read"])


def _stored(request: Request) -> StoredLlmConfig:
    with request.app.state.store.read() as conn:
        return read_llm_config(conn)


def _manifest(request: Request, stored: StoredLlmConfig) -> dict[str, Any]:
    settings = request.app.state.settings
    return manifest_body(stored, tenant_id=settings.tenant_id, tenant_slug=settings.tenant_slug)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """True when an ``If-None-Match`` header names ``etag`` (weak or strong, in a list, or ``*``)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


@router.get(MANIFEST_PATH, response_model=None)
def read_manifest(request: Request) -> Response:
    """The tenant's LLM manifest: ``schema_version``, ``tenant_id``, ``tenant_slug``, ``generated_at``,
    ``instances``, ``tenant_models``, ``model_groups``, ``capability_overrides`` (empty lists when
    nothing is configured). ``ETag`` header; ``304`` when ``If-None-Match`` names it."""
    body = _manifest(request, _stored(request))
    etag = manifest_etag(body)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return JSONResponse(body, headers=headers)


def _summary(request: Request, stored: StoredLlmConfig) -> dict[str, Any]:
    return {
        "configured": stored.configured,
        "updated_at": stored.updated_at,
        "updated_by": stored.updated_by,
        "etag": manifest_etag(_manifest(request, stored)),
        "counts": stored.counts(),
    }


@admin_router.put("/llm-config/", response_model=None)
def replace_config(request: Request, payload: Annotated[Any, Body()]) -> dict[str, Any] | JSONResponse:
    """Replace the configuration with ``payload`` (the four sections; manifest header fields are
    ignored). Reply: ``configured``, ``updated_at``, ``updated_by`` (the key's name, or ``""`` in local
    mode), ``etag`` (the manifest's new tag) and ``counts`` per section."""
    key = _find_key(request)
    by = key.label if key is not None else ""
    try:
        with request.app.state.store.write() as conn:
            stored = replace_llm_config(conn, payload, updated_by=by)
    except LlmConfigError as exc:
        return JSONResponse(status_code=422, content={"detail": str(exc), "problems": exc.problems})
    return _summary(request, stored)


@read_router.get("/llm-config/")
def read_config(request: Request) -> dict[str, Any]:
    """The stored configuration: ``configured``, ``updated_at`` (UNIX seconds or ``null``),
    ``updated_by``, ``etag``, ``counts``, and the four sections."""
    stored = _stored(request)
    return {**_summary(request, stored), **stored.document}

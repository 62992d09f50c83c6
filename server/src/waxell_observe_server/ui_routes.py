"""The dashboard's routes: the single-page app at ``/``, its static files, and a model catalog
endpoint the Context tab needs.

The page and its files carry no data and need no key (so the sign-in form can load); the
data endpoint authenticates exactly like the read API (``require_key``).

The server app includes :data:`router` when this module is importable. Everything the
dashboard shows comes from the read API (``/api/v1/read/``, see ``docs/read-api.md``); the
only data endpoint added here is ``GET /api/v1/ui/models/``, which answers the context
window (and provider) of model names from :mod:`waxell_observe.pricing`, so the Context tab
can draw per-call context utilization.

Static files are read from ``ui/static/`` next to this module, kept in memory keyed by their
modification time, and served with an ``ETag`` (``304`` on a match) and ``Cache-Control:
no-cache``, so a new version of a file is picked up on the next load. Every response of
this router carries a strict Content-Security-Policy: scripts, styles and connections only
from this origin, no inline script, no framing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from waxell_observe.pricing import context_window, infer_provider, lookup
from waxell_observe_server.auth import require_key

__all__ = [
    "MAX_MODELS_PER_REQUEST",
    "MODELS_PATH",
    "SECURITY_HEADERS",
    "STATIC_DIR",
    "STATIC_PREFIX",
    "model_info",
    "router",
    "static_file",
]

logger = logging.getLogger("waxell_observe_server")

STATIC_DIR = Path(__file__).resolve().parent / "ui" / "static"
"""Where the dashboard's files live (hand-written HTML, CSS, JavaScript and SVG)."""

STATIC_PREFIX = "/ui/static/"
"""URL prefix of the dashboard's static files."""

MODELS_PATH = "/api/v1/ui/models/"
"""The model catalog endpoint used by the Context tab."""

MAX_MODELS_PER_REQUEST = 200
_MAX_MODEL_NAME = 256

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".ico": "image/x-icon",
    ".png": "image/png",
    ".woff2": "font/woff2",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
"""Headers on every page and asset of the dashboard."""


# -- static files -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Asset:
    body: bytes
    content_type: str
    etag: str
    mtime_ns: int


_cache: dict[Path, _Asset] = {}
_cache_lock = threading.Lock()


def static_file(relative: str) -> _Asset | None:
    """The static file at ``relative`` (a path under :data:`STATIC_DIR`), or ``None``.

    Paths that leave the directory, hidden files and unknown file types are ``None``.
    """
    if not relative or "\\" in relative or "\x00" in relative:
        return None
    parts = relative.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    path = STATIC_DIR.joinpath(*parts)
    content_type = _CONTENT_TYPES.get(path.suffix.lower())
    if content_type is None:
        return None
    try:
        resolved = path.resolve()
        if not resolved.is_relative_to(STATIC_DIR) or not resolved.is_file():
            return None
        mtime_ns = resolved.stat().st_mtime_ns
    except OSError:
        return None
    cached = _cache.get(resolved)
    if cached is not None and cached.mtime_ns == mtime_ns:
        return cached
    try:
        body = resolved.read_bytes()
    except OSError:
        logger.exception("waxell-observe: cannot read dashboard file %s", resolved)
        return None
    asset = _Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', mtime_ns)
    with _cache_lock:
        _cache[resolved] = asset
    return asset


def _asset_response(request: Request, asset: _Asset) -> Response:
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": "no-cache"}
    if_none_match = request.headers.get("if-none-match", "")
    if asset.etag in (tag.strip() for tag in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(content=asset.body, media_type=asset.content_type, headers=headers)


# -- model catalog --------------------------------------------------------------------------


def model_info(model: str) -> dict[str, Any]:
    """What the dashboard needs to know about ``model``: provider and context window."""
    info = lookup(model)
    return {
        "model": model,
        "known": info is not None,
        "provider": info.provider if info is not None else infer_provider(model),
        "context_window": context_window(model),
    }


# -- the router -----------------------------------------------------------------------------

router = APIRouter(include_in_schema=True)
"""Routes of the dashboard: ``/``, ``/ui/static/{path}`` and ``/api/v1/ui/models/``."""


@router.get("/", include_in_schema=False)
def index(request: Request) -> Response:
    """The dashboard (a hash-routed single-page app)."""
    asset = static_file("index.html")
    if asset is None:
        logger.error("waxell-observe: dashboard files are missing from %s", STATIC_DIR)
        return JSONResponse(
            {"detail": f"the dashboard is not installed: {STATIC_DIR / 'index.html'} is missing"},
            status_code=404,
        )
    return _asset_response(request, asset)


@router.get(STATIC_PREFIX + "{path:path}", include_in_schema=False)
def static(path: str, request: Request) -> Response:
    """One file of the dashboard."""
    asset = static_file(path)
    if asset is None:
        return JSONResponse({"detail": f"no dashboard file {path!r}"}, status_code=404)
    return _asset_response(request, asset)


@router.get(MODELS_PATH, dependencies=[Depends(require_key)], tags=["dashboard"])
def models(model: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    """Provider and context window of each ``model`` (repeat the parameter for several).

    Unknown models answer ``"known": false`` and ``"context_window": null``.
    """
    names = list(dict.fromkeys(model or []))
    if len(names) > MAX_MODELS_PER_REQUEST:
        raise HTTPException(
            status_code=422,
            detail=f"model: at most {MAX_MODELS_PER_REQUEST} names per request, got {len(names)}",
        )
    for name in names:
        if not name.strip() or len(name) > _MAX_MODEL_NAME:
            raise HTTPException(
                status_code=422,
                detail=f"model: each name must be 1 to {_MAX_MODEL_NAME} characters, got {name[:40]!r}",
            )
    return {"models": [model_info(name) for name in names]}

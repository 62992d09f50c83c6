"""Prompts in the read API (``/api/v1/read/``, see ``docs/read-api.md``): the managed prompts, and
each version's text and usage (runs, LLM calls, cost, scores) for the dashboard's Prompts page.

* ``GET prompts/`` — every prompt (a page of them, by name);
* ``GET prompts/{name}/`` — one prompt with every version, newest first, and its usage; 404 when unknown.

The wire protocol's ``GET /api/v1/observe/prompts/{name}/`` (``prompt_routes``) serves one version to
agents; these routes are for people looking at them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from waxell_observe.store.prompt_usage import prompt_overview, prompt_usage
from waxell_observe_server.sanitize import clean_text

__all__ = ["router"]

router = APIRouter(tags=["read"])

_MAX_OFFSET = 1_000_000_000


@router.get("/prompts/")
def prompts_list(
    request: Request,
    limit: int = Query(default=100, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=_MAX_OFFSET),
    search: str = Query(default="", max_length=256, description="part of the name"),
) -> dict[str, Any]:
    """Prompts by name (those whose name contains ``search``): type and number of the newest
    version, how many versions, labels, when created and last changed, how many runs used it and
    when last."""
    with request.app.state.store.read() as conn:
        page, total = prompt_overview(conn, limit=limit, offset=offset, search=clean_text(search))
    return {"prompts": page, "total": total, "limit": limit, "offset": offset}


@router.get("/prompts/{name}/")
def prompt_detail(
    name: str,
    request: Request,
    recent: int = Query(default=10, ge=0, le=100, description="newest runs listed per version"),
) -> dict[str, Any]:
    """One prompt: every version (text, config, labels, hash) with the runs that used it, their LLM
    calls, tokens, cost and mean scores, and the newest ``recent`` of them; 404 when unknown."""
    name = clean_text(name)
    with request.app.state.store.read() as conn:
        prompt = prompt_usage(conn, name, recent=recent)
    if prompt is None:
        raise HTTPException(status_code=404, detail=f"unknown prompt {name[:256]!r}")
    return prompt

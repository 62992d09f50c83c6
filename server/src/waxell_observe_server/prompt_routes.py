"""``GET prompts/{name}/?label=&version=`` of the wire protocol."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from waxell_observe.store.prompts import get_prompt
from waxell_observe_server.limits import MAX_INT
from waxell_observe_server.sanitize import clean_text

__all__ = ["router"]

router = APIRouter(tags=["prompts"])


@router.get("/prompts/{name}/")
def read_prompt(
    name: str,
    request: Request,
    label: str | None = Query(default=None, max_length=256),
    version: int | None = Query(default=None, ge=1, le=MAX_INT),
) -> dict[str, Any]:
    """A prompt's ``name, version, prompt_type, content, config, labels, content_hash``; 404 when unknown."""
    name = clean_text(name)
    with request.app.state.store.read() as conn:
        prompt = get_prompt(conn, name, label=clean_text(label) if label else None, version=version)
    if prompt is None:
        wanted = "".join(
            part for part in (f" version {version}" if version else "", f" label {label!r}" if label else "")
        )
        raise HTTPException(status_code=404, detail=f"unknown prompt {name!r}{wanted}")
    return prompt

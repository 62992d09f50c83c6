"""Error replies: always a JSON object with ``detail``; 4xx for bad input, 5xx only for server faults.

* validation errors → 422 ``{"detail": [{"loc", "msg", "type"}...], "message": "calls.0.model: ..."}``
  (the offending input is not echoed back);
* HTTP errors (401, 404, 405, 413, ...) → ``{"detail": ...}``;
* the database unavailable or locked for too long → 503 with ``Retry-After`` (clients retry);
* anything else → 500 ``{"detail": "internal server error"}``, logged with its traceback.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["install_error_handlers", "CatchAllMiddleware", "validation_message"]

logger = logging.getLogger("waxell_observe_server")


def _loc(loc: Any) -> str:
    parts = [str(p) for p in (loc or ())]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where = parts[0]
        parts = parts[1:]
        if not parts:
            return where
        return ".".join(parts) if where == "body" else f"{where} parameter {'.'.join(parts)}"
    return ".".join(parts)


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One line naming each invalid field: ``"calls.0.model: Field required; ..."``."""
    parts = []
    for error in errors[:20]:
        if error.get("type") == "json_invalid":
            parts.append(f"body: invalid JSON ({error.get('msg', '')})")
        else:
            parts.append(f"{_loc(error.get('loc'))}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def _msg(error: dict[str, Any]) -> str:
    message = str(error.get("msg", ""))
    detail = (error.get("ctx") or {}).get("error")
    if error.get("type") == "json_invalid" and detail:
        message = f"{message}: {detail}"
    return message


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": _msg(e), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": errors, "message": validation_message(errors)})


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = getattr(exc, "headers", None)
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail}, headers=headers)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        logger.error(
            "waxell-observe server: database unavailable for %s %s: %s",
            request.method,
            request.url.path,
            str(exc).splitlines()[0],
        )
        return JSONResponse(
            status_code=503,
            content={"detail": "database unavailable, retry later"},
            headers={"Retry-After": "1"},
        )
    logger.error(
        "waxell-observe server: database error on %s %s", request.method, request.url.path, exc_info=exc
    )
    return JSONResponse(status_code=500, content={"detail": "internal server error"})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_middleware(CatchAllMiddleware)


class CatchAllMiddleware:
    """Turns any exception that escaped the handlers into a logged JSON 500 (if no reply was started)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception(
                "waxell-observe server: unhandled error on %s %s", scope.get("method"), scope.get("path")
            )
            if started:
                raise
            body = json.dumps({"detail": "internal server error"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})

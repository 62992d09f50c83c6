"""The control-plane application: ``create_app(store_url) -> FastAPI``.

Routes:

* ``/api/v1/observe/`` — the wire protocol (``docs/wire-protocol.md``): ingest, policies,
  prompts, config, events, and the extensions (daily runs, live previews, prompt guard);
* ``/api/v1/read/`` — the read API (``docs/read-api.md``);
* ``/openapi.json`` and ``/docs``; ``/healthz`` (no key needed).

Trailing slashes are exact and the app never redirects. Optional routers (the dashboard,
the OTLP receiver) are included when their modules can be imported; see
:data:`OPTIONAL_ROUTER_MODULES`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from waxell_observe.config import db_url_from
from waxell_observe.store import get_store
from waxell_observe_server import (
    approval_routes,
    batch_routes,
    config_routes,
    evaluation_routes,
    extension_routes,
    ingest_routes,
    llm_config_routes,
    memory_routes,
    policy_admin_routes,
    policy_routes,
    prompt_read_routes,
    prompt_routes,
    read_routes,
)
from waxell_observe_server.auth import KeyRing, require_key
from waxell_observe_server.body_limit import BodySizeLimitMiddleware
from waxell_observe_server.errors import install_error_handlers
from waxell_observe_server.limits import DEFAULT_MAX_BODY_BYTES
from waxell_observe_server.transactions import Writer

__all__ = ["create_app", "ServerSettings", "OPTIONAL_ROUTER_MODULES", "OBSERVE_PREFIX", "READ_PREFIX"]

logger = logging.getLogger("waxell_observe_server")

OBSERVE_PREFIX = "/api/v1/observe"
READ_PREFIX = "/api/v1/read"

OPTIONAL_ROUTER_MODULES: tuple[str, ...] = (
    "waxell_observe_server.ui_routes",
    "waxell_observe_server.otlp.route",
)
"""Modules tried at startup. Each may define ``router`` (an ``APIRouter``, included as is; use
``waxell_observe_server.auth.require_key`` as a dependency to protect it) and/or
``install(app)`` (called with the app). A module that is not there is skipped; one that fails
to import or install is logged and skipped."""


@dataclass(frozen=True)
class ServerSettings:
    """What the routes need to know about the server (``app.state.settings``)."""

    store_url: str
    allow_local: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    otel_endpoint: str = ""
    tenant_id: str = "local"
    tenant_slug: str = "local"
    key_cache_seconds: float = 1.0


def _include_optional(app: FastAPI, modules: Iterable[str]) -> list[str]:
    included = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                logger.debug("waxell-observe server: optional module %s is not installed", name)
            else:
                logger.error("waxell-observe server: cannot import %s: %s", name, exc)
            continue
        except Exception:
            logger.exception("waxell-observe server: cannot import %s", name)
            continue
        try:
            router = getattr(module, "router", None)
            if isinstance(router, APIRouter):
                app.include_router(router)
            install = getattr(module, "install", None)
            if callable(install):
                install(app)
        except Exception:
            logger.exception("waxell-observe server: cannot install %s", name)
            continue
        included.append(name)
    return included


def create_app(
    store_url: str,
    *,
    allow_local: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    otel_endpoint: str = "",
    tenant_id: str = "local",
    tenant_slug: str = "local",
    key_cache_seconds: float = 1.0,
    optional_routers: Sequence[str] = OPTIONAL_ROUTER_MODULES,
    extra_routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """Build the control-plane app over the store at ``store_url``.

    ``store_url``: a SQLAlchemy URL, a ``postgresql://`` URL or a SQLite file path (the
    schema is created if missing). ``allow_local``: accept requests without a key while no
    key exists (give ``False`` when not bound to loopback). ``max_body_bytes``: larger
    request bodies get 413. ``otel_endpoint``/``tenant_*``: what ``GET config/`` tells
    clients. ``key_cache_seconds``: how long the set of active keys is cached.
    ``optional_routers``: module names tried (see :data:`OPTIONAL_ROUTER_MODULES`);
    ``extra_routers``: routers included as given.
    """
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be >= 1, got {max_body_bytes}")
    url = db_url_from(store_url)
    settings = ServerSettings(
        store_url=url,
        allow_local=allow_local,
        max_body_bytes=max_body_bytes,
        otel_endpoint=otel_endpoint,
        tenant_id=tenant_id,
        tenant_slug=tenant_slug,
        key_cache_seconds=key_cache_seconds,
    )
    app = FastAPI(
        title="waxell-observe control plane",
        version=_version(),
        description="Wire protocol (`/api/v1/observe/`) and read API (`/api/v1/read/`) of waxell-observe.",
        redirect_slashes=False,
    )
    store = get_store(url)
    app.state.settings = settings
    app.state.store = store
    app.state.writer = Writer(store)
    app.state.keyring = KeyRing(store, allow_local=allow_local, cache_seconds=key_cache_seconds)

    observe = APIRouter(prefix=OBSERVE_PREFIX, dependencies=[Depends(require_key)])
    for module in (
        ingest_routes,
        extension_routes,
        batch_routes,
        policy_routes,
        prompt_routes,
        config_routes,
        approval_routes,
        evaluation_routes,
        llm_config_routes,
    ):
        observe.include_router(module.router)
    app.include_router(observe)
    app.include_router(read_routes.router, prefix=READ_PREFIX, dependencies=[Depends(require_key)])
    app.include_router(evaluation_routes.read_router, prefix=READ_PREFIX, dependencies=[Depends(require_key)])
    app.include_router(
        policy_admin_routes.admin_router,
        prefix=policy_admin_routes.ADMIN_PREFIX,
        dependencies=[Depends(require_key)],
    )
    app.include_router(approval_routes.read_router, prefix=READ_PREFIX, dependencies=[Depends(require_key)])
    app.include_router(prompt_read_routes.router, prefix=READ_PREFIX, dependencies=[Depends(require_key)])
    app.include_router(memory_routes.router, dependencies=[Depends(require_key)])
    app.include_router(llm_config_routes.read_router, prefix=READ_PREFIX, dependencies=[Depends(require_key)])
    app.include_router(
        llm_config_routes.admin_router,
        prefix=policy_admin_routes.ADMIN_PREFIX,
        dependencies=[Depends(require_key)],
    )
    app.include_router(memory_routes.read_router, prefix=READ_PREFIX, dependencies=[Depends(require_key)])
    app.include_router(
        approval_routes.decision_router,
        prefix=policy_admin_routes.ADMIN_PREFIX,
        dependencies=[Depends(require_key)],
    )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    for router in extra_routers:
        app.include_router(router)
    app.state.optional_routers = _include_optional(app, optional_routers)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    return app


def _version() -> str:
    try:
        return version("waxell-observe")
    except Exception:
        return "0"

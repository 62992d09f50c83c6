"""The app itself: published OpenAPI, every spec path present, optional routers included when
importable (and a broken one logged, not fatal)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from waxell_observe_server import OPTIONAL_ROUTER_MODULES, create_app

SPEC_PATHS = {
    ("post", "/api/v1/observe/policy-check/"),
    ("get", "/api/v1/observe/policy-manifest/"),
    ("post", "/api/v1/observe/runs/start/"),
    ("post", "/api/v1/observe/runs/{run_id}/llm-calls/"),
    ("post", "/api/v1/observe/runs/{run_id}/steps/"),
    ("post", "/api/v1/observe/runs/{run_id}/spans/"),
    ("post", "/api/v1/observe/runs/{run_id}/scores/"),
    ("post", "/api/v1/observe/runs/{run_id}/complete/"),
    ("post", "/api/v1/observe/events/"),
    ("post", "/api/v1/observe/governance-decision/"),
    ("get", "/api/v1/observe/prompts/{name}/"),
    ("get", "/api/v1/observe/config/"),
}
READ_PATHS = {
    f"/api/v1/read/{p}"
    for p in ("runs/", "runs/{run_id}/", "sessions/", "sessions/{session_id}/", "users/", "users/{user_id}/",
              "costs/", "policies/", "audit/", "agents/")
}  # fmt: skip


def test_openapi_lists_every_endpoint(tmp_path: Path) -> None:
    with TestClient(create_app(str(tmp_path / "a.db"))) as client:
        schema = client.get("/openapi.json").json()
        published = {(method, path) for path, item in schema["paths"].items() for method in item}
        assert published >= SPEC_PATHS
        assert {path for _method, path in published} >= READ_PATHS
        assert all(path.endswith("/") for _method, path in published if path.startswith("/api/"))
        assert client.get("/docs").status_code == 200


def test_optional_routers_are_included_when_importable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert OPTIONAL_ROUTER_MODULES == ("waxell_observe_server.ui_routes", "waxell_observe_server.otlp.route")
    (tmp_path / "extra_ui_router.py").write_text(
        "from fastapi import APIRouter\n"
        "router = APIRouter()\n"
        "@router.get('/ui/')\n"
        "def ui():\n"
        "    return {'ui': True}\n"
        "def install(app):\n"
        "    app.state.installed = True\n"
    )
    (tmp_path / "broken_router.py").write_text("raise RuntimeError('broken on import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    caplog.set_level(logging.DEBUG, logger="waxell_observe_server")
    app = create_app(
        str(tmp_path / "o.db"), optional_routers=("extra_ui_router", "broken_router", "no_such_router_module")
    )
    assert app.state.optional_routers == ["extra_ui_router"]
    assert app.state.installed is True
    with TestClient(app) as client:
        assert client.get("/ui/").json() == {"ui": True}
    assert "cannot import broken_router" in caplog.text
    assert "optional module no_such_router_module is not installed" in caplog.text
    for name in ("extra_ui_router", "broken_router"):
        sys.modules.pop(name, None)


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_body_bytes must be >= 1"):
        create_app(str(tmp_path / "x.db"), max_body_bytes=0)


@pytest.mark.postgres
def test_database_unavailable_is_503_with_retry_after(postgres_server: object) -> None:
    """A store that went away is a server fault clients should retry: 503, JSON, Retry-After."""
    from waxell_observe.config import db_url_from

    name = postgres_server.create_database()  # type: ignore[attr-defined]
    app = create_app(db_url_from(postgres_server.url(name)))  # type: ignore[attr-defined]
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/api/v1/observe/runs/start/", json={"agent_name": "a"}).status_code == 201
        postgres_server.drop_database(name)  # type: ignore[attr-defined]
        response = client.post("/api/v1/observe/runs/start/", json={"agent_name": "a"})
        assert (response.status_code, response.json()) == (
            503,
            {"detail": "database unavailable, retry later"},
        )
        assert response.headers["retry-after"] == "1"
        assert client.get("/api/v1/read/runs/").status_code == 503

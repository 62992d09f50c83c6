"""The dashboard's routes and the ``waxell-observe ui`` command, without a browser: static files,
security headers, the model catalog endpoint, and static checks of the hand-written assets."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from waxell_observe_server.ui_routes import MAX_MODELS_PER_REQUEST, STATIC_DIR

JS_IMPORT = re.compile(r'^import\s[^"]*"(\./[^"]+|\.\./[^"]+)";', re.MULTILINE)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient
    from waxell_observe_server.app import create_app

    with TestClient(create_app(str(tmp_path / "routes.db"), key_cache_seconds=0)) as test_client:
        yield test_client


def test_index_and_security_headers(client: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/ui/static/js/app.js"></script>' in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"


def test_every_module_the_app_imports_is_served(client: Any) -> None:
    pending = ["js/app.js"]
    seen: set[str] = set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        response = client.get("/ui/static/" + path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        for target in JS_IMPORT.findall(response.text):
            pending.append(os.path.normpath(os.path.join(os.path.dirname(path), target)))
    on_disk = {str(p.relative_to(STATIC_DIR)) for p in STATIC_DIR.rglob("*.js")}
    assert seen == on_disk  # every module is reachable from app.js, none is missing
    assert client.get("/ui/static/style.css").headers["content-type"] == "text/css; charset=utf-8"
    assert client.get("/ui/static/favicon.svg").headers["content-type"] == "image/svg+xml"


def test_etag_revalidation(client: Any) -> None:
    first = client.get("/ui/static/style.css")
    etag = first.headers["etag"]
    again = client.get("/ui/static/style.css", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    changed = client.get("/ui/static/style.css", headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200 and changed.content == first.content


SECRET = '{"not": "for the dashboard"}'


@pytest.fixture
def static_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A static directory of its own, with files of a served type around it: one next to it,
    one linked from inside it, one hidden in it."""
    from waxell_observe_server import ui_routes

    site = tmp_path / "site"
    static = site / "static"
    (static / "js").mkdir(parents=True)
    (static / "js" / "app.js").write_text("export {};\n")
    (site / "secret.json").write_text(SECRET)
    (static / "linked.json").symlink_to(site / "secret.json")
    (static / ".hidden.json").write_text(SECRET)
    monkeypatch.setattr(ui_routes, "STATIC_DIR", static)
    return static


def test_the_static_tree_is_served(client: Any, static_tree: Path) -> None:
    # the counterpart of the refusals below: the same tree does serve what is inside it
    assert client.get("/ui/static/js/app.js").text == "export {};\n"


@pytest.mark.parametrize(
    "path",
    [
        "/ui/static/%2e%2e/secret.json",  # a parent part, as the route receives it (decoded)
        "/ui/static/js/%2e%2e/%2e%2e/secret.json",
        "/ui/static/linked.json",  # inside, but resolves outside
        "/ui/static/.hidden.json",
        "/ui/static/js/app.py",
        "/ui/static/js/",
        "/ui/static/no-such-file.js",
        "/ui/static/js//app.js",
    ],
)
def test_static_files_stay_inside_their_directory(client: Any, static_tree: Path, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "for the dashboard" not in response.text


def test_model_catalog_endpoint(client: Any) -> None:
    reply = client.get(
        "/api/v1/ui/models/",
        params=[("model", "gpt-4o"), ("model", "claude-sonnet-4-5-20250929"), ("model", "my-model")],
    )
    assert reply.status_code == 200
    assert reply.json() == {
        "models": [
            {"model": "gpt-4o", "known": True, "provider": "openai", "context_window": 128000},
            {
                "model": "claude-sonnet-4-5-20250929",
                "known": True,
                "provider": "anthropic",
                "context_window": 200000,
            },
            {"model": "my-model", "known": False, "provider": "", "context_window": None},
        ]
    }
    assert client.get("/api/v1/ui/models/").json() == {"models": []}
    too_many = [("model", f"m{i}") for i in range(MAX_MODELS_PER_REQUEST + 1)]
    reply = client.get("/api/v1/ui/models/", params=too_many)
    assert reply.status_code == 422
    assert reply.json()["detail"] == f"model: at most 200 names per request, got {MAX_MODELS_PER_REQUEST + 1}"
    reply = client.get("/api/v1/ui/models/", params=[("model", "x" * 300)])
    assert reply.status_code == 422
    assert reply.json()["detail"].startswith("model: each name must be 1 to 256 characters")


def test_model_catalog_needs_a_key_when_keys_exist(client: Any) -> None:
    from waxell_observe.store.keys import create_key

    key, _ = create_key(client.app.state.store)
    assert client.get("/api/v1/ui/models/", params={"model": "gpt-4o"}).status_code == 401
    assert (
        client.get("/api/v1/ui/models/", params={"model": "gpt-4o"}, headers={"X-Wax-Key": key}).status_code
        == 200
    )
    assert client.get("/").status_code == 200  # the page itself carries no data: the sign-in form must load


def test_assets_are_offline_and_never_parse_markup() -> None:
    texts = {str(p.relative_to(STATIC_DIR)): p.read_text() for p in STATIC_DIR.rglob("*") if p.is_file()}
    assert {"index.html", "style.css", "favicon.svg", "js/app.js"} <= set(texts)
    for name, text in texts.items():
        for url in re.findall(r"https?://[^\s\"')]+", text):
            assert url == "http://www.w3.org/2000/svg", (
                f"{name} refers to {url}: every asset must be served by us"
            )
        if name.endswith(".js"):
            for forbidden in (
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
            ):
                assert forbidden not in text, f"{name} uses {forbidden}"
    assert "<script>" not in texts["index.html"]  # no inline script: the CSP forbids it


# -- waxell-observe ui --------------------------------------------------------------------


def _seed(db: str) -> str:
    from dashboard_server import record_into

    from waxell_observe import WaxellContext

    def record() -> str:
        with WaxellContext(agent_name="cli-agent", enforce_policy=False) as ctx:
            ctx.record_llm_call(model="gpt-4o", tokens_in=1000, tokens_out=500)
            return ctx.run_id

    return record_into(db, record)


def _start_ui(db: str, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    environment = {**os.environ, "WAXELL_DB": db, **(env or {})}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "waxell-observe"), "ui", *args],
        env=environment,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    match = re.search(r"dashboard: (http://127\.0\.0\.1:\d+/)", line)
    assert match, line
    url = match.group(1)
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "healthz", timeout=1)
            break
        except httpx.TransportError:
            assert process.poll() is None and time.monotonic() < deadline, "waxell-observe ui did not start"
            time.sleep(0.05)
    return process, url


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=20)


def test_ui_command_serves_the_embedded_store(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    run_id = _seed(db)
    process, url = _start_ui(db, "--no-browser", "--port", "0")
    try:
        assert url.startswith("http://127.0.0.1:")
        page = httpx.get(url)
        assert page.status_code == 200 and 'src="/ui/static/js/app.js"' in page.text
        runs = httpx.get(url + "api/v1/read/runs/").json()
        assert [r["run_id"] for r in runs["runs"]] == [run_id]
        assert runs["totals"]["cost"] == 0.0075  # gpt-4o, 1000 in / 500 out
    finally:
        assert _stop(process) == 0


def test_ui_command_opens_a_browser(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    _seed(db)
    opened = tmp_path / "opened.txt"
    fake_browser = tmp_path / "fake-browser"
    fake_browser.write_text(f"#!/bin/sh\nprintf '%s' \"$1\" > {opened}\n")
    fake_browser.chmod(0o755)
    process, url = _start_ui(db, "--port", "0", env={"BROWSER": f"{fake_browser} %s", "DISPLAY": ""})
    try:
        deadline = time.monotonic() + 20
        while not (opened.exists() and opened.read_text()):
            assert time.monotonic() < deadline, "no browser was opened"
            time.sleep(0.05)
        assert opened.read_text() == url
    finally:
        assert _stop(process) == 0


def test_ui_port_choice() -> None:
    from waxell_observe.cli.ui import DEFAULT_PORT, bind_socket

    blocker = socket.socket()
    try:
        try:
            blocker.bind(("127.0.0.1", DEFAULT_PORT))
            blocker.listen(1)
        except OSError:
            pass  # already taken by something else: the same situation
        sock = bind_socket(None)  # the default port is busy: any free port
        try:
            assert sock.getsockname()[1] != DEFAULT_PORT
        finally:
            sock.close()
        with pytest.raises(click.ClickException) as error:
            bind_socket(DEFAULT_PORT)  # an explicit busy port is an error
        assert error.value.message == (
            f"cannot listen on 127.0.0.1 port {DEFAULT_PORT}: "
            "it is already in use; choose another with --port"
        )
    finally:
        blocker.close()


def test_ui_command_help() -> None:
    from click.testing import CliRunner

    from waxell_observe.cli import main

    result = CliRunner().invoke(main, ["ui", "--help"])
    assert result.exit_code == 0
    assert "--no-browser" in result.output and "--port" in result.output and "--db" in result.output

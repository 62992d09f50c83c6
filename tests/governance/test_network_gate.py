"""The network gate of ``init()`` (spec §5.1 step 7): real ``httpx`` clients (sync and async) sending to a
real HTTP server on 127.0.0.1; a ``network`` policy in the test's store refuses a host before the request
leaves (the server never sees it), other hosts pass, ``WAXELL_SURFACE_GATE=off`` installs nothing, and
``shutdown()`` restores ``httpx``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

import waxell_observe
from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import forget, network
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.initialization import _reset_for_tests
from waxell_observe.store import get_store

Reader = Callable[[str], dict[str, Any]]

POLICY = """
policies:
  - name: no-localhost
    category: network
    scope: {agents: [fetcher]}
    rules: {blocked_domains: [localhost]}
"""


class Server:
    """A plain HTTP server on 127.0.0.1 that answers ``ok`` and remembers each path it was asked."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        seen = self.paths

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                seen.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    made = Server()
    yield made
    made.close()


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("WAXELL_SURFACE_GATE", "WAXELL_GATE_FAIL_CLOSED", "WAXELL_AGENT_NAME", "WAXELL_WORKFLOW"):
        monkeypatch.delenv(name, raising=False)
    _reset_for_tests()
    forget()
    yield
    _reset_for_tests()
    forget()
    assert not network.installed()


def _policies() -> None:
    add_policies(get_store(get_config().db_url), load_policies(POLICY))


def test_a_refused_host_is_never_sent_to(server: Server, read_run: Reader) -> None:
    _policies()
    waxell_observe.init(instrument=[])
    assert network.installed()
    with WaxellContext(agent_name="fetcher") as ctx:
        assert httpx.get(server.url("127.0.0.1", "/allowed"), timeout=10).text == "ok"
        with pytest.raises(PolicyViolationError) as refused:
            httpx.get(server.url("localhost", "/refused"), timeout=10)
        with httpx.Client(timeout=10) as client, pytest.raises(PolicyViolationError):
            client.post(server.url("localhost", "/posted"), json={"a": 1})
    assert str(refused.value) == "Host 'localhost' is blocked"
    assert server.paths == ["/allowed"]
    run = read_run(ctx.run_id)
    assert run["status"] == "blocked"
    assert [
        (s["name"], s["attributes"]["action"], s["attributes"]["metadata"]["surface"])
        for s in run["spans"]
        if s["kind"] == "policy"
    ] == [("no-localhost", "block", "network.before")] * 2


def test_async_clients_are_gated_too(server: Server) -> None:
    _policies()
    waxell_observe.init(instrument=[])

    async def fetch() -> list[str]:
        answers = []
        async with httpx.AsyncClient(timeout=10) as client:
            answers.append((await client.get(server.url("127.0.0.1", "/a"))).text)
            try:
                await client.get(server.url("localhost", "/b"))
            except PolicyViolationError as error:
                answers.append(str(error))
        return answers

    with WaxellContext(agent_name="fetcher"):
        assert asyncio.run(fetch()) == ["ok", "Host 'localhost' is blocked"]
    assert server.paths == ["/a"]


def test_other_agents_and_the_process_identity(server: Server) -> None:
    _policies()
    waxell_observe.init(instrument=[], agent_name="fetcher")
    with WaxellContext(agent_name="someone-else"):  # the policy is scoped to the fetcher
        assert httpx.get(server.url("localhost", "/other-agent"), timeout=10).text == "ok"
    with pytest.raises(PolicyViolationError):  # outside a run: the process is the fetcher
        httpx.get(server.url("localhost", "/outside"), timeout=10)
    assert server.paths == ["/other-agent"]


def test_gates_off_install_nothing(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    _policies()
    monkeypatch.setenv("WAXELL_SURFACE_GATE", "off")
    waxell_observe.init(instrument=[])
    assert not network.installed()
    with WaxellContext(agent_name="fetcher"):
        assert httpx.get(server.url("localhost", "/ungated"), timeout=10).text == "ok"
    assert server.paths == ["/ungated"]


def test_shutdown_restores_httpx(server: Server) -> None:
    original = httpx.Client.send
    waxell_observe.init(instrument=[])
    assert httpx.Client.send is not original
    waxell_observe.shutdown()
    assert (httpx.Client.send, network.installed()) == (original, False)

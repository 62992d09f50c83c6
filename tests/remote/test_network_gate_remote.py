"""The network gate in remote mode: a policy of the control plane refuses the loopback address, yet the
SDK's own requests to that control plane (manifest, run start, records) pass untouched — only requests to
other servers are gated (the gate asking the control plane is not gated again)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from remote_stubs import ProtocolStub
from test_surface_gates_remote import AGENT, manifest, serve

import waxell_observe
from waxell_observe import WaxellContext
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import forget, network
from waxell_observe.gating.report import wait_for_reports


class Other:
    """Another HTTP server on 127.0.0.1 (not the control plane); remembers each path asked."""

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
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def other() -> Iterator[Other]:
    made = Other()
    yield made
    made.httpd.shutdown()
    made.httpd.server_close()


@pytest.fixture(autouse=True)
def _gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("WAXELL_SURFACE_GATE", "WAXELL_GATE_FAIL_CLOSED", "WAXELL_WORKFLOW"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WAXELL_AGENT_NAME", AGENT)
    forget()
    assert network.install()
    yield
    network.uninstall()
    wait_for_reports(5)
    forget()


def test_the_control_plane_is_not_gated_other_hosts_are(remote: ProtocolStub, other: Other) -> None:
    serve(
        remote,
        manifest(("network.before", "no-loopback", "network", "hybrid", {"blocked_domains": ["127.0.0.1"]})),
    )
    with WaxellContext(agent_name=AGENT) as ctx:
        with pytest.raises(PolicyViolationError) as refused:
            httpx.get(f"http://127.0.0.1:{other.port}/data", timeout=10)
        assert httpx.get(f"http://localhost:{other.port}/by-name", timeout=10).text == "ok"
    assert str(refused.value) == "Host '127.0.0.1' is blocked"
    assert other.paths == ["/by-name"]
    assert waxell_observe.flush_sync(timeout=30).pending == 0
    # the SDK reached its control plane on 127.0.0.1 all along: manifest, run start, completion
    assert remote.requests("policy-manifest/") and remote.requests("runs/start/")
    assert remote.requests(f"runs/{ctx.run_id}/complete/")

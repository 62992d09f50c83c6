"""A GET whose connection the server drops without answering (a kept-alive connection closed as the
request went out) is asked again once on a fresh connection; a POST is not (it may have been taken)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from waxell_observe import WaxellObserveClient
from waxell_observe.transport.errors import ControlPlaneError


class DropFirst:
    """Answers ``{}`` on every connection but the first, which it closes after reading the request."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.requests: list[str] = []
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(65536).decode("latin-1")
                self.requests.append(request.split("\r\n", 1)[0])
                if len(self.requests) == 1:
                    continue  # dropped without a response
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n"
                    b"connection: close\r\n\r\n{}"
                )


@pytest.fixture
def server() -> Iterator[DropFirst]:
    stub = DropFirst()
    yield stub
    stub.sock.close()


def test_a_dropped_get_is_asked_again_once(server: DropFirst) -> None:
    client = WaxellObserveClient(api_url=server.url, api_key="")
    assert client.request_sync("GET", "config/", timeout=5) == {}
    assert server.requests == ["GET /api/v1/observe/config/ HTTP/1.1"] * 2


def test_a_dropped_post_is_not_sent_twice(server: DropFirst) -> None:
    client = WaxellObserveClient(api_url=server.url, api_key="")
    with pytest.raises(ControlPlaneError):
        client.request_sync("POST", "runs/start/", json_body={"agent_name": "a"}, timeout=5)
    assert server.requests == ["POST /api/v1/observe/runs/start/ HTTP/1.1"]

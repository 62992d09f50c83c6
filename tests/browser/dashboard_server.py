"""The real dashboard server for browser tests, and recording runs into a given store.

Plain functions (not fixtures) so tests can start a server on a store of their own:
``from dashboard_server import record_into, start_server, stop_server``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import waxell_observe
from waxell_observe.config import set_config


@dataclass
class Server:
    """A running dashboard: its base URL and the store it reads."""

    url: str
    store_url: str
    thread: threading.Thread
    server: Any


def start_server(store_url: str, **app_options: Any) -> Server:
    """Start the real app on uvicorn in a thread, on a free 127.0.0.1 port; returns once it accepts."""
    import uvicorn
    from waxell_observe_server.app import create_app

    app = create_app(store_url, key_cache_seconds=0, **app_options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="dashboard-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.02)
    return Server(f"http://127.0.0.1:{port}", store_url, thread, server)


def stop_server(server: Server) -> None:
    server.server.should_exit = True
    server.thread.join(timeout=10)


def record_into(db_path: str, record: Callable[[], Any]) -> Any:
    """Run ``record`` (SDK calls) with the embedded store at ``db_path``, flushed before returning."""
    previous = os.environ.get("WAXELL_DB")
    os.environ["WAXELL_DB"] = db_path
    set_config(None)
    try:
        result = record()
        report = waxell_observe.flush_sync(timeout=30)
        assert report.pending == 0, report
        return result
    finally:
        if previous is None:
            os.environ.pop("WAXELL_DB", None)
        else:
            os.environ["WAXELL_DB"] = previous
        set_config(None)

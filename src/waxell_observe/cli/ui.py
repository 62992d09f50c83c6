"""``waxell-observe ui``: the dashboard over the embedded store, on 127.0.0.1, in a browser."""

from __future__ import annotations

import errno
import socket
import threading
import time
from typing import Any

import click

from waxell_observe.cli._server import server_missing
from waxell_observe.cli._store import db_option

__all__ = ["DEFAULT_PORT", "bind_socket", "command"]

DEFAULT_PORT = 8002
"""Port tried first when ``--port`` is not given (``serve`` uses 8001)."""

HOST = "127.0.0.1"
_STARTUP_TIMEOUT_S = 30.0


def bind_socket(port: int | None) -> socket.socket:
    """A listening socket on 127.0.0.1.

    ``port=None``: :data:`DEFAULT_PORT`, or a free port when that one is taken; an explicit
    port (``0`` = any free port) must be free, else :class:`click.ClickException`.
    """
    candidates = [DEFAULT_PORT, 0] if port is None else [port]
    last_error: OSError | None = None
    for candidate in candidates:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((HOST, candidate))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            last_error = exc
            if exc.errno != errno.EADDRINUSE:
                break
            continue
        sock.set_inheritable(True)
        return sock
    what = f"port {port}" if port is not None else f"port {DEFAULT_PORT} or a free port"
    reason = (
        "it is already in use" if last_error and last_error.errno == errno.EADDRINUSE else str(last_error)
    )
    raise click.ClickException(f"cannot listen on {HOST} {what}: {reason}; choose another with --port")


def _open_browser_when_ready(server: Any, url: str) -> None:
    """Wait for uvicorn to accept connections, then open ``url`` in the default browser."""
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while not getattr(server, "started", False):
        if getattr(server, "should_exit", False) or time.monotonic() > deadline:
            return
        time.sleep(0.05)
    import webbrowser

    try:
        opened = webbrowser.open(url)
    except Exception as exc:  # noqa: BLE001 - a missing browser is not an error of the dashboard
        click.echo(f"Could not open a browser ({exc}); open {url} yourself.", err=True)
        return
    if not opened:
        click.echo(f"No browser found; open {url} yourself.", err=True)


@click.command("ui")
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help=f"Port on 127.0.0.1 (default {DEFAULT_PORT}, or a free port when it is busy; 0 = any free port).",
)
@click.option("--no-browser", is_flag=True, help="Do not open a browser; just print the address.")
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    help="Server log level.",
)
@db_option
def command(port: int | None, no_browser: bool, log_level: str, db: str | None) -> None:
    """Open the dashboard on the embedded store (WAXELL_DB, or ~/.waxell/observe.db).

    Serves the dashboard, the read API and the wire protocol on 127.0.0.1 only (local mode:
    no sign-in while no API key exists) and opens it in the default browser. Stop with Ctrl+C.
    """
    try:
        import uvicorn
        from waxell_observe_server.app import create_app
    except ImportError as exc:
        raise server_missing("waxell-observe ui", exc) from None
    from waxell_observe.config import db_url_from, get_config
    from waxell_observe.store import get_store

    url = db_url_from(db) if db else get_config().db_url
    try:
        get_store(url)
    except Exception as exc:  # noqa: BLE001 - reported to the user as a clear message
        raise click.ClickException(f"cannot open the store {url}: {str(exc).splitlines()[0]}") from None
    app = create_app(url, allow_local=True)
    sock = bind_socket(port)
    address = f"http://{HOST}:{sock.getsockname()[1]}/"
    config = uvicorn.Config(app, log_level=log_level, server_header=False, proxy_headers=False)
    server = uvicorn.Server(config)
    click.echo(f"waxell-observe dashboard: {address} (store: {_safe(url)}). Press Ctrl+C to stop.", err=True)
    if not no_browser:
        threading.Thread(
            target=_open_browser_when_ready, args=(server, address), name="waxell-ui-browser", daemon=True
        ).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl+C after a clean shutdown
        pass
    finally:
        sock.close()
    click.echo("waxell-observe dashboard stopped.", err=True)


def _safe(url: str) -> str:
    """``url`` without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - display only
        return url

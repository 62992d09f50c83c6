"""``waxell-observe serve``: run the control plane (wire protocol + read API) on uvicorn."""

from __future__ import annotations

import click

from waxell_observe.cli._server import server_missing
from waxell_observe.config import db_url_from, get_config

__all__ = ["command"]


@click.command("serve")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback: local mode)."
)
@click.option(
    "--port", default=8001, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on."
)
@click.option(
    "--db",
    "db",
    default=None,
    metavar="PATH|URL",
    help="Store: a SQLite path or a postgresql:// URL (default: WAXELL_DB or ~/.waxell/observe.db).",
)
@click.option(
    "--max-body-mb",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Largest accepted request body, in MiB (larger: 413).",
)
@click.option(
    "--otel-endpoint",
    default="",
    envvar="WAXELL_SERVER_OTEL_ENDPOINT",
    help="OTLP/HTTP receiver advertised to clients by GET config/ (env WAXELL_SERVER_OTEL_ENDPOINT).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def command(
    host: str, port: int, db: str | None, max_body_mb: float, otel_endpoint: str, log_level: str
) -> None:
    """Serve the control plane: the wire protocol (/api/v1/observe/), the read API
    (/api/v1/read/) and OpenAPI docs (/docs), on the same store as embedded mode.

    Bound to a loopback address with no API key created, every request is accepted (local
    mode). On any other address a key is required (`waxell-observe keys create`).
    """
    try:
        import uvicorn
        from waxell_observe_server.app import create_app
        from waxell_observe_server.auth import BindRefused, check_bind, is_loopback
    except ImportError as exc:
        raise server_missing(
            "waxell-observe serve", exc, extra=" (and 'waxell-observe[postgres]' for PostgreSQL)"
        ) from None
    from waxell_observe.store import get_store

    url = db_url_from(db) if db else get_config().db_url
    try:
        store = get_store(url)
    except Exception as exc:
        raise click.ClickException(
            f"cannot open the store {_safe(url)}: {str(exc).splitlines()[0]}"
        ) from None
    try:
        check_bind(store, host)
    except BindRefused as exc:
        raise click.ClickException(str(exc)) from None
    local = is_loopback(host)
    app = create_app(
        url, allow_local=local, max_body_bytes=int(max_body_mb * 1024 * 1024), otel_endpoint=otel_endpoint
    )
    click.echo(
        f"waxell-observe control plane on http://{_display(host)}:{port} (store: {_safe(url)}; "
        f"{'local mode while no key exists' if local else 'API key required'})",
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False, server_header=False)


def _display(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _safe(url: str) -> str:
    """``url`` without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url

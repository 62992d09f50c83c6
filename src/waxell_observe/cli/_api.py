"""Talking to a running control plane from the CLI (``--api-url`` / ``--api-key``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["api_call", "api_options"]

F = TypeVar("F", bound=Callable[..., Any])


def api_options(function: F) -> F:
    """``--api-url`` (work against a server instead of the local store) and ``--api-key``."""
    function = click.option(
        "--api-key",
        "api_key",
        default="",
        envvar="WAXELL_API_KEY",
        show_envvar=True,
        help="Key for --api-url (sent as X-Wax-Key).",
    )(function)
    return click.option(
        "--api-url",
        "api_url",
        default="",
        metavar="URL",
        help="Work against the control plane at URL (e.g. http://127.0.0.1:8000) instead of the store.",
    )(function)


def api_call(api_url: str, api_key: str, method: str, path: str, **kwargs: Any) -> Any:
    """Send one request to ``{api_url}{path}``; the JSON reply, or a ClickException saying what failed
    (the server's ``detail`` and, for rejected policies, each problem)."""
    import httpx

    headers = {"X-Wax-Key": api_key} if api_key else {}
    url = api_url.rstrip("/") + path
    try:
        response = httpx.request(method, url, headers=headers, timeout=30.0, **kwargs)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the control plane at {api_url}: {exc}") from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code >= 400:
        detail = data.get("detail") if isinstance(data, dict) else None
        if not isinstance(detail, str):
            detail = response.text[:500] or response.reason_phrase
        raise click.ClickException(f"{method} {path} failed ({response.status_code}): {detail}")
    return data

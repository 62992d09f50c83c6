"""The network gate ``init()`` installs (spec §5.1 step 7): every request an ``httpx`` client sends —
``httpx.Client.send`` and ``httpx.AsyncClient.send``, which every other ``httpx`` call goes through, and
so every SDK built on ``httpx`` (OpenAI, Anthropic, ...) — first passes the ``network.before`` gate with
``{"url": <the request's URL>}``. A ``block`` raises
:class:`~waxell_observe.errors.PolicyViolationError` and the request is never sent.

- Requests to the control plane this process reports to (its ``api_url`` host and port) pass untouched,
  and so does anything sent while the gate itself is deciding (re-entry guard: a gate asking the control
  plane over ``httpx`` is not gated again), and every request of the clients the SDK delivers its records
  with (:func:`own_traffic`: the control plane's, the OTLP exporter's — also to a journal's earlier
  destination or another endpoint than ``api_url``): a policy about where the agent may connect does not
  stop its telemetry.
- ``httpx`` is patched when it is imported (at once when it already is): ``import waxell_observe`` never
  imports it. Nothing is installed when ``WAXELL_SURFACE_GATE`` is ``0``/``false``/``no``/``off``.
- With no policy acting at ``network.before`` for the identity in force (the current run's, else the
  process's), a request costs one :func:`~.evaluate.watching` call.
- :func:`uninstall` (``shutdown()``) puts the original methods back.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from waxell_observe import import_hooks

from . import settings

__all__ = ["install", "installed", "own_traffic", "uninstall"]

logger = logging.getLogger("waxell_observe")

SURFACE = "network.before"
_ORIGINAL = "__waxell_network_gate_original__"
_deciding: contextvars.ContextVar[bool] = contextvars.ContextVar("waxell_network_gate", default=False)
_own_host: tuple[str, tuple[str, int | None]] = ("", ("", None))  # (api_url, its (host, port)), swapped whole
_own_clients: weakref.WeakSet[Any] = weakref.WeakSet()

_Client = TypeVar("_Client")


def own_traffic(client: _Client) -> _Client:
    """Mark ``client`` (an ``httpx.Client`` or ``AsyncClient``) as one the SDK delivers with: its
    requests are never gated. Returns it."""
    _own_clients.add(client)
    return client


def install() -> bool:
    """Gate ``httpx`` requests from now on (when ``httpx`` is imported, or at once). False when the
    surface gates are switched off."""
    if not settings.enabled():
        return False
    import_hooks.when_imported("httpx", _patch)
    return True


def uninstall() -> None:
    """Stop gating: forget the pending patch and restore ``httpx``'s own methods."""
    import_hooks.cancel("httpx", _patch)
    httpx = sys.modules.get("httpx")
    if httpx is None:
        return
    for cls in (httpx.Client, httpx.AsyncClient):
        original = getattr(cls.__dict__.get("send"), _ORIGINAL, None)
        if original is not None:
            cls.send = original


def installed() -> bool:
    """True when ``httpx`` is imported and its clients are gated."""
    httpx = sys.modules.get("httpx")
    return httpx is not None and getattr(httpx.Client.__dict__.get("send"), _ORIGINAL, None) is not None


def _patch(httpx: ModuleType) -> None:
    for cls, wrap in ((httpx.Client, _sync_send), (httpx.AsyncClient, _async_send)):
        send = cls.__dict__.get("send")
        if send is None or getattr(send, _ORIGINAL, None) is not None:
            continue
        gated = wrap(send)
        setattr(gated, _ORIGINAL, send)
        gated.__name__, gated.__qualname__, gated.__doc__ = send.__name__, send.__qualname__, send.__doc__
        cls.send = gated


def _sync_send(send: Callable[..., Any]) -> Callable[..., Any]:
    def gated_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if self not in _own_clients:
            _check(request)
        return send(self, request, *args, **kwargs)

    return gated_send


def _async_send(send: Callable[..., Any]) -> Callable[..., Any]:
    async def gated_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if self not in _own_clients:
            _check(request)
        return await send(self, request, *args, **kwargs)

    return gated_send


def _control_plane() -> tuple[str, int | None]:
    """``(host, port)`` of the control plane this process reports to (``("", None)`` when embedded)."""
    global _own_host
    from waxell_observe.config import get_config

    api_url = get_config().api_url or ""
    cached_url, address = _own_host
    if cached_url != api_url:
        from urllib.parse import urlsplit  # httpx imported it: free here, ~2 ms at init()

        parts = urlsplit(api_url)
        address = ((parts.hostname or "").lower(), parts.port)
        _own_host = (api_url, address)
    return address


def _check(request: Any) -> None:
    """The ``network.before`` gate of one request (``PolicyViolationError`` propagates)."""
    if _deciding.get():
        return
    url = request.url
    host = str(url.host).lower()
    own_host, own_port = _control_plane()
    if own_host and host == own_host and (own_port is None or url.port in (None, own_port)):
        return
    from .evaluate import watching  # the gate machinery: imported at the first request, not by init()
    from .gates import preventive_gate

    token = _deciding.set(True)
    try:
        if not watching(SURFACE):
            return
        preventive_gate(
            None, SURFACE, {"url": str(url)}, default_reason=f"Blocked by {SURFACE} policy ({host})"
        )
    finally:
        _deciding.reset(token)

"""The HTTP layer of the client: pooled connections and one request, failures classified.

Connections are pooled per process for blocking calls (a forked child starts its own pool)
and per (event loop, host) for coroutines. :func:`reply` turns an answer into its JSON
object or the :class:`ControlPlaneError` that says whether a retry may help; the strict
senders here raise it, the wire-protocol methods of the client catch it (``transport.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from waxell_observe.gating.network import own_traffic
from waxell_observe.transport.errors import ControlPlaneError, parse_retry_after

if TYPE_CHECKING:
    import httpx

__all__ = ["API_PREFIX", "DEFAULT_TIMEOUT", "HttpPools", "Request", "reply"]

DEFAULT_TIMEOUT = 10.0
"""Seconds a strict request may take (connect, read, write each), unless the call says otherwise."""

API_PREFIX = "/api/v1/observe/"

_USER_AGENT = "waxell-observe-python"
_DETAIL_CHARS = 300


@dataclass(frozen=True)
class Request:
    """One request, before it is sent. ``path`` is relative to ``{api_url}/api/v1/observe/``
    unless it starts with ``/`` (then it is relative to ``api_url`` itself)."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    params: dict[str, str] | None = None


def headers_for(api_key: str) -> dict[str, str]:
    """The headers of every request: JSON, our user agent, and ``X-Wax-Key`` when there is a key."""
    from waxell_observe import __version__

    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": f"{_USER_AGENT}/{__version__}",
    }
    if api_key:
        headers["X-Wax-Key"] = api_key
    return headers


def url_for(api_url: str, path: str) -> str:
    """The full URL of ``path`` on the control plane at ``api_url``."""
    if not api_url:
        raise ValueError("this client has no api_url: configure api_url to talk to a control plane")
    base = api_url.rstrip("/")
    return base + path if path.startswith("/") else base + API_PREFIX + path


class HttpPools:
    """The pooled HTTP clients of one :class:`~waxell_observe.WaxellObserveClient`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sync: httpx.Client | None = None
        self._sync_pid = 0
        self._async: dict[tuple[int, str], tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = {}

    def sync_client(self) -> httpx.Client:
        """The blocking client of this process (made on first use; a new one after a fork)."""
        pid = os.getpid()
        client = self._sync
        if client is not None and self._sync_pid == pid:
            return client
        import httpx

        with self._lock:
            if self._sync is None or self._sync_pid != pid:
                # After a fork the parent's pooled sockets are not ours: start a fresh pool.
                self._sync = own_traffic(httpx.Client(follow_redirects=False, trust_env=False))
                self._sync_pid = pid
            return self._sync

    def async_client(self, host: str) -> httpx.AsyncClient:
        """The async client of the running event loop for ``host``."""
        import httpx

        loop = asyncio.get_running_loop()
        key = (id(loop), host)
        entry = self._async.get(key)
        if entry is not None and entry[0] is loop:
            return entry[1]
        with self._lock:
            for other, (other_loop, _client) in list(self._async.items()):
                if other_loop.is_closed() or (other[0] == id(loop) and other_loop is not loop):
                    del self._async[other]
            client = own_traffic(httpx.AsyncClient(follow_redirects=False, trust_env=False))
            self._async[key] = (loop, client)
        return client

    def close(self) -> None:
        """Close the blocking pool (async pools close with :meth:`aclose` on their loop)."""
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None and self._sync_pid == os.getpid():
            client.close()

    async def aclose(self) -> None:
        """Close the running loop's async pools and the blocking pool."""
        loop = asyncio.get_running_loop()
        with self._lock:
            mine = [key for key, (owner, _c) in self._async.items() if owner is loop]
            clients = [self._async.pop(key)[1] for key in mine]
        for client in clients:
            await client.aclose()
        self.close()


def encode(body: Any) -> bytes:
    """JSON bytes of ``body``; leaves JSON cannot encode are sent as their ``str()``."""
    return json.dumps(body, default=str, separators=(",", ":")).encode("utf-8")


def transport_error(method: str, path: str, exc: Exception) -> ControlPlaneError:
    """The :class:`ControlPlaneError` of a request that got no answer (timeout, refused, reset)."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        message = f"{method} {path}: no answer within the timeout ({type(exc).__name__})"
    else:
        message = f"{method} {path}: {type(exc).__name__}: {exc}"
    return ControlPlaneError(message, method=method, path=path, retryable=True)


def _detail(content: bytes) -> str:
    text = content.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text[:_DETAIL_CHARS]
    if isinstance(data, dict) and "detail" in data:
        detail = data["detail"]
        return (detail if isinstance(detail, str) else json.dumps(detail))[:_DETAIL_CHARS]
    return text[:_DETAIL_CHARS]


def reply(method: str, path: str, status: int, headers: Mapping[str, str], content: bytes) -> dict[str, Any]:
    """The JSON object of a 2xx reply, or the :class:`ControlPlaneError` that describes the failure."""
    if 200 <= status < 300:
        if not content.strip():
            return {}
        try:
            data = json.loads(content)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
        raise ControlPlaneError(
            f"{method} {path}: HTTP {status} with a reply that is not a JSON object",
            method=method,
            path=path,
            status=status,
            detail=content[:_DETAIL_CHARS].decode("utf-8", "replace"),
            accepted=True,
        )
    detail = _detail(content)
    retry_after = parse_retry_after(headers.get("retry-after"))
    if status == 429 or status >= 500:
        what = f"HTTP 429 (rate limited; retry after {retry_after}s)" if status == 429 else f"HTTP {status}"
        raise ControlPlaneError(
            f"{method} {path}: {what}: {detail}",
            method=method,
            path=path,
            status=status,
            detail=detail,
            retryable=True,
            retry_after=retry_after,
        )
    if 300 <= status < 400:
        where = headers.get("location", "")
        raise ControlPlaneError(
            f"{method} {path}: HTTP {status} redirect to {where!r} "
            "(the protocol never redirects: check api_url)",
            method=method,
            path=path,
            status=status,
            detail=detail,
        )
    raise ControlPlaneError(
        f"{method} {path}: HTTP {status}: {detail}", method=method, path=path, status=status, detail=detail
    )

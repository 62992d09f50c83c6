"""Who may call the API: keys (``X-Wax-Key`` or ``Authorization: Bearer``) or local mode.

* At least one active key exists: every request needs one of them, else 401.
* No active key and the server is bound to a loopback address: local mode, every request is
  accepted (with or without a key header).
* No active key on a non-loopback address: ``serve`` refuses to start
  (:func:`check_bind`); should the last key be revoked while such a server runs, requests
  get 401 until a key is created.

The active keys are read from the store at most once per ``cache_seconds`` (default 1 s),
so a key created or revoked with ``waxell-observe keys`` takes effect within that time.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import TYPE_CHECKING

import anyio.to_thread
from fastapi import HTTPException, Request

from waxell_observe.store.keys import active_key_hashes, count_active, hash_key

if TYPE_CHECKING:
    from waxell_observe.store import Store

__all__ = ["KeyRing", "require_key", "is_loopback", "check_bind", "BindRefused"]


class BindRefused(RuntimeError):
    """The server would be reachable from the network without any key."""


def is_loopback(host: str) -> bool:
    """True when ``host`` (an address or a name) only ever means this machine."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def check_bind(store: Store, host: str) -> None:
    """Raise :class:`BindRefused` when binding ``host`` with no active key would expose the API."""
    if is_loopback(host) or count_active(store) > 0:
        return
    raise BindRefused(
        f"refusing to serve on {host}: it is reachable from other machines and no API key exists. "
        "Create one with `waxell-observe keys create` (clients then send it as X-Wax-Key), "
        "or bind to 127.0.0.1 for local mode."
    )


class KeyRing:
    """The active key hashes, refreshed from the store at most every ``cache_seconds``."""

    def __init__(self, store: Store, *, allow_local: bool, cache_seconds: float = 1.0) -> None:
        self.store = store
        self.allow_local = allow_local
        self.cache_seconds = cache_seconds
        self._hashes: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    @property
    def stale(self) -> bool:
        """True when the cached keys are older than ``cache_seconds``."""
        return time.monotonic() - self._loaded_at >= self.cache_seconds

    def refresh(self) -> frozenset[str]:
        """Re-read the active keys from the store if they are stale (blocking: a database read)."""
        with self._lock:
            if self.stale:
                self._hashes = active_key_hashes(self.store)
                self._loaded_at = time.monotonic()
            return self._hashes

    def hashes(self) -> frozenset[str]:
        return self.refresh() if self.stale else self._hashes

    def check(self, key: str | None, hashes: frozenset[str] | None = None) -> str | None:
        """``None`` when the request may proceed, else the reason it may not (``hashes``: the
        active key hashes, read now when not given)."""
        if hashes is None:
            hashes = self.hashes()
        if not hashes:
            if self.allow_local:
                return None
            return "no API key is configured on this server; create one with `waxell-observe keys create`"
        if not key:
            return "missing API key: send it as X-Wax-Key (or Authorization: Bearer)"
        if hash_key(key) not in hashes:
            return "invalid or revoked API key"
        return None


def _presented_key(request: Request) -> str | None:
    key = request.headers.get("x-wax-key")
    if key:
        return key.strip()
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def require_key(request: Request) -> None:
    """FastAPI dependency: 401 unless the request is authorised (see the module docstring).

    Runs on the event loop (no thread hop per request); the store is read, in a worker
    thread, only when the cached keys are stale."""
    keyring: KeyRing = request.app.state.keyring
    hashes = await anyio.to_thread.run_sync(keyring.refresh) if keyring.stale else keyring.hashes()
    problem = keyring.check(_presented_key(request), hashes)
    if problem is not None:
        raise HTTPException(status_code=401, detail=problem, headers={"WWW-Authenticate": "Bearer"})

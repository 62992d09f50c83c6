"""Fetching the tenant's LLM manifest: ``get_manifest()`` (blocking) and ``aget_manifest()`` (coroutine).

With a control plane configured (``api_url``), ``GET llm-config/manifest/`` with the API key. The
answer is cached per (``api_url``, key) with its ``ETag``:

* within :func:`cache_seconds` of the last answer the cached copy is returned without a request
  (``refresh=True`` asks anyway);
* afterwards the request carries ``If-None-Match``; ``304`` keeps the cached copy;
* ``401`` raises :class:`ManifestUnauthorized` (the cached copy is dropped: the key no longer works);
* no answer, a 5xx or an unreadable body: the cached copy is returned (a warning is logged), or
  :class:`ManifestUnavailable` is raised when there is none.

Without ``api_url`` the manifest is read from the embedded store (``waxell-observe llm-config set``
writes it there), on every call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from waxell_observe.llm.errors import ManifestUnauthorized, ManifestUnavailable
from waxell_observe.llm.manifest import LlmManifest

if TYPE_CHECKING:
    import httpx

    from waxell_observe.client.http import HttpPools
    from waxell_observe.config import ObserveConfig

__all__ = [
    "DEFAULT_CACHE_SECONDS",
    "MANIFEST_PATH",
    "aget_manifest",
    "cache_seconds",
    "clear_manifest_cache",
    "get_manifest",
]

logger = logging.getLogger("waxell_observe")

MANIFEST_PATH = "llm-config/manifest/"
"""Relative to ``{api_url}/api/v1/observe/``."""

DEFAULT_CACHE_SECONDS = 30.0
_TIMEOUT = 10.0
_DETAIL_CHARS = 300


def cache_seconds() -> float:
    """How long a fetched manifest is used without asking again: ``WAXELL_LLM_MANIFEST_TTL`` seconds
    (default 30; 0 asks every time, with ``If-None-Match``)."""
    raw = os.environ.get("WAXELL_LLM_MANIFEST_TTL", "")
    try:
        return max(0.0, float(raw)) if raw.strip() else DEFAULT_CACHE_SECONDS
    except ValueError:
        logger.warning(
            "waxell-observe: WAXELL_LLM_MANIFEST_TTL=%r is not a number; using %s", raw, DEFAULT_CACHE_SECONDS
        )
        return DEFAULT_CACHE_SECONDS


@dataclass
class _Entry:
    manifest: LlmManifest
    checked_at: float


_lock = threading.Lock()
_cache: dict[tuple[str, str], _Entry] = {}
_pools: HttpPools | None = None


def clear_manifest_cache() -> None:
    """Forget every cached manifest (the next call fetches it whole)."""
    with _lock:
        _cache.clear()


def _http() -> HttpPools:
    global _pools
    with _lock:
        if _pools is None:
            from waxell_observe.client.http import HttpPools

            _pools = HttpPools()
        return _pools


def _config() -> ObserveConfig:
    from waxell_observe.config import get_config

    return get_config()


def _fresh(key: tuple[str, str], refresh: bool) -> tuple[_Entry | None, bool]:
    """The cached entry of ``key`` and whether it may be used without asking."""
    with _lock:
        entry = _cache.get(key)
    if entry is None or refresh:
        return entry, False
    return entry, time.monotonic() - entry.checked_at < cache_seconds()


def _headers(config: ObserveConfig, entry: _Entry | None) -> dict[str, str]:
    from waxell_observe.client.http import headers_for

    headers = headers_for(config.api_key)
    if entry is not None and entry.manifest.etag:
        headers["If-None-Match"] = entry.manifest.etag
    return headers


def _detail(content: bytes) -> str:
    text = content.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text[:_DETAIL_CHARS]
    detail = data.get("detail") if isinstance(data, dict) else None
    return (detail if isinstance(detail, str) else text)[:_DETAIL_CHARS]


def _answer(key: tuple[str, str], entry: _Entry | None, response: httpx.Response) -> LlmManifest:
    """The manifest of ``response`` (cached), or the error it means."""
    status = response.status_code
    where = f"GET {MANIFEST_PATH} at {key[0]}"
    if status == 304 and entry is not None:
        with _lock:
            entry.checked_at = time.monotonic()
        return entry.manifest
    if status == 401:
        with _lock:
            _cache.pop(key, None)
        detail = _detail(response.content)
        raise ManifestUnauthorized(f"{where}: HTTP 401: {detail}", status=401, detail=detail)
    if status != 200:
        detail = _detail(response.content)
        raise ManifestUnavailable(f"{where}: HTTP {status}: {detail}", status=status, detail=detail)
    try:
        manifest = LlmManifest.from_dict(json.loads(response.content), etag=response.headers.get("etag", ""))
    except ValueError as exc:
        raise ManifestUnavailable(
            f"{where}: unreadable manifest: {exc}", status=status, detail=str(exc)
        ) from None
    with _lock:
        _cache[key] = _Entry(manifest, time.monotonic())
    return manifest


def _stale_or_raise(key: tuple[str, str], entry: _Entry | None, error: ManifestUnavailable) -> LlmManifest:
    if isinstance(error, ManifestUnauthorized) or entry is None:
        raise error
    logger.warning(
        "waxell-observe: %s; using the LLM manifest fetched earlier (etag %s)", error, entry.manifest.etag
    )
    return entry.manifest


def _unreachable(key: tuple[str, str], exc: Exception) -> ManifestUnavailable:
    return ManifestUnavailable(
        f"GET {MANIFEST_PATH} at {key[0]}: no answer ({type(exc).__name__}: {exc})", detail=str(exc)
    )


def _from_store(config: ObserveConfig) -> LlmManifest:
    try:
        from waxell_observe.store import get_store
        from waxell_observe.store.llm_config import manifest_body, manifest_etag, read_llm_config

        with get_store(config.db_url).read() as conn:
            stored = read_llm_config(conn)
    except Exception as exc:
        raise ManifestUnavailable(
            f"cannot read the LLM configuration of the embedded store {config.db_url}: {exc}", detail=str(exc)
        ) from exc
    body = manifest_body(stored, tenant_id="local", tenant_slug="local")
    return LlmManifest.from_dict(body, etag=manifest_etag(body))


def get_manifest(*, refresh: bool = False) -> LlmManifest:
    """The tenant's LLM manifest (see the module docstring for caching and errors)."""
    import httpx

    from waxell_observe.client.http import url_for

    config = _config()
    if not config.api_url:
        return _from_store(config)
    key = (config.api_url, config.api_key)
    entry, fresh = _fresh(key, refresh)
    if fresh and entry is not None:
        return entry.manifest
    try:
        response = (
            _http()
            .sync_client()
            .get(url_for(config.api_url, MANIFEST_PATH), headers=_headers(config, entry), timeout=_TIMEOUT)
        )
        return _answer(key, entry, response)
    except httpx.HTTPError as exc:
        return _stale_or_raise(key, entry, _unreachable(key, exc))
    except ManifestUnavailable as exc:
        return _stale_or_raise(key, entry, exc)


async def aget_manifest(*, refresh: bool = False) -> LlmManifest:
    """The coroutine twin of :func:`get_manifest`."""
    import httpx

    from waxell_observe.client.http import url_for

    config = _config()
    if not config.api_url:
        return await asyncio.to_thread(_from_store, config)
    key = (config.api_url, config.api_key)
    entry, fresh = _fresh(key, refresh)
    if fresh and entry is not None:
        return entry.manifest
    client = _http().async_client(urlsplit(config.api_url).netloc or config.api_url)
    try:
        response = await client.get(
            url_for(config.api_url, MANIFEST_PATH), headers=_headers(config, entry), timeout=_TIMEOUT
        )
        return _answer(key, entry, response)
    except httpx.HTTPError as exc:
        return _stale_or_raise(key, entry, _unreachable(key, exc))
    except ManifestUnavailable as exc:
        return _stale_or_raise(key, entry, exc)

"""How the client's wire-protocol methods talk to the control plane (they never raise).

A method's request goes to ``{api_url}{path}`` with the key in ``X-Wax-Key`` and a W3C
``traceparent`` when an OpenTelemetry span is active. Up to :data:`ATTEMPTS` attempts for 5xx
answers and timeouts (waiting 1 s, then 2 s); a refused connection is not retried; a 4xx is
final. Every failure is logged and answered with ``{}``; an unconfigured client logs a warning
and sends nothing. Hosts that stop answering are skipped a while (``breaker.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from waxell_observe.client import breaker
from waxell_observe.client.http import Request, encode, headers_for, reply, transport_error, url_for
from waxell_observe.transport.errors import ControlPlaneError

if TYPE_CHECKING:
    from waxell_observe.client.http import HttpPools
    from waxell_observe.config import ObserveConfig

__all__ = ["ATTEMPTS", "READ_TIMEOUT", "call", "connect_timeout", "send_once", "traceparent_header"]

logger = logging.getLogger("waxell_observe")

ATTEMPTS = 3
BACKOFF = (1.0, 2.0)
READ_TIMEOUT = 30.0

_warned_quota: set[str] = set()


def connect_timeout() -> float:
    """``WAXELL_CONNECT_TIMEOUT`` seconds (default 2)."""
    return _env_seconds("WAXELL_CONNECT_TIMEOUT", 2.0)


def _env_seconds(name: str, default: float, low: float = 0.05, high: float = 300.0) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        value = default
    return min(max(value, low), high)


def gate_timeout(name: str, default: float) -> float:
    """A single-attempt gate's timeout from ``name`` (clamped to 0.2–30 s)."""
    return _env_seconds(name, default, 0.2, 30.0)


def traceparent_header() -> dict[str, str]:
    """``{"traceparent": ...}`` for the active OpenTelemetry span (``{}`` without one)."""
    try:
        from opentelemetry import trace
    except ImportError:
        return {}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    flags = int(context.trace_flags) & 0xFF
    return {"traceparent": f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"}


def host_of(api_url: str) -> str:
    return urlsplit(api_url).netloc or api_url


async def send_once(pools: HttpPools, config: ObserveConfig, req: Request, timeout: float) -> dict[str, Any]:
    """One attempt; raises :class:`ControlPlaneError` for anything but a 2xx JSON object."""
    import httpx

    url = url_for(config.api_url, req.path)
    client = pools.async_client(host_of(config.api_url))
    try:
        response = await client.request(
            req.method,
            url,
            params=req.params,
            content=encode(req.body) if req.body is not None else None,
            headers={**headers_for(config.api_key), **traceparent_header()},
            timeout=httpx.Timeout(timeout, connect=min(timeout, connect_timeout())),
        )
    except httpx.HTTPError as exc:
        raise transport_error(req.method, req.path, exc) from exc
    return reply(req.method, req.path, response.status_code, response.headers, response.content)


def _refused(error: ControlPlaneError) -> bool:
    cause = error.__cause__
    import httpx

    return isinstance(cause, httpx.ConnectError) and not isinstance(cause, httpx.TimeoutException)


async def call(pools: HttpPools, config: ObserveConfig, req: Request) -> dict[str, Any]:
    """The reply of ``req`` with the protocol's retries; ``{}`` on any failure (logged)."""
    if not config.api_url:
        logger.warning(
            "waxell-observe: client not configured (no api_url); %s %s not sent", req.method, req.path
        )
        return {}
    host = host_of(config.api_url)
    if not breaker.allows(host):
        logger.debug("waxell-observe: %s skipped (connection breaker open for %s)", req.path, host)
        return {}
    for attempt in range(ATTEMPTS):
        try:
            result = await send_once(pools, config, req, READ_TIMEOUT)
        except ControlPlaneError as error:
            answered = error.status is not None
            if not error.retryable or error.status == 429 or _refused(error) or attempt == ATTEMPTS - 1:
                breaker.record(host, answered=answered)
                _log_failure(config, req, error)
                return {}
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            continue
        except Exception as error:  # noqa: BLE001 - these methods never raise transport errors
            logger.warning("waxell-observe: %s %s failed: %s", req.method, req.path, error)
            return {}
        breaker.record(host, answered=True)
        return result
    return {}


def _log_failure(config: ObserveConfig, req: Request, error: ControlPlaneError) -> None:
    if error.status == 429 and "quota" in error.detail.lower():
        if config.api_url not in _warned_quota:
            _warned_quota.add(config.api_url)
            logger.warning("waxell-observe: the control plane's quota is exhausted: %s", error.detail)
        return
    logger.warning("waxell-observe: %s", error)

"""Asking the control plane where to send traces (``GET config/`` → ``otel_endpoint``).

In remote mode without a configured OTLP endpoint, the control plane's ``config/`` reply
may name one. It is fetched once per control plane, off the agent's thread (on the
exporter's worker thread, before the first spans are built), with a short timeout. A
failure is logged and means "no endpoint".
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from waxell_observe.config import ObserveConfig

__all__ = ["FETCH_TIMEOUT", "RemoteEndpoints", "fetch_otel_endpoint"]

logger = logging.getLogger("waxell_observe")

FETCH_TIMEOUT = 3.0
"""Seconds the ``config/`` request may take."""


def fetch_otel_endpoint(config: ObserveConfig, timeout: float = FETCH_TIMEOUT) -> str:
    """The ``otel_endpoint`` named by ``config``'s control plane, or ``""``. Never raises."""
    try:
        reply = _get_config(config, timeout)
    except Exception as exc:  # noqa: BLE001 - a missing answer only means "no endpoint"
        logger.warning("waxell-observe: could not ask %s for its OTLP endpoint: %s", config.api_url, exc)
        return ""
    endpoint = reply.get("otel_endpoint") if isinstance(reply, dict) else None
    if not isinstance(endpoint, str):
        return ""
    endpoint = endpoint.strip()
    if endpoint and not endpoint.startswith(("http://", "https://")):
        logger.warning(
            "waxell-observe: ignoring the control plane's otel_endpoint %r (not an http URL)", endpoint
        )
        return ""
    return endpoint


def _get_config(config: ObserveConfig, timeout: float) -> Any:
    from waxell_observe.client import WaxellObserveClient

    client = WaxellObserveClient(api_url=config.api_url, api_key=config.api_key)
    get_config = getattr(client, "get_config", None)
    if callable(get_config):
        try:
            return get_config(timeout=timeout)
        finally:
            close = getattr(client, "close", None)
            if callable(close):
                close()
    import httpx  # the SDK client has no get_config(): speak the wire protocol directly

    headers = {"Accept": "application/json"}
    if config.api_key:
        headers["X-Wax-Key"] = config.api_key
    url = config.api_url.rstrip("/") + "/api/v1/observe/config/"
    response = httpx.get(url, headers=headers, timeout=timeout)
    response.raise_for_status()
    return response.json()


class RemoteEndpoints:
    """What each control plane said: ``None`` while unknown, else its endpoint (``""``: none)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(config: ObserveConfig) -> tuple[str, str]:
        return (config.api_url, config.api_key)

    def known(self, config: ObserveConfig) -> str | None:
        """The endpoint already learnt for ``config``'s control plane, or ``None`` if not asked yet."""
        return self._known.get(self._key(config))

    def resolve(self, config: ObserveConfig) -> str:
        """Ask once (blocking; call off the agent's thread) and remember the answer."""
        key = self._key(config)
        with self._lock:
            endpoint = self._known.get(key)
            if endpoint is None:
                endpoint = fetch_otel_endpoint(config)
                self._known[key] = endpoint
                if endpoint:
                    logger.info(
                        "waxell-observe: exporting traces to %s (named by the control plane)", endpoint
                    )
        return endpoint

    def clear(self) -> None:
        with self._lock:
            self._known.clear()

"""Asking the control plane where to send traces (``GET config/`` → ``otel_endpoint``).

In remote mode without a configured OTLP endpoint, the control plane's ``config/`` reply
may name one. It is fetched once per control plane, on a thread of its own (neither the
agent's thread nor the exporter's worker ever waits for it), with a short timeout. A
failure is logged and means "no endpoint". Runs recorded before the answer wait in the
exporter's memory and are exported (or forgotten) when it comes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
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
        self._asking: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _key(config: ObserveConfig) -> tuple[str, str]:
        return (config.api_url, config.api_key)

    def known(self, config: ObserveConfig) -> str | None:
        """The endpoint already learnt for ``config``'s control plane, or ``None`` if not known yet."""
        return self._known.get(self._key(config))

    def request(self, config: ObserveConfig, on_answer: Callable[[], None] | None = None) -> None:
        """Ask ``config``'s control plane in the background, once; ``on_answer()`` runs when it replied."""
        key = self._key(config)
        with self._lock:
            if key in self._known or key in self._asking:
                return
            self._asking.add(key)
        thread = threading.Thread(
            target=self._ask, args=(config, key, on_answer), name="waxell-otel-config", daemon=True
        )
        thread.start()

    def _ask(self, config: ObserveConfig, key: tuple[str, str], on_answer: Callable[[], None] | None) -> None:
        endpoint = fetch_otel_endpoint(config)
        with self._lock:
            self._known[key] = endpoint
            self._asking.discard(key)
        if endpoint:
            logger.info("waxell-observe: exporting traces to %s (named by the control plane)", endpoint)
        if on_answer is not None:
            try:
                on_answer()
            except Exception:
                logger.exception("waxell-observe: could not act on the control plane's OTLP endpoint")

    def resolve(self, config: ObserveConfig) -> str:
        """Ask now and wait for the answer (blocking: never on the agent's thread)."""
        known = self.known(config)
        if known is not None:
            return known
        done = threading.Event()
        self.request(config, done.set)
        while self.known(config) is None:
            done.wait(0.05)
        return self.known(config) or ""

    def clear(self) -> None:
        with self._lock:
            self._known.clear()

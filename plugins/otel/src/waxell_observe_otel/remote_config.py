"""Asking the control plane where to send traces (``GET config/`` → ``otel_endpoint``).

In remote mode without a configured OTLP endpoint, the OTLP destination asks the control
plane's ``config/``, on the pipeline's drainer thread (the agent never waits for it), before
its first delivery. The answer is kept for the destination's life:

- an ``otel_endpoint`` (an ``http(s)://`` base URL): spans go there, with the API key (the
  control plane named its own receiver);
- no endpoint (none named, not an http URL, or a final 4xx to ``config/``): nothing is exported;
- no answer (connection error, timeout, 5xx, 429): :class:`RetryLater` — the records stay
  journaled and the question is asked again after the drainer's backoff.
"""

from __future__ import annotations

import logging
from typing import Any

from waxell_observe.pipeline.destination import RetryLater

__all__ = ["FETCH_TIMEOUT", "ask_otel_endpoint"]

logger = logging.getLogger("waxell_observe")

FETCH_TIMEOUT = 3.0
"""Seconds the ``config/`` request may take."""


def ask_otel_endpoint(api_url: str, api_key: str, timeout: float = FETCH_TIMEOUT) -> str:
    """The ``otel_endpoint`` the control plane at ``api_url`` names, or ``""`` when it names none.

    Raises :class:`RetryLater` when it cannot answer now. Blocking: call it on the drainer's thread.
    """
    from waxell_observe.client import WaxellObserveClient
    from waxell_observe.config import resolve_config
    from waxell_observe.transport.errors import ControlPlaneError

    client = WaxellObserveClient.from_config(
        resolve_config(api_url=api_url, api_key=api_key), timeout=timeout
    )
    try:
        reply: Any = client.request_sync("GET", "config/", timeout=timeout)
    except ControlPlaneError as exc:
        if exc.retryable:
            raise RetryLater(
                f"cannot ask {api_url} for its OTLP endpoint: {exc}", after=exc.retry_after
            ) from exc
        logger.warning(
            "waxell-observe: %s refused to name its OTLP endpoint (%s); traces are not exported", api_url, exc
        )
        return ""
    finally:
        client.close_sync()
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

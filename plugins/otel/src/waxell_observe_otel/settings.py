"""The exporter's settings, read from the SDK configuration (``ObserveConfig``).

Export is enabled when an OTLP endpoint is configured — ``init(otlp_endpoint=...)``,
``WAXELL_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_ENDPOINT`` (all land in
``config.otlp_endpoint``) or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` — or when a span
exporter object is passed as ``init(otel_span_exporter=...)``. In remote mode without
either, the control plane's ``config/`` reply may name an endpoint (see
:mod:`waxell_observe_otel.remote_config`).

Options this plugin reads from ``config.extra`` (unknown ``init()`` keyword arguments):
``otel_set_global`` (make our provider the global one when we create it),
``otel_span_exporter`` (an ``opentelemetry.sdk.trace.export.SpanExporter`` used instead of
OTLP/HTTP) and ``otel_export_timeout`` (seconds per export request).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from waxell_observe.config import ObserveConfig, parse_bool
from waxell_observe.errors import ConfigurationError

__all__ = [
    "DEFAULT_EXPORT_TIMEOUT",
    "TRACES_PATH",
    "OtelSettings",
    "settings_from_config",
    "traces_url",
]

logger = logging.getLogger("waxell_observe")

DEFAULT_EXPORT_TIMEOUT = 5.0
"""Seconds one export request may take (unless ``OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT`` is set)."""

TRACES_PATH = "/v1/traces"

_warned: set[str] = set()


@dataclass(frozen=True)
class OtelSettings:
    """Where and how to export. ``key`` identifies the export pipeline these settings need."""

    traces_url: str
    """Full OTLP/HTTP traces URL, or ``""`` when a custom span exporter is used."""
    span_exporter: Any
    set_global: bool
    resource_attributes: tuple[tuple[str, Any], ...]
    export_timeout: float | None
    """``None``: let the OTel exporter read ``OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT``."""

    @property
    def key(self) -> tuple[Any, ...]:
        return (
            self.traces_url,
            id(self.span_exporter),
            self.set_global,
            repr(self.resource_attributes),
            self.export_timeout,
        )


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for ``endpoint``: a base URL gets ``/v1/traces`` appended,
    a URL that already ends with it is used as it is."""
    endpoint = endpoint.strip()
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigurationError(f"otlp_endpoint must be an http:// or https:// URL, got {endpoint!r}")
    if endpoint.rstrip("/").endswith(TRACES_PATH):
        return endpoint
    return endpoint.rstrip("/") + TRACES_PATH


def _warn_once(message: str, *args: Any) -> None:
    text = message % args
    if text not in _warned:
        _warned.add(text)
        logger.warning(text)


def _endpoint_url(config: ObserveConfig) -> str:
    """The traces URL named by the configuration and the standard OTel variables, or ``""``."""
    endpoint = (config.otlp_endpoint or "").strip()
    signal_endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    generic_endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if signal_endpoint and (not endpoint or endpoint == generic_endpoint):
        # The OTel rule: the per-signal variable is used as it is and wins over the generic one
        # (an endpoint given to waxell explicitly wins over both).
        return signal_endpoint
    if not endpoint:
        return ""
    return traces_url(endpoint)


def _timeout(config: ObserveConfig) -> float | None:
    raw = config.extra.get("otel_export_timeout")
    if raw is not None:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"otel_export_timeout must be a number of seconds, got {raw!r}"
            ) from None
        if value <= 0:
            raise ConfigurationError(f"otel_export_timeout must be > 0, got {raw!r}")
        return value
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT"):
        return None
    return DEFAULT_EXPORT_TIMEOUT


def settings_from_config(config: ObserveConfig, *, endpoint: str | None = None) -> OtelSettings | None:
    """The export settings ``config`` asks for, or ``None`` when export is off.

    ``endpoint`` overrides the configured one (the control plane's ``otel_endpoint``).
    A bad value is logged (once) and turns export off: telemetry never breaks the agent.
    """
    try:
        exporter = config.extra.get("otel_span_exporter")
        if exporter is not None and not callable(getattr(exporter, "export", None)):
            raise ConfigurationError(
                f"otel_span_exporter must be an OpenTelemetry SpanExporter, got {type(exporter).__name__}"
            )
        url = traces_url(endpoint) if endpoint else _endpoint_url(config)
        if exporter is None and not url:
            return None
        return OtelSettings(
            traces_url="" if exporter is not None else url,
            span_exporter=exporter,
            set_global=parse_bool(config.extra.get("otel_set_global", False), name="otel_set_global"),
            resource_attributes=tuple(
                sorted((str(k), v) for k, v in dict(config.resource_attributes).items())
            ),
            export_timeout=_timeout(config),
        )
    except ConfigurationError as exc:
        _warn_once("waxell-observe: OpenTelemetry export is off: %s", exc)
        return None

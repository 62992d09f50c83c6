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
import threading
from typing import Any, NamedTuple

from waxell_observe.config import ObserveConfig, parse_bool
from waxell_observe.errors import ConfigurationError

__all__ = [
    "DEFAULT_EXPORT_TIMEOUT",
    "KEY_HEADER",
    "TRACES_PATH",
    "OtelSettings",
    "exporter_for",
    "forget_exporters",
    "is_own_receiver",
    "parse_headers",
    "register_exporter",
    "resource_attributes",
    "route_settings",
    "settings_from_config",
    "traces_url",
]

logger = logging.getLogger("waxell_observe")

DEFAULT_EXPORT_TIMEOUT = 5.0
"""Seconds one export request may take (unless ``OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT`` is set)."""

TRACES_PATH = "/v1/traces"

KEY_HEADER = "x-wax-key"
"""How our control plane's receiver takes the API key (``server/auth.py``: ``X-Wax-Key`` or
``Authorization: Bearer``)."""

_warned: set[str] = set()


class OtelSettings(NamedTuple):
    """Where and how to export. ``key`` identifies the export pipeline these settings need.

    A named tuple rather than a dataclass: every ``init()`` imports this module, and making a
    dataclass costs ~1 ms."""

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


# -- the route: what the OTLP destination needs, written in the journal -----------------------------


def _env(*names: str) -> str:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return ""


def parse_headers(value: str) -> dict[str, str]:
    """``OTEL_EXPORTER_OTLP_HEADERS`` syntax (``key=value,key2=value2``, percent-encoded) as a dict
    with lower-case keys; malformed entries are skipped."""
    from urllib.parse import unquote  # not at the top: init() reads no header when export is off

    headers: dict[str, str] = {}
    for item in value.split(","):
        key, sep, raw = item.partition("=")
        key = unquote(key.strip()).lower()
        if sep and key:
            headers[key] = unquote(raw.strip())
    return headers


def resource_attributes(config: ObserveConfig) -> dict[str, Any]:
    """The resource attributes of our spans as this process sees them: ``OTEL_RESOURCE_ATTRIBUTES``,
    ``OTEL_SERVICE_NAME``, then ``init(resource_attributes=...)`` on top."""
    from urllib.parse import unquote

    attributes: dict[str, Any] = {}
    raw = os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            attributes[unquote(key.strip())] = unquote(value.strip())
    service = os.environ.get("OTEL_SERVICE_NAME", "").strip()
    if service:
        attributes["service.name"] = service
    for key, value in dict(config.resource_attributes).items():
        attributes[str(key)] = value
    return attributes


def _origin(url: str) -> tuple[str, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme.lower(), f"{host}:{port}"


def is_own_receiver(traces_url_: str, api_url: str) -> bool:
    """True when ``traces_url_`` is served by the control plane at ``api_url`` (same scheme, host
    and port): that receiver wants our API key."""
    if not traces_url_ or not api_url:
        return False
    try:
        return _origin(traces_url_) == _origin(api_url)
    except ValueError:
        return False


_exporters: dict[str, Any] = {}
_exporters_lock = threading.Lock()
_BOOT = os.urandom(6).hex()  # 12 random hex digits (uuid costs ~3 ms to import)


def register_exporter(exporter: Any) -> str:
    """A token naming ``exporter`` (an object: it cannot be written in the journal) for the
    destinations of this process and of its forks; another process cannot use it."""
    with _exporters_lock:
        for token, known in _exporters.items():
            if known is exporter:
                return token
        token = f"{_BOOT}-{len(_exporters) + 1}"
        _exporters[token] = exporter
        return token


def exporter_for(token: str) -> Any:
    """The exporter registered as ``token`` in this process, or ``None``."""
    return _exporters.get(token)


def forget_exporters() -> None:
    """Tests: forget the registered exporter objects."""
    with _exporters_lock:
        _exporters.clear()


def export_timeout(settings: OtelSettings | None) -> float:
    """Seconds one export request may take: ``otel_export_timeout``, else the OTel variables
    (seconds, as the Python OTLP exporter reads them), else :data:`DEFAULT_EXPORT_TIMEOUT`."""
    if settings is not None and settings.export_timeout is not None:
        return settings.export_timeout
    raw = _env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
    try:
        value = float(raw) if raw else DEFAULT_EXPORT_TIMEOUT
    except ValueError:
        value = DEFAULT_EXPORT_TIMEOUT
    return value if value > 0 else DEFAULT_EXPORT_TIMEOUT


def route_settings(config: ObserveConfig, settings: OtelSettings | None) -> dict[str, Any]:
    """What the OTLP destination of ``config``'s runs needs, as plain JSON values (it is written
    in the journal's route frames, so a process adopting the journal exports the same way).

    ``settings``: the export settings, or ``None`` in remote mode without an endpoint (the
    destination asks the control plane's ``config/`` for its ``otel_endpoint``). The API key
    goes with the spans only to our own control plane's receiver: the endpoint its ``config/``
    names, or an endpoint on the same host and port as ``api_url``.
    """
    headers = parse_headers(_env("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"))
    route: dict[str, Any] = {
        "capture_content": bool(config.capture_content),
        "resource": resource_attributes(config),
        "timeout": export_timeout(settings),
        "compression": _env(
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"
        ).lower(),
        "certificate": _env("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"),
        "client_key": _env("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY"),
        "client_certificate": _env(
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
        ),
        "sampler": os.environ.get("OTEL_TRACES_SAMPLER", "").strip().lower(),
        "sampler_arg": os.environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip(),
        "headers": headers,
    }
    if settings is None:
        route["ask"] = {"api_url": config.api_url, "api_key": config.api_key}
    elif settings.span_exporter is not None:
        route["exporter"] = register_exporter(settings.span_exporter)
    else:
        route["endpoint"] = settings.traces_url
        if (
            config.api_key
            and is_own_receiver(settings.traces_url, config.api_url)
            and KEY_HEADER not in headers
            and "authorization" not in headers
        ):
            headers[KEY_HEADER] = config.api_key
    return route

"""OpenTelemetry tracing helpers of the reference SDK: ``init_tracing``, ``flush_tracing``,
``shutdown_tracing``, ``is_tracing_enabled``.

Here runs become OpenTelemetry traces through the ``waxell-observe-otel`` plugin (see
``docs/opentelemetry.md``): :func:`init_tracing` turns its export on (it sets the OTLP endpoint,
resource attributes and content capture of the configuration in effect and makes sure the
plugin is loaded), :func:`flush_tracing` delivers what was recorded, :func:`shutdown_tracing` turns
it off again. Without the plugin (or the OpenTelemetry SDK) they are silent no-ops. This module
imports no OpenTelemetry code itself.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import threading
from typing import Any

__all__ = ["flush_tracing", "init_tracing", "is_tracing_enabled", "otel_available", "shutdown_tracing"]

logger = logging.getLogger("waxell_observe")

_lock = threading.Lock()
_enabled = False
_endpoint_set = False
_exit_registered = False


def otel_available() -> bool:
    """True when the OpenTelemetry SDK and the ``waxell-observe-otel`` plugin are importable."""
    try:
        return (
            importlib.util.find_spec("opentelemetry.sdk") is not None
            and importlib.util.find_spec("waxell_observe_otel") is not None
        )
    except (ImportError, ValueError):
        return False


def init_tracing(
    api_url: str | None = None,
    api_key: str | None = None,
    otel_endpoint: str | None = None,
    tenant_id: str | None = None,
    debug: bool | None = None,
    capture_content: bool | None = None,
    shutdown_on_exit: bool = True,
    resource_attributes: dict[str, Any] | None = None,
) -> None:
    """Export runs as OpenTelemetry traces from now on (idempotent; a no-op without OpenTelemetry).

    ``otel_endpoint`` (else the configuration's, else ``OTEL_EXPORTER_OTLP_ENDPOINT``; in remote
    mode the control plane's ``config/`` answer) is where traces go; ``api_url``/``api_key``,
    ``debug``, ``capture_content`` and ``resource_attributes`` update the configuration in effect
    when given; ``tenant_id`` is added to the resource as ``tenant.id``. Python log records at INFO
    and above are exported beside the traces (OTLP ``/v1/logs``, each carrying the active run's id)
    unless ``init(otel_logs=False)`` said otherwise. ``shutdown_on_exit``:
    turn tracing off at interpreter exit (the exit drain delivers what was recorded first).
    """
    global _enabled, _endpoint_set, _exit_registered
    with _lock:
        if _enabled or not otel_available():
            return
        from waxell_observe.config import get_config, set_config
        from waxell_observe.plugins import plugin_manager

        config = get_config()
        changes: dict[str, Any] = {}
        if api_url:
            changes["api_url"] = api_url
        if api_key:
            changes["api_key"] = api_key
        endpoint = otel_endpoint or config.otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
        if endpoint and endpoint != config.otlp_endpoint:
            changes["otlp_endpoint"] = endpoint
            _endpoint_set = True
        if debug is not None:
            changes["debug"] = bool(debug)
        if capture_content is not None:
            changes["capture_content"] = bool(capture_content)
        resource = dict(config.resource_attributes)
        resource.update(resource_attributes or {})
        if tenant_id:
            resource["tenant.id"] = tenant_id
        if resource != dict(config.resource_attributes):
            changes["resource_attributes"] = resource
        if "otel_logs" not in config.extra:  # the application's log records go with the traces
            changes["extra"] = {**dict(config.extra), "otel_logs": True}
        if changes:
            config = config.replace(**changes)
            set_config(config)
        plugin_manager().hook.on_configure(config=config)
        _enabled = True
        if shutdown_on_exit and not _exit_registered:
            atexit.register(_forget_at_exit)
            _exit_registered = True


def flush_tracing(timeout_millis: int = 30000) -> None:
    """Deliver everything recorded so far (traces included), waiting at most ``timeout_millis``;
    errors are logged, never raised."""
    try:
        from waxell_observe.lifecycle import flush_sync

        flush_sync(timeout=max(0, timeout_millis) / 1000.0)
    except Exception:  # noqa: BLE001 - tracing never breaks the agent
        logger.warning("waxell-observe: flush_tracing failed", exc_info=True)


def shutdown_tracing() -> None:
    """Deliver what was recorded, then stop exporting traces: the OTLP endpoint
    :func:`init_tracing` set is removed and content capture is turned off."""
    global _enabled, _endpoint_set
    with _lock:
        if not _enabled:
            return
        flush_tracing(timeout_millis=5000)
        from waxell_observe.config import get_config, set_config

        config = get_config()
        changes: dict[str, Any] = {"capture_content": False}
        if _endpoint_set:
            changes["otlp_endpoint"] = ""
        if config.extra.get("otel_logs") is True:
            changes["extra"] = {k: v for k, v in dict(config.extra).items() if k != "otel_logs"}
        config = config.replace(**changes)
        set_config(config)
        from waxell_observe.plugins import plugin_manager

        plugin_manager().hook.on_configure(config=config)  # the log export stops
        _enabled = _endpoint_set = False


def is_tracing_enabled() -> bool:
    """True when :func:`init_tracing` turned tracing on and OpenTelemetry is importable."""
    return _enabled and otel_available()


def _forget_at_exit() -> None:
    """At exit: no configuration change (the exit drain still exports what was recorded)."""
    global _enabled
    _enabled = False

"""Python ``logging`` → OpenTelemetry log records → OTLP/HTTP ``{endpoint}/v1/logs``.

Turned on by ``init_tracing()`` (or ``init(otel_logs=True)``, env ``WAXELL_OTEL_LOGS=true``) when
traces are exported to an endpoint: a handler on the root logger takes every record at INFO and above
(the root logger's level is lowered to INFO when it is higher), and while a run is active each record
carries ``waxell_run_id``, ``waxell_agent_name`` and ``waxell_workflow_name`` — so a control plane
files the application's log lines under the run that wrote them. The OpenTelemetry SDK does the rest:
a ``BatchLogRecordProcessor`` (batches of 256, every 2 s) and the OTLP/HTTP log exporter, with our API
key when the endpoint is our own control plane's receiver (as for traces).

Records of the export's and the SDK's own transport (``opentelemetry``, ``urllib3``, ``requests``,
``httpx``, ``httpcore``) are not exported: delivering must not produce more records to deliver. The
SDK's exit work (``shutdown``) delivers what is batched and stops the export. Importing this module imports no
OpenTelemetry code; :func:`start` does.
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass
from typing import Any

from waxell_observe.current import current_context

__all__ = [
    "LOGS_PATH",
    "RUN_ID_ATTRIBUTE",
    "LogExport",
    "RunAttributes",
    "active_export",
    "logs_url",
    "start",
    "stop",
]

logger = logging.getLogger("waxell_observe")

LOGS_PATH = "/v1/logs"
RUN_ID_ATTRIBUTE = "waxell_run_id"
AGENT_ATTRIBUTE = "waxell_agent_name"
WORKFLOW_ATTRIBUTE = "waxell_workflow_name"

BATCH_SIZE = 256
SCHEDULE_DELAY_MS = 2000
_QUIET_LOGGERS = ("opentelemetry", "urllib3", "requests", "httpx", "httpcore")


def logs_url(endpoint: str) -> str:
    """The logs URL of an OTLP/HTTP endpoint: a base URL gets ``/v1/logs``; a traces URL
    (``.../v1/traces``) becomes the logs URL beside it; a logs URL stays as it is."""
    url = endpoint.strip().rstrip("/")
    if url.endswith(LOGS_PATH):
        return url
    if url.endswith("/v1/traces"):
        return url[: -len("/v1/traces")] + LOGS_PATH
    return url + LOGS_PATH


class RunAttributes(logging.Filter):
    """Adds the active run's id, agent and workflow to each record (as ``extra`` attributes, which
    the OpenTelemetry handler exports as log attributes); drops the export's own records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(_QUIET_LOGGERS):
            return False
        ctx = current_context.get()
        if ctx is not None:
            run_id = ctx.run_id
            if run_id:
                setattr(record, RUN_ID_ATTRIBUTE, run_id)
                setattr(record, AGENT_ATTRIBUTE, ctx.agent_name)
                setattr(record, WORKFLOW_ATTRIBUTE, ctx.workflow_name)
        return True


@dataclass
class LogExport:
    """One running log export: the provider (its batch processor and exporter) and the handler on
    the root logger."""

    url: str
    provider: Any
    handler: logging.Handler
    lowered_root_from: int | None

    def flush(self, timeout: float | None) -> bool:
        millis = 30_000 if timeout is None else max(0, int(timeout * 1000))
        return bool(self.provider.force_flush(millis))


_lock = threading.Lock()
_active: LogExport | None = None


def active_export() -> LogExport | None:
    """The log export running now, if any."""
    return _active


def start(
    endpoint: str,
    *,
    headers: dict[str, str] | None = None,
    resource: dict[str, Any] | None = None,
    timeout: float | None = None,
    exporter: Any = None,
) -> LogExport:
    """Export log records to ``endpoint`` (a base URL, or a traces or logs URL) from now on; a
    second call while an export runs returns the running one. ``exporter``: an OpenTelemetry
    ``LogExporter`` to use instead of OTLP/HTTP (tests, other transports)."""
    global _active
    with _lock:
        if _active is not None:
            return _active
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import Resource

        url = logs_url(endpoint) if endpoint else ""
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

            exporter = OTLPLogExporter(endpoint=url, headers=headers or None, timeout=timeout)
        # Shut down by the SDK's exit work (stop), after the last records were delivered, not by
        # OpenTelemetry's own exit hook, which may run first and drop them.
        provider = LoggerProvider(resource=Resource.create(dict(resource or {})), shutdown_on_exit=False)
        provider.add_log_record_processor(
            BatchLogRecordProcessor(
                exporter, schedule_delay_millis=SCHEDULE_DELAY_MS, max_export_batch_size=BATCH_SIZE
            )
        )
        with warnings.catch_warnings():
            # opentelemetry-sdk 1.39+ marks its handler deprecated in favour of the one in
            # opentelemetry-instrumentation-logging (same behaviour, one more dependency)
            warnings.simplefilter("ignore", DeprecationWarning)
            handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
        handler.addFilter(RunAttributes())
        root = logging.getLogger()
        lowered: int | None = None
        if root.level == logging.NOTSET or root.level > logging.INFO:
            lowered = root.level
            root.setLevel(logging.INFO)
        root.addHandler(handler)
        _active = LogExport(url, provider, handler, lowered)
        return _active


def stop(timeout: float | None = 5.0) -> None:
    """Deliver the records batched so far (waiting at most ``timeout`` seconds), then take the
    handler off the root logger (its level restored) and shut the provider down."""
    global _active
    with _lock:
        export, _active = _active, None
    if export is None:
        return
    root = logging.getLogger()
    root.removeHandler(export.handler)
    if export.lowered_root_from is not None and root.level == logging.INFO:
        root.setLevel(export.lowered_root_from)
    try:
        export.flush(timeout)
        export.provider.shutdown()
    except Exception:  # the export's failure is logged, never raised into the application
        logger.warning("waxell-observe: stopping the OTLP log export failed", exc_info=True)


def flush(timeout: float | None) -> None:
    """Deliver the records batched so far, if logs are exported (at most ``timeout`` seconds)."""
    export = _active
    if export is None:
        return
    try:
        if not export.flush(timeout):
            logger.warning("waxell-observe: OTLP log records not all delivered within %ss", timeout)
    except Exception:
        logger.warning("waxell-observe: flushing the OTLP log export failed", exc_info=True)

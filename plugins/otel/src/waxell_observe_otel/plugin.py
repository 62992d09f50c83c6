"""The ``otel`` plugin: waxell-observe runs → OpenTelemetry spans → OTLP, through the pipeline.

Registered through the ``waxell_observe`` entry-point group. On the agent's thread the hooks
only decide whether a run is exported and compute its trace ids into
``run.plugin_state["otel"]`` (the journal's start and end frames carry them; propagation and the
remote sink's ``traceparent`` read them), plus two facts frames do not carry
(:mod:`waxell_observe_otel.sidecar`). Everything else happens on the pipeline's drainer thread:
:func:`on_route` names an ``otlp`` destination in the journal's route frames, and
:func:`on_destination` makes it (:mod:`waxell_observe_otel.destination`), which builds the spans
from the journaled frames and exports them synchronously. No in-memory queue, no batch
processor: the journal is the queue, and the pipeline's reports count the destination as
``otlp``. Importing this module does not import OpenTelemetry.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from waxell_observe.config import ObserveConfig
from waxell_observe.plugins import hookimpl
from waxell_observe_otel import sidecar
from waxell_observe_otel.propagation import PLUGIN_STATE_KEY, run_trace, state_for
from waxell_observe_otel.settings import (
    KEY_HEADER,
    OtelSettings,
    forget_exporters,
    route_settings,
    settings_from_config,
)

if TYPE_CHECKING:
    from waxell_observe.delivery.report import DeliveryReport
    from waxell_observe.pipeline.destination import Destination
    from waxell_observe.records import LLMCallRecord
    from waxell_observe.run import Run

__all__ = [
    "DESTINATION",
    "NAME",
    "on_configure",
    "on_destination",
    "on_flush",
    "on_llm_call",
    "on_route",
    "on_run_start",
    "on_shutdown",
    "reset",
    "waxell_active",
]

logger = logging.getLogger("waxell_observe")

NAME = "otel"
DESTINATION = "otlp"
"""The route entry this plugin adds, and the name reports give its destination."""

_OFF = object()
_ASK_CONTROL_PLANE = object()
_decision_cache: tuple[ObserveConfig, Any] | None = None
_warned: set[str] = set()


def _decide(config: ObserveConfig) -> Any:
    """Export settings for runs made with ``config``: :class:`OtelSettings`, ``_OFF``, or
    ``_ASK_CONTROL_PLANE`` (remote mode without an endpoint: the destination asks ``config/``)."""
    global _decision_cache
    cached = _decision_cache
    if cached is not None and cached[0] is config:
        return cached[1]
    decision: Any = settings_from_config(config)
    if decision is None:
        decision = _ASK_CONTROL_PLANE if config.mode == "remote" else _OFF
    _decision_cache = (config, decision)
    return decision


def waxell_active(config: ObserveConfig) -> bool:
    """Record hooks skip this plugin when nothing is exported for ``config``."""
    return _decide(config) is not _OFF


def _sdk_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


# -- configuration -------------------------------------------------------------------------------


@hookimpl
def on_configure(config: ObserveConfig) -> None:
    """Check the settings early (a bad endpoint is logged now); with ``otel_set_global``, make our
    tracer provider the global one now (the application's spans go through it)."""
    if not config.enabled:
        _configure_logs(config, None)
        return
    decision = _decide(config)
    if decision is _OFF or _sdk_disabled():
        _configure_logs(config, None)
        return
    _warm_up()
    if isinstance(decision, OtelSettings) and decision.set_global:
        _set_global(config, decision)
    _configure_logs(config, decision)


def logs_wanted(config: ObserveConfig) -> bool:
    """Whether ``config`` asks for Python log records to be exported (``init_tracing()``,
    ``init(otel_logs=True)`` or ``WAXELL_OTEL_LOGS``)."""
    from waxell_observe.config import parse_bool
    from waxell_observe.errors import ConfigurationError

    raw = config.extra.get("otel_logs", os.environ.get("WAXELL_OTEL_LOGS", ""))
    try:
        return parse_bool(raw if raw != "" else False, name="otel_logs")
    except ConfigurationError as exc:
        if "otel_logs" not in _warned:
            _warned.add("otel_logs")
            logger.warning("waxell-observe: log export is off: %s", exc)
        return False


def _configure_logs(config: ObserveConfig, decision: Any) -> None:
    """Start the log export when ``config`` wants it and traces have an endpoint (ours: asked of
    the control plane on a thread of its own); stop it when it is no longer wanted."""
    if decision is None or not logs_wanted(config):
        active_export = _loaded("waxell_observe_otel.logs", "active_export")  # never started: not imported
        if active_export is not None and active_export() is not None:
            _loaded("waxell_observe_otel.logs", "stop")()
        return
    from waxell_observe_otel import logs

    if logs.active_export() is not None:
        return
    if isinstance(decision, OtelSettings):
        if not decision.traces_url:
            return  # an exporter object was given for spans: no URL to send logs to
        route = route_settings(config, decision)
        logs.start(
            decision.traces_url,
            headers=route["headers"],
            resource=route["resource"],
            timeout=route["timeout"],
        )
        return
    _ask_then_start_logs(config)


def _ask_then_start_logs(config: ObserveConfig) -> None:
    """Remote mode without an endpoint: ask the control plane's ``config/`` now (as the reference
    SDK's ``init_tracing`` does, so the lines logged right after it are exported too)."""
    from waxell_observe.pipeline.destination import RetryLater
    from waxell_observe_otel import logs
    from waxell_observe_otel.remote_config import ask_otel_endpoint

    try:
        endpoint = ask_otel_endpoint(config.api_url, config.api_key)
    except RetryLater as exc:
        logger.warning("waxell-observe: log records are not exported: %s", exc)
        return
    if not endpoint:
        return
    route = route_settings(config, None)
    headers = dict(route["headers"])
    if config.api_key and "authorization" not in headers:
        headers.setdefault(KEY_HEADER, config.api_key)  # the control plane named its own receiver
    logs.start(endpoint, headers=headers, resource=route["resource"], timeout=route["timeout"])


_warming: list[Any] = []


def _warm_up() -> None:
    """Import what the destination needs (OpenTelemetry SDK, httpx: a second or more) on a thread
    of its own, now, rather than on the drainer's thread when the first run is delivered — which
    may be as late as interpreter exit, whose budget the imports would eat. Held under the
    pipeline's import guard: a fork meanwhile waits for the import to finish."""
    if _warming:
        return
    import threading

    def run() -> None:
        from waxell_observe.pipeline.pipeline import import_guard

        try:
            with import_guard:
                import waxell_observe_otel.destination  # noqa: F401
        except Exception:
            logger.debug("waxell-observe: warming the OTLP destination up failed", exc_info=True)

    thread = threading.Thread(target=run, name="waxell-otel-import", daemon=True)
    _warming.append(thread)
    thread.start()


def _set_global(config: ObserveConfig, settings: OtelSettings) -> None:
    from waxell_observe_otel import pipeline as otel_sdk

    route = route_settings(config, settings)

    def exporter() -> Any:
        if settings.span_exporter is not None:
            return settings.span_exporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(
            endpoint=settings.traces_url, headers=route["headers"] or None, timeout=route["timeout"]
        )

    otel_sdk.global_provider_for(settings.key, route["resource"], exporter)


# -- the agent's thread -------------------------------------------------------------------------


@hookimpl
def on_run_start(run: Run) -> None:
    if _decide(run.config) is _OFF:
        return
    trace_id, span_id, parent = run_trace(run)
    run.plugin_state[PLUGIN_STATE_KEY] = state_for(trace_id, span_id, parent)
    if parent is not None and (not run.parent_run_id or not parent.sampled):
        # A root run that joined another trace, or a run whose parent is not sampled: the
        # journal's frames do not say so (a nested run's parent is derived from its parent run).
        sidecar.note_run_parent(run.run_id, sidecar.RunParent(parent.span_id, parent.sampled, parent.remote))


@hookimpl
def on_llm_call(run: Run, call: LLMCallRecord) -> None:
    if PLUGIN_STATE_KEY not in run.plugin_state:
        return
    conversation = run.conversation
    if conversation is not None and (conversation.message_count or conversation.user_turns):
        sidecar.note_llm_context(call.id, conversation.message_count, conversation.user_turns)


# -- the pipeline: the journal's routes, the drainer's destination ---------------------------------


@hookimpl
def on_route(config: ObserveConfig) -> dict[str, dict[str, Any]] | None:
    """``{"otlp": settings}`` when ``config``'s runs are exported (written in the journal)."""
    if not config.enabled:
        return None
    decision = _decide(config)
    if decision is _OFF:
        return None
    if _sdk_disabled():
        if "disabled" not in _warned:
            _warned.add("disabled")
            logger.warning(
                "waxell-observe: the OpenTelemetry SDK is disabled (OTEL_SDK_DISABLED); no spans exported"
            )
        return None
    return {DESTINATION: route_settings(config, decision if isinstance(decision, OtelSettings) else None)}


@hookimpl
def on_destination(kind: str, settings: dict[str, Any]) -> Destination | None:
    """The OTLP destination (made on the drainer's thread, under the pipeline's import guard)."""
    if kind != DESTINATION:
        return None
    from waxell_observe_otel.destination import make_destination

    return make_destination(settings)


# -- flush and shutdown: the pipeline delivers and reports; the application's spans on our
# global provider (otel_set_global) are OpenTelemetry's to export ------------------------------------


def _loaded(module_name: str, function: str) -> Any:
    """``module_name.function`` if that module was imported, else None — also None while another
    thread is still importing it (in ``sys.modules``, not yet initialised): it has then made nothing
    yet to flush or stop."""
    import sys

    return getattr(sys.modules.get(module_name), function, None)


def _flush_global(timeout: float | None) -> None:
    flush_providers = _loaded("waxell_observe_otel.pipeline", "flush_global_providers")
    if flush_providers is not None:
        flush_providers(timeout)


@hookimpl
def on_flush(timeout: float | None) -> DeliveryReport | None:
    _flush_global(timeout)
    _flush_logs(timeout)
    return None


@hookimpl
def on_shutdown(timeout: float | None) -> DeliveryReport | None:
    _flush_global(timeout)
    stop_logs = _loaded("waxell_observe_otel.logs", "stop")
    if stop_logs is not None:
        stop_logs(timeout)
    return None


def _flush_logs(timeout: float | None) -> None:
    flush_logs = _loaded("waxell_observe_otel.logs", "flush")
    if flush_logs is not None:
        flush_logs(timeout)


def reset() -> None:
    """Forget all export state (tests)."""
    global _decision_cache

    _decision_cache = None
    stop_logs = _loaded("waxell_observe_otel.logs", "stop")
    if stop_logs is not None:
        stop_logs(timeout=1.0)
    sidecar.clear()
    forget_exporters()
    forget_providers = _loaded("waxell_observe_otel.pipeline", "forget_global_providers")
    if forget_providers is not None:
        forget_providers()

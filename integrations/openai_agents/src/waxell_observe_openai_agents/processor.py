"""The Agents SDK's tracing, recorded: a ``TracingProcessor`` that turns the SDK's spans into ours.

* a trace (``Runner.run``, or ``with trace(...)``) outside any run opens a run of its own: agent =
  the trace's workflow name, workflow ``openai-agents`` (unless ``WAXELL_OPENAI_AGENTS_AUTOCONTEXT``
  is ``false``/``0``/``no``/``off``); inside a run it records onto that run;
* an agent span → an ``agent`` container span (its tools and handoffs as attributes); a function
  span → a ``tool`` span (input, output); a handoff → a ``handoff`` span (from, to); a guardrail →
  a ``guardrail`` span (triggered). Containers nest what is recorded inside them, so the model
  calls the OpenAI integration records land under their agent;
* a generation / response span is the model call: the OpenAI integration records it (tokens,
  cost, time to first token). Only when no provider integration reported it (the OpenAI one
  switched off, or a model that is not OpenAI's SDK) is it recorded here, from the usage the SDK
  gives: never twice.

Every callback is guarded: a failure is logged, never raised into the SDK.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from waxell_observe import integration_api
from waxell_observe.context import WaxellContext
from waxell_observe.current import current_context
from waxell_observe.instrumentation import positive_int
from waxell_observe.serialize import preview, to_jsonable

__all__ = ["AUTOCONTEXT_VARIABLE", "FRAMEWORK", "WORKFLOW", "WaxellTracingProcessor"]

logger = logging.getLogger("waxell_observe")

FRAMEWORK = "openai-agents"
WORKFLOW = "openai-agents"
AUTOCONTEXT_VARIABLE = "WAXELL_OPENAI_AGENTS_AUTOCONTEXT"
CONTAINER_KINDS = {"agent": "agent", "function": "tool", "handoff": "handoff", "guardrail": "guardrail"}
"""The SDK's span types we record, and the kind of container each becomes."""
MODEL_TYPES = ("generation", "response")


def autocontext() -> bool:
    """False when ``WAXELL_OPENAI_AGENTS_AUTOCONTEXT`` turns off runs of a trace's own."""
    return os.environ.get(AUTOCONTEXT_VARIABLE, "").strip().lower() not in ("false", "0", "no", "off")


def _describe(kind: str, data: Any) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """``(span name, attributes, input)`` of an SDK span of our ``kind``.

    Read at the span's start and again at its end: the SDK opens a span before it knows all of
    it (an agent span's tools and handoffs, a function span's arguments, a handoff's target are
    filled in while it runs)."""
    attributes: dict[str, Any] = {"framework": FRAMEWORK}
    if kind == "agent":
        attributes["agent.tools"] = [str(name) for name in getattr(data, "tools", None) or []]
        attributes["agent.handoffs"] = [str(name) for name in getattr(data, "handoffs", None) or []]
        if getattr(data, "output_type", None):
            attributes["agent.output_type"] = str(data.output_type)
        return str(data.name), attributes, None
    if kind == "tool":
        attributes["tool_type"] = "function"
        if getattr(data, "mcp_data", None):
            attributes["mcp"] = data.mcp_data
        return str(data.name), attributes, {"input": getattr(data, "input", None)}
    if kind == "handoff":
        attributes["handoff.from"] = getattr(data, "from_agent", None) or ""
        attributes["handoff.to"] = getattr(data, "to_agent", None) or ""
        return f"handoff to {attributes['handoff.to'] or '?'}", attributes, None
    return str(getattr(data, "name", kind)), attributes, None


def _refresh(handle: dict[str, Any], kind: str, data: Any) -> None:
    """Bring an open span's name, attributes and input up to what the SDK knows at its end."""
    span = handle.get("span")
    if not isinstance(span, dict):
        return
    name, attributes, input_data = _describe(kind, data)
    span["name"] = name
    span["attributes"].update(to_jsonable(attributes, where=f"attributes of span {name!r}"))
    if input_data is not None:
        span["input_data"] = to_jsonable(input_data, where=f"input of span {name!r}")


class _Open:
    """An SDK span we are recording: its container handle, the run, and (model spans) the watch."""

    __slots__ = ("ctx", "handle", "watch")

    def __init__(self, ctx: WaxellContext, handle: Any = None, watch: Any = None) -> None:
        self.ctx = ctx
        self.handle = handle
        self.watch = watch


class WaxellTracingProcessor:
    """Registered once with ``agents.add_trace_processor``; records while ``active()``."""

    def __init__(self, active: Any) -> None:
        self._active = active
        self._lock = threading.Lock()
        self._runs: dict[str, WaxellContext] = {}
        self._spans: dict[str, _Open] = {}

    # -- traces ---------------------------------------------------------------------------

    def on_trace_start(self, trace: Any) -> None:
        try:
            if not self._active():
                return
            ctx = current_context.get()
            if (ctx is not None and ctx.run is not None) or not autocontext():
                return
            own = WaxellContext(
                agent_name=str(getattr(trace, "name", "") or "Agent workflow"),
                workflow_name=WORKFLOW,
                metadata={"integration": FRAMEWORK, "openai_agents.trace_id": str(trace.trace_id)},
            )
            own.__enter__()
            with self._lock:
                self._runs[str(trace.trace_id)] = own
        except Exception:
            logger.exception("waxell-observe: could not open a run for an Agents SDK trace")

    def on_trace_end(self, trace: Any) -> None:
        with self._lock:
            own = self._runs.pop(str(getattr(trace, "trace_id", "")), None)
        if own is None:
            return
        try:
            own.__exit__(None, None, None)
        except Exception:
            logger.exception("waxell-observe: could not complete the run of an Agents SDK trace")

    # -- spans ----------------------------------------------------------------------------

    def on_span_start(self, span: Any) -> None:
        try:
            if not self._active():
                return
            ctx = current_context.get()
            if ctx is None or ctx.run is None:
                return
            data = span.span_data
            kind = CONTAINER_KINDS.get(data.type)
            if kind is not None:
                name, attributes, input_data = _describe(kind, data)
                handle = ctx.enter_span(name, kind=kind, attributes=attributes, input_data=input_data)
                opened = _Open(ctx, handle=handle)
            elif data.type in MODEL_TYPES:
                opened = _Open(ctx, watch=integration_api.begin_provider_watch())
            else:
                return
            with self._lock:
                self._spans[str(span.span_id)] = opened
        except Exception:
            logger.exception("waxell-observe: could not record the start of an Agents SDK span")

    def on_span_end(self, span: Any) -> None:
        with self._lock:
            opened = self._spans.pop(str(getattr(span, "span_id", "")), None)
        if opened is None:
            return
        try:
            data = span.span_data
            error = getattr(span, "error", None)
            if opened.watch is not None:
                reports = integration_api.end_provider_watch(opened.watch)
                if reports == 0:
                    self._record_model_call(opened.ctx, data, error)
                return
            if not opened.handle:
                return
            output: dict[str, Any] | None = None
            kind = CONTAINER_KINDS[data.type]
            _refresh(opened.handle, kind, data)
            if data.type == "function":
                output = {"output": getattr(data, "output", None)}
            elif data.type == "guardrail":
                opened.handle["span"]["attributes"]["guardrail.triggered"] = bool(data.triggered)
            opened.ctx.exit_span(
                opened.handle,
                output_data=output,
                status="error" if error else "ok",
                error=_error_text(error),
            )
        except Exception:
            logger.exception("waxell-observe: could not record an Agents SDK span")

    @staticmethod
    def _record_model_call(ctx: WaxellContext, data: Any, error: Any) -> None:
        """A model call no provider integration reported: from the SDK's own usage numbers."""
        usage = getattr(data, "usage", None) or {}
        response = getattr(data, "response", None)
        if not usage and response is not None:
            usage = getattr(response, "usage", None)
        model = getattr(data, "model", None) or getattr(response, "model", None) or "unknown"
        tokens_in = positive_int(_usage(usage, "input_tokens", "prompt_tokens"))
        tokens_out = positive_int(_usage(usage, "output_tokens", "completion_tokens"))
        fields: dict[str, Any] = {
            "model": str(model),
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "attributes": {"framework": FRAMEWORK, "recorded_from": "agents_sdk_trace"},
        }
        if error:
            fields["status"] = "error"
            fields["error_message"] = preview(str(error), 2000)
        ctx.record_llm_call(**fields)

    def shutdown(self) -> None:
        """Nothing to flush: records are already on their way."""

    def force_flush(self) -> None:
        """Nothing to flush: records are already on their way."""


def _error_text(error: Any) -> str:
    """A span error of the SDK as text: its message, with the error its data names (``Error running
    tool: Tool 'x' is blocked``) when the SDK put one there."""
    if not error:
        return ""
    if not isinstance(error, dict):
        return str(error)
    message = str(error.get("message") or "error")
    data = error.get("data")
    detail = data.get("error") if isinstance(data, dict) else None
    return f"{message}: {detail}" if isinstance(detail, str) and detail else message


def _usage(usage: Any, *names: str) -> Any:
    for name in names:
        value = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, None)
        if value is not None:
            return value
    return None

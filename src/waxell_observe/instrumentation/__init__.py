"""The machinery shared by the provider SDK integrations (OpenAI, Anthropic, third parties) and the
agent-framework integrations.

A provider integration describes its SDK; this package does the rest:

* :mod:`~waxell_observe.instrumentation.patching` — :class:`Patcher` / :class:`Target` (and
  :func:`imported_factory`, a target's wrapper imported when it is patched): wrapt-based
  patches of SDK methods, applied now or when the SDK's module is imported, removed with identity
  checks (a wrapper someone else put on top of ours makes ours pass through instead).
* :mod:`~waxell_observe.instrumentation.switch` — :class:`Instrumentation`: the integration's
  ``instrument`` / ``uninstrument`` / ``is_instrumented`` / ``installed``.
* :mod:`~waxell_observe.instrumentation.plugin` — :func:`plugin_hooks`: the ``on_instrument`` /
  ``on_uninstrument`` hook implementations of the integration's plugin module.
* :mod:`~waxell_observe.instrumentation.wrappers` — :class:`Endpoint` (how one family of methods
  is guarded, observed and read), :func:`sync_wrapper` / :func:`async_wrapper` and their parts.
* :mod:`~waxell_observe.instrumentation.recording` — :class:`CallObservation`: timing and the one
  LLM record (plus ``tool_request`` decisions) each call turns into; :class:`CallResult` /
  :class:`ToolRequest`: what the integration reads from a response.
* :mod:`~waxell_observe.instrumentation.streams` — transparent stream proxies that record the call
  when the stream ends (partially, when it is abandoned), fed by an :class:`Accumulator`.
* :mod:`~waxell_observe.instrumentation.gates` — the surface gates every integration calls:
  ``llm.before`` before a request leaves (done by the wrappers) or a framework's model call starts,
  ``tool.before`` before a tool runs or for the tool calls a response asks for, ``retrieval.after``,
  ``mcp.before``; each asked once per call however many integrations see it
  (:mod:`~waxell_observe.instrumentation.gate_once`: holds and answered tool requests).
* :mod:`~waxell_observe.instrumentation.agent_spans` — :class:`AgentSpans` (one framework's),
  :class:`AgentSpan`, :func:`open_agent_span` / :func:`close_agent_span`: the ``agent`` span of an
  agent framework's invocation (in the current run, else in a run of its own when the framework's
  autocontext allows), telemetry failures logged; :func:`jsonable`: a span's input or output.
* :mod:`~waxell_observe.instrumentation.framework_calls` — :func:`record_framework_llm_call`: the
  LLM record of a framework's model call that no provider integration reported.
* :mod:`~waxell_observe.instrumentation.request` / :mod:`~waxell_observe.instrumentation.reading` —
  small helpers for reading requests (prompt guard, tool names, parameters) and SDK objects.

Imports no provider SDK; not imported by ``import waxell_observe``.
"""

from __future__ import annotations

from waxell_observe.instrumentation.agent_spans import (
    AgentSpan,
    AgentSpans,
    AgentStart,
    autocontext_enabled,
    close_agent_span,
    end_own_run,
    jsonable,
    open_agent_span,
)
from waxell_observe.instrumentation.framework_calls import record_framework_llm_call
from waxell_observe.instrumentation.gates import (
    gate_framework_llm,
    gate_framework_tool,
    gate_llm_request,
    gate_mcp_call,
    gate_retrieval,
    gate_tool_call,
    gate_tool_requests,
    holding,
    release,
)
from waxell_observe.instrumentation.patching import Patcher, Target, imported_factory
from waxell_observe.instrumentation.plugin import plugin_hooks
from waxell_observe.instrumentation.reading import get, positive_int
from waxell_observe.instrumentation.recording import (
    TOOL_REQUEST_DECISION,
    CallObservation,
    CallResult,
    ToolRequest,
)
from waxell_observe.instrumentation.request import (
    guard_kwargs,
    offered_tool_names,
    request_attributes,
    requested_model,
)
from waxell_observe.instrumentation.streams import (
    Accumulator,
    AsyncRecordingStream,
    RecordingStream,
    StreamObserver,
)
from waxell_observe.instrumentation.switch import Instrumentation
from waxell_observe.instrumentation.wrappers import (
    Endpoint,
    async_wrapper,
    begin_call,
    finish_call,
    recording_enabled,
    start_observation,
    sync_wrapper,
)

__all__ = [
    "TOOL_REQUEST_DECISION",
    "Accumulator",
    "AgentSpan",
    "AgentSpans",
    "AgentStart",
    "AsyncRecordingStream",
    "CallObservation",
    "CallResult",
    "Endpoint",
    "Instrumentation",
    "Patcher",
    "RecordingStream",
    "StreamObserver",
    "Target",
    "ToolRequest",
    "async_wrapper",
    "autocontext_enabled",
    "end_own_run",
    "begin_call",
    "close_agent_span",
    "finish_call",
    "gate_framework_llm",
    "gate_framework_tool",
    "gate_llm_request",
    "gate_mcp_call",
    "gate_retrieval",
    "gate_tool_call",
    "gate_tool_requests",
    "get",
    "guard_kwargs",
    "holding",
    "jsonable",
    "imported_factory",
    "offered_tool_names",
    "open_agent_span",
    "plugin_hooks",
    "positive_int",
    "record_framework_llm_call",
    "recording_enabled",
    "release",
    "request_attributes",
    "requested_model",
    "start_observation",
    "sync_wrapper",
]

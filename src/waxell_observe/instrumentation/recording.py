"""One observed provider call: timing, and the single LLM record it turns into.

Shared by every provider integration (OpenAI, Anthropic, third parties): the integration reads its
SDK's request and response into the neutral :class:`CallResult` / :class:`ToolRequest` shapes, and a
:class:`CallObservation` does the rest. It starts just before the SDK sends the request and is
finished exactly once: when the response arrives, when the request fails, or when a stream ends
(completed, failed, closed half-way or garbage-collected). Finishing reports the call through
:func:`waxell_observe.integration_api.record_llm_call` (the current run, or the background
collector outside a run) and records each tool call the model requested as an automatic
decision (``tool_request``) on the current run. While a framework integration (LangChain,
LlamaIndex) marks the context as recording the call itself, neither is recorded here.

Nothing here raises into the caller: recording failures are logged. Imports nothing heavy.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from waxell_observe import integration_api
from waxell_observe.instrumentation.template_hash import template_hash

__all__ = ["TOOL_REQUEST_DECISION", "CallObservation", "CallResult", "ToolRequest"]

logger = logging.getLogger("waxell_observe")

TOOL_REQUEST_DECISION = "tool_request"
"""Name of the decision recorded for each tool call a model requests."""
_ERROR_MESSAGE_LIMIT = 2_000


@dataclass(slots=True)
class ToolRequest:
    """A tool call requested by the model."""

    name: str
    call_id: str = ""
    arguments: Any = ""


@dataclass(slots=True)
class CallResult:
    """What a response (or the part of a stream that arrived) says about the call.

    ``model`` is the model as returned (empty: the requested one is recorded); token counts are
    whole-prompt input, output and cached input; ``usage_reported=False`` marks a response that
    carried no usage; ``attributes`` are merged into the record's attributes.
    """

    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cached_tokens_in: int = 0
    reasoning_tokens: int | None = None
    response_text: str | None = None
    finish_reason: str | None = None
    tool_calls: list[ToolRequest] = field(default_factory=list)
    response_id: str = ""
    usage_reported: bool = True
    error: tuple[str, str] | None = None
    """``(error_type, message)`` when the provider answered with a failure instead of raising."""
    attributes: dict[str, Any] = field(default_factory=dict)


class CallObservation:
    """One provider call between request and response (or the end of its stream).

    ``provider`` and ``operation`` name the call (``attributes["operation"]``); ``request_model``
    is recorded when the response names no model; ``messages``/``system`` feed the run's
    conversation state when ``conversational``; ``tools_offered`` are the options of the
    ``tool_request`` decisions; ``stream=True`` captures the context now, so that a stream ending
    elsewhere is still recorded on the run the call started in.
    """

    __slots__ = (
        "_context",
        "_done",
        "_lock",
        "_t0",
        "_ttft_ms",
        "attributes",
        "conversational",
        "messages",
        "operation",
        "prompt_preview",
        "provider",
        "request_model",
        "started_at",
        "stream",
        "system",
        "tools_offered",
    )

    def __init__(
        self,
        *,
        provider: str,
        operation: str,
        request_model: str,
        messages: Any = None,
        system: Any = None,
        tools_offered: list[str] | None = None,
        prompt_preview: str = "",
        stream: bool = False,
        attributes: dict[str, Any] | None = None,
        conversational: bool = True,
    ) -> None:
        self.provider = provider
        self.operation = operation
        self.request_model = request_model
        self.messages = messages
        self.system = system
        self.tools_offered = tools_offered or []
        self.prompt_preview = prompt_preview
        self.stream = stream
        self.attributes = attributes or {}
        self.conversational = conversational
        self.started_at = time.time()
        self._t0 = time.perf_counter()
        self._ttft_ms: float | None = None
        # A stream may end in another context (another task, a GC pass): record it on the run
        # that was current when the call started.
        self._context = contextvars.copy_context() if stream else None
        self._lock = threading.Lock()
        self._done = False
        integration_api.note_provider_request()  # a framework watching this call now knows it is ours

    @property
    def done(self) -> bool:
        """True once the call was recorded (or claimed for recording)."""
        return self._done

    def elapsed_ms(self) -> float:
        """Milliseconds since the observation started."""
        return round((time.perf_counter() - self._t0) * 1000.0, 3)

    def first_token(self) -> None:
        """Note the arrival of the first output (time to first token), once."""
        if self._ttft_ms is None:
            self._ttft_ms = self.elapsed_ms()

    # -- finishing ---------------------------------------------------------------------------

    def _claim(self) -> bool:
        with self._lock:
            if self._done:
                return False
            self._done = True
            return True

    def succeed(self, result: CallResult, *, partial: bool = False) -> None:
        """Record the call from ``result`` (``partial``: a stream that did not reach its end)."""
        if not self._claim():
            return
        self._emit(self._fields(result, partial=partial, error=None))

    def fail(self, error: BaseException, result: CallResult | None = None) -> None:
        """Record the call as failed with ``error`` (``result``: what a stream delivered before)."""
        if not self._claim():
            return
        self._emit(
            self._fields(result or CallResult(usage_reported=False), partial=result is not None, error=error)
        )

    # -- building the record -------------------------------------------------------------------

    def _fields(self, result: CallResult, *, partial: bool, error: BaseException | None) -> dict[str, Any]:
        attributes: dict[str, Any] = {"operation": self.operation, "stream": self.stream}
        attributes.update(self.attributes)
        if "prompt_hash" not in attributes and (self.messages is not None or self.system is not None):
            prompt_hash = template_hash(self.messages, self.system)  # a compiled managed prompt
            if prompt_hash:
                attributes["prompt_hash"] = prompt_hash
        attributes.update(result.attributes)
        model = result.model or self.request_model or "unknown"
        if self.request_model and self.request_model != model:
            attributes["request_model"] = self.request_model
        if result.response_id:
            attributes["response_id"] = result.response_id
        if result.reasoning_tokens:
            attributes["reasoning_tokens"] = result.reasoning_tokens
        if self._ttft_ms is not None:
            attributes["ttft_ms"] = self._ttft_ms
        if not result.usage_reported:
            attributes["usage_reported"] = False
        if partial:
            attributes["partial"] = True
        tool_names = [t.name for t in result.tool_calls]
        if tool_names:
            attributes["tool_calls"] = tool_names
        fields: dict[str, Any] = {
            "model": model,
            "tokens_in": max(int(result.tokens_in or 0), 0),
            "tokens_out": max(int(result.tokens_out or 0), 0),
            "cached_tokens_in": max(int(result.cached_tokens_in or 0), 0),
            "provider": self.provider,
            "prompt_preview": self.prompt_preview,
            "response_preview": _response_preview(result.response_text, tool_names),
            "duration_ms": self.elapsed_ms(),
            "started_at": self.started_at,
            "attributes": attributes,
        }
        if error is not None:
            fields["status"] = "error"
            fields["error_type"] = type(error).__name__
            fields["error_message"] = (str(error) or type(error).__name__)[:_ERROR_MESSAGE_LIMIT]
            status_code = getattr(error, "status_code", None)
            if isinstance(status_code, int):
                attributes["http_status"] = status_code
        elif result.error is not None:
            fields["status"] = "error"
            fields["error_type"], message = result.error
            fields["error_message"] = message[:_ERROR_MESSAGE_LIMIT]
        if self.conversational and error is None and result.error is None:
            fields["messages"] = _as_message_list(self.messages)
            fields["system"] = self.system
            if not partial:
                fields["response_text"] = result.response_text or ""
                fields["finish_reason"] = result.finish_reason
                fields["response_tool_calls"] = tool_names
        fields["_tool_calls"] = result.tool_calls
        return fields

    def _emit(self, fields: dict[str, Any]) -> None:
        if self._context is None:
            _record(fields, self.tools_offered)
            return
        try:
            self._context.run(_record_late, fields, self.tools_offered)
        except RuntimeError:  # the captured context is running in this thread right now
            _record(fields, self.tools_offered)


def _response_preview(text: str | None, tool_names: list[str]) -> str:
    if text:
        return text
    if tool_names:
        return "[tool calls: " + ", ".join(tool_names) + "]"
    return ""


def _as_message_list(messages: Any) -> list[Any] | None:
    if messages is None:
        return None
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    try:
        return list(messages)
    except TypeError:
        return None


def _record_late(fields: dict[str, Any], tools_offered: list[str]) -> None:
    """Record a stream's call inside the private copy of the context the call started in.

    If that run completed before the stream ended, the call goes to the background collector
    instead of being dropped (the copy is private, so clearing the current run here is local).
    """
    from waxell_observe.current import current_context

    ctx = current_context.get()
    if ctx is not None and ctx.run is not None and ctx.run.status != "running":
        current_context.set(None)
    _record(fields, tools_offered)


def _record(fields: dict[str, Any], tools_offered: list[str]) -> None:
    from waxell_observe import integration_api
    from waxell_observe.current import current_context

    tool_calls: list[ToolRequest] = fields.pop("_tool_calls", [])
    try:
        integration_api.record_llm_call(**fields)
    except Exception:
        logger.exception("waxell-observe: could not record a %s call", fields.get("provider"))
        return
    if not tool_calls or integration_api.framework_call_active():
        return  # a framework integration (LangChain, LlamaIndex) records this call and its tools
    ctx = current_context.get()
    if ctx is None or ctx.run is None:
        return
    for call in tool_calls:
        options = tools_offered if call.name in tools_offered else [*tools_offered, call.name]
        metadata: dict[str, Any] = {
            "provider": fields.get("provider", ""),
            "model": fields.get("model", ""),
            "tool_call_id": call.call_id,
            "arguments": _arguments_preview(call.arguments, ctx.run.config),
        }
        try:
            ctx.record_decision(
                name=TOOL_REQUEST_DECISION,
                options=options,
                chosen=call.name,
                metadata=metadata,
                instrumentation_type="auto",
            )
        except Exception:
            logger.exception("waxell-observe: could not record the tool request %r", call.name)


def _arguments_preview(arguments: Any, config: Any) -> str:
    from waxell_observe.serialize import preview

    limit = 0 if config.capture_content else config.preview_chars
    return preview(arguments if arguments is not None else "", limit)

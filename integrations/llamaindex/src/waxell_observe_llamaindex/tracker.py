"""The recording logic both LlamaIndex handlers share.

LlamaIndex reports two streams through its instrumentation dispatcher: spans (every
instrumented method call: enter, exit, drop, with its parent) and events (LLM chat and
completion start/progress/end, embeddings, retrieval, query, synthesis, exceptions), each
event naming the span it happened in. The :class:`Tracker` follows both:

* it keeps the open spans' parents, to place every record under its nearest recorded
  ancestor (``parent_span_id``; our span ids are the LlamaIndex span uuids);
* query and synthesis spans become ``chain`` spans, retrievals ``retrieval`` spans
  (query, nodes, scores, ``top_k``), a workflow agent's run an ``agent`` span and each of
  its tool calls a ``tool`` span; they are recorded when their span exits or is dropped;
* LLM chat/completion calls and embeddings become LLM call records, recorded on their end
  event — for a stream, when the stream has been consumed, not when the span that
  returned the stream closes — or on failure (exception event or dropped span).

Records go to the run that was current when the span or call started; LLM calls made
outside any run go to the background collector. Nothing here raises.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waxell_observe import integration_api
from waxell_observe.config import ObserveConfig, get_config
from waxell_observe.context import WaxellContext
from waxell_observe.current import current_context
from waxell_observe.errors import PolicyViolationError
from waxell_observe.pricing import infer_provider
from waxell_observe.records import SpanRecord
from waxell_observe_llamaindex import llm_gate
from waxell_observe_llamaindex.content import bounded, message_dict, plain, query_text, response_text
from waxell_observe_llamaindex.extract import (
    finish_reason_of,
    model_of,
    node_entry,
    served_model,
    tool_calls_of,
    usage_of,
)

__all__ = ["Tracker", "FRAMEWORK", "record_id", "span_name", "default_tracker"]

logger = logging.getLogger("waxell_observe")

FRAMEWORK = "llamaindex"
_ID = re.compile(r"^(?P<name>.*)-(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
_MAX_ANCESTORS = 512
_ERROR_LIMIT = 2000
_AGENT_BASES = frozenset({"BaseWorkflowAgent", "AgentWorkflow"})


def record_id(llama_span_id: str) -> str:
    """Our 32-hex id for a LlamaIndex span id (``Class.method-<uuid>``)."""
    match = _ID.match(llama_span_id)
    if match:
        return match.group("uuid").replace("-", "")
    return hashlib.md5(llama_span_id.encode("utf-8", "replace")).hexdigest()  # noqa: S324 - an id, not security


def span_name(llama_span_id: str) -> str:
    """``Class.method`` of a LlamaIndex span id."""
    match = _ID.match(llama_span_id)
    return match.group("name") if match else llama_span_id


def _error_text(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}"[:_ERROR_LIMIT] if text else type(error).__name__


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 3)


def _current_target() -> WaxellContext | None:
    ctx = current_context.get()
    if ctx is not None:
        run = ctx.run
        if run is not None and run.status == "running":
            return ctx
    return None


def _config_of(target: WaxellContext | None) -> ObserveConfig:
    run = target.run if target is not None else None
    return run.config if run is not None else get_config()


def _count_tool_call(target: WaxellContext, span: SpanRecord | None, name: str) -> None:
    """Count a recorded tool span on its run, as ``record_tool_call`` does."""
    run = target.run
    if span is not None and run is not None:
        run.tool_call_count += 1
        run.tool_names.append(name)


@dataclass(slots=True, eq=False)
class _PendingSpan:
    """A query / synthesis / retrieval / agent / tool span between start and end."""

    kind: str
    operation: str
    name: str
    llama_id: str
    record_id: str
    parent_span_id: str
    target: WaxellContext
    started_at: float
    t0: float
    input: Any = None
    output: Any = None
    has_output: bool = False
    top_k: int | None = None


@dataclass(slots=True, eq=False)
class _PendingCall:
    """An LLM call or embedding between its start and end events."""

    kind: str  # "chat", "completion" or "embedding"
    model: str
    class_name: str
    llama_id: str
    target: WaxellContext | None
    parent_span_id: str
    started_at: float
    t0: float
    messages: list[dict[str, Any]] | None = None
    prompt: str = ""
    first_token_at: float = 0.0
    chunks: int = 0
    last_response: Any = None
    marked: bool = False
    mark_previous: str = ""
    outer_framework: str = ""
    nested: bool = False
    watch: Any = None


class Tracker:
    """Open spans, pending records and the recording for one pair of handlers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parents: dict[str, str | None] = {}
        self._spans: dict[str, _PendingSpan] = {}
        self._calls: dict[str | None, list[_PendingCall]] = {}
        self._top_k: dict[str, int] = {}
        self._handlers: dict[str, Callable[[Any], None]] = {
            "LLMChatStartEvent": self._chat_start,
            "LLMCompletionStartEvent": self._completion_start,
            "LLMChatInProgressEvent": self._in_progress,
            "LLMCompletionInProgressEvent": self._in_progress,
            "LLMChatEndEvent": self._call_end,
            "LLMCompletionEndEvent": self._call_end,
            "EmbeddingStartEvent": self._embedding_start,
            "SparseEmbeddingStartEvent": self._embedding_start,
            "EmbeddingEndEvent": self._embedding_end,
            "SparseEmbeddingEndEvent": self._embedding_end,
            "ExceptionEvent": self._exception,
            "QueryStartEvent": functools.partial(self._chain_start, "query"),
            "QueryEndEvent": self._span_output,
            "SynthesizeStartEvent": functools.partial(self._chain_start, "synthesize"),
            "SynthesizeEndEvent": self._span_output,
            "RetrievalStartEvent": self._retrieval_start,
            "RetrievalEndEvent": self._retrieval_end,
            "AgentToolCallEvent": self._agent_tool_call,
        }

    # -- tree ------------------------------------------------------------------------------

    def _parent_record(self, llama_id: str | None, *, include_self: bool) -> str:
        """Our id of the nearest recorded span among ``llama_id``'s ancestors (or itself)."""
        current = llama_id if include_self else self._parents.get(llama_id) if llama_id else None
        for _ in range(_MAX_ANCESTORS):
            if current is None:
                return ""
            pending = self._spans.get(current)
            if pending is not None:
                return pending.record_id
            current = self._parents.get(current)
        return ""

    def _inside_call(self, llama_id: str | None) -> bool:
        """True when ``llama_id`` is (inside) the span of an LLM call still in progress.

        LLM classes built on ``CustomLLM`` implement ``chat`` with ``complete``: LlamaIndex
        then reports two calls for one request; the outer one is recorded.
        """
        current = llama_id
        for _ in range(_MAX_ANCESTORS):
            if current is None:
                return False
            if any(call.kind != "embedding" for call in self._calls.get(current) or ()):
                return True
            current = self._parents.get(current)
        return False

    def enclosing_model(self, llama_id: str | None) -> str | None:
        """The model of the LLM call in progress that encloses span ``llama_id`` (a ``CustomLLM``'s
        ``chat`` around its own ``complete``), or None."""
        current = self._parents.get(llama_id) if llama_id else None
        for _ in range(_MAX_ANCESTORS):
            if current is None:
                return None
            for call in self._calls.get(current) or ():
                if call.kind != "embedding":
                    return call.model
            current = self._parents.get(current)
        return None

    def _open_span(self, kind: str, operation: str, name: str, llama_id: str | None, value: Any) -> None:
        target = _current_target()
        if target is None or not llama_id:
            return
        self._spans[llama_id] = _PendingSpan(
            kind=kind,
            operation=operation,
            name=name,
            llama_id=llama_id,
            record_id=record_id(llama_id),
            parent_span_id=self._parent_record(llama_id, include_self=False),
            target=target,
            started_at=time.time(),
            t0=time.perf_counter(),
            input=value,
            top_k=self._top_k.get(llama_id),
        )

    # -- spans (from the span handler) --------------------------------------------------------

    def span_enter(self, llama_id: str, parent_id: str | None, bound_args: Any, instance: Any) -> None:
        """A LlamaIndex span opened."""
        if not get_config().enabled:
            return
        try:
            self._parents[llama_id] = parent_id
            arguments = getattr(bound_args, "arguments", None) or {}
            event = arguments.get("ev")  # workflow steps (plain functions: no instance)
            if event is not None and type(event).__name__ == "ToolCall" and hasattr(event, "tool_name"):
                self._open_span(
                    "tool", "tool_call", str(event.tool_name), llama_id, getattr(event, "tool_kwargs", None)
                )
                return
            if instance is None:
                return
            method = span_name(llama_id).rsplit(".", 1)[-1]
            if method == "retrieve":
                top_k = getattr(instance, "similarity_top_k", None)
                if isinstance(top_k, int) and not isinstance(top_k, bool):
                    self._top_k[llama_id] = top_k
                return
            if method == "run":
                bases = {cls.__name__ for cls in type(instance).__mro__}
                if "Workflow" in bases:
                    kind = "agent" if bases & _AGENT_BASES else "chain"
                    start = arguments.get("start_event")
                    kwargs = arguments.get("kwargs") or {}
                    value = kwargs.get("user_msg") if isinstance(kwargs, dict) else None
                    if value is None and start is not None:
                        value = getattr(start, "user_msg", None)
                    self._open_span(kind, "run", type(instance).__name__, llama_id, value)
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LlamaIndex span_enter failed")

    def span_exit(self, llama_id: str, result: Any = None, error: BaseException | None = None) -> None:
        """A LlamaIndex span exited (``error`` set when it was dropped)."""
        try:
            llm_gate.settle(llama_id, result)  # the llm.before hold of an LLM method's call
            self._parents.pop(llama_id, None)
            self._top_k.pop(llama_id, None)
            pending = self._spans.pop(llama_id, None)
            if error is not None:
                for call in self._calls.pop(llama_id, None) or ():
                    self._record_call(call, call.last_response, error)
            if pending is not None:
                self._record_span(pending, result, error)
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LlamaIndex span_exit failed")

    # -- events (from the event handler) -----------------------------------------------------

    def event(self, event: Any) -> None:
        """A LlamaIndex instrumentation event."""
        try:
            class_name = event.class_name()
        except Exception:  # noqa: BLE001 - not an instrumentation event
            return
        handler = self._handlers.get(class_name)
        if handler is None or not get_config().enabled:
            return
        try:
            handler(event)
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: LlamaIndex %s handling failed", class_name)

    def _chain_start(self, operation: str, event: Any) -> None:
        """A query or synthesis (``operation``) started: a ``chain`` span."""
        llama_id = event.span_id
        self._open_span(
            "chain",
            operation,
            span_name(llama_id or operation),
            llama_id,
            query_text(getattr(event, "query", None)),
        )

    def _retrieval_start(self, event: Any) -> None:
        llama_id = event.span_id
        source = span_name(llama_id or "retrieval").split(".", 1)[0]
        self._open_span(
            "retrieval", "retrieve", source, llama_id, query_text(getattr(event, "str_or_query_bundle", None))
        )

    def _span_output(self, event: Any) -> None:
        pending = self._spans.get(event.span_id)
        if pending is not None:
            pending.output = getattr(event, "response", None)
            pending.has_output = True

    def _retrieval_end(self, event: Any) -> None:
        pending = self._spans.get(event.span_id)
        if pending is not None:
            pending.output = list(getattr(event, "nodes", None) or [])
            pending.has_output = True

    def _agent_tool_call(self, event: Any) -> None:
        """Agents of older LlamaIndex versions announce a tool call before making it."""
        target = _current_target()
        if target is None:
            return
        tool = getattr(event, "tool", None)
        name = getattr(tool, "name", None) or "tool"
        arguments: Any = getattr(event, "arguments", "")
        with contextlib.suppress(ValueError):
            arguments = json.loads(arguments) if isinstance(arguments, str) and arguments else arguments
        config = _config_of(target)
        span = target.record_span(
            "tool",
            str(name),
            attributes={
                "tool_type": "function",
                "framework": FRAMEWORK,
                "description": bounded(getattr(tool, "description", "") or "", config),
            },
            input=bounded(arguments, config),
            output="",
            parent_span_id=self._parent_record(event.span_id, include_self=True),
        )
        _count_tool_call(target, span, str(name))

    # -- model calls ----------------------------------------------------------------------

    def _start_call(self, kind: str, event: Any, messages: list[dict[str, Any]] | None, prompt: str) -> None:
        model_dict = getattr(event, "model_dict", None) or {}
        class_name = model_dict.get("class_name") if isinstance(model_dict, dict) else None
        llama_id = event.span_id
        call = _PendingCall(
            kind=kind,
            model=model_of(model_dict),
            class_name=class_name if isinstance(class_name, str) else "",
            llama_id=llama_id or "",
            target=_current_target(),
            parent_span_id=self._parent_record(llama_id, include_self=True),
            started_at=time.time(),
            t0=time.perf_counter(),
            messages=messages,
            prompt=prompt,
        )
        if kind == "embedding":
            # LlamaIndex reports no usage for embeddings: an instrumented provider SDK that
            # reports the same request (with its tokens) is recorded instead of us.
            call.watch = integration_api.begin_provider_watch()
        else:
            call.nested = self._inside_call(llama_id)
            active = integration_api.framework_call_active()
            if active == FRAMEWORK and not self._calls:
                active = ""  # a stale mark: left by a stream that was never consumed nor closed
            if not active:
                call.mark_previous = integration_api.begin_framework_call(FRAMEWORK)
                call.marked = True
            elif active != FRAMEWORK:
                call.outer_framework = active
        with self._lock:
            self._calls.setdefault(llama_id, []).append(call)

    def _pop_call(self, llama_id: str | None, kinds: tuple[str, ...]) -> _PendingCall | None:
        with self._lock:
            calls = self._calls.get(llama_id)
            if not calls:
                return None
            for index in range(len(calls) - 1, -1, -1):
                if calls[index].kind in kinds:
                    call = calls.pop(index)
                    if not calls:
                        del self._calls[llama_id]
                    return call
        return None

    def _peek_call(self, llama_id: str | None) -> _PendingCall | None:
        calls = self._calls.get(llama_id)
        return calls[-1] if calls else None

    def _chat_start(self, event: Any) -> None:
        messages = [message_dict(m) for m in getattr(event, "messages", None) or []]
        prompt = "\n".join(f"{m['role']}: {m['content']}" for m in messages)
        self._start_call("chat", event, messages, prompt)

    def _completion_start(self, event: Any) -> None:
        prompt = getattr(event, "prompt", "")
        self._start_call("completion", event, None, prompt if isinstance(prompt, str) else "")

    def _in_progress(self, event: Any) -> None:
        call = self._peek_call(event.span_id)
        if call is not None:
            if not call.chunks:
                call.first_token_at = time.perf_counter()
            call.chunks += 1
            call.last_response = getattr(event, "response", None)

    def _call_end(self, event: Any) -> None:
        call = self._pop_call(event.span_id, ("chat", "completion"))
        if call is not None:
            self._record_call(call, getattr(event, "response", None), None)

    def _exception(self, event: Any) -> None:
        call = self._pop_call(event.span_id, ("chat", "completion", "embedding"))
        if call is not None:
            error = getattr(event, "exception", None)
            self._record_call(
                call, call.last_response, error if isinstance(error, BaseException) else None, failed=True
            )

    def _embedding_start(self, event: Any) -> None:
        self._start_call("embedding", event, None, "")

    def _embedding_end(self, event: Any) -> None:
        call = self._pop_call(event.span_id, ("embedding",))
        if call is None:
            return
        if call.watch is not None and integration_api.end_provider_watch(call.watch):
            return
        chunks = list(getattr(event, "chunks", None) or [])
        embeddings = getattr(event, "embeddings", None) or []
        call.prompt = "\n".join(c for c in chunks if isinstance(c, str))
        attributes = {
            "framework": FRAMEWORK,
            "operation": "embedding",
            "llamaindex_span_id": call.llama_id,
            "inputs": len(chunks),
            "usage_reported": False,
        }
        if embeddings and isinstance(embeddings[0], (list, dict)):
            attributes["dimensions"] = len(embeddings[0])
        self._emit(
            call,
            {
                "model": call.model,
                "tokens_in": 0,
                "tokens_out": 0,
                "provider": infer_provider(call.model),
                "task": "embedding",
                "prompt_preview": call.prompt,
                "duration_ms": _ms(call.t0),
                "started_at": call.started_at,
                "parent_span_id": call.parent_span_id,
                "attributes": attributes,
            },
        )

    def _record_call(
        self, call: _PendingCall, response: Any, error: BaseException | None, *, failed: bool = False
    ) -> None:
        if call.marked:
            integration_api.end_framework_call(call.mark_previous)
        if call.watch is not None:
            integration_api.end_provider_watch(call.watch)
        if call.outer_framework or call.nested or call.kind == "embedding" and error is None:
            return
        if isinstance(error, PolicyViolationError):
            return  # refused before the model was asked (llm.before): no call was made
        usage = usage_of(response)
        model = served_model(response) or call.model
        text = ""
        if response is not None:
            raw_text = getattr(response, "text", None) if call.kind == "completion" else None
            if call.kind == "chat":
                message = getattr(response, "message", None)
                raw_text = message_dict(message)["content"] if message is not None else ""
            text = raw_text if isinstance(raw_text, str) else ""
        tool_calls = tool_calls_of(response) if call.kind == "chat" and response is not None else []
        finish = finish_reason_of(response)
        attributes: dict[str, Any] = {"framework": FRAMEWORK, "llamaindex_span_id": call.llama_id}
        if model != call.model:
            attributes["request_model"] = call.model
        if call.class_name:
            attributes["llm_class"] = call.class_name
        if call.chunks:
            attributes["streamed"] = True
            attributes["chunks"] = call.chunks
            attributes["time_to_first_token_ms"] = round((call.first_token_at - call.t0) * 1000.0, 3)
        if not usage.reported:
            attributes["usage_reported"] = False
        fields: dict[str, Any] = {
            "model": model,
            "tokens_in": usage.tokens_in,
            "tokens_out": usage.tokens_out,
            "cached_tokens_in": usage.cached_tokens_in,
            "provider": infer_provider(model),
            "task": "embedding" if call.kind == "embedding" else "",
            "prompt_preview": call.prompt,
            "response_preview": text
            or ("tool_calls: " + ", ".join(str(c["name"]) for c in tool_calls) if tool_calls else ""),
            "duration_ms": _ms(call.t0),
            "started_at": call.started_at,
            "parent_span_id": call.parent_span_id,
        }
        if isinstance(error, GeneratorExit):
            attributes["partial"] = True
        elif error is not None or failed:
            fields["status"] = "error"
            fields["error_type"] = type(error).__name__ if error is not None else "Exception"
            fields["error_message"] = str(error)[:_ERROR_LIMIT] if error is not None else ""
        elif call.messages is not None:
            fields["messages"] = call.messages
            fields["response_text"] = text
            fields["response_tool_calls"] = tool_calls or None
        if finish:
            fields["finish_reason"] = finish
        fields["attributes"] = attributes
        self._emit(call, fields)

    @staticmethod
    def _emit(call: _PendingCall, fields: dict[str, Any]) -> None:
        if call.target is not None:
            call.target.record_llm_call(**fields)
        else:
            integration_api.record_llm_call(**fields)

    # -- recording spans ----------------------------------------------------------------------

    def _record_span(self, pending: _PendingSpan, result: Any, error: BaseException | None) -> None:
        target = pending.target
        config = _config_of(target)
        attributes: dict[str, Any] = {"framework": FRAMEWORK, "llamaindex_span_id": pending.llama_id}
        status, error_text = "ok", ""
        if error is not None:
            status, error_text = "error", _error_text(error)
        common: dict[str, Any] = {
            "status": status,
            "duration_ms": _ms(pending.t0),
            "error": error_text,
            "parent_span_id": pending.parent_span_id,
            "started_at": pending.started_at,
            "span_id": pending.record_id,
        }
        if pending.kind == "retrieval":
            nodes = pending.output if pending.has_output else (result if isinstance(result, list) else [])
            documents, scores = [], []
            for node in nodes or []:
                entry, score, text = node_entry(node)
                entry["content"] = bounded(text, config)
                entry["metadata"] = bounded(entry["metadata"], config)
                documents.append(entry)
                if score is not None:
                    scores.append(score)
            attributes.update({"source": pending.name, "document_count": len(documents)})
            if pending.top_k is not None:
                attributes["top_k"] = pending.top_k
            if documents and len(scores) == len(documents):
                attributes["scores"] = scores
            target.record_span(
                "retrieval",
                pending.name,
                attributes=attributes,
                input={"query": bounded(pending.input, config)},
                output={"documents": documents},
                **common,
            )
            return
        if pending.kind == "tool":
            tool_output = getattr(result, "tool_output", None)
            if error is None and getattr(tool_output, "is_error", False):
                common["status"] = "error"
                common["error"] = str(getattr(tool_output, "content", "") or "tool error")[:_ERROR_LIMIT]
            attributes["tool_type"] = "function"
            if common["error"]:
                attributes["error"] = common["error"]
            output = getattr(tool_output, "content", None) if tool_output is not None else None
            span = target.record_span(
                "tool",
                pending.name,
                attributes=attributes,
                input=bounded(pending.input, config),
                output=bounded(output, config) if output is not None else "",
                **common,
            )
            _count_tool_call(target, span, pending.name)
            return
        attributes["operation"] = pending.operation
        value = pending.output if pending.has_output else result
        if pending.operation == "run":
            value = getattr(value, "result", value)
        answer = response_text(value)
        if answer is None and hasattr(value, "response_gen"):
            attributes["streaming"] = True
        output = bounded(answer, config) if answer is not None else None
        if output is None and value is not None and not hasattr(value, "response_gen"):
            output = bounded(plain(value), config)
        target.record_span(
            pending.kind,
            pending.name,
            attributes=attributes,
            input=bounded(pending.input, config),
            output=output,
            **common,
        )


_default: Tracker | None = None
_default_lock = threading.Lock()


def default_tracker() -> Tracker:
    """The tracker shared by handlers created without one (and by ``instrument()``)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Tracker()
    return _default

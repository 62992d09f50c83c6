"""Haystack's tracing spans recorded on the current run.

Haystack reports what it does through its tracing API: every ``tracing.tracer.trace(...)`` goes
through the global ``ProxyTracer``, whatever tracer the program enabled (none, OpenTelemetry,
Langfuse, ...). ``ProxyTracer.trace`` is wrapped: the program's tracer still gets its span (ours
hands it every tag, and ``raw_span()`` returns its raw span), and the span is recorded here too:

* ``haystack.pipeline.run`` → a ``chain`` span named by the pipeline's ``name`` metadata (else
  ``pipeline``; input: the pipeline's input data). Outside any run it opens a run of its own (agent
  = that name, workflow ``haystack``), unless ``WAXELL_HAYSTACK_AUTOCONTEXT`` is
  ``false``/``0``/``no``/``off``.
* ``haystack.component.run`` → a ``chain`` span named by the component's name in the pipeline
  (input / output: the component's; ``haystack.component.type``, ``haystack.component.visits``);
  an ``Agent`` component is an ``agent`` span instead, and its ``haystack.agent.run`` is merged into it.
* ``haystack.agent.run`` (an agent outside a pipeline) → an ``agent`` span named ``Agent`` (opening a
  run of its own outside any run, like a pipeline); attributes ``agent.tools``,
  ``haystack.agent.max_steps``, ``haystack.agent.steps_taken``; output: the last message's text.
* ``haystack.agent.step.tool`` → a ``tool`` span named by the tool (input: the model's arguments;
  output: the result; failed when Haystack marks ``haystack.tool.error``).
* ``haystack.agent.step`` is transparent: the step's model call and tools are recorded under the agent.

Model calls are recorded once: a generator component, a ``haystack.chat_generator.run`` and an agent
step's ``haystack.agent.step.llm`` are *watched*; the provider integration that sees the request
(OpenAI, ...) records it, and only when none reported one is the call recorded here from the
generator's reply metadata (``recorded_from``: ``haystack_meta``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from haystack.tracing.tracer import Span

from waxell_observe import integration_api
from waxell_observe.context import WaxellContext
from waxell_observe.current import current_context
from waxell_observe.instrumentation import end_own_run, positive_int, recording_enabled
from waxell_observe.serialize import preview, to_jsonable

__all__ = [
    "AUTOCONTEXT_VARIABLE",
    "FRAMEWORK",
    "RECORDED_FROM",
    "WORKFLOW",
    "RecordedSpan",
    "autocontext",
    "trace_wrapper",
]

logger = logging.getLogger("waxell_observe")

FRAMEWORK = "haystack"
WORKFLOW = "haystack"
AUTOCONTEXT_VARIABLE = "WAXELL_HAYSTACK_AUTOCONTEXT"
RECORDED_FROM = "haystack_meta"
"""``recorded_from`` of a model call no provider integration reported."""

_PREVIEW = 4000
_ITEMS = 100
_AGENT_TYPES = ("haystack.components.agents.agent.Agent",)
_WATCHED_OPERATIONS = ("haystack.agent.step.llm", "haystack.chat_generator.run")
_OUTPUT_TAGS = ("haystack.component.output", "haystack.agent.step.llm.output")


def autocontext() -> bool:
    """False when ``WAXELL_HAYSTACK_AUTOCONTEXT`` turns off runs of a pipeline's or agent's own."""
    return os.environ.get(AUTOCONTEXT_VARIABLE, "").strip().lower() not in ("false", "0", "no", "off")


def jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-able preview of a Haystack value (``ChatMessage``, ``Document``, ... by ``to_dict()``)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return preview(value, _PREVIEW)
    if depth > 6:
        return preview(str(value), _PREVIEW)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item, depth + 1) for key, item in list(value.items())[:_ITEMS]}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        kept = [jsonable(item, depth + 1) for item in items[:_ITEMS]]
        return kept + ([f"... {len(items) - _ITEMS} more"] if len(items) > _ITEMS else [])
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        try:
            return jsonable(to_dict(), depth + 1)
        except Exception:  # noqa: BLE001 - a value that cannot describe itself is shown as text
            logger.debug("waxell-observe: %s.to_dict() failed", type(value).__name__, exc_info=True)
    return preview(str(value), _PREVIEW)


def _message_text(message: Any) -> Any:
    text = getattr(message, "text", None)
    return text if isinstance(text, str) else jsonable(message)


class _Watch:
    """The model calls reported while a watched span was open (nested watches add theirs to it)."""

    __slots__ = ("handle", "nested", "outer", "token")

    def __init__(self) -> None:
        self.outer = _watching.get()
        self.token = _watching.set(self)
        self.handle = integration_api.begin_provider_watch()
        self.nested = 0

    def end(self) -> int:
        reported = integration_api.end_provider_watch(self.handle) + self.nested
        with contextlib.suppress(ValueError):  # ended in another context: nothing of ours to restore there
            _watching.reset(self.token)
        return reported

    def tell_outer(self, reported: int) -> None:
        if self.outer is not None:
            self.outer.nested += reported


_watching: ContextVar[_Watch | None] = ContextVar("waxell_haystack_watch", default=None)


class RecordedSpan(Span):
    """The span Haystack gets: the program's tracer's span, with every tag also kept for our record."""

    def __init__(self, inner: Span, operation: str, tags: Mapping[str, Any] | None) -> None:
        self.inner = inner
        self.operation = operation
        self.tags: dict[str, Any] = dict(tags or {})
        self.content: dict[str, Any] = {}

    def set_tag(self, key: str, value: Any) -> None:
        self.tags[key] = value
        self.inner.set_tag(key, value)

    def set_content_tag(self, key: str, value: Any) -> None:
        """Kept for our record whatever ``HAYSTACK_CONTENT_TRACING_ENABLED`` says; the program's tracer
        gets it under its own rule."""
        self.content[key] = value
        self.inner.set_content_tag(key, value)

    def raw_span(self) -> Any:
        return self.inner.raw_span()

    def get_correlation_data_for_logs(self) -> dict[str, Any]:
        return self.inner.get_correlation_data_for_logs()


def _tool_names(tools: Any) -> list[str]:
    names: list[str] = []
    for tool in tools if isinstance(tools, (list, tuple)) else [tools] if tools else []:
        inner = getattr(tool, "tools", None)  # a Toolset
        if inner is not None and not isinstance(tool, str):
            names.extend(_tool_names(list(inner)))
        else:
            names.append(str(getattr(tool, "name", tool)))
    return names


class _Recorder:
    """What one Haystack span becomes on the run: a container span, a watch, or both."""

    def __init__(self, operation: str, tags: Mapping[str, Any]) -> None:
        self.operation = operation
        self.ctx: WaxellContext | None = None
        self.own: WaxellContext | None = None
        self.handle: dict[str, Any] = {}
        self.watch: _Watch | None = None
        self.merged_into: _Recorder | None = None
        self.agent_component = False
        self.started = time.time()
        name, kind, attributes, input_data = self._describe(operation, tags)
        watched = operation in _WATCHED_OPERATIONS or (
            operation == "haystack.component.run"
            and str(tags.get("haystack.component.type", "")).endswith("Generator")
        )
        if kind:
            self._enter(name, kind, attributes, input_data)
        if watched:
            self.watch = _Watch()

    def _describe(
        self, operation: str, tags: Mapping[str, Any]
    ) -> tuple[str, str, dict[str, Any], dict[str, Any] | None]:
        base: dict[str, Any] = {"framework": FRAMEWORK, "haystack.operation": operation}
        if operation == "haystack.pipeline.run":
            metadata = tags.get("haystack.pipeline.metadata")
            name = metadata.get("name") if isinstance(metadata, Mapping) else None
            base["haystack.pipeline.execution_mode"] = str(tags.get("haystack.pipeline.execution_mode", ""))
            return (
                str(name) if name else "pipeline",
                "chain",
                base,
                {"data": jsonable(tags.get("haystack.pipeline.input_data"))},
            )
        if operation == "haystack.component.run":
            qualified = str(tags.get("haystack.component.fully_qualified_type", ""))
            self.agent_component = qualified in _AGENT_TYPES
            base["haystack.component.type"] = str(tags.get("haystack.component.type", ""))
            name = str(tags.get("haystack.component.name") or base["haystack.component.type"] or "component")
            return name, "agent" if self.agent_component else "chain", base, None
        if operation == "haystack.agent.run":
            outer = _recording.get()
            if outer is not None and outer.agent_component and outer.operation == "haystack.component.run":
                self.merged_into = outer
                outer.update_attributes(_agent_attributes(tags))
                return "", "", {}, None
            return "Agent", "agent", base | _agent_attributes(tags), None
        if operation == "haystack.agent.step.tool":
            name = str(tags.get("haystack.tool.name") or "tool")
            return name, "tool", base | {"tool_type": "function"}, None
        return "", "", {}, None

    def _enter(self, name: str, kind: str, attributes: dict[str, Any], input_data: Any) -> None:
        ctx = current_context.get()
        if ctx is None or ctx.run is None:
            if kind == "chain" and self.operation != "haystack.pipeline.run":
                return
            if kind == "tool" or not autocontext():
                return
            self.own = WaxellContext(
                agent_name=name if self.operation == "haystack.pipeline.run" else f"haystack-{name.lower()}",
                workflow_name=WORKFLOW,
                inputs=input_data if isinstance(input_data, dict) else None,
                metadata={"integration": FRAMEWORK},
            )
            ctx = self.own.__enter__()
        self.ctx = ctx
        self.handle = ctx.enter_span(name, kind=kind, attributes=attributes, input_data=input_data)

    def update_attributes(self, attributes: Mapping[str, Any]) -> None:
        span = self.handle.get("span")
        if isinstance(span, dict):
            span["attributes"].update(to_jsonable(dict(attributes), where="haystack span attributes"))

    def _set_input(self, value: Any) -> None:
        span = self.handle.get("span")
        if isinstance(span, dict) and span.get("input_data") is None and value is not None:
            span["input_data"] = to_jsonable(value, where="haystack span input")

    def close(self, span: RecordedSpan, exc: BaseException | None) -> None:
        if self.watch is not None:
            reported = self.watch.end()
            if reported == 0 and exc is None:
                reported = _record_from_meta(span, self.started)
            self.watch.tell_outer(reported)
        if self.merged_into is not None:
            self.merged_into.finish_agent(span)
            return
        output = self._finish(span)
        if self.ctx is not None and self.handle:
            if exc is None and span.tags.get("haystack.tool.error") is True:
                self.ctx.exit_span(self.handle, output_data=output, status="error", error=_tool_error(span))
            else:
                self.ctx.exit_span(self.handle, output_data=None if exc else output, exc=exc)
        if self.own is not None:
            end_own_run(self.own, output, exc)

    def finish_agent(self, span: RecordedSpan) -> None:
        """The agent run merged into this (its component's) span ended: keep its results."""
        steps = span.tags.get("haystack.agent.steps_taken")
        if steps is not None:
            self.update_attributes({"haystack.agent.steps_taken": steps})

    def _finish(self, span: RecordedSpan) -> dict[str, Any] | None:
        content = span.content
        if self.operation == "haystack.component.run":
            self._set_input(_io(content.get("haystack.component.input")))
            visits = span.tags.get("haystack.component.visits")
            if visits is not None:
                self.update_attributes({"haystack.component.visits": visits})
            output = content.get("haystack.component.output")
            if self.agent_component and isinstance(output, Mapping) and "last_message" in output:
                return {"output": _message_text(output["last_message"])}
            return _io(output)
        if self.operation == "haystack.agent.run":
            steps = span.tags.get("haystack.agent.steps_taken")
            if steps is not None:
                self.update_attributes({"haystack.agent.steps_taken": steps})
            result = content.get("haystack.agent.output")
            if isinstance(result, Mapping) and "last_message" in result:
                return {"output": _message_text(result["last_message"])}
            return _io(result)
        if self.operation == "haystack.agent.step.tool":
            self._set_input(_io(content.get("haystack.agent.step.tool.input")))
            return {"output": jsonable(content.get("haystack.agent.step.tool.output"))}
        return None


def _io(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    shown = jsonable(value)
    return shown if isinstance(shown, dict) else {"value": shown}


def _tool_error(span: RecordedSpan) -> str:
    output = span.content.get("haystack.agent.step.tool.output")
    if isinstance(output, Mapping) and "error" in output:
        return str(output["error"])
    return "tool invocation failed"


def _agent_attributes(tags: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "agent.tools": _tool_names(tags.get("haystack.agent.tools")),
        "haystack.agent.max_steps": tags.get("haystack.agent.max_steps"),
        "haystack.agent.exit_conditions": jsonable(tags.get("haystack.agent.exit_conditions")),
    }


def _replies(span: RecordedSpan) -> tuple[Any, Mapping[str, Any]] | None:
    """The first reply of a generator's output and its metadata."""
    for key in _OUTPUT_TAGS:
        output = span.content.get(key)
        if not isinstance(output, Mapping):
            continue
        replies = output.get("replies")
        if not isinstance(replies, list) or not replies:
            continue
        reply = replies[0]
        meta = getattr(reply, "meta", None)
        if not isinstance(meta, Mapping):  # a text generator: replies are strings, metadata beside them
            metas = output.get("meta")
            meta = metas[0] if isinstance(metas, list) and metas and isinstance(metas[0], Mapping) else {}
        return reply, meta
    return None


def _record_from_meta(span: RecordedSpan, started: float) -> int:
    """Record the generator call from its reply's metadata; 1 when recorded."""
    found = _replies(span)
    if found is None:
        return 0
    reply, meta = found
    usage = meta.get("usage") if isinstance(meta.get("usage"), Mapping) else {}
    assert isinstance(usage, Mapping)
    details = usage.get("prompt_tokens_details")
    fields: dict[str, Any] = {
        "model": str(meta.get("model") or "unknown"),
        "tokens_in": positive_int(usage.get("prompt_tokens", usage.get("input_tokens"))),
        "tokens_out": positive_int(usage.get("completion_tokens", usage.get("output_tokens"))),
        "cached_tokens_in": positive_int(details.get("cached_tokens")) if isinstance(details, Mapping) else 0,
        "duration_ms": round((time.time() - started) * 1000.0, 3),
        "started_at": started,
        "attributes": {"framework": FRAMEWORK, "recorded_from": RECORDED_FROM},
    }
    text = _message_text(reply) if not isinstance(reply, str) else reply
    if isinstance(text, str) and text:
        fields["response_preview"] = preview(text, 500)
    finish = meta.get("finish_reason")
    if isinstance(finish, str) and finish:
        fields["finish_reason"] = finish
    try:
        integration_api.record_llm_call(**fields)
    except Exception:
        logger.exception("waxell-observe: could not record a Haystack generator call")
        return 0
    return 1


_recording: ContextVar[_Recorder | None] = ContextVar("waxell_haystack_recorder", default=None)


def _open(operation: str, tags: Mapping[str, Any]) -> _Recorder | None:
    try:
        return _Recorder(operation, tags)
    except Exception:
        logger.exception("waxell-observe: could not record the start of Haystack span %r", operation)
        return None


def _close(recorder: _Recorder | None, span: RecordedSpan, exc: BaseException | None) -> None:
    if recorder is None:
        return
    try:
        recorder.close(span, exc)
    except Exception:
        logger.exception("waxell-observe: could not record Haystack span %r", recorder.operation)


@contextlib.contextmanager
def _traced(
    wrapped: Callable[..., Any], operation: str, tags: Mapping[str, Any] | None, parent: Any
) -> Iterator[RecordedSpan]:
    if isinstance(parent, RecordedSpan):
        parent = parent.inner
    with wrapped(operation, tags=tags, parent_span=parent) as inner:
        recorded = RecordedSpan(inner, operation, tags)
        recorder = _open(operation, recorded.tags)
        token = _recording.set(recorder if recorder is not None and recorder.handle else _recording.get())
        try:
            yield recorded
        except BaseException as exc:
            _recording.reset(token)
            _close(recorder, recorded, exc)
            raise
        _recording.reset(token)
        _close(recorder, recorded, None)


def trace_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``ProxyTracer.trace``: the program's tracer's span, recorded on the run as well."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)
        operation = kwargs.get("operation_name", args[0] if args else "")
        tags = kwargs.get("tags", args[1] if len(args) > 1 else None)
        parent = kwargs.get("parent_span", args[2] if len(args) > 2 else None)
        return _traced(wrapped, str(operation), tags, parent)

    return wrapper

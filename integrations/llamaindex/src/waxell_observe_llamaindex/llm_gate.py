"""The ``llm.before`` gate of LlamaIndex's LLM calls, for every LLM class.

Each LLM method LlamaIndex decorates (``chat``, ``complete``, their ``a``-sync and ``stream`` variants, on
every LLM class: OpenAI, Anthropic, ``CustomLLM``, ``MockLLM``, ...) calls
``CallbackManager.on_event_start(CBEventType.LLM, ...)`` with the messages (or the prompt) and the LLM's
``to_dict()`` just before it runs; nothing else starts an ``LLM`` event. The patch of ``on_event_start``
asks the gate there: a ``block`` raises :class:`~waxell_observe.errors.PolicyViolationError` out of the
LLM method before the model (or its provider SDK) is called. (The instrumentation dispatcher cannot do
this: it swallows whatever its handlers raise.)

The gate's answer is held for the request the call makes underneath
(:func:`~waxell_observe.instrumentation.gate_framework_llm`), so the provider SDK's wrapper there (the
``openai`` SDK under ``llama_index.llms.openai``) does not ask again; the inner call of an LLM whose ``chat``
calls its own ``complete`` (the same model, inside a call in progress: the tracker knows) is not asked
either. The hold ends when taken, or with the call's
``LLM`` event (``on_event_end``: when the call returns or raises, or when its stream ends or is closed), or
when the LLM method's span exits with something other than a stream, or when a stream that was never
consumed is garbage-collected (:func:`settle`, called by the span handler).
"""

from __future__ import annotations

import threading
import types
import weakref
from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import gate_framework_llm, release
from waxell_observe.instrumentation.gates import Hold, max_tokens_of
from waxell_observe.pricing import infer_provider
from waxell_observe_llamaindex.extract import model_of

__all__ = ["TARGET_MODULE", "event_end_wrapper", "event_start_wrapper", "settle"]

TARGET_MODULE = "llama_index.core.callbacks.base"
_MAX_HOLDS = 4096
_lock = threading.Lock()
_by_event: dict[str, Hold] = {}
"""LLM event id -> the hold of its call (until the event ends)."""
_by_span: dict[str, Hold] = {}
"""Span id of the LLM method -> the hold of its call (until the span exits)."""
_STREAMS = (types.GeneratorType, types.AsyncGeneratorType)


def _is_llm_event(event_type: Any) -> bool:
    return bool(getattr(event_type, "value", event_type) == "llm")


def _payload_value(payload: Any, name: str) -> Any:
    """``payload[EventPayload.<name>]`` (the enum's value is the key's string)."""
    if not isinstance(payload, dict):
        return None
    for key, value in payload.items():
        if getattr(key, "value", key) == name:
            return value
    return None


def _gate(payload: Any, span_id: str) -> Hold | None:
    model_dict = _payload_value(payload, "serialized")
    model_dict = model_dict if isinstance(model_dict, dict) else {}
    messages = _payload_value(payload, "messages")
    if messages is None:
        messages = _payload_value(payload, "formatted_prompt")
    extra = _payload_value(payload, "additional_kwargs")
    model = model_of(model_dict)
    from waxell_observe_llamaindex.tracker import default_tracker  # it imports this module

    outer = default_tracker().enclosing_model(span_id)
    if outer is not None and outer.strip().lower() == model.strip().lower():
        return None  # the inner method of a call asked about already (a CustomLLM's chat -> complete)
    return gate_framework_llm(
        provider=infer_provider(model),
        model=model,
        messages=messages,
        system=model_dict.get("system_prompt"),
        max_tokens=max_tokens_of(extra) or max_tokens_of(model_dict) or model_dict.get("num_output"),
    )


def _keep(table: dict[str, Hold], key: str, made: Hold) -> None:
    with _lock:
        if len(table) >= _MAX_HOLDS:  # ends never seen: release rather than keep them forever
            for old in table.values():
                release(old)
            table.clear()
        table[key] = made


def _span_id() -> str:
    try:
        from llama_index.core.instrumentation.span import active_span_id
    except ImportError:  # pragma: no cover - every LlamaIndex with callbacks has it
        return ""
    value = active_span_id.get()
    return value if isinstance(value, str) else ""


def event_start_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``CallbackManager.on_event_start(event_type, payload, ...)``: ``llm.before`` for an ``LLM`` event."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        event_type = args[0] if args else kwargs.get("event_type")
        if not _is_llm_event(event_type) or not active():
            return wrapped(*args, **kwargs)
        payload = args[1] if len(args) > 1 else kwargs.get("payload")
        span_id = _span_id()
        made = _gate(payload, span_id)  # PolicyViolationError: raised before the model is called
        try:
            event_id = wrapped(*args, **kwargs)
        except BaseException:
            release(made)
            raise
        if made is not None:
            if isinstance(event_id, str):
                _keep(_by_event, event_id, made)
            if span_id:
                _keep(_by_span, span_id, made)
        return event_id

    return wrapper


def event_end_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``CallbackManager.on_event_end(event_type, payload, event_id)``: the call's hold ends."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        event_type = args[0] if args else kwargs.get("event_type")
        if _by_event and _is_llm_event(event_type):
            event_id = args[2] if len(args) > 2 else kwargs.get("event_id")
            with _lock:
                made = _by_event.pop(event_id, None) if isinstance(event_id, str) else None
            release(made)
        return wrapped(*args, **kwargs)

    return wrapper


def settle(span_id: str, result: Any) -> None:
    """The LLM method's span ``span_id`` exited with ``result``: a stream keeps its call's hold until it
    ends or is garbage-collected unconsumed; anything else ends it."""
    if not _by_span:
        return
    with _lock:
        made = _by_span.pop(span_id, None)
    if made is None or not made.active:
        return
    if isinstance(result, _STREAMS):
        weakref.finalize(result, release, made)
    else:
        release(made)

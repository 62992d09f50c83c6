"""The wrappers put around the OpenAI SDK's ``create`` (and ``parse``) methods.

Each wrapper, in order: applies the prompt guard to the request (which may raise
``PromptGuardError`` before anything is sent, or swap in redacted messages), starts a
:class:`CallObservation`, calls the SDK, and then records the response, or wraps a stream in a
recording proxy, or records the error and re-raises it unchanged. Anything that goes wrong in our
own code is logged and the SDK call proceeds untouched.

Imported only when the SDK's resource modules are (from a post-import hook), so it may import
the SDK at the top; it imports the SDK's submodules directly because the post-import hook may run
while the ``openai`` package itself is still initialising.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from openai._streaming import AsyncStream, Stream

from waxell_observe.config import get_config
from waxell_observe.conversation import message_text
from waxell_observe.current import current_context
from waxell_observe_openai import _extract
from waxell_observe_openai._observe import CallObservation, CallResult
from waxell_observe_openai._streams import AsyncRecordingStream, RecordingStream, StreamObserver

__all__ = ["CHAT", "EMBEDDINGS", "RESPONSES", "async_wrapper", "sync_wrapper"]

logger = logging.getLogger("waxell_observe")

PROVIDER = "openai"
_REQUEST_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "n",
    "seed",
    "reasoning_effort",
    "service_tier",
    "tool_choice",
    "parallel_tool_calls",
)


@dataclass(frozen=True)
class Operation:
    """How one family of endpoints is read."""

    name: str
    messages_key: str
    system_key: str | None
    conversational: bool
    injection_scan: bool
    extract: Callable[[Any], CallResult]
    accumulator: Callable[[dict[str, Any]], Any] | None


def _chat_accumulator(kwargs: dict[str, Any]) -> Any:
    options = kwargs.get("stream_options")
    include_usage = bool(_extract.get(options, "include_usage")) if isinstance(options, dict) else False
    return _extract.ChatChunkAccumulator(include_usage=include_usage)


CHAT = Operation("chat", "messages", None, True, True, _extract.chat_result, _chat_accumulator)
RESPONSES = Operation(
    "responses", "input", "instructions", True, True, _extract.responses_result,
    lambda kwargs: _extract.ResponsesEventAccumulator(),
)  # fmt: skip
EMBEDDINGS = Operation("embeddings", "input", None, False, False, _extract.embeddings_result, None)


# ----------------------------------------------------------------------------- request side


def _provider(instance: Any) -> str:
    client = getattr(instance, "_client", None)
    return "azure" if type(client).__name__.startswith("Azure") else PROVIDER


def _tool_names(kwargs: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for tool in list(kwargs.get("tools") or ()) + list(kwargs.get("functions") or ()):
        name = _extract.get(tool, "function", "name") or _extract.get(tool, "name")
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    return names


def _prompt_preview(op: Operation, messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    if not isinstance(messages, (list, tuple)) or not messages:
        return ""
    if op is EMBEDDINGS:
        return "\n".join(m for m in messages if isinstance(m, str))
    last = messages[-1]
    text = message_text(last)
    if not text:
        output = _extract.get(last, "output")  # a Responses-API tool output item
        text = output if isinstance(output, str) else ""
    return text


def _request_attributes(kwargs: dict[str, Any]) -> dict[str, Any]:
    params = {
        key: value
        for key in _REQUEST_PARAMS
        if isinstance(value := kwargs.get(key), (str, int, float, bool))
    }
    return {"request": params} if params else {}


def _guard(op: Operation, instance: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Apply the prompt guard; return the kwargs to send (raises PromptGuardError on block)."""
    from waxell_observe.prompt_guard import guard_request

    messages = kwargs.get(op.messages_key)
    system = kwargs.get(op.system_key) if op.system_key else None
    if not isinstance(system, (str, list, tuple)):
        system = None
    model = kwargs.get("model")
    guarded = guard_request(
        messages,
        system,
        provider=_provider(instance),
        model=model if isinstance(model, str) else "",
        injection=op.injection_scan,
    )
    if guarded is None or not guarded.changed:
        return kwargs
    kwargs = dict(kwargs)
    kwargs[op.messages_key] = guarded.messages
    if op.system_key and system is not None:
        kwargs[op.system_key] = guarded.system
    return kwargs


def _enabled() -> bool:
    ctx = current_context.get()
    run = ctx.run if ctx is not None else None
    return (run.config if run is not None else get_config()).enabled


def _begin(
    op: Operation, instance: Any, kwargs: dict[str, Any], active: Callable[[], bool]
) -> tuple[CallObservation | None, dict[str, Any]]:
    try:
        if not active() or not _enabled():
            return None, kwargs
    except Exception:  # noqa: BLE001
        logger.exception("waxell-observe: openai instrumentation failed; call not recorded")
        return None, kwargs
    kwargs = _guard(op, instance, kwargs)  # PromptGuardError propagates on purpose
    try:
        messages = kwargs.get(op.messages_key)
        system = kwargs.get(op.system_key) if op.system_key else None
        model = kwargs.get("model")
        observation = CallObservation(
            provider=_provider(instance),
            operation=op.name,
            request_model=model if isinstance(model, str) else "",
            messages=messages if isinstance(messages, (str, list, tuple)) else None,
            system=system if isinstance(system, (str, list, tuple)) else None,
            tools_offered=_tool_names(kwargs),
            prompt_preview=_prompt_preview(op, messages),
            stream=kwargs.get("stream") is True,
            attributes=_request_attributes(kwargs),
            conversational=op.conversational,
        )
    except Exception:  # noqa: BLE001
        logger.exception("waxell-observe: openai instrumentation failed; call not recorded")
        return None, kwargs
    return observation, kwargs


# ----------------------------------------------------------------------------- response side


def _raw(observation: CallObservation, op: Operation, result: Any) -> None:
    """``with_raw_response`` / ``with_streaming_response``: record what can be read without
    consuming the body the caller is about to read."""
    parsed = None
    body_read = getattr(getattr(result, "http_response", None), "_content", None) is not None
    if body_read and not observation.stream and not inspect.iscoroutinefunction(result.parse):
        try:
            parsed = result.parse()  # the body is already in memory and the SDK caches the parse
        except Exception:  # noqa: BLE001
            logger.debug("waxell-observe: could not parse a raw openai response", exc_info=True)
    if parsed is not None:
        call = op.extract(parsed)
    else:
        call = CallResult(usage_reported=False)
    call.attributes["raw_response"] = True
    observation.succeed(call)


def _finish(observation: CallObservation, op: Operation, kwargs: dict[str, Any], result: Any) -> Any:
    try:
        if isinstance(result, Stream) and op.accumulator is not None:
            return RecordingStream(result, StreamObserver(observation, op.accumulator(kwargs)))
        if isinstance(result, AsyncStream) and op.accumulator is not None:
            return AsyncRecordingStream(result, StreamObserver(observation, op.accumulator(kwargs)))
        if hasattr(result, "http_response") and hasattr(result, "parse"):
            _raw(observation, op, result)
        else:
            observation.succeed(op.extract(result))
    except Exception:  # noqa: BLE001 - the caller gets the SDK's result whatever happens here
        logger.exception("waxell-observe: could not record an openai %s call", op.name)
    return result


def sync_wrapper(op: Operation, active: Callable[[], bool]) -> Callable[..., Any]:
    """A wrapt wrapper for a synchronous SDK method."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        observation, kwargs = _begin(op, instance, kwargs, active)
        if observation is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            observation.fail(exc)
            raise
        return _finish(observation, op, kwargs, result)

    return wrapper


def async_wrapper(op: Operation, active: Callable[[], bool]) -> Callable[..., Any]:
    """A wrapt wrapper for an asynchronous SDK method."""

    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        observation, kwargs = _begin(op, instance, kwargs, active)
        if observation is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            observation.fail(exc)
            raise
        return _finish(observation, op, kwargs, result)

    return wrapper

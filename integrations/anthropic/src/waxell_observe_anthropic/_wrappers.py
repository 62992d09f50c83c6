"""The wrappers put around the Anthropic SDK's ``messages.create`` and ``messages.stream``.

``create`` (sync and async): the prompt guard runs on the request (it may raise
``PromptGuardError`` before anything is sent, or swap in redacted messages / system prompt), a
:class:`CallObservation` starts, the SDK is called, and the response is recorded, or a
``stream=True`` response is wrapped in a recording proxy, or the error is recorded and re-raised
unchanged.

``stream()`` returns the SDK's ``MessageStreamManager``, which sends the request only when it is
entered. The wrapper guards the request at once and returns a proxy of the manager; entering it
starts the observation, enters the real manager, and hands the raw event stream inside the
SDK's ``MessageStream`` to a recording proxy, so every way of consuming the helper (iteration,
``text_stream``, ``get_final_message()``, ``until_done()``, ``close()``) is seen.

Imported only when the SDK's resource module is (from a post-import hook, possibly while the
``anthropic`` package is still initialising), so it imports the SDK's submodules directly.
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable
from typing import Any

import wrapt
from anthropic._streaming import AsyncStream, Stream

from waxell_observe.config import get_config
from waxell_observe.conversation import message_text
from waxell_observe.current import current_context
from waxell_observe_anthropic import _extract
from waxell_observe_anthropic._observe import CallObservation, CallResult
from waxell_observe_anthropic._streams import AsyncRecordingStream, RecordingStream, StreamObserver

__all__ = ["acreate_wrapper", "create_wrapper", "native_span", "stream_wrapper"]

logger = logging.getLogger("waxell_observe")

PROVIDER = "anthropic"
NATIVE_SPAN_NAME = "anthropic.messages.create"
NATIVE_SCOPE = "com.anthropic.sdk.python"
_REQUEST_PARAMS = ("max_tokens", "temperature", "top_p", "top_k", "service_tier")


# ----------------------------------------------------------------------------- request side


def native_span(instance: Any) -> bool:
    """Whether the SDK itself emits an OpenTelemetry span for this call.

    Anthropic SDKs with built-in tracing expose the client's resolved ``open_telemetry`` option.
    A span is emitted (and recorded by someone) when its ``traces`` are enabled and the tracer
    provider in effect — the option's ``tracer_provider``, else OpenTelemetry's global one — is a
    real provider rather than the API's default proxy / no-op provider.
    """
    client = getattr(instance, "_client", None)
    try:
        options = getattr(client, "open_telemetry", None)
    except Exception:  # noqa: BLE001 - an older or custom client
        return False
    if not isinstance(options, dict):
        return False
    traces = options.get("traces")
    if not isinstance(traces, dict) or not traces.get("enabled"):
        return False
    trace_api = sys.modules.get("opentelemetry.trace")
    if trace_api is None:
        return False
    provider = options.get("tracer_provider") or trace_api.get_tracer_provider()
    return not isinstance(provider, (trace_api.ProxyTracerProvider, trace_api.NoOpTracerProvider))


def _tool_names(kwargs: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for tool in kwargs.get("tools") or ():
        name = _extract.get(tool, "name")
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    return names


def _prompt_preview(messages: Any) -> str:
    if isinstance(messages, (list, tuple)) and messages:
        return message_text(messages[-1])
    return ""


def _request_attributes(kwargs: dict[str, Any]) -> dict[str, Any]:
    params = {
        key: value
        for key in _REQUEST_PARAMS
        if isinstance(value := kwargs.get(key), (str, int, float, bool))
    }
    thinking = kwargs.get("thinking")
    if isinstance(thinking, dict) and isinstance(thinking.get("type"), str):
        params["thinking"] = thinking["type"]
    return {"request": params} if params else {}


def _guard(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Apply the prompt guard; return the kwargs to send (raises PromptGuardError on block)."""
    from waxell_observe.prompt_guard import guard_request

    system = kwargs.get("system")
    if not isinstance(system, (str, list, tuple)):
        system = None
    model = kwargs.get("model")
    guarded = guard_request(
        kwargs.get("messages"), system, provider=PROVIDER, model=model if isinstance(model, str) else ""
    )
    if guarded is None or not guarded.changed:
        return kwargs
    kwargs = dict(kwargs)
    kwargs["messages"] = guarded.messages
    if system is not None:
        kwargs["system"] = guarded.system
    return kwargs


def _enabled(active: Callable[[], bool]) -> bool:
    try:
        if not active():
            return False
        ctx = current_context.get()
        run = ctx.run if ctx is not None else None
        return (run.config if run is not None else get_config()).enabled
    except Exception:  # noqa: BLE001
        logger.exception("waxell-observe: anthropic instrumentation failed; call not recorded")
        return False


def _observe(instance: Any, kwargs: dict[str, Any], *, stream: bool) -> CallObservation | None:
    try:
        messages = kwargs.get("messages")
        system = kwargs.get("system")
        model = kwargs.get("model")
        attributes = _request_attributes(kwargs)
        if native_span(instance):
            attributes["otel_native_span"] = NATIVE_SPAN_NAME
            attributes["otel_native_scope"] = NATIVE_SCOPE
        return CallObservation(
            provider=PROVIDER,
            operation="messages",
            request_model=model if isinstance(model, str) else "",
            messages=messages if isinstance(messages, (list, tuple)) else None,
            system=system if isinstance(system, (str, list, tuple)) else None,
            tools_offered=_tool_names(kwargs),
            prompt_preview=_prompt_preview(messages),
            stream=stream,
            attributes=attributes,
        )
    except Exception:  # noqa: BLE001
        logger.exception("waxell-observe: anthropic instrumentation failed; call not recorded")
        return None


# ----------------------------------------------------------------------------- response side


def _raw(observation: CallObservation, result: Any) -> None:
    """``with_raw_response`` / ``with_streaming_response``: record what can be read without
    consuming the body the caller is about to read."""
    parsed = None
    body_read = getattr(getattr(result, "http_response", None), "_content", None) is not None
    if body_read and not observation.stream and not inspect.iscoroutinefunction(result.parse):
        try:
            parsed = result.parse()  # the body is already in memory and the SDK caches the parse
        except Exception:  # noqa: BLE001
            logger.debug("waxell-observe: could not parse a raw anthropic response", exc_info=True)
    call = _extract.message_result(parsed) if parsed is not None else CallResult(usage_reported=False)
    call.attributes["raw_response"] = True
    observation.succeed(call)


def _finish(observation: CallObservation, result: Any) -> Any:
    try:
        if isinstance(result, Stream):
            return RecordingStream(result, StreamObserver(observation, _extract.MessageEventAccumulator()))
        if isinstance(result, AsyncStream):
            return AsyncRecordingStream(result, StreamObserver(observation, _extract.MessageEventAccumulator()))
        if hasattr(result, "http_response") and hasattr(result, "parse"):
            _raw(observation, result)
        else:
            observation.succeed(_extract.message_result(result))
    except Exception:  # noqa: BLE001 - the caller gets the SDK's result whatever happens here
        logger.exception("waxell-observe: could not record an anthropic messages call")
    return result


def create_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """Wrapper of ``Messages.create``."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not _enabled(active):
            return wrapped(*args, **kwargs)
        kwargs = _guard(kwargs)
        observation = _observe(instance, kwargs, stream=kwargs.get("stream") is True)
        if observation is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            observation.fail(exc)
            raise
        return _finish(observation, result)

    return wrapper


def acreate_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """Wrapper of ``AsyncMessages.create``."""

    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not _enabled(active):
            return await wrapped(*args, **kwargs)
        kwargs = _guard(kwargs)
        observation = _observe(instance, kwargs, stream=kwargs.get("stream") is True)
        if observation is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            observation.fail(exc)
            raise
        return _finish(observation, result)

    return wrapper


# ----------------------------------------------------------------------------- messages.stream()


def _attach(helper: Any, observation: CallObservation, proxy_cls: type) -> None:
    """Put a recording proxy between the SDK's ``MessageStream`` helper and its raw stream."""
    raw = getattr(helper, "_raw_stream", None)
    if raw is None:
        logger.warning(
            "waxell-observe: this anthropic SDK's MessageStream has no raw stream to observe; "
            "messages.stream() calls are not recorded with this version"
        )
        return
    helper._raw_stream = proxy_cls(raw, StreamObserver(observation, _extract.MessageEventAccumulator()))


class _StreamManager(wrapt.ObjectProxy):  # type: ignore[misc]
    """Proxy of ``MessageStreamManager``: observes the request it sends when entered."""

    def __init__(self, wrapped: Any, start: Callable[[], CallObservation | None]) -> None:
        super().__init__(wrapped)
        self._self_start = start

    def __enter__(self) -> Any:
        observation = self._self_start()
        if observation is None:
            return self.__wrapped__.__enter__()
        try:
            helper = self.__wrapped__.__enter__()
        except BaseException as exc:
            observation.fail(exc)
            raise
        try:
            _attach(helper, observation, RecordingStream)
        except Exception:  # noqa: BLE001
            logger.exception("waxell-observe: could not observe an anthropic message stream")
        return helper

    def __exit__(self, *exc_info: object) -> Any:
        return self.__wrapped__.__exit__(*exc_info)


class _AsyncStreamManager(wrapt.ObjectProxy):  # type: ignore[misc]
    """Proxy of ``AsyncMessageStreamManager``."""

    def __init__(self, wrapped: Any, start: Callable[[], CallObservation | None]) -> None:
        super().__init__(wrapped)
        self._self_start = start

    async def __aenter__(self) -> Any:
        observation = self._self_start()
        if observation is None:
            return await self.__wrapped__.__aenter__()
        try:
            helper = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            observation.fail(exc)
            raise
        try:
            _attach(helper, observation, AsyncRecordingStream)
        except Exception:  # noqa: BLE001
            logger.exception("waxell-observe: could not observe an anthropic message stream")
        return helper

    async def __aexit__(self, *exc_info: object) -> Any:
        return await self.__wrapped__.__aexit__(*exc_info)


def stream_wrapper(active: Callable[[], bool], *, is_async: bool) -> Callable[..., Any]:
    """Wrapper of ``Messages.stream`` / ``AsyncMessages.stream`` (both plain methods returning a manager)."""
    manager_cls = _AsyncStreamManager if is_async else _StreamManager

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not _enabled(active):
            return wrapped(*args, **kwargs)
        kwargs = _guard(kwargs)
        manager = wrapped(*args, **kwargs)
        sent = dict(kwargs)
        return manager_cls(manager, lambda: _observe(instance, sent, stream=True) if _enabled(active) else None)

    return wrapper

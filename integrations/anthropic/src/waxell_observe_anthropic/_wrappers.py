"""How the Anthropic SDK's ``messages.create`` and ``messages.stream`` are read and wrapped.

``create`` (sync and async) is wrapped by the core's wrappers
(:mod:`waxell_observe.instrumentation.wrappers`) from the :data:`MESSAGES` endpoint: the prompt
guard runs on the request (it may raise ``PromptGuardError`` before anything is sent, or swap in
redacted messages / system prompt), a :class:`CallObservation` starts, the SDK is called, and the
response is recorded, or a ``stream=True`` response is wrapped in a recording proxy, or the error
is recorded and re-raised unchanged.

``stream()`` returns the SDK's ``MessageStreamManager``, which sends the request only when it is
entered. The wrapper guards the request at once and returns a proxy of the manager; entering it
starts the observation, enters the real manager, and hands the raw event stream inside the
SDK's ``MessageStream`` to a recording proxy, so every way of consuming the helper (iteration,
``text_stream``, ``get_final_message()``, ``until_done()``, ``close()``) is seen.

Imported only when the SDK's resource module is (from a post-import hook, possibly while the
``anthropic`` package is still initialising), so it imports the SDK's submodules directly.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

import wrapt
from anthropic._streaming import AsyncStream, Stream

from waxell_observe.conversation import message_text
from waxell_observe.instrumentation import (
    AsyncRecordingStream,
    CallObservation,
    Endpoint,
    RecordingStream,
    StreamObserver,
    offered_tool_names,
    recording_enabled,
    request_attributes,
    requested_model,
    start_observation,
)
from waxell_observe_anthropic import _extract

__all__ = ["MESSAGES", "native_span", "stream_wrapper"]

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


def _prompt_preview(messages: Any) -> str:
    if isinstance(messages, (list, tuple)) and messages:
        return message_text(messages[-1])
    return ""


def _request_attributes(kwargs: dict[str, Any]) -> dict[str, Any]:
    thinking = kwargs.get("thinking")
    extra: dict[str, Any] = {}
    if isinstance(thinking, dict) and isinstance(thinking.get("type"), str):
        extra["thinking"] = thinking["type"]
    return request_attributes(kwargs, _REQUEST_PARAMS, extra)


def _observe(
    endpoint: Endpoint, instance: Any, kwargs: dict[str, Any], *, stream: bool | None = None
) -> CallObservation:
    messages = kwargs.get("messages")
    system = kwargs.get("system")
    attributes = _request_attributes(kwargs)
    if native_span(instance):
        attributes["otel_native_span"] = NATIVE_SPAN_NAME
        attributes["otel_native_scope"] = NATIVE_SCOPE
    return CallObservation(
        provider=PROVIDER,
        operation=endpoint.operation,
        request_model=requested_model(kwargs),
        messages=messages if isinstance(messages, (list, tuple)) else None,
        system=system if isinstance(system, (str, list, tuple)) else None,
        tools_offered=offered_tool_names(kwargs.get("tools") or (), ("name",)),
        prompt_preview=_prompt_preview(messages),
        stream=kwargs.get("stream") is True if stream is None else stream,
        attributes=attributes,
    )


MESSAGES = Endpoint(
    PROVIDER, _observe, _extract.message_result, operation="messages", system_key="system",
    accumulator=lambda kwargs: _extract.MessageEventAccumulator(), stream_types=(Stream, AsyncStream),
)  # fmt: skip
"""``messages.create`` (sync, async, ``stream=True``)."""

_STREAM_HELPER = dataclasses.replace(MESSAGES, observe=functools.partial(_observe, stream=True))
"""``messages.stream()``: always a stream, whatever its arguments say."""


# ----------------------------------------------------------------------------- messages.stream()


def _attach(helper: Any, observation: CallObservation, proxy_cls: type) -> None:
    """Put a recording proxy between the SDK's ``MessageStream`` helper and its raw stream.

    Never raises: a helper that cannot be observed is logged and left as it is.
    """
    try:
        raw = getattr(helper, "_raw_stream", None)
        if raw is None:
            logger.warning(
                "waxell-observe: this anthropic SDK's MessageStream has no raw stream to observe; "
                "messages.stream() calls are not recorded with this version"
            )
            return
        helper._raw_stream = proxy_cls(raw, StreamObserver(observation, _extract.MessageEventAccumulator()))
    except Exception:
        logger.exception("waxell-observe: could not observe an anthropic message stream")


class _ManagerProxy(wrapt.ObjectProxy):  # type: ignore[type-arg]  # generic only in wrapt's stubs
    """Proxy of a stream manager; ``start()`` begins the observation (None: do not record)."""

    def __init__(self, wrapped: Any, start: Callable[[], CallObservation | None]) -> None:
        super().__init__(wrapped)
        self._self_start = start


class _StreamManager(_ManagerProxy):
    """Proxy of ``MessageStreamManager``: observes the request it sends when entered."""

    def __enter__(self) -> Any:
        observation = self._self_start()
        if observation is None:
            return self.__wrapped__.__enter__()
        try:
            helper = self.__wrapped__.__enter__()
        except BaseException as exc:
            observation.fail(exc)
            raise
        _attach(helper, observation, RecordingStream)
        return helper

    def __exit__(self, *exc_info: object) -> Any:
        return self.__wrapped__.__exit__(*exc_info)


class _AsyncStreamManager(_ManagerProxy):
    """Proxy of ``AsyncMessageStreamManager``."""

    async def __aenter__(self) -> Any:
        observation = self._self_start()
        if observation is None:
            return await self.__wrapped__.__aenter__()
        try:
            helper = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            observation.fail(exc)
            raise
        _attach(helper, observation, AsyncRecordingStream)
        return helper

    async def __aexit__(self, *exc_info: object) -> Any:
        return await self.__wrapped__.__aexit__(*exc_info)


def stream_wrapper(active: Callable[[], bool], *, is_async: bool) -> Callable[..., Any]:
    """Wrapper of ``Messages.stream`` / ``AsyncMessages.stream`` (both plain methods returning a manager)."""
    manager_cls = _AsyncStreamManager if is_async else _StreamManager

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, PROVIDER):
            return wrapped(*args, **kwargs)
        kwargs = _STREAM_HELPER.guard(instance, kwargs)
        manager = wrapped(*args, **kwargs)
        sent = dict(kwargs)

        def start() -> CallObservation | None:
            if not recording_enabled(active, PROVIDER):
                return None
            return start_observation(_STREAM_HELPER, instance, sent)

        return manager_cls(manager, start)

    return wrapper

"""The wrappers put around a provider SDK's methods, from a small description of each endpoint.

Each wrapper, in order: checks that the instrumentation is on and the configuration enabled,
applies the prompt guard to the request (which may raise ``PromptGuardError`` before anything is
sent, or swap in redacted messages), runs the ``llm.before`` gate (which may raise
``PolicyViolationError`` before anything is sent), starts a :class:`CallObservation`, calls the SDK, and then
records the response, or wraps a stream in a recording proxy, or records the error and re-raises
it unchanged. Anything that goes wrong in our own code is logged and the SDK call proceeds
untouched.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waxell_observe.config import get_config
from waxell_observe.current import current_context
from waxell_observe.instrumentation.gates import gate_llm_request, gate_tool_requests, max_tokens_of
from waxell_observe.instrumentation.recording import CallObservation, CallResult
from waxell_observe.instrumentation.request import guard_kwargs, requested_model
from waxell_observe.instrumentation.streams import (
    Accumulator,
    AsyncRecordingStream,
    RecordingStream,
    StreamObserver,
)
from waxell_observe.integration_api import framework_call_active

__all__ = [
    "Endpoint",
    "async_wrapper",
    "begin_call",
    "finish_call",
    "gate_request",
    "recording_enabled",
    "start_observation",
    "sync_wrapper",
]

logger = logging.getLogger("waxell_observe")

Kwargs = dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    """How the calls of one family of SDK methods are guarded, observed and read.

    * ``provider``: the integration's name (log messages; the prompt guard's provider unless
      ``provider_of`` says otherwise).
    * ``observe(endpoint, instance, kwargs)``: a :class:`CallObservation` for the request about to
      be sent (``instance`` is the SDK resource object, ``kwargs`` the guarded arguments).
    * ``extract(response)``: a :class:`CallResult` from a complete response.
    * ``messages_key`` / ``system_key`` / ``injection_scan``: what the prompt guard scans.
    * ``accumulator(kwargs)``: a fresh :class:`Accumulator` for a streamed response, and
      ``stream_types``: the SDK's ``(Stream, AsyncStream)`` classes (no streaming when either is unset).
    * ``provider_of(instance)``: the provider a client stands for (e.g. ``azure``), when it varies.
    * ``operation`` / ``conversational``: passed on by ``observe`` as the observation's.
    """

    provider: str
    observe: Callable[[Endpoint, Any, Kwargs], CallObservation]
    extract: Callable[[Any], CallResult]
    operation: str = ""
    conversational: bool = True
    messages_key: str = "messages"
    system_key: str | None = None
    injection_scan: bool = True
    accumulator: Callable[[Kwargs], Accumulator] | None = None
    stream_types: tuple[type, type] | None = None
    provider_of: Callable[[Any], str] | None = None

    def provider_for(self, instance: Any) -> str:
        """The provider ``instance`` (an SDK resource object) stands for."""
        return self.provider_of(instance) if self.provider_of is not None else self.provider

    def guard(self, instance: Any, kwargs: Kwargs) -> Kwargs:
        """The prompt guard on a request: the arguments to send (``PromptGuardError`` on block)."""
        return guard_kwargs(
            kwargs,
            provider=self.provider_for(instance),
            messages_key=self.messages_key,
            system_key=self.system_key,
            injection=self.injection_scan,
        )


# ----------------------------------------------------------------------------- request side


def recording_enabled(active: Callable[[], bool], provider: str) -> bool:
    """True when the instrumentation is on (``active()``) and the current run's configuration
    (else the global one) is enabled. A failure to tell is logged and answers False."""
    try:
        if not active():
            return False
        ctx = current_context.get()
        run = ctx.run if ctx is not None else None
        return (run.config if run is not None else get_config()).enabled
    except Exception:
        logger.exception("waxell-observe: %s instrumentation failed; call not recorded", provider)
        return False


def start_observation(endpoint: Endpoint, instance: Any, kwargs: Kwargs) -> CallObservation | None:
    """``endpoint.observe(...)``, or None (logged) when reading the request fails."""
    try:
        return endpoint.observe(endpoint, instance, kwargs)
    except Exception:
        logger.exception("waxell-observe: %s instrumentation failed; call not recorded", endpoint.provider)
        return None


Begin = Callable[[Endpoint, Callable[[], bool], Any, Kwargs], tuple[CallObservation | None, Kwargs]]
"""What runs before the SDK is called (:func:`begin_call` is the common one)."""


def begin_call(
    endpoint: Endpoint, active: Callable[[], bool], instance: Any, kwargs: Kwargs
) -> tuple[CallObservation | None, Kwargs]:
    """Before the SDK is called: the observation (None: do not record) and the arguments to send.

    ``PromptGuardError`` propagates on purpose.
    """
    if not recording_enabled(active, endpoint.provider):
        return None, kwargs
    kwargs = endpoint.guard(instance, kwargs)
    gate_request(endpoint, instance, kwargs)
    return start_observation(endpoint, instance, kwargs), kwargs


def gate_request(endpoint: Endpoint, instance: Any, kwargs: Kwargs) -> None:
    """The ``llm.before`` gate of a request about to be sent (``PolicyViolationError`` propagates: the
    request is not made); passed through when a framework integration gated the call it makes this
    request for (it holds ``llm.before``)."""
    gate_llm_request(
        provider=endpoint.provider_for(instance),
        model=requested_model(kwargs),
        messages=kwargs.get(endpoint.messages_key),
        system=kwargs.get(endpoint.system_key) if endpoint.system_key else None,
        max_tokens=max_tokens_of(kwargs),
    )


# ----------------------------------------------------------------------------- response side


def _record_raw(endpoint: Endpoint, observation: CallObservation, result: Any) -> None:
    """``with_raw_response`` / ``with_streaming_response``: record what can be read without
    consuming the body the caller is about to read."""
    parsed = None
    body_read = getattr(getattr(result, "http_response", None), "_content", None) is not None
    if body_read and not observation.stream and not inspect.iscoroutinefunction(result.parse):
        try:
            parsed = result.parse()  # the body is already in memory and the SDK caches the parse
        except Exception:
            logger.debug(
                "waxell-observe: could not parse a raw %s response", endpoint.provider, exc_info=True
            )
    call = endpoint.extract(parsed) if parsed is not None else CallResult(usage_reported=False)
    call.attributes["raw_response"] = True
    observation.succeed(call)


def finish_call(endpoint: Endpoint, observation: CallObservation, kwargs: Kwargs, result: Any) -> Any:
    """After the SDK returned ``result``: what to hand the caller (the result itself, or a
    recording proxy over a stream), the call recorded or left to the stream to record.

    The tool calls a complete response asks for pass the ``tool.before`` gate (unless a framework
    runs the tools and gates them itself): a refused one raises ``PolicyViolationError`` here, so the
    agent never gets a response that would make it run the tool."""
    requested: list[Any] = []
    try:
        if endpoint.accumulator is not None and endpoint.stream_types is not None:
            sync_stream, async_stream = endpoint.stream_types
            if isinstance(result, sync_stream):
                return RecordingStream(result, StreamObserver(observation, endpoint.accumulator(kwargs)))
            if isinstance(result, async_stream):
                return AsyncRecordingStream(result, StreamObserver(observation, endpoint.accumulator(kwargs)))
        if hasattr(result, "http_response") and hasattr(result, "parse"):
            _record_raw(endpoint, observation, result)
        else:
            call = endpoint.extract(result)
            observation.succeed(call)
            requested = call.tool_calls
    except Exception:
        logger.exception(
            "waxell-observe: could not record the %s %s call", endpoint.provider, observation.operation
        )
    if requested and not framework_call_active():
        gate_tool_requests(requested)
    return result


# ----------------------------------------------------------------------------- the wrappers


def sync_wrapper(
    endpoint: Endpoint, active: Callable[[], bool], begin: Begin | None = None
) -> Callable[..., Any]:
    """A wrapt wrapper for a synchronous SDK method (``begin``: how an SDK with its own request shape
    guards and gates the call; default :func:`begin_call`)."""
    start = begin or begin_call

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Kwargs) -> Any:
        observation, kwargs = start(endpoint, active, instance, kwargs)
        if observation is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            observation.fail(exc)
            raise
        return finish_call(endpoint, observation, kwargs, result)

    return wrapper


def async_wrapper(
    endpoint: Endpoint, active: Callable[[], bool], begin: Begin | None = None
) -> Callable[..., Any]:
    """A wrapt wrapper for an asynchronous SDK method (``begin`` as in :func:`sync_wrapper`)."""
    start = begin or begin_call

    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Kwargs) -> Any:
        observation, kwargs = start(endpoint, active, instance, kwargs)
        if observation is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            observation.fail(exc)
            raise
        return finish_call(endpoint, observation, kwargs, result)

    return wrapper

"""ADK model calls: the ``llm.before`` gate before the request leaves, and one record each.

Every model call of an ``LlmAgent`` (whatever its model class: ``Gemini``, ``LiteLlm``, ``Claude``, a
``BaseLlm`` of your own) reaches ``BaseLlmFlow._run_and_handle_error`` with the model's response
stream (``llm.generate_content_async(...)``, not started yet) — after the before-model callbacks, so a
response a callback made up is no model call. That stream is wrapped:

* before the first response is asked for, the ``llm.before`` gate (model, prompt text, ``max_output_
  tokens``, offered tools; :func:`~waxell_observe.instrumentation.gate_framework_llm`): a ``block``
  raises ``PolicyViolationError`` before the model is called (ADK's on-model-error callbacks see it;
  unanswered, it fails the agent and the run). The answer is held for the request the call makes, so
  the Gemini integration underneath does not ask again;
* the call is watched: when the request went through an instrumented SDK (``Gemini`` → the Gemini
  integration, ``LiteLlm`` → LiteLLM's, ``Claude`` → Anthropic's), that integration records it and
  nothing more is recorded here. Otherwise it is recorded from ADK's own ``LlmResponse``: the served
  model (``model_version``, else the requested one), ``usage_metadata`` counted as the Gemini
  integration counts it (input = prompt + tool-use prompt tokens, output = candidates + thoughts
  tokens, cached input = cached content tokens, reasoning = thoughts tokens), cost from the price
  table, the answer's text, the finish reason, time to first token and chunk count of a streamed
  call (``StreamingMode.SSE``), or the error; ``recorded_from: google_adk_usage``.

The call is recorded (and the watch ends) as soon as the model's last response arrives (the one with
a finish reason), before ADK runs the tools it asks for, so the record is not held open by them; a
stream that ends without one is recorded when it ends. Live (bidirectional) sessions are not recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from waxell_observe import integration_api
from waxell_observe.instrumentation import gate_framework_llm, get, positive_int, recording_enabled, release
from waxell_observe.serialize import preview
from waxell_observe_google_adk._reading import FRAMEWORK, content_text, model_name

__all__ = ["RECORDED_FROM", "provider_of", "run_and_handle_error_wrapper", "usage_tokens"]

logger = logging.getLogger("waxell_observe")

RECORDED_FROM = "google_adk_usage"
"""``recorded_from`` of a call no provider integration reported."""

_PROVIDERS = {"Gemini": "gemini", "Gemma": "gemini", "LiteLlm": "litellm", "Claude": "anthropic"}
_ROLES = {"user": "user", "model": "assistant"}


def usage_tokens(usage: Any) -> tuple[int, int, int, int]:
    """``(input, output, cached input, reasoning)`` tokens of a ``usage_metadata``."""
    thoughts = positive_int(get(usage, "thoughts_token_count"))
    return (
        positive_int(get(usage, "prompt_token_count"))
        + positive_int(get(usage, "tool_use_prompt_token_count")),
        positive_int(get(usage, "candidates_token_count")) + thoughts,
        positive_int(get(usage, "cached_content_token_count")),
        thoughts,
    )


def provider_of(llm: Any) -> str:
    """The provider of an ADK model object (``vertex_ai`` for a ``Gemini`` on Vertex AI)."""
    if llm is None:
        return ""
    for cls in type(llm).__mro__:
        provider = _PROVIDERS.get(cls.__name__)
        if provider == "gemini":
            backend = vars(llm).get("_api_backend")  # set once the model made a call
            return "vertex_ai" if getattr(backend, "name", "") == "VERTEX_AI" else provider
        if provider:
            return provider
    return type(llm).__name__.lower()


def _model_of(invocation: Any) -> Any:
    try:
        return getattr(getattr(invocation, "agent", None), "canonical_model", None)
    except Exception:  # noqa: BLE001 - an agent without a model: the request names it
        return None


def _messages(contents: Any) -> list[dict[str, str]]:
    messages = []
    for content in contents if isinstance(contents, list) else []:
        text = content_text(content)
        if not text:
            responses = [get(part, "function_response", "response") for part in get(content, "parts") or []]
            found = [str(response) for response in responses if response is not None]
            if found:
                messages.append({"role": "tool", "content": "\n".join(found)})
            continue
        messages.append({"role": _ROLES.get(str(get(content, "role")), "user"), "content": text})
    return messages


def _system(config: Any) -> str:
    instruction = get(config, "system_instruction")
    return instruction if isinstance(instruction, str) else content_text(instruction)


def _enum(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


class _ModelCall:
    """One model call: what was asked, what came back, and whether it is recorded yet."""

    __slots__ = (
        "chunks",
        "final_text",
        "finish_reason",
        "first_at",
        "hold",
        "last_at",
        "llm",
        "messages",
        "model",
        "partial_text",
        "request",
        "served",
        "started",
        "stream",
        "system",
        "usage",
        "watch",
    )

    def __init__(self, invocation: Any, request: Any) -> None:
        self.request = request
        self.llm = _model_of(invocation)
        self.model = model_name(get(request, "model")) or model_name(self.llm)
        self.messages = _messages(get(request, "contents"))
        self.system = _system(get(request, "config"))
        run_config = get(invocation, "run_config")
        self.stream = _enum(get(run_config, "streaming_mode")) == "sse"
        self.watch: Any = None
        self.hold: Any = None
        self.started = time.time()
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.chunks = 0
        self.usage: Any = None
        self.served = ""
        self.partial_text: list[str] = []
        self.final_text = ""
        self.finish_reason: str | None = None

    def gate(self) -> None:
        """``llm.before`` (raises ``PolicyViolationError`` on block), its answer held for the request."""
        config = get(self.request, "config")
        tools = get(self.request, "tools_dict")
        self.hold = gate_framework_llm(
            provider=provider_of(self.llm) or "gemini",
            model=self.model,
            messages=self.messages,
            system=self.system or None,
            max_tokens=get(config, "max_output_tokens"),
            tools=sorted(tools) if isinstance(tools, dict) and tools else None,
        )

    def begin(self) -> None:
        self.watch = integration_api.begin_provider_watch()
        self.started = time.time()

    def saw(self, response: Any) -> bool:
        """Take in one response; True when it is the model's last (it has a finish reason)."""
        now = time.time()
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        self.chunks += 1
        usage = get(response, "usage_metadata")
        if usage is not None:
            self.usage = usage
        served = get(response, "model_version")
        if isinstance(served, str) and served:
            self.served = model_name(served)
        text = content_text(get(response, "content"))
        if text and get(response, "partial") is True:
            self.partial_text.append(text)  # a streamed piece
        elif text:
            self.final_text = text  # a whole response (or the pieces so far, aggregated)
        self.finish_reason = _enum(get(response, "finish_reason")) or self.finish_reason
        return self.finish_reason is not None

    def end(self, error: BaseException | None = None, *, record: bool = True) -> None:
        """End the hold and the watch (before ADK runs the tools the call asks for: a model call made
        there is asked and counted on its own); record the call (unless ``record`` is False) when no
        provider integration reported it."""
        release(self.hold)
        self.hold = None
        watch, self.watch = self.watch, None
        if watch is None:
            return
        if integration_api.end_provider_watch(watch) > 0 or not record:
            return
        if error is not None and not isinstance(error, Exception):
            return
        # recorded under a watch of its own, so the report counts for no enclosing model call (one
        # whose tool runs this agent)
        own = integration_api.begin_provider_watch()
        try:
            integration_api.record_llm_call(**self._fields(error))
        except Exception:
            logger.exception("waxell-observe: could not record an ADK model call")
        finally:
            integration_api.end_provider_watch(own)

    def _fields(self, error: BaseException | None) -> dict[str, Any]:
        tokens_in, tokens_out, cached, reasoning = usage_tokens(self.usage)
        ended = self.last_at if error is None and self.last_at is not None else time.time()
        attributes: dict[str, Any] = {"framework": FRAMEWORK, "recorded_from": RECORDED_FROM}
        if reasoning:
            attributes["reasoning_tokens"] = reasoning
        if self.llm is not None:
            attributes["google_adk.model_class"] = type(self.llm).__name__
        fields: dict[str, Any] = {
            "model": self.served or self.model or "unknown",
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cached_tokens_in": cached,
            "duration_ms": round((ended - self.started) * 1000.0, 3),
            "started_at": self.started,
            "provider": provider_of(self.llm),
            "framework": FRAMEWORK,
            "attributes": attributes,
            "messages": self.messages,
            "system": self.system or None,
        }
        user = [m["content"] for m in self.messages if m["role"] == "user"]
        if user:
            fields["prompt_preview"] = preview(user[-1], 500)
        text = self.final_text or "".join(self.partial_text)
        if text:
            fields["response_preview"] = preview(text, 500)
            fields["response_text"] = text
        if self.finish_reason:
            fields["finish_reason"] = self.finish_reason
        if self.stream:
            fields["is_streaming"] = True
            fields["chunk_count"] = self.chunks
            if self.first_at is not None:
                fields["ttft_ms"] = round((self.first_at - self.started) * 1000.0, 3)
        if error is not None:
            fields["status"] = "error"
            fields["error_type"] = type(error).__name__
            fields["error_message"] = preview(str(error), 2000)
        return fields


async def _watched(call: _ModelCall, responses: AsyncIterator[Any]) -> AsyncIterator[Any]:
    call.gate()  # PolicyViolationError: the model is never called
    call.begin()
    try:
        async for response in responses:
            if call.saw(response):
                call.end()
            yield response
    except GeneratorExit:  # ADK stopped reading (an abort): recorded as far as it went
        call.end(record=call.chunks > 0)
        raise
    except BaseException as exc:
        call.end(exc)
        raise
    finally:
        release(call.hold)
        close = getattr(responses, "aclose", None)
        if close is not None:
            await close()
    call.end()


def run_and_handle_error_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``BaseLlmFlow._run_and_handle_error(response_generator, invocation_context, llm_request, ...)``:
    the model's response stream gated and watched."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        names = ("response_generator", "invocation_context", "llm_request")
        values = [kwargs.get(name, args[i] if len(args) > i else None) for i, name in enumerate(names)]
        responses, invocation, request = values
        if (
            responses is None
            or request is None
            or get(invocation, "run_config", "support_cfc") is True  # a live session's stream
            or not recording_enabled(active, FRAMEWORK)
        ):
            return wrapped(*args, **kwargs)
        watched = _watched(_ModelCall(invocation, request), responses)
        if "response_generator" in kwargs:
            return wrapped(*args, **{**kwargs, "response_generator": watched})
        return wrapped(watched, *args[1:], **kwargs)

    return wrapper

"""How the OpenAI SDK's endpoints are read: the :class:`Endpoint` of each patched method family.

The wrappers themselves (prompt guard, observation, recording of responses, streams and errors)
are the core's (:mod:`waxell_observe.instrumentation.wrappers`); what is OpenAI's is which
arguments carry the messages, system prompt and tools, which client is Azure, and how responses
and stream chunks are read (:mod:`waxell_observe_openai._extract`).

Imported only when the SDK's resource modules are (from a post-import hook), so it may import
the SDK at the top; it imports the SDK's submodules directly because the post-import hook may run
while the ``openai`` package itself is still initialising.
"""

from __future__ import annotations

from typing import Any

from openai._streaming import AsyncStream, Stream

from waxell_observe.conversation import message_text
from waxell_observe.instrumentation import (
    CallObservation,
    Endpoint,
    get,
    offered_tool_names,
    request_attributes,
    requested_model,
)
from waxell_observe_openai import _extract

__all__ = ["CHAT", "EMBEDDINGS", "RESPONSES"]

PROVIDER = "openai"
AZURE = "azure"
"""The provider of calls made through ``AzureOpenAI`` / ``AsyncAzureOpenAI``."""
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


def _is_azure(client: Any) -> bool:
    """True for ``AzureOpenAI`` and ``AsyncAzureOpenAI`` (and subclasses): Azure's clients share
    the SDK's ``BaseAzureClient`` (found by name: no SDK import here)."""
    return any(cls.__name__ == "BaseAzureClient" for cls in type(client).__mro__)


def _provider(instance: Any) -> str:
    return AZURE if _is_azure(getattr(instance, "_client", None)) else PROVIDER


def _azure_attributes(client: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """An Azure OpenAI call's deployment (the client's ``azure_deployment``, else the ``model``
    argument, which Azure reads as the deployment name) and API version."""
    attributes: dict[str, Any] = {}
    deployment = getattr(client, "_azure_deployment", None) or kwargs.get("model")
    if isinstance(deployment, str) and deployment:
        attributes["deployment"] = deployment
    api_version = getattr(client, "_api_version", None)
    if isinstance(api_version, str) and api_version:
        attributes["api_version"] = api_version
    return attributes


def _prompt_preview(endpoint: Endpoint, messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    if not isinstance(messages, (list, tuple)) or not messages:
        return ""
    if endpoint is EMBEDDINGS:
        return "\n".join(m for m in messages if isinstance(m, str))
    last = messages[-1]
    text = message_text(last)
    if not text:
        output = get(last, "output")  # a Responses-API tool output item
        text = output if isinstance(output, str) else ""
    return text


def _observe(endpoint: Endpoint, instance: Any, kwargs: dict[str, Any]) -> CallObservation:
    messages = kwargs.get(endpoint.messages_key)
    system = kwargs.get(endpoint.system_key) if endpoint.system_key else None
    tools = list(kwargs.get("tools") or ()) + list(kwargs.get("functions") or ())
    client = getattr(instance, "_client", None)
    attributes = request_attributes(kwargs, _REQUEST_PARAMS)
    if _is_azure(client):
        attributes.update(_azure_attributes(client, kwargs))
    return CallObservation(
        provider=AZURE if _is_azure(client) else PROVIDER,
        operation=endpoint.operation,
        request_model=requested_model(kwargs),
        messages=messages if isinstance(messages, (str, list, tuple)) else None,
        system=system if isinstance(system, (str, list, tuple)) else None,
        tools_offered=offered_tool_names(tools, ("function", "name"), ("name",)),
        prompt_preview=_prompt_preview(endpoint, messages),
        stream=kwargs.get("stream") is True,
        attributes=attributes,
        conversational=endpoint.conversational,
    )


def _chat_accumulator(kwargs: dict[str, Any]) -> _extract.ChatChunkAccumulator:
    options = kwargs.get("stream_options")
    include_usage = bool(get(options, "include_usage")) if isinstance(options, dict) else False
    return _extract.ChatChunkAccumulator(include_usage=include_usage)


CHAT = Endpoint(
    PROVIDER, _observe, _extract.chat_result, operation="chat", provider_of=_provider,
    accumulator=_chat_accumulator, stream_types=(Stream, AsyncStream),
)  # fmt: skip
"""``chat.completions.create`` / ``parse``."""

RESPONSES = Endpoint(
    PROVIDER, _observe, _extract.responses_result, operation="responses", provider_of=_provider,
    messages_key="input", system_key="instructions",
    accumulator=lambda kwargs: _extract.ResponsesEventAccumulator(), stream_types=(Stream, AsyncStream),
)  # fmt: skip
"""``responses.create`` / ``parse`` (the instructions are the system prompt)."""

EMBEDDINGS = Endpoint(
    PROVIDER, _observe, _extract.embeddings_result, operation="embeddings", provider_of=_provider,
    messages_key="input", conversational=False, injection_scan=False,
)  # fmt: skip
"""``embeddings.create``: no conversation, no injection scan, no streams."""

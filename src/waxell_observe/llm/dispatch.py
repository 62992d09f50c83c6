"""Calling a model through the tenant's manifest: ``call`` / ``acall`` (the chat completion), ``text`` /
``atext`` (its text), ``json`` / ``ajson`` (its JSON object), ``tool`` / ``atool`` (its tool calls).

The name is resolved with :func:`~waxell_observe.llm.resolve_chain` (for the call's mode) and the
candidates are tried in order, each through the ``openai`` client :func:`build_client` makes for its
instance, with the candidate's ``provider_model_id``. A candidate that cannot be reached or answers with
a failure another instance may not have (no connection, timeout, 401/403/404/408/409/429, 5xx) makes way
for the next; a 400 or 422 (the request itself is wrong) stops at once. The call is an ordinary ``openai``
call, so the OpenAI integration records it on the current run like any other.
"""

from __future__ import annotations

import json as _json
import logging
from collections.abc import Sequence
from typing import Any

from waxell_observe.llm.clients import build_client
from waxell_observe.llm.errors import (
    DispatchError,
    LlmError,
    MissingProviderSDK,
    NoProviderAvailable,
)
from waxell_observe.llm.manifest import LlmManifest
from waxell_observe.llm.resolve import Candidate, resolve_in

__all__ = ["acall", "ajson", "atext", "atool", "call", "json", "text", "tool"]

logger = logging.getLogger("waxell_observe")

_NEXT_ON_STATUS = frozenset({401, 403, 404, 408, 409, 429})


def _messages(messages: str | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [dict(m) for m in messages]


def _request(mode: str, params: dict[str, Any]) -> dict[str, Any]:
    request = dict(params)
    if mode == "json":
        request.setdefault("response_format", {"type": "json_object"})
    elif mode == "stream":
        request["stream"] = True
    elif mode == "tool" and not request.get("tools"):
        raise ValueError("mode 'tool' needs tools=[...] (OpenAI tool definitions)")
    return request


def _label(candidate: Candidate) -> str:
    return f"{candidate.model.model_id}@{candidate.instance.instance_id}"


def _next_may_help(exc: Exception) -> bool:
    """True when another candidate may answer where this one failed."""
    import openai

    if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _NEXT_ON_STATUS or exc.status_code >= 500
    return False


class _Attempts:
    """The failures met along a chain, and the errors that end it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures: list[tuple[str, str]] = []
        self.tried = 0

    def unbuildable(self, candidate: Candidate, exc: LlmError) -> None:
        if isinstance(exc, MissingProviderSDK):
            raise exc
        logger.warning("waxell-observe: %s skipped: %s", _label(candidate), exc)
        self.failures.append((_label(candidate), str(exc)))

    def failed(self, candidate: Candidate, exc: Exception) -> None:
        self.tried += 1
        self.failures.append((_label(candidate), f"{type(exc).__name__}: {exc}"))
        if not _next_may_help(exc):
            raise DispatchError(self.name, self.failures) from exc
        logger.warning("waxell-observe: %s failed (%s); trying the next candidate", _label(candidate), exc)

    def exhausted(self) -> LlmError:
        if self.tried == 0:
            return NoProviderAvailable(self.name, self.failures)
        return DispatchError(self.name, self.failures)


def call(
    model_or_group: str,
    messages: str | Sequence[dict[str, Any]],
    *,
    mode: str = "text",
    manifest: LlmManifest | None = None,
    **params: Any,
) -> Any:
    """The chat completion of ``messages`` (a string is one user message) from the first candidate of
    ``model_or_group`` that answers; ``params`` go to ``chat.completions.create`` (``temperature``,
    ``tools``, ...). ``mode``: ``text``, ``json`` (adds ``response_format`` JSON object), ``tool`` (needs
    ``tools``), ``stream`` (returns the stream). Raises :class:`NoProviderAvailable` when no candidate's
    client could be built, :class:`DispatchError` when the candidates tried all failed (or one failed in a
    way no other can fix), and what :func:`~waxell_observe.llm.resolve_chain` raises."""
    from waxell_observe.llm.fetch import get_manifest

    chain = resolve_in(manifest or get_manifest(), model_or_group, mode=mode)
    request = _request(mode, params)
    attempts = _Attempts(model_or_group)
    for candidate in chain:
        try:
            client = build_client(candidate.instance)
        except LlmError as exc:
            attempts.unbuildable(candidate, exc)
            continue
        try:
            return client.chat.completions.create(
                model=candidate.model.provider_model_id, messages=_messages(messages), **request
            )
        except Exception as exc:  # noqa: BLE001 - classified: the next candidate, or the error raised
            attempts.failed(candidate, exc)
    raise attempts.exhausted()


async def acall(
    model_or_group: str,
    messages: str | Sequence[dict[str, Any]],
    *,
    mode: str = "text",
    manifest: LlmManifest | None = None,
    **params: Any,
) -> Any:
    """The coroutine twin of :func:`call` (``openai.AsyncOpenAI`` clients)."""
    from waxell_observe.llm.fetch import aget_manifest

    chain = resolve_in(manifest or await aget_manifest(), model_or_group, mode=mode)
    request = _request(mode, params)
    attempts = _Attempts(model_or_group)
    for candidate in chain:
        try:
            client = build_client(candidate.instance, asynchronous=True)
        except LlmError as exc:
            attempts.unbuildable(candidate, exc)
            continue
        try:
            return await client.chat.completions.create(
                model=candidate.model.provider_model_id, messages=_messages(messages), **request
            )
        except Exception as exc:  # noqa: BLE001 - classified: the next candidate, or the error raised
            attempts.failed(candidate, exc)
    raise attempts.exhausted()


def _content(completion: Any) -> str:
    return str(completion.choices[0].message.content or "")


def _parsed(name: str, completion: Any) -> Any:
    content = _content(completion)
    try:
        return _json.loads(content)
    except ValueError as exc:
        raise DispatchError(
            name, [(str(getattr(completion, "model", "")), f"the answer is not JSON: {exc}")]
        ) from exc


def _tool_calls(completion: Any) -> list[Any]:
    return list(completion.choices[0].message.tool_calls or [])


def text(model_or_group: str, messages: str | Sequence[dict[str, Any]], **params: Any) -> str:
    """The text of :func:`call`'s answer."""
    return _content(call(model_or_group, messages, mode="text", **params))


async def atext(model_or_group: str, messages: str | Sequence[dict[str, Any]], **params: Any) -> str:
    """The coroutine twin of :func:`text`."""
    return _content(await acall(model_or_group, messages, mode="text", **params))


def json(model_or_group: str, messages: str | Sequence[dict[str, Any]], **params: Any) -> Any:
    """The JSON object of :func:`call`'s answer in ``json`` mode (only models with ``supports_json``);
    :class:`DispatchError` when the answer is not JSON."""
    return _parsed(model_or_group, call(model_or_group, messages, mode="json", **params))


async def ajson(model_or_group: str, messages: str | Sequence[dict[str, Any]], **params: Any) -> Any:
    """The coroutine twin of :func:`json`."""
    return _parsed(model_or_group, await acall(model_or_group, messages, mode="json", **params))


def tool(
    model_or_group: str,
    messages: str | Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]],
    **params: Any,
) -> list[Any]:
    """The tool calls of :func:`call`'s answer in ``tool`` mode (only models with ``supports_tools``):
    ``openai`` tool call objects (``.function.name``, ``.function.arguments``), ``[]`` when the model
    answered in text."""
    return _tool_calls(call(model_or_group, messages, mode="tool", tools=list(tools), **params))


async def atool(
    model_or_group: str,
    messages: str | Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]],
    **params: Any,
) -> list[Any]:
    """The coroutine twin of :func:`tool`."""
    return _tool_calls(await acall(model_or_group, messages, mode="tool", tools=list(tools), **params))

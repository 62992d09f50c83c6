"""The request side of a provider call: the prompt guard and what the request says about the call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from waxell_observe.instrumentation.reading import get

__all__ = ["guard_kwargs", "offered_tool_names", "request_attributes", "requested_model"]

_SCALARS = (str, int, float, bool)


def requested_model(kwargs: Mapping[str, Any]) -> str:
    """The ``model`` argument when it is a string, else ``""``."""
    model = kwargs.get("model")
    return model if isinstance(model, str) else ""


def offered_tool_names(tools: Iterable[Any], *paths: tuple[str, ...]) -> list[str]:
    """Names of the tools a request offers, in order, without repeats.

    Each tool's name is the first non-empty value found along ``paths`` (e.g.
    ``("function", "name"), ("name",)``); tools without a string name are left out.
    """
    names: list[str] = []
    for tool in tools:
        name: Any = None
        for path in paths:
            name = get(tool, *path)
            if name:
                break
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    return names


def request_attributes(
    kwargs: Mapping[str, Any], keys: Iterable[str], extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``{"request": {...}}``: the scalar request parameters among ``keys`` (then ``extra``), or
    ``{}`` when there are none."""
    params = {key: value for key in keys if isinstance(value := kwargs.get(key), _SCALARS)}
    if extra:
        params.update(extra)
    return {"request": params} if params else {}


def guard_kwargs(
    kwargs: dict[str, Any],
    *,
    provider: str,
    messages_key: str = "messages",
    system_key: str | None = None,
    injection: bool = True,
) -> dict[str, Any]:
    """Apply the prompt guard to a request's keyword arguments; return the ones to send.

    ``kwargs[messages_key]`` (and ``kwargs[system_key]`` when it is a string or a list) are
    scanned. Raises :class:`~waxell_observe.errors.PromptGuardError` when the action is
    ``block``; with ``redact``, returns a copy carrying the redacted messages / system prompt;
    otherwise returns ``kwargs`` itself.
    """
    from waxell_observe.prompt_guard import guard_request

    system = kwargs.get(system_key) if system_key else None
    if not isinstance(system, (str, list, tuple)):
        system = None
    guarded = guard_request(
        kwargs.get(messages_key),
        system,
        provider=provider,
        model=requested_model(kwargs),
        injection=injection,
    )
    if guarded is None or not guarded.changed:
        return kwargs
    kwargs = dict(kwargs)
    kwargs[messages_key] = guarded.messages
    if system_key and system is not None:
        kwargs[system_key] = guarded.system
    return kwargs

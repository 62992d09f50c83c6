"""The managed prompt a provider request was built from: ``PromptInfo.compile`` returns a text
(``CompiledPromptText``) or a message list (``CompiledPromptList``) carrying
``_waxell_template_hash``, the prompt version's content hash. An integration that sees one in a
request records it as the call's ``prompt_hash``, which ties the call to that version (the
dashboard's Prompts page, ``GET /api/v1/read/prompts/{name}/``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["template_hash"]

_ATTRIBUTE = "_waxell_template_hash"


def _of(value: Any) -> str:
    """The hash carried by ``value`` itself: a compiled text or message list (plain ``str`` and
    ``list`` never carry one, so they are skipped without an attribute lookup)."""
    cls = value.__class__
    if cls is str or cls is list or value is None:
        return ""
    found = getattr(value, _ATTRIBUTE, "")
    return found if isinstance(found, str) else ""


def _of_message(message: Any) -> str:
    """The hash carried by a message's content: a compiled text, or a compiled text in one of
    its content parts (``{"type": "text", "text": ...}``)."""
    if isinstance(message, str):
        return _of(message)
    if not isinstance(message, Mapping):
        return ""
    content = message.get("content")
    found = _of(content)
    if found or not isinstance(content, list):
        return found
    for part in content:
        if isinstance(part, Mapping):
            found = _of(part.get("text"))
            if found:
                return found
    return ""


def template_hash(messages: Any, system: Any = None) -> str:
    """The content hash of the managed prompt a request's ``messages`` (a message list or a
    text) or ``system`` prompt were compiled from, or ``""``: the list or text itself first, then
    the system prompt, then each message's content."""
    found = _of(messages) or _of(system)
    if found:
        return found
    if isinstance(messages, (list, tuple)):
        for message in messages:
            found = _of_message(message)
            if found:
                return found
    return ""

"""Turning LangChain values into bounded, JSON-safe data for records.

Chain inputs and outputs, tool arguments and retrieved documents are LangChain objects
(messages, prompt values, documents, pydantic models). :func:`plain` turns them into
plain Python data; :func:`bounded` then applies the SDK's content policy: with
``capture_content`` on, everything is kept; off (the default), every string is cut to
``preview_chars`` and long lists to :data:`MAX_ITEMS` items, so a record never carries a
whole prompt or document by accident.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from waxell_observe.conversation import message_text
from waxell_observe.serialize import preview, to_jsonable

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig

__all__ = ["plain", "bounded", "role_of", "message_dict", "messages_preview", "MAX_ITEMS"]

MAX_ITEMS = 50
"""Items kept from a list (or keys from a dict) when content capture is off."""

_MAX_DEPTH = 12
_types: tuple[Any, Any, Any] | None = None


def _langchain_types() -> tuple[Any, Any, Any]:
    """``(BaseMessage, PromptValue, Document)``, imported on first use (not at ``init()``)."""
    global _types
    if _types is None:
        from langchain_core.documents import Document
        from langchain_core.messages import BaseMessage
        from langchain_core.prompt_values import PromptValue

        _types = (BaseMessage, PromptValue, Document)
    return _types


_ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "HumanMessageChunk": "user",
    "AIMessageChunk": "assistant",
    "SystemMessageChunk": "system",
    "ToolMessageChunk": "tool",
    "FunctionMessageChunk": "tool",
}


def role_of(message: Any) -> str:
    """The chat role of a LangChain message: ``user``, ``assistant``, ``system``, ``tool``..."""
    kind = getattr(message, "type", "") or ""
    role = _ROLES.get(kind)
    if role is not None:
        return role
    custom = getattr(message, "role", None)  # ChatMessage(role=...)
    return custom if isinstance(custom, str) and custom else kind


def message_dict(message: Any) -> dict[str, Any]:
    """A LangChain message as ``{"role", "content"[, "tool_calls", "name", "tool_call_id"]}``,
    with OpenAI-style roles (``user``, ``assistant``, ``system``, ``tool``)."""
    out: dict[str, Any] = {"role": role_of(message), "content": getattr(message, "content", "")}
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        out["tool_calls"] = [
            {"name": call.get("name", ""), "args": call.get("args", {}), "id": call.get("id", "")}
            if isinstance(call, dict)
            else call
            for call in tool_calls
        ]
    name = getattr(message, "name", None)
    if name:
        out["name"] = name
    tool_call_id = getattr(message, "tool_call_id", None)
    if tool_call_id:
        out["tool_call_id"] = tool_call_id
    return out


def _walk(value: Any, limit: int, depth: int) -> Any:
    """One pass: LangChain objects to plain JSON data, strings cut to ``limit`` (0: no cut)."""
    if isinstance(value, str):
        return preview(value, limit) if limit else str(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth >= _MAX_DEPTH:
        return preview(repr(value), limit)
    if isinstance(value, dict):
        items = list(value.items())
        if limit and len(items) > MAX_ITEMS:
            out = {str(k): _walk(v, limit, depth + 1) for k, v in items[:MAX_ITEMS]}
            out["…"] = f"{len(items) - MAX_ITEMS} more keys"
            return out
        return {str(k): _walk(v, limit, depth + 1) for k, v in items}
    if isinstance(value, (list, tuple)):
        if limit and len(value) > MAX_ITEMS:
            out_list = [_walk(v, limit, depth + 1) for v in value[:MAX_ITEMS]]
            out_list.append(f"… {len(value) - MAX_ITEMS} more items")
            return out_list
        return [_walk(v, limit, depth + 1) for v in value]
    message_type, prompt_value_type, document_type = _types or _langchain_types()
    if isinstance(value, message_type):
        return _walk(message_dict(value), limit, depth + 1)
    if isinstance(value, prompt_value_type):
        return [_walk(m, limit, depth + 1) for m in value.to_messages()]
    if isinstance(value, document_type):
        return {
            "page_content": _walk(value.page_content, limit, depth + 1),
            "metadata": _walk(value.metadata, limit, depth + 1),
        }
    return _walk(to_jsonable(value, where="LangChain value"), limit, depth + 1)


def plain(value: Any) -> Any:
    """``value`` with LangChain objects replaced by plain JSON data (nothing cut)."""
    return _walk(value, 0, 0)


def bounded(value: Any, config: ObserveConfig) -> Any:
    """``value`` as JSON-safe data under the content policy of ``config``: everything with
    ``capture_content``, else strings cut to ``preview_chars`` and lists to :data:`MAX_ITEMS`."""
    return _walk(value, 0 if config.capture_content else config.preview_chars, 0)


def messages_preview(messages: list[Any]) -> str:
    """One line per message, ``role: text``: what a prompt preview shows for a chat call."""
    lines = []
    for message in messages:
        role = message.get("role", "") if isinstance(message, dict) else role_of(message)
        lines.append(f"{role}: {message_text(message)}")
    return "\n".join(lines)

"""Turning LangChain values into bounded, JSON-safe data for records.

Chain inputs and outputs, tool arguments and retrieved documents are LangChain objects
(messages, prompt values, documents, pydantic models). :func:`plain` turns them into
plain Python data; :func:`bounded` then applies the SDK's content policy: with
``capture_content`` on, everything is kept; off (the default), every string is cut to
``preview_chars`` and long lists to :data:`MAX_ITEMS` items, so a record never carries a
whole prompt or document by accident.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from waxell_observe.conversation import message_text
from waxell_observe.serialize import preview, to_jsonable

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig

__all__ = ["plain", "bounded", "role_of", "message_dict", "messages_preview", "MAX_ITEMS"]

MAX_ITEMS = 50
"""Items kept from a list (or keys from a dict) when content capture is off."""

_MAX_DEPTH = 12


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


def _is_message(value: Any) -> bool:
    return hasattr(value, "type") and hasattr(value, "content") and hasattr(value, "additional_kwargs")


def plain(value: Any, depth: int = 0) -> Any:
    """``value`` with LangChain objects replaced by plain dicts, lists and strings."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if depth >= _MAX_DEPTH:
        return repr(value)
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    if _is_message(value):
        return plain(message_dict(value), depth + 1)
    to_messages = getattr(value, "to_messages", None)  # ChatPromptValue / StringPromptValue
    if callable(to_messages) and hasattr(value, "to_string"):
        try:
            return [plain(m, depth + 1) for m in to_messages()]
        except Exception:  # noqa: BLE001 - fall back to the generic conversion
            pass
    if hasattr(value, "page_content") and hasattr(value, "metadata"):  # Document
        return {"page_content": value.page_content, "metadata": plain(value.metadata, depth + 1)}
    return to_jsonable(value, where="LangChain value")


def _cut(value: Any, limit: int, depth: int = 0) -> Any:
    if isinstance(value, str):
        return preview(value, limit)
    if depth >= _MAX_DEPTH:
        return preview(repr(value), limit)
    if isinstance(value, dict):
        items = list(value.items())
        out = {k: _cut(v, limit, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["…"] = f"{len(items) - MAX_ITEMS} more keys"
        return out
    if isinstance(value, list):
        out_list = [_cut(v, limit, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            out_list.append(f"… {len(value) - MAX_ITEMS} more items")
        return out_list
    return value


def bounded(value: Any, config: ObserveConfig) -> Any:
    """``value`` as JSON-safe data under the content policy of ``config``."""
    data = to_jsonable(plain(value), where="LangChain value")
    if config.capture_content:
        return data
    return _cut(data, config.preview_chars)


def messages_preview(messages: list[Any]) -> str:
    """One line per message, ``role: text``: what a prompt preview shows for a chat call."""
    lines = []
    for message in messages:
        role = message.get("role", "") if isinstance(message, dict) else role_of(message)
        lines.append(f"{role}: {message_text(message)}")
    return "\n".join(lines)

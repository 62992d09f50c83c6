"""Turning LlamaIndex values into bounded, JSON-safe data for records.

Queries, responses, chat messages, nodes and tool outputs are LlamaIndex objects;
:func:`plain` turns the ones a record shows into plain data (duck-typed, so this module
imports nothing from LlamaIndex), and :func:`bounded` applies the SDK's content policy:
everything with ``capture_content`` on; otherwise strings cut to ``preview_chars`` and lists
to :data:`MAX_ITEMS` items.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from waxell_observe.serialize import preview, to_jsonable

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig

__all__ = ["plain", "bounded", "query_text", "response_text", "message_dict", "MAX_ITEMS"]

MAX_ITEMS = 50
_MAX_DEPTH = 12


def _role(message: Any) -> str:
    role = getattr(message, "role", "")
    value = getattr(role, "value", role)
    return value if isinstance(value, str) else str(value)


def message_dict(message: Any) -> dict[str, Any]:
    """A LlamaIndex ``ChatMessage`` as ``{"role", "content"}`` (text blocks joined)."""
    try:
        content = message.content
    except Exception:  # noqa: BLE001 - a message whose blocks cannot be rendered as text
        content = ""
    return {"role": _role(message), "content": content if isinstance(content, str) else ""}


def query_text(query: Any) -> str:
    """The text of a query (a ``str`` or a ``QueryBundle``)."""
    if isinstance(query, str):
        return query
    text = getattr(query, "query_str", None)
    return text if isinstance(text, str) else ""


def response_text(response: Any) -> str | None:
    """The text of a ``Response``; ``None`` for a streaming response (reading it would consume it)."""
    if response is None:
        return ""
    if isinstance(response, str):
        return response
    if hasattr(response, "response_gen") or hasattr(response, "async_response_gen"):
        text = getattr(response, "response_txt", None)
        return text if isinstance(text, str) else None
    text = getattr(response, "response", None)
    if isinstance(text, str):
        return text
    if text is not None and hasattr(text, "role") and hasattr(text, "blocks"):  # AgentOutput.response
        return str(message_dict(text)["content"])
    message = getattr(response, "message", None)  # ChatResponse / AgentOutput
    if message is not None and hasattr(message, "role"):
        return str(message_dict(message)["content"])
    return None


def plain(value: Any, depth: int = 0) -> Any:
    """``value`` with the LlamaIndex objects a record shows replaced by plain data."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if depth >= _MAX_DEPTH:
        return repr(value)
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    if hasattr(value, "role") and hasattr(value, "blocks"):  # ChatMessage
        return message_dict(value)
    if hasattr(value, "query_str"):  # QueryBundle
        return value.query_str
    text = response_text(value) if hasattr(value, "source_nodes") or hasattr(value, "response_gen") else None
    if text is not None:
        return text
    if hasattr(value, "source_nodes"):
        return "<streaming response>"
    return to_jsonable(value, where="LlamaIndex value")


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
    data = to_jsonable(plain(value), where="LlamaIndex value")
    if config.capture_content:
        return data
    return _cut(data, config.preview_chars)

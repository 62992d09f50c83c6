"""Reading MCP requests and results into plain, bounded record data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from waxell_observe.config import ObserveConfig
from waxell_observe.instrumentation import get
from waxell_observe.serialize import preview, to_jsonable

__all__ = ["bounded", "is_error", "result_text"]


def _block_text(block: Any) -> str:
    text = get(block, "text")
    if isinstance(text, str):
        return text
    kind = get(block, "type")
    uri = get(block, "uri") or get(block, "resource", "uri")
    return f"[{kind or type(block).__name__}{' ' + str(uri) if uri else ''}]"


def result_text(result: Any) -> str:
    """The text an MCP result carries: a tool result's content blocks, a resource's contents or
    a prompt's messages, joined by newlines."""
    if isinstance(result, Mapping):
        blocks = result.get("content") or result.get("contents") or result.get("messages") or ()
    else:
        blocks = (
            getattr(result, "content", None)
            or getattr(result, "contents", None)
            or getattr(result, "messages", None)
            or ()
        )
    if not isinstance(blocks, (list, tuple)):
        return ""
    texts = []
    for block in blocks:
        inner = get(block, "content")  # a prompt message wraps its content block
        texts.append(_block_text(inner if inner is not None and get(block, "role") else block))
    return "\n".join(texts)


def is_error(result: Any) -> bool:
    """True for a tool result the server marked as an error."""
    if isinstance(result, Mapping):
        return result.get("isError") is True or result.get("is_error") is True
    return getattr(result, "is_error", None) is True or getattr(result, "isError", None) is True


def bounded(value: Any, config: ObserveConfig) -> Any:
    """``value`` as JSON-safe data; strings cut to ``preview_chars`` unless ``capture_content``."""
    data = to_jsonable(value, where="MCP value")
    if config.capture_content:
        return data
    if isinstance(data, str):
        return preview(data, config.preview_chars)
    if isinstance(data, dict):
        return {k: preview(v, config.preview_chars) if isinstance(v, str) else v for k, v in data.items()}
    return data

"""Reading ADK's objects: the text of ``google.genai`` contents, a value as JSON for a span, the names
of an agent's tools. Works on the SDK's pydantic objects and plain dicts alike; imports nothing of ADK."""

from __future__ import annotations

from typing import Any

from waxell_observe.instrumentation import get
from waxell_observe.serialize import preview

__all__ = ["FRAMEWORK", "content_text", "jsonable", "model_name", "tool_names"]

FRAMEWORK = "google_adk"
"""The integration's name (``init(instrument=[...])``) and the ``framework`` of its records."""

_PREVIEW = 4000
_MAX_ITEMS = 100


def jsonable(value: Any) -> Any:
    """``value`` as JSON for a span's input or output (strings cut at 4,000 characters, at most 100
    items per list or dict, pydantic objects by their ``model_dump``)."""
    if value is None or isinstance(value, (int, float, bool)):
        return value
    if isinstance(value, str):
        return preview(value, _PREVIEW)
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value[:_MAX_ITEMS]]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in list(value.items())[:_MAX_ITEMS]}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return jsonable(dump(exclude_none=True, mode="json"))
        except Exception:  # noqa: BLE001 - a repr is good enough for a span
            pass
    return preview(str(value), _PREVIEW)


def content_text(content: Any) -> str:
    """The text of a ``Content`` (its text parts joined, thoughts left out), ``""`` when it has none."""
    parts = get(content, "parts")
    if not isinstance(parts, list):
        return ""
    texts = []
    for part in parts:
        text = get(part, "text")
        if isinstance(text, str) and text and get(part, "thought") is not True:
            texts.append(text)
    return "".join(texts)


def model_name(model: Any) -> str:
    """The bare model id of a model name or ``BaseLlm`` (``models/gemini-2.5-flash`` ->
    ``gemini-2.5-flash``, as the Gemini integration names it); ``""`` when there is none."""
    name = model if isinstance(model, str) else getattr(model, "model", None)
    if not isinstance(name, str):
        return ""
    return name.rsplit("models/", 1)[-1] if "models/" in name else name


def tool_names(tools: Any) -> list[str]:
    """The names of an agent's ``tools`` (tools, toolsets and plain functions), sorted."""
    if not isinstance(tools, list):
        return []
    names = []
    for tool in tools:
        name = getattr(tool, "name", None) or getattr(tool, "__name__", None) or type(tool).__name__
        names.append(str(name))
    return sorted(names)

"""Reading typed values out of span attributes: the first usable value among several keys, JSON-encoded
values decoded back, prefixed groups, a span's exception event, previews.

Every reader tolerates anything an exporter may send: a value of the wrong type is skipped, never an
error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from waxell_observe.genai_conventions import integer, number, string
from waxell_observe_server.limits import TRACEBACK_LIMIT
from waxell_observe_server.otlp.decode import ReceivedSpan
from waxell_observe_server.sanitize import clean_json

__all__ = [
    "PREVIEW_CHARS",
    "decoded",
    "exception_of",
    "integer",
    "number",
    "prefixed",
    "preview",
    "service_name",
    "string",
]

PREVIEW_CHARS = 500
"""Prompt, response, input and output previews are cut to this many characters."""


def decoded(value: Any) -> Any:
    """A JSON-encoded attribute value decoded back (other values as they are)."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return clean_json(json.loads(value))
        except (ValueError, RecursionError):
            return value
    return value


def prefixed(attributes: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The attributes under ``prefix``, keyed by the rest of their name, JSON values decoded."""
    return {key[len(prefix) :]: decoded(value) for key, value in attributes.items() if key.startswith(prefix)}


def exception_of(span: ReceivedSpan) -> tuple[str, str, str]:
    """``(type, message, stacktrace)`` of the span's first exception event."""
    for name, _at, attributes in span.events:
        if name == "exception":
            return (
                string(attributes, "exception.type")[:256],
                string(attributes, "exception.message"),
                string(attributes, "exception.stacktrace")[-TRACEBACK_LIMIT:],
            )
    return "", "", ""


def preview(text: str) -> str:
    """``text`` cut to :data:`PREVIEW_CHARS` characters (an ellipsis marks the cut)."""
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def service_name(span: ReceivedSpan) -> str:
    """The resource's ``service.name``, unless it is the SDK's ``unknown_service`` default."""
    name = string(span.resource, "service.name")
    return "" if name.startswith("unknown_service") else name

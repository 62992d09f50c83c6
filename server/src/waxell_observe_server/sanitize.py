"""Making client input storable: no NUL characters, no lone surrogates, finite numbers, bounded text.

PostgreSQL rejects NUL characters in text and JSON, and no database driver can encode a lone
UTF-16 surrogate (JSON allows ``"\\ud800"``); both would otherwise turn bad input into a
server error. Everything the server stores passes through these functions.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from waxell_observe_server.limits import MAX_JSON_DEPTH, TEXT_LIMIT

__all__ = ["clean_text", "clean_json", "cut", "cut_tail"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """``value`` without NUL characters and with lone surrogates replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = _SURROGATE.sub("\ufffd", value)
    return value


def cut(value: str | None, limit: int = TEXT_LIMIT) -> str:
    """Clean ``value`` (``None`` becomes ``""``) and keep its first ``limit`` characters."""
    if not value:
        return ""
    return clean_text(value[:limit])


def cut_tail(value: str | None, limit: int) -> str:
    """Clean ``value`` and keep its last ``limit`` characters."""
    if not value:
        return ""
    return clean_text(value[-limit:])


def clean_json(value: Any, depth: int = 0) -> Any:
    """A storable copy of a parsed JSON value.

    Strings are cleaned (see :func:`clean_text`), non-finite floats become their text
    (``"nan"``, ``"inf"``), and values nested deeper than ``MAX_JSON_DEPTH`` are kept as
    their compact JSON text.
    """
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth >= MAX_JSON_DEPTH:
        try:
            text = json.dumps(value, default=repr, ensure_ascii=False)
        except (RecursionError, ValueError):
            text = "<too deeply nested>"
        return clean_text(text[:TEXT_LIMIT])
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v, depth + 1) for v in value]
    return clean_text(repr(value))

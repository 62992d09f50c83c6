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
    if len(value) > limit:
        value = value[:limit]
    if value.isascii() and "\x00" not in value:  # nothing to clean (the usual case: no call)
        return value
    return clean_text(value)


def cut_tail(value: str | None, limit: int) -> str:
    """Clean ``value`` and keep its last ``limit`` characters."""
    if not value:
        return ""
    return clean_text(value[-limit:])


_SCALARS = frozenset({int, bool, type(None)})


def clean_json(value: Any, depth: int = 0) -> Any:
    """A storable copy of a parsed JSON value.

    Strings are cleaned (see :func:`clean_text`), non-finite floats become their text
    (``"nan"``, ``"inf"``), and values nested deeper than ``MAX_JSON_DEPTH`` are kept as
    their compact JSON text.

    Objects and arrays are copied member by member; a member that is an ASCII string without
    NUL, an integer, a boolean, ``None`` or a finite float — nearly all of them — is taken
    as it is, without a call.
    """
    cls = value.__class__
    if cls is dict:
        if depth >= MAX_JSON_DEPTH:
            return _as_text(value)
        copy = {}
        for key, member in value.items():
            if key.__class__ is not str or not key.isascii() or "\x00" in key:
                key = clean_text(str(key))
            kind = member.__class__
            if kind is str:
                if not member.isascii() or "\x00" in member:
                    member = clean_text(member)
            elif kind is float:
                if member - member != 0.0:  # inf or nan
                    member = repr(member)
            elif kind not in _SCALARS:
                member = clean_json(member, depth + 1)
            copy[key] = member
        return copy
    if cls is list:
        if depth >= MAX_JSON_DEPTH:
            return _as_text(value)
        return [
            member
            if member.__class__ in _SCALARS
            or (member.__class__ is str and member.isascii() and "\x00" not in member)
            else clean_json(member, depth + 1)
            for member in value
        ]
    return _clean_other(value, depth)


def _clean_other(value: Any, depth: int) -> Any:
    """:func:`clean_json` of anything but a ``dict`` or a ``list``."""
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth >= MAX_JSON_DEPTH:
        return _as_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v, depth + 1) for v in value]
    return clean_text(repr(value))


def _as_text(value: Any) -> str:
    """A value nested too deep: its compact JSON text, cleaned and cut."""
    try:
        text = json.dumps(value, default=repr, ensure_ascii=False)
    except (RecursionError, ValueError):
        text = "<too deeply nested>"
    return clean_text(text[:TEXT_LIMIT])

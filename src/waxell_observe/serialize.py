"""Turning user values into JSON-safe data without ever raising.

Used on the hot path (record outputs, metadata, inputs): a value is copied into plain
JSON types, so later mutation by the caller cannot change what was recorded, and
anything that JSON cannot hold is stored as its ``repr`` with a logged warning.
"""

from __future__ import annotations

import datetime as _dt
import enum
import logging
import math
import uuid
from decimal import Decimal
from typing import Any

logger = logging.getLogger("waxell_observe")

_PRIMITIVES = (str, int, bool, type(None))
_PLAIN = frozenset(_PRIMITIVES)
"""Exact types that are JSON-safe as they are (not their subclasses: an ``IntEnum`` is converted)."""
_SMALL = 16
"""Dicts up to this size whose keys are strings and values plain are copied without recursion."""
_MAX_DEPTH = 32


def to_jsonable(value: Any, *, where: str = "value") -> Any:
    """Return a JSON-safe deep copy of ``value``.

    Dicts (keys become strings), lists, tuples and sets are copied; datetimes become ISO
    strings, enums their value, decimals floats, non-finite floats strings. Anything else
    is replaced by its ``repr`` and a warning naming ``where`` is logged.
    """
    cls = value.__class__
    if cls in _PLAIN:
        return value
    if cls is dict and len(value) <= _SMALL:
        copied = _plain_copy(value)
        if copied is not None:
            return copied
    return _convert(value, where, 0)


def jsonable(value: Any, where: str, *args: Any) -> Any:
    """:func:`to_jsonable` naming ``where % args`` in its warnings; the text is only formatted
    when ``value`` is not plain data already (the common case costs no formatting)."""
    cls = value.__class__
    if cls in _PLAIN:
        return value
    if cls is dict and len(value) <= _SMALL:  # _plain_copy() written out (the common case)
        plain = _PLAIN
        for key, item in value.items():
            if key.__class__ is not str or item.__class__ not in plain:
                break
        else:
            return value.copy()
    return _convert(value, where % args if args else where, 0)


def _plain_copy(value: dict[Any, Any]) -> dict[str, Any] | None:
    """A copy of a dict of string keys and plain values (what :func:`_convert` would return), or
    ``None`` when it holds anything else."""
    plain = _PLAIN
    for key, item in value.items():
        if key.__class__ is not str or item.__class__ not in plain:
            return None
    return value.copy()


def _convert(value: Any, where: str, depth: int) -> Any:
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth >= _MAX_DEPTH:
        logger.warning(
            "waxell-observe: %s is nested deeper than %d levels; stored as repr", where, _MAX_DEPTH
        )
        return repr(value)
    if isinstance(value, dict):
        return {
            (k if isinstance(k, str) else str(k)): _convert(v, where, depth + 1) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_convert(v, where, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        return [_convert(v, where, depth + 1) for v in value]
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return _convert(value.value, where, depth + 1)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump):
        try:
            return _convert(dump(mode="json"), where, depth + 1)
        except Exception:  # noqa: BLE001 - fall through to repr below
            pass
    text = _safe_repr(value)
    logger.warning(
        "waxell-observe: %s of type %s is not JSON-serialisable; stored as its repr",
        where,
        type(value).__name__,
    )
    return text


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not break the agent
        return f"<unrepresentable {type(value).__name__}: {exc!r}>"


def preview(text: Any, limit: int) -> str:
    """Return ``text`` as a string cut to ``limit`` characters (an ellipsis marks a cut)."""
    if text is None:
        return ""
    if isinstance(text, str):
        shown = text
    else:
        shown = _safe_repr(text) if not isinstance(text, (dict, list)) else _compact_json(text)
    if limit <= 0 or len(shown) <= limit:
        return shown
    return shown[: max(limit - 1, 0)] + "…"


def _compact_json(value: Any) -> str:
    import json

    try:
        return json.dumps(to_jsonable(value), ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return _safe_repr(value)

"""Reading loosely-typed JSON values (the ``output`` of a behaviour step) without ever raising."""

from __future__ import annotations

import json
import math
from typing import Any

from waxell_observe_server.limits import MAX_INT, TEXT_LIMIT
from waxell_observe_server.sanitize import clean_json, cut

__all__ = ["as_str", "as_int", "as_millis", "as_list", "as_dict", "as_number"]


def as_str(value: Any, default: str = "", limit: int = TEXT_LIMIT) -> str:
    """A string from any JSON value (``None`` gives ``default``; objects become compact JSON)."""
    if value is None:
        return default
    if isinstance(value, str):
        return cut(value, limit)
    if isinstance(value, (dict, list)):
        return cut(json.dumps(clean_json(value), ensure_ascii=False, separators=(",", ":")), limit)
    return cut(str(value), limit)


def as_int(value: Any) -> int | None:
    """An integer within the store's range, or ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        value = int(value)
    if isinstance(value, int) and -MAX_INT <= value <= MAX_INT:
        return value
    return None


def as_number(value: Any) -> float | None:
    """A finite float, or ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def as_millis(value: Any) -> float | None:
    """A non-negative finite duration in milliseconds, or ``None``."""
    number = as_number(value)
    return number if number is not None and 0.0 <= number <= 1e13 else None


def as_list(value: Any) -> list[Any] | None:
    """A cleaned copy of a JSON list, or ``None`` when ``value`` is not a list."""
    return clean_json(value) if isinstance(value, list) else None


def as_dict(value: Any) -> dict[str, Any] | None:
    """A cleaned copy of a JSON object, or ``None`` when ``value`` is not an object."""
    return clean_json(value) if isinstance(value, dict) else None

"""Reading SDK objects that may be pydantic models, plain dicts, or missing fields."""

from __future__ import annotations

from typing import Any

__all__ = ["get", "positive_int"]


def get(obj: Any, *path: str) -> Any:
    """``obj.a.b`` / ``obj["a"]["b"]`` with ``None`` for anything missing."""
    for key in path:
        if obj is None:
            return None
        obj = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    return obj


def positive_int(value: Any) -> int:
    """``value`` when it is a positive ``int`` (not a ``bool``), else 0: token counts as reported."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

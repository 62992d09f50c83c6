"""A small JSON Schema subset for quality checks: ``type``, ``required``, ``properties``, ``items``, ``enum``.

No dependency; unknown keywords are ignored. :func:`validate` returns a list of error strings with a
JSONPath-like location (empty when the instance is valid).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["validate"]

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, (list, tuple)),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def validate(instance: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """Errors of ``instance`` against ``schema``; ``[]`` when valid."""
    errors: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        names = [expected] if isinstance(expected, str) else list(expected)
        if not any(_TYPES.get(n, lambda v: True)(instance) for n in names):
            errors.append(f"{path}: expected {' or '.join(names)}, got {_type_name(instance)}")
            return errors
    if "enum" in schema and instance not in list(schema["enum"]):
        errors.append(f"{path}: {instance!r} is not one of {list(schema['enum'])!r}")
    if isinstance(instance, Mapping):
        for key in schema.get("required", ()):
            if key not in instance:
                errors.append(f"{path}: missing required property {key!r}")
        for key, sub in (schema.get("properties") or {}).items():
            if key in instance and isinstance(sub, Mapping):
                errors.extend(validate(instance[key], sub, f"{path}.{key}"))
    if isinstance(instance, (list, tuple)) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(instance):
            errors.extend(validate(item, schema["items"], f"{path}[{i}]"))
    return errors

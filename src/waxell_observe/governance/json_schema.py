"""A small JSON Schema subset for quality checks and tool arguments: ``type``, ``required``,
``properties``, ``additionalProperties``, ``items``, ``enum``, ``minimum``, ``maximum``, ``minLength``,
``maxLength``.

No dependency; unknown keywords are ignored. :func:`validate` returns a list of error strings with a
JSONPath-like location (empty when the instance is valid); :func:`schema_problems` checks a schema
itself (with the ``jsonschema`` package when it is installed); :func:`compile_validator` picks
``jsonschema`` when installed, else this subset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["compile_validator", "schema_problems", "validate"]

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
    _check_bounds(instance, schema, path, errors)
    if isinstance(instance, Mapping):
        _check_object(instance, schema, path, errors)
    if isinstance(instance, (list, tuple)) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(instance):
            errors.extend(validate(item, schema["items"], f"{path}[{i}]"))
    return errors


def _check_bounds(instance: Any, schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if isinstance(instance, (int, float)) and not isinstance(instance, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        if isinstance(low, (int, float)) and instance < low:
            errors.append(f"{path}: {instance!r} is less than the minimum of {low!r}")
        if isinstance(high, (int, float)) and instance > high:
            errors.append(f"{path}: {instance!r} is greater than the maximum of {high!r}")
    elif isinstance(instance, str):
        shortest, longest = schema.get("minLength"), schema.get("maxLength")
        if isinstance(shortest, int) and len(instance) < shortest:
            errors.append(f"{path}: shorter than {shortest} characters")
        if isinstance(longest, int) and len(instance) > longest:
            errors.append(f"{path}: longer than {longest} characters")


def _check_object(
    instance: Mapping[str, Any], schema: Mapping[str, Any], path: str, errors: list[str]
) -> None:
    for key in schema.get("required", ()):
        if key not in instance:
            errors.append(f"{path}: missing required property {key!r}")
    properties = schema.get("properties") or {}
    for key, sub in properties.items():
        if key in instance and isinstance(sub, Mapping):
            errors.extend(validate(instance[key], sub, f"{path}.{key}"))
    extra = schema.get("additionalProperties")
    if extra is False:
        errors.extend(
            f"{path}: additional property {key!r} is not allowed" for key in instance if key not in properties
        )
    elif isinstance(extra, Mapping):
        for key in instance:
            if key not in properties:
                errors.extend(validate(instance[key], extra, f"{path}.{key}"))


def schema_problems(schema: Any) -> list[str]:
    """What is wrong with ``schema`` itself (``[]`` when usable): the shapes of the keywords this module
    reads, then every keyword with ``jsonschema`` when the package is installed."""
    if not isinstance(schema, Mapping):
        return [f"a schema must be an object, got {_type_name(schema)}"]
    problems = _subset_problems(schema, "$")
    if problems:
        return problems
    try:
        import jsonschema
    except ImportError:
        return []
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [str(exc.message)]
    return []


def _subset_problems(schema: Mapping[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    kind = schema.get("type")
    names = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else None
    if kind is not None and (names is None or any(n not in _TYPES for n in names)):
        problems.append(f"{path}.type: unknown type {kind!r} (expected one of: {', '.join(_TYPES)})")
    required = schema.get("required")
    if required is not None and not (
        isinstance(required, list) and all(isinstance(r, str) for r in required)
    ):
        problems.append(f"{path}.required: must be a list of property names")
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, Mapping):
            problems.append(f"{path}.properties: must be an object")
        else:
            for key, sub in properties.items():
                if not isinstance(sub, Mapping):
                    problems.append(f"{path}.properties.{key}: a schema must be an object")
                else:
                    problems.extend(_subset_problems(sub, f"{path}.properties.{key}"))
    for key in ("items", "additionalProperties"):
        sub = schema.get(key)
        if sub is not None and not isinstance(sub, (Mapping, bool)):
            problems.append(f"{path}.{key}: must be a schema or a boolean")
        elif isinstance(sub, Mapping):
            problems.extend(_subset_problems(sub, f"{path}.{key}"))
    return problems


def compile_validator(schema: Mapping[str, Any]) -> Callable[[Any], list[str]]:
    """A function returning the errors of an instance against ``schema``: ``jsonschema`` when
    installed (every keyword), else :func:`validate` (the subset)."""
    try:
        import jsonschema
    except ImportError:
        return lambda instance: validate(instance, schema)
    checker = jsonschema.validators.validator_for(schema)(schema)

    def errors(instance: Any) -> list[str]:
        found = []
        for error in checker.iter_errors(instance):
            where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            found.append(f"{where}: {error.message}")
        return found

    return errors

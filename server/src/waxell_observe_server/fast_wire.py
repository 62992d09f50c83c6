"""Decoding ``runs/batch/`` bodies with msgspec: the batch endpoint's fast path.

pydantic validates a batch of SDK runs at about 30 µs per run; msgspec decodes and checks the
same body into ``Struct`` objects in about 7. The structs here are made from the request models of
:mod:`.wire_models` (same fields, defaults, bounds, id pattern, ``Literal`` values, and the
models' own checks and properties), so there is one definition of the wire format.

The fast path takes only bodies whose every value already has its final type: numbers where the
models want numbers (times as epoch seconds), strings where they want strings, JSON booleans for
booleans. That is what our SDK sends. Whatever else pydantic would accept — times as ISO 8601
text, numbers sent as strings or strings as numbers, ``NaN`` — and every invalid body make
:func:`decode_batch` answer ``None``, and the endpoint validates the body with pydantic instead,
which accepts the same and names each problem. So a body is either decoded here to exactly the
values pydantic would produce, or not decoded here at all.

The entries are structs, not models: code reading them uses attributes only (and the models'
properties, copied here). An entry that must go through the per-run code path (a policy evaluates
its run) is made a model again with :func:`as_model`.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Union, cast, get_args, get_origin

import annotated_types
import msgspec
from pydantic import AfterValidator, AllowInfNan, BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from waxell_observe_server.limits import MAX_TIMESTAMP
from waxell_observe_server.wire_models import BatchRunIn, parse_timestamp

__all__ = ["as_model", "decode_batch"]

_FINITE = msgspec.Meta(ge=-1.7976931348623157e308, le=1.7976931348623157e308)
"""The bounds that make a float finite (JSON as msgspec reads it has no NaN; a number beyond
these is refused)."""

_FAST_FORM: dict[Callable[..., Any], Any] = {
    parse_timestamp: Annotated[float, msgspec.Meta(ge=0.0, le=MAX_TIMESTAMP)],
}
"""What the fast path takes for a field with a ``BeforeValidator``: ``parse_timestamp`` turns a
number from 0 to ``MAX_TIMESTAMP`` into itself as a float (and text into a time, left to
pydantic)."""


class _Checks:
    """What msgspec cannot check on a struct class, done after decoding: the models'
    ``AfterValidator`` functions per field, their ``model_validator(mode="after")`` functions,
    and where nested structs are."""

    def __init__(self) -> None:
        self.fields: list[tuple[str, Callable[[Any], Any]]] = []
        self.models: list[Callable[[Any], Any]] = []
        self.nested: list[str] = []

    @property
    def needed(self) -> bool:
        """Whether a struct of the class has anything to check (in itself or below)."""
        return bool(self.fields or self.models or self.nested)


_CHECKS: dict[type, _Checks] = {}
_STRUCTS: dict[type[BaseModel], type[msgspec.Struct]] = {}


def _pattern(pattern: str) -> str:
    """A pydantic (Rust) pattern for Python's ``re``: there ``$`` also matches before a final
    newline, which the Rust engine's does not."""
    return re.sub(r"(?<!\\)\$$", r"\\Z", pattern)


def _constrained(base: Any, metadata: list[Any], checks: list[Callable[[Any], Any]]) -> Any:
    """``base`` with the constraints of pydantic ``metadata`` as a ``msgspec.Meta``; validators
    run after decoding go to ``checks``."""
    bounds: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            bounds["ge"] = item.ge
        elif isinstance(item, annotated_types.Le):
            bounds["le"] = item.le
        elif isinstance(item, annotated_types.Gt):
            bounds["gt"] = item.gt
        elif isinstance(item, annotated_types.Lt):
            bounds["lt"] = item.lt
        elif isinstance(item, AllowInfNan) and not item.allow_inf_nan:
            bounds.setdefault("ge", _FINITE.ge)
            bounds.setdefault("le", _FINITE.le)
        elif getattr(item, "pattern", None) is not None:
            bounds["pattern"] = _pattern(item.pattern)
        elif isinstance(item, AfterValidator) and len(inspect.signature(item.func).parameters) == 1:
            checks.append(cast(Callable[[Any], Any], item.func))
        elif isinstance(item, BeforeValidator) and item.func in _FAST_FORM:
            return _FAST_FORM[item.func]
        else:
            raise TypeError(f"fast_wire: no fast form for {item!r}")
    return Annotated[base, msgspec.Meta(**bounds)] if bounds else base


def _translate(annotation: Any, metadata: list[Any], checks: list[Callable[[Any], Any]]) -> Any:
    """The msgspec type for a pydantic field's ``annotation`` and ``metadata``."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return Union[tuple(_translate(arg, metadata, checks) for arg in get_args(annotation))]  # noqa: UP007
    if origin is Annotated:
        base, *extra = get_args(annotation)
        inner = [m for info in extra if isinstance(info, FieldInfo) for m in info.metadata]
        inner += [m for m in extra if not isinstance(m, FieldInfo)]
        return _translate(base, [*metadata, *inner], checks)
    if annotation is type(None):
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _struct(annotation)
    if origin is list:
        (item,) = get_args(annotation)
        return list[_translate(item, [], checks)]  # type: ignore[misc]
    if origin in (dict, typing.Literal) or annotation is Any:
        return annotation
    if annotation in (str, int, float, bool):
        return _constrained(annotation, metadata, checks)
    raise TypeError(f"fast_wire: no fast form for {annotation!r}")


def _struct(model: type[BaseModel]) -> type[msgspec.Struct]:
    """The struct class of a request model (made once)."""
    if model in _STRUCTS:
        return _STRUCTS[model]
    checks = _Checks()
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for name, info in model.model_fields.items():
        field_checks: list[Callable[[Any], Any]] = []
        kind = _translate(info.annotation, list(info.metadata), field_checks)
        fields.append((name, kind) if info.is_required() else (name, kind, info.default))
        checks.fields += [(name, check) for check in field_checks]
        nested = [t for t in _models_in(info.annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
        if any(_CHECKS[_STRUCTS[t]].needed for t in nested):  # structs with nothing to check: skipped
            checks.nested.append(name)
    for decorator in model.__pydantic_decorators__.model_validators.values():
        if decorator.info.mode != "after":
            raise TypeError(f"fast_wire: no fast form for {model.__name__}'s {decorator.info.mode} validator")
        checks.models.append(decorator.func)
    properties = {k: v for k, v in vars(model).items() if isinstance(v, property)}
    struct = msgspec.defstruct(f"Fast{model.__name__}", fields, kw_only=True, namespace=properties)
    _STRUCTS[model] = struct
    _CHECKS[struct] = checks
    return struct


def _models_in(annotation: Any) -> list[Any]:
    """Every type named in ``annotation`` (through unions, lists, ``Annotated``)."""
    args = get_args(annotation)
    return [annotation, *(t for arg in args for t in _models_in(arg))]


def _check(value: Any) -> None:
    """Run the checks msgspec could not on ``value`` and the structs in it (``ValueError`` when
    one fails)."""
    checks = _CHECKS[type(value)]
    for name, check in checks.fields:
        field = getattr(value, name)
        if field is not None:
            check(field)
    for name in checks.nested:
        nested = getattr(value, name)
        if isinstance(nested, list):
            for item in nested:
                _check(item)
        elif nested is not None:
            _check(nested)
    for validate in checks.models:
        validate(value)


_Entry = _struct(BatchRunIn)


class _Body(msgspec.Struct):
    runs: list[_Entry]  # type: ignore[valid-type]


_DECODER = msgspec.json.Decoder(_Body)


def decode_batch(raw: bytes, max_runs: int) -> list[BatchRunIn] | None:
    """The entries of a ``{"runs": [...]}`` body in the form clients send (see above), as structs
    with the models' attributes; ``None`` when pydantic must validate the body (anything else,
    including more than ``max_runs`` entries)."""
    try:
        body = _DECODER.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if len(body.runs) > max_runs:
        return None
    try:
        for entry in body.runs:
            _check(entry)
    except ValueError:
        return None
    # structs with the models' fields and properties, read through the same attributes
    return cast(list[BatchRunIn], body.runs)


def as_model(entry: BatchRunIn) -> BatchRunIn:
    """``entry`` as a :class:`~.wire_models.BatchRunIn` model (a decoded struct is validated
    again from its values; a model is returned as it is)."""
    if isinstance(entry, BatchRunIn):
        return entry
    return BatchRunIn.model_validate(msgspec.to_builtins(entry))

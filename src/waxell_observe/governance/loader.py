"""Reading policy files (YAML or JSON) into validated :class:`~.models.Policy` objects.

A file is a mapping with a ``policies:`` list (a bare list, or a single policy mapping, are accepted
too). A category may be given by an alias (``net``, ``domain``, ``rag``), in any case, with ``_`` for ``-``;
it is stored under its name. Loading is all or nothing: any problem raises :class:`PolicyFileError`
listing every problem as ``policy '<name>': field '<path>': <problem>``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from waxell_observe.vocabulary import POLICY_CATEGORY_ALIASES, canonical_category

from .models import CATEGORIES, RULE_MODELS, AnyPolicy, Policy

__all__ = ["PolicyFileError", "load_policies", "parse_policies"]

_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyPolicy)
_ALIASES = ", ".join(f"{alias} ({name})" for alias, name in POLICY_CATEGORY_ALIASES.items())


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so ``name: off`` or ``[no, yes]`` stay strings."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class PolicyFileError(ValueError):
    """A policy file (or policy data) was rejected; ``problems`` lists each problem on its own."""

    def __init__(self, problems: Sequence[str], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        if len(self.problems) == 1:
            message = f"invalid policy file{where}: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"invalid policy file{where}: {len(self.problems)} problems:\n{lines}"
        super().__init__(message)


def load_policies(source: str | os.PathLike[str]) -> list[Policy]:
    """Load policies from a path, or from YAML/JSON text.

    A ``PathLike`` is always read as a file; a one-line string naming an existing file is read as a
    file too; any other string is parsed as text. JSON is used for ``.json`` files and for text
    starting with ``{`` or ``[``, YAML otherwise.
    """
    text, name = _read(source)
    data = _parse(text, name)
    return parse_policies(_policy_list(data, name), source=name)


def parse_policies(items: Iterable[Any], *, source: str = "") -> list[Policy]:
    """Validate already-parsed policy dicts; raises :class:`PolicyFileError` on any problem."""
    policies: list[Policy] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items, start=1):
        label = _label(item, index)
        if not isinstance(item, Mapping):
            problems.append(f"{label}: expected a mapping, got {type(item).__name__}")
            continue
        data = dict(item)
        if isinstance(data.get("category"), str):
            data["category"] = canonical_category(data["category"])  # aliases: net, domain, rag
        try:
            policy = _ADAPTER.validate_python(data)
        except ValidationError as exc:
            problems.extend(f"{label}: {_describe(err, data)}" for err in exc.errors())
            continue
        if policy.name in seen:
            problems.append(
                f"{label}: field 'name': duplicate policy name (also policy #{seen[policy.name]})"
            )
            continue
        seen[policy.name] = index
        policies.append(policy)
    if problems:
        raise PolicyFileError(problems, source)
    return policies


# --------------------------------------------------------------------------- reading


def _read(source: str | os.PathLike[str]) -> tuple[str, str]:
    if isinstance(source, os.PathLike):
        path = Path(source)
        return _read_file(path), str(path)
    if "\n" not in source:
        try:
            path = Path(source)
            if path.is_file():
                return _read_file(path), str(path)
        except (OSError, ValueError):
            pass
    return source, ""


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyFileError([f"cannot read file: {exc.strerror or exc}"], str(path)) from None


def _parse(text: str, name: str) -> Any:
    stripped = text.lstrip()
    if name.endswith(".json") or stripped.startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyFileError(
                [f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"], name
            ) from None
    try:
        return yaml.load(text, Loader=_YamlLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyFileError([f"invalid YAML: {problem}{where}"], name) from None


def _policy_list(data: Any, name: str) -> list[Any]:
    if isinstance(data, Mapping):
        if "policies" in data:
            extra = sorted(str(k) for k in data if k != "policies")
            if extra:
                raise PolicyFileError(
                    [f"unknown top-level key(s): {', '.join(extra)} (expected 'policies')"], name
                )
            items = data["policies"]
            if items is None:
                return []
            if not isinstance(items, list):
                raise PolicyFileError([f"'policies' must be a list, got {type(items).__name__}"], name)
            return items
        if "name" in data and "category" in data:
            return [data]
        raise PolicyFileError(["expected a mapping with a 'policies' list"], name)
    if isinstance(data, list):
        return data
    if data is None:
        return []
    raise PolicyFileError([f"expected a mapping with a 'policies' list, got {type(data).__name__}"], name)


# --------------------------------------------------------------------------- error messages


def _label(item: Any, index: int) -> str:
    if isinstance(item, Mapping) and isinstance(item.get("name"), str) and item["name"].strip():
        return f"policy {item['name'].strip()!r}"
    return f"policy #{index} (unnamed)"


def _describe(err: Mapping[str, Any], item: Mapping[str, Any]) -> str:
    """Turn one pydantic error into ``field '<path>': <problem>``."""
    kind = err["type"]
    loc = list(err["loc"])
    ctx = err.get("ctx") or {}
    if kind == "union_tag_invalid":
        return (
            f"field 'category': unknown category {ctx.get('tag')!r} "
            f"(expected one of: {', '.join(CATEGORIES)}; or an alias: {_ALIASES})"
        )
    if kind == "union_tag_not_found":
        return "field 'category': required"
    category = loc.pop(0) if loc and loc[0] in CATEGORIES else item.get("category")
    path = ".".join(str(part) for part in loc) or "<policy>"
    if kind == "extra_forbidden":
        if len(loc) == 2 and loc[0] == "rules":
            known = ", ".join(RULE_MODELS[str(category)].model_fields) if category in RULE_MODELS else ""
            return f"field '{path}': unknown rule for category {category!r} (known rules: {known})"
        return f"field '{path}': unknown field"
    if kind == "missing":
        return f"field '{path}': required"
    message = str(err["msg"])
    message = message.removeprefix("Value error, ")
    value = err.get("input")
    scalar = isinstance(value, (str, int, float, bool)) or value is None
    if scalar and kind not in ("value_error", "assertion_error"):
        message = f"{message} (got {value!r})"
    return f"field '{path}': {message}"

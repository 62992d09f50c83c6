"""Validation of a tenant's LLM configuration (pydantic): each section's fields, then the references
between sections. :func:`validate_llm_config` returns the normalized document or raises
:class:`LlmConfigError`, whose ``problems`` each name the field (``tenant_models[1].instance_id: unknown
instance 'azure'``).

The document has the manifest's four sections (``instances``, ``tenant_models``, ``model_groups``,
``capability_overrides``); the manifest's header fields (``schema_version``, ``tenant_id``, ...) may be
present and are ignored, so a manifest or the output of ``waxell-observe llm-config show --json`` can be
stored again. Any other key is an error (a misspelt section is not silently dropped).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from waxell_observe.vocabulary.llm_config import MANIFEST_HEADER_FIELDS, MANIFEST_SECTIONS

__all__ = ["LlmConfigError", "validate_llm_config"]


class LlmConfigError(ValueError):
    """An LLM configuration that cannot be stored; ``problems`` lists every problem found, each naming
    its field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid LLM configuration: " + "; ".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Instance(_Strict):
    instance_id: str = Field(min_length=1, max_length=256)
    kind: str = Field(min_length=1, max_length=256)
    base_url: str = ""
    secret_ref: str = ""
    capabilities: list[str] = Field(default_factory=list)
    extra_config: dict[str, Any] = Field(default_factory=dict)
    is_default_for_kind: bool = False
    catalog_id: str = ""
    catalog_version: str = ""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(
                f"must be an http:// or https:// URL (or empty for the provider's own), got {value!r}"
            )
        return value


class _TenantModel(_Strict):
    model_id: str = Field(min_length=1, max_length=256)
    instance_id: str = Field(min_length=1, max_length=256)
    provider_model_id: str = ""
    supports_tools: bool = False
    supports_json: bool = False
    supports_streaming: bool = False
    context_window: int | None = Field(default=None, ge=1)


class _GroupEntry(_Strict):
    position: int = Field(ge=0)
    instance_id: str = Field(min_length=1, max_length=256)
    model_id: str = Field(min_length=1, max_length=256)


class _ModelGroup(_Strict):
    group_id: str = Field(min_length=1, max_length=256)
    display_name: str = ""
    entries: list[_GroupEntry] = Field(min_length=1)


class _CapabilityOverride(_Strict):
    model_id: str = Field(min_length=1, max_length=256)
    instance_id: str = ""
    supports_tools: bool | None = None
    supports_json: bool | None = None
    supports_streaming: bool | None = None
    context_window: int | None = Field(default=None, ge=1)


class _Document(_Strict):
    instances: list[_Instance] = Field(default_factory=list)
    tenant_models: list[_TenantModel] = Field(default_factory=list)
    model_groups: list[_ModelGroup] = Field(default_factory=list)
    capability_overrides: list[_CapabilityOverride] = Field(default_factory=list)


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "document"


def _duplicates(values: list[Any]) -> set[Any]:
    return {value for value, count in Counter(values).items() if count > 1}


def _instance_problems(doc: _Document) -> list[str]:
    problems = [
        f"instances: instance_id {dup!r} is used more than once"
        for dup in sorted(_duplicates([i.instance_id for i in doc.instances]))
    ]
    defaults = [i.kind for i in doc.instances if i.is_default_for_kind]
    problems += [
        f"instances: more than one instance of kind {kind!r} has is_default_for_kind true"
        for kind in sorted(_duplicates(defaults))
    ]
    return problems


def _known_text(doc: _Document) -> str:
    return ", ".join(repr(i) for i in dict.fromkeys(i.instance_id for i in doc.instances)) or "none"


def _model_problems(doc: _Document) -> list[str]:
    problems: list[str] = []
    known = {i.instance_id for i in doc.instances}
    seen: set[tuple[str, str]] = set()
    for n, model in enumerate(doc.tenant_models):
        key = (model.instance_id, model.model_id)
        if model.instance_id not in known:
            problems.append(
                f"tenant_models[{n}].instance_id: unknown instance {model.instance_id!r} "
                f"(instances: {_known_text(doc)})"
            )
        if key in seen:
            problems.append(
                f"tenant_models[{n}]: model_id {model.model_id!r} on instance {model.instance_id!r} "
                "is listed more than once"
            )
        seen.add(key)
    return problems


def _group_problems(doc: _Document, models: set[tuple[str, str]]) -> list[str]:
    model_ids = {model_id for _, model_id in models}
    problems = [
        f"model_groups: group_id {dup!r} is used more than once"
        for dup in sorted(_duplicates([g.group_id for g in doc.model_groups]))
    ]
    for n, group in enumerate(doc.model_groups):
        if group.group_id in model_ids:
            problems.append(
                f"model_groups[{n}].group_id: {group.group_id!r} is also a model_id "
                "(a name must mean one model or one group)"
            )
        problems += [
            f"model_groups[{n}].entries: position {dup} is used more than once"
            for dup in sorted(_duplicates([e.position for e in group.entries]))
        ]
        problems += [
            f"model_groups[{n}].entries[{m}]: no tenant model {entry.model_id!r} "
            f"on instance {entry.instance_id!r}"
            for m, entry in enumerate(group.entries)
            if (entry.instance_id, entry.model_id) not in models
        ]
    return problems


def _override_problems(doc: _Document, models: set[tuple[str, str]]) -> list[str]:
    problems: list[str] = []
    known = {i.instance_id for i in doc.instances}
    model_ids = {model_id for _, model_id in models}
    for n, override in enumerate(doc.capability_overrides):
        if override.instance_id and override.instance_id not in known:
            problems.append(
                f"capability_overrides[{n}].instance_id: unknown instance {override.instance_id!r} "
                f"(instances: {_known_text(doc)})"
            )
        elif override.instance_id and (override.instance_id, override.model_id) not in models:
            problems.append(
                f"capability_overrides[{n}]: no tenant model {override.model_id!r} "
                f"on instance {override.instance_id!r}"
            )
        elif override.model_id not in model_ids:
            problems.append(f"capability_overrides[{n}].model_id: unknown model {override.model_id!r}")
        if not override.model_dump(exclude_none=True, exclude={"model_id", "instance_id"}):
            problems.append(
                f"capability_overrides[{n}]: sets no capability "
                "(give supports_tools, supports_json, supports_streaming or context_window)"
            )
    return problems


def _references(doc: _Document) -> list[str]:
    """The problems between sections: duplicate ids, unknown instances and models, two defaults of a kind."""
    models = {(m.instance_id, m.model_id) for m in doc.tenant_models}
    return (
        _instance_problems(doc)
        + _model_problems(doc)
        + _group_problems(doc, models)
        + _override_problems(doc, models)
    )


def validate_llm_config(data: Any) -> dict[str, Any]:
    """The normalized document of ``data`` (a mapping with the manifest's sections); raises
    :class:`LlmConfigError` naming every problem. Normalized: defaults filled in, an empty
    ``provider_model_id`` set to the ``model_id``, ``display_name`` defaulting to the ``group_id``,
    group entries in position order, unset override fields left out."""
    if not isinstance(data, dict):
        raise LlmConfigError([f"document: must be an object with {', '.join(MANIFEST_SECTIONS)}"])
    body = {k: v for k, v in data.items() if k not in MANIFEST_HEADER_FIELDS}
    try:
        doc = _Document.model_validate(body)
    except ValidationError as exc:
        raise LlmConfigError([f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors()]) from None
    problems = _references(doc)
    if problems:
        raise LlmConfigError(problems)
    for model in doc.tenant_models:
        model.provider_model_id = model.provider_model_id or model.model_id
    for group in doc.model_groups:
        group.display_name = group.display_name or group.group_id
        group.entries.sort(key=lambda e: e.position)
    result = doc.model_dump(mode="json", exclude={"capability_overrides"})
    result["capability_overrides"] = [
        o.model_dump(mode="json", exclude_none=True) for o in doc.capability_overrides
    ]
    return result

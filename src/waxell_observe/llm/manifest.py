"""The manifest's types: the tenant's provider instances, its models on them, model groups (ordered
fallback chains) and capability overrides, read from the body of ``GET llm-config/manifest/``.

Plain frozen dataclasses: reading a manifest imports nothing. :meth:`LlmManifest.from_dict` fills a
missing field with its default (a server may send fewer fields) and raises ``ValueError`` for a body
that is not a manifest at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from waxell_observe.vocabulary.llm_config import CAPABILITY_FIELDS, MANIFEST_SECTIONS

__all__ = [
    "CapabilityOverride",
    "LlmManifest",
    "ModelGroup",
    "ModelGroupEntry",
    "ProviderInstance",
    "TenantModel",
]


def _str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return "" if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


@dataclass(frozen=True)
class ProviderInstance:
    """A provider endpoint the tenant configured: ``kind`` (``openai``, ``azure_openai``, ``anthropic``,
    ...), its ``base_url`` (``""``: the provider's own), ``secret_ref`` (where its API key comes from:
    the name of an environment variable, optionally written ``env:NAME``)."""

    instance_id: str
    kind: str
    base_url: str = ""
    secret_ref: str = ""
    capabilities: tuple[str, ...] = ()
    extra_config: Mapping[str, Any] = field(default_factory=dict)
    is_default_for_kind: bool = False
    catalog_id: str = ""
    catalog_version: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProviderInstance:
        extra = data.get("extra_config")
        return cls(
            instance_id=_str(data, "instance_id"),
            kind=_str(data, "kind"),
            base_url=_str(data, "base_url"),
            secret_ref=_str(data, "secret_ref"),
            capabilities=tuple(str(c) for c in data.get("capabilities") or ()),
            extra_config=dict(extra) if isinstance(extra, Mapping) else {},
            is_default_for_kind=data.get("is_default_for_kind") is True,
            catalog_id=_str(data, "catalog_id"),
            catalog_version=_str(data, "catalog_version"),
        )


@dataclass(frozen=True)
class TenantModel:
    """A model the tenant may call, on one instance; ``provider_model_id`` is the name the provider
    knows it by (``model_id`` is the tenant's own name)."""

    model_id: str
    instance_id: str
    provider_model_id: str = ""
    supports_tools: bool = False
    supports_json: bool = False
    supports_streaming: bool = False
    context_window: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TenantModel:
        model_id = _str(data, "model_id")
        return cls(
            model_id=model_id,
            instance_id=_str(data, "instance_id"),
            provider_model_id=_str(data, "provider_model_id") or model_id,
            supports_tools=data.get("supports_tools") is True,
            supports_json=data.get("supports_json") is True,
            supports_streaming=data.get("supports_streaming") is True,
            context_window=_opt_int(data.get("context_window")),
        )


@dataclass(frozen=True)
class ModelGroupEntry:
    """One place in a model group: the model ``model_id`` on instance ``instance_id``."""

    position: int
    instance_id: str
    model_id: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelGroupEntry:
        return cls(int(data.get("position") or 0), _str(data, "instance_id"), _str(data, "model_id"))


@dataclass(frozen=True)
class ModelGroup:
    """A named, ordered list of models: a call tries them in ``position`` order."""

    group_id: str
    display_name: str = ""
    entries: tuple[ModelGroupEntry, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelGroup:
        entries = sorted(
            (ModelGroupEntry.from_dict(e) for e in data.get("entries") or () if isinstance(e, Mapping)),
            key=lambda e: e.position,
        )
        return cls(_str(data, "group_id"), _str(data, "display_name"), tuple(entries))


@dataclass(frozen=True)
class CapabilityOverride:
    """Capabilities set for model ``model_id`` (on ``instance_id`` only, or on every instance when it is
    ``""``); ``None`` leaves the model's own value."""

    model_id: str
    instance_id: str = ""
    supports_tools: bool | None = None
    supports_json: bool | None = None
    supports_streaming: bool | None = None
    context_window: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CapabilityOverride:
        return cls(
            model_id=_str(data, "model_id"),
            instance_id=_str(data, "instance_id"),
            supports_tools=_opt_bool(data.get("supports_tools")),
            supports_json=_opt_bool(data.get("supports_json")),
            supports_streaming=_opt_bool(data.get("supports_streaming")),
            context_window=_opt_int(data.get("context_window")),
        )

    def applies_to(self, model: TenantModel) -> bool:
        return self.model_id == model.model_id and self.instance_id in ("", model.instance_id)

    def changes(self) -> dict[str, Any]:
        """The capabilities this override sets."""
        return {name: getattr(self, name) for name in CAPABILITY_FIELDS if getattr(self, name) is not None}


def _section(data: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"manifest field {name!r} must be a list, got {type(value).__name__}")
    return [item for item in value if isinstance(item, Mapping)]


@dataclass(frozen=True)
class LlmManifest:
    """The tenant's LLM configuration as the control plane (or the embedded store) served it; ``etag``
    is the tag it came with (sent back as ``If-None-Match`` to ask whether it changed)."""

    schema_version: int
    tenant_id: str
    tenant_slug: str
    generated_at: str
    instances: tuple[ProviderInstance, ...] = ()
    tenant_models: tuple[TenantModel, ...] = ()
    model_groups: tuple[ModelGroup, ...] = ()
    capability_overrides: tuple[CapabilityOverride, ...] = ()
    etag: str = ""

    @classmethod
    def from_dict(cls, data: Any, *, etag: str = "") -> LlmManifest:
        """The manifest of a reply body; ``ValueError`` when ``data`` is not one."""
        if not isinstance(data, Mapping):
            raise ValueError(f"an LLM manifest must be a JSON object, got {type(data).__name__}")
        missing = [name for name in MANIFEST_SECTIONS[:2] if name not in data]
        if missing:
            raise ValueError(f"not an LLM manifest: no {' or '.join(missing)}")
        return cls(
            schema_version=_opt_int(data.get("schema_version")) or 0,
            tenant_id=_str(data, "tenant_id"),
            tenant_slug=_str(data, "tenant_slug"),
            generated_at=_str(data, "generated_at"),
            instances=tuple(ProviderInstance.from_dict(d) for d in _section(data, "instances")),
            tenant_models=tuple(TenantModel.from_dict(d) for d in _section(data, "tenant_models")),
            model_groups=tuple(ModelGroup.from_dict(d) for d in _section(data, "model_groups")),
            capability_overrides=tuple(
                CapabilityOverride.from_dict(d) for d in _section(data, "capability_overrides")
            ),
            etag=etag,
        )

    def instance(self, instance_id: str) -> ProviderInstance | None:
        """The instance ``instance_id``, or ``None``."""
        return next((i for i in self.instances if i.instance_id == instance_id), None)

    def group(self, group_id: str) -> ModelGroup | None:
        """The model group ``group_id``, or ``None``."""
        return next((g for g in self.model_groups if g.group_id == group_id), None)

    def model(self, instance_id: str, model_id: str) -> TenantModel | None:
        """The tenant model ``model_id`` on ``instance_id`` with its capability overrides applied, or
        ``None``."""
        found = next(
            (m for m in self.tenant_models if m.instance_id == instance_id and m.model_id == model_id), None
        )
        return None if found is None else self.effective(found)

    def models_named(self, model_id: str) -> list[TenantModel]:
        """Every tenant model called ``model_id`` (one per instance that has it), overrides applied."""
        return [self.effective(m) for m in self.tenant_models if m.model_id == model_id]

    def effective(self, model: TenantModel) -> TenantModel:
        """``model`` with the capability overrides that apply to it: the ones for every instance first,
        then the ones for its own instance (which win)."""
        changes: dict[str, Any] = {}
        for general in (True, False):
            for override in self.capability_overrides:
                if override.applies_to(model) and (override.instance_id == "") == general:
                    changes.update(override.changes())
        return replace(model, **changes) if changes else model

    def names(self) -> list[str]:
        """The group ids, then the model ids: every name :func:`~waxell_observe.llm.resolve_chain` knows."""
        seen: dict[str, None] = {g.group_id: None for g in self.model_groups}
        seen.update({m.model_id: None for m in self.tenant_models})
        return list(seen)

"""The names of a tenant's LLM configuration (``GET llm-config/manifest/``): the manifest's sections, the
capability fields a tenant model has (and a capability override may change), and the call modes that
need one of them. Used by the store's validation, the server, the CLI, ``waxell_observe.llm`` and the
dashboard."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "CALL_MODES",
    "CAPABILITY_FIELDS",
    "CAPABILITY_OF_MODE",
    "CallMode",
    "MANIFEST_HEADER_FIELDS",
    "MANIFEST_SCHEMA_VERSION",
    "MANIFEST_SECTIONS",
]

MANIFEST_SCHEMA_VERSION = 1
"""``schema_version`` of the manifests we serve."""

MANIFEST_HEADER_FIELDS: tuple[str, ...] = ("schema_version", "tenant_id", "tenant_slug", "generated_at")
"""The manifest's fields that describe it rather than the configuration."""

MANIFEST_SECTIONS: tuple[str, ...] = ("instances", "tenant_models", "model_groups", "capability_overrides")
"""The manifest's lists, in the order it carries them: provider instances, the tenant's models on them,
model groups (ordered fallback chains) and capability overrides."""

CAPABILITY_FIELDS: tuple[str, ...] = (
    "supports_tools",
    "supports_json",
    "supports_streaming",
    "context_window",
)
"""What a tenant model can do; a capability override sets any of them for a model."""

CallMode = Literal["text", "json", "tool", "stream"]
"""What a call needs from a model: plain text, a JSON object, tool calls, a streamed answer."""

CALL_MODES: tuple[str, ...] = get_args(CallMode)

CAPABILITY_OF_MODE: dict[str, str] = {
    "json": "supports_json",
    "tool": "supports_tools",
    "stream": "supports_streaming",
}
"""The capability a model needs for a mode (``text`` needs none)."""

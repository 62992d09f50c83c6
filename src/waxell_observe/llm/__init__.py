"""``waxell_observe.llm``: the tenant's LLM configuration, as the control plane serves it.

* :func:`get_manifest` / :func:`aget_manifest` — the manifest (``GET llm-config/manifest/``, cached with
  its ``ETag``; the embedded store when no ``api_url`` is configured);
* :func:`resolve_chain` / :func:`aresolve_chain` — a model group or tenant model id to the ordered
  ``(instance, model)`` candidates a call tries;
* :func:`call` / :func:`acall`, :func:`text` / :func:`atext`, :func:`json` / :func:`ajson`,
  :func:`tool` / :func:`atool` — a chat call through the chain, each candidate by the ``openai`` client
  :func:`build_client` points at its instance;
* the manifest's types (:class:`LlmManifest`, :class:`ProviderInstance`, :class:`TenantModel`,
  :class:`ModelGroup`, :class:`ModelGroupEntry`, :class:`CapabilityOverride`) and the errors.

Importing it is light: ``httpx`` is imported on the first fetch, the store only when reading it, ``openai``
on the first call.
See ``docs/llm-config.md``.
"""

from __future__ import annotations

from waxell_observe.llm.clients import build_client
from waxell_observe.llm.dispatch import acall, ajson, atext, atool, call, json, text, tool
from waxell_observe.llm.errors import (
    DispatchError,
    LlmError,
    ManifestUnauthorized,
    ManifestUnavailable,
    MissingProviderSDK,
    ModelNotResolvable,
    NoCandidateForMode,
    NoProviderAvailable,
    SecretNotInEnvironment,
    UnsupportedKind,
)
from waxell_observe.llm.fetch import aget_manifest, clear_manifest_cache, get_manifest
from waxell_observe.llm.manifest import (
    CapabilityOverride,
    LlmManifest,
    ModelGroup,
    ModelGroupEntry,
    ProviderInstance,
    TenantModel,
)
from waxell_observe.llm.resolve import Candidate, aresolve_chain, resolve_chain

__all__ = [
    "Candidate",
    "CapabilityOverride",
    "DispatchError",
    "LlmError",
    "LlmManifest",
    "ManifestUnauthorized",
    "ManifestUnavailable",
    "MissingProviderSDK",
    "ModelGroup",
    "ModelGroupEntry",
    "ModelNotResolvable",
    "NoCandidateForMode",
    "NoProviderAvailable",
    "ProviderInstance",
    "SecretNotInEnvironment",
    "TenantModel",
    "UnsupportedKind",
    "acall",
    "aget_manifest",
    "ajson",
    "aresolve_chain",
    "atext",
    "atool",
    "build_client",
    "call",
    "clear_manifest_cache",
    "get_manifest",
    "json",
    "resolve_chain",
    "text",
    "tool",
]

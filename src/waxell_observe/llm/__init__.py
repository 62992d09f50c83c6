"""``waxell_observe.llm``: the tenant's LLM configuration, as the control plane serves it.

* :func:`get_manifest` / :func:`aget_manifest` — the manifest (``GET llm-config/manifest/``, cached with
  its ``ETag``; the embedded store when no ``api_url`` is configured);
* :func:`resolve_chain` / :func:`aresolve_chain` — a model group or tenant model id to the ordered
  ``(instance, model)`` candidates a call tries;
* the manifest's types (:class:`LlmManifest`, :class:`ProviderInstance`, :class:`TenantModel`,
  :class:`ModelGroup`, :class:`ModelGroupEntry`, :class:`CapabilityOverride`) and the errors.

Importing it is light: ``httpx`` is imported on the first fetch, the store only when reading it.
See ``docs/llm-config.md``.
"""

from __future__ import annotations

from waxell_observe.llm.errors import (
    LlmError,
    ManifestUnauthorized,
    ManifestUnavailable,
    MissingProviderSDK,
    ModelNotResolvable,
    NoCandidateForMode,
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
    "LlmError",
    "LlmManifest",
    "ManifestUnauthorized",
    "ManifestUnavailable",
    "MissingProviderSDK",
    "ModelGroup",
    "ModelGroupEntry",
    "ModelNotResolvable",
    "NoCandidateForMode",
    "ProviderInstance",
    "SecretNotInEnvironment",
    "TenantModel",
    "UnsupportedKind",
    "aget_manifest",
    "aresolve_chain",
    "clear_manifest_cache",
    "get_manifest",
    "resolve_chain",
]

"""``resolve_chain``: from the name a program calls (a model group or a tenant model) to the ordered
``(instance, model)`` candidates a call tries."""

from __future__ import annotations

import logging
from typing import NamedTuple

from waxell_observe.llm.errors import ModelNotResolvable, NoCandidateForMode
from waxell_observe.llm.manifest import LlmManifest, ProviderInstance, TenantModel
from waxell_observe.vocabulary.llm_config import CALL_MODES, CAPABILITY_OF_MODE

__all__ = ["Candidate", "aresolve_chain", "resolve_chain", "resolve_in"]

logger = logging.getLogger("waxell_observe")


class Candidate(NamedTuple):
    """One model a call may use: the provider ``instance`` and the ``model`` on it (capability
    overrides applied). Unpacks as ``instance, model``."""

    instance: ProviderInstance
    model: TenantModel


def _group_chain(manifest: LlmManifest, group_id: str) -> list[Candidate] | None:
    group = manifest.group(group_id)
    if group is None:
        return None
    chain = []
    for entry in group.entries:
        instance = manifest.instance(entry.instance_id)
        model = manifest.model(entry.instance_id, entry.model_id)
        if instance is None or model is None:
            logger.warning(
                "waxell-observe: model group %r names model %r on instance %r, which the manifest does not "
                "have; skipped",
                group_id,
                entry.model_id,
                entry.instance_id,
            )
            continue
        chain.append(Candidate(instance, model))
    return chain


def _model_chain(manifest: LlmManifest, name: str) -> list[Candidate]:
    chain = []
    for model in manifest.models_named(name):
        instance = manifest.instance(model.instance_id)
        if instance is not None:
            chain.append(Candidate(instance, model))
    if not chain and "/" in name:  # "instance_id/model_id" pins one instance
        instance_id, _, model_id = name.partition("/")
        pinned_instance = manifest.instance(instance_id)
        pinned = manifest.model(instance_id, model_id)
        if pinned_instance is not None and pinned is not None:
            chain.append(Candidate(pinned_instance, pinned))
    # the default instance of its kind first, otherwise the manifest's order
    return sorted(chain, key=lambda c: not c.instance.is_default_for_kind)


def resolve_in(manifest: LlmManifest, model_or_group: str, *, mode: str = "text") -> list[Candidate]:
    """:func:`resolve_chain` over a given manifest (no fetch)."""
    if mode not in CALL_MODES:
        raise ValueError(f"mode must be one of {', '.join(CALL_MODES)}, got {mode!r}")
    chain = _group_chain(manifest, model_or_group)
    if chain is None:
        chain = _model_chain(manifest, model_or_group)
    if not chain:
        raise ModelNotResolvable(model_or_group, manifest.names())
    capability = CAPABILITY_OF_MODE.get(mode)
    if capability is None:
        return chain
    able = [c for c in chain if getattr(c.model, capability)]
    if not able:
        rejected = [f"{c.model.model_id}@{c.instance.instance_id}" for c in chain]
        raise NoCandidateForMode(model_or_group, mode, capability, rejected)
    return able


def resolve_chain(
    model_or_group: str, *, mode: str = "text", manifest: LlmManifest | None = None
) -> list[Candidate]:
    """The ordered candidates for ``model_or_group``:

    * a model group id: its entries in ``position`` order;
    * a tenant model id: that model on each instance that has it, the instance marked
      ``is_default_for_kind`` first; ``instance_id/model_id`` pins one instance.

    ``mode`` (``text``, ``json``, ``tool``, ``stream``) keeps the candidates that have the capability it
    needs (``supports_json``, ``supports_tools``, ``supports_streaming``; capability overrides applied).
    ``manifest``: resolve in this one (default: :func:`~waxell_observe.llm.get_manifest`).

    Raises :class:`ModelNotResolvable` for an unknown name, :class:`NoCandidateForMode` when no candidate
    can answer in ``mode``, and what :func:`~waxell_observe.llm.get_manifest` raises.
    """
    if manifest is None:
        from waxell_observe.llm.fetch import get_manifest

        manifest = get_manifest()
    return resolve_in(manifest, model_or_group, mode=mode)


async def aresolve_chain(
    model_or_group: str, *, mode: str = "text", manifest: LlmManifest | None = None
) -> list[Candidate]:
    """The coroutine twin of :func:`resolve_chain` (fetches with
    :func:`~waxell_observe.llm.aget_manifest`)."""
    if manifest is None:
        from waxell_observe.llm.fetch import aget_manifest

        manifest = await aget_manifest()
    return resolve_in(manifest, model_or_group, mode=mode)

"""The manifest: which policies act at which gate surface, for one (agent, workflow, user group).

A control plane serves it at ``GET policy-manifest/`` (``surfaces: {surface: [{policy, category, eval}]}``,
``policies: [{name, category, rules, ...}]``, ``manifest_version``, ``ttl_seconds``); in embedded mode it is
built from the policies of the local store (every entry ``eval: local``). A gate takes the entries of its
surface, drops the policies whose ``scope_tools`` / ``scope_models`` globs do not match the signal's
``tool_name`` / ``model`` (or whose ``exclude_tools`` / ``exclude_models`` do), and evaluates the rest.

Fetched manifests are cached per identity for :func:`~.settings.manifest_ttl` seconds; a failed fetch is
remembered for :func:`~.settings.negative_ttl` seconds as an empty manifest (version ``"0"``) that says why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from waxell_observe.vocabulary import GATE_SURFACES, SURFACE_OF_PHASE

from . import settings

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig
    from waxell_observe.governance.decider import Decider
    from waxell_observe.governance.models import Policy

    from .identity import Identity

__all__ = [
    "EVAL_MODES",
    "Manifest",
    "ManifestEntry",
    "PolicyFilter",
    "embedded_manifest",
    "forget_manifests",
    "remote_manifest",
]

logger = logging.getLogger("waxell_observe")

EVAL_MODES = ("local", "hybrid", "server")
"""Where a manifest entry is evaluated: in process (``local``, ``hybrid`` when a local evaluator exists),
or by the control plane (``server``, and anything without a local evaluator)."""

_SURFACES = frozenset(GATE_SURFACES)
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One policy acting at one surface."""

    policy: str
    category: str
    eval: str = "server"


def _patterns(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(str(v).strip().lower() for v in value if str(v).strip())


def _matches(value: str, patterns: tuple[str, ...]) -> bool:
    value = value.strip().lower()
    for pattern in patterns:
        if _GLOB_CHARS.isdisjoint(pattern):
            if value == pattern:
                return True
        elif fnmatchcase(value, pattern):
            return True
    return False


@dataclass(frozen=True, slots=True)
class PolicyFilter:
    """A policy's ``scope_tools`` / ``scope_models`` / ``exclude_tools`` / ``exclude_models`` (its rules)."""

    scope_tools: tuple[str, ...] = ()
    scope_models: tuple[str, ...] = ()
    exclude_tools: tuple[str, ...] = ()
    exclude_models: tuple[str, ...] = ()

    @classmethod
    def from_rules(cls, rules: Mapping[str, Any] | None) -> PolicyFilter | None:
        """The filter of ``rules``, or None when they name none."""
        if not rules:
            return None
        found = cls(
            _patterns(rules.get("scope_tools")),
            _patterns(rules.get("scope_models")),
            _patterns(rules.get("exclude_tools")),
            _patterns(rules.get("exclude_models")),
        )
        return (
            found
            if any((found.scope_tools, found.scope_models, found.exclude_tools, found.exclude_models))
            else None
        )

    def admits(self, signal: Mapping[str, Any]) -> bool:
        """False when the signal's tool or model is outside the policy's scope (a signal that names
        no tool / model is not filtered on it)."""
        tool = signal.get("tool_name")
        if isinstance(tool, str) and tool:
            if self.scope_tools and not _matches(tool, self.scope_tools):
                return False
            if self.exclude_tools and _matches(tool, self.exclude_tools):
                return False
        model = signal.get("model")
        if isinstance(model, str) and model:
            if self.scope_models and not _matches(model, self.scope_models):
                return False
            if self.exclude_models and _matches(model, self.exclude_models):
                return False
        return True


@dataclass(slots=True)
class Manifest:
    """The policies of one identity, by surface. ``failed`` is the reason when this stands for a
    manifest that could not be fetched (then it is empty, version ``"0"``)."""

    version: str = "0"
    ttl_seconds: float | None = None
    surfaces: dict[str, tuple[ManifestEntry, ...]] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    filters: dict[str, PolicyFilter] = field(default_factory=dict)
    failed: str = ""

    @classmethod
    def unavailable(cls, reason: str) -> Manifest:
        return cls(version="0", failed=reason or "manifest unavailable")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """A manifest from a ``policy-manifest/`` reply (unknown surfaces and malformed entries are
        left out)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a policy manifest must be a JSON object, got {type(data).__name__}")
        policies: dict[str, dict[str, Any]] = {}
        for item in data.get("policies") or ():
            if isinstance(item, Mapping) and isinstance(item.get("name"), str) and item["name"]:
                policies[item["name"]] = dict(item)
        surfaces: dict[str, tuple[ManifestEntry, ...]] = {}
        raw_surfaces = data.get("surfaces") or {}
        if isinstance(raw_surfaces, Mapping):
            for surface, entries in raw_surfaces.items():
                if surface not in _SURFACES or not isinstance(entries, (list, tuple)):
                    continue
                parsed = tuple(
                    ManifestEntry(
                        str(e.get("policy") or ""),
                        str(
                            e.get("category") or policies.get(str(e.get("policy")), {}).get("category") or ""
                        ),
                        str(e.get("eval") or "server"),
                    )
                    for e in entries
                    if isinstance(e, Mapping) and e.get("policy")
                )
                if parsed:
                    surfaces[surface] = parsed
        ttl = data.get("ttl_seconds")
        return cls(
            version=str(data.get("manifest_version") or "0"),
            ttl_seconds=float(ttl) if isinstance(ttl, (int, float)) and not isinstance(ttl, bool) else None,
            surfaces=surfaces,
            policies=policies,
            filters=_filters(policies),
        )

    def entries(self, surface: str, signal: Mapping[str, Any]) -> list[ManifestEntry]:
        """The entries of ``surface`` whose policy's scope filter admits ``signal``."""
        entries = self.surfaces.get(surface)
        if not entries:
            return []
        filters = self.filters
        if not filters:
            return list(entries)
        return [e for e in entries if (f := filters.get(e.policy)) is None or f.admits(signal)]


def _filters(policies: Mapping[str, Mapping[str, Any]]) -> dict[str, PolicyFilter]:
    found: dict[str, PolicyFilter] = {}
    for name, policy in policies.items():
        rules = policy.get("rules")
        f = PolicyFilter.from_rules(rules if isinstance(rules, Mapping) else None)
        if f is not None:
            found[name] = f
    return found


# --------------------------------------------------------------------------- embedded mode


def surfaces_of(phases: Iterable[str]) -> list[str]:
    """The gate surfaces named by an evaluator's ``phases`` (a phase stands for its surface)."""
    names = [SURFACE_OF_PHASE.get(phase, phase) for phase in phases]
    return [name for name in GATE_SURFACES if name in names]


def manifest_of_policies(policies: Sequence[Policy], version: str) -> Manifest:
    """The manifest of ``policies`` (all evaluated in process)."""
    from waxell_observe.governance.rules import EVALUATORS

    surfaces: dict[str, list[ManifestEntry]] = {}
    listed: dict[str, dict[str, Any]] = {}
    for policy in policies:
        evaluator = EVALUATORS.get(policy.category)
        if evaluator is None:
            continue
        for surface in surfaces_of(evaluator.phases):
            surfaces.setdefault(surface, []).append(ManifestEntry(policy.name, policy.category, "local"))
        definition = policy.to_dict()
        listed[policy.name] = {"name": policy.name, "category": policy.category, "rules": definition["rules"]}
    return Manifest(
        version=version,
        surfaces={surface: tuple(entries) for surface, entries in surfaces.items()},
        policies=listed,
        filters=_filters(listed),
    )


_embedded: dict[tuple[str, int, tuple[str, str, str]], Manifest] = {}
_embedded_lock = threading.Lock()


def embedded_manifest(decider: Decider, identity: Identity) -> Manifest:
    """The manifest of the store's policies for ``identity`` (rebuilt when the policies change)."""
    engine = decider.engine()
    key = (decider.url, decider.version, identity.key)
    found = _embedded.get(key)
    if found is None:
        found = manifest_of_policies(
            engine.policies_for(identity.agent_name, identity.workflow_name, identity.user_group),
            str(max(decider.version, 0) + 1),
        )
        with _embedded_lock:
            if len(_embedded) >= 4096:
                _embedded.clear()
            _embedded[key] = found
    return found


# --------------------------------------------------------------------------- remote mode

_RemoteKey = tuple[str, str, str, str, str]
_remote: dict[_RemoteKey, tuple[Manifest, float]] = {}
_remote_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}


def client_for(config: ObserveConfig) -> Any:
    """One :class:`~waxell_observe.WaxellObserveClient` per control plane and key (gates only)."""
    key = (config.api_url, config.api_key)
    client = _clients.get(key)
    if client is None:
        from waxell_observe.client import WaxellObserveClient

        with _remote_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = WaxellObserveClient.from_config(config)
    return client


def _fetch(config: ObserveConfig, identity: Identity) -> Manifest:
    from waxell_observe.client import builders, transport
    from waxell_observe.client.governance import GATE_TIMEOUT

    request = builders.policy_manifest(
        agent_name=identity.agent_name, workflow_name=identity.workflow_name, user_group=identity.user_group
    )
    timeout = transport.gate_timeout("WAXELL_GATE_TIMEOUT", GATE_TIMEOUT)
    return Manifest.from_dict(client_for(config).send_sync(request, timeout=timeout))


def remote_manifest(config: ObserveConfig, identity: Identity) -> Manifest:
    """The control plane's manifest for ``identity``: cached, fetched again when it expired; a failed
    fetch is remembered (negative cache) as an empty manifest whose ``failed`` says why."""
    key: _RemoteKey = (config.api_url, config.api_key, *identity.key)
    now = time.monotonic()
    cached = _remote.get(key)
    if cached is not None and cached[1] > now:
        return cached[0]
    try:
        manifest = _fetch(config, identity)
        expires = now + settings.manifest_ttl(manifest.ttl_seconds)
    except Exception as exc:  # noqa: BLE001 - an unreachable control plane is an answer too
        reason = f"policy manifest unavailable: {type(exc).__name__}: {exc}"
        logger.warning(
            "waxell-observe: %s; surface gates of %r use an empty manifest for %gs",
            reason,
            identity.agent_name,
            settings.negative_ttl(),
        )
        manifest = Manifest.unavailable(reason)
        expires = now + settings.negative_ttl()
    with _remote_lock:
        if len(_remote) >= 4096:
            _remote.clear()
        _remote[key] = (manifest, expires)
    return manifest


def forget_manifests() -> None:
    """Drop every cached manifest (tests; the next gate fetches again)."""
    with _remote_lock:
        _remote.clear()
        for client in _clients.values():
            try:
                client.close_sync()
            except Exception:  # noqa: BLE001 - closing a client never matters to the caller
                logger.debug("waxell-observe: could not close a gate client", exc_info=True)
        _clients.clear()
    with _embedded_lock:
        _embedded.clear()

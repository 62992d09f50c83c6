"""The gate algorithm (spec §8): :func:`evaluate_surface`.

1. Gates off (``WAXELL_SURFACE_GATE=0``), no identity (§5.1 step 11), a context that does not enforce
   policies (an approved re-run), or a disabled configuration: ``allow``.
2. The manifest of the identity: the local store's policies (embedded mode; nothing at all to do while the
   store has none), or the control plane's, cached (:mod:`.manifest`).
3. The entries of the surface whose policy's tool / model scope admits the signal.
4. Entries with a local evaluator at this surface (every one in embedded mode; ``local`` / ``hybrid`` ones
   in remote mode) are evaluated in process by the policy engine; the others in one batched
   ``policy-check/`` call to the control plane (its verdict reused for ``WAXELL_GATE_CACHE_TTL`` seconds
   unless a stateful category is involved).
5. The strictest answer wins. Non-allow answers are reported (:mod:`.report`); the gate's time is added to
   the run's gate time (:mod:`.timing`).

When governance cannot answer (store error, control plane down, manifest unavailable) the gate allows
(fail-open), except on the preventive surfaces in fail-closed mode, where it blocks with a reason that
says why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any

from waxell_observe.current import current_context
from waxell_observe.governance.request import LLMCallInfo, PolicyRequest, ToolCallInfo, normalize_checkpoint
from waxell_observe.governance.results import ACTION_SEVERITY, PolicyCheckResult, PolicyEvaluation, strictest
from waxell_observe.policy_gate import quiet as _policy_quiet
from waxell_observe.vocabulary import GATE_SURFACES, PREVENTIVE_SURFACES, STATEFUL_POLICY_CATEGORIES

from . import settings, timing
from .identity import Identity, resolve
from .manifest import Manifest, ManifestEntry, embedded_manifest, remote_manifest
from .outcome import GateOutcome
from .signals import enriched, scanned_text, trimmed

if TYPE_CHECKING:
    from waxell_observe.context.waxell_context import WaxellContext
    from waxell_observe.governance.decider import Decider
    from waxell_observe.governance.engine import PolicyEngine

__all__ = ["evaluate_surface", "forget_engines", "idle", "watching"]

logger = logging.getLogger("waxell_observe")

_SURFACES = frozenset(GATE_SURFACES)
_NOT_CACHED = frozenset(STATEFUL_POLICY_CATEGORIES) | frozenset(
    {
        "kill",
        "end-user-budget",
        "end-user-rate-limit",
        "end-user-suspension",
        "spawn-limit",
        "concurrent-spawn",
        "approval",
        "tenant-isolation-agent",
    }
)
_ALLOW = "allow"


_decider_for: Callable[[str], Decider] | None = None


def idle(ctx: Any) -> bool:
    """True when no gate can answer anything but ``allow`` for the open run of ``ctx``, known without
    resolving an identity: the context does not enforce policies (an approved re-run), its
    configuration is disabled, or it records to an embedded store holding no enabled policy (the
    common case). The test a recorder makes before it builds a gate's signal; ``False`` means "ask"."""
    global _decider_for
    if ctx is None:
        return False
    run = ctx._run
    if run is None or ctx._finished:
        return False
    if not ctx.enforce_policy:
        return True
    config = run.config
    if not config.enabled:
        return True
    if config.mode != "embedded":
        return False
    if _policy_quiet(config):  # no policy plugin would answer: the decider holds no policy either
        return True
    if _decider_for is None:
        from waxell_observe.governance.embedded_decider import decider_for

        _decider_for = decider_for
    return _decider_for(config.db_url).empty


def evaluate_surface(
    surface: str, signal: Mapping[str, Any], *, ctx: WaxellContext | None = None
) -> GateOutcome:
    """Ask the policies acting at ``surface`` about ``signal`` (for the run of ``ctx``, else the current
    context, else the process's identity). Never raises for a governance failure (see the module)."""
    if surface not in _SURFACES:
        raise ValueError(f"unknown gate surface {surface!r} (expected one of: {', '.join(GATE_SURFACES)})")
    if not isinstance(signal, Mapping):
        raise ValueError(f"a gate signal must be a mapping, got {type(signal).__name__}")
    if idle(ctx if ctx is not None else current_context.get()):
        return GateOutcome(surface=surface)
    if not settings.enabled():
        return GateOutcome(surface=surface)
    identity = resolve(ctx)
    if identity is None or not identity.config.enabled:
        return GateOutcome(surface=surface)
    if identity.ctx is not None and not identity.ctx.enforce_policy:
        return GateOutcome(surface=surface)  # e.g. the re-run of an approved call
    started = perf_counter()
    try:
        outcome = _decide(identity, surface, signal)
    except Exception as exc:  # noqa: BLE001 - governance failing is an answer: fail open or closed
        outcome = _unavailable(identity, surface, f"{type(exc).__name__}: {exc}", exc)
    if outcome is None:
        return GateOutcome(surface=surface)  # no policy in sight: nothing consulted, nothing counted
    if identity.run is not None:
        timing.add(identity.run, surface, (perf_counter() - started) * 1000.0)
    if outcome.decisions:
        from .report import report

        report(identity, surface, outcome)
    return outcome


def watching(surface: str, ctx: WaxellContext | None = None) -> bool:
    """True when a gate at ``surface`` may answer something other than ``allow`` for the identity of
    ``ctx`` (else the current context, else the process): a policy acts there, the run is blocked already,
    or governance cannot tell (then the gate decides fail-open or closed). Lets a caller skip building a
    costly signal."""
    if not settings.enabled():
        return False
    identity = resolve(ctx)
    if identity is None or not identity.config.enabled:
        return False
    if identity.ctx is not None:
        if not identity.ctx.enforce_policy:
            return False
        if identity.ctx._blocked:
            return True
    try:
        config = identity.config
        if config.mode == "embedded":
            from waxell_observe.governance.embedded_decider import decider_for

            decider = decider_for(config.db_url)
            return not decider.empty and surface in embedded_manifest(decider, identity).surfaces
        manifest = remote_manifest(config, identity)
    except Exception:  # noqa: BLE001 - let the gate itself decide how to fail
        return True
    if manifest.failed:
        return settings.fail_closed() and surface in PREVENTIVE_SURFACES
    return surface in manifest.surfaces


def _policies_at(identity: Identity, surface: str) -> list[dict[str, Any]]:
    """The manifest's policies (``{name, category, rules}``) acting at ``surface`` for ``identity``."""
    if not settings.enabled():
        return []
    config = identity.config
    if config.mode == "embedded":
        from waxell_observe.governance.embedded_decider import decider_for

        decider = decider_for(config.db_url)
        if decider.empty:
            return []
        manifest = embedded_manifest(decider, identity)
    else:
        manifest = remote_manifest(config, identity)
    return [
        manifest.policies.get(e.policy) or {"name": e.policy, "category": e.category}
        for e in manifest.surfaces.get(surface, ())
    ]


# --------------------------------------------------------------------------- deciding


def _decide(identity: Identity, surface: str, signal: Mapping[str, Any]) -> GateOutcome | None:
    """The outcome, or None when no policy acts at ``surface`` for this identity."""
    config = identity.config
    if config.mode == "embedded":
        from waxell_observe.governance.embedded_decider import decider_for

        decider = decider_for(config.db_url)
        if decider.empty:
            return None
        manifest = embedded_manifest(decider, identity)
        if surface not in manifest.surfaces:
            return None
        full = enriched(signal, identity.run)
        entries = manifest.entries(surface, full)
        if not entries:
            return GateOutcome(surface=surface, scanned_text=scanned_text(full))
        engine = _embedded_engine(decider, manifest, surface, entries)
        result = engine.evaluate(_request(identity, surface, full), surface)
        return _outcome(result, surface, full)
    manifest = remote_manifest(config, identity)
    if manifest.failed:
        if settings.fail_closed() and surface in PREVENTIVE_SURFACES:
            return _unavailable(identity, surface, manifest.failed, None)
        return None
    if surface not in manifest.surfaces:
        return None
    full = enriched(signal, identity.run)
    entries = manifest.entries(surface, full)
    if not entries:
        return GateOutcome(surface=surface, scanned_text=scanned_text(full))
    local, remote = _split(manifest, surface, entries)
    results: list[PolicyCheckResult] = []
    if local:
        results.append(
            _remote_local_engine(manifest, local).evaluate(_request(identity, surface, full), surface)
        )
    if remote:
        results.append(_server_verdict(identity, surface, full, remote))
    result = results[0] if len(results) == 1 else strictest(results)
    return _outcome(result, surface, full)


def _request(identity: Identity, surface: str, signal: Mapping[str, Any]) -> PolicyRequest:
    run = identity.run
    if run is None:
        return PolicyRequest(
            agent_name=identity.agent_name,
            workflow_name=identity.workflow_name,
            user_group=identity.user_group,
            surface=surface,
            signal=signal,
        )
    return PolicyRequest(
        agent_name=run.agent_name,
        workflow_name=run.workflow_name,
        user_group=run.user_group,
        user_id=run.user_id,
        run_id=run.run_id,
        inputs=run.inputs,
        llm_calls=[
            LLMCallInfo(model, int(u[0]), int(u[1]), float(u[2])) for model, u in run.model_usage.items()
        ],
        step_count=run.step_count,
        tool_calls=[ToolCallInfo(name) for name in run.tool_names],
        retries=run.retry_count,
        conversation=run.conversation_state(),
        session_started_at=run.started_at or None,
        metadata=run.metadata,
        surface=surface,
        signal=signal,
    )


def _outcome(result: PolicyCheckResult, surface: str, signal: Mapping[str, Any]) -> GateOutcome:
    decisions = [
        {"category": e.category, "policy": e.policy_name, "action": e.action, "reason": e.reason}
        for e in result.evaluations
        if e.action != _ALLOW
    ]
    rank = ACTION_SEVERITY.get(result.action, 2)
    if result.action != _ALLOW and all(ACTION_SEVERITY.get(d["action"], 2) < rank for d in decisions):
        decisions.append({"category": "", "policy": "", "action": result.action, "reason": result.reason})
    redacted = result.metadata.get("redacted_text")
    if not isinstance(redacted, str):
        redacted = next(
            (
                e.metadata["redacted_text"]
                for e in result.evaluations
                if isinstance(e.metadata.get("redacted_text"), str)
            ),
            None,
        )
    return GateOutcome(
        action=result.action,
        reason=result.reason,
        surface=surface,
        decisions=decisions,
        redacted_text=redacted,
        scanned_text=scanned_text(signal),
        result=result,
    )


def _unavailable(identity: Identity, surface: str, why: str, exc: Exception | None) -> GateOutcome:
    """Governance could not answer: allow, or block a preventive surface in fail-closed mode."""
    if settings.fail_closed() and surface in PREVENTIVE_SURFACES:
        reason = (
            f"governance unavailable at {surface} ({why}); the surface gate is fail-closed "
            "(WAXELL_SURFACE_GATE=closed or WAXELL_GATE_FAIL_CLOSED), so it is blocked"
        )
        logger.warning("waxell-observe: %s", reason)
        result = PolicyCheckResult(
            "block",
            reason,
            {"fail_closed": True},
            [PolicyEvaluation("", "", "block", reason, 0.0, {"fail_closed": True}, surface)],
        )
        return GateOutcome(
            "block",
            reason,
            surface,
            [{"category": "", "policy": "", "action": "block", "reason": reason}],
            result=result,
        )
    logger.warning(
        "waxell-observe: the %s gate of %r could not be evaluated (%s); allowing (fail-open)",
        surface,
        identity.agent_name,
        why,
        exc_info=exc is not None and not _is_transport(exc),
    )
    return GateOutcome(surface=surface)


def _is_transport(exc: Exception) -> bool:
    from waxell_observe.governance.breaker import BreakerOpenError, is_unreachable

    return isinstance(exc, BreakerOpenError) or is_unreachable(exc)


# --------------------------------------------------------------------------- engines

_engines: dict[tuple[Any, ...], PolicyEngine] = {}
_engines_lock = threading.Lock()


def _cache_engine(key: tuple[Any, ...], build: Any) -> PolicyEngine:
    engine = _engines.get(key)
    if engine is None:
        engine = build()
        with _engines_lock:
            if len(_engines) >= 1024:
                _engines.clear()
            _engines[key] = engine
    return engine


def forget_engines() -> None:
    """Drop the cached sub-engines and verdicts (tests)."""
    with _engines_lock:
        _engines.clear()
        _verdicts.clear()


def _embedded_engine(
    decider: Decider, manifest: Manifest, surface: str, entries: list[ManifestEntry]
) -> PolicyEngine:
    """The store's engine, or (when scope filters left some policies out) one over the rest."""
    engine = decider.engine()
    if len(entries) == len(manifest.surfaces[surface]):
        return engine
    names = frozenset(e.policy for e in entries)

    def build() -> PolicyEngine:
        from waxell_observe.governance.engine import PolicyEngine

        return PolicyEngine([p for p in engine.policies if p.name in names], decider.usage, decider.now)

    return _cache_engine((decider.url, decider.version, names), build)


def _has_local_evaluator(category: str, surface: str) -> bool:
    from waxell_observe.governance.rules import EVALUATORS

    evaluator = EVALUATORS.get(category)
    return evaluator is not None and normalize_checkpoint(surface) in evaluator.phases


def _split(
    manifest: Manifest, surface: str, entries: list[ManifestEntry]
) -> tuple[list[ManifestEntry], list[ManifestEntry]]:
    """Entries evaluated in process (``local``/``hybrid`` with a local evaluator whose policy parses) and
    entries the control plane evaluates."""
    local: list[ManifestEntry] = []
    remote: list[ManifestEntry] = []
    for entry in entries:
        if (
            entry.eval in ("local", "hybrid")
            and _has_local_evaluator(entry.category, surface)
            and _local_policy(manifest, entry.policy) is not None
        ):
            local.append(entry)
        else:
            remote.append(entry)
    return local, remote


_parsed: dict[tuple[str, str, str], Any] = {}


def _local_policy(manifest: Manifest, name: str) -> Any:
    """The manifest's policy ``name`` as a :class:`Policy` (None when it does not parse here)."""
    key = (manifest.version, name, json.dumps(manifest.policies.get(name), sort_keys=True, default=str))
    if key in _parsed:
        return _parsed[key]
    from waxell_observe.governance.models import Policy

    data = manifest.policies.get(name)
    policy = None
    if data is not None:
        definition: dict[str, Any] = {
            "name": name,
            "category": data.get("category"),
            "rules": data.get("rules") or {},
        }
        if isinstance(data.get("priority"), int):
            definition["priority"] = data["priority"]
        try:
            policy = Policy.from_dict(definition)
        except Exception as exc:  # noqa: BLE001 - a policy this SDK cannot read goes to the server
            logger.info(
                "waxell-observe: policy %r of the manifest is evaluated by the server (%s)", name, exc
            )
    if len(_parsed) >= 4096:
        _parsed.clear()
    _parsed[key] = policy
    return policy


def _remote_local_engine(manifest: Manifest, entries: list[ManifestEntry]) -> PolicyEngine:
    names = tuple(sorted({e.policy for e in entries}))

    def build() -> PolicyEngine:
        from waxell_observe.governance.engine import PolicyEngine

        return PolicyEngine([_local_policy(manifest, name) for name in names])

    key = ("remote", id(manifest), manifest.version, names)
    return _cache_engine(key, build)


# --------------------------------------------------------------------------- the control plane

_verdicts: dict[tuple[Any, ...], tuple[PolicyCheckResult, float]] = {}


def _server_verdict(
    identity: Identity, surface: str, signal: Mapping[str, Any], entries: list[ManifestEntry]
) -> PolicyCheckResult:
    """One ``policy-check/`` call for every server-evaluated policy at ``surface`` (raises when no
    answer came: the caller fails open or closed)."""
    from waxell_observe.governance.breaker import breaker_for, is_unreachable

    from .manifest import client_for

    config = identity.config
    categories = sorted({e.category for e in entries if e.category})
    names = [e.policy for e in entries]
    body_signal = trimmed(signal)
    cacheable = _NOT_CACHED.isdisjoint(categories)
    ttl = settings.verdict_ttl() if cacheable else 0.0
    key: tuple[Any, ...] = ()
    now = time.monotonic()
    if ttl > 0:
        digest = hashlib.sha256(json.dumps(body_signal, sort_keys=True, default=str).encode()).hexdigest()
        key = (config.api_url, surface, tuple(categories), tuple(names), identity.key, digest)
        cached = _verdicts.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
    breaker = breaker_for(config.api_url, config.api_key)
    breaker.check()
    workflow_id = ""
    if identity.run is not None:
        from waxell_observe.governance.remote_decider import _server_ids

        workflow_id = _server_ids(identity.run)(identity.run.run_id)[1]
    try:
        reply = client_for(config).check_policy_surface_sync(
            identity.agent_name,
            identity.workflow_name,
            identity.user_group,
            surface=surface,
            signal=body_signal,
            categories=categories,
            policies=names,
            workflow_id=workflow_id,
        )
    except Exception as exc:
        if is_unreachable(exc):
            breaker.record_failure(exc)
        else:
            breaker.record_success()
        raise
    breaker.record_success()
    result = PolicyCheckResult.from_dict(reply)
    for evaluation in result.evaluations:
        if not evaluation.phase:
            evaluation.phase = surface
    if ttl > 0:
        if len(_verdicts) >= 4096:
            _verdicts.clear()
        _verdicts[key] = (result, now + ttl)
    return result

"""The remote decider: policies of remote runs are decided by the control plane.

Active for runs whose configuration has an ``api_url`` (``waxell_active``). Runs and records
themselves travel through the pipeline (journal, drainer, :mod:`waxell_observe.pipeline.remote_destination`);
this plugin asks the control plane for decisions: at ``pre_execution`` (context entry with
``enforce_policy``) and ``mid_execution`` (``check_policy()``) — the only network waits the
agent's thread ever sees, bounded by ``policy_timeout`` and behind a circuit breaker. When the
control plane cannot answer, the check fails open (allow, logged) unless ``policy_fail_closed`` /
``WAXELL_POLICY_FAIL_CLOSED=1`` is set (then it blocks, with a reason saying why).
Post-execution outcomes come back asynchronously with the ``complete/`` reply and are stored on
the run (``ctx.governance``) when they arrive. With ``mid_execution_governance=True`` the run's
records are delivered synchronously (:func:`on_run_flush`) and the ingest replies' verdict is used.

A built-in plugin, imported by every ``init()``: what only remote runs use (the breaker, the
results, the wire format) is imported by :func:`on_configure` in remote mode, not with this module.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from waxell_observe.plugins import hookimpl

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig
    from waxell_observe.governance.results import PolicyCheckResult
    from waxell_observe.run import Run

__all__ = ["NAME", "on_policy_check", "on_run_flush", "waxell_policy_check_does_io"]

logger = logging.getLogger("waxell_observe")

NAME = "remote"
STATE_KEY = "remote"
"""Key of this plugin's scratch space in ``run.plugin_state``."""

waxell_policy_check_does_io = True
"""``on_policy_check`` waits on the network: async contexts call it from a worker thread."""

_policy_clients: dict[tuple[str, str], Any] = {}
_warned_policy: set[tuple[str, str]] = set()


def waxell_policy_quiet_until(config: ObserveConfig) -> float:
    """Outside remote mode no run of ``config`` is ever answered here (``policy_gate.QUIET_ATTRIBUTE``)."""
    return math.inf if config.mode != "remote" else 0.0


def _active(run: Run) -> bool:
    return run.config.mode == "remote"


def _state(run: Run) -> dict[str, Any]:
    state = run.plugin_state.get(STATE_KEY)
    if state is None:
        state = run.plugin_state[STATE_KEY] = {}
    return state


def _server_ids(run: Run) -> Any:
    """Our run id -> the server's (run id, workflow id), as the delivery learnt them."""
    from waxell_observe.pipeline.pipeline import existing

    current = existing()
    destination = current.remote_destination(run.config) if current is not None else None
    if destination is None:
        return lambda rid: (rid, rid)
    return destination.server_ids


# -- configuration --------------------------------------------------------------------------------


@hookimpl
def on_configure(config: Any) -> None:
    """In remote mode, import what delivery needs now, on the configuring thread: a lazy import
    on a delivery thread could be cut in half by an ``os.fork()`` and break the child."""
    if getattr(config, "mode", "") == "remote":
        import certifi  # noqa: F401 - what httpx imports lazily when its first client is made
        import httpcore  # noqa: F401
        import httpx  # noqa: F401
        import platformdirs  # noqa: F401

        from waxell_observe.governance import breaker, results  # noqa: F401 - what a check uses
        from waxell_observe.transport import wire  # noqa: F401


@hookimpl
def on_shutdown(timeout: float | None) -> None:
    for client in list(_policy_clients.values()):
        client.close_sync()


# -- governance: the only synchronous network waits --------------------------------------------------


def _policy_client(run: Run) -> Any:
    from waxell_observe.client import WaxellObserveClient

    key = (run.config.api_url, run.config.api_key)
    client = _policy_clients.get(key)
    if client is None:
        client = _policy_clients[key] = WaxellObserveClient.from_config(run.config)
    return client


def _unavailable(run: Run, phase: str, error: Exception) -> PolicyCheckResult | None:
    """Fail open (``None``: no opinion) or, with ``policy_fail_closed``, block.

    A check skipped because the control plane's circuit breaker is open (``BreakerOpenError``)
    logs nothing (the breaker logged its opening once); blocked, its reason says until when.
    """
    from waxell_observe.governance.breaker import BreakerOpenError, format_time
    from waxell_observe.governance.results import PolicyCheckResult

    config = run.config
    if isinstance(error, BreakerOpenError):
        if not config.policy_fail_closed:
            logger.debug("waxell-observe: remote policy check skipped (%s); allowing", error)
            return None
        return PolicyCheckResult(
            "block",
            f"control plane policy check skipped: {error}; "
            "WAXELL_POLICY_FAIL_CLOSED is set, so the run is blocked",
            {"fail_closed": True, "breaker_open": True, "breaker_open_until": format_time(error.until)},
        )
    key = (config.api_url, phase)
    if config.policy_fail_closed:
        logger.warning(
            "waxell-observe: remote policy check failed (%s); blocking (policy_fail_closed)", error
        )
        return PolicyCheckResult(
            "block",
            f"control plane policy check unavailable ({error}); "
            "WAXELL_POLICY_FAIL_CLOSED is set, so the run is blocked",
            {"fail_closed": True},
        )
    if key not in _warned_policy:
        _warned_policy.add(key)
        logger.warning(
            "waxell-observe: remote policy check failed (%s); allowing the run (fail-open; set "
            "WAXELL_POLICY_FAIL_CLOSED=1 to block instead)",
            error,
        )
    else:
        logger.info("waxell-observe: remote policy check failed again (%s); allowing", error)
    return None


def _delegation_signal(run: Run, server_ids: Any) -> dict[str, Any] | None:
    if not run.parent_run_id:
        return None
    parent = server_ids(run.parent_run_id)
    root = server_ids(run.root_run_id or run.parent_run_id)
    return {
        "conversation_state": {
            "delegation_data": {
                "parent_workflow_id": parent[1],
                "root_workflow_id": root[1],
                "parent_run_id": parent[0],
            }
        }
    }


def _run_state_fields(run: Run) -> dict[str, Any]:
    """What the run did so far, in the ``policy-check/`` extension fields our server reads."""
    from waxell_observe.transport import wire

    fields: dict[str, Any] = {
        "llm_calls": [
            {"model": model, "tokens_in": int(u[0]), "tokens_out": int(u[1]), "cost": float(u[2])}
            for model, u in run.model_usage.items()
        ],
        "step_count": run.step_count,
        "tool_calls": [{"name": name} for name in run.tool_names],
        "retries": run.retry_count,
    }
    conversation = wire.conversation_state(run)
    if conversation:
        fields["conversation_state"] = conversation
    if run.started_at:
        fields["session_started_at"] = run.started_at
    return fields


@hookimpl
def on_policy_check(run: Run, phase: str, surface: str) -> PolicyCheckResult | None:
    """Ask the control plane (``pre_execution`` and ``mid_execution``; post-execution outcomes
    arrive asynchronously with the ``complete/`` reply).

    Both go through the control plane's circuit breaker (``governance/breaker.py``): while it is
    open the check is skipped without any network wait and answered as unavailable.
    """
    if not _active(run) or phase == "post_execution":
        return None
    state = _state(run)
    if phase == "mid_execution" and "flush_verdict" in state:
        # The flush that just ran (mid_execution_governance) answered already: no second round trip.
        verdict: PolicyCheckResult | None = state.pop("flush_verdict")
        return verdict
    from waxell_observe.governance.breaker import BreakerOpenError, breaker_for, is_unreachable
    from waxell_observe.governance.results import PolicyCheckResult

    breaker = breaker_for(run.config.api_url, run.config.api_key)
    try:
        breaker.check()
    except BreakerOpenError as skipped:
        return _unavailable(run, phase, skipped)
    ids = _server_ids(run)
    server_run_id, workflow_id = ids(run.run_id)
    extra: dict[str, Any] = {"run_id": server_run_id, "phase": phase}
    if phase != "pre_execution":
        extra.update(_run_state_fields(run))
    try:
        from waxell_observe.client import builders

        request = builders.policy_check(
            agent_name=run.agent_name,
            workflow_name=run.workflow_name,
            inputs=run.inputs,
            user_id=run.user_id,
            user_group=run.user_group,
            agent_type=run.agent_type,
            metadata=run.metadata,
            signal=_delegation_signal(run, ids),
            workflow_id=workflow_id if phase != "pre_execution" else "",
            extra=extra,
        )
        reply = _policy_client(run).send_sync(request, timeout=run.config.policy_timeout)
        result = PolicyCheckResult.from_dict(reply)
    except Exception as exc:  # noqa: BLE001 - any failure is "unavailable": fail open or closed
        if is_unreachable(exc):
            breaker.record_failure(exc)
        else:
            breaker.record_success()  # a final 4xx: the control plane answered, it is reachable
        return _unavailable(run, phase, exc)
    breaker.record_success()
    if phase == "pre_execution":
        state["pre_evaluations"] = _pre_evaluations(result)
    return result


def _pre_evaluations(result: PolicyCheckResult) -> list[dict[str, Any]]:
    """The ``pre_execution_evaluations`` of ``runs/start/``: the check's evaluations, carrying its
    ``admission_id`` (a rate-limit slot the server frees when the run completes)."""
    evaluations = [e.to_dict() for e in result.evaluations]
    admission = result.metadata.get("admission_id")
    if admission and not any(e["metadata"].get("admission_id") == admission for e in evaluations):
        evaluations.append(
            {"policy_name": "", "category": "", "action": result.action, "reason": "", "duration_ms": 0.0,
             "metadata": {"admission_id": admission}, "phase": "pre_execution"}
        )  # fmt: skip
    return evaluations


@hookimpl
def on_run_flush(run: Run) -> PolicyCheckResult | None:
    """Deliver what was journaled so far now; return the control plane's governance answer."""
    if not _active(run):
        return None
    from waxell_observe.pipeline.pipeline import pipeline

    timeout = max(run.config.policy_timeout, 0.1)
    current = pipeline()
    delivered = current.flush_destination(run.config, timeout)
    state = _state(run)
    state.pop("flush_verdict", None)
    if not delivered:
        error = current.destination_error(run.config) or f"not delivered within {timeout:g}s"
        verdict = _unavailable(run, "mid_execution", RuntimeError(error))
        state["flush_verdict"] = None  # the policy check that follows would fail the same way
        return verdict
    destination = current.remote_destination(run.config)
    verdicts = destination.take_verdicts(run.run_id) if destination is not None else []
    if not verdicts:
        return None  # no verdict in the ingest replies: the policy check that follows asks
    from waxell_observe.governance.results import strictest

    verdict = verdicts[0] if len(verdicts) == 1 else strictest(verdicts)
    state["flush_verdict"] = None  # the verdict is returned here; the check need not repeat it
    return verdict


def waxell_active(config: Any) -> bool:
    """Record hooks skip this sink in embedded mode (see ``plugins.ACTIVE_ATTRIBUTE``)."""
    return bool(getattr(config, "mode", "") == "remote")

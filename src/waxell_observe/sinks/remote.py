"""The remote sink: runs go to a control plane when ``api_url`` is configured.

A plugin like any other (entry point ``remote``), active for runs whose configuration is in
remote mode. On the agent's thread it only snapshots the run's mutable state at start and
end and appends to the delivery queue; :class:`~waxell_observe.delivery.remote.RemoteDelivery`
does the HTTP on its own thread (per-run order, batching, retries, spool).

It also decides policies for remote runs by asking the control plane (``policy-check/``):
at ``pre_execution`` (context entry with ``enforce_policy``) and ``mid_execution``
(``check_policy()``) — the only network waits the agent's thread ever sees, bounded by
``policy_timeout``. When the control plane cannot answer, the check fails open (allow, logged)
unless ``policy_fail_closed`` / ``WAXELL_POLICY_FAIL_CLOSED=1`` is set (then it blocks, with a
reason saying why). The run start itself is never a second synchronous round trip: it goes
through the queue. Post-execution outcomes come back asynchronously with the
``complete/`` reply and are stored on the run (``ctx.governance``) when they arrive.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from waxell_observe.delivery.remote import RemoteDelivery
from waxell_observe.delivery.report import DeliveryReport
from waxell_observe.governance.breaker import BreakerOpenError, breaker_for, format_time, is_unreachable
from waxell_observe.governance.results import PolicyCheckResult, strictest
from waxell_observe.plugins import hookimpl
from waxell_observe.records import LLMCallRecord, ScoreRecord, SpanRecord, StepRecord
from waxell_observe.run import Run
from waxell_observe.transport import wire

__all__ = ["NAME", "engine", "on_policy_check", "on_run_flush", "waxell_policy_check_does_io"]

logger = logging.getLogger("waxell_observe")

NAME = "remote"
STATE_KEY = "remote"
"""Key of this plugin's scratch space in ``run.plugin_state``."""

waxell_policy_check_does_io = True
"""``on_policy_check`` waits on the network: async contexts call it from a worker thread."""

_engine: RemoteDelivery | None = None
_engine_lock = threading.Lock()
_policy_clients: dict[tuple[str, str], Any] = {}
_warned_policy: set[tuple[str, str]] = set()


def engine(max_queue: int | None = None) -> RemoteDelivery:
    """The process's delivery engine (created on first use)."""
    global _engine
    current = _engine
    if current is None:
        with _engine_lock:
            if _engine is None:
                _engine = RemoteDelivery(NAME, max_queue=max_queue or 100_000)
            current = _engine
    return current


def _active(run: Run) -> bool:
    return run.config.mode == "remote"


def _state(run: Run) -> dict[str, Any]:
    state = run.plugin_state.get(STATE_KEY)
    if state is None:
        state = run.plugin_state[STATE_KEY] = {}
    return state


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


# -- recording: the agent's thread (enqueue only) -------------------------------------------------


def _put(run: Run, operation: str, payload: Any) -> None:
    if run.auto_collected:
        # Automatic runs (background collector) are short and get their start time moved to
        # their first call before they end: they are queued whole at their end.
        held = _state(run).get("held")
        if held is not None:
            held.append((operation, payload))
            return
    engine(run.config.max_queue).put((operation, run, payload))


@hookimpl
def on_run_start(run: Run) -> None:
    if not _active(run):
        return
    if run.auto_collected:
        _state(run)["held"] = []
        return
    evaluations = run.plugin_state.get(STATE_KEY, {}).get("pre_evaluations")
    engine(run.config.max_queue).put(("start", run, wire.start_body(run, evaluations)))


@hookimpl
def on_llm_call(run: Run, call: LLMCallRecord) -> None:
    if _active(run):
        _put(run, "llm", call)


@hookimpl
def on_step(run: Run, step: StepRecord) -> None:
    if _active(run):
        _put(run, "step", step)


@hookimpl
def on_span(run: Run, span: SpanRecord) -> None:
    if _active(run):
        _put(run, "span", span)


@hookimpl
def on_score(run: Run, score: ScoreRecord) -> None:
    if _active(run):
        _put(run, "score", score)


@hookimpl
def on_run_end(run: Run) -> None:
    if not _active(run):
        return
    held = run.plugin_state.get(STATE_KEY, {}).pop("held", None) if run.auto_collected else None
    queue = engine(run.config.max_queue)
    if held is not None:
        queue.put(("start", run, wire.start_body(run)))
        for operation, payload in held:
            queue.put((operation, run, payload))
    queue.put(("end", run, wire.complete_body(run)))


@hookimpl
def on_flush(timeout: float | None) -> DeliveryReport | None:
    return _engine.flush(timeout) if _engine is not None else None


@hookimpl(tryfirst=True)
def on_shutdown(timeout: float | None) -> DeliveryReport | None:
    """Deliver within ``timeout``, spool the rest. Called first at shutdown, so the spool is
    written within the exit budget whatever the other plugins take; the background collector's
    buffered calls are written as runs first, so they are part of it."""
    from waxell_observe import collector

    if collector.pending():
        collector.write_pending()  # (remote runs among them are queued on the engine below)
    if _engine is None:
        return None
    report = _engine.shutdown(timeout)
    for client in list(_policy_clients.values()):
        client.close()
    return report


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
    config = run.config
    if isinstance(error, BreakerOpenError):
        if not config.policy_fail_closed:
            logger.debug("waxell-observe: remote policy check skipped (%s); allowing", error)
            return None
        return PolicyCheckResult(
            "block",
            f"control plane policy check skipped: {error}; WAXELL_POLICY_FAIL_CLOSED is set, so the run is blocked",
            {"fail_closed": True, "breaker_open": True, "breaker_open_until": format_time(error.until)},
        )
    key = (config.api_url, phase)
    if config.policy_fail_closed:
        logger.warning("waxell-observe: remote policy check failed (%s); blocking (policy_fail_closed)", error)
        return PolicyCheckResult(
            "block",
            f"control plane policy check unavailable ({error}); WAXELL_POLICY_FAIL_CLOSED is set, so the run is "
            "blocked",
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
        return state.pop("flush_verdict")
    breaker = breaker_for(run.config.api_url, run.config.api_key)
    try:
        breaker.check()
    except BreakerOpenError as skipped:
        return _unavailable(run, phase, skipped)
    current = _engine
    ids = (lambda rid: current.server_ids(run.config, rid)) if current is not None else (lambda rid: (rid, rid))
    server_run_id, workflow_id = ids(run.run_id)
    extra: dict[str, Any] = {"run_id": server_run_id, "phase": phase}
    if phase != "pre_execution":
        extra.update(_run_state_fields(run))
    try:
        result = _policy_client(run).check_policy(
            run.agent_name,
            run.workflow_name,
            inputs=run.inputs,
            user_id=run.user_id or None,
            user_group=run.user_group or None,
            metadata=dict(run.metadata) or None,
            signal=_delegation_signal(run, ids),
            workflow_id=workflow_id if phase != "pre_execution" else None,
            extra=extra,
            timeout=run.config.policy_timeout,
        )
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
    """Deliver ``run``'s queued records now; return the control plane's governance answer."""
    if not _active(run):
        return None
    timeout = max(run.config.policy_timeout, 0.1)
    outcome = engine(run.config.max_queue).flush_run(run, timeout)
    state = _state(run)
    state.pop("flush_verdict", None)
    if not outcome.ok:
        verdict = _unavailable(run, "mid_execution", RuntimeError(outcome.error or "delivery failed"))
        state["flush_verdict"] = None  # the policy check that follows would fail the same way
        return verdict
    if not outcome.governance:
        return None  # no verdict in the ingest replies: the policy check that follows asks
    verdict = outcome.governance[0] if len(outcome.governance) == 1 else strictest(outcome.governance)
    state["flush_verdict"] = None  # the verdict is returned here; the check need not repeat it
    return verdict


def waxell_active(config: Any) -> bool:
    """Record hooks skip this sink in embedded mode (see ``plugins.ACTIVE_ATTRIBUTE``)."""
    return bool(getattr(config, "mode", "") == "remote")

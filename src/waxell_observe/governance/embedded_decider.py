"""The embedded decider: policies stored in the local store, enforced in process (built-in ``governance``).

Active for runs in embedded mode (no ``api_url``). It answers ``on_policy_check`` with the policies of the
run's store (``waxell-observe policies add``), evaluated by one cached :class:`~.decider.Decider` per store:

* ``pre_execution`` (context entry with ``enforce_policy``): identity and inputs — budgets (today's usage),
  rate limits (admission and concurrency slot, taken atomically in the store), kill switch, scheduling,
  content on the inputs (``redact`` hands back masked inputs, which are what gets stored);
* ``mid_execution`` (``check_policy()``, and every ``record_step`` with ``mid_execution_governance``): the
  run so far — llm, safety, context-management, budgets (today's usage plus the run's), content on the texts
  recorded since the previous check;
* ``post_execution`` (context exit with ``enforce_policy``): budgets (warn only), content and quality on the
  result; the answer becomes ``ctx.governance``.

``on_run_end`` frees the run's concurrency slots and — only when a budget or kill-switch policy covers the
run — counts its tokens/cost per model and its outcome, in ONE write transaction on the agent's thread.
That write is deliberate: the next run's budget check must see this run's usage at once, not when a
background worker gets to it. Runs no stateful policy covers cause no write.

Refused runs (pre-execution ``block``/``throttle``) never start, so they have no run to carry policy spans;
their non-allow evaluations go to the audit log through a background worker.

With no policies stored, a check costs a dictionary lookup and a clock read (the policies version is read
at most once a second, or at once after ``policies add``/``remove`` in this process).

A built-in plugin, imported by every ``init()``: what evaluating a policy needs (the request and its
results, :mod:`.run_request`) is imported once a store holds a policy, not with this module.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from waxell_observe.plugins import hookimpl
from waxell_observe.process import current_pid, fork_safe

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig
    from waxell_observe.records import LLMCallRecord, SpanRecord
    from waxell_observe.run import Run

    from .decider import Decider
    from .results import PolicyCheckResult

__all__ = [
    "NAME",
    "decider_for",
    "forget_deciders",
    "on_llm_call",
    "on_policy_check",
    "on_run_end",
    "on_run_start",
    "on_span",
    "set_clock",
    "waxell_active",
]

log = logging.getLogger("waxell_observe.governance")

NAME = "governance"
#: ``WAXELL_SLOT_TTL_SECONDS``: how long a concurrency slot that was never released is kept.
SLOT_TTL_ENV = "WAXELL_SLOT_TTL_SECONDS"

_deciders: dict[tuple[int, str], Decider] = {}
_deciders_lock = fork_safe(threading.Lock())
_clock: Callable[[], float] | None = None


# --------------------------------------------------------------------------- deciders


def _slot_ttl() -> float:
    from .usage import DEFAULT_SLOT_TTL_SECONDS

    raw = os.environ.get(SLOT_TTL_ENV, "")
    if not raw:
        return DEFAULT_SLOT_TTL_SECONDS
    try:
        value = float(raw)
        if value > 0:
            return value
    except ValueError:
        pass
    log.error(
        "%s=%r is not a positive number of seconds; using %s", SLOT_TTL_ENV, raw, DEFAULT_SLOT_TTL_SECONDS
    )
    return DEFAULT_SLOT_TTL_SECONDS


def decider_for(url: str) -> Decider:
    """The process's decider for the store at ``url`` (created on first use; one per process)."""
    key = (current_pid(), url)
    decider = _deciders.get(key)
    if decider is not None:
        return decider
    with _deciders_lock:
        decider = _deciders.get(key)
        if decider is None:
            from . import changes
            from .decider import Decider

            decider = Decider(url=url, clock=_clock, slot_ttl_seconds=_slot_ttl())
            _deciders[key] = decider
            changes.on_change(_policies_changed)
    return decider


def _policies_changed(url: str) -> None:
    """Policies of ``url`` were changed by this process: re-read them at the next check."""
    decider = _deciders.get((current_pid(), url))
    if decider is not None:
        decider.expire()
    from waxell_observe import policy_gate

    policy_gate.forget_quiet()


def forget_deciders() -> None:
    """Drop every cached decider (tests; the next check re-reads the policies)."""
    with _deciders_lock:
        _deciders.clear()
    from waxell_observe import policy_gate

    policy_gate.forget_quiet()


def set_clock(clock: Callable[[], float] | None) -> None:
    """Evaluate policies (scheduling windows, budgets' UTC day, rate windows) at ``clock()`` instead of
    ``time.time()``; None restores the real clock. For tests and simulations."""
    global _clock
    _clock = clock
    for decider in list(_deciders.values()):
        decider.set_clock(clock)


def _decider(config: ObserveConfig) -> Decider:
    return decider_for(config.db_url)


def _embedded(run: Run) -> bool:
    return run.config.mode == "embedded"


def waxell_active(config: ObserveConfig) -> bool:
    """Record hooks are skipped for runs in remote mode (the control plane decides there) and
    while no policy is stored (a run then has nothing to count or release). The decider
    invalidates the cached answer when policies appear or all go away; it notices within its
    poll interval whenever a policy check consults it."""
    return config.mode == "embedded" and not _decider(config).empty


# --------------------------------------------------------------------------- hooks (the agent's thread)


def waxell_policy_quiet_until(config: ObserveConfig) -> float:
    """Until when no run of ``config`` gets an answer here (``policy_gate.QUIET_ATTRIBUTE``): never
    outside embedded mode; while no policy is stored, until the decider looks at the store again."""
    if config.mode != "embedded":
        return math.inf
    decider = _decider(config)
    if not decider.empty:
        return 0.0
    return decider.quiet_until()


@hookimpl
def on_policy_check(run: Run, phase: str, surface: str) -> PolicyCheckResult | None:
    """Evaluate the stored policies for ``run`` at ``phase`` (embedded mode only)."""
    if not _embedded(run):
        return None
    decider = _decider(run.config)
    if decider.empty:
        return None
    from .request import PRE_EXECUTION
    from .run_request import RunGovernance, request_for_run

    state = RunGovernance.of(run)
    result = decider.evaluate(request_for_run(run, phase, state), phase)
    if phase == PRE_EXECUTION:
        if "admission_id" in result.metadata:
            RunGovernance.of(run, create=True).holds_slot = True  # type: ignore[union-attr]
        if result.blocked:
            _audit_refused(run, result)
    return result


@hookimpl
def on_run_start(run: Run) -> None:
    """Collect the run's texts when a content policy covers it (for mid-execution checks)."""
    if not _embedded(run):
        return
    decider = _decider(run.config)
    if decider.empty:
        return
    if decider.facts(run.agent_name, run.workflow_name, run.user_group).mid_content:
        from .run_request import RunGovernance

        RunGovernance.of(run, create=True).collect = True  # type: ignore[union-attr]


@hookimpl
def on_llm_call(run: Run, call: LLMCallRecord) -> None:
    """Keep the call's previews for the next mid-execution content check (runs a content policy covers)."""
    state = run.plugin_state.get("governance")
    if state is not None and state.collect:
        state.observe_llm_call(call)


@hookimpl
def on_span(run: Run, span: SpanRecord) -> None:
    """Keep messages and tool/retrieval outputs for the next mid-execution content check."""
    state = run.plugin_state.get("governance")
    if state is not None and state.collect:
        state.observe_span(span)


@hookimpl
def on_run_end(run: Run) -> None:
    """Free the run's slots; count its usage and outcome when a budget or kill switch covers it."""
    if not _embedded(run):
        return
    state = run.plugin_state.get("governance")  # RunGovernance.of(run), without importing it
    holds_slot = state is not None and state.holds_slot
    decider = _decider(run.config)
    if decider.empty and not holds_slot:
        return
    from .run_request import run_models

    try:
        decider.finish_run(
            run.run_id,
            run.agent_name,
            run.workflow_name,
            run.user_group,
            models=run_models(run),
            error=run.status == "error",
            holds_slot=holds_slot,
        )
    except Exception:
        log.exception(
            "waxell-observe: could not count run %s for governance (usage/outcome/slots); "
            "budgets may undercount it and its slot expires after %s s",
            run.run_id,
            decider.usage.slot_ttl,
        )


# --------------------------------------------------------------------------- audit of refused runs


def _audit_refused(run: Run, result: PolicyCheckResult) -> None:
    """Journal the non-allow evaluations of a refused run for the store's audit log (on the
    agent's thread, like any record: durable once this returns)."""
    from waxell_observe.pipeline.plugin import journal_refusal
    from waxell_observe.records import SpanRecord
    from waxell_observe.vocabulary.rows import policy_span_attributes, policy_span_status

    from .request import PRE_EXECUTION

    now = time.time()
    spans = [
        SpanRecord(
            "policy",
            evaluation.policy_name,
            status=policy_span_status(evaluation.action),
            duration_ms=evaluation.duration_ms or 0.0,
            started_at=now,
            attributes=policy_span_attributes(
                policy_name=evaluation.policy_name,
                action=evaluation.action,
                category=evaluation.category,
                reason=evaluation.reason,
                phase=evaluation.phase or PRE_EXECUTION,
                priority=0,
                metadata={**evaluation.metadata, "refused_run_id": run.run_id, "user_id": run.user_id},
            ),
        )
        for evaluation in result.evaluations
        if evaluation.action != "allow"
    ]
    if spans:
        journal_refusal(run.config, run.agent_name, run.workflow_name, spans)

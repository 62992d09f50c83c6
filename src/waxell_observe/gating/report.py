"""Reporting a gate's non-allow answers.

* Inside a run (both modes): one ``policy`` span per answer on the run, with the surface in its metadata
  (stored with the run; every ``policy`` span is also a row of the audit log).
* Outside a run, embedded mode: audit rows in the local store (journaled like a refused run's answers).
* Outside a run, remote mode: ``POST governance-decision/`` from a daemon thread (the agent does not wait);
  :func:`wait_for_reports` (called at interpreter exit, at most 3 s) lets pending reports finish.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from waxell_observe.governance.results import PolicyEvaluation

if TYPE_CHECKING:
    from .identity import Identity
    from .outcome import GateOutcome

__all__ = ["phase_of_surface", "report", "wait_for_reports"]

logger = logging.getLogger("waxell_observe")

_PHASES = {"run.start": "pre_execution", "run.complete": "post_execution", "run.error": "post_execution"}
_pending: set[threading.Thread] = set()
_pending_lock = threading.Lock()


def phase_of_surface(surface: str) -> str:
    """The policy phase a surface's answers are recorded under (``mid_execution`` for most)."""
    return _PHASES.get(surface, "mid_execution")


def _evaluations(outcome: GateOutcome) -> list[PolicyEvaluation]:
    result = outcome.result
    found = [e for e in result.evaluations if e.action != "allow"] if result is not None else []
    covered = {(e.policy_name, e.action) for e in found}
    for decision in outcome.decisions:
        if (decision["policy"], decision["action"]) not in covered:
            found.append(
                PolicyEvaluation(
                    decision["policy"], decision["category"], decision["action"], decision["reason"]
                )
            )
    return found


def report(identity: Identity, surface: str, outcome: GateOutcome) -> None:
    """Report ``outcome``'s non-allow answers (never raises)."""
    try:
        if identity.ctx is not None and identity.run is not None:
            _policy_spans(identity, surface, outcome)
        elif identity.config.mode == "embedded":
            _audit_rows(identity, surface, outcome)
        else:
            _post_decisions(identity, surface, outcome)
    except Exception:  # noqa: BLE001 - reporting never breaks the agent
        logger.exception("waxell-observe: could not report the decisions of the %s gate", surface)


def _policy_spans(identity: Identity, surface: str, outcome: GateOutcome) -> None:
    ctx, run = identity.ctx, identity.run
    assert ctx is not None and run is not None
    phase = phase_of_surface(surface)
    for evaluation in _evaluations(outcome):
        run.policy_evaluations.append(evaluation)
        ctx.record_policy_check(
            policy_name=evaluation.policy_name or "governance",
            action=evaluation.action,
            category=evaluation.category,
            reason=evaluation.reason,
            duration_ms=evaluation.duration_ms or 0.0,
            phase=phase,
            metadata={**evaluation.metadata, "surface": surface},
        )


def _audit_rows(identity: Identity, surface: str, outcome: GateOutcome) -> None:
    from waxell_observe.pipeline.plugin import journal_refusal
    from waxell_observe.records import SpanRecord
    from waxell_observe.vocabulary.rows import policy_span_attributes, policy_span_status

    now = time.time()
    spans = [
        SpanRecord(
            "policy",
            evaluation.policy_name or "governance",
            status=policy_span_status(evaluation.action),
            duration_ms=evaluation.duration_ms or 0.0,
            started_at=now,
            attributes=policy_span_attributes(
                policy_name=evaluation.policy_name or "governance",
                action=evaluation.action,
                category=evaluation.category,
                reason=evaluation.reason,
                phase=phase_of_surface(surface),
                priority=0,
                metadata={**evaluation.metadata, "surface": surface},
            ),
        )
        for evaluation in _evaluations(outcome)
    ]
    if spans:
        journal_refusal(identity.config, identity.agent_name, identity.workflow_name or "default", spans)


def _post_decisions(identity: Identity, surface: str, outcome: GateOutcome) -> None:
    from .manifest import client_for

    client = client_for(identity.config)
    decisions: list[dict[str, Any]] = [dict(d) for d in outcome.decisions]

    def send() -> None:
        try:
            client.record_governance_decisions_sync(
                agent_name=identity.agent_name, surface=surface, decisions=decisions, workflow_id=""
            )
        except Exception as exc:  # noqa: BLE001 - a lost report is logged, never raised
            logger.warning("waxell-observe: could not report the %s gate's decisions: %s", surface, exc)
        finally:
            with _pending_lock:
                _pending.discard(threading.current_thread())

    thread = threading.Thread(target=send, name="waxell-gate-report", daemon=True)
    with _pending_lock:
        _pending.add(thread)
    thread.start()


def wait_for_reports(timeout: float = 5.0) -> bool:
    """Wait (at most ``timeout`` s) for the decision reports still being sent; True when none is left."""
    deadline = time.monotonic() + timeout
    while True:
        with _pending_lock:
            pending = list(_pending)
        if not pending:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        pending[0].join(remaining)


atexit.register(wait_for_reports, 3.0)

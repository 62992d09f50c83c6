"""Builders for the rows every decider and destination writes the same way: the ``policy_decision``
audit row and the attributes (and status) of a ``policy`` span."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from waxell_observe.vocabulary import AUDIT_POLICY_DECISION
from waxell_observe.vocabulary.human import audit_event_and_action

__all__ = ["policy_audit_row", "policy_span_attributes", "policy_span_status"]

_STOPPING_ACTIONS = frozenset({"block", "throttle"})
_ACTION_CHARS = 16
"""The audit log's ``action`` column holds this many characters."""


def policy_audit_row(
    *,
    ts: float,
    run_id: str,
    agent_name: str,
    workflow_name: str,
    policy_name: str,
    category: str,
    action: str,
    reason: str,
    phase: str,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One audit-log row for a policy's non-allow answer (``run_id`` is ``""`` for a refused run: the
    refused run's id is then in ``metadata["refused_run_id"]``). A span of an approval round gives its
    own event (``approval_requested``, ``approval_granted``, ...; :mod:`waxell_observe.vocabulary.human`)."""
    event, action = audit_event_and_action(category, action, AUDIT_POLICY_DECISION)
    return {
        "ts": ts,
        "run_id": run_id,
        "agent_name": agent_name,
        "workflow_name": workflow_name,
        "event": event,
        "policy_name": policy_name,
        "category": category,
        "action": action[:_ACTION_CHARS],
        "reason": reason,
        "phase": phase,
        "metadata": dict(metadata) if isinstance(metadata, Mapping) else {},
    }


def policy_span_attributes(
    *,
    policy_name: str,
    action: str,
    category: str,
    reason: str,
    phase: str,
    priority: int,
    metadata: Any = None,
) -> dict[str, Any]:
    """The attributes of a ``policy`` span (``metadata`` only when given and not empty)."""
    attributes: dict[str, Any] = {
        "policy_name": policy_name,
        "action": action,
        "category": category,
        "reason": reason,
        "phase": phase,
        "priority": priority,
    }
    if metadata:
        attributes["metadata"] = metadata
    return attributes


def policy_span_status(action: str) -> str:
    """A policy span's status: ``error`` when the answer stops the run (``block``, ``throttle``)."""
    return "error" if action in _STOPPING_ACTIONS else "ok"

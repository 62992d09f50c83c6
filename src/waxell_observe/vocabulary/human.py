"""Names of the human-in-the-loop records: approval rounds (``record_approval_request`` /
``record_approval_response``), human turns (``record_human_interaction``), pauses and resumes.

An approval round is recorded as two ``policy`` spans of category :data:`APPROVAL_CATEGORY` whose
``action`` is the event: :data:`APPROVAL_REQUESTED`, then one of :data:`APPROVAL_DECISION_EVENTS`
(``approval_<decision>`` for another decision word). Their audit rows carry the event as ``event``
and the short word (``requested``, ``granted``, ...) as ``action`` (:func:`audit_event_and_action`).
"""

from __future__ import annotations

__all__ = [
    "APPROVAL_CATEGORY",
    "APPROVAL_POLICY_NAME",
    "APPROVAL_REQUESTED",
    "APPROVAL_DECISIONS",
    "APPROVAL_DECISION_EVENTS",
    "APPROVAL_EVENT_PREFIX",
    "APPROVAL_ATTRIBUTE_PREFIX",
    "HUMAN_INTERACTION_KIND",
    "HUMAN_TURN_NAME",
    "INTERACTIVE",
    "PAUSE_SPAN_NAME",
    "PAUSE_PHASE",
    "RESUME_SPAN_NAME",
    "RESUME_PHASE",
    "PHASE_ATTRIBUTE",
    "approval_event",
    "audit_event_and_action",
    "decision_word",
]

APPROVAL_CATEGORY = "approval"
"""The policy category of approval spans (and of the policies that ask for an approval)."""
APPROVAL_POLICY_NAME = "approval"
"""The ``policy_name`` attribute of approval spans."""
APPROVAL_EVENT_PREFIX = "approval_"
APPROVAL_REQUESTED = "approval_requested"
"""The event (span ``action``) of ``record_approval_request``."""
APPROVAL_DECISIONS = ("approved", "denied", "timeout")
"""The decision words ``handle_policy_block`` records (other words are allowed)."""
APPROVAL_DECISION_EVENTS = {
    "approved": "approval_granted",
    "denied": "approval_denied",
    "timeout": "approval_timeout",
}
"""Decision word -> event of ``record_approval_response``."""
APPROVAL_ATTRIBUTE_PREFIX = "approval."
"""Approval spans' own attributes (``approval.reason``, ``approval.action_type``, ``approval.phase``,
``approval.approver``, ``approval.elapsed_seconds``); over OTLP ``waxell.approval.<name>``."""

HUMAN_INTERACTION_KIND = "human_interaction"
"""The ``_kind`` of the step a human turn records."""
HUMAN_TURN_NAME = "human_turn"
"""A human turn's name (``human_turn:<action>`` with an action)."""
INTERACTIVE = "interactive"
"""The ``io.direction`` of a human turn's span."""

PHASE_ATTRIBUTE = "_phase"
PAUSE_SPAN_NAME = "paused"
PAUSE_PHASE = "pause_marker"
"""``_phase`` of the ``paused`` span ``pause()`` opens: its time is excluded from the agent's active time."""
RESUME_SPAN_NAME = "resumed"
RESUME_PHASE = "post_resume"
"""``_phase`` of the zero-length ``resumed`` span of ``mark_resumed()``."""

_SHORT_ACTIONS = {APPROVAL_REQUESTED: "requested", "approval_granted": "granted"}


def decision_word(approved: bool, timed_out: bool) -> str:
    """``approved``, ``timeout`` or ``denied``: how an approval decision is recorded."""
    if approved:
        return "approved"
    return "timeout" if timed_out else "denied"


def approval_event(decision: str) -> str:
    """The event of a decision word: ``approval_granted`` / ``approval_denied`` / ``approval_timeout``,
    else ``approval_<decision>``."""
    return APPROVAL_DECISION_EVENTS.get(decision) or f"{APPROVAL_EVENT_PREFIX}{decision}"


def audit_event_and_action(category: str, action: str, default_event: str) -> tuple[str, str]:
    """The audit row's ``(event, action)`` for a policy span's category and action: an approval span
    gives its event and the short word (``approval_requested`` -> ``("approval_requested", "requested")``);
    anything else ``(default_event, action)``."""
    if category == APPROVAL_CATEGORY and action.startswith(APPROVAL_EVENT_PREFIX):
        return action, _SHORT_ACTIONS.get(action) or action[len(APPROVAL_EVENT_PREFIX) :]
    return default_event, action

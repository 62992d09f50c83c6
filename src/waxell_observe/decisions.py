"""One governance decision at a gate surface, asked by hand: the reference SDK's
``waxell_observe.decisions`` (§6.4).

* :func:`evaluate_decision` asks every policy acting at a surface (``tool.before``, ``llm.before``,
  ``mcp.before``, ...) about a signal and answers one :class:`UnifiedDecisionResult`: the strictest
  action over all of them, its reason, and every non-allow answer. ``raise_on_deny=True`` turns a
  ``block``/``throttle`` into :class:`WaxellPolicyDenied` (the run is marked blocked, as a gate does).
* :class:`UnifiedDecisionResult` is the gates' own answer, the same class as
  :class:`~waxell_observe.gating.outcome.GateOutcome`.
* :class:`WaxellPolicyDenied` is a :class:`~waxell_observe.errors.PolicyViolationError` that names the
  category, policy and surface that refused.
* :func:`is_unified_decisions_enabled` reads ``WAXELL_UNIFIED_DECISIONS`` (off unless ``1``/``true``/
  ``yes``/``on``). The reference's instrumentors switch to one decision per surface with it; ours always
  decide that way, so the flag only tells a program which mode it asked for.

Importing this module imports no policy engine; the first :func:`evaluate_decision` does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating.outcome import GateOutcome as UnifiedDecisionResult

if TYPE_CHECKING:
    from waxell_observe.context import WaxellContext

__all__ = [
    "ENV_UNIFIED_DECISIONS",
    "UnifiedDecisionResult",
    "WaxellPolicyDenied",
    "evaluate_decision",
    "is_unified_decisions_enabled",
]

ENV_UNIFIED_DECISIONS = "WAXELL_UNIFIED_DECISIONS"
_TRUE = frozenset({"1", "true", "yes", "on"})


class WaxellPolicyDenied(PolicyViolationError):
    """A policy refused (``block`` or ``throttle``): ``reason``, and the ``category``, ``policy`` and
    ``surface`` of the refusal (``""`` when unknown). Caught by ``except PolicyViolationError`` too."""

    def __init__(self, reason: str = "", *, category: str = "", policy: str = "", surface: str = "") -> None:
        super().__init__(reason or _default_reason(policy, surface))
        self.reason = reason
        self.category = category
        self.policy = policy
        self.surface = surface


def _default_reason(policy: str, surface: str) -> str:
    where = f" at {surface}" if surface else ""
    return f"Denied by policy {policy!r}{where}" if policy else f"Denied by governance policy{where}"


def is_unified_decisions_enabled() -> bool:
    """True when ``WAXELL_UNIFIED_DECISIONS`` is ``1``, ``true``, ``yes`` or ``on`` (any case)."""
    return os.environ.get(ENV_UNIFIED_DECISIONS, "").strip().lower() in _TRUE


def evaluate_decision(
    surface: str,
    signal: Mapping[str, Any] | None = None,
    *,
    ctx: WaxellContext | None = None,
    raise_on_deny: bool = False,
) -> UnifiedDecisionResult:
    """The policies' one decision at ``surface`` about ``signal`` (for the run of ``ctx``, else the
    current run, else the process's ``init(agent_name=...)`` identity), like the SDK's own gates: every
    non-allow answer is reported to the audit log; ``warn`` answers are queued as the run's feedback.
    An unknown surface or a signal that is not a mapping is a ``ValueError``; governance that cannot
    answer fails open (or closed, with ``WAXELL_GATE_FAIL_CLOSED``). With ``raise_on_deny`` a
    ``block``/``throttle`` marks the run blocked and raises :class:`WaxellPolicyDenied`."""
    from waxell_observe.gating.evaluate import evaluate_surface
    from waxell_observe.gating.gates import _context, emit_warns, refuse

    context = _context(ctx)
    outcome = evaluate_surface(surface, {} if signal is None else signal, ctx=context)
    if outcome.is_block and raise_on_deny:
        refusal = next((d for d in outcome.decisions if d["action"] == outcome.action), None) or {}
        denied = WaxellPolicyDenied(
            outcome.reason,
            category=str(refusal.get("category") or ""),
            policy=str(refusal.get("policy") or ""),
            surface=surface,
        )
        marked = refuse(context, str(denied), outcome)  # marks the run blocked, names the run
        denied.policy_result = marked.policy_result
        denied.run_id, denied.agent_name, denied.workflow_name = (
            marked.run_id,
            marked.agent_name,
            marked.workflow_name,
        )
        raise denied
    emit_warns(context, outcome)
    return outcome

"""The two kinds of gate a recorder uses (spec §2.4), on top of :func:`~.evaluate.evaluate_surface`.

* :func:`preventive_gate` — before something happens (``code.exec``, ``spawn.before``, ``tool.before``,
  ``network.before``, ``llm.before``, ...): evaluated every time; ``block``/``throttle`` marks the run
  blocked and raises :class:`~waxell_observe.errors.PolicyViolationError` (the thing must not happen); each
  ``warn`` goes to the run's feedback queue. A run already blocked is refused at once when it checks
  governance mid-run, or when its block was only marked (``llm.after``, ``step.mid``) and never raised.
* :func:`detective_gate` — after something happened (``tool.after``, ``retrieval.after``, ``memory.write``,
  ``memory.read``): evaluated until it has acted once per run and surface; ``block`` marks the run blocked
  and raises; ``redact`` hands back the signal's texts scrubbed (``GateOutcome.redacted_signal``); each
  ``warn`` is queued.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from waxell_observe.current import current_context
from waxell_observe.errors import PolicyViolationError
from waxell_observe.redaction import redact

from .evaluate import evaluate_surface
from .outcome import GateOutcome

if TYPE_CHECKING:
    from waxell_observe.context.waxell_context import WaxellContext

__all__ = ["ACTED_KEY", "detect", "detective_gate", "emit_warns", "enforce", "preventive_gate", "refuse"]

logger = logging.getLogger("waxell_observe")

ACTED_KEY = "gates_acted"
"""Key in ``run.plugin_state`` of the set of surfaces whose detective gate has acted on the run."""
_SCRUBBED_KEYS = ("text", "content", "query", "documents")


def _context(ctx: WaxellContext | None) -> WaxellContext | None:
    return ctx if ctx is not None else current_context.get()


def refuse(
    ctx: WaxellContext | None, reason: str, outcome: GateOutcome | None = None, *, raised: bool = True
) -> PolicyViolationError:
    """The error of a refused gate; marks ``ctx``'s run blocked with ``reason`` (``raised=False`` when the
    caller only marks the run and does not raise the error: the block is then pending)."""
    error = PolicyViolationError(reason, outcome.result if outcome is not None else None)
    if ctx is not None:
        ctx._mark_blocked(reason, raised=raised)
        run = ctx._run
        if run is not None:
            error.run_id, error.agent_name, error.workflow_name = (
                run.run_id,
                run.agent_name,
                run.workflow_name,
            )
    return error


def emit_warns(ctx: WaxellContext | None, outcome: GateOutcome) -> None:
    """Queue each ``warn`` answer of ``outcome`` as feedback on ``ctx``'s run (logged without one)."""
    for decision in outcome.decisions:
        if decision["action"] != "warn":
            continue
        if ctx is not None:
            ctx._emit_governance_warn(
                outcome.surface, decision["reason"], decision["policy"], decision["category"]
            )
        else:
            logger.warning(
                "waxell-observe: governance warning at %s: %s%s",
                outcome.surface,
                decision["reason"] or "policy warning",
                f" (policy: {decision['policy']})" if decision["policy"] else "",
            )


def _already_blocked(ctx: WaxellContext | None) -> None:
    """Refuse at once when the run is already blocked and either checks governance mid-run (what the
    reference's mid-execution flush, made before these gates, raises) or the block is pending (marked by
    ``llm.after`` / ``step.mid``, never raised: this gate tells the program). Otherwise every gate is
    evaluated on its own (spec §2.4: preventive gates are "evaluated every time"), so a program that
    caught one refusal and goes on gets each later answer on its merits, as on the reference."""
    if (
        ctx is not None
        and ctx._blocked
        and ctx._run is not None
        and not ctx._finished
        and (ctx._take_pending_block() or ctx.mid_execution_governance)
    ):
        error = PolicyViolationError(ctx._block_reason or "the run was blocked by a governance policy")
        run = ctx._run
        error.run_id, error.agent_name, error.workflow_name = run.run_id, run.agent_name, run.workflow_name
        raise error


def preventive_gate(
    ctx: WaxellContext | None, surface: str, signal: Mapping[str, Any], *, default_reason: str = ""
) -> GateOutcome:
    """Gate something about to happen; raises ``PolicyViolationError`` on ``block``/``throttle``
    (``default_reason``, else ``Blocked by <surface> policy``, when the policy gave none)."""
    ctx = _context(ctx)
    _already_blocked(ctx)
    outcome = evaluate_surface(surface, signal, ctx=ctx)
    if outcome.is_block:
        raise refuse(ctx, outcome.reason or default_reason or f"Blocked by {surface} policy", outcome)
    emit_warns(ctx, outcome)
    return outcome


def detect(ctx: WaxellContext | None, surface: str, signal: Mapping[str, Any]) -> GateOutcome:
    """The detective evaluation alone (no raise): skipped once the surface's gate acted on the run;
    ``redact`` fills ``redacted_signal``."""
    ctx = _context(ctx)
    run = ctx._run if ctx is not None else None
    acted: set[str] | None = run.plugin_state.get(ACTED_KEY) if run is not None else None
    if acted is not None and surface in acted:
        return GateOutcome(surface=surface)
    outcome = evaluate_surface(surface, signal, ctx=ctx)
    if outcome.should_act and run is not None:
        if acted is None:
            acted = run.plugin_state[ACTED_KEY] = set()
        acted.add(surface)
    if outcome.action == "redact":
        outcome.redacted_signal = _scrubbed(signal, outcome)
    return outcome


def enforce(ctx: WaxellContext | None, outcome: GateOutcome, default_reason: str = "") -> None:
    """Apply a detective outcome: raise on ``block``/``throttle``, queue the warns."""
    ctx = _context(ctx)
    if outcome.is_block:
        raise refuse(ctx, outcome.reason or default_reason or f"Blocked by {outcome.surface} policy", outcome)
    emit_warns(ctx, outcome)


def detective_gate(ctx: WaxellContext | None, surface: str, signal: Mapping[str, Any]) -> GateOutcome:
    """Gate something that happened (see the module); raises ``PolicyViolationError`` on ``block``."""
    outcome = detect(ctx, surface, signal)
    enforce(ctx, outcome)
    return outcome


def _scrubbed(signal: Mapping[str, Any], outcome: GateOutcome) -> dict[str, Any]:
    scrubbed: dict[str, Any] = {}
    for key in _SCRUBBED_KEYS:
        if key not in signal:
            continue
        value = signal[key]
        if (
            isinstance(value, str)
            and outcome.redacted_text is not None
            and outcome.scanned_text is not None
            and value == outcome.scanned_text
        ):
            scrubbed[key] = outcome.redacted_text
        else:
            scrubbed[key] = redact(value)
    return scrubbed

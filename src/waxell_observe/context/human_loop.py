"""The human in the loop of a run: governance feedback for the agent, stop requests, and the
mark a gate leaves when it blocks the run.

- **Feedback.** A policy that answers ``warn`` at a gate surface does not stop the agent; the gate
  calls :meth:`HumanLoopMethods._emit_governance_warn`, which queues ``{"surface", "reason",
  "policy", "category"}`` on the run, logs a WARNING and stamps the current OpenTelemetry span.
  The agent reads the queue with :meth:`~HumanLoopMethods.take_feedback` (the items) or
  :meth:`~HumanLoopMethods.feedback_text` (a paragraph to put in its next prompt); both drain it.
- **Stop.** :meth:`~HumanLoopMethods.request_stop` asks the agent's loop to stop (no network);
  :meth:`~HumanLoopMethods.should_stop` is true after it or once a policy blocked the run;
  :attr:`~HumanLoopMethods.stop_reason` says why.
- **Blocked.** :meth:`~HumanLoopMethods._mark_blocked` (used by the gates) marks the run blocked with
  a reason; the run then completes with status ``blocked`` even when the body returns. A block the
  program was not told about by an exception (``llm.after``, ``step.mid`` only mark the run) is
  *pending*: the next preventive gate raises it.

The state lives in one small object (:class:`LoopState`), made on first use: a run that never
uses any of this pays one attribute.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from waxell_observe.context.base import ContextBase
from waxell_observe.vocabulary import attributes as names

__all__ = ["HumanLoopMethods", "LoopState", "FEEDBACK_HEADER", "DEFAULT_WARN_REASON"]

logger = logging.getLogger("waxell_observe")

FEEDBACK_HEADER = "Governance feedback on your last step — adjust and continue:"
"""The first line of :meth:`HumanLoopMethods.feedback_text` (as the reference SDK writes it)."""

DEFAULT_WARN_REASON = "policy warning"
"""The reason of a queued warning whose policy gave none."""


class LoopState:
    """What a run's human-in-the-loop methods keep: the feedback queue, the stop request and the
    block mark."""

    __slots__ = ("feedback", "stop_requested", "stop_reason", "blocked", "block_reason", "block_pending")

    def __init__(self) -> None:
        self.feedback: list[dict[str, str]] = []
        self.stop_requested = False
        self.stop_reason = ""
        self.blocked = False
        self.block_reason = ""
        self.block_pending = False


def _stamp_current_otel_span(attributes: dict[str, Any]) -> None:
    """Set ``attributes`` on the current OpenTelemetry span, if OpenTelemetry is in use (it is not
    imported for this: without it loaded there is no current span)."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return
    try:
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes(attributes)
    except Exception:  # noqa: BLE001 - telemetry never breaks the agent
        logger.warning("waxell-observe: could not stamp a governance warning on the OTel span", exc_info=True)


class HumanLoopMethods(ContextBase):
    """Feedback, stop and block-mark methods of :class:`~waxell_observe.WaxellContext`."""

    __slots__ = ()

    def _loop_state(self) -> LoopState:
        state = self._loop
        if state is None:
            state = self._loop = LoopState()
        return state

    # -- governance feedback -------------------------------------------------------------------------

    def _emit_governance_warn(self, surface: str, reason: str, policy: str = "", category: str = "") -> None:
        """Queue a policy's ``warn`` answer at gate ``surface`` as feedback for the agent, log it at
        WARNING and stamp the current OpenTelemetry span (``waxell.governance.warn=true``,
        ``waxell.governance.surface``, ``.reason``, ``.policy``). Never raises."""
        try:
            item = {
                "surface": str(surface or ""),
                "reason": str(reason or "") or DEFAULT_WARN_REASON,
                "policy": str(policy or ""),
                "category": str(category or ""),
            }
            self._loop_state().feedback.append(item)
            logger.warning(
                "waxell-observe: governance warning at %s for agent %r: %s%s",
                item["surface"] or "?",
                self.agent_name,
                item["reason"],
                f" (policy: {item['policy']})" if item["policy"] else "",
            )
            _stamp_current_otel_span(
                {
                    names.GOVERNANCE_WARN: True,
                    names.GOVERNANCE_SURFACE: item["surface"],
                    names.GOVERNANCE_REASON: item["reason"],
                    names.GOVERNANCE_POLICY: item["policy"],
                }
            )
        except Exception:  # noqa: BLE001 - a warning never breaks the agent
            logger.exception("waxell-observe: could not queue a governance warning")

    def take_feedback(self) -> list[dict[str, str]]:
        """Return the queued governance warnings (``{surface, reason, policy, category}`` each, oldest
        first) and empty the queue."""
        state = self._loop
        if state is None or not state.feedback:
            return []
        items, state.feedback = state.feedback, []
        return items

    def feedback_text(self) -> str:
        """The queued warnings as text for the agent's next prompt, draining the queue: ``""`` when
        there are none, else the line ``Governance feedback on your last step — adjust and
        continue:`` and one line ``- <reason>`` (plus `` (policy: <name>)`` when known) per warning."""
        items = self.take_feedback()
        if not items:
            return ""
        lines = [FEEDBACK_HEADER]
        for item in items:
            policy = item.get("policy") or ""
            lines.append(
                f"- {item.get('reason') or DEFAULT_WARN_REASON}" + (f" (policy: {policy})" if policy else "")
            )
        return "\n".join(lines)

    # -- stop ----------------------------------------------------------------------------------------

    def request_stop(self, reason: str = "") -> None:
        """Ask the agent's loop to stop (:meth:`should_stop` becomes true); ``reason`` is kept when
        not empty. No network, nothing recorded."""
        if not isinstance(reason, str):
            raise ValueError(f"reason must be a string, got {type(reason).__name__}")
        state = self._loop_state()
        state.stop_requested = True
        if reason:
            state.stop_reason = reason

    def should_stop(self) -> bool:
        """True once :meth:`request_stop` was called or a policy blocked the run."""
        state = self._loop
        return state is not None and (state.stop_requested or state.blocked)

    @property
    def stop_reason(self) -> str:
        """Why the agent should stop: the :meth:`request_stop` reason, else the reason a policy
        blocked the run, else ``""``."""
        state = self._loop
        if state is None:
            return ""
        return state.stop_reason or state.block_reason

    # -- the block mark ------------------------------------------------------------------------------

    def _mark_blocked(self, reason: str, *, raised: bool = True) -> None:
        """Mark the run blocked by a policy (a gate's ``block``): :meth:`should_stop` turns true, and
        the run completes with status ``blocked`` and ``reason`` as its error. ``raised=False``: no
        exception tells the program (yet), so the block stays pending until a gate raises it."""
        state = self._loop_state()
        state.blocked = True
        state.block_pending = not raised
        if reason and not state.block_reason:
            state.block_reason = str(reason)

    def _take_pending_block(self) -> bool:
        """True once for a block that was marked but never raised (then it counts as raised)."""
        state = self._loop
        if state is None or not state.block_pending:
            return False
        state.block_pending = False
        return True

    @property
    def _blocked(self) -> bool:
        state = self._loop
        return state is not None and state.blocked

    @property
    def _block_reason(self) -> str:
        state = self._loop
        return state.block_reason if state is not None else ""

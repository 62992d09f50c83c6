"""Flushing a run on demand and checking governance mid-run: ``flush`` / ``flush_sync``,
``check_governance``, ``aflush_governance`` and ``check_tool_before_execution``.

A flush asks every sink to deliver the run's records now (``on_run_flush``); a control plane
answers with its governance verdict, the embedded decider with the policies of the store. A
``block``/``throttle`` verdict is recorded (policy spans, phase ``mid_execution``) and raises
:class:`~waxell_observe.errors.PolicyViolationError`; transport failures are logged, never raised.
"""

from __future__ import annotations

import logging

from waxell_observe import policy_gate
from waxell_observe.context.base import ContextBase, _violation
from waxell_observe.context.checks import check_name
from waxell_observe.governance.results import PolicyCheckResult, strictest
from waxell_observe.run import Run

__all__ = ["FlushMethods"]

logger = logging.getLogger("waxell_observe")


class FlushMethods(ContextBase):
    """The on-demand flush and governance methods of :class:`~waxell_observe.WaxellContext`."""

    __slots__ = ()

    def _running(self) -> Run | None:
        run = self._run
        return None if run is None or self._finished else run

    def _apply(self, verdict: PolicyCheckResult) -> None:
        self._record_evaluations(verdict, "mid_execution")
        if verdict.blocked:
            raise _violation(verdict, self._run)

    def flush_sync(self) -> None:
        """Deliver the run's records now (no-op without a run); raise on a ``block`` verdict."""
        run = self._running()
        if run is None:
            return
        try:
            verdict = policy_gate.flush_run(run)
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: flush of run %s failed", run.run_id)
            return
        self._apply(verdict)

    async def flush(self) -> None:
        """:meth:`flush_sync` for async code (the delivery runs in a worker thread)."""
        run = self._running()
        if run is None:
            return
        import asyncio  # async code only: importing the context does not pull asyncio in

        try:
            verdict = await asyncio.to_thread(policy_gate.flush_run, run)
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: flush of run %s failed", run.run_id)
            return
        self._apply(verdict)

    async def _agate(self, run: Run) -> None:
        """The mid-execution flush and policy check, for async code."""
        import asyncio

        try:
            flushed = await asyncio.to_thread(policy_gate.flush_run, run)
            checked = await policy_gate.acheck(run, "mid_execution", "step.mid")
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: mid-execution governance failed")
            return
        self._apply(strictest([flushed, checked]))

    async def check_governance(self) -> None:
        """Flush and check policies now, when ``enforce_policy`` is on and the run has a
        conversation state (returns otherwise); raise on ``block``/``throttle``."""
        run = self._running()
        if run is None or not self.enforce_policy or not run.conversation_state():
            return
        await self._agate(run)

    async def aflush_governance(self) -> None:
        """With ``mid_execution_governance``: flush and check policies now (async); raise on
        ``block``/``throttle``."""
        run = self._running()
        if run is not None and self.mid_execution_governance:
            await self._agate(run)

    def check_tool_before_execution(self, tool_name: str, *, _skip_gate: bool = False) -> None:
        """Before a tool runs: the ``tool.before`` gate (a ``block``/``throttle`` answer raises
        :class:`~waxell_observe.errors.PolicyViolationError`: the tool must not run; warns are queued as
        feedback), unless ``_skip_gate`` (``@tool`` gated already, with the arguments); then, with
        ``mid_execution_governance``, add it to ``tools_used`` and flush (a control plane's
        ``block``/``throttle`` raises too)."""
        check_name(tool_name, "tool_name")
        if not _skip_gate:
            from waxell_observe.gating.recorders import before_tool

            before_tool(self, tool_name)
        run = self._running()
        if run is None or not self.mid_execution_governance:
            return
        self._ensure_conversation(run).use_tool(tool_name)
        self._mid_execution_flush(run)

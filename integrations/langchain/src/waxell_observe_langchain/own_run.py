"""The run a user-created LangChain handler keeps for itself when used outside any run.

Opened on the first callback (or by :meth:`OwnRun.start` / :meth:`OwnRun.astart`), it
accumulates every invoke the handler sees until :meth:`OwnRun.flush_sync` /
:meth:`OwnRun.flush` completes it; a handler garbage-collected (or alive at interpreter exit)
with its run open completes it then. The run is entered in a copy of the caller's context,
so it never becomes the caller's current run.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import weakref
from typing import Any

from waxell_observe.config import get_config
from waxell_observe.context import WaxellContext
from waxell_observe_langchain.content import bounded
from waxell_observe_langchain.state import FRAMEWORK

__all__ = ["OwnRun"]

logger = logging.getLogger("waxell_observe")


def _close_run(ctx: WaxellContext) -> None:
    """Complete a handler's own run left open (handler garbage-collected, or interpreter exit)."""
    try:
        ctx.__exit__(None, None, None)
    except Exception:  # noqa: BLE001 - telemetry never breaks the agent
        logger.exception("waxell-observe: could not complete the LangChain handler's run")


class OwnRun:
    """Mixin: the handler's own run (``agent_name`` ... ``client`` are the handler's)."""

    agent_name: str
    workflow_name: str
    session_id: str
    user_id: str
    user_group: str
    client: Any
    _lock: threading.Lock
    _own: WaxellContext | None
    _finalizer: weakref.finalize[Any, Any] | None

    @property
    def run_id(self) -> str:
        """Id of the handler's own open run, or ``""`` (none open, or recording onto another run)."""
        own = self._own
        return own.run_id if own is not None else ""

    def _new_context(self, inputs: Any) -> WaxellContext:
        if inputs is None:
            run_inputs = None
        else:
            data = bounded(inputs, get_config())
            run_inputs = data if isinstance(data, dict) else {"input": data}
        return WaxellContext(
            agent_name=self.agent_name,
            workflow_name=self.workflow_name,
            inputs=run_inputs,
            metadata={"integration": FRAMEWORK},
            client=self.client,
            session_id=self.session_id,
            user_id=self.user_id,
            user_group=self.user_group,
        )

    def _adopt(self, ctx: WaxellContext) -> WaxellContext:
        self._own = ctx
        if ctx.run is not None:
            self._finalizer = weakref.finalize(self, _close_run, ctx)
        return ctx

    def _own_context(self, inputs: Any) -> WaxellContext | None:
        own = self._own
        if own is not None:
            return own
        with self._lock:
            if self._own is None:
                ctx = self._new_context(inputs)
                # Entered in a copy of the context: the run is the handler's, it must not
                # become the caller's current run.
                contextvars.copy_context().run(ctx.__enter__)
                self._adopt(ctx)
            return self._own

    def start(self, inputs: Any = None) -> str:
        """Open the handler's own run now (otherwise the first callback does). Returns its id."""
        ctx = self._own_context(inputs)
        return ctx.run_id if ctx is not None else ""

    async def astart(self, inputs: Any = None) -> str:
        """:meth:`start` for async code: the pre-execution policy check does not block the loop."""
        if self._own is None:
            ctx = self._new_context(inputs)
            # A task runs in its own copy of the context, so the run does not become current here.
            await asyncio.ensure_future(ctx.__aenter__())
            with self._lock:
                if self._own is None:
                    self._adopt(ctx)
                    return ctx.run_id
            await ctx.__aexit__(None, None, None)  # another callback opened one meanwhile
        own = self._own
        return own.run_id if own is not None else ""

    def _detach(self) -> WaxellContext | None:
        with self._lock:
            ctx, self._own = self._own, None
            finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
        return ctx

    def flush_sync(self, result: Any = None) -> str:
        """Complete the handler's own run (``result`` becomes its result) and return its id.

        The next callback opens a new run. Returns ``""`` when no run was open. Runs still
        in flight in LangChain when this is called record nothing more on the completed run.
        """
        ctx = self._detach()
        if ctx is None:
            return ""
        if result is not None:
            ctx.set_result(result)
        ctx.__exit__(None, None, None)
        return ctx.run_id

    async def flush(self, result: Any = None) -> str:
        """:meth:`flush_sync` for async code (the post-execution policy check does not block)."""
        ctx = self._detach()
        if ctx is None:
            return ""
        if result is not None:
            ctx.set_result(result)
        await ctx.__aexit__(None, None, None)
        return ctx.run_id

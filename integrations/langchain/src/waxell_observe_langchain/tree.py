"""Run-tree bookkeeping: where each LangChain run sits, and where its records go.

Each LangChain run keeps its place in the tree: its ``run_id`` becomes our span id and its
``parent_run_id`` the ``parent_span_id`` of what it records. A hidden run (tagged
``langsmith:hidden``) records nothing and lends its parent's span id to its children. The
links live in the registries of :mod:`waxell_observe_langchain.state`, shared by every
handler; the runs between their start and end callbacks live in the handler's ``_runs``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from uuid import UUID

from waxell_observe.current import current_context
from waxell_observe_langchain.state import (
    RETRY_TAG,
    Pending,
    describe_error,
    explicit_claims,
    last_errors,
    links,
    offered_tools,
)

if TYPE_CHECKING:
    from waxell_observe.context import WaxellContext

__all__ = ["RunTree"]


class RunTree:
    """Mixin: a handler's pending runs, their links in the tree and the run they record onto.

    The handler supplies ``_own_context(inputs)`` (the run of its own, or ``None``) and
    ``_explicit`` (True for a handler the user created: it claims the runs it sees).
    """

    _explicit: bool
    _runs: dict[UUID, Pending]

    if TYPE_CHECKING:

        def _own_context(self, inputs: Any) -> WaxellContext | None: ...

    def _target(self, inputs: Any) -> WaxellContext | None:
        """The run records go to: the current run while it is running, else the handler's own."""
        ctx = current_context.get()
        if ctx is not None:
            run = ctx.run
            if run is not None and run.status == "running":
                return ctx
        return self._own_context(inputs)

    def _start(
        self, kind: str, name: str, run_id: UUID, kwargs: dict[str, Any], inputs: Any, *, hidden: bool = False
    ) -> Pending:
        """Open LangChain run ``run_id`` (a chain, model, tool or retriever) under its parent.

        ``kwargs`` are the start callback's keyword arguments (``parent_run_id``, ``tags``);
        ``inputs`` what the run was given (the first input opens the handler's own run).
        """
        parent_run_id: UUID | None = kwargs.get("parent_run_id")
        tags: list[str] | None = kwargs.get("tags")
        link = links.get(parent_run_id) if parent_run_id is not None else None
        if link is not None:
            parent_span_id, root = link
        else:
            parent_span_id, root = "", parent_run_id or run_id
        run_hex = run_id.hex
        span_id = parent_span_id if hidden else run_hex
        target = self._target(inputs)
        # Positional (in field order): on this path, once per callback pair, keyword
        # arguments would cost twice as much.
        pending = Pending(
            kind,
            name,
            run_hex,
            span_id,
            parent_span_id,
            parent_run_id,
            root,
            target,
            time.time(),  # started_at
            time.perf_counter(),  # t0
            list(tags) if tags else [],
            hidden,
        )
        for tag in pending.tags:
            if tag.startswith(RETRY_TAG) and tag[len(RETRY_TAG) :].isdigit():
                pending.retry_attempt = int(tag[len(RETRY_TAG) :])
        links[run_id] = (span_id, root)
        self._runs[run_id] = pending
        if self._explicit:
            explicit_claims[run_id] = explicit_claims.get(run_id, 0) + 1
        return pending

    def _finish(self, run_id: UUID, error: BaseException | None = None) -> Pending | None:
        """Close LangChain run ``run_id``: its pending record (``None`` if it was never opened).

        A failure is remembered for the parent (what a retry attempt of it retries).
        """
        pending = self._runs.pop(run_id, None)
        links.pop(run_id, None)
        last_errors.pop(run_id, None)
        if pending is None:
            return None
        if error is not None and not isinstance(error, GeneratorExit):
            last_errors[pending.parent_run_id] = describe_error(error)
        if self._explicit:
            count = explicit_claims.pop(run_id, 0) - 1
            if count > 0:
                explicit_claims[run_id] = count
        if pending.root == run_id:
            offered_tools.pop(run_id, None)
        return pending

    def _deferred(self, run_id: UUID) -> bool:
        """True when another handler records this run (see ``AutoLangChainHandler``)."""
        return False

    def _placement(self, run_id: UUID) -> tuple[WaxellContext, str, UUID] | None:
        """Where a record made on behalf of LangChain run ``run_id`` goes, its parent span and
        root run; ``None`` when it is not this handler's to record or has nowhere to go."""
        if self._deferred(run_id):
            return None
        pending = self._runs.get(run_id)
        link = links.get(run_id)
        parent_span_id, root = link if link is not None else ("", run_id)
        target = pending.target if pending is not None else self._target(None)
        if target is None:
            return None
        return target, parent_span_id, root

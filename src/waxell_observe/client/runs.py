"""The client's run methods: start, record, complete, daily runs, live previews, memory."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from waxell_observe.client import builders
from waxell_observe.client.base import ClientBase
from waxell_observe.client.loop import run_sync
from waxell_observe.types import DailyRunInfo, RunCompleteResult, RunInfo

__all__ = ["RunMethods"]

logger = logging.getLogger("waxell_observe")

PARTIAL_TIMEOUT = 3.0

Records = Sequence[Mapping[str, Any]]


def _str(reply: Mapping[str, Any], key: str) -> str:
    value = reply.get(key)
    return "" if value is None else str(value)


class RunMethods(ClientBase):
    async def start_run(
        self,
        agent_name: str,
        workflow_name: str = "default",
        inputs: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        trace_id: str = "",
        user_id: str = "",
        user_group: str = "",
        session_id: str = "",
        parent_workflow_id: str = "",
        root_workflow_id: str = "",
        pre_execution_evaluations: Records | None = None,
        agent_slug: str = "",
        agent_id: str = "",
        interaction_mode: str = "",
    ) -> RunInfo:
        """POST ``runs/start/``: open a run. ``agent_slug`` / ``agent_id`` default to the configured
        identity (``WAXELL_AGENT_SLUG``, ``WAXELL_AGENT_EXTERNAL_ID``). Ids are ``""`` on failure."""
        reply = await self._call(
            builders.start_run(
                agent_name=agent_name,
                workflow_name=workflow_name,
                inputs=inputs,
                metadata=metadata,
                trace_id=trace_id,
                user_id=user_id,
                user_group=user_group,
                session_id=session_id,
                parent_workflow_id=parent_workflow_id,
                root_workflow_id=root_workflow_id,
                pre_execution_evaluations=pre_execution_evaluations,
                agent_slug=agent_slug or self._agent_slug(),
                agent_id=agent_id or self._agent_external_id(),
                interaction_mode=interaction_mode,
            )
        )
        return RunInfo(_str(reply, "run_id"), _str(reply, "workflow_id"), _str(reply, "started_at"))

    def start_run_sync(self, **kwargs: Any) -> RunInfo:
        """Blocking :meth:`start_run` (keyword arguments only)."""
        return run_sync(self.start_run(**kwargs))

    async def complete_run(
        self,
        run_id: str,
        result: Mapping[str, Any] | None = None,
        status: str = "success",
        error: str = "",
        error_type: str = "",
        traceback: str = "",
        steps: Records | None = None,
        trace_id: str = "",
        root_span_id: str = "",
        conversation_state: Mapping[str, Any] | None = None,
    ) -> RunCompleteResult:
        """POST ``runs/{run_id}/complete/``: close the run; the post-execution governance outcome."""
        reply = await self._call(
            builders.complete_run(
                run_id=run_id,
                result=result,
                status=status,
                error=error,
                error_type=error_type,
                traceback=traceback,
                steps=steps,
                trace_id=trace_id,
                root_span_id=root_span_id,
                conversation_state=conversation_state,
            )
        )
        found = reply.get("governance")
        governance: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        duration = reply.get("duration")
        max_retries = governance.get("max_retries")
        return RunCompleteResult(
            run_id=_str(reply, "run_id") or run_id,
            duration=float(duration) if isinstance(duration, (int, float)) else None,
            governance_action=str(governance.get("action") or "allow"),
            governance_reason=str(governance.get("reason") or ""),
            retry_feedback=str(governance.get("retry_feedback") or ""),
            max_retries=max_retries if isinstance(max_retries, int) else 0,
        )

    def complete_run_sync(self, **kwargs: Any) -> RunCompleteResult:
        """Blocking :meth:`complete_run` (keyword arguments only)."""
        return run_sync(self.complete_run(**kwargs))

    async def record_llm_calls(
        self, run_id: str, calls: Records, conversation_state: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST ``runs/{run_id}/llm-calls/`` (nothing is sent for no calls): the raw reply."""
        if not calls:
            return {}
        req = builders.llm_calls(run_id=run_id, calls=calls, conversation_state=conversation_state)
        return await self._call(req)

    def record_llm_calls_sync(self, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`record_llm_calls` (keyword arguments only)."""
        return run_sync(self.record_llm_calls(**kwargs))

    async def record_steps(
        self, run_id: str, steps: Records, conversation_state: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST ``runs/{run_id}/steps/``: the raw reply (which may carry a governance answer)."""
        return await self._call(
            builders.steps(run_id=run_id, steps=steps, conversation_state=conversation_state)
        )

    def record_steps_sync(self, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`record_steps` (keyword arguments only)."""
        return run_sync(self.record_steps(**kwargs))

    async def record_scores(self, run_id: str, scores: Records) -> dict[str, Any]:
        """POST ``runs/{run_id}/scores/`` (nothing is sent for no scores)."""
        return (
            await self._call(builders.records(run_id=run_id, kind="scores", items=scores)) if scores else {}
        )

    def record_scores_sync(self, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`record_scores` (keyword arguments only)."""
        return run_sync(self.record_scores(**kwargs))

    async def record_spans(self, run_id: str, spans: Records) -> dict[str, Any]:
        """POST ``runs/{run_id}/spans/`` (nothing is sent for no spans)."""
        return await self._call(builders.records(run_id=run_id, kind="spans", items=spans)) if spans else {}

    def record_spans_sync(self, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`record_spans` (keyword arguments only)."""
        return run_sync(self.record_spans(**kwargs))

    async def start_daily_run(
        self, agent_slug: str, agent_type: str = "mcp", date: str | None = None
    ) -> DailyRunInfo:
        """POST ``runs/daily/``: the agent's one run of ``date`` (``YYYY-MM-DD``; today when None)."""
        reply = await self._call(builders.daily_run(agent_slug=agent_slug, agent_type=agent_type, date=date))
        return DailyRunInfo(
            _str(reply, "run_id"),
            _str(reply, "workflow_id"),
            _str(reply, "started_at"),
            _str(reply, "date"),
            bool(reply.get("created", False)),
        )

    def start_daily_run_sync(self, **kwargs: Any) -> DailyRunInfo:
        """Blocking :meth:`start_daily_run` (keyword arguments only)."""
        return run_sync(self.start_daily_run(**kwargs))

    def publish_partial_output(
        self,
        *,
        run_id: str,
        partial: str,
        chunk_count: int | None = None,
        model: str = "",
        done: bool = False,
    ) -> None:
        """POST ``runs/{run_id}/partial/`` from a daemon thread (3 s, errors ignored): a live preview
        of a streaming answer. Nothing is sent without a ``run_id`` or a configured client."""
        if not run_id or not self.config.api_url:
            return
        req = builders.partial_output(
            run_id=run_id, partial=partial, chunk_count=chunk_count, model=model, done=done
        )

        def post() -> None:
            try:
                self.send_sync(req, timeout=PARTIAL_TIMEOUT)
            except Exception:  # noqa: BLE001 - a preview is best effort
                logger.debug("waxell-observe: partial output not published", exc_info=True)

        threading.Thread(target=post, name="waxell-partial-output", daemon=True).start()

    async def write_episodic_memory(
        self,
        *,
        run_id: str,
        slot_name: str,
        scope_key: str,
        data: Any,
        memory_type: str | None = None,
        ttl_seconds: int | None = None,
        max_items: int | None = None,
    ) -> dict[str, Any]:
        """POST ``/api/v1/observability/runs/{run_id}/memory/episodic/``: the raw reply."""
        return await self._call(
            builders.episodic_memory(
                run_id=run_id,
                slot_name=slot_name,
                scope_key=scope_key,
                data=data,
                memory_type=memory_type,
                ttl_seconds=ttl_seconds,
                max_items=max_items,
            )
        )

    def write_episodic_memory_sync(self, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`write_episodic_memory` (keyword arguments only)."""
        return run_sync(self.write_episodic_memory(**kwargs))

    async def write_semantic_fact(
        self,
        *,
        run_id: str,
        slot_name: str,
        scope_key: str,
        content: str,
        content_embedding: Sequence[float],
        importance: float = 0.7,
        tags: Sequence[str] | None = None,
        fact_key: str | None = None,
        source_tool: str = "",
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """POST ``/api/v1/observability/runs/{run_id}/memory/semantic/``: the raw reply."""
        return await self._call(
            builders.semantic_fact(
                run_id=run_id,
                slot_name=slot_name,
                scope_key=scope_key,
                content=content,
                content_embedding=content_embedding,
                importance=importance,
                tags=tags,
                fact_key=fact_key,
                source_tool=source_tool,
                metadata=metadata,
            )
        )

    def write_semantic_fact_sync(self, **kwargs: Any) -> dict[str, Any]:
        """Blocking :meth:`write_semantic_fact` (keyword arguments only)."""
        return run_sync(self.write_semantic_fact(**kwargs))

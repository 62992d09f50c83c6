"""Behaviour spans: tool calls, retrievals, decisions, reasoning, retries, policy checks, and
spans of any kind recorded by integrations."""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any, cast

from waxell_observe.context import span_cap as _span_cap
from waxell_observe.context.base import ContextBase
from waxell_observe.context.checks import (
    DECISION_SOURCES,
    RETRY_STRATEGIES,
    SPAN_ID_PATTERN,
    SPAN_KINDS_SORTED,
    TOOL_STATUSES,
    check_choice,
    check_duration,
    check_name,
)
from waxell_observe.context.open_spans import OPEN as _OPEN
from waxell_observe.context.open_spans import innermost as innermost_open_span
from waxell_observe.gating import recorders as _gates
from waxell_observe.gating.evaluate import idle as gate_idle
from waxell_observe.plugins import record_hooks
from waxell_observe.records import SPAN_KINDS, SpanRecord, new_id
from waxell_observe.records import _take as _take_id
from waxell_observe.redaction import redact
from waxell_observe.serialize import jsonable, to_jsonable

if TYPE_CHECKING:
    from waxell_observe.context.signals import SignalMethods
    from waxell_observe.run import Run

logger = logging.getLogger("waxell_observe")

_INF = math.inf
_time = time.time
_new_object = object.__new__
_TRACEBACK_LIMIT = 16_000


class SpanMethods(ContextBase):
    """The span-recording methods of :class:`~waxell_observe.WaxellContext`."""

    __slots__ = ()

    def record_span(
        self,
        kind: str,
        name: str,
        *,
        status: str = "ok",
        duration_ms: float | None = None,
        attributes: dict[str, Any] | None = None,
        input: Any = None,
        output: Any = None,
        error: str = "",
        parent_span_id: str = "",
        started_at: float | None = None,
        span_id: str = "",
    ) -> SpanRecord | None:
        """Record a span of any kind (used by integrations for chains, agents, custom spans).

        ``span_id`` (32 hex characters) lets an integration choose the span's id up front, so
        children recorded before the span itself can name it as their ``parent_span_id``.
        """
        if kind.__class__ is not str or kind not in SPAN_KINDS:
            check_choice(kind, SPAN_KINDS_SORTED, "span kind")
        if name.__class__ is not str or not name.strip():
            check_name(name, "span name")
        if status != "ok" and status != "error":
            check_choice(status, TOOL_STATUSES, "status")
        if span_id and not (isinstance(span_id, str) and SPAN_ID_PATTERN.match(span_id)):
            raise ValueError(f"span_id must be 32 lowercase hex characters, got {span_id!r}")
        run = self._run
        if run is None or self._finished:
            self._active_run("record_span")  # logs why the record is ignored
            return None
        return self._span(
            run,
            kind,
            name,
            status,
            None if duration_ms is None else check_duration(duration_ms),
            to_jsonable(attributes, where="span attributes") if attributes else {},
            to_jsonable(input, where="span input"),
            to_jsonable(output, where="span output"),
            error,
            parent_span_id,
            started_at,
            span_id,
        )

    def record_tool_call(
        self,
        name: str,
        input: dict[str, Any] | str = "",
        output: dict[str, Any] | str = "",
        duration_ms: float | None = None,
        status: str = "ok",
        tool_type: str = "function",
        error: str = "",
        *,
        _skip_otel: bool = False,
        _skip_step: bool = False,
        _skip_gate: bool = False,
        _skip_flush: bool = False,
    ) -> SpanRecord | None:
        """Record a tool or function call. With ``mid_execution_governance`` the run is then
        flushed (a control plane's governance answer applies), unless ``_skip_flush``; the
        reference SDK's other ``_skip_*`` flags are accepted."""
        if name.__class__ is not str or not name.strip():
            check_name(name, "tool name")
        if status != "ok" and status != "error":
            check_choice(status, TOOL_STATUSES, "status")
        duration = None if duration_ms is None else check_duration(duration_ms)
        run = self._run
        if run is None or self._finished:
            self._active_run("record_tool_call")  # logs why the record is ignored
            return None
        run.tool_call_count += 1
        run.tool_names.append(name)
        attributes: dict[str, Any] = {"tool_type": tool_type}
        if error:
            attributes["error"] = error
        input = jsonable(input, "input of tool %r", name)
        output = jsonable(output, "output of tool %r", name)
        gate = None
        if not _skip_gate and not gate_idle(self):
            gate = _gates.detect_after(
                self, "tool.after", _gates.tool_after_signal(name, input, output, status, error)
            )
            if gate.action == "redact":
                input, output = redact(input), redact(output)
        # _span(run, "tool", name, status, duration, attributes, input, output, error, "", None, "") written
        # out
        try:
            run.span_count += 1
            position = run._positions = run._positions + 1
            try:
                span_id = _take_id()  # new_id() written out
            except IndexError:
                span_id = new_id()
            span = SpanRecord(
                "tool",
                name,
                status,
                duration,
                _time() - (duration or 0.0) / 1000.0,
                attributes,
                input,
                output,
                position,
                span_id,
                innermost_open_span(run.run_id) if _OPEN[0] else "",
                error,
            )
            if run.span_count <= run._span_room or _span_cap.admit(run, span):
                hooks = run._hooks
                if not hooks.valid:
                    hooks = record_hooks(run)
                try:
                    hooks.on_span(run, span)
                except Exception:  # noqa: BLE001 - a plugin never breaks the agent
                    hooks.failed("on_span")
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: failed to record a %s span", "tool")
            span = None
        if gate is not None and gate.should_act:
            _gates.enforce_after(self, gate)
        if self.mid_execution_governance and not _skip_flush:
            self._mid_execution_flush(run)
        return span

    def record_retrieval(
        self,
        query: str,
        documents: list[dict[str, Any]],
        source: str = "",
        duration_ms: float | None = None,
        top_k: int | None = None,
        scores: list[float] | None = None,
    ) -> SpanRecord | None:
        """Record a RAG document retrieval."""
        if not isinstance(query, str):
            raise ValueError(f"query must be a string, got {type(query).__name__}")
        if not isinstance(documents, (list, tuple)):
            raise ValueError(f"documents must be a list of dicts, got {type(documents).__name__}")
        duration = check_duration(duration_ms)
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0):
            raise ValueError(f"top_k must be a non-negative integer or None, got {top_k!r}")
        run = self._active_run("record_retrieval")
        if run is None:
            return None
        docs = to_jsonable(list(documents), where="retrieved documents")
        gate = (
            None
            if gate_idle(self)
            else _gates.detect_after(
                self, "retrieval.after", _gates.retrieval_signal(query, docs, source, scores, top_k)
            )
        )
        if gate is not None and gate.redacted_signal is not None:
            query = gate.redacted_signal.get("query", query)
            docs = gate.redacted_signal.get("documents", docs)
        attributes: dict[str, Any] = {"source": source, "document_count": len(docs)}
        if top_k is not None:
            attributes["top_k"] = top_k
        if scores is not None:
            attributes["scores"] = to_jsonable(list(scores), where="retrieval scores")
        span = self._add_span(
            run,
            "retrieval",
            source or "retrieval",
            duration_ms=duration,
            attributes=attributes,
            input={"query": query},
            output={"documents": docs},
        )
        if self.auto_grounding and scores:
            # the reference's auto_grounding: the scores are grounding scores too (that records
            # the grounding signal and flushes with mid-execution governance)
            signals = cast("SignalMethods", self)
            signals.record_grounding(grounding_scores=[float(s) for s in scores])
        elif self.mid_execution_governance:
            self._mid_execution_flush(run)
        if gate is not None and gate.should_act:
            _gates.enforce_after(self, gate)
        return span

    def record_decision(
        self,
        name: str,
        options: list[str],
        chosen: str,
        reasoning: str = "",
        confidence: float | None = None,
        metadata: dict[str, Any] | None = None,
        instrumentation_type: str = "manual",
    ) -> SpanRecord | None:
        """Record a decision or routing point."""
        check_name(name, "decision name")
        if not isinstance(options, (list, tuple)):
            raise ValueError(f"options must be a list of strings, got {type(options).__name__}")
        if confidence is not None:
            if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
                raise ValueError(f"confidence must be a number between 0 and 1, got {confidence!r}")
            if not 0.0 <= confidence <= 1.0:
                raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
        check_choice(instrumentation_type, DECISION_SOURCES, "instrumentation_type")
        run = self._active_run("record_decision")
        if run is None:
            return None
        attributes: dict[str, Any] = {
            "reasoning": reasoning,
            "confidence": confidence,
            "instrumentation_type": instrumentation_type,
        }
        if metadata:
            attributes["metadata"] = to_jsonable(metadata, where=f"metadata of decision {name!r}")
        choices = to_jsonable(list(options), where="decision options")
        choice = to_jsonable(chosen, where="decision choice")
        decision = {
            "name": name,
            "options": choices,
            "chosen": choice,
            "reasoning": reasoning,
            "confidence": confidence,
        }
        self._reasoning_data(run, decision, 0)
        return self._add_span(
            run,
            "decision",
            name,
            attributes=attributes,
            input={"options": choices},
            output={"chosen": choice},
        )

    def _reasoning_data(self, run: Run, decision: dict[str, Any] | None, depth: int) -> None:
        """The conversation state's ``reasoning_data``: decisions made, reasoning steps taken."""
        conversation = self._ensure_conversation(run)
        reasoning = conversation.signal("reasoning_data") or {"decisions": [], "reasoning_depth": 0}
        if decision is not None:
            reasoning["decisions"] = [*reasoning.get("decisions", []), decision]
        reasoning["reasoning_depth"] = reasoning.get("reasoning_depth", 0) + depth
        conversation.set_signal("reasoning_data", reasoning)

    def record_reasoning(
        self, step: str, thought: str, evidence: list[str] | None = None, conclusion: str = ""
    ) -> SpanRecord | None:
        """Record a reasoning or chain-of-thought step."""
        check_name(step, "reasoning step")
        if not isinstance(thought, str):
            raise ValueError(f"thought must be a string, got {type(thought).__name__}")
        run = self._active_run("record_reasoning")
        if run is None:
            return None
        self._reasoning_data(run, None, 1)
        return self._add_span(
            run,
            "reasoning",
            step,
            attributes={
                "thought": thought,
                "evidence": to_jsonable(list(evidence), where="evidence") if evidence else [],
                "conclusion": conclusion,
            },
        )

    def record_retry(
        self,
        attempt: int,
        reason: str,
        strategy: str = "retry",
        original_error: str = "",
        fallback_to: str = "",
        max_attempts: int | None = None,
    ) -> SpanRecord | None:
        """Record a retry or fallback event."""
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"attempt must be an integer >= 1 (1-based), got {attempt!r}")
        check_choice(strategy, RETRY_STRATEGIES, "strategy")
        if max_attempts is not None and (isinstance(max_attempts, bool) or not isinstance(max_attempts, int)):
            raise ValueError(f"max_attempts must be an integer or None, got {max_attempts!r}")
        run = self._active_run("record_retry")
        if run is None:
            return None
        run.retry_count += 1
        return self._add_span(
            run,
            "retry",
            strategy,
            attributes={
                "attempt": attempt,
                "reason": reason,
                "strategy": strategy,
                "original_error": original_error,
                "fallback_to": fallback_to,
                "max_attempts": max_attempts,
            },
        )

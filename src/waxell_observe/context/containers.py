"""Container spans: ``enter_span`` opens a span that the records made until ``exit_span`` nest
under (their ``parent_span_id``), for agent phases no recording method describes."""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from waxell_observe.context import open_spans
from waxell_observe.context import span_cap as _span_cap
from waxell_observe.context.base import ContextBase, _call_hook
from waxell_observe.context.checks import TOOL_STATUSES, check_choice, check_name
from waxell_observe.records import SPAN_KINDS, SpanRecord, new_id
from waxell_observe.serialize import to_jsonable

__all__ = ["SpanContainerMethods", "OPENINFERENCE_KINDS"]

logger = logging.getLogger("waxell_observe")

OPENINFERENCE_KINDS = {
    "tool": "TOOL",
    "agent": "AGENT",
    "llm": "LLM",
    "retrieval": "RETRIEVER",
    "embedding": "EMBEDDING",
}
"""The ``openinference.span.kind`` a container of each kind gets (unless its attributes give one)."""

_STACKTRACE_CHARS = 4000


class SpanContainerMethods(ContextBase):
    """``enter_span`` / ``exit_span`` of :class:`~waxell_observe.WaxellContext`."""

    __slots__ = ()

    def enter_span(
        self,
        name: str,
        *,
        kind: str = "custom",
        attributes: dict[str, Any] | None = None,
        input_data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Open a container span; return its handle for :meth:`exit_span` (``{}`` without a run).

        Spans, LLM calls and tool calls recorded until it is exited (in the same thread or task)
        name it as their parent. ``kind`` is a span kind; another name (``embedding``, ...) is
        recorded as ``custom`` with the attribute ``span.kind``. The span is recorded when exited,
        at the position it was opened at.
        """
        check_name(name, "span name")
        if attributes is not None and not isinstance(attributes, dict):
            raise ValueError(f"attributes must be a dict or None, got {type(attributes).__name__}")
        run = self._active_run("enter_span")
        if run is None:
            return {}
        values = to_jsonable(attributes, where=f"attributes of span {name!r}") if attributes else {}
        ours = kind if kind in SPAN_KINDS else "custom"
        if ours != kind:
            values.setdefault("span.kind", str(kind))
        openinference = OPENINFERENCE_KINDS.get(kind)
        if openinference is not None:
            values.setdefault("openinference.span.kind", openinference)
        if kind == "tool":
            self._ensure_conversation(run).use_tool(name)
        span_id = new_id()
        parent = open_spans.innermost(run.run_id)
        started_at = time.time()
        span = {
            "name": name,
            "kind": ours,
            "attributes": values,
            "input_data": None
            if input_data is None
            else to_jsonable(input_data, where=f"input of span {name!r}"),
            "id": span_id,
            "parent_span_id": parent,
            "started_at": started_at,
        }
        position = run.next_position()
        token = open_spans.push(run.run_id, span_id)
        return {"span": span, "position": position, "token": token, "start_ms": started_at * 1000.0}

    def exit_span(
        self,
        handle: dict[str, Any] | None,
        *,
        output_data: dict[str, Any] | None = None,
        status: str = "ok",
        error: str = "",
        exc: BaseException | None = None,
    ) -> SpanRecord | None:
        """Close a container span opened by :meth:`enter_span` and record it (no-op for an empty
        handle). ``exc`` marks it as an error with ``error.type``, ``error.message`` and
        ``exception.stacktrace`` (at most 4000 characters) attributes."""
        if not handle:
            return None
        span = handle.get("span")
        if not isinstance(span, dict):
            return None
        open_spans.pop(span["id"], handle.get("token"))
        if exc is not None:
            status = "error"
        check_choice(status, TOOL_STATUSES, "status")
        run = self._active_run("exit_span")
        if run is None:
            return None
        try:
            attributes: dict[str, Any] = span["attributes"]
            if error:
                attributes["error"] = str(error)
            if exc is not None:
                attributes["error.type"] = type(exc).__name__
                attributes["error.message"] = str(exc)
                trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                attributes["exception.stacktrace"] = trace[-_STACKTRACE_CHARS:]
            output = (
                None
                if output_data is None
                else to_jsonable(output_data, where=f"output of span {span['name']!r}")
            )
            started_at: float = span["started_at"]
            record = SpanRecord(
                span["kind"],
                span["name"],
                status,
                round(max(time.time() - started_at, 0.0) * 1000.0, 3),
                started_at,
                attributes,
                span["input_data"],
                output,
                handle.get("position") or run.next_position(),
                span["id"],
                span["parent_span_id"],
                str(error) or (f"{type(exc).__name__}: {exc}" if exc is not None else ""),
            )
            run.span_count += 1
            if run.span_count <= run._span_room or _span_cap.admit(run, record):
                _call_hook(run, "on_span", record)
            return record
        except Exception:  # noqa: BLE001 - telemetry never breaks the agent
            logger.exception("waxell-observe: failed to record span %r", span.get("name"))
            return None

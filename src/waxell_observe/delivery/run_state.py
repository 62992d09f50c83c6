"""What is still to be delivered for one run, already encoded for the wire and for the spool.

A :class:`RunState` holds a run's undelivered start, records (by endpoint) and completion.
Each record is kept as its JSON text, encoded once by the delivery worker: request bodies
and spool segments are then assembled by joining texts, so writing thousands of pending runs
to disk at interpreter exit costs string joins, not encoding.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from waxell_observe.transport import wire

if TYPE_CHECKING:
    from waxell_observe.governance.results import PolicyCheckResult
    from waxell_observe.run import Run

__all__ = ["BODY_KEYS", "ENDPOINTS", "RECORD_KINDS", "Record", "RunState", "encode"]

encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
"""Compact JSON text of a wire value (non-finite floats are a bug upstream: refused)."""

RECORD_KINDS = ("llm_calls", "spans", "steps", "scores")
"""Record endpoints in delivery order: spans before steps, so a server that also derives spans
from behaviour steps (same ids) keeps the exact span."""
BODY_KEYS = {"llm_calls": "calls", "spans": "spans", "steps": "steps", "scores": "scores"}
ENDPOINTS = {"llm_calls": "llm-calls", "spans": "spans", "steps": "steps", "scores": "scores"}

Record = tuple[int, str, int]
"""A buffered record: ``(sequence, JSON text, weight)``. The sequence (assigned by the worker in
queue order) tells a flush when everything queued before it is settled; the weight is how many
queued items the record stands for (0 for the ``_kind`` step twin of a behaviour span)."""


class RunState:
    """The undelivered part of one run (``live``: from this process's queue; else from the spool)."""

    __slots__ = (
        "busy",
        "complete",
        "conversation_sent",
        "dead",
        "governance",
        "live",
        "llm_calls",
        "run",
        "run_id",
        "scores",
        "server_id",
        "span_positions",
        "spans",
        "start",
        "started_at",
        "steps",
        "warned_block",
        "workflow_id",
    )

    def __init__(self, run_id: str, *, live: bool = True) -> None:
        self.run_id = run_id
        self.run: Run | None = None
        self.live = live
        self.start: tuple[int, dict[str, Any], str] | None = None
        self.complete: tuple[int, str] | None = None
        self.llm_calls: list[Record] = []
        self.steps: list[Record] = []
        self.spans: list[Record] = []
        self.scores: list[Record] = []
        self.server_id = ""
        self.workflow_id = ""
        self.started_at = 0.0
        self.span_positions: dict[str, int] | None = None
        self.governance: list[PolicyCheckResult] | None = None
        self.dead = False
        self.busy = False
        """A request for this run is in flight (it must not be spilled meanwhile)."""
        self.warned_block = False
        self.conversation_sent = ""
        """JSON text of the last ``conversation_state`` the server acknowledged."""

    def has_pending(self) -> bool:
        """True when anything (start, records, completion) is still to be sent."""
        return bool(
            self.start is not None
            or self.complete is not None
            or self.llm_calls
            or self.spans
            or self.steps
            or self.scores
        )

    def weight(self) -> int:
        """Queued items not yet delivered (what the delivery counters count)."""
        count = (self.start is not None) + (self.complete is not None)
        for buffer in (self.llm_calls, self.spans, self.steps, self.scores):
            for record in buffer:
                count += record[2]
        return count

    def oldest(self) -> int | None:
        """The smallest sequence still pending (``None`` when nothing is)."""
        candidates = [buffer[0][0] for buffer in (self.llm_calls, self.steps, self.spans, self.scores) if buffer]
        if self.start is not None:
            candidates.append(self.start[0])
        if self.complete is not None:
            candidates.append(self.complete[0])
        return min(candidates) if candidates else None

    def clear(self) -> int:
        """Forget everything pending; returns its weight."""
        count = self.weight()
        self.start = self.complete = None
        self.llm_calls, self.steps, self.spans, self.scores = [], [], [], []
        return count

    def start_body(self, map_id: Any) -> dict[str, Any]:
        """The ``runs/start/`` body, with parent/root run ids mapped by ``map_id`` (our id ->
        the server's workflow id)."""
        assert self.start is not None
        body = self.start[1]
        if not body.get("trace_id") and self.run is not None:
            trace_id = wire.trace_context(self.run)[0]
            if trace_id:  # the exporter traced the run after the start body was built
                body = {**body, "trace_id": trace_id}
        if body.get("parent_workflow_id") or body.get("root_workflow_id"):
            body = dict(body)
            for field in ("parent_workflow_id", "root_workflow_id"):
                if body.get(field):
                    body[field] = map_id(body[field])
        return body

    # -- the spool form ---------------------------------------------------------------------------

    def entry_text(self) -> str:
        """This state as one spool line (JSON object text), assembled from the encoded parts."""
        parts = ['{"run_id":', encode(self.run_id)]
        if self.server_id:
            parts += [',"server_run_id":', encode(self.server_id), ',"workflow_id":', encode(self.workflow_id or self.server_id)]
        if self.start is not None:
            parts += [',"start":', self.start[2]]
        for kind in RECORD_KINDS:
            records = getattr(self, kind)
            if not records:
                continue
            weighed = [text for _seq, text, weight in records if weight]
            twins = [text for _seq, text, weight in records if not weight]
            if weighed:
                parts += [f',"{kind}":[', ",".join(weighed), "]"]
            if twins:
                parts += [f',"{kind}_twins":[', ",".join(twins), "]"]
        if self.complete is not None:
            parts += [',"complete":', self.complete[1]]
        parts.append("}")
        return "".join(parts)

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> RunState:
        """A (not live) state from a spool line."""
        state = cls(str(entry["run_id"]), live=False)
        state.server_id = str(entry.get("server_run_id") or "")
        state.workflow_id = str(entry.get("workflow_id") or "")
        start = entry.get("start")
        if isinstance(start, dict):
            state.start = (0, start, encode(start))
        for kind in RECORD_KINDS:
            records: list[Record] = []
            for key, weight in ((kind, 1), (f"{kind}_twins", 0)):
                values = entry.get(key)
                if isinstance(values, list):
                    records.extend((0, encode(record), weight) for record in values if isinstance(record, dict))
            setattr(state, kind, records)
        complete = entry.get("complete")
        if isinstance(complete, dict):
            state.complete = (0, encode(complete))
        return state

    def __repr__(self) -> str:
        return f"RunState(run_id={self.run_id!r}, live={self.live}, pending={self.weight()})"

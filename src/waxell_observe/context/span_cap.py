"""The span cap of a run: ``WAXELL_MAX_SPANS_PER_RUN`` (default 50000, ``0`` turns it off).

A run that records more spans than the cap keeps:

* every span of a kind in :data:`~waxell_observe.vocabulary.SPAN_KINDS_KEPT_OVER_CAP` and every
  span with status ``error``, whatever their number;
* the head: the first ``cap - tail`` spans of the run, delivered as they are recorded;
* the tail: the last ``tail`` (a fifth of the cap) other spans. Past the head, the other spans wait
  in a ring of that size; a span pushed out of the ring is dropped, and what is left in the ring is
  delivered when the run ends.

The reference SDK samples the middle with a uniform stride too; ours delivers spans while the run
goes on (the journal, the live view), so it cannot know the stride before the run's end and keeps
no middle. When spans were dropped, the run's result gets ``_span_cap_hit``: ``{buffered, kept,
dropped, cap, dropped_by_kind, strategy: "priority_sampled"}``. The run's ``span_count`` counts
the kept spans.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from typing import TYPE_CHECKING, Any

from waxell_observe.vocabulary import SPAN_KINDS_KEPT_OVER_CAP

if TYPE_CHECKING:
    from waxell_observe.records import SpanRecord
    from waxell_observe.run import Run

__all__ = ["CAP_HIT_KEY", "DEFAULT_MAX_SPANS", "ENV_MAX_SPANS", "SpanCap", "admit", "finish", "max_spans"]

logger = logging.getLogger("waxell_observe")

ENV_MAX_SPANS = "WAXELL_MAX_SPANS_PER_RUN"
DEFAULT_MAX_SPANS = 50_000
CAP_HIT_KEY = "_span_cap_hit"
"""The key of the run's result that reports a cap hit."""
STRATEGY = "priority_sampled"

_warned: set[str] = set()
_environ_data: dict[bytes, bytes] | None = getattr(os.environ, "_data", None) if os.name == "posix" else None
_ENV_KEY = os.fsencode(ENV_MAX_SPANS)


def max_spans() -> int:
    """The cap from ``WAXELL_MAX_SPANS_PER_RUN``: a non-negative integer, ``0`` = no cap. A value that
    is not one is reported (once per value) and the default applies."""
    if _environ_data is not None:  # read once per run: os.environ's own mapping, no str round trip
        raw = _environ_data.get(_ENV_KEY)
        if raw is None:
            return DEFAULT_MAX_SPANS
        text = os.fsdecode(raw).strip()
    else:
        text = os.environ.get(ENV_MAX_SPANS, "").strip()
    if not text:
        return DEFAULT_MAX_SPANS
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        if text not in _warned:
            _warned.add(text)
            logger.error(
                "waxell-observe: %s must be a non-negative integer (0 = no cap), got %r; using %d",
                ENV_MAX_SPANS,
                text,
                DEFAULT_MAX_SPANS,
            )
        return DEFAULT_MAX_SPANS
    return value


class SpanCap:
    """The counts and the tail ring of one capped run."""

    __slots__ = ("cap", "head", "tail", "buffered", "delivered", "ring", "dropped_by_kind")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.tail = cap // 5
        self.head = cap - self.tail
        self.buffered = 0
        """Spans recorded on the run."""
        self.delivered = 0
        """Spans handed to the hooks so far."""
        self.ring: deque[SpanRecord] = deque()
        self.dropped_by_kind: dict[str, int] = {}

    @property
    def dropped(self) -> int:
        return sum(self.dropped_by_kind.values())

    def admit(self, span: SpanRecord) -> tuple[bool, SpanRecord | None]:
        """Whether to deliver ``span`` now, and the span dropped to make room (if one was)."""
        self.buffered += 1
        if self.delivered < self.head or span.kind in SPAN_KINDS_KEPT_OVER_CAP or span.status == "error":
            self.delivered += 1
            return True, None
        self.ring.append(span)
        if len(self.ring) <= self.tail:
            return False, None
        gone = self.ring.popleft()
        self.dropped_by_kind[gone.kind] = self.dropped_by_kind.get(gone.kind, 0) + 1
        return False, gone

    def summary(self) -> dict[str, Any]:
        dropped = self.dropped
        return {
            "buffered": self.buffered,
            "kept": self.buffered - dropped,
            "dropped": dropped,
            "cap": self.cap,
            "dropped_by_kind": dict(sorted(self.dropped_by_kind.items())),
            "strategy": STRATEGY,
        }


def admit(run: Run, span: SpanRecord) -> bool:
    """Called by the span paths once ``run.span_count`` passed ``run._span_room``: whether to announce
    ``span`` now. The first call sets the run's cap up (and widens the room to the head)."""
    cap = run._span_cap
    if cap is None:
        limit = max_spans()
        if limit == 0:
            run._span_room = math.inf
            return True
        head = limit - limit // 5
        if run.span_count <= head:  # within the head (most runs end there): nothing held, no SpanCap
            run._span_room = head
            return True
        cap = run._span_cap = SpanCap(limit)
    # The spans announced without asking (the run's span_count = delivered + held, this one included)
    cap.delivered = run.span_count - 1 - len(cap.ring)
    cap.buffered = run.span_count - 1 + cap.dropped
    deliver, gone = cap.admit(span)
    run._span_room = cap.head if cap.delivered < cap.head else 0
    if gone is not None:
        run.span_count -= 1
    return deliver


def finish(run: Run) -> list[SpanRecord]:
    """At the run's end: the spans still held (the tail) to announce, and ``_span_cap_hit`` on the
    run's result when spans were dropped."""
    cap = run._span_cap
    if cap is None:
        return []
    held = list(cap.ring)
    cap.ring.clear()
    cap.delivered += len(held)
    if cap.dropped:
        summary = cap.summary()
        run.result = {**run.result, CAP_HIT_KEY: summary}
        logger.warning(
            "waxell-observe: run %s recorded %d spans, over %s=%d: kept %d, dropped %d",
            run.run_id,
            summary["buffered"],
            ENV_MAX_SPANS,
            cap.cap,
            summary["kept"],
            summary["dropped"],
        )
    return held

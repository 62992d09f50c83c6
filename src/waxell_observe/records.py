"""The records a run is made of: LLM calls, steps, spans and scores.

Light, slotted objects created on the agent's thread and handed, unchanged, to every
sink. Their values are already JSON-safe copies (see :mod:`waxell_observe.serialize`).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

from waxell_observe.vocabulary import SPAN_KINDS as _SPAN_KIND_NAMES

__all__ = [
    "new_id",
    "short_id",
    "SHORT_ID_LENGTH",
    "LLMCallRecord",
    "StepRecord",
    "SpanRecord",
    "ScoreRecord",
    "SPAN_KINDS",
]

SPAN_KINDS = frozenset(_SPAN_KIND_NAMES)
"""Span kinds (:data:`waxell_observe.vocabulary.SPAN_KINDS`), as a set."""


_random = random.Random(os.urandom(32))
_POOL_SIZE = 256
"""Ids are made 256 at a time (one call for their random bits, split into strings by ``bytes.hex``):
a fraction of the cost of formatting one 128-bit number per id."""
_pool: list[str] = []
_take = _pool.pop


def _reseed() -> None:
    _random.seed(os.urandom(32))
    _pool.clear()  # never hand out ids the parent drew as well


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed)  # a forked child must not repeat the parent's ids


_SEQUENCE = bytes(range(_POOL_SIZE - 1, -1, -1))
"""The low byte of each id's sequence, in pool order (popped from the end: the first id handed out has 0)."""


def _refill() -> str:
    """Make the next 256 ids: the time in milliseconds (6 bytes), a sequence number within the batch
    (2) and 64 random bits (8), as 32 hex characters, so that ids sort by when they were made. The
    store's indexes (the primary keys, the records' ``run_id``) then grow at their end instead of at
    a random leaf per row: a batch touches a few pages, not one per record, however big the store is.
    Assembled by slice assignments and split by ``bytes.hex``: no Python-level work per id."""
    stamp = (time.time_ns() // 1_000_000).to_bytes(6, "big")
    raw = bytearray(16 * _POOL_SIZE)  # byte 6 of each id (the sequence's high byte) stays 0
    for index in range(6):
        raw[index::16] = stamp[index : index + 1] * _POOL_SIZE
    raw[7::16] = _SEQUENCE
    random_bits = _random.randbytes(8 * _POOL_SIZE)
    for index in range(8):
        raw[8 + index :: 16] = random_bits[index::8]
    _pool.extend(raw.hex(" ", 16).split(" "))
    return _take()


def new_id() -> str:
    """A 32-hex-character id (the format of run and record ids), ordered by time of making.

    64 random bits per id from a generator seeded by the OS (and reseeded in forked children),
    after the millisecond and a sequence number: unique across processes and hosts, and much
    cheaper than asking the OS for every id. ``list.pop`` is atomic, so threads never share an id.
    """
    try:
        return _take()
    except IndexError:
        return _refill()


SHORT_ID_LENGTH = 12
"""Characters of an id shown where space is short (the CLI's tables, reprs)."""


def short_id(value: str, length: int = SHORT_ID_LENGTH) -> str:
    """The short form of an id: its LAST ``length`` characters. Ids begin with the time they were made
    (:func:`new_id`), so their beginnings are shared by every id of the same moment; their ends are
    random. ``waxell-observe show`` takes a unique beginning or end."""
    return value[-length:]


@dataclass(slots=True)
class LLMCallRecord:
    """One call to a language model (or an embedding model)."""

    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    provider: str = ""
    task: str = ""
    prompt_preview: str = ""
    response_preview: str = ""
    duration_ms: float | None = None
    status: str = "ok"
    error_type: str = ""
    error_message: str = ""
    started_at: float = 0.0
    position: int = 0
    id: str = field(default_factory=new_id)
    parent_span_id: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    """Extras: cached/reasoning tokens, time to first token, finish reason, messages (with
    ``capture_content``), request parameters, ``partial`` for abandoned streams, ..."""

    @property
    def total_tokens(self) -> int:
        return self.tokens_in + self.tokens_out


@dataclass(slots=True)
class StepRecord:
    """A named execution step, numbered 1, 2, ... in the order of recording."""

    name: str
    position: int
    output: dict[str, Any] | None = None
    started_at: float = 0.0
    id: str = field(default_factory=new_id)
    seq: int = 0
    """Place in the run's single ordering of records (``position`` of LLM calls and spans)."""


@dataclass(slots=True)
class SpanRecord:
    """A behaviour of the agent: a tool call, retrieval, decision, reasoning step, retry,
    policy evaluation or message (``io``) — or a framework span recorded by an integration."""

    kind: str
    name: str
    status: str = "ok"
    duration_ms: float | None = None
    started_at: float = 0.0
    attributes: dict[str, Any] = field(default_factory=dict)
    input: Any = None
    output: Any = None
    position: int = 0
    id: str = field(default_factory=new_id)
    parent_span_id: str = ""
    error: str = ""


@dataclass(slots=True)
class ScoreRecord:
    """A quality score or feedback value; ``value`` keeps the type it was recorded with."""

    name: str
    value: float | str | bool
    data_type: str = "numeric"
    comment: str = ""
    created_at: float = 0.0
    id: str = field(default_factory=new_id)

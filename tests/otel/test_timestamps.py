"""Timestamps survive the OTLP round trip at the microsecond the store keeps."""

from __future__ import annotations

import datetime
import random

from waxell_observe_otel.spans import _ns


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat()


def test_a_timestamp_exported_in_nanoseconds_reads_back_at_the_same_microsecond() -> None:
    rng = random.Random(7)
    stamps = [1_765_000_000 + rng.random() * 50_000_000 for _ in range(20_000)]
    # the receiver reads nanoseconds as nanos / 1e9 (server otlp/decode.py)
    differing = [t for t in stamps if _iso(_ns(t) / 1e9) != _iso(t)]
    assert differing == []
    # the product of the whole timestamp by 1e9 (what was exported before) rounds some to the next microsecond
    assert sum(_iso(round(t * 1_000_000_000) / 1e9) != _iso(t) for t in stamps) > 0

"""The rollups a store kept against a recomputation from its rows (``store.rollups.rebuild``).

Its own module so any test can import it by name (``from rollup_check import assert_rollups_exact``:
``tests/`` is on ``sys.path``)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import text

from waxell_observe.store import Store, rollups

KEYS = {
    "rollup_runs": ("day", "agent_name", "status", "is_root"),
    "rollup_calls": ("day", "agent_name", "model", "provider"),
    "rollup_tags": ("tag_key", "tag_value", "day", "status", "is_root"),
}
"""The key columns of each day-keyed rollup (the others are its measures)."""


def rollup_state(conn: Any) -> dict[str, Any]:
    """Every rollup, per key (PostgreSQL's pending changes summed; keys holding nothing dropped;
    sums rounded to 9 places, as summing in another order may change the last bits)."""
    state: dict[str, Any] = {}
    for table, keys in KEYS.items():
        sums: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
        for row in conn.execute(text(f"SELECT * FROM {table}")).mappings():
            measures = [row[c] for c in row if c not in keys and c != "merged"]
            entry = sums[tuple(bool(row[k]) if k == "is_root" else row[k] for k in keys)]
            for i, value in enumerate(measures):
                entry[i] += value
        state[table] = {k: [round(v, 9) + 0.0 for v in vs] for k, vs in sums.items() if vs[0]}
    state["run_tags"] = sorted(tuple(r) for r in conn.execute(text("SELECT * FROM run_tags")))
    for table in ("rollup_sessions", "rollup_users"):
        state[table] = sorted(
            tuple(round(v, 9) + 0.0 if isinstance(v, float) else v for v in r)
            for r in conn.execute(text(f"SELECT * FROM {table}"))
        )
    return state


def kept_and_recomputed(store: Store) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rollups as kept and as recomputed, read in one transaction holding the compaction lock
    (no compaction on PostgreSQL can change their layout in between); the recomputation is rolled
    back."""
    with store.engine.connect() as conn:
        transaction = conn.begin()
        rollups.lock_compaction(conn)
        kept = rollup_state(conn)
        rollups.rebuild(conn)
        recomputed = rollup_state(conn)
        transaction.rollback()
    return kept, recomputed


def assert_rollups_exact(store: Store) -> None:
    """What the store kept equals a recomputation."""
    kept, recomputed = kept_and_recomputed(store)
    assert kept == recomputed

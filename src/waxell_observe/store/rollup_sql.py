"""SQL shared by every way the rollups are maintained: per-row triggers (``rollup_rows``), set-based
deltas (``rollup_sets``), the rebuild and the compaction (``rollups``).

One vocabulary, so that a rollup row means the same whoever wrote it: the day of a run, whether
it is a root, its tokens and its last activity are each spelled once, here.
"""

from __future__ import annotations

from waxell_observe.store.schema import TAG_KEY_LIMIT, TAG_VALUE_LIMIT

__all__ = [
    "APPEND_TABLES",
    "ENTITIES",
    "RUN_MEASURES",
    "day_sql",
    "root",
    "tokens",
    "last",
    "tags_of",
    "BATCH_SETTING",
]

APPEND_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    # table: (key columns, summed columns, column that is 0 when a key holds nothing)
    "rollup_runs": (("day", "agent_name", "status", "is_root"), ("runs", "tokens", "cost"), "runs"),
    "rollup_calls": (
        ("day", "agent_name", "model", "provider"),
        ("calls", "tokens_in", "tokens_out", "cost"),
        "calls",
    ),
    "rollup_tags": (("tag_key", "tag_value", "day", "status", "is_root"), ("runs", "tokens", "cost"), "runs"),
}
"""The day-keyed rollups: one row per key on SQLite, append-only logs of changes on PostgreSQL."""

ENTITIES = (("rollup_sessions", "session_id"), ("rollup_users", "user_id"))
"""Rollups per session and per end user (updated in place on both databases)."""

RUN_MEASURES = ("tokens_in", "tokens_out", "total_cost")

BATCH_SETTING = "waxell.rollups"
"""PostgreSQL setting (``SET LOCAL``) that switches a transaction from per-row triggers to the
per-statement ones (value ``batch``): see ``rollups.batch_mode``."""


def day_sql(dialect: str, column: str) -> str:
    """SQL for the UTC day (``YYYY-MM-DD``) of the epoch seconds in ``column`` ('' when out of range)."""
    if dialect == "postgresql":
        return (
            f"coalesce(CASE WHEN {column} >= -2e11 AND {column} <= 2e11 THEN "
            f"to_char(timezone('UTC', to_timestamp({column})), 'YYYY-MM-DD') END, '')"
        )
    return f"coalesce(strftime('%Y-%m-%d', {column}, 'unixepoch'), '')"


def root(a: str) -> str:
    """Whether the run ``a`` is a root (no parent run)."""
    return f"({a}.parent_run_id = '')"


def tokens(a: str) -> str:
    return f"({a}.tokens_in + {a}.tokens_out)"


def last(a: str) -> str:
    """The run's last activity: its end, else its start."""
    return f"coalesce({a}.ended_at, {a}.started_at)"


def tags_of(dialect: str, a: str) -> tuple[str, str, str, str]:
    """``(table function, key, value, condition)`` listing the string-valued tags of run ``a``
    (keys and values cut to the limits of ``run_tags``); the function is aliased ``j``."""
    if dialect == "postgresql":
        source = (
            f"jsonb_each(CASE WHEN jsonb_typeof({a}.tags::jsonb) = 'object' THEN {a}.tags::jsonb "
            f"ELSE '{{}}'::jsonb END) AS j"
        )
        return (
            source,
            f"left(j.key, {TAG_KEY_LIMIT})",
            f"left(j.value #>> '{{}}', {TAG_VALUE_LIMIT})",
            "jsonb_typeof(j.value) = 'string'",
        )
    source = (
        f"json_each(CASE WHEN json_valid({a}.tags) THEN CASE WHEN json_type({a}.tags) = 'object' "
        f"THEN {a}.tags ELSE '{{}}' END ELSE '{{}}' END) AS j"
    )
    return (
        source,
        f"substr(j.key, 1, {TAG_KEY_LIMIT})",
        f"substr(j.value, 1, {TAG_VALUE_LIMIT})",
        "j.type = 'text'",
    )

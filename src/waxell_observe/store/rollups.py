"""Rollups of the read side, kept exact by database triggers.

The dashboard's aggregates (run totals, costs by day / agent / model, sessions, users, the tag
filter) read small tables instead of every run. They are maintained by triggers on ``runs`` and
``llm_calls``, so they follow every write whatever wrote it — the embedded sink's bulk writer,
the server's ingest, the OTLP receiver, ``store.writer`` or plain SQL — in the same transaction
as the write itself. An ignored duplicate insert (idempotent re-delivery) fires no trigger; an
update moves the run's contribution from its old key to its new one.

Tables (``store/schema.py``):

* ``rollup_runs`` (day, agent, status, root-ness) and ``rollup_tags`` (day, tag key and value,
  status, root-ness): runs, tokens and cost;
* ``rollup_calls`` (day and agent of the run, model, provider): calls, tokens in/out, cost;
* ``run_tags``: one row per string-valued tag of each run (indexed by key, value and start time;
  keys and values cut to ``TAG_KEY_LIMIT`` / ``TAG_VALUE_LIMIT`` characters);
* ``rollup_sessions`` / ``rollup_users``: runs, tokens, cost, first and last seen.

On SQLite (one writer at a time) every rollup keeps one row per key, updated in place. On
PostgreSQL, where several servers and processes write at once, the three day-keyed rollups are
append-only logs of changes — a trigger never waits for another transaction's lock on a shared
row such as "agent X today" — and :func:`compact` folds them into one row per key (a background
thread of the :class:`~waxell_observe.store.database.Store` does it about once a second while
writes come in). Readers ``GROUP BY`` the key, so they read the same either way. Sessions and
users, where concurrent writers rarely meet, are updated in place on both.

``first_seen`` / ``last_seen`` only move outwards when a run is added; when a run's times shrink
or it leaves a session or user, the bounds are recomputed from ``runs`` (through its index).

A "day" is the UTC day of the run's ``started_at`` as ``YYYY-MM-DD``, computed with the SQL
expression the read queries use (:func:`day_sql`), so a rollup day holds exactly the runs a query
grouping by day would put there.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from waxell_observe.store.schema import TAG_KEY_LIMIT, TAG_VALUE_LIMIT

if TYPE_CHECKING:
    from waxell_observe.store.database import Store

__all__ = [
    "ROLLUPS_VERSION",
    "day_sql",
    "install",
    "rebuild",
    "compact",
    "Compactor",
]

logger = logging.getLogger("waxell_observe")

ROLLUPS_VERSION = "2"
"""Version of the trigger definitions and rollup layout; a store recorded with another version
gets its triggers replaced and its rollups rebuilt when opened (``schema_info`` key ``rollups``)."""

_APPEND_TABLES = {
    # table: (key columns, summed columns, column that is 0 when a key holds nothing)
    "rollup_runs": (("day", "agent_name", "status", "is_root"), ("runs", "tokens", "cost"), "runs"),
    "rollup_calls": (
        ("day", "agent_name", "model", "provider"),
        ("calls", "tokens_in", "tokens_out", "cost"),
        "calls",
    ),
    "rollup_tags": (("tag_key", "tag_value", "day", "status", "is_root"), ("runs", "tokens", "cost"), "runs"),
}


def day_sql(dialect: str, column: str) -> str:
    """SQL for the UTC day (``YYYY-MM-DD``) of the epoch seconds in ``column`` ('' when out of range)."""
    if dialect == "postgresql":
        return (
            f"coalesce(CASE WHEN {column} >= -2e11 AND {column} <= 2e11 THEN "
            f"to_char(timezone('UTC', to_timestamp({column})), 'YYYY-MM-DD') END, '')"
        )
    return f"coalesce(strftime('%Y-%m-%d', {column}, 'unixepoch'), '')"


def _root(a: str) -> str:
    return f"({a}.parent_run_id = '')"


def _tokens(a: str) -> str:
    return f"({a}.tokens_in + {a}.tokens_out)"


def _last(a: str) -> str:
    return f"coalesce({a}.ended_at, {a}.started_at)"


class _Sql:
    """The statements the triggers run, for one dialect (``a`` is ``NEW`` or ``OLD``)."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"
        self.dialect = dialect

    def day(self, a: str) -> str:
        return day_sql(self.dialect, f"{a}.started_at")

    def changed(self, *columns: str) -> str:
        op = "IS DISTINCT FROM" if self.pg else "IS NOT"
        return "(" + " OR ".join(f"OLD.{c} {op} NEW.{c}" for c in columns) + ")"

    def _add(self, table: str, values: str, source: str = "", group: str = "") -> str:
        """Add one change (``values``: key and summed columns, in table order) to an additive rollup."""
        keys, sums, _ = _APPEND_TABLES[table]
        columns = ", ".join((*keys, *sums, "merged"))
        if self.pg:  # append a change; compact() folds it in
            return f"INSERT INTO {table} ({columns}) SELECT {values}, false {source} {group};"
        where = "" if "WHERE" in source else " WHERE true"  # upsert after SELECT needs a WHERE
        updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in sums)
        return (
            f"INSERT INTO {table} ({columns}) SELECT {values}, 1 {source}{where} {group} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates};"
        )

    # -- rollup_runs

    def runs_add(self, a: str, sign: str) -> str:
        return self._add(
            "rollup_runs",
            f"{self.day(a)}, {a}.agent_name, {a}.status, {_root(a)}, {sign}1, {sign}{_tokens(a)}, {sign}{a}.total_cost",
        )

    def runs_drop_empty(self, a: str) -> str:
        if self.pg:
            return ""
        return (
            f"DELETE FROM rollup_runs WHERE day = {self.day(a)} AND agent_name = {a}.agent_name "
            f"AND status = {a}.status AND is_root = {_root(a)} AND runs = 0;"
        )

    # -- rollup_calls

    def calls_add_call(self, c: str, sign: str) -> str:
        return self._add(
            "rollup_calls",
            f"{self.day('r')}, r.agent_name, {c}.model, {c}.provider, {sign}1, {sign}{c}.tokens_in, "
            f"{sign}{c}.tokens_out, {sign}{c}.cost",
            f"FROM runs AS r WHERE r.run_id = {c}.run_id",
        )

    def calls_add_run(self, a: str, sign: str) -> str:
        return self._add(
            "rollup_calls",
            f"{self.day(a)}, {a}.agent_name, c.model, c.provider, {sign}count(*), {sign}sum(c.tokens_in), "
            f"{sign}sum(c.tokens_out), {sign}sum(c.cost)",
            f"FROM llm_calls AS c WHERE c.run_id = {a}.run_id",
            "GROUP BY c.model, c.provider",
        )

    def calls_drop_empty_of_run(self, a: str) -> str:
        if self.pg:
            return ""
        return f"DELETE FROM rollup_calls WHERE day = {self.day(a)} AND agent_name = {a}.agent_name AND calls = 0;"

    def calls_drop_empty_of_call(self, c: str) -> str:
        if self.pg:
            return ""
        return (
            f"DELETE FROM rollup_calls WHERE calls = 0 AND (day, agent_name) IN "
            f"(SELECT {self.day('r')}, r.agent_name FROM runs AS r WHERE r.run_id = {c}.run_id);"
        )

    # -- run_tags and rollup_tags

    def tags_insert(self, a: str) -> str:
        if self.pg:
            return (
                f"INSERT INTO run_tags (run_id, tag_key, tag_value, started_at) "
                f"SELECT {a}.run_id, left(j.key, {TAG_KEY_LIMIT}), left(j.value #>> '{{}}', {TAG_VALUE_LIMIT}), "
                f"{a}.started_at FROM jsonb_each("
                f"CASE WHEN jsonb_typeof({a}.tags::jsonb) = 'object' THEN {a}.tags::jsonb ELSE '{{}}'::jsonb END) AS j "
                f"WHERE jsonb_typeof(j.value) = 'string' ON CONFLICT (run_id, tag_key) DO NOTHING;"
            )
        tags = (
            f"(CASE WHEN json_valid({a}.tags) THEN CASE WHEN json_type({a}.tags) = 'object' "
            f"THEN {a}.tags ELSE '{{}}' END ELSE '{{}}' END)"
        )
        return (
            f"INSERT INTO run_tags (run_id, tag_key, tag_value, started_at) "
            f"SELECT {a}.run_id, substr(j.key, 1, {TAG_KEY_LIMIT}), substr(j.value, 1, {TAG_VALUE_LIMIT}), "
            f"{a}.started_at FROM json_each({tags}) AS j WHERE j.type = 'text' "
            f"ON CONFLICT (run_id, tag_key) DO NOTHING;"
        )

    def tags_delete(self, a: str) -> str:
        return f"DELETE FROM run_tags WHERE run_id = {a}.run_id;"

    def tags_add(self, a: str, sign: str) -> str:
        """Add (or remove) the run's contribution under each of its tags in ``run_tags``."""
        return self._add(
            "rollup_tags",
            f"t.tag_key, t.tag_value, {self.day(a)}, {a}.status, {_root(a)}, {sign}1, {sign}{_tokens(a)}, "
            f"{sign}{a}.total_cost",
            f"FROM run_tags AS t WHERE t.run_id = {a}.run_id",
        )

    def tags_drop_empty(self, a: str) -> str:
        if self.pg:
            return ""
        return (
            f"DELETE FROM rollup_tags WHERE runs = 0 AND (tag_key, tag_value, day, status, is_root) IN "
            f"(SELECT t.tag_key, t.tag_value, {self.day(a)}, {a}.status, {_root(a)} FROM run_tags AS t "
            f"WHERE t.run_id = {a}.run_id);"
        )

    # -- rollup_sessions / rollup_users (updated in place on both databases)

    def entity_add(self, table: str, column: str, a: str) -> str:
        least, greatest = ("least", "greatest") if self.pg else ("min", "max")
        return (
            f"INSERT INTO {table} ({column}, runs, tokens, cost, first_seen, last_seen) "
            f"SELECT {a}.{column}, 1, {_tokens(a)}, {a}.total_cost, {a}.started_at, {_last(a)} "
            f"WHERE {a}.{column} <> '' ON CONFLICT ({column}) DO UPDATE SET "
            f"runs = {table}.runs + excluded.runs, tokens = {table}.tokens + excluded.tokens, "
            f"cost = {table}.cost + excluded.cost, "
            f"first_seen = {least}({table}.first_seen, excluded.first_seen), "
            f"last_seen = {greatest}({table}.last_seen, excluded.last_seen);"
        )

    def entity_remove(self, table: str, column: str, a: str) -> str:
        return (
            f"UPDATE {table} SET runs = runs - 1, tokens = tokens - {_tokens(a)}, cost = cost - {a}.total_cost "
            f"WHERE {column} = {a}.{column};"
        )

    def entity_fix(self, table: str, column: str, condition: str) -> str:
        """Drop the OLD key's row when it holds no run; recompute its bounds when ``condition``
        says the old contribution may have been one of them."""
        return (
            f"DELETE FROM {table} WHERE {column} = OLD.{column} AND runs <= 0;"
            f"UPDATE {table} SET "
            f"first_seen = (SELECT min(r.started_at) FROM runs AS r WHERE r.{column} = OLD.{column}), "
            f"last_seen = (SELECT max(coalesce(r.ended_at, r.started_at)) FROM runs AS r WHERE r.{column} = OLD.{column}) "
            f"WHERE {column} = OLD.{column} AND ({condition});"
        )

    def entity_update_condition(self, column: str) -> str:
        moved = f"OLD.{column} {'IS DISTINCT FROM' if self.pg else 'IS NOT'} NEW.{column}"
        return (
            f"(OLD.started_at <= first_seen AND ({moved} OR NEW.started_at > OLD.started_at)) OR "
            f"({_last('OLD')} >= last_seen AND ({moved} OR {_last('NEW')} < {_last('OLD')}))"
        )


_ENTITIES = (("rollup_sessions", "session_id"), ("rollup_users", "user_id"))
_RUN_MEASURES = ("tokens_in", "tokens_out", "total_cost")


def _run_statements(sql: _Sql) -> dict[str, list[tuple[str, list[str]]]]:
    """Per event on ``runs``: (condition or "", statements) pairs, in order."""
    insert: list[tuple[str, list[str]]] = [
        ("", [sql.runs_add("NEW", "")]),
        ("", [sql.calls_add_run("NEW", "")]),
        ("", [sql.tags_insert("NEW"), sql.tags_add("NEW", "")]),
    ]
    update: list[tuple[str, list[str]]] = [
        (
            sql.changed("started_at", "agent_name", "status", "parent_run_id", *_RUN_MEASURES),
            [sql.runs_add("OLD", "-"), sql.runs_add("NEW", ""), sql.runs_drop_empty("OLD")],
        ),
        (
            sql.changed("run_id", "started_at", "agent_name"),
            [sql.calls_add_run("OLD", "-"), sql.calls_add_run("NEW", ""), sql.calls_drop_empty_of_run("OLD")],
        ),
        (
            sql.changed("run_id", "tags", "started_at"),
            [
                sql.tags_add("OLD", "-"),
                sql.tags_drop_empty("OLD"),
                sql.tags_delete("OLD"),
                sql.tags_insert("NEW"),
                sql.tags_add("NEW", ""),
            ],
        ),
        (
            f"NOT {sql.changed('run_id', 'tags', 'started_at')} AND {sql.changed('status', 'parent_run_id', *_RUN_MEASURES)}",
            [sql.tags_add("OLD", "-"), sql.tags_add("NEW", ""), sql.tags_drop_empty("OLD")],
        ),
    ]
    delete: list[tuple[str, list[str]]] = [
        ("", [sql.runs_add("OLD", "-"), sql.runs_drop_empty("OLD")]),
        ("", [sql.calls_add_run("OLD", "-"), sql.calls_drop_empty_of_run("OLD")]),
        ("", [sql.tags_add("OLD", "-"), sql.tags_drop_empty("OLD"), sql.tags_delete("OLD")]),
    ]
    for table, column in _ENTITIES:
        insert.append((f"NEW.{column} <> ''", [sql.entity_add(table, column, "NEW")]))
        update.append(
            (
                sql.changed(column, "started_at", "ended_at", *_RUN_MEASURES),
                [
                    sql.entity_remove(table, column, "OLD"),
                    sql.entity_add(table, column, "NEW"),
                    sql.entity_fix(table, column, sql.entity_update_condition(column)),
                ],
            )
        )
        delete.append(
            (
                f"OLD.{column} <> ''",
                [
                    sql.entity_remove(table, column, "OLD"),
                    sql.entity_fix(table, column, f"OLD.started_at <= first_seen OR {_last('OLD')} >= last_seen"),
                ],
            )
        )
    return {"INSERT": insert, "UPDATE": update, "DELETE": delete}


def _call_statements(sql: _Sql) -> dict[str, list[tuple[str, list[str]]]]:
    return {
        "INSERT": [("", [sql.calls_add_call("NEW", "")])],
        "UPDATE": [
            (
                sql.changed("run_id", "model", "provider", "tokens_in", "tokens_out", "cost"),
                [sql.calls_add_call("OLD", "-"), sql.calls_add_call("NEW", ""), sql.calls_drop_empty_of_call("OLD")],
            )
        ],
        "DELETE": [("", [sql.calls_add_call("OLD", "-"), sql.calls_drop_empty_of_call("OLD")])],
    }


_SOURCES: dict[str, tuple[str, Callable[[_Sql], dict[str, list[tuple[str, list[str]]]]]]] = {
    "runs": ("wx_runs", _run_statements),
    "llm_calls": ("wx_calls", _call_statements),
}


def _sqlite_ddl() -> list[str]:
    sql = _Sql("sqlite")
    ddl = [
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_rollup_runs_key ON rollup_runs (day, agent_name, status, is_root)",
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_rollup_calls_key ON rollup_calls (day, agent_name, model, provider)",
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_rollup_tags_key ON rollup_tags (tag_key, tag_value, day, status, is_root)",
    ]
    for table, (prefix, statements) in _SOURCES.items():
        for event, parts in statements(sql).items():
            for n, (condition, body) in enumerate(parts):
                when = f" WHEN {condition}" if condition else ""
                name = f"{prefix}_{event.lower()}_{n}"
                ddl.append(f"CREATE TRIGGER {name} AFTER {event} ON {table}{when} BEGIN {' '.join(body)} END")
    return ddl


def _pg_ddl() -> list[str]:
    sql = _Sql("postgresql")
    ddl = []
    for table, (keys, _sums, _) in _APPEND_TABLES.items():
        columns = ", ".join(keys)
        ddl.append(f"CREATE INDEX IF NOT EXISTS ix_{table}_key ON {table} ({columns})")
        ddl.append(f"CREATE INDEX IF NOT EXISTS ix_{table}_pending ON {table} ({columns}) WHERE NOT merged")
    for table, (prefix, statements) in _SOURCES.items():
        for event, parts in statements(sql).items():
            body = []
            for condition, statements_ in parts:
                block = "\n    ".join(s for s in statements_ if s)
                body.append(f"  IF {condition} THEN\n    {block}\n  END IF;" if condition else f"  {block}")
            name = f"{prefix}_{event.lower()}"
            ddl.append(
                f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $wx$\nBEGIN\n"
                + "\n".join(body)
                + "\n  RETURN NULL;\nEND\n$wx$"
            )
            when = ""
            if event == "UPDATE":
                when = " WHEN (" + " OR ".join(f"({c})" for c, _ in parts if c) + ")"
            ddl.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            ddl.append(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when} EXECUTE FUNCTION {name}()")
    return ddl


def _drop_sqlite_triggers(conn: Connection) -> None:
    names = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND (name LIKE 'wx\\_runs\\_%' ESCAPE '\\' "
        "OR name LIKE 'wx\\_calls\\_%' ESCAPE '\\')"
    ).scalars()
    for name in list(names):
        conn.exec_driver_sql(f'DROP TRIGGER IF EXISTS "{name}"')


def install(conn: Connection) -> None:
    """Create (or replace) the rollups' indexes and triggers (inside the caller's transaction)."""
    if conn.dialect.name == "postgresql":
        for statement in _pg_ddl():
            conn.exec_driver_sql(statement)
        return
    _drop_sqlite_triggers(conn)
    for statement in _sqlite_ddl():
        conn.exec_driver_sql(statement)


def rebuild(conn: Connection) -> None:
    """Recompute every rollup from ``runs`` and ``llm_calls`` (inside the caller's transaction).

    Used once when a store gets the rollups (existing runs are counted), and by tests to check that
    what the triggers kept equals what a recomputation gives.
    """
    pg = conn.dialect.name == "postgresql"
    day = day_sql(conn.dialect.name, "r.started_at")
    merged = "true" if pg else "1"
    for table in ("rollup_runs", "rollup_calls", "rollup_tags", "run_tags", "rollup_sessions", "rollup_users"):
        conn.exec_driver_sql(f"DELETE FROM {table}")
    conn.exec_driver_sql(
        f"INSERT INTO rollup_runs (day, agent_name, status, is_root, runs, tokens, cost, merged) "
        f"SELECT {day}, r.agent_name, r.status, {_root('r')}, count(*), sum({_tokens('r')}), sum(r.total_cost), "
        f"{merged} FROM runs AS r GROUP BY 1, 2, 3, 4"
    )
    conn.exec_driver_sql(
        f"INSERT INTO rollup_calls (day, agent_name, model, provider, calls, tokens_in, tokens_out, cost, merged) "
        f"SELECT {day}, r.agent_name, c.model, c.provider, count(*), sum(c.tokens_in), sum(c.tokens_out), "
        f"sum(c.cost), {merged} FROM llm_calls AS c JOIN runs AS r ON r.run_id = c.run_id GROUP BY 1, 2, 3, 4"
    )
    if pg:
        conn.exec_driver_sql(
            f"INSERT INTO run_tags (run_id, tag_key, tag_value, started_at) "
            f"SELECT r.run_id, left(j.key, {TAG_KEY_LIMIT}), left(j.value #>> '{{}}', {TAG_VALUE_LIMIT}), r.started_at "
            f"FROM runs AS r CROSS JOIN LATERAL jsonb_each("
            f"CASE WHEN jsonb_typeof(r.tags::jsonb) = 'object' THEN r.tags::jsonb ELSE '{{}}'::jsonb END) AS j "
            f"WHERE jsonb_typeof(j.value) = 'string' ON CONFLICT (run_id, tag_key) DO NOTHING"
        )
    else:
        conn.exec_driver_sql(
            f"INSERT OR IGNORE INTO run_tags (run_id, tag_key, tag_value, started_at) "
            f"SELECT r.run_id, substr(j.key, 1, {TAG_KEY_LIMIT}), substr(j.value, 1, {TAG_VALUE_LIMIT}), r.started_at "
            f"FROM runs AS r, json_each("
            f"CASE WHEN json_valid(r.tags) THEN CASE WHEN json_type(r.tags) = 'object' THEN r.tags ELSE '{{}}' END "
            f"ELSE '{{}}' END) AS j WHERE j.type = 'text'"
        )
    conn.exec_driver_sql(
        f"INSERT INTO rollup_tags (tag_key, tag_value, day, status, is_root, runs, tokens, cost, merged) "
        f"SELECT t.tag_key, t.tag_value, {day}, r.status, {_root('r')}, count(*), sum({_tokens('r')}), "
        f"sum(r.total_cost), {merged} FROM run_tags AS t JOIN runs AS r ON r.run_id = t.run_id GROUP BY 1, 2, 3, 4, 5"
    )
    for table, column in _ENTITIES:
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({column}, runs, tokens, cost, first_seen, last_seen) "
            f"SELECT r.{column}, count(*), sum({_tokens('r')}), sum(r.total_cost), min(r.started_at), "
            f"max({_last('r')}) FROM runs AS r WHERE r.{column} <> '' GROUP BY r.{column}"
        )


def compact(conn: Connection) -> None:
    """Fold the pending changes of PostgreSQL's append-only rollups into one row per key.

    A no-op on SQLite (its rollups are always compact). Keys that hold nothing any more are dropped.
    Changes committed by other transactions while this runs stay pending for the next time.
    """
    if conn.dialect.name != "postgresql":
        return
    for table, (keys, sums, nonzero) in _APPEND_TABLES.items():
        columns = ", ".join(keys)
        join = " AND ".join(f"t.{k} = p.{k}" for k in keys)
        totals = ", ".join(f"sum({c})" for c in sums)
        conn.exec_driver_sql(
            f"WITH pending AS (SELECT DISTINCT {columns} FROM {table} WHERE NOT merged), "
            f"moved AS (DELETE FROM {table} AS t USING pending AS p WHERE {join} RETURNING t.*) "
            f"INSERT INTO {table} ({columns}, {', '.join(sums)}, merged) "
            f"SELECT {columns}, {totals}, true FROM moved GROUP BY {columns} HAVING sum({nonzero}) <> 0"
        )


_COMPACT_LOCK = 0x5741_5843  # advisory lock id: one compaction at a time per database


class Compactor:
    """Compacts a PostgreSQL store's rollups on a daemon thread, about once per ``interval`` seconds
    while writes come in (:meth:`notify` after each write; nothing runs while the store is idle)."""

    def __init__(self, store: Store, interval: float = 1.0) -> None:
        self.store = store
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pid = -1
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def notify(self) -> None:
        """A write committed: compact within ``interval`` seconds."""
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():  # first write, or a fork child: start this process's thread
                    self._wake = threading.Event()
                    self._thread = threading.Thread(target=self._loop, name="waxell-rollups", daemon=True)
                    self._pid = os.getpid()
                    self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run_once(self) -> bool:
        """Compact now unless another process is compacting; returns whether this call did."""
        with self.store.engine.connect() as conn, conn.begin():
            if not conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({_COMPACT_LOCK})").scalar():
                return False
            compact(conn)
            return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.wait(self.interval):
                return
            self._wake.clear()
            try:
                self.run_once()
            except OperationalError as exc:
                # The database is unreachable (or went away): the writers report that; the
                # changes stay pending (readers sum them) until a write succeeds again.
                logger.debug("waxell-observe: rollups of %s not compacted: %s", _safe_url(self.store.url), exc)
            except Exception as exc:  # noqa: BLE001 - logged; retried after the next write
                logger.warning("waxell-observe: compacting the rollups of %s failed: %s", _safe_url(self.store.url), exc)


def _safe_url(url: str) -> str:
    """``url`` without its password (for logs)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)

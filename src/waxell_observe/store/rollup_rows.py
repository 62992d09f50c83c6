"""Per-row triggers on ``runs`` and ``llm_calls`` keeping the rollups exact for ordinary writes.

Every write that does not go through ``store.batch.write_batch`` — the server's ingest, the OTLP
receiver, ``store.writer``, an older waxell-observe, plain SQL — is followed by these triggers in
its own transaction. An ignored duplicate insert fires none; an update moves the run's
contribution from its old key to its new one.

A batch written by ``write_batch`` maintains the rollups set-based instead (``rollup_sets``), and
switches these triggers off for its own transaction only: on SQLite by holding a row in
``rollup_batch`` (inserted and deleted inside that transaction, so no other connection ever sees
it: SQLite has one writer at a time), on PostgreSQL with ``SET LOCAL waxell.rollups = 'batch'``.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from waxell_observe.store.rollup_sql import (
    APPEND_TABLES,
    BATCH_SETTING,
    ENTITIES,
    RUN_MEASURES,
    day_sql,
    last,
    root,
    tags_of,
    tokens,
)

__all__ = ["SQLITE_BATCH_TABLE", "ddl", "drop_sqlite_triggers"]

SQLITE_BATCH_TABLE = "rollup_batch"
"""SQLite: a row here switches the per-row triggers off (only ever inside a ``write_batch``
transaction)."""

_SQLITE_ENABLED = f"NOT EXISTS (SELECT 1 FROM {SQLITE_BATCH_TABLE})"
_PG_ENABLED = f"current_setting('{BATCH_SETTING}', true) IS DISTINCT FROM 'batch'"


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
        keys, sums, _ = APPEND_TABLES[table]
        columns = ", ".join((*keys, *sums, "merged"))
        if self.pg:  # append a change; rollups.compact() folds it in
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
            f"{self.day(a)}, {a}.agent_name, {a}.status, {root(a)}, "
            f"{sign}1, {sign}{tokens(a)}, {sign}{a}.total_cost",
        )

    def runs_drop_empty(self, a: str) -> str:
        if self.pg:
            return ""
        return (
            f"DELETE FROM rollup_runs WHERE day = {self.day(a)} AND agent_name = {a}.agent_name "
            f"AND status = {a}.status AND is_root = {root(a)} AND runs = 0;"
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
        return (
            f"DELETE FROM rollup_calls WHERE day = {self.day(a)} "
            f"AND agent_name = {a}.agent_name AND calls = 0;"
        )

    def calls_drop_empty_of_call(self, c: str) -> str:
        if self.pg:
            return ""
        return (
            f"DELETE FROM rollup_calls WHERE calls = 0 AND (day, agent_name) IN "
            f"(SELECT {self.day('r')}, r.agent_name FROM runs AS r WHERE r.run_id = {c}.run_id);"
        )

    # -- run_tags and rollup_tags

    def tags_insert(self, a: str) -> str:
        source, key, value, condition = tags_of(self.dialect, a)
        return (
            f"INSERT INTO run_tags (run_id, tag_key, tag_value, started_at) "
            f"SELECT {a}.run_id, {key}, {value}, {a}.started_at FROM {source} WHERE {condition} "
            f"ON CONFLICT (run_id, tag_key) DO NOTHING;"
        )

    def tags_delete(self, a: str) -> str:
        return f"DELETE FROM run_tags WHERE run_id = {a}.run_id;"

    def tags_add(self, a: str, sign: str) -> str:
        """Add (or remove) the run's contribution under each of its tags in ``run_tags``."""
        return self._add(
            "rollup_tags",
            f"t.tag_key, t.tag_value, {self.day(a)}, {a}.status, "
            f"{root(a)}, {sign}1, {sign}{tokens(a)}, {sign}{a}.total_cost",
            f"FROM run_tags AS t WHERE t.run_id = {a}.run_id",
        )

    def tags_drop_empty(self, a: str) -> str:
        if self.pg:
            return ""
        return (
            f"DELETE FROM rollup_tags WHERE runs = 0 AND (tag_key, tag_value, day, status, is_root) IN "
            f"(SELECT t.tag_key, t.tag_value, {self.day(a)}, {a}.status, {root(a)} FROM run_tags AS t "
            f"WHERE t.run_id = {a}.run_id);"
        )

    # -- rollup_sessions / rollup_users (updated in place on both databases)

    def entity_add(self, table: str, column: str, a: str) -> str:
        least, greatest = ("least", "greatest") if self.pg else ("min", "max")
        return (
            f"INSERT INTO {table} ({column}, runs, tokens, cost, first_seen, last_seen) "
            f"SELECT {a}.{column}, 1, {tokens(a)}, {a}.total_cost, {a}.started_at, {last(a)} "
            f"WHERE {a}.{column} <> '' ON CONFLICT ({column}) DO UPDATE SET "
            f"runs = {table}.runs + excluded.runs, tokens = {table}.tokens + excluded.tokens, "
            f"cost = {table}.cost + excluded.cost, "
            f"first_seen = {least}({table}.first_seen, excluded.first_seen), "
            f"last_seen = {greatest}({table}.last_seen, excluded.last_seen);"
        )

    def entity_remove(self, table: str, column: str, a: str) -> str:
        return (
            f"UPDATE {table} SET runs = runs - 1, tokens = "
            f"tokens - {tokens(a)}, cost = cost - {a}.total_cost WHERE {column} = {a}.{column};"
        )

    def entity_fix(self, table: str, column: str, condition: str) -> str:
        """Drop the OLD key's row when it holds no run; recompute its bounds when ``condition``
        says the old contribution may have been one of them."""
        return (
            f"DELETE FROM {table} WHERE {column} = OLD.{column} AND runs <= 0;UPDATE {table} SET "
            f"first_seen = (SELECT min(r.started_at) FROM runs AS r WHERE r.{column} = OLD.{column}), "
            f"last_seen = (SELECT max({last('r')}) FROM runs AS r WHERE r.{column} = OLD.{column}) "
            f"WHERE {column} = OLD.{column} AND ({condition});"
        )

    def entity_update_condition(self, column: str) -> str:
        moved = f"OLD.{column} {'IS DISTINCT FROM' if self.pg else 'IS NOT'} NEW.{column}"
        return (
            f"(OLD.started_at <= first_seen AND ({moved} OR NEW.started_at > OLD.started_at)) OR "
            f"({last('OLD')} >= last_seen AND ({moved} OR {last('NEW')} < {last('OLD')}))"
        )


_Parts = list[tuple[str, list[str]]]


def _run_statements(sql: _Sql) -> dict[str, _Parts]:
    """Per event on ``runs``: (condition or "", statements) pairs, in order."""
    insert: _Parts = [
        ("", [sql.runs_add("NEW", "")]),
        ("", [sql.calls_add_run("NEW", "")]),
        ("", [sql.tags_insert("NEW"), sql.tags_add("NEW", "")]),
    ]
    update: _Parts = [
        (
            sql.changed("started_at", "agent_name", "status", "parent_run_id", *RUN_MEASURES),
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
            f"NOT {sql.changed('run_id', 'tags', 'started_at')} AND "
            f"{sql.changed('status', 'parent_run_id', *RUN_MEASURES)}",
            [sql.tags_add("OLD", "-"), sql.tags_add("NEW", ""), sql.tags_drop_empty("OLD")],
        ),
    ]
    delete: _Parts = [
        ("", [sql.runs_add("OLD", "-"), sql.runs_drop_empty("OLD")]),
        ("", [sql.calls_add_run("OLD", "-"), sql.calls_drop_empty_of_run("OLD")]),
        ("", [sql.tags_add("OLD", "-"), sql.tags_drop_empty("OLD"), sql.tags_delete("OLD")]),
    ]
    for table, column in ENTITIES:
        insert.append((f"NEW.{column} <> ''", [sql.entity_add(table, column, "NEW")]))
        update.append(
            (
                sql.changed(column, "started_at", "ended_at", *RUN_MEASURES),
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
                    sql.entity_fix(
                        table, column, f"OLD.started_at <= first_seen OR {last('OLD')} >= last_seen"
                    ),
                ],
            )
        )
    return {"INSERT": insert, "UPDATE": update, "DELETE": delete}


def _call_statements(sql: _Sql) -> dict[str, _Parts]:
    return {
        "INSERT": [("", [sql.calls_add_call("NEW", "")])],
        "UPDATE": [
            (
                sql.changed("run_id", "model", "provider", "tokens_in", "tokens_out", "cost"),
                [
                    sql.calls_add_call("OLD", "-"),
                    sql.calls_add_call("NEW", ""),
                    sql.calls_drop_empty_of_call("OLD"),
                ],
            )
        ],
        "DELETE": [("", [sql.calls_add_call("OLD", "-"), sql.calls_drop_empty_of_call("OLD")])],
    }


SOURCES: dict[str, tuple[str, Callable[[_Sql], dict[str, _Parts]]]] = {
    "runs": ("wx_runs", _run_statements),
    "llm_calls": ("wx_calls", _call_statements),
}
"""Table: (prefix of its triggers' names, statements per event)."""


def _sqlite_ddl() -> list[str]:
    sql = _Sql("sqlite")
    ddl = [
        f"CREATE TABLE IF NOT EXISTS {SQLITE_BATCH_TABLE} (active INTEGER NOT NULL)",
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_rollup_runs_key "
        "ON rollup_runs (day, agent_name, status, is_root)",
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_rollup_calls_key "
        "ON rollup_calls (day, agent_name, model, provider)",
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_rollup_tags_key ON "
        "rollup_tags (tag_key, tag_value, day, status, is_root)",
    ]
    for table, (prefix, statements) in SOURCES.items():
        for event, parts in statements(sql).items():
            for n, (condition, body) in enumerate(parts):
                when = f"{_SQLITE_ENABLED} AND ({condition})" if condition else _SQLITE_ENABLED
                name = f"{prefix}_{event.lower()}_{n}"
                ddl.append(
                    f"CREATE TRIGGER {name} AFTER {event} ON {table} WHEN {when} BEGIN {' '.join(body)} END"
                )
    return ddl


def _pg_ddl() -> list[str]:
    sql = _Sql("postgresql")
    ddl = []
    for table, (keys, _sums, _) in APPEND_TABLES.items():
        columns = ", ".join(keys)
        ddl.append(f"CREATE INDEX IF NOT EXISTS ix_{table}_key ON {table} ({columns})")
        ddl.append(f"CREATE INDEX IF NOT EXISTS ix_{table}_pending ON {table} ({columns}) WHERE NOT merged")
    for table, (prefix, statements) in SOURCES.items():
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
            when = _PG_ENABLED
            if event == "UPDATE":
                when += " AND (" + " OR ".join(f"({c})" for c, _ in parts if c) + ")"
            ddl.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            ddl.append(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                f"FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {name}()"
            )
    return ddl


def ddl(dialect: str) -> list[str]:
    """Statements creating (or replacing) the per-row triggers and what they need."""
    return _pg_ddl() if dialect == "postgresql" else _sqlite_ddl()


def drop_sqlite_triggers(conn: Connection) -> None:
    """Drop every rollup trigger of a SQLite store (before creating the current ones)."""
    names = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND (name LIKE 'wx\\_runs\\_%' ESCAPE '\\' "
        "OR name LIKE 'wx\\_calls\\_%' ESCAPE '\\')"
    ).scalars()
    for name in list(names):
        conn.exec_driver_sql(f'DROP TRIGGER IF EXISTS "{name}"')

"""Set-based rollup maintenance: what a whole set of changed rows does to every rollup, in a few
``INSERT ... SELECT ... GROUP BY`` statements instead of a dozen statements per row.

:func:`run_changes` and :func:`call_changes` take two relations — the old versions of the changed
rows and their new versions (either may be absent: an insert has no old rows, a delete no new
ones) — and return the statements applying the difference. Two callers instantiate them:

* PostgreSQL statement-level triggers (:func:`pg_statement_ddl`), with the statement's transition
  tables as the relations: exact under concurrent writers, since a transition table holds exactly
  the row versions the statement replaced;
* SQLite's batch writer (``store.batch``), with a snapshot of the batch's runs taken before it
  writes them (SQLite has one writer at a time, so the snapshot cannot go stale).

A pair of old and new rows of the same run that agree on every column a rollup reads changes
nothing there, and is skipped (so re-delivering a batch, or updating a column no rollup reads,
costs only that comparison). The rollups then hold what the per-row triggers of ``rollup_rows``
would hold, and what :func:`~waxell_observe.store.rollups.rebuild` recomputes.
"""

from __future__ import annotations

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

__all__ = ["RUN_FOLD_COLUMNS", "CALL_FOLD_COLUMNS", "run_changes", "call_changes", "pg_statement_ddl"]

RUN_FOLD_COLUMNS = (
    "run_id", "agent_name", "status", "parent_run_id", "started_at", "ended_at",
    "tokens_in", "tokens_out", "total_cost", "session_id", "user_id", "tags",
)  # fmt: skip
"""The columns of ``runs`` that some rollup reads (the relations given to :func:`run_changes` need them)."""

CALL_FOLD_COLUMNS = ("id", "run_id", "model", "provider", "tokens_in", "tokens_out", "cost")
"""The columns of ``llm_calls`` that ``rollup_calls`` reads."""

# Columns of a run each rollup reads: a pair agreeing on all of them is skipped for that rollup.
_RUNS_READS = ("started_at", "agent_name", "status", "parent_run_id", *RUN_MEASURES)
_CALLS_OF_RUN_READS = ("started_at", "agent_name")
_TAGS_READS = ("tags", "started_at", "status", "parent_run_id", *RUN_MEASURES)
_TAG_SET_READS = ("tags", "started_at")  # what a run's rows in run_tags hold
_ENTITY_READS = ("started_at", "ended_at", *RUN_MEASURES)  # and the session or user itself
_CALL_READS = ("run_id", "model", "provider", "tokens_in", "tokens_out", "cost")

# What the joins read of each big table.
_CALL_COLUMNS = "c.model, c.provider, c.tokens_in, c.tokens_out, c.cost"
_TAG_COLUMNS = "t.tag_key, t.tag_value"
_RUN_KEY_COLUMNS = "r.started_at, r.agent_name"


class _Dialect:
    def __init__(self, dialect: str) -> None:
        self.name = dialect
        self.pg = dialect == "postgresql"
        self.same = "IS NOT DISTINCT FROM" if self.pg else "IS"
        self.float = "double precision" if self.pg else "REAL"
        self.inf = "'Infinity'::double precision" if self.pg else "1e999"
        self.least, self.greatest = ("least", "greatest") if self.pg else ("min", "max")

    def day(self, a: str) -> str:
        return day_sql(self.name, f"{a}.started_at")

    def rows_of(self, table: str, alias: str, key: str, columns: str) -> str:
        """``CROSS JOIN`` of the rows of the big ``table`` whose ``run_id`` is ``key`` (``columns``
        of them), looked up through its index for each row of the small relation before it.

        Both planners would rather read the whole table: SQLite knows nothing of the small
        relation, PostgreSQL hashes a table up to ~20 times the batch (its random-read costs assume
        a cold disk), and every batch would take longer as the store grows. SQLite keeps the
        written order of a ``CROSS JOIN``; PostgreSQL cannot flatten a ``LATERAL`` subquery with an
        ``OFFSET``, so it runs it per row, through the index."""
        if self.pg:
            return (
                f"CROSS JOIN LATERAL (SELECT {columns} FROM {table} AS "
                f"{alias} WHERE {alias}.run_id = {key} OFFSET 0) AS {alias}"
            )
        return f"CROSS JOIN {table} AS {alias} ON {alias}.run_id = {key}"


def _changed(d: _Dialect, alias: str, other: str | None, key: str, columns: tuple[str, ...]) -> str:
    """SQL condition: row ``alias`` has no partner in ``other`` (same ``key``) agreeing on
    ``columns`` — it changes the rollup reading them. Always true without ``other``."""
    if other is None:
        return "true"
    same = " AND ".join(f"x.{c} {d.same} {alias}.{c}" for c in columns)
    return f"NOT EXISTS (SELECT 1 FROM {other} AS x WHERE x.{key} = {alias}.{key} AND {same})"


def _sides(
    d: _Dialect, rels: _Rels, key: str, reads: tuple[str, ...], new_sql: str, old_sql: str
) -> list[str]:
    """The ``SELECT``s of the new side (``new_sql`` over alias ``n``) and the old side (``old_sql``
    over alias ``o``), each restricted to rows whose partner differs on ``reads``.

    ``new_sql``/``old_sql`` hold ``{rel}`` (the relation) and ``{changed}`` (the condition)."""
    parts = []
    if rels.new is not None:
        parts.append(new_sql.format(rel=rels.new, changed=_changed(d, "n", rels.old, key, reads)))
    if rels.old is not None:
        parts.append(old_sql.format(rel=rels.old, changed=_changed(d, "o", rels.partner, key, reads)))
    return parts


class _Rels:
    """The old and new versions of the changed rows; ``partner``: where an old row's new version
    is looked up (``new`` unless a cheaper relation holding the same rows for those keys is given)."""

    def __init__(self, old: str | None, new: str | None, partner: str | None) -> None:
        self.old, self.new = old, new
        self.partner = partner if new is not None and partner is not None else new


def _fold_into(d: _Dialect, table: str, select_keys: str, source: str, group: int) -> str:
    """Add the grouped sums of ``source`` to the additive rollup ``table`` (PostgreSQL: append a
    change for ``compact`` to fold; SQLite: upsert its one row per key)."""
    keys, sums, _ = APPEND_TABLES[table]
    columns = ", ".join((*keys, *sums, "merged"))
    group_by = ", ".join(str(i) for i in range(1, group + 1))
    nonzero = " OR ".join(f"sum({c}) <> 0" for c in sums)
    totals = ", ".join(f"sum({c})" for c in sums)
    select = f"SELECT {select_keys}, {totals}, {'false' if d.pg else 1} FROM ({source}) AS d WHERE true "
    select += f"GROUP BY {group_by} HAVING {nonzero}"
    if d.pg:
        return f"INSERT INTO {table} ({columns}) {select}"
    updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in sums)
    return f"INSERT INTO {table} ({columns}) {select} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"


def run_changes(dialect: str, old: str | None, new: str | None, *, partner: str | None = None) -> list[str]:
    """Statements moving every rollup from ``old`` to ``new`` versions of a set of runs.

    ``old`` / ``new``: relations (a table name or a parenthesised ``SELECT``) with at least
    :data:`RUN_FOLD_COLUMNS`, unique by ``run_id``; ``None`` when there are none. ``partner``: a
    relation where the new version of an old row is found by ``run_id`` faster than in ``new``
    (e.g. ``runs`` itself, when ``new`` is the changed subset of it). ``llm_calls`` and
    ``run_tags`` are read as they are when the statements run (the calls of the runs as they were
    when the runs changed; the tags of the old versions).
    """
    d = _Dialect(dialect)
    rels = _Rels(old, new, partner)
    statements: list[str] = []

    # rollup_runs: one row per (day, agent, status, root-ness)
    sides = _sides(
        d, rels, "run_id", _RUNS_READS,
        f"SELECT {d.day('n')} AS day, n.agent_name AS "
        f"agent_name, n.status AS status, {root('n')} AS is_root, "
        f"1 AS runs, {tokens('n')} AS tokens, n.total_cost AS cost FROM {{rel}} AS n WHERE {{changed}}",
        f"SELECT {d.day('o')} AS day, o.agent_name AS "
        f"agent_name, o.status AS status, {root('o')} AS is_root, "
        f"-1 AS runs, -{tokens('o')} AS tokens, -o.total_cost AS cost FROM {{rel}} AS o WHERE {{changed}}",
    )  # fmt: skip
    statements.append(
        _fold_into(d, "rollup_runs", "day, agent_name, status, is_root", " UNION ALL ".join(sides), 4)
    )
    if old is not None and not d.pg:
        statements.append(
            f"DELETE FROM rollup_runs WHERE runs = 0 AND (day, agent_name, status, is_root) IN "
            f"(SELECT {d.day('o')}, o.agent_name, o.status, {root('o')} FROM {old} AS o)"
        )

    # rollup_calls: the run's calls follow its day and agent
    sides = _sides(
        d, rels, "run_id", _CALLS_OF_RUN_READS,
        f"SELECT {d.day('n')} AS day, n.agent_name AS agent_name, c.model AS model, c.provider AS provider, "
        f"1 AS calls, c.tokens_in AS tokens_in, c.tokens_out AS tokens_out, c.cost AS cost "
        f"FROM {{rel}} AS n {d.rows_of('llm_calls', 'c', 'n.run_id', _CALL_COLUMNS)} WHERE {{changed}}",
        f"SELECT {d.day('o')} AS day, o.agent_name AS agent_name, c.model AS model, c.provider AS provider, "
        f"-1 AS calls, -c.tokens_in AS tokens_in, -c.tokens_out AS tokens_out, -c.cost AS cost "
        f"FROM {{rel}} AS o {d.rows_of('llm_calls', 'c', 'o.run_id', _CALL_COLUMNS)} WHERE {{changed}}",
    )  # fmt: skip
    statements.append(
        _fold_into(d, "rollup_calls", "day, agent_name, model, provider", " UNION ALL ".join(sides), 4)
    )
    if old is not None and not d.pg:
        statements.append(
            f"DELETE FROM rollup_calls WHERE calls = 0 AND (day, agent_name) IN "
            f"(SELECT {d.day('o')}, o.agent_name FROM {old} AS o)"
        )

    statements += _tag_changes(d, rels)
    for table, column in ENTITIES:
        statements += _entity_changes(d, table, column, rels)
    return statements


def _tag_changes(d: _Dialect, rels: _Rels) -> list[str]:
    """``rollup_tags`` moved for the runs whose tags or tagged measures changed, under their stored
    tags: the old versions are taken out under ``run_tags`` as stored, which are then replaced for
    the runs whose tags (or start) changed, and the new versions added under the new ones."""
    old, new = rels.old, rels.new
    statements: list[str] = []
    keys = "tag_key, tag_value, day, status, is_root"
    if old is not None:
        changed = _changed(d, "o", rels.partner, "run_id", _TAGS_READS)
        taken = (
            "SELECT t.tag_key AS tag_key, t.tag_value AS "
            f"tag_value, {d.day('o')} AS day, o.status AS status, "
            f"{root('o')} AS is_root, -1 AS runs, -{tokens('o')} AS tokens, -o.total_cost AS cost "
            f"FROM {old} AS o {d.rows_of('run_tags', 't', 'o.run_id', _TAG_COLUMNS)} WHERE {changed}"
        )
        statements.append(_fold_into(d, "rollup_tags", keys, taken, 5))
        if not d.pg:
            statements.append(
                f"DELETE FROM rollup_tags WHERE runs = 0 AND ({keys}) IN (SELECT t.tag_key, t.tag_value, "
                f"{d.day('o')}, o.status, {root('o')} FROM {old} AS o "
                f"{d.rows_of('run_tags', 't', 'o.run_id', _TAG_COLUMNS)})"
            )
        retagged = _changed(d, "o", rels.partner, "run_id", _TAG_SET_READS)
        statements.append(
            f"DELETE FROM run_tags WHERE run_id IN (SELECT o.run_id FROM {old} AS o WHERE {retagged})"
        )
    if new is not None:
        source, key, value, condition = tags_of(d.name, "n")
        statements.append(
            f"INSERT INTO run_tags (run_id, tag_key, tag_value, started_at) "
            f"SELECT n.run_id, {key}, {value}, n.started_at FROM {new} AS n, {source} "
            f"WHERE {_changed(d, 'n', old, 'run_id', _TAG_SET_READS)} AND {condition} "
            f"ON CONFLICT (run_id, tag_key) DO NOTHING"
        )
        added = (
            "SELECT t.tag_key AS tag_key, t.tag_value AS "
            f"tag_value, {d.day('n')} AS day, n.status AS status, "
            f"{root('n')} AS is_root, 1 AS runs, {tokens('n')} AS tokens, n.total_cost AS cost "
            f"FROM {new} AS n {d.rows_of('run_tags', 't', 'n.run_id', _TAG_COLUMNS)} "
            f"WHERE {_changed(d, 'n', old, 'run_id', _TAGS_READS)}"
        )
        statements.append(_fold_into(d, "rollup_tags", keys, added, 5))
    return statements


def _entity_changes(d: _Dialect, table: str, column: str, rels: _Rels) -> list[str]:
    """Sessions or users: sums moved, bounds widened by the new versions, and recomputed from
    ``runs`` only where an old version held a bound that no new version of it still holds."""
    reads = (column, *_ENTITY_READS)
    sides = _sides(
        d, rels, "run_id", reads,
        f"SELECT n.{column} AS k, 1 AS runs, {tokens('n')} AS tokens, n.total_cost AS cost, "
        f"n.started_at AS first_seen, {last('n')} AS last_seen "
        f"FROM {{rel}} AS n WHERE n.{column} <> '' AND {{changed}}",
        f"SELECT o.{column} AS k, -1 AS runs, -{tokens('o')} AS tokens, -o.total_cost AS cost, "
        f"CAST(NULL AS {d.float}) AS first_seen, CAST(NULL AS {d.float}) AS last_seen "
        f"FROM {{rel}} AS o WHERE o.{column} <> '' AND {{changed}}",
    )  # fmt: skip
    statements = [
        (
            f"INSERT INTO {table} ({column}, runs, tokens, cost, first_seen, last_seen) "
            f"SELECT k, sum(runs), sum(tokens), sum(cost), coalesce(min(first_seen), {d.inf}), "
            f"coalesce(max(last_seen), -{d.inf}) FROM "
            f"({' UNION ALL '.join(sides)}) AS d WHERE true GROUP BY k "
            f"ON CONFLICT ({column}) DO UPDATE SET runs = {table}.runs + excluded.runs, "
            f"tokens = {table}.tokens + excluded.tokens, cost = {table}.cost + excluded.cost, "
            f"first_seen = {d.least}({table}.first_seen, excluded.first_seen), "
            f"last_seen = {d.greatest}({table}.last_seen, excluded.last_seen)"
        )
    ]
    old, partner = rels.old, rels.partner
    if old is None:
        return statements
    changed = _changed(d, "o", partner, "run_id", reads)
    statements.append(
        f"DELETE FROM {table} WHERE runs <= 0 AND {column} IN "
        f"(SELECT o.{column} FROM {old} AS o WHERE o.{column} <> '' AND {changed})"
    )
    # An old version held a bound (first or last activity) that its new version, under the same key,
    # does not hold any more: that key's bounds are recomputed from ``runs``.
    first_lost = f"o.started_at <= (SELECT e.first_seen FROM {table} AS e WHERE e.{column} = o.{column})"
    last_lost = f"{last('o')} >= (SELECT e.last_seen FROM {table} AS e WHERE e.{column} = o.{column})"
    source = f"{old} AS o"
    if partner is not None:
        source += f" LEFT JOIN {partner} AS x ON x.run_id = o.run_id AND x.{column} = o.{column}"
        first_lost += " AND (x.run_id IS NULL OR x.started_at > o.started_at)"
        last_lost += f" AND (x.run_id IS NULL OR {last('x')} < {last('o')})"
    statements.append(
        f"UPDATE {table} SET first_seen = (SELECT min(r.started_at) "
        f"FROM runs AS r WHERE r.{column} = {table}.{column}), "
        f"last_seen = (SELECT max({last('r')}) FROM runs AS r WHERE r.{column} = {table}.{column}) "
        f"WHERE {column} IN (SELECT o.{column} FROM {source} WHERE o.{column} <> '' AND {changed} "
        f"AND (({first_lost}) OR ({last_lost})))"
    )
    return statements


def call_changes(dialect: str, old: str | None, new: str | None) -> list[str]:
    """Statements moving ``rollup_calls`` from ``old`` to ``new`` versions of a set of LLM calls
    (relations with :data:`CALL_FOLD_COLUMNS`, unique by ``id``), each under the day and agent of
    its run as stored now (a call whose run is not stored counts nowhere)."""
    d = _Dialect(dialect)
    sides = _sides(
        d,
        _Rels(old, new, None),
        "id",
        _CALL_READS,
        "SELECT n.run_id AS run_id, n.model AS model, n.provider AS provider, 1 AS calls, "
        "n.tokens_in AS tokens_in, n.tokens_out AS tokens_out, n.cost AS cost "
        "FROM {rel} AS n WHERE {changed}",
        "SELECT o.run_id AS run_id, o.model AS model, o.provider AS provider, -1 AS calls, "
        "-o.tokens_in AS tokens_in, -o.tokens_out AS tokens_out, "
        "-o.cost AS cost FROM {rel} AS o WHERE {changed}",
    )
    source = (
        f"SELECT {d.day('r')} AS day, r.agent_name AS agent_name, c.model AS model, c.provider AS provider, "
        f"c.calls AS calls, c.tokens_in AS tokens_in, c.tokens_out AS tokens_out, c.cost AS cost "
        f"FROM ({' UNION ALL '.join(sides)}) AS c {d.rows_of('runs', 'r', 'c.run_id', _RUN_KEY_COLUMNS)}"
    )
    statements = [_fold_into(d, "rollup_calls", "day, agent_name, model, provider", source, 4)]
    if old is not None and not d.pg:
        statements.append(
            f"DELETE FROM rollup_calls WHERE calls = 0 AND (day, agent_name) IN "
            f"(SELECT {d.day('r')}, r.agent_name FROM {old} AS o "
            f"{d.rows_of('runs', 'r', 'o.run_id', _RUN_KEY_COLUMNS)})"
        )
    return statements


_PG_TRIGGERS = {"runs": ("wx_runs_batch", run_changes), "llm_calls": ("wx_calls_batch", call_changes)}


def pg_statement_ddl() -> list[str]:
    """PostgreSQL: statement-level triggers applying :func:`run_changes` / :func:`call_changes` to
    each statement's transition tables, in transactions that set ``waxell.rollups`` to ``batch``
    (where the per-row triggers of ``rollup_rows`` stand aside)."""
    ddl: list[str] = []
    when = f"current_setting('{BATCH_SETTING}', true) = 'batch'"
    for table, (prefix, changes) in _PG_TRIGGERS.items():
        for event, old, new in (
            ("INSERT", None, "wx_new"),
            ("UPDATE", "wx_old", "wx_new"),
            ("DELETE", "wx_old", None),
        ):
            name = f"{prefix}_{event.lower()}"
            body = ";\n  ".join(changes("postgresql", old, new))
            ddl.append(
                f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $wx$\nBEGIN\n"
                # an ON CONFLICT DO UPDATE that updated nothing still fires its UPDATE trigger
                f"  IF NOT EXISTS (SELECT 1 FROM {old or new}) THEN\n    RETURN NULL;\n  END IF;\n"
                f"  {body};\n  RETURN NULL;\nEND\n$wx$"
            )
            referencing = " ".join(
                f"{kind} TABLE AS {rel}" for kind, rel in (("OLD", old), ("NEW", new)) if rel is not None
            )
            ddl.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            ddl.append(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {referencing} "
                f"FOR EACH STATEMENT WHEN ({when}) EXECUTE FUNCTION {name}()"
            )
    return ddl

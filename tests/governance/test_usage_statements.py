"""The counters' statements are defined once and compile for both databases."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Compiled
from sqlalchemy.sql import ClauseElement

from waxell_observe.governance import usage_statements as q


def _postgresql(statement: q.Statement) -> Compiled:
    core = statement.core_for("postgresql")
    assert isinstance(core, ClauseElement)
    return core.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]


def _statements() -> list[q.Statement]:
    named = [v for v in vars(q).values() if isinstance(v, q.Statement)]
    return [*named, *q.PRUNE, *q.RESET]


def test_every_statement_compiles_to_qmark_sqlite_and_to_postgresql() -> None:
    statements = _statements()
    assert len(statements) > 20
    for statement in statements:
        compiled = statement.sqlite
        assert compiled.sql.count("?") == len(statement.names), compiled.sql
        assert compiled.order is None, compiled.sql  # parameters given in placeholder order: no reordering
        pg = _postgresql(statement)
        assert set(pg.params) == set(statement.names), pg.string


def test_a_run_is_counted_once_on_both_databases() -> None:
    assert q.INSERT_OUTCOME.sqlite.sql.endswith("ON CONFLICT (run_id) DO NOTHING RETURNING run_id")
    pg = _postgresql(q.INSERT_OUTCOME).string
    assert "ON CONFLICT (run_id) DO NOTHING RETURNING gov_run_outcomes.run_id" in pg

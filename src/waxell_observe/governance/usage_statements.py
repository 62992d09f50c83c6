"""Every statement of the store's governance counters, defined once in SQLAlchemy Core.

:class:`~.sql_usage.SqlUsage` runs them over a :class:`~.usage_database.UsageDatabase`: through
SQLAlchemy as they are (PostgreSQL, in-memory SQLite), or compiled once to a ``qmark`` SQL string that
a plain ``sqlite3`` connection executes (a SQLite file: the agent's hot path, see :mod:`.sqlite_usage`).

A statement's parameters are named in :class:`Statement` and given as a tuple in that order: the SQLite
form passes the tuple straight to ``sqlite3`` when the compiled placeholders come in the same order
(every statement here), the Core form zips it into the bind names. Constants are written as literal
columns, never bound, so every placeholder is a named parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Executable,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from waxell_observe.store.schema import (
    gov_admissions,
    gov_breakers,
    gov_outcome_buckets,
    gov_run_outcomes,
    gov_slots,
    gov_usage,
)

__all__ = ["ALL_TABLES", "SqliteStatement", "Statement"]

_SQLITE = sqlite.dialect(paramstyle="qmark")


class SqliteStatement:
    """A :class:`Statement` compiled for a plain ``sqlite3`` connection: ``sql`` and how to order a
    parameter tuple for it (``order`` None: as given)."""

    __slots__ = ("order", "sql")

    def __init__(self, sql: str, order: tuple[int, ...] | None) -> None:
        self.sql = sql
        self.order = order

    def bind(self, params: Sequence[Any]) -> Sequence[Any]:
        order = self.order
        return params if order is None else tuple(params[i] for i in order)


#: A dialect's ``insert`` (the one with ``on_conflict_do_*``), given to the builders of upserts.
Upsert = Callable[[Any], Any]
_UPSERTS: dict[str, Upsert] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class Statement:
    """One counter statement with its parameters ``names`` (in the order callers give them).

    ``core``: the SQLAlchemy Core statement, or for an upsert a function of the dialect's ``insert``
    that builds it (:meth:`core_for` builds it once per dialect). :attr:`sqlite` is compiled from the
    SQLite form on first use."""

    __slots__ = ("_build", "_cores", "_sqlite", "names")

    def __init__(self, core: Executable | Callable[[Upsert], Executable], *names: str) -> None:
        self._build = core
        self._cores: dict[str, Executable] = {}
        self.names = names
        self._sqlite: SqliteStatement | None = None

    def core_for(self, dialect: str) -> Executable:
        """The Core statement for ``dialect`` (``"sqlite"``, ``"postgresql"``)."""
        try:
            return self._cores[dialect]
        except KeyError:
            build = self._build
            core = build if isinstance(build, Executable) else build(_UPSERTS[dialect])
            self._cores[dialect] = core
            return core

    @property
    def sqlite(self) -> SqliteStatement:
        compiled = self._sqlite
        if compiled is None:
            compiled = self._sqlite = self._compile_sqlite()
        return compiled

    def _compile_sqlite(self) -> SqliteStatement:
        compiled = self.core_for("sqlite").compile(dialect=_SQLITE)  # type: ignore[attr-defined]
        positions: list[str] = list(compiled.positiontup or ())
        unknown = set(positions) - set(self.names)
        if unknown:
            raise ValueError(f"unnamed parameters {sorted(unknown)} in {compiled.string!r}")
        order = tuple(self.names.index(name) for name in positions)
        identity = order == tuple(range(len(self.names)))
        return SqliteStatement(compiled.string, None if identity else order)

    def params(self, values: Sequence[Any]) -> dict[str, Any]:
        """``values`` as the bind parameters of the Core statement."""
        return dict(zip(self.names, values, strict=True))

    def __repr__(self) -> str:
        return f"Statement({self.sqlite.sql!r})"


def _p(name: str, column: Any = None) -> Any:
    return bindparam(name, type_=None if column is None else column.type)


_u = gov_usage.c
_o = gov_run_outcomes.c
_b = gov_outcome_buckets.c
_a = gov_admissions.c
_s = gov_slots.c
_k = gov_breakers.c

# ---------------------------------------------------------------------- recording a finished run


def _insert_outcome(upsert: Upsert) -> Executable:
    values = upsert(gov_run_outcomes).values(
        run_id=_p("run_id", _o.run_id),
        ended_at=_p("ended_at", _o.ended_at),
        agent_name=_p("agent_name", _o.agent_name),
        workflow_name=_p("workflow_name", _o.workflow_name),
        user_group=_p("user_group", _o.user_group),
        error=_p("error", _o.error),
        tokens=_p("tokens", _o.tokens),
        cost=_p("cost", _o.cost),
    )
    inserted = values.on_conflict_do_nothing(index_elements=["run_id"])
    return inserted.returning(gov_run_outcomes.c.run_id)  # type: ignore[no-any-return]


def _add_outcome(upsert: Upsert) -> Executable:
    values = upsert(gov_outcome_buckets).values(
        bucket=_p("bucket", _b.bucket),
        agent_name=_p("agent_name", _b.agent_name),
        workflow_name=_p("workflow_name", _b.workflow_name),
        user_group=_p("user_group", _b.user_group),
        errors=_p("errors", _b.errors),
        total=literal_column("1"),
    )
    return values.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=["bucket", "agent_name", "workflow_name", "user_group"],
        set_={"errors": _b.errors + values.excluded.errors, "total": _b.total + values.excluded.total},
    )


def _add_usage(upsert: Upsert) -> Executable:
    values = upsert(gov_usage).values(
        bucket=_p("bucket", _u.bucket),
        agent_name=_p("agent_name", _u.agent_name),
        workflow_name=_p("workflow_name", _u.workflow_name),
        user_group=_p("user_group", _u.user_group),
        model=_p("model", _u.model),
        tokens=_p("tokens", _u.tokens),
        cost=_p("cost", _u.cost),
    )
    return values.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=["bucket", "agent_name", "workflow_name", "user_group", "model"],
        set_={"tokens": _u.tokens + values.excluded.tokens, "cost": _u.cost + values.excluded.cost},
    )


#: The run's outcome, once per run id (returns the run id the first time, no row after).
INSERT_OUTCOME = Statement(
    _insert_outcome,
    *("run_id", "ended_at", "agent_name", "workflow_name", "user_group", "error", "tokens", "cost"),
)
#: One more run (and error) in an outcome bucket.
ADD_OUTCOME = Statement(_add_outcome, "bucket", "agent_name", "workflow_name", "user_group", "errors")
#: Tokens and cost of one model added to an hour's usage (executed once per model).
ADD_USAGE = Statement(
    _add_usage, *("bucket", "agent_name", "workflow_name", "user_group", "model", "tokens", "cost")
)

#: Free the slot of one holder (executed once per holder).
DELETE_HOLDER_SLOTS = Statement(delete(gov_slots).where(_s.holder == _p("holder", _s.holder)), "holder")

# ---------------------------------------------------------------------- reads

#: ``(agent, workflow, group, "", tokens, cost)`` per identity since an hour bucket.
USAGE_BY_IDENTITY = Statement(
    select(
        _u.agent_name,
        _u.workflow_name,
        _u.user_group,
        literal_column("''"),
        func.sum(_u.tokens),
        func.sum(_u.cost),
    )
    .where(_u.bucket >= _p("bucket", _u.bucket))
    .group_by(_u.agent_name, _u.workflow_name, _u.user_group),
    "bucket",
)
#: ``(agent, workflow, group, model, tokens, cost)`` per identity and model since an hour bucket.
USAGE_BY_MODEL = Statement(
    select(_u.agent_name, _u.workflow_name, _u.user_group, _u.model, func.sum(_u.tokens), func.sum(_u.cost))
    .where(_u.bucket >= _p("bucket", _u.bucket))
    .group_by(_u.agent_name, _u.workflow_name, _u.user_group, _u.model),
    "bucket",
)
#: ``(agent, workflow, group, total, errors)`` of the whole outcome buckets from one on.
OUTCOME_BUCKETS_SINCE = Statement(
    select(_b.agent_name, _b.workflow_name, _b.user_group, func.sum(_b.total), func.sum(_b.errors))
    .where(_b.bucket >= _p("first", _b.bucket))
    .group_by(_b.agent_name, _b.workflow_name, _b.user_group),
    "first",
)
#: ``(agent, workflow, group, total, errors)`` of the runs that ended in ``[since, first)``.
OUTCOMES_BETWEEN = Statement(
    select(
        _o.agent_name,
        _o.workflow_name,
        _o.user_group,
        func.count(),
        func.sum(case((_o.error, literal_column("1")), else_=literal_column("0"))),
    )
    .where(and_(_o.ended_at >= _p("since", _o.ended_at), _o.ended_at < _p("first", _o.ended_at)))
    .group_by(_o.agent_name, _o.workflow_name, _o.user_group),
    "since",
    "first",
)
#: How many admissions of a policy after a time.
COUNT_ADMISSIONS = Statement(
    select(func.count()).where(
        and_(_a.scope_key == _p("scope_key", _a.scope_key), _a.at > _p("after", _a.at))
    ),
    "scope_key",
    "after",
)
#: The time of the ``offset``-th latest admission of a policy after a time.
NTH_LATEST_ADMISSION = Statement(
    select(_a.at)
    .where(and_(_a.scope_key == _p("scope_key", _a.scope_key), _a.at > _p("after", _a.at)))
    .order_by(_a.at.desc(), _a.id.desc())
    .limit(bindparam("limit", type_=gov_admissions.c.id.type))
    .offset(bindparam("offset", type_=gov_admissions.c.id.type)),
    *("scope_key", "after", "limit", "offset"),
)
#: The owners of a policy's unexpired slots.
SLOT_OWNERS = Statement(
    select(_s.owner).where(
        and_(_s.scope_key == _p("scope_key", _s.scope_key), _s.expires_at > _p("now", _s.expires_at))
    ),
    "scope_key",
    "now",
)
#: ``(holder, owner, expires_at)`` of every slot of a policy.
SLOTS = Statement(
    select(_s.holder, _s.owner, _s.expires_at).where(_s.scope_key == _p("scope_key", _s.scope_key)),
    "scope_key",
)
#: A breaker's state.
BREAKER = Statement(select(_k.state).where(_k.scope_key == _p("scope_key", _k.scope_key)), "scope_key")

# ---------------------------------------------------------------------- admission

#: Take a concurrency slot.
INSERT_SLOT = Statement(
    insert(gov_slots).values(
        scope_key=_p("scope_key", _s.scope_key),
        holder=_p("holder", _s.holder),
        taken_at=_p("taken_at", _s.taken_at),
        expires_at=_p("expires_at", _s.expires_at),
        owner=_p("owner", _s.owner),
    ),
    *("scope_key", "holder", "taken_at", "expires_at", "owner"),
)
#: Record an admission.
INSERT_ADMISSION = Statement(
    insert(gov_admissions).values(
        scope_key=_p("scope_key", _a.scope_key), holder=_p("holder", _a.holder), at=_p("at", _a.at)
    ),
    *("scope_key", "holder", "at"),
)
#: Free one holder's slot of a policy (executed once per holder).
DELETE_SLOT = Statement(
    delete(gov_slots).where(
        and_(_s.scope_key == _p("scope_key", _s.scope_key), _s.holder == _p("holder", _s.holder))
    ),
    "scope_key",
    "holder",
)
#: Take back the latest admission of a holder.
DELETE_LATEST_ADMISSION = Statement(
    delete(gov_admissions).where(
        _a.id
        == select(func.max(_a.id))
        .where(and_(_a.scope_key == _p("scope_key", _a.scope_key), _a.holder == _p("holder", _a.holder)))
        .scalar_subquery()
    ),
    "scope_key",
    "holder",
)

# ---------------------------------------------------------------------- breakers


def _set_breaker(upsert: Upsert) -> Executable:
    values = upsert(gov_breakers).values(
        scope_key=_p("scope_key", _k.scope_key),
        state=_p("state", _k.state),
        updated_at=_p("updated_at", _k.updated_at),
    )
    return values.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=["scope_key"],
        set_={"state": values.excluded.state, "updated_at": values.excluded.updated_at},
    )


#: Store a breaker's state (``state``: JSON).
SET_BREAKER = Statement(_set_breaker, "scope_key", "state", "updated_at")
#: Forget a breaker's state.
DELETE_BREAKER = Statement(
    delete(gov_breakers).where(_k.scope_key == _p("scope_key", _k.scope_key)), "scope_key"
)

# ---------------------------------------------------------------------- housekeeping

#: Delete the rows older than anything a policy asks about; parameters: the cut-off of each table.
PRUNE = (
    Statement(delete(gov_admissions).where(_a.at < _p("before", _a.at)), "before"),
    Statement(delete(gov_run_outcomes).where(_o.ended_at < _p("before", _o.ended_at)), "before"),
    Statement(delete(gov_outcome_buckets).where(_b.bucket < _p("before", _b.bucket)), "before"),
    Statement(delete(gov_usage).where(_u.bucket < _p("before", _u.bucket)), "before"),
    Statement(delete(gov_slots).where(_s.expires_at <= _p("now", _s.expires_at)), "now"),
)
#: Every governance table (emptied by ``reset``).
ALL_TABLES = (gov_usage, gov_run_outcomes, gov_outcome_buckets, gov_admissions, gov_slots, gov_breakers)
#: Empty the governance tables.
RESET = tuple(Statement(delete(table)) for table in ALL_TABLES)

"""Which runs used which version of a managed prompt, and what those runs cost and scored.

A run *used* version ``v`` of prompt ``name`` when either

* it has a ``prompt`` span named ``prompt.use:<name>`` (``record_prompt_use`` / ``prompt_use``) whose
  ``version`` attribute is ``v``, or, without a version, whose ``content_hash`` attribute is the
  content hash of ``v``; or
* one of its LLM calls carries ``prompt_hash`` equal to the content hash of ``v``
  (``record_llm_call(prompt_hash=...)``, e.g. ``PromptInfo.compile(...)._waxell_template_hash``).

Two versions with the same content share their hash: a call with that hash counts for both. A span
that names only a label cannot be placed on a version (labels move); such runs are counted on the
prompt as ``unattributed_run_count``.

The queries go through two partial indexes defined here (:data:`INDEXES`): prompt spans by name,
and LLM calls with a prompt hash. Every other span and call is left out of them, so they cost
nothing to runs that do not use managed prompts. ``Store.create_schema`` adds them to older stores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Index, bindparam, func, select, text, true

from waxell_observe.store.reader import _score_value, iso
from waxell_observe.store.schema import llm_calls, prompts, scores, spans

__all__ = [
    "INDEXES",
    "INDEXES_KEY",
    "INDEXES_VERSION",
    "PROMPT_SPAN_PREFIX",
    "prompt_overview",
    "prompt_usage",
]

PROMPT_SPAN_PREFIX = "prompt.use:"
"""A ``prompt`` span's name is this prefix and the prompt's name."""

INDEXES = (
    Index(
        "ix_spans_prompt_use",
        spans.c.name,
        spans.c.run_id,
        spans.c.started_at,
        sqlite_where=text("kind = 'prompt'"),
        postgresql_where=text("kind = 'prompt'"),
    ),
    Index(
        "ix_llm_calls_prompt_hash",
        llm_calls.c.prompt_hash,
        llm_calls.c.run_id,
        llm_calls.c.started_at,
        sqlite_where=text("prompt_hash <> ''"),
        postgresql_where=text("prompt_hash <> ''"),
    ),
)
"""Partial indexes on ``spans`` (``prompt`` spans only) and ``llm_calls`` (calls with a prompt hash)."""

INDEXES_KEY = "prompt_usage_indexes"
INDEXES_VERSION = "1"
"""``schema_info`` key and value recording that a store has :data:`INDEXES`."""

_CHUNK = 500
"""Values per ``IN (...)`` list."""


def _span_version(dialect: str) -> str:
    """SQL: a ``prompt`` span's ``version`` attribute as an integer (NULL when absent or not a number)."""
    if dialect == "postgresql":
        return (
            "CASE WHEN s.attributes->>'version' ~ '^[0-9]{1,9}$' "
            "THEN CAST(s.attributes->>'version' AS INTEGER) END"
        )
    return "CAST(json_extract(s.attributes, '$.version') AS INTEGER)"


def _span_hash(dialect: str) -> str:
    """SQL: a ``prompt`` span's ``content_hash`` attribute as text."""
    if dialect == "postgresql":
        return "s.attributes->>'content_hash'"
    return "json_extract(s.attributes, '$.content_hash')"


def _uses_sql(dialect: str) -> str:
    """SQL selecting ``(run_id, version)``: each run that used a version of ``:name`` (span name
    ``:span_name``), once per version. The literal ``kind = 'prompt'`` and ``prompt_hash <> ''``
    terms let SQLite pick the partial indexes."""
    version, digest = _span_version(dialect), _span_hash(dialect)
    return f"""
        SELECT s.run_id AS run_id, p.version AS version
        FROM spans s JOIN prompts p ON p.name = :name AND p.version = {version}
        WHERE s.kind = 'prompt' AND s.name = :span_name
        UNION
        SELECT s.run_id, p.version
        FROM spans s JOIN prompts p ON p.name = :name AND p.content_hash = {digest}
        WHERE s.kind = 'prompt' AND s.name = :span_name AND COALESCE({version}, 0) = 0
        UNION
        SELECT c.run_id, p.version
        FROM prompts p JOIN llm_calls c ON c.prompt_hash = p.content_hash
        WHERE p.name = :name AND c.prompt_hash <> ''
    """


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _labels(rows: Iterable[Any]) -> dict[str, int]:
    """``{label: version}`` over a prompt's versions (a label is on one version at a time)."""
    out: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: int(r.version)):
        for label in row.labels or []:
            out[str(label)] = int(row.version)
    return dict(sorted(out.items()))


def prompt_overview(
    conn: Connection, *, limit: int = 100, offset: int = 0, search: str = ""
) -> tuple[list[dict[str, Any]], int]:
    """A page of prompts by name, and how many prompts there are (with ``search``: those whose name
    contains it, ignoring case; ``%`` and ``_`` are plain characters).

    Each: ``name``, ``prompt_type`` and ``latest_version`` (of the newest version), ``version_count``,
    ``labels`` (``{label: version}``), ``created_at`` / ``updated_at`` (first and newest version,
    ISO 8601), ``run_count`` (runs that used any version or named the prompt) and ``last_used_at`` (the
    time of its newest use: a prompt span or an LLM call carrying a version's hash).
    """
    matching = func.lower(prompts.c.name).contains(search.lower(), autoescape=True) if search else true()
    total = int(conn.execute(select(func.count(func.distinct(prompts.c.name))).where(matching)).scalar_one())
    page = conn.execute(
        select(
            prompts.c.name,
            func.max(prompts.c.version).label("latest"),
            func.count().label("versions"),
            func.min(prompts.c.created_at).label("created"),
            func.max(prompts.c.created_at).label("updated"),
        )
        .where(matching)
        .group_by(prompts.c.name)
        .order_by(prompts.c.name)
        .limit(limit)
        .offset(offset)
    ).all()
    names = [str(row.name) for row in page]
    if not names:
        return [], total
    versions: dict[str, list[Any]] = {name: [] for name in names}
    for chunk in _chunks(names):
        query = select(prompts.c.name, prompts.c.version, prompts.c.prompt_type, prompts.c.labels).where(
            prompts.c.name.in_(chunk)
        )
        for row in conn.execute(query):
            versions[str(row.name)].append(row)
    usage = _usage_by_name(conn, names)
    out = []
    for row in page:
        name = str(row.name)
        latest = max(versions[name], key=lambda r: int(r.version))
        runs, last_used = usage.get(name, (0, None))
        out.append(
            {
                "name": name,
                "prompt_type": latest.prompt_type,
                "latest_version": int(row.latest),
                "version_count": int(row.versions),
                "labels": _labels(versions[name]),
                "created_at": iso(row.created),
                "updated_at": iso(row.updated),
                "run_count": runs,
                "last_used_at": iso(last_used),
            }
        )
    return out, total


def _usage_by_name(conn: Connection, names: Sequence[str]) -> dict[str, tuple[int, float | None]]:
    """``{name: (runs that used it, the time of its newest use)}``: prompt spans of each name (any
    version or none) and LLM calls whose hash is one of its versions', read from the partial
    indexes alone (they hold the run id and the time of each use)."""
    out: dict[str, tuple[int, float | None]] = {}
    for chunk in _chunks(names):
        statement = text(
            f"""
            SELECT u.name AS name, COUNT(DISTINCT u.run_id) AS runs, MAX(u.used_at) AS last_used
            FROM (
                SELECT SUBSTR(s.name, {len(PROMPT_SPAN_PREFIX) + 1}) AS name, s.run_id AS run_id,
                       s.started_at AS used_at
                FROM spans s WHERE s.kind = 'prompt' AND s.name IN :span_names
                UNION ALL
                SELECT p.name, c.run_id, c.started_at
                FROM prompts p JOIN llm_calls c ON c.prompt_hash = p.content_hash
                WHERE p.name IN :names AND c.prompt_hash <> ''
            ) u
            GROUP BY u.name
            """
        ).bindparams(bindparam("span_names", expanding=True), bindparam("names", expanding=True))
        params = {"span_names": [PROMPT_SPAN_PREFIX + n for n in chunk], "names": list(chunk)}
        for row in conn.execute(statement, params):
            out[str(row.name)] = (int(row.runs), row.last_used)
    return out


def prompt_usage(conn: Connection, name: str, *, recent: int = 10) -> dict[str, Any] | None:
    """Prompt ``name`` with every version (newest first) and its usage; ``None`` when unknown.

    The prompt's fields are those of :func:`prompt_overview` plus ``unattributed_run_count``. A
    version: ``version, prompt_type, content, config, labels, content_hash, created_at`` and
    ``usage``: ``run_count``, ``llm_calls`` / ``tokens_in`` / ``tokens_out`` / ``total_cost`` (sums
    over those runs), ``last_used_at`` (the newest start of those runs), ``linked_calls``
    (``count, tokens_in, tokens_out, cost`` of the LLM calls carrying the version's hash),
    ``scores`` (``[{name, mean, count}]``: numeric and boolean scores of those runs, booleans as
    1/0) and ``recent_runs`` (the newest ``recent``: ``run_id, agent_name, status, started_at,
    total_cost, tokens_in, tokens_out, scores``).
    """
    rows = conn.execute(
        select(prompts).where(prompts.c.name == name).order_by(prompts.c.version.desc())
    ).all()
    if not rows:
        return None
    params = {"name": name, "span_name": PROMPT_SPAN_PREFIX + name}
    _collect_uses(conn, params)
    uses = f"SELECT run_id, version FROM {_USES_TABLE}"
    totals = _run_totals(conn, uses, params)
    linked = _linked_calls(conn, name)
    score_means = _score_means(conn, uses, params)
    recent_runs = _recent_runs(conn, uses, params, recent)
    runs_overall, last_used = _usage_by_name(conn, [name]).get(name, (0, None))
    attributed = int(conn.execute(text(f"SELECT COUNT(DISTINCT run_id) FROM {_USES_TABLE}")).scalar_one())
    conn.execute(text(f"DELETE FROM {_USES_TABLE}"))
    versions = []
    for row in rows:
        version = int(row.version)
        run_total = totals.get(version, {})
        versions.append(
            {
                "version": version,
                "prompt_type": row.prompt_type,
                "content": row.content,
                "config": row.config or {},
                "labels": list(row.labels or []),
                "content_hash": row.content_hash,
                "created_at": iso(row.created_at),
                "usage": {
                    "run_count": run_total.get("run_count", 0),
                    "llm_calls": run_total.get("llm_calls", 0),
                    "tokens_in": run_total.get("tokens_in", 0),
                    "tokens_out": run_total.get("tokens_out", 0),
                    "total_cost": run_total.get("total_cost", 0.0),
                    "last_used_at": iso(run_total.get("last_used")),
                    "linked_calls": linked.get(
                        version, {"count": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0.0}
                    ),
                    "scores": score_means.get(version, []),
                    "recent_runs": recent_runs.get(version, []),
                },
            }
        )
    return {
        "name": name,
        "prompt_type": rows[0].prompt_type,
        "latest_version": int(rows[0].version),
        "version_count": len(rows),
        "labels": _labels(rows),
        "created_at": iso(min(float(r.created_at) for r in rows)),
        "updated_at": iso(max(float(r.created_at) for r in rows)),
        "run_count": runs_overall,
        "last_used_at": iso(last_used),
        "unattributed_run_count": max(0, runs_overall - attributed),
        "versions": versions,
    }


_USES_TABLE = "wx_prompt_uses"
"""A temporary table (of the connection) holding the ``(run_id, version)`` uses of the prompt being
read, found once and then read by each aggregate."""


def _collect_uses(conn: Connection, params: dict[str, Any]) -> None:
    """Fill :data:`_USES_TABLE` with the uses (:func:`_uses_sql`) of ``params["name"]`` by runs that
    are stored. Temporary tables are private to the connection and never touch the store's files,
    so this is fine inside a read transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_USES_TABLE} (run_id VARCHAR(64), version INTEGER)")
        )
    else:
        conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {_USES_TABLE} (run_id TEXT, version INTEGER)"))
    conn.execute(text(f"DELETE FROM {_USES_TABLE}"))
    conn.execute(
        text(
            f"INSERT INTO {_USES_TABLE} (run_id, version) SELECT u.run_id, u.version "
            f"FROM ({_uses_sql(conn.dialect.name)}) u JOIN runs r ON r.run_id = u.run_id"
        ),
        params,
    )


def _run_totals(conn: Connection, uses: str, params: dict[str, Any]) -> dict[int, dict[str, Any]]:
    statement = text(
        f"""
        SELECT u.version AS version, COUNT(*) AS runs, SUM(r.llm_call_count) AS calls,
               SUM(r.tokens_in) AS tokens_in, SUM(r.tokens_out) AS tokens_out, SUM(r.total_cost) AS cost,
               MAX(r.started_at) AS last_used
        FROM ({uses}) u JOIN runs r ON r.run_id = u.run_id
        GROUP BY u.version
        """
    )
    return {
        int(row.version): {
            "run_count": int(row.runs),
            "llm_calls": int(row.calls or 0),
            "tokens_in": int(row.tokens_in or 0),
            "tokens_out": int(row.tokens_out or 0),
            "total_cost": float(row.cost or 0.0),
            "last_used": row.last_used,
        }
        for row in conn.execute(statement, params)
    }


def _linked_calls(conn: Connection, name: str) -> dict[int, dict[str, Any]]:
    statement = text(
        """
        SELECT p.version AS version, COUNT(*) AS calls, SUM(c.tokens_in) AS tokens_in,
               SUM(c.tokens_out) AS tokens_out, SUM(c.cost) AS cost
        FROM prompts p JOIN llm_calls c ON c.prompt_hash = p.content_hash
        WHERE p.name = :name AND c.prompt_hash <> ''
        GROUP BY p.version
        """
    )
    return {
        int(row.version): {
            "count": int(row.calls),
            "tokens_in": int(row.tokens_in or 0),
            "tokens_out": int(row.tokens_out or 0),
            "cost": float(row.cost or 0.0),
        }
        for row in conn.execute(statement, {"name": name})
    }


def _score_means(conn: Connection, uses: str, params: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    statement = text(
        f"""
        SELECT u.version AS version, sc.name AS name, AVG(sc.numeric_value) AS mean,
               COUNT(sc.numeric_value) AS n
        FROM ({uses}) u JOIN runs r ON r.run_id = u.run_id JOIN scores sc ON sc.run_id = u.run_id
        WHERE sc.numeric_value IS NOT NULL
        GROUP BY u.version, sc.name
        ORDER BY sc.name
        """
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for row in conn.execute(statement, params):
        out.setdefault(int(row.version), []).append(
            {"name": str(row.name), "mean": float(row.mean), "count": int(row.n)}
        )
    return out


def _recent_runs(
    conn: Connection, uses: str, params: dict[str, Any], recent: int
) -> dict[int, list[dict[str, Any]]]:
    statement = text(
        f"""
        SELECT version, run_id, agent_name, status, started_at, total_cost, tokens_in, tokens_out FROM (
            SELECT u.version AS version, r.run_id AS run_id, r.agent_name AS agent_name, r.status AS status,
                   r.started_at AS started_at, r.total_cost AS total_cost, r.tokens_in AS tokens_in,
                   r.tokens_out AS tokens_out,
                   ROW_NUMBER() OVER (
                       PARTITION BY u.version ORDER BY r.started_at DESC, r.run_id DESC
                   ) AS position
            FROM ({uses}) u JOIN runs r ON r.run_id = u.run_id
        ) ranked
        WHERE position <= :recent
        ORDER BY version DESC, position
        """
    )
    rows = conn.execute(statement, {**params, "recent": recent}).all()
    scores_of = _scores_of_runs(conn, sorted({str(row.run_id) for row in rows}))
    out: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(int(row.version), []).append(
            {
                "run_id": row.run_id,
                "agent_name": row.agent_name,
                "status": row.status,
                "started_at": iso(row.started_at),
                "total_cost": float(row.total_cost or 0.0),
                "tokens_in": int(row.tokens_in or 0),
                "tokens_out": int(row.tokens_out or 0),
                "scores": scores_of.get(str(row.run_id), {}),
            }
        )
    return out


def _scores_of_runs(conn: Connection, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{run_id: {score name: value}}`` (the newest value of each name; booleans as bools)."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(run_ids):
        query = (
            select(
                scores.c.run_id,
                scores.c.name,
                scores.c.data_type,
                scores.c.numeric_value,
                scores.c.string_value,
            )
            .where(scores.c.run_id.in_(chunk))
            .order_by(scores.c.created_at)
        )
        for row in conn.execute(query):
            out.setdefault(str(row.run_id), {})[str(row.name)] = _score_value(row._mapping)
    return out

"""Tables of the store (SQLAlchemy Core). Times are UNIX epoch seconds (float, UTC)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA_VERSION = 2
"""1: runs and records. 2: the read side's rollups and ``run_tags`` (kept by triggers, see
``store/rollups.py``) and indexes for sorting runs."""

metadata = MetaData()

Json = JSON().with_variant(JSONB(), "postgresql")
Id = String(64)

runs = Table(
    "runs",
    metadata,
    Column("run_id", Id, primary_key=True),
    Column("agent_name", String(256), nullable=False),
    Column("workflow_name", String(256), nullable=False, default="default"),
    Column("status", String(16), nullable=False, default="running"),
    Column("error", Text, nullable=False, default=""),
    Column("error_type", String(256), nullable=False, default=""),
    Column("traceback", Text, nullable=False, default=""),
    Column("session_id", String(256), nullable=False, default=""),
    Column("user_id", String(256), nullable=False, default=""),
    Column("user_group", String(256), nullable=False, default=""),
    Column("parent_run_id", Id, nullable=False, default=""),
    Column("root_run_id", Id, nullable=False, default=""),
    Column("trace_id", String(64), nullable=False, default=""),
    Column("interaction_mode", String(16), nullable=False, default="autonomous"),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    Column("inputs", Json, nullable=False, default=dict),
    Column("metadata", Json, nullable=False, default=dict),
    Column("tags", Json, nullable=False, default=dict),
    Column("result", Json, nullable=False, default=dict),
    Column("conversation", Json, nullable=False, default=dict),
    Column("governance", Json, nullable=False, default=dict),
    Column("tokens_in", Integer, nullable=False, default=0),
    Column("tokens_out", Integer, nullable=False, default=0),
    Column("total_cost", Float, nullable=False, default=0.0),
    Column("llm_call_count", Integer, nullable=False, default=0),
    Column("step_count", Integer, nullable=False, default=0),
    Column("span_count", Integer, nullable=False, default=0),
    Column("auto_collected", Boolean, nullable=False, default=False),
    Column("source", String(32), nullable=False, default="sdk"),
    # by start time: the runs page's order (and its deep pages, from the index alone) and the
    # part days of time ranges the aggregates read from the runs (every column they need is here)
    Index(
        "ix_runs_started_cover",
        "started_at",
        "run_id",
        "agent_name",
        "status",
        "parent_run_id",
        "tokens_in",
        "tokens_out",
        "total_cost",
    ),
    Index("ix_runs_agent_started", "agent_name", "started_at"),
    Index("ix_runs_session", "session_id", "started_at"),
    Index("ix_runs_user", "user_id", "started_at"),
    Index("ix_runs_status_started", "status", "started_at"),
    Index("ix_runs_parent", "parent_run_id"),
    # sorting the runs page (the run id breaks ties, so deep pages read the index alone)
    Index("ix_runs_cost_run", "total_cost", "run_id"),
    Index("ix_runs_tokens_run", "tokens_in", "run_id"),
    Index("ix_runs_calls_run", "llm_call_count", "run_id"),
    Index("ix_runs_ended_run", "ended_at", "run_id"),
)
"""Runs. Version 1 stores had ``ix_runs_started_at (started_at)``, replaced by ``ix_runs_started_cover``."""

llm_calls = Table(
    "llm_calls",
    metadata,
    Column("id", Id, primary_key=True),
    Column("run_id", Id, nullable=False),
    Column("position", Integer, nullable=False, default=0),
    Column("model", String(256), nullable=False),
    Column("provider", String(64), nullable=False, default=""),
    Column("tokens_in", Integer, nullable=False, default=0),
    Column("tokens_out", Integer, nullable=False, default=0),
    Column("cost", Float, nullable=False, default=0.0),
    Column("task", String(256), nullable=False, default=""),
    Column("prompt_preview", Text, nullable=False, default=""),
    Column("response_preview", Text, nullable=False, default=""),
    Column("prompt_hash", String(128), nullable=False, default=""),
    Column("duration_ms", Float, nullable=True),
    Column("status", String(16), nullable=False, default="ok"),
    Column("error_type", String(256), nullable=False, default=""),
    Column("error_message", Text, nullable=False, default=""),
    Column("started_at", Float, nullable=False, default=0.0),
    Column("parent_span_id", Id, nullable=False, default=""),
    Column("attributes", Json, nullable=False, default=dict),
    # a run's calls in order, and everything the aggregates sum per run, from the index alone
    Index(
        "ix_llm_calls_run_cover", "run_id", "position", "model", "provider", "tokens_in", "tokens_out", "cost"
    ),
    Index("ix_llm_calls_started", "started_at"),
)
"""LLM calls. Version 1 stores had ``ix_llm_calls_run (run_id, position)``, replaced by
``ix_llm_calls_run_cover``."""

INDEXES_V2 = {
    "runs": (
        "ix_runs_started_cover",
        "ix_runs_cost_run",
        "ix_runs_tokens_run",
        "ix_runs_calls_run",
        "ix_runs_ended_run",
    ),
    "llm_calls": ("ix_llm_calls_run_cover",),
}
"""Indexes on version 1 tables added by schema version 2 (created on existing stores by
``Store.create_schema``)."""

INDEXES_DROPPED_V2 = ("ix_runs_started_at", "ix_runs_started_run", "ix_llm_calls_run")
"""Indexes of older stores that version 2 replaced (dropped by ``Store.create_schema``)."""

steps = Table(
    "steps",
    metadata,
    Column("id", Id, primary_key=True),
    Column("run_id", Id, nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", String(512), nullable=False),
    Column("seq", Integer, nullable=False, default=0),
    Column("output", Json, nullable=True),
    Column("started_at", Float, nullable=False, default=0.0),
    UniqueConstraint("run_id", "position", name="uq_steps_run_position"),
)

spans = Table(
    "spans",
    metadata,
    Column("id", Id, primary_key=True),
    Column("run_id", Id, nullable=False),
    Column("position", Integer, nullable=False, default=0),
    Column("kind", String(32), nullable=False),
    Column("name", String(512), nullable=False),
    Column("status", String(16), nullable=False, default="ok"),
    Column("duration_ms", Float, nullable=True),
    Column("started_at", Float, nullable=False, default=0.0),
    Column("parent_span_id", Id, nullable=False, default=""),
    Column("attributes", Json, nullable=False, default=dict),
    Column("input", Json, nullable=True),
    Column("output", Json, nullable=True),
    Column("error", Text, nullable=False, default=""),
    Index("ix_spans_run", "run_id", "position"),
)

scores = Table(
    "scores",
    metadata,
    Column("id", Id, primary_key=True),
    Column("run_id", Id, nullable=False),
    Column("name", String(256), nullable=False),
    Column("data_type", String(16), nullable=False),
    Column("numeric_value", Float, nullable=True),
    Column("string_value", Text, nullable=True),
    Column("comment", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False, default=0.0),
    Index("ix_scores_run", "run_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
    Column("run_id", Id, nullable=False, default=""),
    Column("agent_name", String(256), nullable=False, default=""),
    Column("workflow_name", String(256), nullable=False, default=""),
    Column("event", String(64), nullable=False),
    Column("policy_name", String(256), nullable=False, default=""),
    Column("category", String(64), nullable=False, default=""),
    Column("action", String(16), nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
    Column("phase", String(32), nullable=False, default=""),
    Column("metadata", Json, nullable=False, default=dict),
    Index("ix_audit_ts", "ts"),
    Index("ix_audit_run", "run_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(32), nullable=False, default=""),
    Column("name", String(256), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)
"""Control-plane API keys (``waxell-observe keys``): only a SHA-256 hash of each key is kept."""

prompts = Table(
    "prompts",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("prompt_type", String(16), nullable=False, default="text"),
    Column("content", Json, nullable=False),
    Column("config", Json, nullable=False, default=dict),
    Column("labels", Json, nullable=False, default=list),
    Column("content_hash", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
)
"""Versioned prompts served by ``GET prompts/{name}/`` (a label is on at most one version)."""

# -- governance: policies as data, and the transactional counters budgets and rate limits use --

policies = Table(
    "policies",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("category", String(32), nullable=False),
    Column("priority", Integer, nullable=False, default=100),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("definition", Json, nullable=False),
    Column("seq", BigInteger, nullable=False, default=0),
    Column("updated_at", Float, nullable=False),
)
"""Policies (``waxell-observe policies add``): ``definition`` is ``Policy.to_dict()``; ``seq`` keeps
the order they were added in (ties of ``priority`` are evaluated in that order)."""

policy_state = Table(
    "policy_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False, default=0),
    Column("updated_at", Float, nullable=False, default=0.0),
)
"""One row (``id`` 1) whose ``version`` grows with every change to ``policies``: deciders poll it
to notice changes without re-reading the policies."""

gov_usage = Table(
    "gov_usage",
    metadata,
    Column("bucket", BigInteger, primary_key=True),
    Column("agent_name", String(256), primary_key=True),
    Column("workflow_name", String(256), primary_key=True),
    Column("user_group", String(256), primary_key=True),
    Column("model", String(256), primary_key=True),
    Column("tokens", BigInteger, nullable=False, default=0),
    Column("cost", Float, nullable=False, default=0.0),
)
"""Tokens and cost of finished runs per UTC hour (``bucket``: epoch seconds of the hour), identity
and model; incremented atomically (``INSERT ... ON CONFLICT DO UPDATE``)."""

gov_run_outcomes = Table(
    "gov_run_outcomes",
    metadata,
    Column("run_id", Id, primary_key=True),
    Column("ended_at", Float, nullable=False),
    Column("agent_name", String(256), nullable=False),
    Column("workflow_name", String(256), nullable=False),
    Column("user_group", String(256), nullable=False),
    Column("error", Boolean, nullable=False, default=False),
    Column("tokens", BigInteger, nullable=False, default=0),
    Column("cost", Float, nullable=False, default=0.0),
    Index("ix_gov_run_outcomes_ended", "ended_at"),
)
"""One row per finished run counted by governance: the error-rate breaker's samples, and the
guard that makes counting a run's usage idempotent."""

gov_outcome_buckets = Table(
    "gov_outcome_buckets",
    metadata,
    Column("bucket", BigInteger, primary_key=True),
    Column("agent_name", String(256), primary_key=True),
    Column("workflow_name", String(256), primary_key=True),
    Column("user_group", String(256), primary_key=True),
    Column("errors", BigInteger, nullable=False, default=0),
    Column("total", BigInteger, nullable=False, default=0),
)
"""Finished runs (and failed ones) per 10-second bucket and identity: the breaker's window is summed from
these, plus the exact ``gov_run_outcomes`` rows of the partial bucket at its start."""

gov_admissions = Table(
    "gov_admissions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope_key", String(256), nullable=False),
    Column("holder", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_gov_admissions_scope_at", "scope_key", "at"),
)
"""Runs admitted by rate-limit policies (sliding windows count these)."""

gov_slots = Table(
    "gov_slots",
    metadata,
    Column("scope_key", String(256), primary_key=True),
    Column("holder", String(64), primary_key=True),
    Column("taken_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("owner", String(256), nullable=False, default=""),
)
"""Concurrency slots (``max_concurrent``) held by runs in flight; ``owner`` names the holding
process (``host:pid:start``) so slots of a dead process on the same host are freed, and
``expires_at`` frees any slot that was never released."""

gov_breakers = Table(
    "gov_breakers",
    metadata,
    Column("scope_key", String(256), primary_key=True),
    Column("state", Json, nullable=False),
    Column("updated_at", Float, nullable=False),
)
"""Error-rate circuit breaker state of kill-switch policies."""

schema_info = Table(
    "schema_info",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)


# -- the read side: rollups kept by triggers (store/rollups.py), read by store/aggregates.py --
#
# ``day`` is the UTC day of the RUN's ``started_at`` as ``YYYY-MM-DD`` (computed by the same SQL
# expression the read queries use). On SQLite every rollup has one row per key (a unique index,
# updated in place). On PostgreSQL ``rollup_runs``, ``rollup_calls`` and ``rollup_tags`` are
# append-only logs of changes (``merged`` false) that ``rollups.compact`` folds into one row per
# key (``merged`` true): concurrent writers never wait on each other's rollup rows. Readers
# always ``GROUP BY`` the key, so both layouts read the same.

rollup_runs = Table(
    "rollup_runs",
    metadata,
    Column("day", String(16), nullable=False),
    Column("agent_name", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("is_root", Boolean, nullable=False),
    Column("runs", BigInteger, nullable=False, default=0),
    Column("tokens", BigInteger, nullable=False, default=0),
    Column("cost", Float, nullable=False, default=0.0),
    Column("merged", Boolean, nullable=False, default=True),
)
"""Runs, tokens (in + out) and cost per day, agent, status and root-ness (``parent_run_id`` empty)."""

rollup_calls = Table(
    "rollup_calls",
    metadata,
    Column("day", String(16), nullable=False),
    Column("agent_name", String(256), nullable=False),
    Column("model", String(256), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("calls", BigInteger, nullable=False, default=0),
    Column("tokens_in", BigInteger, nullable=False, default=0),
    Column("tokens_out", BigInteger, nullable=False, default=0),
    Column("cost", Float, nullable=False, default=0.0),
    Column("merged", Boolean, nullable=False, default=True),
)
"""LLM calls of stored runs per day and agent (of the run), model and provider. Calls whose run is
not stored (yet) are not counted, as the read queries join calls to runs."""

rollup_tags = Table(
    "rollup_tags",
    metadata,
    Column("day", String(16), nullable=False),
    Column("tag_key", String(128), nullable=False),
    Column("tag_value", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("is_root", Boolean, nullable=False),
    Column("runs", BigInteger, nullable=False, default=0),
    Column("tokens", BigInteger, nullable=False, default=0),
    Column("cost", Float, nullable=False, default=0.0),
    Column("merged", Boolean, nullable=False, default=True),
)
"""``rollup_runs`` per tag (key and value) instead of agent: totals of the runs page's tag filter."""

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", Id, primary_key=True),
    Column("tag_key", String(128), primary_key=True),
    Column("tag_value", String(256), nullable=False),
    Column("started_at", Float, nullable=False),
    Index("ix_run_tags_key_value", "tag_key", "tag_value", "started_at", "run_id"),
)
"""The tags of each run with a string value, one row per tag, with the run's ``started_at``: the
runs page's tag filter reads this index. Keys are cut to ``TAG_KEY_LIMIT`` and values to
``TAG_VALUE_LIMIT`` characters (an index entry stays small whatever the characters), so only a
filter shorter than the limits is answered from here (``RunFilter.tag_indexed``)."""

TAG_KEY_LIMIT = 128
TAG_VALUE_LIMIT = 256

rollup_sessions = Table(
    "rollup_sessions",
    metadata,
    Column("session_id", String(256), primary_key=True),
    Column("runs", BigInteger, nullable=False, default=0),
    Column("tokens", BigInteger, nullable=False, default=0),
    Column("cost", Float, nullable=False, default=0.0),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Index("ix_rollup_sessions_last_seen", text("last_seen DESC"), "session_id"),
)
"""Per session (non-empty ``session_id``): runs, tokens, cost, first start and last activity
(``coalesce(ended_at, started_at)``)."""

rollup_users = Table(
    "rollup_users",
    metadata,
    Column("user_id", String(256), primary_key=True),
    Column("runs", BigInteger, nullable=False, default=0),
    Column("tokens", BigInteger, nullable=False, default=0),
    Column("cost", Float, nullable=False, default=0.0),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Index("ix_rollup_users_last_seen", text("last_seen DESC"), "user_id"),
)
"""``rollup_sessions`` per end user (non-empty ``user_id``)."""

ROLLUP_TABLES = (rollup_runs, rollup_calls, rollup_tags, run_tags, rollup_sessions, rollup_users)

# Tables kept beside the code that reads and writes them register themselves on ``metadata`` when their
# module is imported; importing them here makes every store create them (``Store.create_schema``).
from waxell_observe.store import approval_table as _approval_table  # noqa: E402,F401
from waxell_observe.store import evaluation_schema as _evaluation_schema  # noqa: E402,F401
from waxell_observe.store import llm_config as _llm_config  # noqa: E402,F401
from waxell_observe.store import memory as _memory  # noqa: E402,F401
from waxell_observe.store import run_logs as _run_logs  # noqa: E402,F401

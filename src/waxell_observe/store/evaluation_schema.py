"""The evaluation tables (on the store's ``schema.metadata``): versioned datasets, experiments and
their results, read and written by ``store/datasets.py`` and ``store/experiments.py``; and the
``source`` and ``passed`` of a score (columns this module adds to ``scores``)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text, text

from waxell_observe.store.schema import Id, Json, metadata, scores

__all__ = [
    "datasets",
    "dataset_versions",
    "dataset_items",
    "experiments",
    "experiment_results",
    "COLUMNS_ADDED",
]

if "source" not in scores.c:
    scores.append_column(
        Column("source", String(32), nullable=False, default="sdk", server_default=text("'sdk'"))
    )
"""``scores.source``: ``sdk`` (recorded by the agent through the pipeline, the default), ``experiment``
or ``online`` (given by an evaluator; ``vocabulary/evaluation.py``)."""

if "passed" not in scores.c:
    scores.append_column(Column("passed", Boolean, nullable=True))
"""``scores.passed``: the evaluator's own pass verdict when it gave one (an LLM judge's
``pass_threshold``, ``Score(passed=...)``); null otherwise: a bool passes when true, a number when
at least 0.5."""

COLUMNS_ADDED = {"scores": ("source", "passed")}
"""Columns added to older tables: ``Store.create_schema`` adds them to stores made before them."""


datasets = Table(
    "datasets",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("metadata", Json, nullable=False, default=dict),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
"""Datasets; ``version`` is the latest version (every change to the items makes a new one)."""

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("dataset", String(256), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("item_count", Integer, nullable=False, default=0),
    Column("change", String(256), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
)
"""One row per version of a dataset: how many items it holds and what changed."""

dataset_items = Table(
    "dataset_items",
    metadata,
    Column("dataset", String(256), primary_key=True),
    Column("item_id", String(128), primary_key=True),
    Column("version_added", Integer, primary_key=True),
    Column("version_removed", Integer, nullable=True),
    Column("position", Integer, nullable=False, default=0),
    Column("input", Json, nullable=True),
    Column("expected", Json, nullable=True),
    Column("metadata", Json, nullable=False, default=dict),
    Index("ix_dataset_items_version", "dataset", "version_added"),
)
"""Items, one row per content of an item: version ``v`` of a dataset holds the rows with
``version_added <= v`` and ``version_removed`` null or ``> v``; editing an item closes its row
and adds one (same ``item_id``), so reading at a version is exact."""

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Id, primary_key=True),
    Column("name", String(256), nullable=False),
    Column("dataset", String(256), nullable=False, default=""),
    Column("dataset_version", Integer, nullable=False, default=0),
    Column("status", String(16), nullable=False, default="running"),
    Column("metadata", Json, nullable=False, default=dict),
    Column("summary", Json, nullable=False, default=dict),
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    Index("ix_experiments_name", "name", "created_at"),
    Index("ix_experiments_created", "created_at"),
)
"""Experiments: a task run over a dataset pinned at a version (``summary``: the aggregates)."""

experiment_results = Table(
    "experiment_results",
    metadata,
    Column("experiment_id", Id, primary_key=True),
    Column("item_id", String(128), primary_key=True),
    Column("repetition", Integer, primary_key=True),
    Column("position", Integer, nullable=False, default=0),
    Column("run_id", Id, nullable=False, default=""),
    Column("status", String(16), nullable=False, default="success"),
    Column("input", Json, nullable=True),
    Column("expected", Json, nullable=True),
    Column("output", Json, nullable=True),
    Column("error", Text, nullable=False, default=""),
    Column("error_type", String(256), nullable=False, default=""),
    Column("latency_ms", Float, nullable=False, default=0.0),
    Column("cost", Float, nullable=False, default=0.0),
    Column("tokens_in", Integer, nullable=False, default=0),
    Column("tokens_out", Integer, nullable=False, default=0),
    Column("scores", Json, nullable=False, default=list),
    Column("created_at", Float, nullable=False),
    Index("ix_experiment_results_run", "run_id"),
)
"""One row per item and repetition of an experiment: the item's input and expected output (as the
pinned version held them), the run it made, its output or error, its
measures and the scores the evaluators gave (also stored in ``scores``, source ``experiment``)."""

"""Experiments in the store (tables ``experiments``, ``experiment_results``) and evaluator scores.

An experiment is one pass of a task over a dataset pinned at a version: one result row per item
and repetition, naming the run the task made, its output or error, its cost, tokens and latency,
and the scores the evaluators gave. Those scores are also stored on the run (table ``scores``)
with their ``source`` (``experiment``), so the run's page shows them. :func:`add_scores` stores
scores given to any run later (the online evaluators, source ``online``).

Every function works inside one transaction and raises ``ValueError`` naming the problem for bad
input. Writes are idempotent: a result or score delivered twice is stored once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, or_, select, update

from waxell_observe.records import new_id
from waxell_observe.store.evaluation_schema import experiment_results, experiments
from waxell_observe.store.schema import scores
from waxell_observe.store.writer import insert_ignore
from waxell_observe.vocabulary.evaluation import RESULT_STATUSES, SCORE_SOURCES

__all__ = [
    "create_experiment",
    "add_results",
    "finish_experiment",
    "get_experiment",
    "find_experiment",
    "list_experiments",
    "add_scores",
    "check_score",
]


def check_score(score: Any, where: str = "score") -> dict[str, Any]:
    """``score`` as ``{name, value, data_type, comment}`` (and ``passed`` when given); ``ValueError``
    when bad.

    ``value``: a bool (``boolean``), a finite number (``numeric``) or a string (``categorical``)."""
    if not isinstance(score, Mapping):
        raise ValueError(f"{where} must be an object with name and value, got {type(score).__name__}")
    name = score.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise ValueError(f"{where}: name must be a non-empty string of at most 256 characters, got {name!r}")
    value = score.get("value")
    if isinstance(value, bool):
        data_type = "boolean"
    elif isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{where} {name!r}: a numeric value must be finite, got {value!r}")
        value, data_type = float(value), "numeric"
    elif isinstance(value, str):
        data_type = "categorical"
    else:
        raise ValueError(f"{where} {name!r}: value must be a bool, a number or a string, got {value!r}")
    comment = score.get("comment") or ""
    if not isinstance(comment, str):
        raise ValueError(f"{where} {name!r}: comment must be a string, got {type(comment).__name__}")
    checked: dict[str, Any] = {"name": name, "value": value, "data_type": data_type, "comment": comment}
    passed = score.get("passed")
    if passed is not None:  # the evaluator's own verdict (e.g. a judge's pass_threshold): kept
        if not isinstance(passed, bool):
            raise ValueError(f"{where} {name!r}: passed must be a boolean, got {passed!r}")
        checked["passed"] = passed
    return checked


def _score_row(run_id: str, score: Mapping[str, Any], source: str, now: float) -> dict[str, Any]:
    value = score["value"]
    data_type = score["data_type"]
    return {
        "id": str(score.get("id") or new_id()),
        "run_id": run_id,
        "name": score["name"],
        "data_type": data_type,
        "numeric_value": (1.0 if value else 0.0) if data_type == "boolean" else (
            float(value) if data_type == "numeric" else None
        ),
        "string_value": ("true" if value else "false") if data_type == "boolean" else (
            value if data_type == "categorical" else None
        ),
        "comment": score.get("comment") or "",
        "created_at": float(score.get("created_at") or now),
        "source": source,
        "passed": score.get("passed"),
    }  # fmt: skip


def _check_source(source: str) -> None:
    if source not in SCORE_SOURCES:
        raise ValueError(f"score source must be one of {', '.join(SCORE_SOURCES)}, got {source!r}")


def add_scores(conn: Connection, run_id: str, given: Iterable[Any], *, source: str) -> list[dict[str, Any]]:
    """Store scores on run ``run_id`` with ``source``; each may carry an ``id`` (kept: idempotent)."""
    _check_source(source)
    if not isinstance(run_id, str) or not run_id:
        raise ValueError(f"run_id must be a non-empty string, got {run_id!r}")
    now = time.time()
    rows = []
    for index, score in enumerate(given):
        checked = check_score(score, f"score {index}")
        if isinstance(score, Mapping) and score.get("id"):
            checked["id"] = str(score["id"])
        rows.append(_score_row(run_id, checked, source, now))
    if rows:
        insert_ignore(conn, scores, rows)
    return rows


def create_experiment(
    conn: Connection,
    name: str,
    *,
    experiment_id: str | None = None,
    dataset: str = "",
    dataset_version: int = 0,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Start an experiment (status ``running``); returns it. The same ``experiment_id`` twice is one."""
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise ValueError(
            f"experiment name must be a non-empty string of at most 256 characters, got {name!r}"
        )
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ValueError(f"metadata must be an object, got {type(metadata).__name__}")
    experiment_id = experiment_id or new_id()
    insert_ignore(
        conn,
        experiments,
        [
            {
                "experiment_id": experiment_id,
                "name": name,
                "dataset": dataset,
                "dataset_version": int(dataset_version),
                "status": "running",
                "metadata": dict(metadata or {}),
                "summary": {},
                "created_at": time.time(),
                "ended_at": None,
            }
        ],
    )
    found = get_experiment(conn, experiment_id, with_results=False)
    assert found is not None
    return found


def _check_result(result: Any, index: int) -> dict[str, Any]:
    where = f"result {index}"
    if not isinstance(result, Mapping):
        raise ValueError(f"{where} must be an object, got {type(result).__name__}")
    item_id = result.get("item_id")
    if not isinstance(item_id, str) or not item_id:
        raise ValueError(f"{where}: item_id must be a non-empty string, got {item_id!r}")
    status = result.get("status", "success")
    if status not in RESULT_STATUSES:
        raise ValueError(f"{where}: status must be one of {', '.join(RESULT_STATUSES)}, got {status!r}")
    position = result.get("position", 0)
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise ValueError(f"{where}: position must be an integer >= 0, got {position!r}")
    repetition = result.get("repetition", 0)
    if isinstance(repetition, bool) or not isinstance(repetition, int) or repetition < 0:
        raise ValueError(f"{where}: repetition must be an integer >= 0, got {repetition!r}")
    numbers = {}
    for key in ("latency_ms", "cost", "tokens_in", "tokens_out"):
        value = result.get(key, 0)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            raise ValueError(f"{where}: {key} must be a number >= 0, got {value!r}")
        numbers[key] = value
    given = result.get("scores") or []
    if not isinstance(given, Sequence) or isinstance(given, (str, bytes)):
        raise ValueError(f"{where}: scores must be a list")
    checked_scores = []
    for n, score in enumerate(given):
        checked = check_score(score, f"{where} score {n}")
        if isinstance(score, Mapping) and score.get("id"):
            checked["id"] = str(score["id"])
        checked["id"] = checked.get("id") or new_id()
        checked_scores.append(checked)
    return {
        "item_id": item_id,
        "repetition": repetition,
        "position": position,
        "run_id": str(result.get("run_id") or ""),
        "status": status,
        "input": result.get("input"),
        "expected": result.get("expected"),
        "output": result.get("output"),
        "error": str(result.get("error") or ""),
        "error_type": str(result.get("error_type") or "")[:256],
        "latency_ms": float(numbers["latency_ms"]),
        "cost": float(numbers["cost"]),
        "tokens_in": int(numbers["tokens_in"]),
        "tokens_out": int(numbers["tokens_out"]),
        "scores": checked_scores,
    }


def add_results(
    conn: Connection, experiment_id: str, results: Iterable[Any], *, source: str = "experiment"
) -> int:
    """Store results of experiment ``experiment_id`` and their scores on their runs; returns how many.

    A result is ``{item_id, repetition, position, run_id, status, input, expected, output, error,
    error_type, latency_ms, cost, tokens_in, tokens_out, scores: [{name, value, comment, id?}]}``
    (``position``: the item's place in the dataset, the order results are read in)."""
    _check_source(source)
    if (
        conn.execute(
            select(experiments.c.experiment_id).where(experiments.c.experiment_id == experiment_id)
        ).first()
        is None
    ):
        raise LookupError(f"unknown experiment {experiment_id!r}")
    checked = [_check_result(result, index) for index, result in enumerate(results)]
    now = time.time()
    insert_ignore(
        conn,
        experiment_results,
        [{**row, "experiment_id": experiment_id, "created_at": now} for row in checked],
    )
    score_rows = [
        _score_row(row["run_id"], score, source, now)
        for row in checked
        if row["run_id"]
        for score in row["scores"]
    ]
    if score_rows:
        insert_ignore(conn, scores, score_rows)
    return len(checked)


def finish_experiment(conn: Connection, experiment_id: str, summary: Mapping[str, Any]) -> None:
    """Mark the experiment ``completed`` with its aggregates (``summary``)."""
    if not isinstance(summary, Mapping):
        raise ValueError(f"summary must be an object, got {type(summary).__name__}")
    done = conn.execute(
        update(experiments)
        .where(experiments.c.experiment_id == experiment_id)
        .values(status="completed", summary=dict(summary), ended_at=time.time())
    )
    if not done.rowcount:
        raise LookupError(f"unknown experiment {experiment_id!r}")


def _experiment(row: Any) -> dict[str, Any]:
    return {
        "experiment_id": row.experiment_id,
        "name": row.name,
        "dataset": row.dataset,
        "dataset_version": int(row.dataset_version),
        "status": row.status,
        "metadata": row.metadata or {},
        "summary": row.summary or {},
        "created_at": float(row.created_at),
        "ended_at": float(row.ended_at) if row.ended_at is not None else None,
    }


def _result(row: Any) -> dict[str, Any]:
    return {
        "item_id": row.item_id,
        "repetition": int(row.repetition),
        "position": int(row.position),
        "run_id": row.run_id,
        "status": row.status,
        "input": row.input,
        "expected": row.expected,
        "output": row.output,
        "error": row.error,
        "error_type": row.error_type,
        "latency_ms": float(row.latency_ms),
        "cost": float(row.cost),
        "tokens_in": int(row.tokens_in),
        "tokens_out": int(row.tokens_out),
        "scores": list(row.scores or []),
    }


def find_experiment(conn: Connection, ref: str) -> str | None:
    """The id of the experiment ``ref`` names: an id, else the latest experiment of that name."""
    row = conn.execute(
        select(experiments.c.experiment_id)
        .where(or_(experiments.c.experiment_id == ref, experiments.c.name == ref))
        .order_by((experiments.c.experiment_id == ref).desc(), experiments.c.created_at.desc())
        .limit(1)
    ).first()
    return str(row.experiment_id) if row is not None else None


def get_experiment(conn: Connection, ref: str, *, with_results: bool = True) -> dict[str, Any] | None:
    """Experiment ``ref`` (an id, or a name: the latest of that name) with its ``results`` (by item
    then repetition); ``None`` when unknown."""
    experiment_id = find_experiment(conn, ref)
    if experiment_id is None:
        return None
    row = conn.execute(select(experiments).where(experiments.c.experiment_id == experiment_id)).one()
    found = _experiment(row)
    if with_results:
        found["results"] = [
            _result(r)
            for r in conn.execute(
                select(experiment_results)
                .where(experiment_results.c.experiment_id == experiment_id)
                .order_by(
                    experiment_results.c.position,
                    experiment_results.c.item_id,
                    experiment_results.c.repetition,
                )
            )
        ]
    return found


def list_experiments(
    conn: Connection, *, dataset: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Experiments, newest first (of ``dataset`` when given), each with its ``result_count``."""
    counts = (
        select(experiment_results.c.experiment_id, func.count().label("n"))
        .group_by(experiment_results.c.experiment_id)
        .subquery()
    )
    query = select(experiments, counts.c.n).outerjoin(
        counts, counts.c.experiment_id == experiments.c.experiment_id
    )
    if dataset:
        query = query.where(experiments.c.dataset == dataset)
    found = []
    for row in conn.execute(query.order_by(experiments.c.created_at.desc()).limit(limit)):
        experiment = _experiment(row)
        experiment["result_count"] = int(row.n or 0)
        found.append(experiment)
    return found

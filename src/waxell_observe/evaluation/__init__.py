"""Evaluations: versioned datasets, experiments that run a task over them, and evaluators.

* :func:`create_dataset`, :func:`get_dataset`, :func:`list_datasets`, :class:`Dataset`,
  :class:`DatasetItem` — datasets (``datasets.py``), stored where runs go (``backends.py``);
* :func:`evaluate` / :func:`aevaluate` — an experiment (``runner.py``), returning an
  :class:`ExperimentResult` (``results.py``); :class:`Score` — what evaluators give (``scores.py``);
* :func:`compare_experiments` — two experiments side by side (``compare.py``);
* :func:`add_online_evaluator` — evaluators of production runs, in the background (``online.py``,
  the worker thread in ``online_worker.py``).

Built-in evaluators are in :mod:`waxell_observe.evaluators`. See ``docs/evaluations.md``.
"""

from __future__ import annotations

from waxell_observe.evaluation.compare import compare_experiments
from waxell_observe.evaluation.datasets import (
    Dataset,
    DatasetItem,
    create_dataset,
    get_dataset,
    list_datasets,
)
from waxell_observe.evaluation.online import (
    OnlineEvaluator,
    add_online_evaluator,
    flush_online_evaluations,
    online_evaluators,
    remove_online_evaluator,
)
from waxell_observe.evaluation.results import ExperimentResult, ItemResult, MetricSummary
from waxell_observe.evaluation.runner import aevaluate, evaluate
from waxell_observe.evaluation.scores import Score
from waxell_observe.evaluation.trace import RunTrace

__all__ = [
    "Dataset",
    "DatasetItem",
    "create_dataset",
    "get_dataset",
    "list_datasets",
    "evaluate",
    "aevaluate",
    "ExperimentResult",
    "ItemResult",
    "MetricSummary",
    "Score",
    "RunTrace",
    "compare_experiments",
    "OnlineEvaluator",
    "add_online_evaluator",
    "remove_online_evaluator",
    "online_evaluators",
    "flush_online_evaluations",
    "get_experiment",
    "list_experiments",
]


def get_experiment(ref: str, *, client: object = None) -> dict[str, object] | None:
    """A stored experiment (by id, or by name: the latest of that name) with its results."""
    from waxell_observe.evaluation.backends import current_backend

    return current_backend(client).get_experiment(ref)


def list_experiments(*, dataset: str | None = None, client: object = None) -> list[dict[str, object]]:
    """Stored experiments, newest first (of ``dataset`` when given)."""
    from waxell_observe.evaluation.backends import current_backend

    return current_backend(client).list_experiments(dataset)

"""Names of evaluations: where a score came from, and the states of experiments and their results.

Shared by the store (``store/datasets.py``, ``store/experiments.py``), the evaluation package,
the server's dataset and experiment routes, the CLI and the dashboard.
"""

from __future__ import annotations

__all__ = [
    "SCORE_SOURCES",
    "SCORE_SOURCE_SDK",
    "SCORE_SOURCE_EXPERIMENT",
    "SCORE_SOURCE_ONLINE",
    "EXPERIMENT_STATUSES",
    "RESULT_STATUSES",
    "EXPERIMENT_TAG",
    "EXPERIMENT_AGENT_PREFIX",
    "JUDGE_AGENT_NAME",
    "ONLINE_EVALUATOR_AGENT_NAME",
]

SCORE_SOURCE_SDK = "sdk"
"""A score the agent recorded itself (``record_score``, ``waxell_observe.score``): the default."""
SCORE_SOURCE_EXPERIMENT = "experiment"
"""A score an evaluator of an experiment (``waxell_observe.evaluate``, the pytest marker) gave."""
SCORE_SOURCE_ONLINE = "online"
"""A score an online evaluator gave a production run, in the background."""
SCORE_SOURCES: tuple[str, ...] = (SCORE_SOURCE_SDK, SCORE_SOURCE_EXPERIMENT, SCORE_SOURCE_ONLINE)

EXPERIMENT_STATUSES: tuple[str, ...] = ("running", "completed")
"""An experiment is ``running`` until every item was run and scored, then ``completed``."""

RESULT_STATUSES: tuple[str, ...] = ("success", "error")
"""One run of the task on one item: it returned (``success``) or raised (``error``)."""

EXPERIMENT_TAG = "experiment"
"""The tag every run of an experiment carries: the experiment's name."""

EXPERIMENT_AGENT_PREFIX = "experiment:"
"""Runs of a task that is not itself an observed agent are named ``experiment:{name}``."""

JUDGE_AGENT_NAME = "waxell-judge"
"""The agent name of an LLM judge's own runs (their cost is not the task's)."""

ONLINE_EVALUATOR_AGENT_NAME = "waxell-online-evaluator"
"""The agent name of the runs online evaluators make (e.g. an LLM judge's calls)."""

"""What an experiment gives back: :class:`ItemResult` rows and :class:`ExperimentResult`.

The aggregates are computed by :func:`summarize` from the stored result rows alone (the same
function the CLI, the server's comparison and the pytest marker use), so they can always be
recomputed from the store:

* per evaluator score name: ``count`` (scores given), ``mean`` (booleans count 1/0; ``None`` for
  categories), ``passed`` and ``pass_rate`` = passed / every result row (a row whose task raised,
  or that lacks the score, does not pass), ``values`` (category counts);
* ``cost``, ``tokens_in``, ``tokens_out``: sums over the rows; ``cost_mean``: per row;
* ``latency_p50_ms``, ``latency_p95_ms``: percentiles of the rows' latencies, linearly
  interpolated between the closest ranks (the "linear" method); ``latency_mean_ms``;
* ``errors``: rows whose task raised; ``error_rate``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from waxell_observe.evaluation.scores import Score
from waxell_observe.records import short_id

__all__ = [
    "ItemResult",
    "MetricSummary",
    "ExperimentResult",
    "summarize",
    "percentile",
    "score_passes",
    "threshold_failures",
    "baseline_regressions",
]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0..1) percentile of ``values`` by linear interpolation (0.0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class ItemResult:
    """One run of the task on one dataset item (one repetition)."""

    item_id: str
    repetition: int
    position: int
    input: Any
    expected: Any
    output: Any
    run_id: str
    status: str
    error: str = ""
    error_type: str = ""
    latency_ms: float = 0.0
    cost: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    scores: list[Score] = field(default_factory=list)
    evaluator_errors: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def score(self, name: str) -> bool | float | str | None:
        """The value of score ``name`` on this row (``None`` when it has none)."""
        for score in self.scores:
            if score.name == name:
                return score.value
        return None

    def as_row(self) -> dict[str, Any]:
        """The row as stored (``experiment_results``)."""
        return {
            "item_id": self.item_id,
            "repetition": self.repetition,
            "position": self.position,
            "run_id": self.run_id,
            "status": self.status,
            "input": self.input,
            "expected": self.expected,
            "output": self.output,
            "error": self.error,
            "error_type": self.error_type,
            "latency_ms": self.latency_ms,
            "cost": self.cost,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "scores": [score.as_dict() for score in self.scores],
        }


@dataclass(frozen=True)
class MetricSummary:
    """The aggregate of one score name over an experiment."""

    name: str
    count: int
    mean: float | None
    passed: int
    pass_rate: float
    values: dict[str, int]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricSummary:
        return cls(
            name=str(data["name"]),
            count=int(data["count"]),
            mean=None if data.get("mean") is None else float(data["mean"]),
            passed=int(data["passed"]),
            pass_rate=float(data["pass_rate"]),
            values={str(k): int(v) for k, v in (data.get("values") or {}).items()},
        )


def score_passes(score: Mapping[str, Any]) -> bool | None:
    if score.get("passed") is not None:
        return bool(score["passed"])
    value = score.get("value")
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value) >= 0.5
    return None


def summarize(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The aggregates of stored result rows (see the module doc); JSON-ready."""
    rows = list(rows)
    total = len(rows)
    metrics: dict[str, dict[str, Any]] = {}
    for row in rows:
        seen: set[str] = set()
        for score in row.get("scores") or []:
            name = str(score["name"])
            metric = metrics.setdefault(
                name, {"name": name, "count": 0, "sum": 0.0, "numeric": 0, "passed": 0, "values": {}}
            )
            metric["count"] += 1
            value = score.get("value")
            if isinstance(value, (bool, int, float)):
                metric["sum"] += float(value)
                metric["numeric"] += 1
            elif isinstance(value, str):
                metric["values"][value] = metric["values"].get(value, 0) + 1
            if name not in seen and score_passes(score):  # a row passes a metric once
                metric["passed"] += 1
            seen.add(name)
    summary_metrics = {
        name: {
            "name": name,
            "count": m["count"],
            "mean": (m["sum"] / m["numeric"]) if m["numeric"] else None,
            "passed": m["passed"],
            "pass_rate": (m["passed"] / total) if total else 0.0,
            "values": m["values"],
        }
        for name, m in sorted(metrics.items())
    }
    latencies = [float(row.get("latency_ms") or 0.0) for row in rows]
    errors = sum(1 for row in rows if row.get("status") == "error")
    cost = sum(float(row.get("cost") or 0.0) for row in rows)
    return {
        "items": len({row.get("item_id") for row in rows}),
        "runs": total,
        "errors": errors,
        "error_rate": (errors / total) if total else 0.0,
        "cost": cost,
        "cost_mean": (cost / total) if total else 0.0,
        "tokens_in": sum(int(row.get("tokens_in") or 0) for row in rows),
        "tokens_out": sum(int(row.get("tokens_out") or 0) for row in rows),
        "latency_mean_ms": (sum(latencies) / total) if total else 0.0,
        "latency_p50_ms": percentile(latencies, 0.50),
        "latency_p95_ms": percentile(latencies, 0.95),
        "metrics": summary_metrics,
    }


def threshold_failures(summary: Mapping[str, Any], threshold: float | Mapping[str, float]) -> list[str]:
    """What falls below ``threshold``: a minimum pass rate for every metric (a number), or per metric
    name (a dict; a name the experiment lacks fails). One message per failure."""
    metrics = summary.get("metrics") or {}
    wanted = (
        {name: float(threshold) for name in metrics}
        if isinstance(threshold, (int, float))
        else {str(k): float(v) for k, v in threshold.items()}
    )
    failures = []
    for name, minimum in sorted(wanted.items()):
        metric = metrics.get(name)
        if metric is None:
            failures.append(f"{name}: no such score (scores: {sorted(metrics)})")
        elif metric["pass_rate"] < minimum:
            failures.append(
                f"{name}: pass rate {metric['pass_rate']:.1%} ({metric['passed']}/{summary.get('runs', 0)}) "
                f"is below the threshold {minimum:.1%}"
            )
    return failures


def baseline_regressions(
    summary: Mapping[str, Any], baseline: Mapping[str, Any], *, tolerance: float = 0.0
) -> list[str]:
    """The metrics whose pass rate fell more than ``tolerance`` below the ``baseline`` experiment's
    (both summaries as :func:`summarize` makes them). One message per regression."""
    current, before = summary.get("metrics") or {}, baseline.get("metrics") or {}
    regressions = []
    for name in sorted(set(current) & set(before)):
        now, then = float(current[name]["pass_rate"]), float(before[name]["pass_rate"])
        if now < then - tolerance:
            regressions.append(f"{name}: pass rate {now:.1%} regressed from {then:.1%} in the baseline")
    return regressions


@dataclass
class ExperimentResult:
    """The outcome of :func:`waxell_observe.evaluate`: the rows, in dataset order then repetition,
    and their aggregates (:attr:`summary`, see :func:`summarize`)."""

    experiment_id: str
    name: str
    dataset: str
    dataset_version: int
    rows: list[ItemResult]
    summary: dict[str, Any]

    @property
    def metrics(self) -> dict[str, MetricSummary]:
        """Per score name: ``count``, ``mean``, ``passed``, ``pass_rate``, ``values``."""
        return {name: MetricSummary.from_dict(m) for name, m in self.summary["metrics"].items()}

    def metric(self, name: str) -> MetricSummary:
        metrics = self.metrics
        if name not in metrics:
            raise KeyError(f"experiment {self.name!r} has no score {name!r} (it has {sorted(metrics)})")
        return metrics[name]

    def mean(self, name: str) -> float | None:
        return self.metric(name).mean

    def pass_rate(self, name: str) -> float:
        return self.metric(name).pass_rate

    @property
    def errors(self) -> list[ItemResult]:
        """The rows whose task raised."""
        return [row for row in self.rows if not row.ok]

    @property
    def cost(self) -> float:
        return float(self.summary["cost"])

    @property
    def tokens_in(self) -> int:
        return int(self.summary["tokens_in"])

    @property
    def tokens_out(self) -> int:
        return int(self.summary["tokens_out"])

    @property
    def latency_p50_ms(self) -> float:
        return float(self.summary["latency_p50_ms"])

    @property
    def latency_p95_ms(self) -> float:
        return float(self.summary["latency_p95_ms"])

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Any:
        return iter(self.rows)

    def assert_thresholds(self, threshold: float | Mapping[str, float]) -> ExperimentResult:
        """Raise ``AssertionError`` listing every metric whose pass rate is below ``threshold`` (see
        :func:`threshold_failures`); returns the result so that calls chain."""
        failures = threshold_failures(self.summary, threshold)
        if failures:
            raise AssertionError(
                f"experiment {self.name!r} is below its thresholds:\n  " + "\n  ".join(failures)
            )
        return self

    def format(self) -> str:
        """A short plain-text report (one line per metric, then totals)."""
        lines = [
            f"experiment {self.name} ({short_id(self.experiment_id)}) on "
            f"{self.dataset or 'inline items'}{f' v{self.dataset_version}' if self.dataset else ''}: "
            f"{self.summary['runs']} runs, {self.summary['errors']} errors"
        ]
        for metric in self.metrics.values():
            mean = "-" if metric.mean is None else f"{metric.mean:.4g}"
            rate = f"{metric.pass_rate:.1%} ({metric.passed}/{self.summary['runs']})"
            lines.append(f"  {metric.name}: mean {mean}, pass rate {rate}")
        lines.append(
            f"  cost ${self.cost:.6f}, tokens {self.tokens_in}+{self.tokens_out}, "
            f"latency p50 {self.latency_p50_ms:.1f} ms p95 {self.latency_p95_ms:.1f} ms"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

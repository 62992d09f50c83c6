"""Comparing two experiments: per-metric deltas, the measures, and the items that flipped.

:func:`compare_experiments` works on experiments as the store returns them (``get_experiment``:
``summary`` and ``results``), so the CLI (``waxell-observe experiments compare A B``), the
server's ``GET /api/v1/read/experiments/compare/`` and the dashboard's comparison page show the
same numbers. ``a`` is the baseline, ``b`` the candidate; every delta is ``b - a``.

Results are matched by item id and repetition. An item *flipped* on a metric both experiments
have when it passes that metric on one side and not on the other (a task that raised passes
nothing); it *regressed* when
it passed in ``a`` and does not in ``b``, *improved* the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from waxell_observe.evaluation.results import score_passes, summarize

__all__ = ["compare_experiments", "MEASURES"]

MEASURES = (
    ("cost", "cost (USD)"),
    ("cost_mean", "cost per run (USD)"),
    ("tokens_in", "tokens in"),
    ("tokens_out", "tokens out"),
    ("latency_p50_ms", "latency p50 (ms)"),
    ("latency_p95_ms", "latency p95 (ms)"),
    ("errors", "errors"),
)
"""The summary fields compared besides the metrics, with their labels."""


def _summary(experiment: Mapping[str, Any]) -> dict[str, Any]:
    summary = experiment.get("summary")
    if summary and "metrics" in summary:
        return dict(summary)
    return summarize(experiment.get("results") or [])


def _head(experiment: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in experiment.items() if key != "results"}


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _side(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    scores = result.get("scores") or []
    return {
        "run_id": result.get("run_id", ""),
        "status": result.get("status", ""),
        "output": result.get("output"),
        "error": result.get("error", ""),
        "cost": float(result.get("cost") or 0.0),
        "tokens_in": int(result.get("tokens_in") or 0),
        "tokens_out": int(result.get("tokens_out") or 0),
        "latency_ms": float(result.get("latency_ms") or 0.0),
        "scores": {str(score["name"]): score.get("value") for score in scores},
        "passes": {str(score["name"]): score_passes(score) for score in scores},
    }


def compare_experiments(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """``{a, b, metrics, measures, items, regressed, improved}`` (see the module doc).

    ``metrics``: per score name ``{name, a_mean, b_mean, mean_delta, a_pass_rate, b_pass_rate,
    pass_rate_delta}``; ``measures``: ``{name, label, a, b, delta}``; ``items``: per item and
    repetition ``{item_id, repetition, input, expected, a, b, flips}`` where ``flips`` lists
    ``{metric, a, b}`` (pass on each side); ``regressed`` / ``improved``: the flipped items' ids."""
    summary_a, summary_b = _summary(a), _summary(b)
    metric_names = sorted(set(summary_a["metrics"]) | set(summary_b["metrics"]))
    shared = [name for name in metric_names if name in summary_a["metrics"] and name in summary_b["metrics"]]
    metrics = []
    for name in metric_names:
        ma, mb = summary_a["metrics"].get(name), summary_b["metrics"].get(name)
        metrics.append(
            {
                "name": name,
                "a_mean": ma["mean"] if ma else None,
                "b_mean": mb["mean"] if mb else None,
                "mean_delta": _delta(ma["mean"] if ma else None, mb["mean"] if mb else None),
                "a_pass_rate": ma["pass_rate"] if ma else None,
                "b_pass_rate": mb["pass_rate"] if mb else None,
                "pass_rate_delta": _delta(ma["pass_rate"] if ma else None, mb["pass_rate"] if mb else None),
            }
        )
    measures = [
        {
            "name": key,
            "label": label,
            "a": summary_a.get(key),
            "b": summary_b.get(key),
            "delta": _delta(summary_a.get(key), summary_b.get(key)),
        }
        for key, label in MEASURES
    ]
    by_key_a = {(r["item_id"], int(r.get("repetition", 0))): r for r in a.get("results") or []}
    by_key_b = {(r["item_id"], int(r.get("repetition", 0))): r for r in b.get("results") or []}
    order = list(by_key_a) + [key for key in by_key_b if key not in by_key_a]
    items = []
    regressed: list[str] = []
    improved: list[str] = []
    for key in order:
        ra, rb = by_key_a.get(key), by_key_b.get(key)
        side_a, side_b = _side(ra), _side(rb)
        flips = []
        if side_a is not None and side_b is not None:
            for name in shared:
                pass_a = side_a["status"] == "success" and bool(side_a["passes"].get(name))
                pass_b = side_b["status"] == "success" and bool(side_b["passes"].get(name))
                if pass_a != pass_b:
                    flips.append({"metric": name, "a": pass_a, "b": pass_b})
        if any(flip["a"] and not flip["b"] for flip in flips):
            regressed.append(key[0])
        if any(flip["b"] and not flip["a"] for flip in flips):
            improved.append(key[0])
        source = ra or rb or {}
        items.append(
            {
                "item_id": key[0],
                "repetition": key[1],
                "input": source.get("input"),
                "expected": source.get("expected"),
                "a": side_a,
                "b": side_b,
                "flips": flips,
            }
        )
    return {
        "a": {**_head(a), "summary": summary_a},
        "b": {**_head(b), "summary": summary_b},
        "metrics": metrics,
        "measures": measures,
        "items": items,
        "regressed": list(dict.fromkeys(regressed)),
        "improved": list(dict.fromkeys(improved)),
    }

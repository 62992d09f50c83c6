"""A real agent (the ``openai`` client against a stub provider on 127.0.0.1) evaluated over a
20-item dataset with built-in and custom evaluators and an LLM judge.

Every aggregate is asserted exactly and recomputed from what the store holds: the experiment's
result rows and the ``scores`` table (source ``experiment``). Item ``q07`` makes the agent raise:
it is recorded as an error and the other 19 finish.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

import pytest
from calculator_agent import GOOD_MODEL, JUDGE_MODEL, JUDGE_TOKENS, answer, dataset_items, worse_answer
from sqlalchemy import select

import waxell_observe
from waxell_observe import evaluators as ev
from waxell_observe.evaluation import Score, compare_experiments, get_experiment
from waxell_observe.store import get_store
from waxell_observe.store.reader import RunFilter, list_runs
from waxell_observe.store.schema import runs, scores

PRICES = {GOOD_MODEL: (0.15, 0.60), JUDGE_MODEL: (2.50, 10.00)}
"""USD per million input and output tokens (the SDK's price table for these models)."""

GOOD = [i for i in range(20) if i != 7]


def price(model: str, tokens_in: int, tokens_out: int) -> float:
    per_in, per_out = PRICES[model]
    return (tokens_in * per_in + tokens_out * per_out) / 1_000_000


def digits(output: str) -> float:
    """A custom numeric evaluator: the answer's length."""
    return float(len(output))


def parity_and_size(output: str, expected: str) -> list[Any]:
    """A custom evaluator giving two scores: a category and a boolean."""
    number = int(output)
    return [
        Score("parity", "even" if number % 2 == 0 else "odd"),
        {"name": "big", "value": number > 30, "comment": f"{number} vs 30"},
    ]


async def async_expected_is_text(expected: str) -> bool:
    """A custom async evaluator."""
    return isinstance(expected, str)


def test_the_agent_over_20_items_with_built_in_custom_and_judge_evaluators(
    openai_client: Any, store_url: str
) -> None:
    dataset = waxell_observe.create_dataset("sums", dataset_items())
    judge = ev.LLMJudge(openai_client, JUDGE_MODEL, "The response must be the expected number.", name="judge")

    result = waxell_observe.evaluate(
        lambda question: answer(openai_client, question),
        dataset,
        [
            ev.exact_match(),
            ev.tool_called("add", times=1),
            ev.cost_at_most(0.000005),
            ev.tokens_at_most(25),
            judge,
            digits,
            parity_and_size,
            async_expected_is_text,
        ],
        name="good-agent",
        max_concurrency=4,
    )

    # the rows: one per item in dataset order, q07 an error without scores
    assert [row.item_id for row in result.rows] == [f"q{i:02d}" for i in range(20)]
    failed = result.rows[7]
    assert (failed.status, failed.error_type, failed.scores) == ("error", "RuntimeError", [])
    assert failed.error == "cannot parse 'What is 7 + 15?'"
    assert [row.output for row in result.rows if row.ok] == [str(3 * i + 1) for i in GOOD]
    assert all(row.evaluator_errors == [] for row in result.rows)

    # exact aggregates
    runs_total = 20
    expected_cost = sum(price(GOOD_MODEL, 20 + i, len(str(3 * i + 1))) for i in GOOD)
    tokens_in = sum(20 + i for i in GOOD)
    tokens_out = sum(len(str(3 * i + 1)) for i in GOOD)
    assert (result.summary["runs"], result.summary["errors"], result.summary["items"]) == (20, 1, 20)
    assert (result.tokens_in, result.tokens_out) == (tokens_in, tokens_out) == (563, 35)
    assert result.cost == pytest.approx(expected_cost, rel=1e-12)
    cheap = sum(1 for i in GOOD if price(GOOD_MODEL, 20 + i, len(str(3 * i + 1))) <= 0.000005)
    few_tokens = sum(1 for i in GOOD if 20 + i + len(str(3 * i + 1)) <= 25)
    big = sum(1 for i in GOOD if 3 * i + 1 > 30)
    expected_metrics = {
        "exact_match": (19, 1.0, 19),
        "tool_called:add": (19, 1.0, 19),
        "cost_at_most": (19, cheap / 19, cheap),
        "tokens_at_most": (19, few_tokens / 19, few_tokens),
        "judge": (19, 1.0, 19),
        "digits": (19, sum(len(str(3 * i + 1)) for i in GOOD) / 19, 19),
        "big": (19, big / 19, big),
        "async_expected_is_text": (19, 1.0, 19),
    }
    for name, (count, mean, passed) in expected_metrics.items():
        metric = result.metric(name)
        assert (metric.count, metric.passed) == (count, passed), name
        assert metric.mean == pytest.approx(mean, rel=1e-12), name
        assert metric.pass_rate == passed / runs_total, name
    assert (cheap, few_tokens, big) == (6, 4, 10)
    parity = result.metric("parity")
    evens = sum(1 for i in GOOD if (3 * i + 1) % 2 == 0)
    assert (parity.mean, parity.passed, parity.values) == (None, 0, {"even": evens, "odd": 19 - evens})
    latencies = [row.latency_ms for row in result.rows]
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    assert result.latency_p50_ms == pytest.approx(quantiles[49], rel=1e-12)
    assert result.latency_p95_ms == pytest.approx(quantiles[94], rel=1e-12)

    # the store: the experiment, its rows, and the scores on the runs recompute the same aggregates
    stored = get_experiment("good-agent")
    assert stored is not None
    assert (stored["status"], stored["dataset"], stored["dataset_version"]) == ("completed", "sums", 1)
    assert stored["summary"] == json.loads(json.dumps(result.summary))
    run_ids = [row["run_id"] for row in stored["results"]]
    assert run_ids == [row.run_id for row in result.rows] and len(set(run_ids)) == 20
    store = get_store(store_url)
    with store.read() as conn:
        rows = conn.execute(
            select(
                scores.c.run_id, scores.c.name, scores.c.numeric_value, scores.c.string_value, scores.c.source
            ).where(scores.c.run_id.in_(run_ids))
        ).all()
        item_runs = {r.run_id: r for r in conn.execute(select(runs).where(runs.c.run_id.in_(run_ids)))}
        judge_runs = list_runs(conn, RunFilter(agent_name="waxell-judge"), limit=100)
    assert {r.source for r in rows} == {"experiment"}
    assert len(rows) == 19 * 9  # nine scores per finished item
    exact = [r.numeric_value for r in rows if r.name == "exact_match"]
    assert (len(exact), sum(exact)) == (19, 19.0)
    digit_values = [r.numeric_value for r in rows if r.name == "digits"]
    assert sum(digit_values) / len(digit_values) == pytest.approx(result.mean("digits"), rel=1e-12)
    assert sorted(r.string_value for r in rows if r.name == "parity") == sorted(
        "even" if (3 * i + 1) % 2 == 0 else "odd" for i in GOOD
    )

    # the item runs: linked to the item, the dataset version and the experiment
    assert len(item_runs) == 20
    first = item_runs[run_ids[0]]
    assert first.agent_name == "experiment:good-agent"
    assert first.tags == {"experiment": "good-agent"}
    assert first.metadata == {
        "experiment_id": result.experiment_id,
        "experiment": "good-agent",
        "dataset": "sums",
        "dataset_version": 1,
        "item_id": "q00",
        "repetition": 0,
    }
    assert item_runs[run_ids[7]].status == "error"
    assert sum(r.total_cost for r in item_runs.values()) == pytest.approx(expected_cost, rel=1e-12)

    # the judge's own runs: recorded, one per judged item, and not in the task's cost
    assert len(judge_runs) == 19
    judged = set()
    for run in judge_runs:
        assert run["total_cost"] == pytest.approx(price(JUDGE_MODEL, *JUDGE_TOKENS), rel=1e-12)
        assert run["parent_run_id"] == ""
        with store.read() as conn:
            judged.add(
                conn.execute(select(runs.c.metadata).where(runs.c.run_id == run["run_id"])).scalar_one()[
                    "judged_run_id"
                ]
            )
    assert judged == {run_ids[i] for i in GOOD}


def test_a_worse_agent_fails_the_threshold_and_the_comparison_names_what_flipped(
    openai_client: Any,
) -> None:
    dataset = waxell_observe.create_dataset("sums", dataset_items())
    chosen = [ev.exact_match(), ev.tool_called("add")]
    good = waxell_observe.evaluate(lambda q: answer(openai_client, q), dataset, chosen, name="good")
    worse = waxell_observe.evaluate(lambda q: worse_answer(openai_client, q), dataset, chosen, name="worse")

    good.assert_thresholds({"exact_match": 0.95})
    assert worse.pass_rate("exact_match") == 14 / 20
    assert worse.pass_rate("tool_called:add") == 0.0
    with pytest.raises(AssertionError) as failure:
        worse.assert_thresholds({"exact_match": 0.9, "tool_called:add": 0.5})
    assert str(failure.value) == (
        "experiment 'worse' is below its thresholds:\n"
        "  exact_match: pass rate 70.0% (14/20) is below the threshold 90.0%\n"
        "  tool_called:add: pass rate 0.0% (0/20) is below the threshold 50.0%"
    )

    comparison = compare_experiments(get_experiment("good"), get_experiment("worse"))
    metrics = {m["name"]: m for m in comparison["metrics"]}
    assert metrics["exact_match"]["pass_rate_delta"] == pytest.approx(14 / 20 - 19 / 20)
    assert metrics["tool_called:add"]["b_pass_rate"] == 0.0
    assert comparison["regressed"] == [f"q{i:02d}" for i in GOOD]
    assert comparison["improved"] == []
    flipped_exact = [
        item["item_id"]
        for item in comparison["items"]
        if any(f["metric"] == "exact_match" for f in item["flips"])
    ]
    assert flipped_exact == ["q00", "q04", "q08", "q12", "q16"]
    errors = {m["name"]: m for m in comparison["measures"]}["errors"]
    assert (errors["a"], errors["b"], errors["delta"]) == (1, 1, 0)

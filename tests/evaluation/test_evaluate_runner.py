"""How ``evaluate`` runs a task: repetitions, concurrency (threads for sync tasks, the event loop
for async ones), failing tasks and evaluators, evaluator answers, and what it refuses."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import waxell_observe
from waxell_observe.evaluation import DatasetItem, Score, aevaluate, evaluate, get_experiment

ITEMS = [{"id": f"i{n}", "input": n, "expected": n * 2} for n in range(8)]


class InFlight:
    """Counts tasks running at once; ``barrier`` makes ``width`` of them meet (or fail)."""

    def __init__(self, width: int) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.barrier = threading.Barrier(width, timeout=30)

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


def test_repetitions_make_one_run_per_item_and_repetition() -> None:
    calls: list[int] = []

    def task(n: int) -> int:
        calls.append(n)
        return n * 2

    result = evaluate(
        task, ITEMS[:5], [lambda output, expected: output == expected], repetitions=3, name="reps"
    )
    assert [(row.item_id, row.repetition) for row in result.rows] == [
        (f"i{n}", rep) for n in range(5) for rep in range(3)
    ]
    assert sorted(calls) == sorted(list(range(5)) * 3)
    assert len({row.run_id for row in result.rows}) == 15
    assert result.summary["items"] == 5 and result.summary["runs"] == 15
    assert result.pass_rate("lambda") == 1.0
    stored = get_experiment("reps")
    assert [(r["item_id"], r["repetition"]) for r in stored["results"]] == [
        (f"i{n}", rep) for n in range(5) for rep in range(3)
    ]
    assert stored["metadata"]["repetitions"] == 3


def test_a_sync_task_runs_max_concurrency_items_at_once() -> None:
    flight = InFlight(4)

    def task(n: int) -> int:
        with flight:
            flight.barrier.wait()  # four tasks must be running together, or this raises
            return n * 2

    result = evaluate(task, ITEMS, name="threads", max_concurrency=4)
    assert [row.status for row in result.rows] == ["success"] * 8
    assert flight.most == 4


def test_max_concurrency_one_runs_items_one_after_another_in_order() -> None:
    order: list[int] = []
    flight = InFlight(1)

    def task(n: int) -> int:
        with flight:
            order.append(n)
            return n

    evaluate(task, ITEMS, name="serial", max_concurrency=1)
    assert order == list(range(8)) and flight.most == 1


def test_an_async_task_runs_on_the_loop_with_max_concurrency() -> None:
    running = 0
    most = 0
    gate = asyncio.Event()

    async def task(n: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running == 3:
            gate.set()
        await asyncio.wait_for(gate.wait(), 30)
        running -= 1
        if n == 5:
            raise ValueError("five")
        return n * 2

    async def async_evaluator(output: int, expected: int) -> Score:
        await asyncio.sleep(0)
        return Score("double", output == expected, comment=f"{output}")

    result = evaluate(task, ITEMS, [async_evaluator], name="async", max_concurrency=3)
    assert most == 3
    assert [row.status for row in result.rows] == ["success"] * 5 + ["error"] + ["success"] * 2
    assert result.rows[5].error == "five" and result.rows[5].error_type == "ValueError"
    assert result.metric("double").passed == 7
    assert result.rows[0].scores == [Score("double", True, comment="0")]


def test_aevaluate_inside_a_running_loop_and_evaluate_refuses_there() -> None:
    async def task(n: int) -> int:
        return n

    async def main() -> Any:
        with pytest.raises(RuntimeError, match="await aevaluate"):
            evaluate(task, ITEMS[:2])
        sync_result = await aevaluate(lambda n: n + 1, ITEMS[:2], name="sync-in-loop")
        return await aevaluate(task, ITEMS[:3], [lambda output: output >= 1], name="in-loop"), sync_result

    result, sync_result = asyncio.run(main())
    assert [row.output for row in result.rows] == [0, 1, 2]
    assert result.metric("lambda").passed == 2
    assert [row.output for row in sync_result.rows] == [1, 2]


def test_a_failing_item_and_a_failing_evaluator_leave_the_rest_to_finish(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def task(n: int) -> int:
        if n == 3:
            raise KeyError("missing")
        return n

    def fragile(output: int) -> bool:
        if output == 4:
            raise ZeroDivisionError("cannot judge 4")
        return True

    def wrong_answer(output: int) -> object:
        return object() if output == 6 else 1.0

    result = evaluate(task, ITEMS, [fragile, wrong_answer], name="failures")
    assert [row.status for row in result.rows] == ["success"] * 3 + ["error"] + ["success"] * 4
    assert result.rows[3].error == "'missing'" and result.rows[3].scores == []
    assert result.rows[4].evaluator_errors == ["fragile: ZeroDivisionError: cannot judge 4"]
    assert (
        result.rows[6]
        .evaluator_errors[0]
        .startswith("wrong_answer: ValueError: evaluator 'wrong_answer' answered a object")
    )
    assert result.metric("fragile").passed == 6
    assert result.metric("wrong_answer").count == 6
    assert "evaluator 'fragile' failed on item 'i4'" in caplog.text
    assert result.summary["errors"] == 1 and len(result.errors) == 1


def test_evaluators_receive_what_they_name_and_the_task_may_take_the_item() -> None:
    seen: dict[str, Any] = {}

    def task(item: DatasetItem) -> str:
        waxell_observe.score("inner", 1.0)
        return f"{item.id}:{item.metadata['k']}"

    def everything(**kwargs: Any) -> None:
        seen.update(kwargs)

    result = evaluate(
        task, [{"id": "x", "input": {"a": 1}, "expected": "x:v", "metadata": {"k": "v"}}], [everything]
    )
    assert result.rows[0].output == "x:v"
    assert set(seen) == {"input", "output", "expected", "metadata", "item", "trace"}
    assert seen["input"] == {"a": 1} and seen["metadata"] == {"k": "v"} and seen["item"].id == "x"
    assert seen["trace"].run_id == result.rows[0].run_id
    assert [s.name for s in seen["trace"].scores] == ["inner"]
    assert result.rows[0].scores == []


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="max_concurrency must be an integer >= 1, got 0"):
        evaluate(lambda x: x, ITEMS, max_concurrency=0)
    with pytest.raises(ValueError, match="repetitions must be an integer >= 1, got 2.5"):
        evaluate(lambda x: x, ITEMS, repetitions=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="item 0 must be a DatasetItem or a dict with 'input'"):
        evaluate(lambda x: x, [{"question": 1}])
    with pytest.raises(LookupError, match="unknown dataset 'nope'"):
        evaluate(lambda x: x, "nope")
    with pytest.raises(TypeError, match=r"evaluator 'odd' asks for \['answer'\]"):
        evaluate(lambda x: x, ITEMS[:1], [lambda_with_unknown_argument()], name="odd-arguments")


def lambda_with_unknown_argument() -> Any:
    def odd(answer: int) -> bool:
        return True

    return odd


def test_latency_covers_the_tasks_wall_time() -> None:
    def task(n: int) -> int:
        time.sleep(0.05 if n == 0 else 0)
        return n

    result = evaluate(task, ITEMS[:2], name="latency", max_concurrency=1)
    assert result.rows[0].latency_ms >= 50.0  # at least the sleep: a lower bound, not a speed test


def test_an_evaluators_own_verdict_is_stored_and_the_aggregates_recompute_from_the_store() -> None:
    from waxell_observe.evaluation.results import summarize

    def strict(output: int) -> Score:
        """Numbers >= 0.5 would pass by default; this evaluator passes only 1.0."""
        value = output / 10
        return Score("strict", value, passed=value == 1.0)

    items = [{"id": f"i{n}", "input": n} for n in (6, 7, 10)]
    result = evaluate(lambda n: n, items, [strict], name="own-verdict")
    assert (result.metric("strict").passed, result.pass_rate("strict")) == (1, 1 / 3)
    stored = get_experiment("own-verdict")
    assert [s["passed"] for row in stored["results"] for s in row["scores"]] == [False, False, True]
    assert summarize(stored["results"]) == result.summary
    # the scores table holds the verdict too
    from sqlalchemy import select

    from waxell_observe.config import get_config
    from waxell_observe.store import get_store
    from waxell_observe.store.schema import scores

    run_ids = [row.run_id for row in result.rows]
    with get_store(get_config().db_url).read() as conn:
        found = dict(
            conn.execute(select(scores.c.run_id, scores.c.passed).where(scores.c.run_id.in_(run_ids))).all()
        )
    assert [found[run_id] for run_id in run_ids] == [False, False, True]

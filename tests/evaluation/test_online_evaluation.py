"""Online evaluation: evaluators attached to production runs of an agent (the calculator agent
with the real ``openai`` client against the stub provider), sampled, run on the background
thread and never on the agent's, their scores stored on the runs with source ``online``."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from calculator_agent import GOOD_MODEL, JUDGE_MODEL, answer, question
from sqlalchemy import select

import waxell_observe
from waxell_observe import evaluators as ev
from waxell_observe.evaluation import (
    RunTrace,
    add_online_evaluator,
    flush_online_evaluations,
    online_evaluators,
)
from waxell_observe.store import get_store
from waxell_observe.store.schema import runs, scores


@pytest.fixture(autouse=True)
def detached() -> Iterator[None]:
    """Every test starts and ends with no online evaluator attached."""
    for online in online_evaluators():
        online.remove()
    yield
    assert flush_online_evaluations(30)
    for online in online_evaluators():
        online.remove()


def calculator(client: Any) -> Any:
    @waxell_observe.observe(agent_name="calculator")
    def calculate(question: str) -> str:
        return answer(client, {"question": question})

    return calculate


def stored_scores(store_url: str) -> list[Any]:
    with get_store(store_url).read() as conn:
        return list(
            conn.execute(
                select(
                    scores.c.run_id,
                    scores.c.name,
                    scores.c.numeric_value,
                    scores.c.string_value,
                    scores.c.comment,
                    scores.c.source,
                ).order_by(scores.c.name)
            )
        )


def agent_runs(store_url: str, agent_name: str) -> list[str]:
    waxell_observe.flush_sync(timeout=30)
    with get_store(store_url).read() as conn:
        return list(
            conn.execute(
                select(runs.c.run_id).where(runs.c.agent_name == agent_name).order_by(runs.c.started_at)
            ).scalars()
        )


def test_every_run_of_the_agent_is_scored_in_the_background_with_source_online(
    openai_client: Any, store_url: str
) -> None:
    agent_thread = threading.get_ident()
    seen_threads: set[int] = set()
    release = threading.Event()

    def correct(input: dict[str, Any], output: str, trace: RunTrace) -> list[dict[str, Any]]:
        seen_threads.add(threading.get_ident())
        assert release.wait(30), "the agent never finished"  # the agent's runs end meanwhile
        a, b = (int(n) for n in input["question"][8:-1].split(" + "))
        return [
            {"name": "correct", "value": output == str(a + b), "comment": f"{output} for {a}+{b}"},
            {"name": "tokens", "value": float(trace.total_tokens)},
            {"name": "tool", "value": ",".join(trace.tool_names)},
            {"name": "models", "value": ",".join(trace.models)},
        ]

    online = waxell_observe.add_online_evaluator("calculator", correct)
    assert online_evaluators() == [online]
    calculate = calculator(openai_client)
    outputs = [calculate(question(i, 2 * i + 1)) for i in range(6)]
    # the evaluator is still waiting: every run ended on this thread without running it
    assert outputs == [str(3 * i + 1) for i in range(6)]
    assert stored_scores(store_url) == []
    release.set()
    assert flush_online_evaluations(30)

    assert seen_threads and agent_thread not in seen_threads
    assert online.stats() == {"sampled": 6, "evaluated": 6, "failed": 0, "dropped": 0}
    run_ids = agent_runs(store_url, "calculator")
    assert len(run_ids) == 6
    expected = []
    for i, run_id in enumerate(run_ids):
        total = 3 * i + 1
        expected += [
            (run_id, "correct", 1.0, "true", f"{total} for {i}+{2 * i + 1}", "online"),
            (run_id, "models", None, GOOD_MODEL, "", "online"),
            (run_id, "tokens", float(20 + i + len(str(total))), None, "", "online"),
            (run_id, "tool", None, "add", "", "online"),
        ]
    assert sorted(stored_scores(store_url), key=lambda r: (r[0], r[1])) == sorted(expected)


def test_sampling_is_decided_from_the_run_id_and_other_agents_are_left_alone(
    openai_client: Any, store_url: str
) -> None:
    online = add_online_evaluator("calc*", lambda output: len(output), name="length", sample_rate=0.4)
    calculate = calculator(openai_client)

    @waxell_observe.observe(agent_name="other")
    def other(question: str) -> str:
        return "x"

    for i in range(30):
        calculate(question(i, 1))
        other(question(i, 1))
    assert flush_online_evaluations(30)

    run_ids = agent_runs(store_url, "calculator")
    chosen = [run_id for run_id in run_ids if online.samples(run_id)]
    assert 0 < len(chosen) < 30  # the sample is a part (for these run ids), and exactly that part:
    assert sorted(row[0] for row in stored_scores(store_url)) == sorted(chosen)
    assert online.stats() == {"sampled": len(chosen), "evaluated": len(chosen), "failed": 0, "dropped": 0}
    assert all(online.samples(run_id) for run_id in chosen)  # the same answer every time
    assert not any(row[0] in agent_runs(store_url, "other") for row in stored_scores(store_url))


def test_an_llm_judge_online_its_own_runs_and_experiment_runs_are_not_evaluated(
    openai_client: Any, store_url: str
) -> None:
    judge = ev.LLMJudge(openai_client, JUDGE_MODEL, "The answer is a bare number.", name="judge")
    everything = add_online_evaluator("*", lambda output: output is not None, name="answered")
    add_online_evaluator("calculator", judge)
    calculate = calculator(openai_client)
    calculate(question(2, 5))
    waxell_observe.evaluate(lambda q: q * 2, [{"input": 1, "expected": 2}], name="not-online")
    assert flush_online_evaluations(30)

    (run_id,) = agent_runs(store_url, "calculator")
    judged = stored_scores(store_url)
    # online there is no expected answer: the stub's judge grades "7" as a bare number
    assert [(r.run_id, r.name, r.numeric_value, r.comment, r.source) for r in judged] == [
        (run_id, "answered", 1.0, "", "online"),
        (run_id, "judge", 1.0, "7 is a bare number", "online"),
    ]
    assert everything.stats()["sampled"] == 1  # not the judge's run, nor the experiment's
    (judge_run,) = agent_runs(store_url, "waxell-judge")
    with get_store(store_url).read() as conn:
        metadata = conn.execute(select(runs.c.metadata).where(runs.c.run_id == judge_run)).scalar_one()
    assert metadata == {"judged_run_id": run_id, "evaluator": "judge"}


def test_failed_runs_need_include_errors_and_a_failing_evaluator_leaves_the_others(
    store_url: str,
) -> None:
    def broken(output: Any) -> float:
        raise ZeroDivisionError("no")

    add_online_evaluator("flaky", broken)
    status = add_online_evaluator("flaky", lambda trace: trace.status, name="status", include_errors=True)
    ok = add_online_evaluator("flaky", lambda output: output == "fine", name="ok")

    @waxell_observe.observe(agent_name="flaky")
    def flaky(fail: bool) -> str:
        if fail:
            raise RuntimeError("down")
        return "fine"

    flaky(False)
    with pytest.raises(RuntimeError):
        flaky(True)
    assert flush_online_evaluations(30)

    good, bad = agent_runs(store_url, "flaky")
    assert sorted(
        (r.run_id, r.name, r.numeric_value, r.string_value) for r in stored_scores(store_url)
    ) == sorted(
        [(good, "ok", 1.0, "true"), (good, "status", None, "success"), (bad, "status", None, "error")]
    )
    assert (ok.stats()["evaluated"], status.stats()["evaluated"]) == (1, 2)
    assert online_evaluators()[0].stats() == {"sampled": 1, "evaluated": 0, "failed": 1, "dropped": 0}


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="sample_rate must be a number from 0 to 1, got 1.5"):
        add_online_evaluator("a", lambda output: 1, sample_rate=1.5)
    with pytest.raises(ValueError, match="agent_name must be a non-empty string"):
        add_online_evaluator("", lambda output: 1)
    with pytest.raises(TypeError, match="an evaluator may take input, output, expected"):
        add_online_evaluator("a", lambda answer: 1)
    assert online_evaluators() == []


SCRIPT = """
import time
import waxell_observe

def slow(output):
    time.sleep(1.0)  # still queued when the script's last line ran
    return output == "done"

waxell_observe.add_online_evaluator("script", slow)

@waxell_observe.observe(agent_name="script")
def work(n):
    return "done"

for n in range(3):
    work(n)
"""


def test_a_script_that_ends_right_after_its_runs_still_gets_them_evaluated(
    tmp_path: Path, store_url: str, waxell_db: Path
) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WAXELL_DB": str(waxell_db)},
    )
    assert done.returncode == 0, done.stderr
    run_ids = agent_runs(store_url, "script")
    assert len(run_ids) == 3
    assert sorted((r.run_id, r.name, r.string_value, r.source) for r in stored_scores(store_url)) == sorted(
        (run_id, "slow", "true", "online") for run_id in run_ids
    )

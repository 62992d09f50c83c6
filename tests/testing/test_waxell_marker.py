"""The ``@pytest.mark.waxell`` marker in real pytest sessions (pytester, in subprocesses: the plugin
loads through its ``pytest11`` entry point): one test per dataset item, the session's experiment
stored with its rows and scores, a threshold that fails the run, a regression against a baseline
session, and pytest-xdist with two workers recording one experiment."""

from __future__ import annotations

from pathlib import Path

import pytest

from waxell_observe.config import db_url_from
from waxell_observe.evaluation import create_dataset
from waxell_observe.evaluation.backends import LocalBackend

# imported before pytester snapshots sys.modules, so that the snapshot keeps SQLAlchemy (a second
# import of its compiled modules in one process breaks it)
from waxell_observe.store import datasets as _datasets  # noqa: F401
from waxell_observe.store import experiments as _experiments  # noqa: F401

pytest_plugins = ["pytester"]

AGENT = """
import waxell_observe as waxell

@waxell.observe(agent_name="adder", enforce_policy=False)
def add(a, b, sloppy=False):
    ctx = waxell.get_context()
    ctx.record_llm_call(model="gpt-4o-mini", tokens_in=100, tokens_out=10)
    if not sloppy:
        ctx.record_tool_call("calculator", input={"a": a, "b": b}, output=a + b)
    total = a + b
    return total + 1 if sloppy and a % 2 == 0 else total
"""

TESTS = """
import os
import pytest
from agent import add
from waxell_observe import evaluators as ev

SLOPPY = os.environ.get("SLOPPY") == "1"

@pytest.mark.waxell(
    dataset="sums",
    evaluators=[ev.exact_match(), ev.tool_called("calculator")],
    threshold={"exact_match": 0.8},
)
def test_adder(waxell_case):
    a, b = waxell_case.input["a"], waxell_case.input["b"]
    if a == 9:
        raise AssertionError("the test itself can fail an item")
    waxell_case.output = add(a, b, sloppy=SLOPPY)

def test_plain():
    assert True
"""


@pytest.fixture
def project(pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with the agent, its tests and a 10-item dataset in the store named by WAXELL_DB."""
    db = tmp_path / "evals.db"
    monkeypatch.setenv("WAXELL_DB", str(db))
    monkeypatch.setenv("WAXELL_JOURNAL_DIR", str(tmp_path / "journal"))
    monkeypatch.delenv("SLOPPY", raising=False)
    create_dataset(
        "sums",
        [{"id": f"s{a}", "input": {"a": a, "b": 10}, "expected": a + 10} for a in range(10)],
        backend=LocalBackend(db_url_from(str(db))),
    )
    pytester.makepyfile(agent=AGENT, test_agent=TESTS)
    return pytester


def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(db_url_from(str(tmp_path / "evals.db")))


def test_the_marked_test_runs_per_item_and_records_the_session_as_one_experiment(
    project: pytest.Pytester, tmp_path: Path
) -> None:
    result = project.runpytest_subprocess("-p", "no:randomly", "-v", "--waxell-name", "main")
    result.assert_outcomes(passed=10, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_agent.py::test_adder[[]s0[]] PASSED*",
            "*test_agent.py::test_adder[[]s9[]] FAILED*",
            "*waxell experiments*",
            "main/test_adder [[]passed[]]: 10 items, 10 runs, 1 errors, cost $*",
            "    exact_match              pass   90.0% (9/10)  mean 1",
            "    tool_called:calculator   pass   90.0% (9/10)  mean 1",
        ]
    )
    stored = backend(tmp_path).get_experiment("main/test_adder")
    assert stored is not None
    assert (stored["status"], stored["dataset"], stored["dataset_version"]) == ("completed", "sums", 1)
    assert stored["metadata"]["threshold"] == {"exact_match": 0.8}
    assert [(r["item_id"], r["status"], r["output"]) for r in stored["results"]] == [
        *[(f"s{a}", "success", a + 10) for a in range(9)],
        ("s9", "error", None),
    ]
    assert stored["results"][9]["error"] == "the test itself can fail an item"
    assert stored["summary"]["metrics"]["exact_match"]["pass_rate"] == 0.9
    assert all(r["cost"] > 0 and r["tokens_in"] == 100 for r in stored["results"][:9])


def test_a_worse_agent_falls_below_the_threshold_and_regresses_against_the_baseline(
    project: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.runpytest_subprocess("-p", "no:randomly", "--waxell-name", "good").assert_outcomes(
        passed=10, failed=1
    )
    monkeypatch.setenv("SLOPPY", "1")
    result = project.runpytest_subprocess(
        "-p", "no:randomly", "--waxell-name", "worse", "--waxell-baseline", "good"
    )
    result.assert_outcomes(passed=10, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "worse/test_adder [[]FAILED[]]: 10 items, 10 runs, 1 errors, cost $*",
            "    exact_match              pass   40.0% (4/10)  mean 0.4444  baseline 90.0%",
            "    tool_called:calculator   pass    0.0% (0/10)  mean 0  baseline 90.0%",
            "    below threshold: exact_match: pass rate 40.0% (4/10) is below the threshold 80.0%",
            "    regression: exact_match: pass rate 40.0% regressed from 90.0% in the baseline",
            "    regression: tool_called:calculator: pass rate 0.0% regressed from 90.0% in the baseline",
        ]
    )
    worse = backend(tmp_path).get_experiment("worse/test_adder")
    assert worse is not None and worse["summary"]["metrics"]["exact_match"]["passed"] == 4


def test_a_threshold_alone_fails_a_run_whose_tests_all_pass(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_agent="""
import pytest
from agent import add
from waxell_observe import evaluators as ev

@pytest.mark.waxell(dataset="sums", evaluators=[ev.exact_match()], threshold=0.95)
def test_adder(waxell_case):
    waxell_case.output = add(waxell_case.input["a"], waxell_case.input["b"], sloppy=True)
"""
    )
    result = project.runpytest_subprocess("-p", "no:randomly", "--waxell-name", "strict")
    result.assert_outcomes(passed=10)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*below threshold: exact_match: pass rate 50.0% (5/10) is below the threshold 95.0%"]
    )


def test_a_missing_baseline_and_misuse_are_named(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        "-p", "no:randomly", "--waxell-name", "x", "--waxell-baseline", "nope"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["    regression: no baseline experiment 'nope/test_adder'"])
    project.makepyfile(
        test_agent="""
import pytest

@pytest.mark.waxell(dataset="no-such-dataset")
def test_a(waxell_case):
    pass
""",
        test_other="""
import pytest

@pytest.mark.waxell(dataset="sums")
def test_b():
    pass
""",
    )
    result = project.runpytest_subprocess("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # errors during collection
    result.stdout.fnmatch_lines_random(
        [
            "*UsageError: test_agent.py::test_a: unknown dataset 'no-such-dataset'",
            "*UsageError: test_other.py::test_b: a test marked @pytest.mark.waxell"
            " takes the waxell_case fixture*",
        ]
    )


def test_two_xdist_workers_record_one_experiment(project: pytest.Pytester, tmp_path: Path) -> None:
    result = project.runpytest_subprocess("-p", "no:randomly", "-n", "2", "--waxell-name", "parallel")
    result.assert_outcomes(passed=10, failed=1)
    result.stdout.fnmatch_lines(["parallel/test_adder [[]passed[]]: 10 items, 10 runs, 1 errors, cost $*"])
    stored = backend(tmp_path).get_experiment("parallel/test_adder")
    assert stored is not None and stored["status"] == "completed"
    assert sorted(r["item_id"] for r in stored["results"]) == [f"s{a}" for a in range(10)]
    assert len(backend(tmp_path).list_experiments("sums")) == 1


def test_repetitions_inline_items_async_tests_and_a_tolerated_dip(
    project: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makepyfile(
        test_more="""
import asyncio
import os
import pytest
from waxell_observe import evaluators as ev

ITEMS = [{"id": "x", "input": 2, "expected": 4}, {"id": "y", "input": 3, "expected": 6}]
DIP = os.environ.get("DIP") == "1"

@pytest.mark.waxell(dataset=ITEMS, evaluators=[ev.exact_match()], repetitions=2, tolerance=0.3)
async def test_double(waxell_case):
    await asyncio.sleep(0)
    wrong = DIP and waxell_case.id == "y" and waxell_case.repetition == 1
    waxell_case.output = waxell_case.input * 2 + (1 if wrong else 0)
"""
    )
    result = project.runpytest_subprocess("-p", "no:randomly", "-v", "--waxell-name", "base", "test_more.py")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*test_more.py::test_double[[]x-r0[]] PASSED*",
            "*test_more.py::test_double[[]y-r1[]] PASSED*",
            "base/test_double [[]passed[]]: 2 items, 4 runs, 0 errors, cost $*",
            "    exact_match              pass  100.0% (4/4)  mean 1",
        ]
    )
    stored = backend(tmp_path).get_experiment("base/test_double")
    assert stored is not None and stored["dataset"] == ""  # inline items: no stored dataset
    assert [(r["item_id"], r["repetition"], r["output"]) for r in stored["results"]] == [
        ("x", 0, 4),
        ("x", 1, 4),
        ("y", 0, 6),
        ("y", 1, 6),
    ]
    # 75% is within the tolerance (0.3) of the baseline's 100%: no regression
    monkeypatch.setenv("DIP", "1")
    dipped = project.runpytest_subprocess(
        "-p", "no:randomly", "--waxell-name", "dip", "--waxell-baseline", "base", "test_more.py"
    )
    assert dipped.ret == pytest.ExitCode.OK
    dipped.stdout.fnmatch_lines(
        ["    exact_match              pass   75.0% (3/4)  mean 0.75  baseline 100.0%"]
    )

"""The pytest plugin installed with the SDK: the ``waxell_runs`` fixture, run in real pytest
sessions (pytester, in subprocesses: the plugin loads through its ``pytest11`` entry point)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

AGENT = """
import threading
import waxell_observe as waxell
from waxell_observe import WaxellContext

@waxell.observe(agent_name="answerer", enforce_policy=False)
def answer(question):
    ctx = waxell.get_context()
    ctx.record_llm_call(model="gpt-4o-mini", tokens_in=120, tokens_out=30)
    ctx.record_tool_call("search", input={"query": question, "k": 3}, output={"hits": 2})
    waxell.step("compose", output={"chars": 12})
    waxell.score("helpful", 0.9)
    waxell.tag("lang", "en")
    return "Paris"

def run_in_thread():
    def work():
        with WaxellContext(agent_name="worker", enforce_policy=False) as ctx:
            ctx.record_llm_call(model="claude-sonnet-4", tokens_in=10, tokens_out=5)
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()

@waxell.observe(agent_name="failing", enforce_policy=False)
def fail():
    raise KeyError("missing")
"""


@pytest.fixture
def session(pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytest project with the agent module; the user's own store and control plane are set
    in the environment (the fixture must use neither)."""
    pytester.makepyfile(agent=AGENT)
    monkeypatch.setenv("WAXELL_DB", str(tmp_path / "users-own.db"))
    monkeypatch.setenv("WAXELL_JOURNAL_DIR", str(tmp_path / "users-journal"))
    monkeypatch.setenv("WAXELL_API_URL", "http://127.0.0.1:9")  # nothing listens: must not be used
    return pytester


def test_the_fixture_holds_exactly_the_runs_of_its_test(session: pytest.Pytester, tmp_path: Path) -> None:
    session.makepyfile(
        test_agent="""
import pytest
from agent import answer, run_in_thread, fail

def test_one(waxell_runs):
    assert answer("capital of France") == "Paris"
    answer("capital of Spain")
    assert len(waxell_runs) == 2
    run = waxell_runs[0].assert_succeeded()
    run.assert_tool_called("search", times=1, query="capital of France", k=3)
    run.assert_model_used("gpt-4o-mini").assert_tag("lang", "en").assert_score("helpful", at_least=0.5)
    assert run.assert_step("compose").output == {"chars": 12}
    assert (run.tokens_in, run.tokens_out, run.total_tokens) == (120, 30, 150)
    assert run.total_cost > 0 and run.models == ["gpt-4o-mini"]
    assert waxell_runs.total_tokens == 300
    inputs = [r.inputs for r in waxell_runs]
    assert inputs == [{"question": "capital of France"}, {"question": "capital of Spain"}]

def test_two(waxell_runs):
    run_in_thread()
    with pytest.raises(KeyError):
        fail()
    waxell_runs.assert_count(2)
    assert waxell_runs.one("worker").models == ["claude-sonnet-4"]
    waxell_runs.one("failing").assert_failed("KeyError")
    assert waxell_runs.find(status="success")[0].agent_name == "worker"

def test_three_records_nothing(waxell_runs):
    assert len(waxell_runs) == 0 and waxell_runs.summary() == "no runs recorded"
"""
    )
    result = session.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    # offline: the user's store and journal were never written, the control plane never asked
    assert not (tmp_path / "users-own.db").exists()
    assert not (tmp_path / "users-journal").exists()
    assert "127.0.0.1:9" not in result.stdout.str() + result.stderr.str()


def test_failed_assertions_say_what_the_run_holds(session: pytest.Pytester) -> None:
    session.makepyfile(
        test_agent="""
from agent import answer

def test_wrong_tool(waxell_runs):
    answer("q")
    waxell_runs.one("answerer").assert_tool_called("calculator")

def test_wrong_arguments(waxell_runs):
    answer("q")
    waxell_runs.one("answerer").assert_tool_called("search", query="other")

def test_over_budget(waxell_runs):
    answer("q")
    waxell_runs.one("answerer").assert_tokens_at_most(100)

def test_no_such_run(waxell_runs):
    answer("q")
    waxell_runs.one("planner")
"""
    )
    result = session.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=4)
    output = result.stdout.str()
    for message in (
        "did not call tool 'calculator' (tools called: ['search'])",
        "called tool 'search' with [{'query': 'q', 'k': 3}], none matching {'query': 'other'}",
        "used 150 tokens, more than 100",
        "expected exactly one run with agent_name='planner', found 0: answerer [success] 1 LLM call(s), "
        "tools ['search']",
    ):
        assert message in output, message
    assert output.count("AssertionError") >= 4


def test_the_fixture_keeps_tests_apart_under_xdist(session: pytest.Pytester) -> None:
    tests = "\n".join(
        f"""
def test_{n}(waxell_runs):
    for i in range({n}):
        answer(f"q{{i}}")
    waxell_runs.assert_count({n}, "answerer", status="success")
"""
        for n in range(1, 7)
    )
    session.makepyfile(test_many="from agent import answer\n" + tests)
    result = session.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=6)


def test_the_session_store_holds_every_captured_run(session: pytest.Pytester) -> None:
    session.makepyfile(
        test_store="""
from agent import answer

def test_a(waxell_runs):
    answer("a")
    print("STORE", waxell_runs.store_url)

def test_b(waxell_runs):
    answer("b")
    answer("c")
"""
    )
    result = session.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=2)
    [line] = [line for line in result.stdout.lines if line.startswith("STORE ") or " STORE " in line]
    db = Path(line.split("sqlite:///", 1)[1].strip())
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT agent_name, status FROM runs ORDER BY started_at").fetchall()
    assert rows == [("answerer", "success")] * 3


def test_policy_outcomes_under_the_tests_own_policies(session: pytest.Pytester) -> None:
    session.makepyfile(
        test_policies='''
import pytest
import waxell_observe as waxell
from waxell_observe.errors import PolicyViolationError

POLICIES = """
policies:
  - name: tools
    category: tool-allowlist
    rules: {allowed_tools: [search], blocked_tools: [shell], action: block}
"""

@waxell.observe(agent_name="ops")
def ops(command):
    waxell.gate_tool("shell", {"command": command})
    return "ran"

def test_blocked(waxell_runs):
    assert waxell_runs.use_policies(POLICIES) == ["tools"]
    with pytest.raises(PolicyViolationError):
        ops("ls")
    run = waxell_runs.one("ops").assert_blocked("shell")
    assert run.error == "Tool 'shell' is blocked"
    check = run.assert_policy("tools", action="block", category="tool-allowlist")
    where = (check.attributes["phase"], check.attributes["metadata"]["surface"])
    assert where == ("mid_execution", "tool.before")
    run.assert_policy(action="warn")  # fails: it was a block

def test_the_policies_ended_with_the_test(waxell_runs):
    assert ops("ls") == "ran"
    assert waxell_runs.one("ops").assert_succeeded().policy_checks == []
'''
    )
    result = session.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)  # the second test: the policies ended with the first
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: run 'ops' (*) has no policy answer with action='warn' (answers: "
            "[[]{'policy_name': 'tools', 'action': 'block', 'category': 'tool-allowlist'}[]])",
            "FAILED test_policies.py::test_blocked - *",
        ]
    )

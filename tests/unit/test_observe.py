"""``@observe`` on functions, coroutines and methods, read back through the real store."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient, observe, waxell_agent
from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance.results import PolicyCheckResult
from waxell_observe.plugins import hookimpl

ReadRun = Callable[[str], dict[str, Any]]
ReadRuns = Callable[..., list[dict[str, Any]]]


def only_run(read_runs: ReadRuns, read_run: ReadRun, **filters: Any) -> dict[str, Any]:
    runs = read_runs(**filters)
    assert len(runs) == 1, runs
    return read_run(runs[0]["run_id"])


def step_view(run: dict[str, Any]) -> list[tuple[str, int, Any]]:
    return [(s["name"], s["position"], s["output"]) for s in run["steps"]]


class PolicyRecorder:
    """A policy plugin that answers ``answer`` and remembers every question."""

    def __init__(self, answer: str = "allow", reason: str = "") -> None:
        self.answer = answer
        self.reason = reason
        self.calls: list[tuple[str, str, str]] = []

    @hookimpl
    def on_policy_check(self, run: Any, phase: str, surface: str) -> PolicyCheckResult | None:
        self.calls.append((run.agent_name, phase, surface))
        if self.answer == "allow":
            return None
        return PolicyCheckResult(self.answer, reason=self.reason)


# -- sync functions ------------------------------------------------------------------------


def test_bare_decorator_records_one_run_with_inputs_and_result(
    read_runs: ReadRuns, read_run: ReadRun
) -> None:
    @observe
    def summarize(text: str, max_words: int = 20) -> str:
        return text[:5]

    assert summarize("hello world") == "hello"

    run = only_run(read_runs, read_run)
    assert run["agent_name"] == "summarize"
    assert run["workflow_name"] == "default"
    assert run["status"] == "success"
    assert run["error"] == ""
    assert run["parent_run_id"] == ""
    assert run["inputs"] == {"text": "hello world", "max_words": 20}
    assert run["result"] == {"output": "hello"}
    assert run["steps"] == [] and run["spans"] == [] and run["scores"] == []


def test_dict_result_is_stored_as_is(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe
    def answer(question: str) -> dict[str, Any]:
        return {"answer": "Paris", "confidence": 0.95}

    assert answer("capital of France?") == {"answer": "Paris", "confidence": 0.95}
    run = only_run(read_runs, read_run)
    assert run["result"] == {"answer": "Paris", "confidence": 0.95}


def test_every_decorator_option_reaches_the_run(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe(
        agent_name="support-bot",
        workflow_name="triage",
        session_id="sess-1",
        user_id="user-7",
        user_group="enterprise",
        enforce_policy=False,
        metadata={"version": "2.1"},
        tags={"env": "test", "team": "core"},
        inputs={"channel": "email"},
    )
    def handle(ticket_id: int) -> str:
        waxell_observe.tag("priority", "high")
        return "routed"

    assert handle(42) == "routed"
    run = only_run(read_runs, read_run)
    assert {k: run[k] for k in ("agent_name", "workflow_name", "session_id", "user_id", "user_group")} == {
        "agent_name": "support-bot",
        "workflow_name": "triage",
        "session_id": "sess-1",
        "user_id": "user-7",
        "user_group": "enterprise",
    }
    assert run["metadata"] == {"version": "2.1"}
    assert run["tags"] == {"env": "test", "team": "core", "priority": "high"}
    assert run["inputs"] == {"ticket_id": 42, "channel": "email"}
    assert run["result"] == {"output": "routed"}


def test_agent_name_can_be_given_positionally_and_alias_is_the_same(read_runs: ReadRuns) -> None:
    @observe("named-positionally")
    def one() -> int:
        return 1

    @waxell_agent(agent_name="via-alias")
    def two() -> int:
        return 2

    assert waxell_agent is observe
    assert (one(), two()) == (1, 2)
    assert sorted(r["agent_name"] for r in read_runs()) == ["named-positionally", "via-alias"]


def test_capture_io_off_records_neither_inputs_nor_result(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe(capture_io=False)
    def secret(password: str) -> str:
        return "ok"

    @observe(capture_io=False, inputs={"kind": "static"})
    def with_static(password: str) -> str:
        return "ok"

    secret("hunter2")
    with_static("hunter2")
    assert read_run(read_runs(agent_name="secret")[0]["run_id"])["inputs"] == {}
    assert read_run(read_runs(agent_name="secret")[0]["run_id"])["result"] == {}
    assert read_run(read_runs(agent_name="with_static")[0]["run_id"])["inputs"] == {"kind": "static"}


def test_input_binding_rules(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe
    def everything(a: int, /, b: int, *rest: int, c: str = "C", waxell_ctx: Any = None, **extra: Any) -> None:
        return None

    everything(1, 2, 3, 4, d="D", e=[1, 2])
    run = only_run(read_runs, read_run)
    assert run["inputs"] == {"a": 1, "b": 2, "rest": [3, 4], "c": "C", "d": "D", "e": [1, 2]}
    assert run["result"] == {"output": None}


def test_methods_classmethods_and_staticmethods(read_runs: ReadRuns, read_run: ReadRun) -> None:
    class Agent:
        prefix = "P"

        def __init__(self) -> None:
            self.calls = 0

        @observe
        def run(self, query: str) -> str:
            self.calls += 1
            return f"{self.prefix}:{query}"

        @observe
        @classmethod
        def build(cls, name: str) -> str:
            return f"{cls.prefix}-{name}"

        @observe(agent_name="static-agent")
        @staticmethod
        def helper(x: int) -> int:
            return x * 2

    agent = Agent()
    assert agent.run("q1") == "P:q1"
    assert agent.calls == 1
    assert Agent.build("n") == "P-n"
    assert Agent.helper(21) == 42
    assert agent.helper(1) == 2

    assert read_run(read_runs(agent_name="run")[0]["run_id"])["inputs"] == {"query": "q1"}
    assert read_run(read_runs(agent_name="build")[0]["run_id"])["inputs"] == {"name": "n"}
    static_runs = read_runs(agent_name="static-agent")
    assert sorted(read_run(r["run_id"])["inputs"]["x"] for r in static_runs) == [1, 21]


def test_waxell_ctx_parameter_receives_the_live_context(read_runs: ReadRuns, read_run: ReadRun) -> None:
    seen: list[WaxellContext] = []

    @observe
    def agent(query: str, waxell_ctx: WaxellContext) -> str:
        seen.append(waxell_ctx)
        assert waxell_observe.get_current_context() is waxell_ctx
        waxell_ctx.record_llm_call(model="gpt-4o", tokens_in=300, tokens_out=150)
        waxell_ctx.record_step("research", output={"sources": 5})
        return "done"

    assert agent("tides") == "done"
    [ctx] = seen
    run = read_run(ctx.run_id)
    assert run["agent_name"] == "agent"
    assert run["inputs"] == {"query": "tides"}
    assert run["llm_call_count"] == 1
    assert run["total_tokens"] == 450
    assert step_view(run) == [("research", 1, {"sources": 5})]


def test_call_time_overrides_are_taken_for_the_run_and_not_passed_on(
    read_runs: ReadRuns, read_run: ReadRun
) -> None:
    received: dict[str, Any] = {}

    @observe(session_id="decorator-session")
    def chat(message: str, **kwargs: Any) -> str:
        received.update(kwargs)
        return "hi"

    other_db_client = WaxellObserveClient(db="")  # same destination as the global configuration
    chat(
        "hello",
        session_id="call-session",
        user_id="u1",
        user_group="free",
        enforce_policy=False,
        mid_execution_governance=False,
        client=other_db_client,
        temperature=0.2,
    )
    assert received == {"temperature": 0.2}
    run = only_run(read_runs, read_run)
    assert (run["session_id"], run["user_id"], run["user_group"]) == ("call-session", "u1", "free")
    assert run["inputs"] == {"message": "hello", "temperature": 0.2}


def test_a_parameter_the_function_declares_is_not_an_override(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe(session_id="from-decorator")
    def lookup(session_id: str, user_id: str = "") -> str:
        return f"{session_id}/{user_id}"

    assert lookup(session_id="mine", user_id="me") == "mine/me"
    run = only_run(read_runs, read_run)
    assert run["session_id"] == "from-decorator"
    assert run["user_id"] == ""
    assert run["inputs"] == {"session_id": "mine", "user_id": "me"}


def test_call_time_client_sends_the_run_to_its_destination(tmp_path: Path, read_runs: ReadRuns) -> None:
    from waxell_observe.store import get_store
    from waxell_observe.store.reader import list_runs

    other_db = tmp_path / "other.db"
    client = WaxellObserveClient(db=str(other_db))

    @observe
    def routed() -> str:
        return "ok"

    routed(client=client)
    routed()
    waxell_observe.flush_sync(timeout=30)
    with get_store(f"sqlite:///{other_db}").read() as conn:
        elsewhere = list_runs(conn)
    assert [r["agent_name"] for r in elsewhere] == ["routed"]
    assert [r["agent_name"] for r in read_runs()] == ["routed"]
    assert elsewhere[0]["run_id"] != read_runs()[0]["run_id"]


# -- nesting --------------------------------------------------------------------------------


def test_nested_calls_become_child_runs_with_a_delegation_step(
    read_runs: ReadRuns, read_run: ReadRun
) -> None:
    @observe
    def researcher(topic: str) -> str:
        waxell_observe.step("search", {"hits": 3})
        return f"notes on {topic}"

    @observe(agent_name="writer", user_id="override-user")
    def writer(notes: str) -> str:
        return notes.upper()

    @observe(agent_name="orchestrator", session_id="sess-9", user_id="user-9", user_group="pro")
    def orchestrate(topic: str) -> str:
        waxell_observe.step("plan")
        return writer(researcher(topic))

    assert orchestrate("tides") == "NOTES ON TIDES"

    parent = only_run(read_runs, read_run, agent_name="orchestrator")
    child_research = only_run(read_runs, read_run, agent_name="researcher")
    child_writer = only_run(read_runs, read_run, agent_name="writer")
    for child in (child_research, child_writer):
        assert child["parent_run_id"] == parent["run_id"]
        assert child["root_run_id"] == parent["run_id"]
        assert child["session_id"] == "sess-9"
        assert child["user_group"] == "pro"
    assert child_research["user_id"] == "user-9"
    assert child_writer["user_id"] == "override-user"
    assert step_view(child_research) == [("search", 1, {"hits": 3})]
    assert step_view(parent) == [
        ("plan", 1, None),
        (
            "delegate:researcher",
            2,
            {"_kind": "delegation", "child_run_id": child_research["run_id"], "child_agent": "researcher"},
        ),
        (
            "delegate:writer",
            3,
            {"_kind": "delegation", "child_run_id": child_writer["run_id"], "child_agent": "writer"},
        ),
    ]
    assert child_research["inputs"] == {"topic": "tides"}
    assert child_writer["inputs"] == {"notes": "notes on tides"}
    assert sorted(c["run_id"] for c in parent["children"]) == sorted(
        [child_research["run_id"], child_writer["run_id"]]
    )
    assert waxell_observe.get_current_context() is None


def test_observe_inside_a_waxell_context_is_a_child_run(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe
    def tool_agent() -> int:
        return 7

    with WaxellContext(agent_name="outer", session_id="s-outer") as ctx:
        tool_agent()
    child = only_run(read_runs, read_run, agent_name="tool_agent")
    assert child["parent_run_id"] == ctx.run_id
    assert child["session_id"] == "s-outer"


# -- errors and governance -----------------------------------------------------------------


def test_exceptions_propagate_unchanged_and_the_run_completes_as_error(
    read_runs: ReadRuns, read_run: ReadRun
) -> None:
    boom = KeyError("missing-key")

    @observe
    def fails(x: int) -> None:
        waxell_observe.step("before-failure")
        raise boom

    with pytest.raises(KeyError) as info:
        fails(1)
    assert info.value is boom
    run = only_run(read_runs, read_run)
    assert run["status"] == "error"
    assert run["error"] == "'missing-key'"
    assert run["error_type"] == "KeyError"
    assert "raise boom" in run["traceback"]
    assert run["result"] == {}
    assert step_view(run) == [("before-failure", 1, None)]
    assert waxell_observe.get_current_context() is None


def test_policy_block_at_entry_raises_and_the_function_does_not_run(
    register_plugin: Any, read_runs: ReadRuns
) -> None:
    policy = register_plugin(PolicyRecorder("block", reason="kill switch on"))
    calls: list[int] = []

    @observe
    def guarded() -> None:
        calls.append(1)

    with pytest.raises(PolicyViolationError) as info:
        guarded()
    assert info.value.policy_result.action == "block"
    assert str(info.value) == "Policy block: kill switch on"
    assert calls == []
    assert policy.calls == [("guarded", "pre_execution", "run.start")]
    assert read_runs() == []


def test_enforce_policy_default_on_and_overridable_per_call(
    register_plugin: Any, read_runs: ReadRuns
) -> None:
    policy = register_plugin(PolicyRecorder())

    @observe
    def checked() -> int:
        return 1

    @observe(enforce_policy=False)
    def unchecked() -> int:
        return 2

    checked()
    unchecked()
    checked(enforce_policy=False)
    unchecked(enforce_policy=True)
    assert policy.calls == [
        ("checked", "pre_execution", "run.start"),
        ("checked", "post_execution", "run.complete"),
        ("unchecked", "pre_execution", "run.start"),
        ("unchecked", "post_execution", "run.complete"),
    ]
    assert len(read_runs()) == 4


def test_mid_execution_governance_blocks_at_the_next_step(
    register_plugin: Any, read_runs: ReadRuns, read_run: ReadRun
) -> None:
    class BlockMid:
        @hookimpl
        def on_policy_check(self, run: Any, phase: str, surface: str) -> PolicyCheckResult | None:
            if phase == "mid_execution":
                return PolicyCheckResult("block", reason="budget exceeded")
            return None

    register_plugin(BlockMid())
    after: list[str] = []

    @observe(mid_execution_governance=True)
    def long_agent() -> None:
        waxell_observe.step("one")
        after.append("unreachable")

    with pytest.raises(PolicyViolationError):
        long_agent()
    assert after == []
    run = only_run(read_runs, read_run)
    assert run["status"] == "blocked"
    assert step_view(run) == [("one", 1, None)]


def test_recording_failures_never_break_the_call(
    caplog: pytest.LogCaptureFixture, read_runs: ReadRuns
) -> None:
    class BadKey:
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

        def __hash__(self) -> int:
            return 1

    @observe
    def takes_dict(mapping: dict[Any, int]) -> int:
        return sum(mapping.values())

    with caplog.at_level(logging.ERROR, logger="waxell_observe"):
        assert takes_dict({BadKey(): 5}) == 5
    assert "cannot start a run for 'takes_dict'" in caplog.text
    assert read_runs() == []


class FailingSink:
    @hookimpl
    def on_run_start(self, run: Any) -> None:
        raise RuntimeError("sink exploded")

    @hookimpl
    def on_run_end(self, run: Any) -> None:
        raise RuntimeError("sink exploded again")


def test_a_failing_plugin_does_not_reach_the_decorated_function(
    register_plugin: Any, read_runs: ReadRuns
) -> None:
    register_plugin(FailingSink())

    @observe
    def resilient() -> str:
        return "fine"

    assert resilient() == "fine"
    assert [r["status"] for r in read_runs()] == ["success"]


# -- capture -------------------------------------------------------------------------------


def test_long_strings_are_previews_unless_capture_content(read_runs: ReadRuns, read_run: ReadRun) -> None:
    from waxell_observe.config import get_config, set_config

    long_text = "x" * 1200

    @observe
    def echo(text: str) -> str:
        return text

    echo(long_text)
    run = only_run(read_runs, read_run)
    assert run["inputs"]["text"] == "x" * 499 + "…"
    assert run["result"]["output"] == "x" * 499 + "…"

    set_config(get_config().replace(capture_content=True))
    echo(long_text)
    runs = read_runs()
    full = read_run(runs[0]["run_id"])
    assert full["inputs"]["text"] == long_text
    assert full["result"]["output"] == long_text


def test_objects_json_cannot_hold_are_captured_as_repr(read_runs: ReadRuns, read_run: ReadRun) -> None:
    class Client:
        def __repr__(self) -> str:
            return "<Client gpt>"

    @observe
    def uses_client(client_obj: Client, when: Any) -> Client:
        return client_obj

    import datetime

    uses_client(Client(), datetime.date(2026, 1, 2))
    run = only_run(read_runs, read_run)
    assert run["inputs"] == {"client_obj": "<Client gpt>", "when": "2026-01-02"}
    assert run["result"] == {"output": "<Client gpt>"}


# -- async ---------------------------------------------------------------------------------


async def test_async_functions_record_runs_and_nest_across_awaits(
    read_runs: ReadRuns, read_run: ReadRun
) -> None:
    @observe
    async def fetch(url: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        waxell_observe.step("fetched", {"url": url})
        return {"url": url, "status": 200}

    @observe(agent_name="crawler", session_id="crawl-1")
    async def crawl(urls: list[str]) -> int:
        results = await asyncio.gather(*(fetch(u) for u in urls))
        return len(results)

    assert inspect.iscoroutinefunction(crawl)
    assert await crawl(["a", "b", "c"]) == 3

    parent = only_run(read_runs, read_run, agent_name="crawler")
    assert parent["result"] == {"output": 3}
    children = [read_run(r["run_id"]) for r in read_runs(agent_name="fetch")]
    assert sorted(c["inputs"]["url"] for c in children) == ["a", "b", "c"]
    for child in children:
        assert child["parent_run_id"] == parent["run_id"]
        assert child["session_id"] == "crawl-1"
        assert step_view(child) == [("fetched", 1, {"url": child["inputs"]["url"]})]
        assert child["result"] == {"url": child["inputs"]["url"], "status": 200}
    assert sorted(s["name"] for s in parent["steps"]) == ["delegate:fetch"] * 3


async def test_async_exception_and_cancellation(read_runs: ReadRuns, read_run: ReadRun) -> None:
    error = ValueError("bad input")

    @observe
    async def failing() -> None:
        await asyncio.sleep(0)
        raise error

    waiting = asyncio.Event()

    @observe
    async def slow() -> None:
        waiting.set()
        await asyncio.sleep(30)

    async def expire(deadline: asyncio.Timeout) -> None:
        await waiting.wait()  # the deadline passes once the body is blocked in its await
        deadline.reschedule(asyncio.get_running_loop().time())

    with pytest.raises(ValueError) as info:
        await failing()
    assert info.value is error

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(None) as deadline:
            expiry = asyncio.ensure_future(expire(deadline))
            await slow()
    await expiry

    waiting.clear()
    task = asyncio.ensure_future(slow())
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert [r["status"] for r in read_runs(agent_name="failing")] == ["error"]
    assert [r["status"] for r in read_runs(agent_name="slow")] == ["interrupted", "interrupted"]
    assert {read_run(r["run_id"])["error_type"] for r in read_runs(agent_name="slow")} == {"CancelledError"}


async def test_async_waxell_ctx_and_overrides(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe
    async def agent(prompt: str, waxell_ctx: WaxellContext) -> str:
        waxell_ctx.record_llm_call(model="gpt-4o-mini", tokens_in=10, tokens_out=5)
        return prompt[::-1]

    assert await agent("abc", user_id="async-user") == "cba"
    run = only_run(read_runs, read_run)
    assert run["user_id"] == "async-user"
    assert run["inputs"] == {"prompt": "abc"}
    assert run["result"] == {"output": "cba"}
    assert run["llm_call_count"] == 1


# -- decoration ----------------------------------------------------------------------------


def test_wrapper_keeps_the_function_identity() -> None:
    def documented(a: int, b: str = "x") -> str:
        """Docstring kept."""
        return b * a

    wrapped = observe(documented)
    assert wrapped.__name__ == "documented"
    assert wrapped.__doc__ == "Docstring kept."
    assert wrapped.__wrapped__ is documented
    assert str(inspect.signature(wrapped)) == "(a: 'int', b: 'str' = 'x') -> 'str'"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tags": {"bad key": "v"}}, "tag key 'bad key' is invalid"),
        ({"tags": {"k": 1}}, "tag 'k' needs a string value"),
        ({"metadata": ["not", "a", "dict"]}, "metadata must be a dict or None"),
        ({"inputs": "text"}, "inputs must be a dict or None"),
        ({"agent_name": ""}, "agent_name must be a non-empty string"),
    ],
)
def test_misuse_is_a_clear_value_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        observe(**kwargs)


def test_decorating_a_non_callable_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="@observe decorates functions and methods, got int"):
        observe(42)


# -- as others will read it: the CLI --------------------------------------------------------


def test_a_decorated_program_read_back_with_the_cli() -> None:
    import json

    from click.testing import CliRunner

    from waxell_observe.cli import main

    @waxell_observe.tool(tool_type="api")
    def search(query: str) -> list[str]:
        return [f"{query}-doc"]

    @observe
    def summarizer(docs: list[str]) -> str:
        waxell_observe.score("coverage", 0.5)
        return " + ".join(docs)

    @observe(agent_name="research", session_id="sess-cli", tags={"suite": "cli"})
    async def research(topic: str) -> dict[str, Any]:
        docs = search(topic)
        waxell_observe.step("searched", {"count": len(docs)})
        return {"summary": summarizer(docs)}

    assert asyncio.run(research("tides")) == {"summary": "tides-doc"}
    waxell_observe.flush_sync(timeout=30)

    listed = CliRunner().invoke(main, ["runs", "--json", "--session", "sess-cli"])
    assert listed.exit_code == 0, listed.output
    runs = {r["agent_name"]: r for r in json.loads(listed.output)}
    assert sorted(runs) == ["research", "summarizer"]

    shown = CliRunner().invoke(main, ["show", runs["research"]["run_id"], "--json"])
    assert shown.exit_code == 0, shown.output
    parent = json.loads(shown.output)
    assert parent["inputs"] == {"topic": "tides"}
    assert parent["result"] == {"summary": "tides-doc"}
    assert parent["tags"] == {"suite": "cli"}
    assert [(s["name"], s["output"]) for s in parent["steps"]] == [
        ("searched", {"count": 1}),
        (
            "delegate:summarizer",
            {
                "_kind": "delegation",
                "child_run_id": runs["summarizer"]["run_id"],
                "child_agent": "summarizer",
            },
        ),
    ]
    assert [(s["kind"], s["name"], s["input"], s["output"]) for s in parent["spans"]] == [
        ("tool", "search", {"query": "tides"}, ["tides-doc"])
    ]
    assert [c["run_id"] for c in parent["children"]] == [runs["summarizer"]["run_id"]]

    shown = CliRunner().invoke(main, ["show", runs["summarizer"]["run_id"], "--json"])
    child = json.loads(shown.output)
    assert child["parent_run_id"] == parent["run_id"]
    assert child["session_id"] == "sess-cli"
    assert child["inputs"] == {"docs": ["tides-doc"]}
    assert child["result"] == {"output": "tides-doc"}
    assert [(s["name"], s["value"]) for s in child["scores"]] == [("coverage", 0.5)]

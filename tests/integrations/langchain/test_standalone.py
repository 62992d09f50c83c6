"""The handler used alone: one run of its own for every invoke it sees, until flushed."""

from __future__ import annotations

from typing import Any

import pytest

from waxell_observe import PolicyCheckResult, WaxellContext, get_current_context, hookimpl
from waxell_observe.errors import PolicyViolationError
from waxell_observe.integrations.langchain import WaxellLangChainHandler

from .chains import ANSWER, SYSTEM, chat_model, multiply, qa_chain


def test_invokes_accumulate_into_one_run_until_flush_sync(read_run: Any, read_runs: Any) -> None:
    handler = WaxellLangChainHandler(
        agent_name="support-bot", workflow_name="triage", session_id="sess_1", user_id="u-7", user_group="pro"
    )
    chain = qa_chain(chat_model("first answer", "second answer", tokens=(10, 4)))
    assert chain.invoke({"question": "one?"}, config={"callbacks": [handler]}) == "first answer"
    assert get_current_context() is None  # the handler's run never becomes the caller's
    run_id = handler.run_id
    assert len(run_id) == 32
    assert chain.invoke({"question": "two?"}, config={"callbacks": [handler]}) == "second answer"
    assert multiply.invoke({"a": 2, "b": 3}, config={"callbacks": [handler]}) == 6
    assert handler.run_id == run_id

    assert handler.flush_sync(result={"answered": 2}) == run_id
    assert handler.run_id == ""
    run = read_run(run_id)
    assert {
        k: run[k]
        for k in (
            "agent_name",
            "workflow_name",
            "session_id",
            "user_id",
            "user_group",
            "status",
            "result",
            "inputs",
            "metadata",
            "tokens_in",
            "tokens_out",
            "llm_call_count",
        )
    } == {
        "agent_name": "support-bot",
        "workflow_name": "triage",
        "session_id": "sess_1",
        "user_id": "u-7",
        "user_group": "pro",
        "status": "success",
        "result": {"answered": 2},
        "inputs": {"question": "one?"},
        "metadata": {"integration": "langchain"},
        "tokens_in": 20,
        "tokens_out": 8,
        "llm_call_count": 2,
    }
    assert [c["response_preview"] for c in run["llm_calls"]] == ["first answer", "second answer"]
    assert [s["name"] for s in run["spans"] if s["kind"] == "tool"] == ["multiply"]
    assert [s["input"] for s in run["spans"] if s["name"] == "user_message"] == ["one?", "two?"]

    # The next callback opens a new run.
    chain2 = qa_chain(chat_model())
    chain2.invoke({"question": "three?"}, config={"callbacks": [handler]})
    second = handler.flush_sync()
    assert second not in ("", run_id)
    assert read_run(second)["result"] == {}
    assert [r["run_id"] for r in read_runs(agent_name="support-bot")] == [second, run_id]
    assert handler.flush_sync() == ""  # nothing open


async def test_async_flush_and_astart(read_run: Any) -> None:
    handler = WaxellLangChainHandler(agent_name="async-bot")
    run_id = await handler.astart(inputs={"topic": "capitals"})
    assert get_current_context() is None
    await qa_chain(chat_model()).ainvoke({"question": "q"}, config={"callbacks": [handler]})
    assert handler.run_id == run_id
    assert await handler.flush(result="done") == run_id
    run = read_run(run_id)
    assert (run["status"], run["result"], run["inputs"], run["llm_call_count"]) == (
        "success",
        {"output": "done"},
        {"topic": "capitals"},
        1,
    )


def test_inside_a_run_the_handler_opens_no_run_of_its_own(read_runs: Any, read_run: Any) -> None:
    handler = WaxellLangChainHandler(agent_name="standalone-name")
    with WaxellContext(agent_name="outer", enforce_policy=False) as ctx:
        qa_chain(chat_model()).invoke({"question": "q"}, config={"callbacks": [handler]})
    assert handler.flush_sync() == ""
    assert read_runs(agent_name="standalone-name") == []
    assert read_run(ctx.run_id)["llm_call_count"] == 1


def test_a_blocked_run_raises_policy_violation_out_of_the_invoke(
    register_plugin: Any, read_runs: Any
) -> None:
    class KillSwitch:
        @hookimpl
        def on_policy_check(self, run: Any, phase: str, surface: str) -> PolicyCheckResult | None:
            if run.agent_name == "blocked-bot" and phase == "pre_execution":
                return PolicyCheckResult("block", reason="kill switch on")
            return None

    register_plugin(KillSwitch())
    handler = WaxellLangChainHandler(agent_name="blocked-bot")
    model = chat_model()

    with pytest.raises(PolicyViolationError, match="kill switch on"):
        qa_chain(model).invoke({"question": "q"}, config={"callbacks": [handler]})
    assert next(model.messages).content == ANSWER  # the model was never called
    assert handler.run_id == ""
    assert read_runs(agent_name="blocked-bot") == []


def test_recording_problems_never_reach_the_chain(read_run: Any, caplog: Any) -> None:
    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    class Exploding:
        @hookimpl
        def on_span(self, run: Any, span: Any) -> None:
            raise RuntimeError("sink down")

    from waxell_observe.plugins import plugin_manager

    exploding = Exploding()
    plugin_manager().register(exploding)
    try:
        handler = WaxellLangChainHandler(agent_name="robust")
        with WaxellContext(agent_name="robust", enforce_policy=False) as ctx:
            chain = qa_chain(chat_model())
            assert (
                chain.invoke({"question": "q", "extra": Unprintable()}, config={"callbacks": [handler]})
                == ANSWER
            )
    finally:
        plugin_manager().unregister(exploding)
    run = read_run(ctx.run_id)
    assert run["llm_call_count"] == 1
    sequence = next(s for s in run["spans"] if s["name"] == "RunnableSequence")
    assert sequence["input"]["extra"].startswith("<unrepresentable Unprintable")


def test_disabled_mode_records_nothing(monkeypatch: Any, read_runs: Any) -> None:
    monkeypatch.setenv("WAXELL_OBSERVE", "false")
    from waxell_observe.config import set_config

    set_config(None)
    handler = WaxellLangChainHandler(agent_name="off")
    assert qa_chain(chat_model()).invoke({"question": "q"}, config={"callbacks": [handler]}) == ANSWER
    assert handler.run_id == ""
    assert handler.flush_sync() == ""
    monkeypatch.delenv("WAXELL_OBSERVE")
    set_config(None)
    assert read_runs() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"agent_name": ""}, "agent_name must be a non-empty string"),
        ({"agent_name": None}, "agent_name must be a non-empty string"),
        ({"agent_name": "a", "session_id": 5}, "session_id must be a string"),
    ],
)
def test_bad_arguments_are_clear_value_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WaxellLangChainHandler(**kwargs)


def test_a_handler_left_open_is_completed_when_collected(read_run: Any) -> None:
    import gc

    handler = WaxellLangChainHandler(agent_name="forgotten")
    qa_chain(chat_model()).invoke({"question": "q"}, config={"callbacks": [handler]})
    run_id = handler.run_id
    del handler
    gc.collect()
    assert read_run(run_id)["status"] == "success"


def test_mid_execution_governance_can_stop_a_chain(register_plugin: Any, read_run: Any) -> None:
    class StopAfterFirstStep:
        @hookimpl
        def on_policy_check(self, run: Any, phase: str, surface: str) -> PolicyCheckResult | None:
            if phase == "mid_execution" and run.step_count >= 1:
                return PolicyCheckResult("block", reason="step budget exhausted")
            return None

    register_plugin(StopAfterFirstStep())
    handler = WaxellLangChainHandler(agent_name="unused")
    model = chat_model()
    with (
        pytest.raises(PolicyViolationError, match="step budget exhausted"),
        WaxellContext(agent_name="governed", enforce_policy=False, mid_execution_governance=True) as ctx,
    ):
        qa_chain(model).invoke({"question": "q"}, config={"callbacks": [handler]})
    run = read_run(ctx.run_id)
    assert run["status"] == "blocked"
    assert [(s["name"], s["output"]) for s in run["steps"]] == [
        (
            "ChatPromptTemplate",
            {"output": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "q"}]},
        ),
        ("RunnableSequence", {"error": "PolicyViolationError: Policy block: step budget exhausted"}),
    ]
    assert run["llm_call_count"] == 0  # stopped before the model was called
    assert next(model.messages).content == ANSWER

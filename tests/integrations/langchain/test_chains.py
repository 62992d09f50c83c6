"""WaxellLangChainHandler inside a run: LCEL chains with real fake models, tools, retrievers."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from langchain_core.agents import AgentAction
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.tracers.context import collect_runs

from waxell_observe import WaxellContext
from waxell_observe.integrations.langchain import WaxellLangChainHandler

from .chains import ANSWER, SYSTEM, CapitalsRetriever, chat_model, explode, flatten_runs, multiply, qa_chain

QUESTION = "What is the capital of France?"


def _run(chain: Any, value: Any, **context: Any) -> tuple[Any, str, dict[str, dict[str, Any]]]:
    handler = WaxellLangChainHandler(agent_name="unused-inside-a-run")
    with (
        WaxellContext(agent_name=context.pop("agent_name", "qa"), enforce_policy=False, **context) as ctx,
        collect_runs() as collector,
    ):
        result = chain.invoke(value, config={"callbacks": [handler]})
    assert handler.run_id == ""  # recorded onto the enclosing run, no run of its own
    return result, ctx.run_id, flatten_runs(collector.traced_runs)


def _by_name(records: list[dict[str, Any]], kind: str | None = None) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in records if kind is None or r["kind"] == kind}


def test_lcel_chain_records_the_llm_call_steps_and_tree(read_run: Any) -> None:
    result, run_id, tree = _run(qa_chain(chat_model()), {"question": QUESTION})
    assert result == ANSWER
    run = read_run(run_id)

    assert (run["tokens_in"], run["tokens_out"], run["llm_call_count"], run["step_count"]) == (12, 5, 1, 3)
    assert run["total_cost"] == 4.8e-06  # gpt-4o-mini: 12 x $0.15/M + 5 x $0.60/M

    [call] = run["llm_calls"]
    llm_run_id = UUID(call["attributes"]["langchain_run_id"]).hex
    sequence_id = next(i for i, r in tree.items() if r["name"] == "RunnableSequence")
    assert tree[llm_run_id] == {"name": "GenericFakeChatModel", "parent": sequence_id, "type": "llm"}
    assert {
        k: call[k]
        for k in (
            "model",
            "provider",
            "tokens_in",
            "tokens_out",
            "cost",
            "status",
            "prompt_preview",
            "response_preview",
            "parent_span_id",
        )
    } == {
        "model": "gpt-4o-mini",
        "provider": "openai",
        "tokens_in": 12,
        "tokens_out": 5,
        "cost": 4.8e-06,
        "status": "ok",
        "prompt_preview": f"system: {SYSTEM}\nuser: {QUESTION}",
        "response_preview": ANSWER,
        "parent_span_id": sequence_id,
    }
    assert call["attributes"]["request_model"] == "generic-fake-chat-model"
    assert call["attributes"]["finish_reason"] == "stop"
    assert call["attributes"]["framework"] == "langchain"
    assert "streamed" not in call["attributes"]
    assert call["duration_ms"] > 0

    assert [s["name"] for s in run["steps"]] == ["ChatPromptTemplate", "StrOutputParser", "RunnableSequence"]
    assert run["steps"][1]["output"] == {"output": ANSWER}
    assert run["steps"][0]["output"] == {
        "output": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    }

    chains = [s for s in run["spans"] if s["kind"] == "chain"]
    assert len(chains) == 3 == sum(1 for r in tree.values() if r["type"] in ("chain", "prompt", "parser"))
    for span in chains:  # our tree is LangChain's tree
        assert tree[span["id"]]["name"] == span["name"]
        assert tree[span["id"]]["parent"] == span["parent_span_id"]
        assert span["status"] == "ok"
    spans = _by_name(chains)
    assert spans["RunnableSequence"]["input"] == {"question": QUESTION}
    assert spans["RunnableSequence"]["output"] == ANSWER
    assert spans["ChatPromptTemplate"]["attributes"]["run_type"] == "prompt"
    assert spans["StrOutputParser"]["attributes"]["run_type"] == "parser"

    conversation = run["conversation"]
    assert (conversation["user_turns"], conversation["message_count"], conversation["tokens_in_context"]) == (
        1,
        2,
        12,
    )
    io = [(s["name"], s["input"], s["output"]) for s in run["spans"] if s["kind"] == "io"]
    assert io == [("user_message", QUESTION, None), ("agent_response", None, ANSWER)]


def test_fake_list_llm_and_chat_model_report_no_usage(read_run: Any) -> None:
    completion = (
        PromptTemplate.from_template("Q: {question}\nA:")
        | FakeListLLM(responses=["Rome."])
        | StrOutputParser()
    )
    chat = qa_chain(FakeListChatModel(responses=["Berlin."]))
    handler = WaxellLangChainHandler(agent_name="unused")
    with WaxellContext(agent_name="fakes", enforce_policy=False) as ctx:
        assert (
            completion.invoke({"question": "Capital of Italy?"}, config={"callbacks": [handler]}) == "Rome."
        )
        assert chat.invoke({"question": "Capital of Germany?"}, config={"callbacks": [handler]}) == "Berlin."
    run = read_run(ctx.run_id)
    first, second = run["llm_calls"]
    assert (first["model"], first["provider"], first["tokens_in"], first["tokens_out"], first["cost"]) == (
        "fake-list",
        "fakelist",
        0,
        0,
        0.0,
    )
    assert first["prompt_preview"] == "Q: Capital of Italy?\nA:"
    assert first["response_preview"] == "Rome."
    assert first["attributes"]["usage_reported"] is False
    assert (second["model"], second["provider"], second["tokens_in"]) == (
        "fake-list-chat-model",
        "fakelistchatmodel",
        0,
    )
    assert second["response_preview"] == "Berlin."
    assert run["conversation"]["user_turns"] == 1  # the completion LLM has no chat messages
    assert [s["name"] for s in run["steps"]] == [
        "PromptTemplate",
        "StrOutputParser",
        "RunnableSequence",
        "ChatPromptTemplate",
        "StrOutputParser",
        "RunnableSequence",
    ]


def test_tool_spans_have_the_record_tool_call_layout(read_run: Any) -> None:
    chain = RunnableLambda(lambda n: {"a": n, "b": 7}, name="make_args") | multiply
    result, run_id, tree = _run(chain, 6)
    assert result == 42
    run = read_run(run_id)
    [span] = [s for s in run["spans"] if s["kind"] == "tool"]
    assert tree[span["id"]] == {"name": "multiply", "parent": span["parent_span_id"], "type": "tool"}
    assert tree[span["parent_span_id"]]["name"] == "RunnableSequence"
    assert {k: span[k] for k in ("name", "status", "input", "output", "error")} == {
        "name": "multiply",
        "status": "ok",
        "input": {"a": 6, "b": 7},
        "output": 42,
        "error": "",
    }
    assert span["attributes"]["tool_type"] == "function"
    assert span["duration_ms"] >= 0


def test_a_failing_tool_is_an_error_span_and_the_error_reaches_the_caller(read_run: Any) -> None:
    handler = WaxellLangChainHandler(agent_name="unused")
    with (
        pytest.raises(ValueError, match="boom: no reason"),
        WaxellContext(agent_name="tools", enforce_policy=False) as ctx,
    ):
        explode.invoke({"reason": "no reason"}, config={"callbacks": [handler]})
    run = read_run(ctx.run_id)
    assert run["status"] == "error"
    [span] = [s for s in run["spans"] if s["kind"] == "tool"]
    assert (span["name"], span["status"], span["error"]) == (
        "explode",
        "error",
        "ValueError: boom: no reason",
    )
    assert span["attributes"]["error"] == "ValueError: boom: no reason"
    assert span["input"] == {"reason": "no reason"}


def test_retrieval_spans_carry_query_documents_and_scores(read_run: Any) -> None:
    retriever = CapitalsRetriever()
    prompt = ChatPromptTemplate.from_messages([("system", "Context: {context}"), ("human", "{question}")])
    chain = (
        {"context": retriever, "question": RunnablePassthrough()} | prompt | chat_model() | StrOutputParser()
    )
    result, run_id, tree = _run(chain, QUESTION)
    assert result == ANSWER
    run = read_run(run_id)
    [span] = [s for s in run["spans"] if s["kind"] == "retrieval"]
    assert tree[span["id"]]["type"] == "retriever"
    assert tree[span["id"]]["parent"] == span["parent_span_id"]
    assert tree[span["parent_span_id"]]["name"] == "RunnableParallel<context,question>"
    assert span["name"] == "CapitalsRetriever"
    assert span["input"] == {"query": QUESTION}
    assert span["output"] == {
        "documents": [
            {
                "id": "fr",
                "content": "Paris is the capital of France.",
                "metadata": {"score": 0.625, "lang": "fr"},
                "score": 0.625,
            },
            {
                "id": "de",
                "content": "Berlin is the capital of Germany.",
                "metadata": {"score": 0.5, "lang": "de"},
                "score": 0.5,
            },
        ]
    }
    assert {k: span["attributes"][k] for k in ("source", "document_count", "scores")} == {
        "source": "CapitalsRetriever",
        "document_count": 2,
        "scores": [0.625, 0.5],
    }
    [call] = run["llm_calls"]
    assert call["prompt_preview"].startswith("system: Context: [Document(")


def test_agent_actions_are_auto_decisions(read_run: Any) -> None:
    def agent(question: str, run_manager: Any) -> str:
        run_manager.on_agent_action(
            AgentAction(tool="multiply", tool_input={"a": 6, "b": 7}, log="I need to multiply 6 by 7.")
        )
        return str(multiply.invoke({"a": 6, "b": 7}, config={"callbacks": run_manager.get_child()}))

    result, run_id, tree = _run(RunnableLambda(agent, name="agent"), "6 x 7?")
    assert result == "42"
    run = read_run(run_id)
    [decision] = [s for s in run["spans"] if s["kind"] == "decision"]
    agent_span = next(s for s in run["spans"] if s["name"] == "agent")
    assert decision["parent_span_id"] == agent_span["id"]
    assert (decision["name"], decision["input"], decision["output"]) == (
        "agent_action",
        {"options": ["multiply"]},
        {"chosen": "multiply"},
    )
    assert decision["attributes"]["instrumentation_type"] == "auto"
    assert decision["attributes"]["reasoning"] == "I need to multiply 6 by 7."
    assert decision["attributes"]["metadata"]["tool_input"] == {"a": 6, "b": 7}
    [tool_span] = [s for s in run["spans"] if s["kind"] == "tool"]
    assert tool_span["parent_span_id"] == agent_span["id"]
    assert tree[tool_span["id"]]["parent"] == agent_span["id"]


def test_llm_errors_are_recorded_with_status_error(read_run: Any) -> None:
    class Overloaded(RuntimeError):
        pass

    class FailingChat(FakeListChatModel):
        def _call(self, *args: Any, **kwargs: Any) -> str:
            raise Overloaded("upstream overloaded")

    handler = WaxellLangChainHandler(agent_name="unused")
    with pytest.raises(Overloaded), WaxellContext(agent_name="errors", enforce_policy=False) as ctx:
        qa_chain(FailingChat(responses=["never"])).invoke(
            {"question": QUESTION}, config={"callbacks": [handler]}
        )
    run = read_run(ctx.run_id)
    [call] = run["llm_calls"]
    assert (call["status"], call["error_type"], call["error_message"], call["tokens_in"]) == (
        "error",
        "Overloaded",
        "upstream overloaded",
        0,
    )
    sequence = next(s for s in run["spans"] if s["name"] == "RunnableSequence")
    assert (sequence["status"], sequence["error"]) == ("error", "Overloaded: upstream overloaded")
    assert run["steps"][-1]["output"] == {"error": "Overloaded: upstream overloaded"}


def test_retries_are_recorded(read_run: Any) -> None:
    attempts = {"n": 0}

    def flaky(x: str) -> str:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise ConnectionError("reset by peer")
        return x.upper()

    chain = RunnableLambda(flaky).with_retry(stop_after_attempt=2, wait_exponential_jitter=False)
    result, run_id, tree = _run(chain, "ok")
    assert result == "OK"
    run = read_run(run_id)
    [retry] = [s for s in run["spans"] if s["kind"] == "retry"]
    assert {k: retry["attributes"][k] for k in ("attempt", "reason", "strategy", "original_error")} == {
        "attempt": 2,
        "reason": "ConnectionError: reset by peer",
        "strategy": "retry",
        "original_error": "ConnectionError: reset by peer",
    }
    [retrying] = [s for s in run["spans"] if s["kind"] == "chain" and s["parent_span_id"] == ""]
    assert retrying["name"] == "flaky"  # LangChain names the retrying runnable after the one it wraps
    assert retry["parent_span_id"] == retrying["id"]
    attempts_spans = [
        s for s in run["spans"] if s["kind"] == "chain" and s["parent_span_id"] == retrying["id"]
    ]
    assert [(s["status"], s["error"]) for s in attempts_spans] == [
        ("error", "ConnectionError: reset by peer"),
        ("ok", ""),
    ]
    assert [s["id"] for s in attempts_spans] == [i for i, r in tree.items() if r["parent"] == retrying["id"]]


def test_previews_are_cut_unless_content_capture_is_on(read_run: Any, configure: Any = None) -> None:
    from waxell_observe.client import WaxellObserveClient

    WaxellObserveClient.configure(preview_chars=20)
    long_question = "Tell me everything about " + "the capital of France " * 20
    _result, run_id, _tree = _run(qa_chain(chat_model()), {"question": long_question})
    run = read_run(run_id)
    [call] = run["llm_calls"]
    assert call["prompt_preview"] == f"system: {SYSTEM}"[:19] + "…"
    sequence = next(s for s in run["spans"] if s["name"] == "RunnableSequence")
    assert sequence["input"] == {"question": long_question[:19] + "…"}

    WaxellObserveClient.configure(capture_content=True)
    _result, run_id, _tree = _run(qa_chain(chat_model()), {"question": long_question})
    run = read_run(run_id)
    sequence = next(s for s in run["spans"] if s["name"] == "RunnableSequence")
    assert sequence["input"] == {"question": long_question}
    [call] = run["llm_calls"]
    assert call["attributes"]["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": long_question},
    ]

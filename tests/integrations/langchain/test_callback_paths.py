"""The handler's less travelled paths, pinned down: retriever failures and vector stores, tool
messages, a model's own retries, tools offered to a model, hidden runs, abandoned chain
stream ends, the init() handler beside an explicit one, disabled mode and failing callbacks."""

from __future__ import annotations

import logging
from typing import Any
from uuid import uuid4

import pytest
from langchain_core.agents import AgentAction
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.vectorstores import InMemoryVectorStore
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_none

from waxell_observe import WaxellContext
from waxell_observe.integrations.langchain import WaxellLangChainHandler
from waxell_observe.run import Run

from .chains import ANSWER, CapitalsRetriever, chat_model, multiply

OFFERED = [
    {"type": "function", "function": {"name": "multiply", "parameters": {}}},
    {"name": "lookup", "input_schema": {}},  # Anthropic's tool format
]


def _record(chain: Any, value: Any) -> tuple[Any, str]:
    result, run = _record_run(chain, value)
    return result, run.run_id


def _record_run(chain: Any, value: Any) -> tuple[Any, Run]:
    """Invoke ``chain`` with a handler inside a run; returns the result and the ``Run`` (it
    keeps the counters the store does not: tool calls, tool names, retries)."""
    handler = WaxellLangChainHandler(agent_name="unused")
    with WaxellContext(agent_name="paths", enforce_policy=False) as ctx:
        result = chain.invoke(value, config={"callbacks": [handler]})
    assert ctx.run is not None
    return result, ctx.run


def _child(run_manager: Any) -> RunnableConfig:
    return {"callbacks": run_manager.get_child()}


class BrokenRetriever(BaseRetriever):
    """A retriever whose backend is down."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        raise ConnectionError(f"index offline for {query!r}")


def test_a_failing_retriever_is_an_error_retrieval_span(read_run: Any) -> None:
    handler = WaxellLangChainHandler(agent_name="unused")
    with (
        pytest.raises(ConnectionError),
        WaxellContext(agent_name="retrieval-error", enforce_policy=False) as ctx,
    ):
        BrokenRetriever().invoke("capital?", config={"callbacks": [handler]})
    run = read_run(ctx.run_id)
    [span] = run["spans"]
    assert {k: span[k] for k in ("kind", "name", "status", "error", "input", "output")} == {
        "kind": "retrieval",
        "name": "BrokenRetriever",
        "status": "error",
        "error": "ConnectionError: index offline for 'capital?'",
        "input": {"query": "capital?"},
        "output": {"documents": []},
    }
    assert {k: span["attributes"][k] for k in ("source", "document_count", "framework")} == {
        "source": "BrokenRetriever",
        "document_count": 0,
        "framework": "langchain",
    }
    assert "scores" not in span["attributes"]


def test_a_vector_store_retriever_names_its_store(read_run: Any) -> None:
    store = InMemoryVectorStore(embedding=DeterministicFakeEmbedding(size=8))
    store.add_documents([Document(id="fr", page_content="Paris is the capital of France.")])
    result, run_id = _record(store.as_retriever(search_kwargs={"k": 1}), "capital of France?")
    assert [d.page_content for d in result] == ["Paris is the capital of France."]
    [span] = read_run(run_id)["spans"]
    assert span["output"] == {
        "documents": [{"id": "fr", "content": "Paris is the capital of France.", "metadata": {}}]
    }
    assert {k: span["attributes"].get(k) for k in ("vector_store", "document_count", "scores")} == {
        "vector_store": "InMemoryVectorStore",
        "document_count": 1,
        "scores": None,
    }


def test_a_tool_called_with_a_tool_call_records_the_messages_content(read_run: Any) -> None:
    call = {"type": "tool_call", "name": "multiply", "args": {"a": 6, "b": 7}, "id": "call_1"}
    message, counters = _record_run(multiply, call)
    assert (message.content, message.tool_call_id) == ("42", "call_1")
    run = read_run(counters.run_id)
    [span] = run["spans"]
    assert (span["kind"], span["input"], span["output"], span["status"]) == (
        "tool",
        {"a": 6, "b": 7},
        "42",
        "ok",
    )
    assert (counters.tool_call_count, counters.tool_names) == (1, ["multiply"])


class RetryingChat(FakeListChatModel):
    """Fails its first attempt and retries it the way LangChain's retry decorator does."""

    def _call(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> str:
        attempts = {"n": 0}

        def attempt() -> str:
            attempts["n"] += 1
            if attempts["n"] == 1:
                raise ConnectionError("reset by peer")
            return super(RetryingChat, self)._call(messages, stop, run_manager, **kwargs)

        retrying = Retrying(
            stop=stop_after_attempt(3),
            wait=wait_none(),
            retry=retry_if_exception_type(ConnectionError),
            before_sleep=run_manager.on_retry if run_manager else None,
            reraise=True,
        )
        return retrying(attempt)


def test_a_models_own_retries_are_retry_spans(read_run: Any) -> None:
    result, counters = _record_run(RetryingChat(responses=[ANSWER]), "go")
    assert result.content == ANSWER
    run = read_run(counters.run_id)
    [retry] = [s for s in run["spans"] if s["kind"] != "io"]  # io: the conversation's turns
    [call] = run["llm_calls"]
    assert (retry["kind"], retry["name"], retry["parent_span_id"]) == (
        "retry",
        "retry",
        call["attributes"]["langchain_run_id"].replace("-", ""),
    )
    assert retry["attributes"] == {
        "attempt": 1,
        "reason": "ConnectionError: reset by peer",
        "strategy": "retry",
        "original_error": "ConnectionError: reset by peer",
        "fallback_to": "",
        "max_attempts": None,
        "langchain_run_id": call["attributes"]["langchain_run_id"],
    }
    assert counters.retry_count == 1


def test_tools_offered_to_the_model_are_the_decisions_options(read_run: Any) -> None:
    def agent(question: str, run_manager: Any) -> str:
        model = chat_model().bind(tools=OFFERED)
        model.invoke(question, config={"callbacks": run_manager.get_child()})
        run_manager.on_agent_action(AgentAction(tool="search", tool_input="capitals", log="Look it up."))
        return "done"

    _result, run_id = _record(RunnableLambda(agent, name="agent"), "capital?")
    run = read_run(run_id)
    [decision] = [s for s in run["spans"] if s["kind"] == "decision"]
    assert (decision["input"], decision["output"]) == (
        {"options": ["multiply", "lookup", "search"]},
        {"chosen": "search"},
    )
    assert decision["attributes"]["metadata"]["tool_input"] == "capitals"


def test_a_hidden_run_records_nothing_and_its_children_climb_to_its_parent(read_run: Any) -> None:
    inner = RunnableLambda(lambda x: multiply.invoke({"a": x, "b": 2}), name="inner")
    hidden = inner.with_config(tags=["langsmith:hidden"])
    chain: Any = RunnableLambda(lambda x: x + 1, name="first") | hidden
    result, run_id = _record(chain, 20)
    assert result == 42
    run = read_run(run_id)
    spans = {s["name"]: s for s in run["spans"]}
    assert sorted(spans) == ["RunnableSequence", "first", "multiply"]
    assert spans["multiply"]["parent_span_id"] == spans["RunnableSequence"]["id"]
    assert [s["name"] for s in run["steps"]] == ["first", "RunnableSequence"]


def test_a_chain_ended_by_generator_exit_is_a_partial_span(read_run: Any) -> None:
    # What LangChain reports when an async chain stream is closed early (``aclose()``).
    handler = WaxellLangChainHandler(agent_name="unused")
    run_id = uuid4()
    with WaxellContext(agent_name="abandon-chain", enforce_policy=False) as ctx:
        handler.on_chain_start({"name": "numbers"}, None, run_id=run_id, tags=["seq:step:1"])
        handler.on_chain_error(GeneratorExit(), run_id=run_id)
    run = read_run(ctx.run_id)
    [span] = run["spans"]
    assert (span["name"], span["status"], span["error"], span["output"], span["attributes"]) == (
        "numbers",
        "ok",
        "",
        None,
        {"framework": "langchain", "langchain_run_id": str(run_id), "tags": ["seq:step:1"], "partial": True},
    )
    assert [(s["name"], s["output"]) for s in run["steps"]] == [("numbers", {"partial": True})]


def test_init_beside_an_explicit_handler_records_tools_retrievals_and_decisions_once(
    auto_langchain: Any, read_run: Any
) -> None:
    def agent(question: str, run_manager: Any) -> str:
        run_manager.on_agent_action(AgentAction(tool="multiply", tool_input={"a": 6, "b": 7}, log=""))
        child = _child(run_manager)
        docs = CapitalsRetriever().invoke(question, config=child)
        return f"{multiply.invoke({'a': 6, 'b': 7}, config=child)} {len(docs)}"

    result, counters = _record_run(RunnableLambda(agent, name="agent"), "capital of France?")
    assert result == "42 2"
    run = read_run(counters.run_id)
    assert sorted((s["kind"], s["name"]) for s in run["spans"]) == [
        ("chain", "agent"),
        ("decision", "agent_action"),
        ("retrieval", "CapitalsRetriever"),
        ("tool", "multiply"),
    ]
    assert (counters.tool_call_count, run["step_count"]) == (1, 1)


def test_the_init_handler_outside_a_run_records_no_tools_or_retrievals(
    auto_langchain: Any, read_runs: Any
) -> None:
    assert multiply.invoke({"a": 6, "b": 7}) == 42
    assert len(CapitalsRetriever().invoke("capital of France?")) == 2
    double: Any = RunnableLambda(lambda x: x * 2, name="double")
    assert double.invoke(21) == 42
    assert read_runs() == []


def test_disabled_mode_records_no_tools_retrievals_or_decisions(monkeypatch: Any, read_runs: Any) -> None:
    from waxell_observe.config import set_config

    monkeypatch.setenv("WAXELL_OBSERVE", "false")
    set_config(None)

    def agent(question: str, run_manager: Any) -> str:
        run_manager.on_agent_action(AgentAction(tool="multiply", tool_input={"a": 6, "b": 7}, log=""))
        child = _child(run_manager)
        CapitalsRetriever().invoke(question, config=child)
        return str(multiply.invoke({"a": 6, "b": 7}, config=child))

    handler = WaxellLangChainHandler(agent_name="off")
    assert RunnableLambda(agent).invoke("q", config={"callbacks": [handler]}) == "42"
    assert RetryingChat(responses=["ok"]).invoke("go", config={"callbacks": [handler]}).content == "ok"
    assert handler.run_id == ""
    monkeypatch.delenv("WAXELL_OBSERVE")
    set_config(None)
    assert read_runs() == []


_CALLBACKS: list[tuple[str, tuple[Any, ...]]] = [
    ("on_chain_start", ({}, {"x": 1})),
    ("on_chain_end", ({"x": 1},)),
    ("on_chain_error", (ValueError("x"),)),
    ("on_chat_model_start", ({}, [[HumanMessage("hi")]])),
    ("on_llm_start", ({}, ["hi"])),
    ("on_llm_end", (None,)),
    ("on_llm_error", (ValueError("x"),)),
    ("on_tool_start", ({}, "input")),
    ("on_tool_end", ("output",)),
    ("on_tool_error", (ValueError("x"),)),
    ("on_retriever_start", ({}, "query")),
    ("on_retriever_end", ([],)),
    ("on_retriever_error", (ValueError("x"),)),
    ("on_agent_action", (AgentAction(tool="t", tool_input="", log=""),)),
    ("on_retry", (None,)),
]


@pytest.mark.parametrize(("callback", "args"), _CALLBACKS, ids=[name for name, _ in _CALLBACKS])
def test_a_callback_that_fails_logs_the_failure_and_returns(
    callback: str, args: tuple[Any, ...], caplog: Any, read_run: Any
) -> None:
    handler = WaxellLangChainHandler(agent_name="unused")
    unhashable_run_id: Any = [uuid4()]  # breaks every callback's bookkeeping...
    with (
        caplog.at_level(logging.ERROR, logger="waxell_observe"),
        WaxellContext(agent_name="failing-callback", enforce_policy=False) as ctx,
    ):
        # ...once the handler tracks a run: popping a key from an EMPTY dict never hashes it, so
        # without this the test passed or failed with what earlier tests left in module state.
        handler.on_chain_start({}, {}, run_id=uuid4())
        assert getattr(handler, callback)(*args, run_id=unhashable_run_id) is None
    assert [r.getMessage() for r in caplog.records] == [f"waxell-observe: LangChain {callback} failed"]
    assert read_run(ctx.run_id)["spans"] == []

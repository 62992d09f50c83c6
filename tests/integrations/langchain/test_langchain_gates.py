"""LangChain and the surface gates: a refused model is never called (``llm.before`` in the model start
raises, LangChain re-raises it, also for a model whose provider no integration sees, and in a LangGraph node),
a refused tool never runs (``tool.before`` in the tool start), and retrieved documents pass
``retrieval.after``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from waxell_observe_langchain import WaxellLangChainHandler

import waxell_observe
from integrations.langchain.chains import CapitalsRetriever
from integrations.llm_stub import ChatReply, StubLLMServer
from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.plugins import plugin_manager
from waxell_observe.store import get_store
from waxell_observe.store.aggregates import list_audit

ran: list[str] = []


@tool
def drop_table(name: str) -> str:
    """Drop a database table."""
    ran.append(name)
    return "dropped"


@pytest.fixture(autouse=True)
def _fresh_gates() -> Iterator[None]:
    forget()
    ran.clear()
    yield
    forget()


def add(text: str) -> None:
    add_policies(get_store(get_config().db_url), load_policies(text))


def test_a_refused_tool_does_not_run(read_run: Any) -> None:
    add("policies:\n  - {name: no-drop, category: tool-allowlist, rules: {blocked_tools: [drop_table]}}\n")
    handler = WaxellLangChainHandler(agent_name="unused")
    with (
        pytest.raises(PolicyViolationError, match="drop_table"),
        WaxellContext(agent_name="gate-langchain") as ctx,
    ):
        drop_table.invoke({"name": "users"}, config={"callbacks": [handler]})
    assert ran == []
    run = read_run(ctx.run_id)
    [tool_span] = [s for s in run["spans"] if s["kind"] == "tool"]
    assert (tool_span["name"], tool_span["status"]) == ("drop_table", "error")
    policy = [
        (s["name"], s["attributes"]["metadata"]["surface"]) for s in run["spans"] if s["kind"] == "policy"
    ]
    assert policy == [("no-drop", "tool.before")]
    assert run["status"] == "blocked"


def test_retrieved_documents_pass_the_retrieval_gate(read_run: Any) -> None:
    add("policies:\n  - {name: enough, category: retrieval, rules: {min_chunks: 3}}\n")
    handler = WaxellLangChainHandler(agent_name="unused")
    with WaxellContext(agent_name="gate-langchain-rag") as ctx:
        documents = CapitalsRetriever().invoke("capital of France?", config={"callbacks": [handler]})
        feedback = ctx.take_feedback()
    assert len(documents) == 2
    assert [(f["surface"], f["policy"], f["category"]) for f in feedback] == [
        ("retrieval.after", "enough", "retrieval")
    ]
    policy = [s["attributes"]["action"] for s in read_run(ctx.run_id)["spans"] if s["kind"] == "policy"]
    assert policy == ["warn"]


# -- llm.before: the handler gates the model call itself -----------------------------------------------

MODELS = "policies:\n  - {name: models, category: llm, rules: {blocked_models: [house-model-v1]}}\n"
asked: list[str] = []


class HouseChat(FakeListChatModel):
    """A chat model no provider integration sees (it calls no SDK), named ``house-model-v1``."""

    model_name: str = "house-model-v1"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, **super()._identifying_params}

    def _call(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> str:
        asked.append(str(messages[-1].content))
        return super()._call(messages, stop, run_manager, **kwargs)


def _policy_spans(run: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (s["attributes"]["metadata"]["surface"], s["name"], s["attributes"]["action"])
        for s in run["spans"]
        if s["kind"] == "policy"
    ]


@pytest.mark.parametrize("how", ["invoke", "ainvoke", "stream"])
def test_a_refused_model_of_no_instrumented_provider_is_never_called(how: str, read_run: Any) -> None:
    add(MODELS)
    asked.clear()
    model = HouseChat(responses=["hello"])
    handler = WaxellLangChainHandler(agent_name="unused")
    config: Any = {"callbacks": [handler]}
    with (
        pytest.raises(PolicyViolationError, match="house-model-v1") as refused,
        WaxellContext(agent_name="gate-langchain-llm") as ctx,
    ):
        if how == "invoke":
            model.invoke("hi there", config=config)
        elif how == "ainvoke":
            asyncio.run(model.ainvoke("hi there", config=config))
        else:
            list(model.stream("hi there", config=config))
    assert asked == []  # the model was never asked
    assert refused.value.run_id == ctx.run_id
    run = read_run(ctx.run_id)
    assert run["llm_calls"] == []
    assert _policy_spans(run) == [("llm.before", "models", "block")]
    assert run["status"] == "blocked"


def test_an_allowed_model_is_called_and_recorded(read_run: Any) -> None:
    add(MODELS)
    asked.clear()
    handler = WaxellLangChainHandler(agent_name="unused")
    with WaxellContext(agent_name="gate-langchain-llm-ok") as ctx:
        reply = HouseChat(responses=["hello"], model_name="house-model-v2").invoke(
            "hi there", config={"callbacks": [handler]}
        )
    assert (reply.content, asked) == ("hello", ["hi there"])
    run = read_run(ctx.run_id)
    assert [c["model"] for c in run["llm_calls"]] == ["house-model-v2"]
    assert (_policy_spans(run), run["status"]) == ([], "success")


def test_a_refused_model_in_a_langgraph_node_stops_the_graph(read_run: Any) -> None:
    from langgraph.graph import END, START, MessagesState, StateGraph

    add(MODELS)
    asked.clear()
    model = HouseChat(responses=["hello"])

    def answer(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", END)
    graph = builder.compile()
    _reset_for_tests()
    init(instrument=["langgraph"])
    try:
        with (
            pytest.raises(PolicyViolationError, match="house-model-v1"),
            WaxellContext(agent_name="gate-langgraph-llm") as ctx,
        ):
            graph.invoke({"messages": [("user", "hi there")]})
    finally:
        plugin_manager().hook.on_uninstrument(libraries=frozenset({"langgraph", "langchain"}))
        _reset_for_tests()
    assert asked == []
    run = read_run(ctx.run_id)
    assert (run["llm_calls"], _policy_spans(run)) == ([], [("llm.before", "models", "block")])
    assert run["status"] == "blocked"


# -- one answer per call: ChatOpenAI through the instrumented openai SDK -----------------------------------

SIZE_WARN = (
    "policies:\n  - {name: size, category: llm,"
    " rules: {max_tokens_per_call: 100, action_on_token_violation: warn}}\n"
)
"""Warns at ``llm.before`` for a request asking up to 500 tokens back (not at ``llm.after``: 14 were used)."""


@pytest.fixture
def openai_too() -> Iterator[None]:
    """The openai SDK instrumented too: its wrapper sees the request ChatOpenAI makes."""
    _reset_for_tests()
    init(instrument=["openai"])
    yield
    plugin_manager().hook.on_uninstrument(libraries=frozenset({"openai"}))
    _reset_for_tests()


@pytest.fixture
def stub() -> Iterator[StubLLMServer]:
    with StubLLMServer() as server:
        yield server


def _chat_openai(stub: StubLLMServer, model: str = "gpt-4o-mini") -> ChatOpenAI:
    return ChatOpenAI(
        model=model, base_url=stub.openai_base_url, api_key="sk-test", max_retries=0, max_tokens=500
    )


def test_a_refused_chat_openai_call_never_reaches_the_server(
    openai_too: None, stub: StubLLMServer, read_run: Any
) -> None:
    add("policies:\n  - {name: models, category: llm, rules: {blocked_models: [o1-preview]}}\n")
    handler = WaxellLangChainHandler(agent_name="unused")
    with (
        pytest.raises(PolicyViolationError, match="o1-preview"),
        WaxellContext(agent_name="gate-chat-openai") as ctx,
    ):
        _chat_openai(stub, "o1-preview").invoke("hi there", config={"callbacks": [handler]})
    assert stub.requests == []
    run = read_run(ctx.run_id)
    assert (run["llm_calls"], _policy_spans(run)) == ([], [("llm.before", "models", "block")])


def test_a_warning_on_a_chat_openai_call_is_given_once(
    openai_too: None, stub: StubLLMServer, read_run: Any
) -> None:
    """LangChain's handler and the openai SDK's wrapper both see the request: the policy is asked once."""
    add(SIZE_WARN)
    stub.answer_chat(ChatReply(content="Noted.", prompt_tokens=12, completion_tokens=2))
    handler = WaxellLangChainHandler(agent_name="unused")
    with WaxellContext(agent_name="gate-chat-openai-warn") as ctx:
        reply = _chat_openai(stub).invoke("mail jane@example.com", config={"callbacks": [handler]})
        feedback = ctx.take_feedback()
    assert reply.content == "Noted."
    assert len(stub.requests) == 1
    assert [(f["surface"], f["policy"]) for f in feedback] == [("llm.before", "size")]
    run = read_run(ctx.run_id)
    assert _policy_spans(run) == [("llm.before", "size", "warn")]
    assert [(c["model"], c["tokens_in"]) for c in run["llm_calls"]] == [("gpt-4o-mini-2024-07-18", 12)]


def test_a_warning_outside_any_run_is_one_audit_row(openai_too: None, stub: StubLLMServer) -> None:
    add(SIZE_WARN)
    stub.answer_chat(ChatReply(content="Noted.", prompt_tokens=12, completion_tokens=2))
    _reset_for_tests()
    init(agent_name="mailer", instrument=["openai", "langchain"])  # the init() handler, no run open
    _chat_openai(stub).invoke("mail jane@example.com")
    waxell_observe.flush_sync(timeout=30)
    with get_store(get_config().db_url).read() as conn:
        events, _ = list_audit(conn, limit=100)
    assert [
        (e["agent_name"], e["policy_name"], e["action"], e["metadata"]["surface"])
        for e in events
        if e["policy_name"] == "size"
    ] == [("mailer", "size", "warn", "llm.before")]
    assert len(stub.requests) == 1


class RouterChat(HouseChat):
    """A LangChain "model" that answers by asking another model through the (instrumented) openai SDK."""

    routed_to: str = "o1-preview"
    base_url: str = ""

    def _call(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> str:
        client = openai.OpenAI(base_url=self.base_url, api_key="sk-test", max_retries=0)
        reply = client.chat.completions.create(
            model=self.routed_to, messages=[{"role": "user", "content": str(messages[-1].content)}]
        )
        return reply.choices[0].message.content or ""


def test_a_model_routing_to_another_model_does_not_pass_it_through(
    openai_too: None, stub: StubLLMServer, read_run: Any
) -> None:
    """LangChain's gate asked about house-model-v1; the request underneath, for o1-preview, is asked too."""
    add("policies:\n  - {name: models, category: llm, rules: {blocked_models: [o1-preview]}}\n")
    handler = WaxellLangChainHandler(agent_name="unused")
    router = RouterChat(responses=["unused"], base_url=stub.openai_base_url)
    with (
        pytest.raises(PolicyViolationError, match="o1-preview"),
        WaxellContext(agent_name="gate-langchain-router") as ctx,
    ):
        router.invoke("hi there", config={"callbacks": [handler]})
    assert stub.requests == []
    assert _policy_spans(read_run(ctx.run_id)) == [("llm.before", "models", "block")]


def test_a_refusal_in_a_batch_leaves_no_hold_behind() -> None:
    """``generate`` starts each prompt's run before calling the model: a refused second prompt ends the
    batch, and the first prompt's hold ends with it (a later request for its model is asked again)."""
    from langchain_core.messages import HumanMessage

    from waxell_observe.instrumentation.gate_once import held

    add(
        "policies:\n  - {name: no-secrets, category: content, rules: {pii_detection: false,"
        " credential_detection: {enabled: true, action: block}, prompt_injection_guard: false}}\n"
    )
    asked.clear()
    handler = WaxellLangChainHandler(agent_name="unused")
    with (
        WaxellContext(agent_name="gate-langchain-batch"),
        pytest.raises(PolicyViolationError, match="Credential"),
    ):
        HouseChat(responses=["a", "b"]).generate(
            [[HumanMessage("hello")], [HumanMessage("use sk-proj-4f9aB7cD2eF8gH1iJ6kL3mN0")]],
            callbacks=[handler],
        )
    assert asked == []
    assert not held("llm.before", "house-model-v1")


def test_a_call_made_while_a_call_of_the_same_model_streams_is_asked() -> None:
    """A held answer belongs to the request under its own call: another call of the model is asked."""
    add(
        "policies:\n  - {name: no-secrets, category: content, rules: {pii_detection: false,"
        " credential_detection: {enabled: true, action: block}, prompt_injection_guard: false}}\n"
    )
    asked.clear()
    handler = WaxellLangChainHandler(agent_name="unused")
    model = HouseChat(responses=["hello there", "unused"])
    with WaxellContext(agent_name="gate-langchain-interleaved"):
        stream = model.stream("hi", config={"callbacks": [handler]})
        assert next(stream).content == "h"  # started: its answer is held while it streams
        with pytest.raises(PolicyViolationError, match="Credential"):
            model.invoke("use sk-proj-4f9aB7cD2eF8gH1iJ6kL3mN0", config={"callbacks": [handler]})
        assert "".join(str(c.content) for c in stream) == "ello there"
    assert asked == []

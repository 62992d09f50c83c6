"""LangGraph (the real package; ChatOpenAI pointed at the stub LLM server): nodes are steps,
subgraphs are child runs, and the model call under a node is recorded once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypedDict

import pytest
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph

from integrations.llm_stub import ChatReply, StubLLMServer
from waxell_observe import WaxellContext
from waxell_observe.config import ObserveConfig
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.plugins import plugin_manager

LIBRARIES = frozenset({"langgraph", "langchain", "openai"})


class State(TypedDict, total=False):
    question: str
    notes: str
    answer: str


@pytest.fixture
def instrumented_graphs() -> Iterator[ObserveConfig]:
    """LangGraph, LangChain and the OpenAI SDK all instrumented (so a double count would show)."""
    _reset_for_tests()
    config = init(instrument=sorted(LIBRARIES))
    yield config
    plugin_manager().hook.on_uninstrument(libraries=LIBRARIES)
    _reset_for_tests()


@pytest.fixture
def stub() -> Iterator[StubLLMServer]:
    with StubLLMServer() as server:
        server.answer_chat(ChatReply(prompt_tokens=23, completion_tokens=7))
        yield server


def _app(stub: StubLLMServer) -> Any:
    model = ChatOpenAI(model="gpt-4o-mini", base_url=stub.openai_base_url, api_key="sk-test", max_retries=0)

    def research(state: State) -> State:
        return {"notes": "notes on " + state["question"]}

    researcher = StateGraph(State)
    researcher.add_node("research", research)
    researcher.add_edge(START, "research")
    researcher.add_edge("research", END)

    def answer(state: State) -> State:
        return {"answer": str(model.invoke(state["question"]).content)}

    graph = StateGraph(State)
    graph.add_node("gather", researcher.compile(name="researcher"))
    graph.add_node("answer", answer)
    graph.add_edge(START, "gather")
    graph.add_edge("gather", "answer")
    graph.add_edge("answer", END)
    return graph.compile(name="qa-graph")


def _steps(run: dict[str, Any]) -> list[str]:
    return [step["name"] for step in run["steps"]]


def test_nodes_are_steps_and_a_subgraph_is_a_child_run(
    instrumented_graphs: Any, stub: StubLLMServer, read_run: Any
) -> None:
    app = _app(stub)
    with WaxellContext(agent_name="qa", enforce_policy=False) as ctx:
        out = app.invoke({"question": "What is the capital of France?"})
    assert out["answer"] == "Paris is the capital of France."

    run = read_run(ctx.run_id)
    # the child run's delegation step (the SDK's mark of a child run), then the nodes as they ended
    assert _steps(run) == ["delegate:researcher", "gather", "answer", "qa-graph"]
    nodes = {s["name"]: s for s in run["spans"] if "langgraph.node" in s["attributes"]}
    assert (
        nodes["gather"]["attributes"]["langgraph.step"],
        nodes["answer"]["attributes"]["langgraph.step"],
    ) == (
        1,
        2,
    )
    # the model call: once (LangChain records it; the OpenAI integration sees the same request)
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == ("gpt-4o-mini-2024-07-18", 23, 7)
    assert call["parent_span_id"] == nodes["answer"]["id"]
    assert (run["llm_call_count"], run["tokens_in"], run["tokens_out"]) == (1, 23, 7)
    assert len(stub.requests) == 1

    # the subgraph ran as a child run, its node a step of its own
    [child_summary] = run["children"]
    child = read_run(child_summary["run_id"])
    assert (child["agent_name"], child["workflow_name"], child["parent_run_id"]) == (
        "researcher",
        "langgraph",
        ctx.run_id,
    )
    assert child["metadata"]["langgraph.parent_node"] == "gather"
    assert _steps(child) == ["research"]
    [graph_span] = [s for s in child["spans"] if s["name"] == "researcher"]
    assert graph_span["parent_span_id"] == nodes["gather"]["id"]  # the subgraph hangs off its node
    assert child["result"] == {
        "question": "What is the capital of France?",
        "notes": "notes on What is the capital of France?",
    }
    assert child["llm_calls"] == []


def test_a_graph_outside_any_run_opens_its_own(
    instrumented_graphs: Any, stub: StubLLMServer, read_runs: Any, read_run: Any
) -> None:
    app = _app(stub)
    app.invoke({"question": "capital?"})
    [root] = [r for r in read_runs() if r["parent_run_id"] == ""]
    run = read_run(root["run_id"])
    assert (run["agent_name"], run["workflow_name"], run["status"]) == ("qa-graph", "langgraph", "success")
    assert run["inputs"] == {"question": "capital?"}
    assert run["result"]["answer"] == "Paris is the capital of France."
    assert (run["llm_call_count"], run["tokens_in"]) == (1, 23)
    assert [c["agent_name"] for c in run["children"]] == ["researcher"]


async def test_streaming_a_graph_asynchronously(
    instrumented_graphs: Any, stub: StubLLMServer, read_run: Any
) -> None:
    app = _app(stub)
    async with WaxellContext(agent_name="qa-stream", enforce_policy=False) as ctx:
        updates = [chunk async for chunk in app.astream({"question": "capital?"}, stream_mode="updates")]
    assert [next(iter(u)) for u in updates] == ["gather", "answer"]
    run = read_run(ctx.run_id)
    assert _steps(run) == ["delegate:researcher", "gather", "answer", "qa-graph"]
    assert [c["agent_name"] for c in run["children"]] == ["researcher"]
    assert run["llm_call_count"] == 1


def test_a_failing_node_fails_its_step_and_the_run(instrumented_graphs: Any, read_run: Any) -> None:
    def broken(state: State) -> State:
        raise RuntimeError("node failed")

    graph = StateGraph(State)
    graph.add_node("broken", broken)
    graph.add_edge(START, "broken")
    graph.add_edge("broken", END)
    app = graph.compile(name="broken-graph")
    with (
        pytest.raises(RuntimeError, match="node failed"),
        WaxellContext(agent_name="qa-error", enforce_policy=False) as ctx,
    ):
        app.invoke({"question": "x"})
    run = read_run(ctx.run_id)
    [node] = [s for s in run["spans"] if s["name"] == "broken"]
    assert (node["status"], node["error"]) == ("error", "RuntimeError: node failed")
    assert run["status"] == "error"

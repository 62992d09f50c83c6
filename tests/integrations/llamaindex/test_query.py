"""A VectorStoreIndex query with MockLLM and MockEmbedding: records and tree vs what LlamaIndex reports."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.llms import ChatMessage, MockLLM
from waxell_observe_llamaindex.tracker import record_id, span_name

from waxell_observe import WaxellContext
from waxell_observe.serialize import preview

from .conftest import DOCUMENTS

QUERY = "What is the capital of France?"


def _recorded_parent(llama_id: str, parents: dict[str, str | None], recorded: set[str]) -> str:
    """Our expected parent: the nearest ancestor LlamaIndex reports that we record."""
    current = parents.get(llama_id)
    while current is not None:
        if record_id(current) in recorded:
            return record_id(current)
        current = parents.get(current)
    return ""


def test_query_records_retrieval_synthesis_llm_and_embedding(
    index: Any, attached: None, framework_log: Any, read_run: Any
) -> None:
    spans_log, events_log = framework_log
    engine = index.as_query_engine(llm=MockLLM(max_tokens=5), similarity_top_k=2)
    with WaxellContext(agent_name="rag", enforce_policy=False) as ctx:
        response = engine.query(QUERY)
    assert str(response) == "text text text text text"
    run = read_run(ctx.run_id)

    spans = {s["name"]: s for s in run["spans"]}
    assert sorted(spans) == [
        "CompactAndRefine.synthesize",
        "RetrieverQueryEngine.query",
        "VectorIndexRetriever",
    ]
    query, retrieval, synthesis = (
        spans["RetrieverQueryEngine.query"],
        spans["VectorIndexRetriever"],
        spans["CompactAndRefine.synthesize"],
    )
    assert (query["kind"], query["input"], query["output"], query["parent_span_id"]) == (
        "chain",
        QUERY,
        "text text text text text",
        "",
    )
    assert (synthesis["kind"], synthesis["parent_span_id"], synthesis["attributes"]["operation"]) == (
        "chain",
        query["id"],
        "synthesize",
    )

    # Retrieval: exactly the nodes and scores LlamaIndex returned.
    sources = response.source_nodes
    assert retrieval["kind"] == "retrieval"
    assert retrieval["input"] == {"query": QUERY}
    assert [d["id"] for d in retrieval["output"]["documents"]] == [n.node.node_id for n in sources]
    assert [d["score"] for d in retrieval["output"]["documents"]] == [n.score for n in sources]
    assert [d["content"] for d in retrieval["output"]["documents"]] == [n.node.get_content() for n in sources]
    assert {k: retrieval["attributes"][k] for k in ("source", "document_count", "top_k", "scores")} == {
        "source": "VectorIndexRetriever",
        "document_count": 2,
        "top_k": 2,
        "scores": [n.score for n in sources],
    }

    # Model calls: the query embedding and the completion, as LlamaIndex reported them.
    embedding, completion = run["llm_calls"]
    [prompt_event] = [e for e in events_log.events if e.class_name() == "LLMCompletionStartEvent"]
    assert (completion["model"], completion["tokens_in"], completion["tokens_out"], completion["cost"]) == (
        "MockLLM",
        0,
        0,
        0.0,
    )
    assert completion["prompt_preview"] == preview(prompt_event.prompt, 500)  # preview_chars
    assert QUERY in prompt_event.prompt
    assert all(n.node.get_content() in prompt_event.prompt for n in response.source_nodes)
    assert completion["response_preview"] == "text text text text text"
    assert completion["attributes"]["usage_reported"] is False
    assert completion["parent_span_id"] == synthesis["id"]
    assert (embedding["model"], embedding["task"], embedding["prompt_preview"]) == (
        "MockEmbedding",
        "embedding",
        QUERY,
    )
    assert (embedding["attributes"]["dimensions"], embedding["attributes"]["inputs"]) == (8, 1)
    assert embedding["parent_span_id"] == retrieval["id"]

    # The tree is LlamaIndex's tree, reduced to what we record.
    parents = {s.id_: s.parent_id for s in spans_log.completed_spans}
    recorded = {s["id"] for s in run["spans"]}
    for span in run["spans"]:
        llama_id = span["attributes"]["llamaindex_span_id"]
        assert record_id(llama_id) == span["id"]
        assert span_name(llama_id).startswith(span["name"])
        assert span["parent_span_id"] == _recorded_parent(llama_id, parents, recorded)
    for call in run["llm_calls"]:
        llama_id = call["attributes"]["llamaindex_span_id"]
        expected = (
            record_id(parents[llama_id])
            if record_id(parents[llama_id]) in recorded
            else _recorded_parent(llama_id, parents, recorded)
        )
        assert call["parent_span_id"] == expected


async def test_async_query_records_the_same_tree(index: Any, attached: None, read_run: Any) -> None:
    engine = index.as_query_engine(llm=MockLLM(max_tokens=3), similarity_top_k=1)
    async with WaxellContext(agent_name="async-rag", enforce_policy=False) as ctx:
        response = await engine.aquery(QUERY)
    run = read_run(ctx.run_id)
    kinds = sorted((s["kind"], s["name"]) for s in run["spans"])
    assert kinds == [
        ("chain", "CompactAndRefine.asynthesize"),
        ("chain", "RetrieverQueryEngine.aquery"),
        ("retrieval", "VectorIndexRetriever"),
    ]
    query = next(s for s in run["spans"] if s["name"] == "RetrieverQueryEngine.aquery")
    assert all(s["parent_span_id"] == query["id"] for s in run["spans"] if s is not query)
    assert [c["model"] for c in run["llm_calls"]] == ["MockEmbedding", "MockLLM"]
    assert run["llm_calls"][1]["response_preview"] == str(response) == "text text text"


def test_a_streamed_answer_is_recorded_when_consumed(
    index: Any, attached: None, framework_log: Any, read_run: Any
) -> None:
    engine = index.as_query_engine(llm=MockLLM(max_tokens=4), similarity_top_k=1, streaming=True)
    with WaxellContext(agent_name="stream-rag", enforce_policy=False) as ctx:
        response = engine.query(QUERY)
        assert ctx.run.llm_call_count == 1  # the query embedding: the answer is not generated yet
        text = "".join(response.response_gen)
        assert ctx.run.llm_call_count == 2
    assert text == "text text text text"
    run = read_run(ctx.run_id)
    call = run["llm_calls"][1]
    [end] = [e for e in framework_log[1].events if e.class_name() == "LLMCompletionEndEvent"]
    assert end.response.text == "text text text"  # MockLLM's last streamed response (its deltas make 4 words)
    assert (call["model"], call["response_preview"], call["status"]) == ("MockLLM", end.response.text, "ok")
    assert (call["attributes"]["streamed"], call["attributes"]["chunks"]) == (True, 4)
    assert 0 <= call["attributes"]["time_to_first_token_ms"] <= call["duration_ms"]
    # LlamaIndex generates a streamed answer after the query span closed: it reports no parent.
    assert call["parent_span_id"] == ""
    query = next(s for s in run["spans"] if s["name"] == "RetrieverQueryEngine.query")
    assert (query["output"], query["attributes"]["streaming"]) == (None, True)


def test_chat_calls_feed_the_conversation_and_are_recorded_once(attached: None, read_run: Any) -> None:
    llm = MockLLM()  # CustomLLM: chat() is built on complete(); LlamaIndex reports both
    messages = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Hello there"),
    ]
    with WaxellContext(agent_name="chat", enforce_policy=False) as ctx:
        reply = llm.chat(messages)
    run = read_run(ctx.run_id)
    [call] = run["llm_calls"]
    assert call["prompt_preview"] == "system: Be brief.\nuser: Hello there"
    assert call["response_preview"] == reply.message.content
    assert run["conversation"]["user_turns"] == 1
    assert run["conversation"]["message_count"] == 2
    assert [s["input"] for s in run["spans"] if s["name"] == "user_message"] == ["Hello there"]


def test_llm_errors_are_recorded(attached: None, read_run: Any) -> None:
    from llama_index.core.llms.callbacks import llm_completion_callback

    class Broken(MockLLM):
        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:  # type: ignore[override]
            raise TimeoutError("model timed out")

    with pytest.raises(TimeoutError), WaxellContext(agent_name="broken", enforce_policy=False) as ctx:
        Broken().complete("hi")
    [call] = read_run(ctx.run_id)["llm_calls"]
    assert (call["status"], call["error_type"], call["error_message"], call["model"]) == (
        "error",
        "TimeoutError",
        "model timed out",
        "MockLLM",
    )  # MockLLM.class_name() of the subclass


def test_outside_a_run_llm_calls_go_to_the_collector(attached: None, read_runs: Any) -> None:
    MockLLM(max_tokens=2).complete("hi")
    [run] = read_runs(agent_name="auto:MockLLM")
    assert (run["workflow_name"], run["llm_call_count"]) == ("auto", 1)


def test_instrument_is_idempotent_and_reversible(read_run: Any) -> None:
    from llama_index.core.instrumentation import get_dispatcher

    from waxell_observe.integrations.llamaindex import (
        WaxellEventHandler,
        WaxellSpanHandler,
        instrument,
        is_instrumented,
        uninstrument,
    )

    dispatcher = get_dispatcher()
    assert instrument() and instrument()
    assert sum(isinstance(h, WaxellEventHandler) for h in dispatcher.event_handlers) == 1
    assert sum(isinstance(h, WaxellSpanHandler) for h in dispatcher.span_handlers) == 1
    assert is_instrumented()
    assert uninstrument() is True
    assert uninstrument() is False
    assert not is_instrumented()
    with WaxellContext(agent_name="detached", enforce_policy=False) as ctx:
        MockLLM(max_tokens=2).complete("hi")
    assert read_run(ctx.run_id)["llm_call_count"] == 0


def test_documents_are_previews_unless_content_capture_is_on(
    index: Any, attached: None, read_run: Any
) -> None:
    from waxell_observe.client import WaxellObserveClient

    WaxellObserveClient.configure(preview_chars=10)
    engine = index.as_query_engine(llm=MockLLM(max_tokens=1), similarity_top_k=3)
    with WaxellContext(agent_name="previews", enforce_policy=False) as ctx:
        engine.query(QUERY)
    retrieval = next(s for s in read_run(ctx.run_id)["spans"] if s["kind"] == "retrieval")
    assert sorted(d["content"] for d in retrieval["output"]["documents"]) == sorted(
        t[:9] + "…" for t in DOCUMENTS
    )
    assert retrieval["input"] == {"query": QUERY[:9] + "…"}

"""Pinecone (the real client, its index host pointed at a stub HTTP server): queries become
retrieval spans."""

from __future__ import annotations

from typing import Any

import pytest
from pinecone import Pinecone

from integrations.llm_stub import StubLLMServer
from integrations.vector_stores.conftest import QUERY_VECTOR, retrievals
from waxell_observe import WaxellContext

ANSWER = {
    "matches": [
        {"id": "paris", "score": 0.99, "values": [], "metadata": {"text": "Paris is the capital of France."}},
        {"id": "lyon", "score": 0.9, "values": [], "metadata": {"text": "Lyon is a city in France."}},
    ],
    "namespace": "cities",
    "usage": {"readUnits": 5},
}


@pytest.fixture
def instrumented_library() -> str:
    return "pinecone"


def test_a_query_becomes_a_retrieval_span_with_read_units(
    instrumented: Any, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(ANSWER)
    index = Pinecone(api_key="pk-test").Index(host=stub.base_url)
    with WaxellContext(agent_name="pinecone-rag", enforce_policy=False) as ctx:
        index.query(vector=QUERY_VECTOR, top_k=2, namespace="cities", filter={"country": "fr"})
    assert stub.requests[0].path == "/query"
    assert stub.requests[0].body["topK"] == 2
    [span] = retrievals(read_run(ctx.run_id))
    assert span["name"] == "pinecone.query"
    assert span["input"] == {"query": "[vector of 3 dimensions]"}
    assert span["output"] == {"documents": [{"id": "paris", "score": 0.99}, {"id": "lyon", "score": 0.9}]}
    assert span["attributes"] == {
        "source": "pinecone",
        "document_count": 2,
        "db.system": "pinecone",
        "db.operation": "query",
        "db.collection": "cities",
        "score_kind": "similarity",
        "top_k": 2,
        "filtered": True,
        "scores": [0.99, 0.9],
        "read_units": 5,
    }


def test_metadata_only_with_content_capture(
    instrumented: Any, stub: StubLLMServer, read_run: Any, configure: Any
) -> None:
    configure(capture_content=True)
    stub.reply_json(ANSWER)
    index = Pinecone(api_key="pk-test").Index(host=stub.base_url)
    with WaxellContext(agent_name="pinecone-content", enforce_policy=False) as ctx:
        index.query(id="paris", top_k=2, include_metadata=True)
    [span] = retrievals(read_run(ctx.run_id))
    assert span["input"] == {"query": "[record paris]"}
    assert span["output"]["documents"][0] == {
        "id": "paris",
        "score": 0.99,
        "content": "Paris is the capital of France.",
        "metadata": {"text": "Paris is the capital of France."},
    }


def test_a_server_error_is_an_error_span(instrumented: Any, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json({"code": 5, "message": "Namespace not found"}, status=404)
    index = Pinecone(api_key="pk-test").Index(host=stub.base_url)
    with (
        pytest.raises(Exception) as raised,
        WaxellContext(agent_name="pinecone-error", enforce_policy=False) as ctx,
    ):
        index.query(vector=QUERY_VECTOR, top_k=1)
    [span] = retrievals(read_run(ctx.run_id))
    assert span["status"] == "error"
    assert span["error"].startswith(type(raised.value).__name__ + ": ")
    assert span["output"] is None


async def test_the_async_index_is_captured(instrumented: Any, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json(ANSWER)
    async with (
        Pinecone(api_key="pk-test").IndexAsyncio(host=stub.base_url) as index,
        WaxellContext(agent_name="pinecone-async", enforce_policy=False) as ctx,
    ):
        await index.query(vector=QUERY_VECTOR, top_k=2)
    [span] = retrievals(read_run(ctx.run_id))
    assert [d["id"] for d in span["output"]["documents"]] == ["paris", "lyon"]

"""Qdrant (a real client in ``:memory:`` mode, sync and async): searches become retrieval spans."""

from __future__ import annotations

from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from integrations.vector_stores.conftest import DOCUMENTS, QUERY_VECTOR, retrievals
from waxell_observe import WaxellContext

POINT_IDS = {name: index + 1 for index, name in enumerate(DOCUMENTS)}


@pytest.fixture
def instrumented_library() -> str:
    return "qdrant"


def _points() -> list[models.PointStruct]:
    return [
        models.PointStruct(id=POINT_IDS[name], vector=vector, payload={"text": text, **meta})
        for name, (text, vector, meta) in DOCUMENTS.items()
    ]


@pytest.fixture
def client() -> QdrantClient:
    client = QdrantClient(":memory:")
    client.create_collection(
        "cities", vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT)
    )
    client.upsert("cities", points=_points())
    return client


def test_query_points_becomes_a_retrieval_span_with_ids_and_scores(
    instrumented: Any, client: QdrantClient, read_run: Any
) -> None:
    with WaxellContext(agent_name="qdrant-rag", enforce_policy=False) as ctx:
        response = client.query_points("cities", query=QUERY_VECTOR, limit=2)
    assert [p.id for p in response.points] == [1, 2]
    scores = [p.score for p in response.points]
    assert scores == [1.0, pytest.approx(0.9)]  # float32 arithmetic: 0.8999999761581421
    [span] = retrievals(read_run(ctx.run_id))
    assert span["name"] == "qdrant.query_points"
    assert span["input"] == {"query": "[vector of 3 dimensions]"}
    assert span["output"] == {"documents": [{"id": "1", "score": 1.0}, {"id": "2", "score": scores[1]}]}
    assert span["attributes"] == {
        "source": "qdrant",
        "document_count": 2,
        "db.system": "qdrant",
        "db.operation": "query_points",
        "db.collection": "cities",
        "score_kind": "similarity",
        "top_k": 2,
        "scores": scores,
    }


def test_a_batch_is_one_span_per_request_and_payload_only_with_content_capture(
    instrumented: Any, client: QdrantClient, read_run: Any, configure: Any
) -> None:
    configure(capture_content=True)
    country_de = models.Filter(
        must=[models.FieldCondition(key="country", match=models.MatchValue(value="de"))]
    )
    with WaxellContext(agent_name="qdrant-batch", enforce_policy=False) as ctx:
        client.query_batch_points(
            "cities",
            requests=[
                models.QueryRequest(query=QUERY_VECTOR, limit=1, with_payload=True),
                models.QueryRequest(query=[0.0, 1.0, 0.0], limit=3, filter=country_de, with_payload=True),
            ],
        )
    first, second = retrievals(read_run(ctx.run_id))
    assert first["name"] == second["name"] == "qdrant.query_batch_points"
    assert first["output"]["documents"] == [
        {
            "id": "1",
            "score": 1.0,
            "content": "Paris is the capital of France.",
            "metadata": {"text": "Paris is the capital of France.", "country": "fr"},
        }
    ]
    assert [d["id"] for d in second["output"]["documents"]] == ["3"]
    assert (second["attributes"]["top_k"], second["attributes"]["filtered"]) == (3, True)


def test_a_failed_search_is_an_error_span(instrumented: Any, client: QdrantClient, read_run: Any) -> None:
    with (
        pytest.raises(ValueError, match="not found") as raised,
        WaxellContext(agent_name="qdrant-error", enforce_policy=False) as ctx,
    ):
        client.query_points("no-such-collection", query=QUERY_VECTOR, limit=1)
    [span] = retrievals(read_run(ctx.run_id))
    assert (span["status"], span["error"]) == ("error", f"ValueError: {raised.value}")
    assert span["attributes"]["db.collection"] == "no-such-collection"


async def test_the_async_client_is_captured(instrumented: Any, read_run: Any) -> None:
    client = AsyncQdrantClient(":memory:")
    await client.create_collection(
        "cities", vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT)
    )
    await client.upsert("cities", points=_points())
    async with WaxellContext(agent_name="qdrant-async", enforce_policy=False) as ctx:
        await client.query_points("cities", query=[0.0, 0.0, 1.0], limit=1)
    [span] = retrievals(read_run(ctx.run_id))
    assert span["output"] == {"documents": [{"id": "4", "score": 1.0}]}


def test_a_retrieval_policy_refuses_what_a_search_found(
    instrumented: Any, client: QdrantClient, read_run: Any
) -> None:
    from waxell_observe.config import get_config
    from waxell_observe.errors import PolicyViolationError
    from waxell_observe.governance import load_policies
    from waxell_observe.governance.policy_store import add_policies
    from waxell_observe.store import get_store

    policy = """
policies:
  - name: relevant-only
    category: retrieval
    rules: {min_relevance_score: 2.0, action_on_low_relevance: block}
"""
    add_policies(get_store(get_config().db_url), load_policies(policy))
    with (
        pytest.raises(PolicyViolationError, match="best score 1") as raised,
        WaxellContext(agent_name="qdrant-governed") as ctx,
    ):
        client.query_points("cities", query=QUERY_VECTOR, limit=2)
    run = read_run(ctx.run_id)
    [span] = retrievals(run)
    assert [d["id"] for d in span["output"]["documents"]] == ["1", "2"]  # recorded, then refused
    assert run["status"] == "blocked"
    assert str(raised.value) == "Low retrieval relevance: best score 1 (min_relevance_score 2)"

"""Milvus (a real embedded Milvus Lite server over a temporary file): searches become retrieval spans."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations.vector_stores.conftest import DOCUMENTS, QUERY_VECTOR, retrievals
from waxell_observe import WaxellContext

pytest.importorskip("milvus_lite", reason="Milvus Lite (the embedded server) is not installed")

from pymilvus import MilvusClient  # noqa: E402

IDS = {name: index + 1 for index, name in enumerate(DOCUMENTS)}


@pytest.fixture
def instrumented_library() -> str:
    return "milvus"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusClient]:
    path: Path = tmp_path_factory.mktemp("milvus") / "cities.db"
    client = MilvusClient(str(path))  # starts Milvus Lite (a few seconds): once for the module
    client.create_collection("cities", dimension=3, metric_type="IP")
    client.insert(
        "cities",
        [
            {"id": IDS[name], "vector": vector, "text": text, **meta}
            for name, (text, vector, meta) in DOCUMENTS.items()
        ],
    )
    yield client
    client.close()


def test_a_search_is_one_retrieval_span_per_query(
    instrumented: Any, client: MilvusClient, read_run: Any
) -> None:
    with WaxellContext(agent_name="milvus-rag", enforce_policy=False) as ctx:
        result = client.search(
            "cities", data=[QUERY_VECTOR, [0.0, 0.0, 1.0]], limit=2, search_params={"metric_type": "IP"}
        )
    distances = [hit["distance"] for hit in result[0]]
    assert [hit["id"] for hit in result[0]] == [1, 2]
    first, second = retrievals(read_run(ctx.run_id))
    assert first["name"] == "milvus.search"
    assert first["input"] == {"query": "[vector of 3 dimensions]"}
    assert first["output"] == {"documents": [{"id": "1", "score": 1.0}, {"id": "2", "score": distances[1]}]}
    assert first["attributes"] == {
        "source": "milvus",
        "document_count": 2,
        "db.system": "milvus",
        "db.operation": "search",
        "db.collection": "cities",
        "score_kind": "similarity",
        "top_k": 2,
        "scores": distances,
    }
    assert second["output"]["documents"][0] == {"id": "4", "score": 1.0}


def test_output_fields_only_with_content_capture(
    instrumented: Any, client: MilvusClient, read_run: Any, configure: Any
) -> None:
    configure(capture_content=True)
    with WaxellContext(agent_name="milvus-content", enforce_policy=False) as ctx:
        client.search(
            "cities",
            data=[[0.0, 1.0, 0.0]],
            limit=1,
            filter='country == "de"',
            output_fields=["text", "country"],
        )
    [span] = retrievals(read_run(ctx.run_id))
    assert span["output"] == {
        "documents": [
            {
                "id": "3",
                "score": 1.0,
                "content": "Berlin is the capital of Germany.",
                "metadata": {"country": "de"},
            }
        ]
    }
    assert span["attributes"]["filtered"] is True
    assert "score_kind" not in span["attributes"]  # no metric named in the call


def test_a_failed_search_is_an_error_span(instrumented: Any, client: MilvusClient, read_run: Any) -> None:
    with (
        pytest.raises(Exception) as raised,
        WaxellContext(agent_name="milvus-error", enforce_policy=False) as ctx,
    ):
        client.search("no_such_collection", data=[QUERY_VECTOR], limit=1)
    [span] = retrievals(read_run(ctx.run_id))
    assert span["status"] == "error"
    assert span["error"].startswith(type(raised.value).__name__ + ": ")

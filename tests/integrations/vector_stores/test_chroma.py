"""Chroma (a real ephemeral client, in process): ``Collection.query`` becomes retrieval spans."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import chromadb
import pytest
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

from integrations.vector_stores.conftest import DOCUMENTS, QUERY_VECTOR, retrievals
from waxell_observe import WaxellContext


@pytest.fixture
def instrumented_library() -> str:
    return "chroma"


class KeywordEmbeddings(EmbeddingFunction[Documents]):
    """Embeds a text by the city it names (no model: the corpus's own vectors)."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002 - Chroma's parameter name
        import numpy

        out = []
        for text in input:
            key = next((k for k in DOCUMENTS if k in text.lower()), "rome")
            out.append(numpy.array(DOCUMENTS[key][1], dtype=numpy.float32))
        return out

    @staticmethod
    def name() -> str:
        return "keyword-test"

    def get_config(self) -> dict[str, Any]:
        return {}


@pytest.fixture
def collection() -> Iterator[Any]:
    client = chromadb.EphemeralClient()
    name = "cities"
    if name in [c.name for c in client.list_collections()]:
        client.delete_collection(name)
    col = client.create_collection(name, embedding_function=KeywordEmbeddings())
    col.add(
        ids=list(DOCUMENTS),
        embeddings=[v[1] for v in DOCUMENTS.values()],
        documents=[v[0] for v in DOCUMENTS.values()],
        metadatas=[v[2] for v in DOCUMENTS.values()],
    )
    yield col
    client.delete_collection(name)


def test_each_query_becomes_a_retrieval_span_with_ids_and_distances(
    instrumented: Any, collection: Any, read_run: Any
) -> None:
    with WaxellContext(agent_name="chroma-rag", enforce_policy=False) as ctx:
        result = collection.query(query_embeddings=[QUERY_VECTOR, [0.0, 1.0, 0.0]], n_results=2)
    run = read_run(ctx.run_id)
    first, second = retrievals(run)
    assert first["name"] == "chroma.query"
    assert first["status"] == "ok"
    assert first["input"] == {"query": "[vector of 3 dimensions]"}
    assert first["output"] == {
        "documents": [
            {"id": "paris", "score": result["distances"][0][0]},
            {"id": "lyon", "score": result["distances"][0][1]},
        ]
    }
    assert result["distances"][0][0] == 0.0
    assert first["attributes"] == {
        "source": "chroma",
        "document_count": 2,
        "db.system": "chroma",
        "db.operation": "query",
        "db.collection": "cities",
        "score_kind": "distance",
        "top_k": 2,
        "scores": result["distances"][0],
    }
    assert [d["id"] for d in second["output"]["documents"]] == ["berlin", result["ids"][1][1]]


def test_document_text_and_metadata_only_with_content_capture(
    instrumented: Any, collection: Any, read_run: Any, configure: Any
) -> None:
    configure(capture_content=True)
    with WaxellContext(agent_name="chroma-content", enforce_policy=False) as ctx:
        collection.query(query_texts="Tell me about Paris", n_results=1, where={"country": "fr"})
    [span] = retrievals(read_run(ctx.run_id))
    assert span["input"] == {"query": "Tell me about Paris"}
    assert span["output"] == {
        "documents": [
            {
                "id": "paris",
                "score": 0.0,
                "content": "Paris is the capital of France.",
                "metadata": {"country": "fr"},
            }
        ]
    }
    assert span["attributes"]["filtered"] is True


def test_a_failed_query_is_an_error_span_and_the_error_reaches_the_caller(
    instrumented: Any, collection: Any, read_run: Any
) -> None:
    with (
        pytest.raises(Exception) as raised,
        WaxellContext(agent_name="chroma-error", enforce_policy=False) as ctx,
    ):
        collection.query(query_embeddings=[[1.0, 0.0]], n_results=1)  # wrong dimension
    [span] = retrievals(read_run(ctx.run_id))
    assert span["status"] == "error"
    assert span["output"] is None
    assert span["error"].startswith(type(raised.value).__name__ + ": ")
    assert span["attributes"]["document_count"] == 0


def test_nothing_is_recorded_outside_a_run_or_after_uninstrument(
    instrumented: Any, collection: Any, read_run: Any
) -> None:
    import waxell_observe_chroma

    collection.query(query_embeddings=[QUERY_VECTOR], n_results=1)  # no run: nothing, no error
    waxell_observe_chroma.uninstrument()
    with WaxellContext(agent_name="chroma-off", enforce_policy=False) as ctx:
        collection.query(query_embeddings=[QUERY_VECTOR], n_results=1)
    assert retrievals(read_run(ctx.run_id)) == []
    assert not waxell_observe_chroma.is_instrumented()

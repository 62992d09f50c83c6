"""Weaviate (the real weaviate-client v4, sync and async, against a stub server speaking its REST
and gRPC protocols on 127.0.0.1 — no Weaviate server can run here): collection queries become
retrieval spans."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import weaviate
from weaviate.classes.query import Filter, MetadataQuery
from weaviate.exceptions import WeaviateQueryError

from integrations.vector_stores.conftest import DOCUMENTS, QUERY_VECTOR, retrievals
from integrations.vector_stores.weaviate_stub import StoredObject, StubWeaviate
from waxell_observe import WaxellContext

PARIS = "00000000-0000-0000-0000-000000000001"
LYON = "00000000-0000-0000-0000-000000000002"
ANSWER = [
    StoredObject(PARIS, {"text": DOCUMENTS["paris"][0], "country": "fr"}, distance=0.0, score=2.5),
    StoredObject(LYON, {"text": DOCUMENTS["lyon"][0], "country": "fr"}, distance=0.125, score=1.25),
]


@pytest.fixture
def instrumented_library() -> str:
    return "weaviate"


@pytest.fixture
def server() -> Iterator[StubWeaviate]:
    with StubWeaviate() as stub:
        yield stub


@pytest.fixture
def client(server: StubWeaviate) -> Iterator[weaviate.WeaviateClient]:
    client = weaviate.connect_to_custom(**server.connection())
    yield client
    client.close()


def test_near_vector_becomes_a_retrieval_span_with_uuids_and_distances(
    instrumented: Any, server: StubWeaviate, client: weaviate.WeaviateClient, read_run: Any
) -> None:
    server.answer(ANSWER)
    cities = client.collections.use("Cities")
    with WaxellContext(agent_name="weaviate-rag", enforce_policy=False) as ctx:
        answer = cities.query.near_vector(QUERY_VECTOR, limit=2, return_metadata=MetadataQuery(distance=True))
    assert [str(o.uuid) for o in answer.objects] == [PARIS, LYON]
    [request] = server.requests
    assert (request.collection, request.limit) == ("Cities", 2)
    [span] = retrievals(read_run(ctx.run_id))
    assert span["name"] == "weaviate.near_vector"
    assert span["status"] == "ok"
    assert span["input"] == {"query": "[vector of 3 dimensions]"}
    assert span["output"] == {"documents": [{"id": PARIS, "score": 0.0}, {"id": LYON, "score": 0.125}]}
    assert span["attributes"] == {
        "source": "weaviate",
        "document_count": 2,
        "db.system": "weaviate",
        "db.operation": "near_vector",
        "db.collection": "Cities",
        "score_kind": "distance",
        "top_k": 2,
        "scores": [0.0, 0.125],
    }


def test_properties_only_with_content_capture(
    instrumented: Any,
    server: StubWeaviate,
    client: weaviate.WeaviateClient,
    read_run: Any,
    configure: Any,
) -> None:
    server.answer(ANSWER[:1])
    cities = client.collections.use("Cities")
    with WaxellContext(agent_name="weaviate-plain", enforce_policy=False) as plain:
        cities.query.near_text("French capital", limit=1, return_metadata=MetadataQuery(distance=True))
    configure(capture_content=True)
    with WaxellContext(agent_name="weaviate-content", enforce_policy=False) as captured:
        cities.query.near_text(["capital", "France"], limit=1, return_metadata=["distance"])
    [without] = retrievals(read_run(plain.run_id))
    assert without["name"] == "weaviate.near_text"
    assert without["input"] == {"query": "French capital"}
    assert without["output"] == {"documents": [{"id": PARIS, "score": 0.0}]}
    [with_content] = retrievals(read_run(captured.run_id))
    assert with_content["input"] == {"query": "capital | France"}
    assert with_content["output"] == {
        "documents": [
            {
                "id": PARIS,
                "score": 0.0,
                "content": "Paris is the capital of France.",
                "metadata": {"text": "Paris is the capital of France.", "country": "fr"},
            }
        ]
    }


def test_certainty_alone_is_a_similarity_score(
    instrumented: Any, server: StubWeaviate, client: weaviate.WeaviateClient, read_run: Any
) -> None:
    server.answer(ANSWER)
    with WaxellContext(agent_name="weaviate-certainty", enforce_policy=False) as ctx:
        client.collections.use("Cities").query.near_object(
            PARIS, limit=2, return_metadata=MetadataQuery(certainty=True)
        )
    [span] = retrievals(read_run(ctx.run_id))
    assert span["input"] == {"query": f"[object {PARIS}]"}
    assert span["attributes"]["score_kind"] == "similarity"
    assert span["attributes"]["scores"] == [1.0, 0.9375]


def test_bm25_and_hybrid_record_their_scores_and_filters(
    instrumented: Any, server: StubWeaviate, client: weaviate.WeaviateClient, read_run: Any
) -> None:
    server.answer(ANSWER)
    cities = client.collections.use("Cities")
    with WaxellContext(agent_name="weaviate-keyword", enforce_policy=False) as ctx:
        cities.query.bm25("capital", limit=2, return_metadata=MetadataQuery(score=True))
        cities.query.hybrid(
            "capital of France",
            alpha=0.5,
            limit=3,
            filters=Filter.by_property("country").equal("fr"),
            return_metadata=MetadataQuery(score=True),
        )
        cities.query.hybrid(None, vector=QUERY_VECTOR, limit=1)
    bm25, hybrid, by_vector = retrievals(read_run(ctx.run_id))
    assert (bm25["name"], bm25["input"]) == ("weaviate.bm25", {"query": "capital"})
    assert bm25["attributes"]["scores"] == [2.5, 1.25]
    assert bm25["attributes"]["score_kind"] == "similarity"
    assert (hybrid["name"], hybrid["input"]) == ("weaviate.hybrid", {"query": "capital of France"})
    assert (hybrid["attributes"]["top_k"], hybrid["attributes"]["filtered"]) == (3, True)
    assert by_vector["input"] == {"query": "[vector of 3 dimensions]"}
    # no score asked for: the uuids alone
    assert by_vector["output"] == {"documents": [{"id": PARIS}, {"id": LYON}]}
    assert "scores" not in by_vector["attributes"]
    assert [r.limit for r in server.requests] == [2, 3, 1]


def test_fetch_objects_is_a_retrieval_without_a_query(
    instrumented: Any, server: StubWeaviate, client: weaviate.WeaviateClient, read_run: Any
) -> None:
    server.answer(ANSWER)
    with WaxellContext(agent_name="weaviate-fetch", enforce_policy=False) as ctx:
        client.collections.use("Cities").query.fetch_objects(limit=10)
    [span] = retrievals(read_run(ctx.run_id))
    assert span["name"] == "weaviate.fetch_objects"
    assert span["input"] == {"query": "[fetch objects]"}
    assert span["output"] == {"documents": [{"id": PARIS}, {"id": LYON}]}
    assert span["attributes"] == {
        "source": "weaviate",
        "document_count": 2,
        "db.system": "weaviate",
        "db.operation": "fetch_objects",
        "db.collection": "Cities",
        "top_k": 10,
    }


def test_generative_queries_record_their_retrieval(
    instrumented: Any, server: StubWeaviate, client: weaviate.WeaviateClient, read_run: Any
) -> None:
    server.answer(ANSWER)
    cities = client.collections.use("Cities")
    with WaxellContext(agent_name="weaviate-generate", enforce_policy=False) as ctx:
        answer = cities.generate.near_text(
            "French cities",
            limit=2,
            grouped_task="Summarise these cities",
            return_metadata=MetadataQuery(distance=True),
        )
        cities.generate.bm25("capital", limit=1, single_prompt="Describe {text}")
    assert [str(o.uuid) for o in answer.objects] == [PARIS, LYON]
    assert server.requests[0].HasField("generative")
    near, keyword = retrievals(read_run(ctx.run_id))
    assert (near["name"], near["input"]) == ("weaviate.generate.near_text", {"query": "French cities"})
    assert near["attributes"]["db.operation"] == "generate.near_text"
    assert near["attributes"]["scores"] == [0.0, 0.125]
    assert (keyword["name"], keyword["attributes"]["top_k"]) == ("weaviate.generate.bm25", 1)


def test_image_and_media_searches_name_what_they_search_by(
    instrumented: Any, server: StubWeaviate, client: weaviate.WeaviateClient, read_run: Any
) -> None:
    from weaviate.classes.query import NearMediaType

    server.answer(ANSWER[:1])
    cities = client.collections.use("Cities")
    with WaxellContext(agent_name="weaviate-media", enforce_policy=False) as ctx:
        cities.query.near_image("aW1hZ2U=", limit=1, return_metadata=MetadataQuery(distance=True))
        cities.query.near_media("YXVkaW8=", media_type=NearMediaType.AUDIO, limit=1)
    image, audio = retrievals(read_run(ctx.run_id))
    assert (image["name"], image["input"]) == ("weaviate.near_image", {"query": "[image]"})
    assert image["output"] == {"documents": [{"id": PARIS, "score": 0.0}]}
    assert (audio["name"], audio["input"]) == ("weaviate.near_media", {"query": "[audio media]"})


def test_a_server_error_is_an_error_span_and_reaches_the_caller(
    instrumented: Any, server: StubWeaviate, client: weaviate.WeaviateClient, read_run: Any
) -> None:
    server.fail(grpc.StatusCode.NOT_FOUND, "class Nowhere not found")
    with (
        pytest.raises(WeaviateQueryError, match="class Nowhere not found") as raised,
        WaxellContext(agent_name="weaviate-error", enforce_policy=False) as ctx,
    ):
        client.collections.use("Nowhere").query.near_vector(QUERY_VECTOR, limit=1)
    [span] = retrievals(read_run(ctx.run_id))
    assert span["status"] == "error"
    assert span["error"] == f"WeaviateQueryError: {raised.value}"
    assert span["output"] is None
    assert span["attributes"]["db.collection"] == "Nowhere"


async def test_the_async_client_is_captured(instrumented: Any, server: StubWeaviate, read_run: Any) -> None:
    server.answer(ANSWER)
    async with (
        weaviate.use_async_with_custom(**server.connection()) as client,
        WaxellContext(agent_name="weaviate-async", enforce_policy=False) as ctx,
    ):
        await client.collections.use("Cities").query.near_vector(
            QUERY_VECTOR, limit=2, return_metadata=MetadataQuery(distance=True)
        )
        await client.collections.use("Cities").query.bm25("capital", limit=1)
    near, bm25 = retrievals(read_run(ctx.run_id))
    assert near["output"] == {"documents": [{"id": PARIS, "score": 0.0}, {"id": LYON, "score": 0.125}]}
    assert (bm25["name"], bm25["attributes"]["top_k"]) == ("weaviate.bm25", 1)
    assert len(server.requests) == 2


async def test_an_async_server_error_is_an_error_span(
    instrumented: Any, server: StubWeaviate, read_run: Any
) -> None:
    server.fail(grpc.StatusCode.INVALID_ARGUMENT, "shard Cities_1 is read-only")
    async with weaviate.use_async_with_custom(**server.connection()) as client:
        with pytest.raises(WeaviateQueryError, match="shard Cities_1 is read-only"):
            async with WaxellContext(agent_name="weaviate-async-error", enforce_policy=False) as ctx:
                await client.collections.use("Cities").query.hybrid("capital", limit=2)
    [span] = retrievals(read_run(ctx.run_id))
    assert (span["name"], span["status"]) == ("weaviate.hybrid", "error")
    assert span["error"].startswith("WeaviateQueryError: ")
    assert "shard Cities_1 is read-only" in span["error"]


def test_a_retrieval_policy_refuses_what_a_search_found(
    instrumented: Any, server: StubWeaviate, client: weaviate.WeaviateClient, read_run: Any
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
    rules: {min_relevance_score: 3.0, action_on_low_relevance: block}
"""
    add_policies(get_store(get_config().db_url), load_policies(policy))
    server.answer(ANSWER)
    with (
        pytest.raises(PolicyViolationError, match="best score 2.5") as raised,
        WaxellContext(agent_name="weaviate-governed") as ctx,
    ):
        client.collections.use("Cities").query.bm25("capital", limit=2, return_metadata=["score"])
    run = read_run(ctx.run_id)
    [span] = retrievals(run)
    assert [d["id"] for d in span["output"]["documents"]] == [PARIS, LYON]  # recorded, then refused
    assert run["status"] == "blocked"
    assert str(raised.value) == "Low retrieval relevance: best score 2.5 (min_relevance_score 3)"


def test_nothing_is_recorded_after_uninstrument(
    instrumented: Any, server: StubWeaviate, client: weaviate.WeaviateClient, read_run: Any
) -> None:
    from waxell_observe_weaviate import is_instrumented, uninstrument

    server.answer(ANSWER)
    uninstrument()
    assert not is_instrumented()
    with WaxellContext(agent_name="weaviate-off", enforce_policy=False) as ctx:
        client.collections.use("Cities").query.near_vector(QUERY_VECTOR, limit=2)
    assert retrievals(read_run(ctx.run_id)) == []
    assert len(server.requests) == 1


def test_weaviate_imported_after_init_is_captured(server: StubWeaviate, tmp_path: Path) -> None:
    """A program that calls init() before importing weaviate (the lazy trigger) records its queries."""
    program = textwrap.dedent(
        f"""
        import json, sys
        import waxell_observe
        waxell_observe.init(instrument=["weaviate"])
        assert "weaviate" not in sys.modules
        import weaviate
        from waxell_observe import WaxellContext
        from waxell_observe.store import get_store
        from waxell_observe.store.reader import get_run
        from waxell_observe.config import get_config
        client = weaviate.connect_to_custom(**{server.connection()!r})
        with WaxellContext(agent_name="late-import", enforce_policy=False) as ctx:
            client.collections.use("Cities").query.near_vector([1.0, 0.0, 0.0], limit=2)
        client.close()
        waxell_observe.flush_sync(timeout=30)
        with get_store(get_config().db_url).read() as conn:
            spans = get_run(conn, ctx.run_id)["spans"]
        print(json.dumps([[s["name"], s["input"]] for s in spans if s["kind"] == "retrieval"]))
        """
    )
    server.answer(ANSWER)
    environment = {
        **os.environ,
        "WAXELL_CACHE_DIR": str(tmp_path / "cache"),
        "WAXELL_DB": str(tmp_path / "runs.db"),
        "WAXELL_JOURNAL_DIR": str(tmp_path / "journal"),
    }
    done = subprocess.run(
        [sys.executable, "-c", program],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == (
        '[["weaviate.near_vector", {"query": "[vector of 3 dimensions]"}]]'
    )

"""LanceDB (a real database in a temporary directory): vector searches become retrieval spans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lancedb
import pytest

from integrations.vector_stores.conftest import DOCUMENTS, QUERY_VECTOR, retrievals
from waxell_observe import WaxellContext


@pytest.fixture
def instrumented_library() -> str:
    return "lancedb"


@pytest.fixture
def table(tmp_path: Path) -> Any:
    db = lancedb.connect(tmp_path / "lance")
    rows = [
        {"id": name, "vector": vector, "text": text, **meta}
        for name, (text, vector, meta) in DOCUMENTS.items()
    ]
    return db.create_table("cities", data=rows)


def test_a_search_becomes_a_retrieval_span(instrumented: Any, table: Any, read_run: Any) -> None:
    with WaxellContext(agent_name="lance-rag", enforce_policy=False) as ctx:
        rows = table.search(QUERY_VECTOR).limit(2).to_list()
    distances = [row["_distance"] for row in rows]
    assert [row["id"] for row in rows] == ["paris", "lyon"]
    [span] = retrievals(read_run(ctx.run_id))
    assert span["name"] == "lancedb.search"
    assert span["input"] == {"query": "[vector of 3 dimensions]"}
    assert span["output"] == {
        "documents": [{"id": "paris", "score": distances[0]}, {"id": "lyon", "score": distances[1]}]
    }
    assert distances[0] == 0.0
    assert span["attributes"] == {
        "source": "lancedb",
        "document_count": 2,
        "db.system": "lancedb",
        "db.operation": "search",
        "db.collection": "cities",
        "score_kind": "distance",
        "top_k": 2,
        "scores": distances,
    }


def test_rows_text_and_columns_only_with_content_capture(
    instrumented: Any, table: Any, read_run: Any, configure: Any
) -> None:
    configure(capture_content=True)
    with WaxellContext(agent_name="lance-content", enforce_policy=False) as ctx:
        frame = table.search([0.0, 1.0, 0.0]).where("country = 'de'").limit(5).to_pandas()
    assert list(frame["id"]) == ["berlin"]
    [span] = retrievals(read_run(ctx.run_id))
    assert span["output"] == {
        "documents": [
            {
                "id": "berlin",
                "score": 0.0,
                "content": "Berlin is the capital of Germany.",
                "metadata": {"id": "berlin", "country": "de"},
            }
        ]
    }
    assert (span["attributes"]["top_k"], span["attributes"]["filtered"]) == (5, True)


def test_a_failed_search_is_an_error_span(instrumented: Any, table: Any, read_run: Any) -> None:
    with (
        pytest.raises(Exception) as raised,
        WaxellContext(agent_name="lance-error", enforce_policy=False) as ctx,
    ):
        table.search(QUERY_VECTOR).where("no_such_column = 1").limit(1).to_list()
    [span] = retrievals(read_run(ctx.run_id))
    assert span["status"] == "error"
    assert span["error"].startswith(type(raised.value).__name__ + ": ")

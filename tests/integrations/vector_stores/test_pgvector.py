"""pgvector (a real PostgreSQL 16 with the vector extension, through psycopg 3 and SQLAlchemy, sync
and async): similarity searches become retrieval spans; other statements do not."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector, register_vector_async
from postgres_cluster import PostgresCluster as _PostgresServer

from integrations.vector_stores.conftest import DOCUMENTS, QUERY_VECTOR, retrievals
from waxell_observe import WaxellContext

pytestmark = pytest.mark.postgres

IDS = {name: index + 1 for index, name in enumerate(DOCUMENTS)}


@pytest.fixture(scope="module")
def vector_server() -> Iterator[_PostgresServer]:
    """PostgreSQL with pgvector: the server the ``pgserver`` wheel ships (Debian 12 packages no
    pgvector for its PostgreSQL)."""
    spec = importlib.util.find_spec("pgserver")  # located, not imported (its import wants a runtime dir)
    assert spec is not None and spec.origin is not None, "the pgserver wheel is a dev dependency"
    install = Path(spec.origin).parent / "pginstall"
    copy = None
    if os.geteuid() == 0:
        # as root the cluster runs as user postgres, who may not reach the virtualenv (a checkout in a
        # private directory, e.g. mktemp -d): run a copy of the binaries from a directory it can read
        # (the layout kept: the binaries find their libraries at $ORIGIN/../../../pgserver.libs)
        copy = Path(tempfile.mkdtemp(prefix="waxell-pginstall-"))
        copy.chmod(0o755)
        libraries = install.parent.parent / "pgserver.libs"
        if libraries.is_dir():
            shutil.copytree(libraries, copy / "pgserver.libs", symlinks=True)
        install = Path(shutil.copytree(install, copy / "pgserver" / "pginstall", symlinks=True))
    server = _PostgresServer(install / "bin")
    try:
        yield server
    finally:
        server.stop()
        if copy is not None:
            shutil.rmtree(copy, ignore_errors=True)


@pytest.fixture
def database(vector_server: _PostgresServer) -> Iterator[str]:
    """A fresh database with the ``cities`` table (id, content, country, embedding vector(3))."""
    name = vector_server.create_database()
    url = vector_server.url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
        register_vector(conn)
        conn.execute(
            "CREATE TABLE cities (id bigint PRIMARY KEY, content text, country text, embedding vector(3))"
        )
        for key, (text, vector, meta) in DOCUMENTS.items():
            conn.execute(
                "INSERT INTO cities VALUES (%s, %s, %s, %s)",
                (IDS[key], text, meta["country"], np.array(vector)),
            )
    yield url
    vector_server.drop_database(name)


@pytest.fixture
def instrumented_library() -> str:
    return "pgvector"


def test_an_l2_search_becomes_a_retrieval_span_and_the_rows_are_still_all_there(
    instrumented: Any, database: str, read_run: Any
) -> None:
    with psycopg.connect(database) as conn:
        register_vector(conn)
        with WaxellContext(agent_name="pgvector-rag", enforce_policy=False) as ctx:
            rows = conn.execute(
                "SELECT id, embedding <-> %s AS distance FROM cities ORDER BY distance LIMIT 2",
                (np.array(QUERY_VECTOR),),
            ).fetchall()
            conn.execute("SELECT count(*) FROM cities").fetchone()  # not a search: no span
    assert [row[0] for row in rows] == [1, 2]  # the program fetches every row it asked for
    lyon = rows[1][1]
    assert lyon == pytest.approx(0.1414213562)
    [span] = retrievals(read_run(ctx.run_id))
    assert span["name"] == "pgvector.l2_distance"
    assert span["status"] == "ok"
    assert span["input"] == {"query": "[vector of 3 dimensions]"}
    assert span["output"] == {"documents": [{"id": "1", "score": 0.0}, {"id": "2", "score": lyon}]}
    assert span["attributes"] == {
        "source": "pgvector",
        "document_count": 2,
        "db.system": "pgvector",
        "db.operation": "l2_distance",
        "db.collection": "cities",
        "score_kind": "distance",
        "top_k": 2,
        "scores": [0.0, lyon],
    }


def test_cosine_similarity_with_a_filter_and_named_parameters(
    instrumented: Any, database: str, read_run: Any, configure: Any
) -> None:
    configure(capture_content=True)
    with psycopg.connect(database) as conn:
        register_vector(conn)
        with WaxellContext(agent_name="pgvector-cosine", enforce_policy=False) as ctx:
            cursor = conn.cursor()
            cursor.execute(
                "SELECT id, content, country, embedding, 1 - (embedding <=> %(q)s) AS similarity "
                "FROM cities WHERE country = %(country)s ORDER BY embedding <=> %(q)s LIMIT %(k)s",
                {"q": np.array([0.0, 1.0, 0.0]), "country": "de", "k": 3},
            )
            first = cursor.fetchone()
    assert first is not None and first[0] == 3
    [span] = retrievals(read_run(ctx.run_id))
    assert span["name"] == "pgvector.cosine_distance"
    assert span["output"] == {
        "documents": [
            {
                "id": "3",
                "score": 1.0,
                "content": "Berlin is the capital of Germany.",
                "metadata": {"country": "de"},  # the embedding is not copied into the record
            }
        ]
    }
    attributes = span["attributes"]
    assert (attributes["score_kind"], attributes["top_k"], attributes["filtered"]) == ("similarity", 3, True)


def test_inner_product_without_a_selected_score_and_content_off(
    instrumented: Any, database: str, read_run: Any
) -> None:
    with (
        psycopg.connect(database) as conn,
        WaxellContext(agent_name="pgvector-ip", enforce_policy=False) as ctx,
    ):
        rows = conn.execute(
            "SELECT id, content FROM cities ORDER BY embedding <#> '[0,0,1]' LIMIT 1"
        ).fetchall()
    assert rows == [(4, "Rome is the capital of Italy.")]
    [span] = retrievals(read_run(ctx.run_id))
    assert span["name"] == "pgvector.max_inner_product"
    assert span["input"] == {"query": "[vector of 3 dimensions]"}
    assert span["output"] == {"documents": [{"id": "4"}]}
    assert "scores" not in span["attributes"]


def test_a_failed_search_is_an_error_span(instrumented: Any, database: str, read_run: Any) -> None:
    with psycopg.connect(database) as conn:
        register_vector(conn)
        with (
            pytest.raises(psycopg.errors.DataException, match="different vector dimensions") as raised,
            WaxellContext(agent_name="pgvector-error", enforce_policy=False) as ctx,
        ):
            conn.execute("SELECT id FROM cities ORDER BY embedding <-> %s LIMIT 1", (np.array([1.0, 0.0]),))
    [span] = retrievals(read_run(ctx.run_id))
    assert (span["name"], span["status"]) == ("pgvector.l2_distance", "error")
    assert span["error"] == f"{type(raised.value).__name__}: {raised.value}"
    assert span["input"] == {"query": "[vector of 2 dimensions]"}
    assert span["output"] is None


async def test_the_async_cursor_is_captured(instrumented: Any, database: str, read_run: Any) -> None:
    async with await psycopg.AsyncConnection.connect(database) as conn:
        await register_vector_async(conn)
        async with WaxellContext(agent_name="pgvector-async", enforce_policy=False) as ctx:
            cursor = await conn.execute(
                "SELECT id, embedding <-> %s FROM cities ORDER BY 2 LIMIT 3", (np.array(QUERY_VECTOR),)
            )
            rows = await cursor.fetchall()
    assert [row[0] for row in rows] == [1, 2, 3]
    [span] = retrievals(read_run(ctx.run_id))
    assert [d["id"] for d in span["output"]["documents"]] == ["1", "2", "3"]
    assert span["attributes"]["scores"] == [row[1] for row in rows]
    assert span["attributes"]["top_k"] == 3


def test_sqlalchemy_with_pgvector_types_is_captured(instrumented: Any, database: str, read_run: Any) -> None:
    from pgvector.sqlalchemy import Vector
    from sqlalchemy import BigInteger, Column, MetaData, String, Table, create_engine, select

    table = Table(
        "cities",
        MetaData(),
        Column("id", BigInteger, primary_key=True),
        Column("content", String),
        Column("embedding", Vector(3)),
    )
    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://"))
    distance = table.c.embedding.cosine_distance(QUERY_VECTOR)
    with engine.connect() as conn, WaxellContext(agent_name="pgvector-orm", enforce_policy=False) as ctx:
        rows = conn.execute(select(table.c.id, distance.label("distance")).order_by(distance).limit(2)).all()
    engine.dispose()
    assert [row.id for row in rows] == [1, 2]
    [span] = retrievals(read_run(ctx.run_id))
    assert span["name"] == "pgvector.cosine_distance"
    assert span["input"] == {"query": "[vector of 3 dimensions]"}
    assert span["attributes"]["top_k"] == 2
    assert span["attributes"]["scores"] == [row.distance for row in rows]


async def test_async_sqlalchemy_is_captured_and_still_gets_every_row(
    instrumented: Any, database: str, read_run: Any
) -> None:
    from pgvector.sqlalchemy import Vector
    from sqlalchemy import BigInteger, Column, MetaData, String, Table, select
    from sqlalchemy.ext.asyncio import create_async_engine

    table = Table(
        "cities",
        MetaData(),
        Column("id", BigInteger, primary_key=True),
        Column("content", String),
        Column("embedding", Vector(3)),
    )
    engine = create_async_engine(database.replace("postgresql://", "postgresql+psycopg://"))
    distance = table.c.embedding.l2_distance([0.0, 1.0, 0.0])
    async with (
        engine.connect() as conn,
        WaxellContext(agent_name="pgvector-aorm", enforce_policy=False) as ctx,
    ):
        result = await conn.execute(
            select(table.c.id, table.c.content, distance.label("distance")).order_by(distance).limit(3)
        )
        rows = result.all()
    await engine.dispose()
    assert [row.id for row in rows] == [3, 2, 1]
    [span] = retrievals(read_run(ctx.run_id))
    assert span["name"] == "pgvector.l2_distance"
    assert [d["id"] for d in span["output"]["documents"]] == ["3", "2", "1"]
    assert span["attributes"]["scores"] == [row.distance for row in rows]
    assert "content" not in span["output"]["documents"][0]  # capture_content is off


def test_a_retrieval_policy_refuses_what_a_search_found(
    instrumented: Any, database: str, read_run: Any
) -> None:
    from waxell_observe.config import get_config
    from waxell_observe.errors import PolicyViolationError
    from waxell_observe.governance import load_policies
    from waxell_observe.governance.policy_store import add_policies
    from waxell_observe.store import get_store

    policy = """
policies:
  - name: one-chunk-at-most
    category: retrieval
    rules: {max_chunks: 1, action: block}
"""
    add_policies(get_store(get_config().db_url), load_policies(policy))
    with psycopg.connect(database) as conn:
        register_vector(conn)
        with (
            pytest.raises(PolicyViolationError) as raised,
            WaxellContext(agent_name="pgvector-governed") as ctx,
        ):
            conn.execute("SELECT id FROM cities ORDER BY embedding <-> %s LIMIT 2", (np.array(QUERY_VECTOR),))
    run = read_run(ctx.run_id)
    [span] = retrievals(run)
    assert [d["id"] for d in span["output"]["documents"]] == ["1", "2"]  # recorded, then refused
    assert run["status"] == "blocked"
    assert str(raised.value) == "Too many chunks retrieved: 2 (max_chunks 1)"


def test_psycopg_imported_after_init_is_captured(database: str, tmp_path: Path) -> None:
    program = textwrap.dedent(
        f"""
        import json, sys
        import waxell_observe
        waxell_observe.init(instrument=["pgvector"])
        assert "psycopg" not in sys.modules
        import psycopg
        from waxell_observe import WaxellContext
        from waxell_observe.config import get_config
        from waxell_observe.store import get_store
        from waxell_observe.store.reader import get_run
        conn = psycopg.connect({database!r})
        with WaxellContext(agent_name="late", enforce_policy=False) as ctx:
            conn.execute("SELECT id FROM cities ORDER BY embedding <=> '[1,0,0]' LIMIT 1").fetchall()
        conn.close()
        waxell_observe.flush_sync(timeout=30)
        with get_store(get_config().db_url).read() as store:
            spans = get_run(store, ctx.run_id)["spans"]
        print(json.dumps([[s["name"], s["output"]] for s in spans if s["kind"] == "retrieval"]))
        """
    )
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
        '[["pgvector.cosine_distance", {"documents": [{"id": "1"}]}]]'
    )

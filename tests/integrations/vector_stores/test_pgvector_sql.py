"""How the pgvector integration reads a similarity search out of SQL text and its parameters (every form
the docs promise, and statements that are not searches)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pgvector import SparseVector, Vector
from waxell_observe_pgvector._sql import SimilarityQuery, read_similarity_query

VECTOR = np.array([1.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("sql", "params", "expected"),
    [
        (
            "SELECT id, embedding <-> %s AS distance FROM items ORDER BY distance LIMIT 5",
            (VECTOR,),
            SimilarityQuery(
                "l2_distance", "[vector of 3 dimensions]", 5, "items", False, "distance", "distance"
            ),
        ),
        (
            "SELECT id, embedding <=> %s FROM items ORDER BY 2 LIMIT %s",
            ([0.1, 0.2], 7),
            SimilarityQuery(
                "cosine_distance", "[vector of 2 dimensions]", 7, "items", False, "?column?", "distance"
            ),
        ),
        (
            "select d.id, 1 - (d.embedding <=> %(q)s) as similarity from public.docs d "
            "where d.tenant = %(t)s order by d.embedding <=> %(q)s limit %(k)s",
            {"q": Vector([1, 2, 3, 4]), "t": "acme", "k": 3},
            SimilarityQuery(
                "cosine_distance",
                "[vector of 4 dimensions]",
                3,
                "public.docs",
                True,
                "similarity",
                "similarity",
            ),
        ),
        (
            "SELECT id, (embedding <#> %s) * -1 AS inner_product FROM items "
            "ORDER BY embedding <#> %s LIMIT 1",
            (VECTOR, VECTOR),
            SimilarityQuery(
                "max_inner_product",
                "[vector of 3 dimensions]",
                1,
                "items",
                False,
                "inner_product",
                "similarity",
            ),
        ),
        (
            # SQLAlchemy's psycopg dialect with pgvector's Vector type: the vector goes as text
            "SELECT items.id FROM items "
            "ORDER BY items.embedding <+> %(embedding_1)s LIMIT %(param_1)s::INTEGER",
            {"embedding_1": "[1.0,0.0,0.0]", "param_1": 4},
            SimilarityQuery("l1_distance", "[vector of 3 dimensions]", 4, "items", False, None, "distance"),
        ),
        (
            "SELECT id FROM items ORDER BY embedding <-> '[3,1,2]' FETCH FIRST 2 ROWS ONLY",
            None,
            SimilarityQuery("l2_distance", "[vector of 3 dimensions]", 2, "items", False, None, "distance"),
        ),
        (
            "SELECT id FROM items ORDER BY %s <-> embedding LIMIT 3",
            (VECTOR,),
            SimilarityQuery("l2_distance", "[vector of 3 dimensions]", 3, "items", False, None, "distance"),
        ),
        (
            "SELECT id FROM items ORDER BY embedding <~> %s LIMIT 5",
            ("101",),
            SimilarityQuery(
                "hamming_distance", "[bit vector of 3 bits]", 5, "items", False, None, "distance"
            ),
        ),
        (
            "SELECT id FROM items ORDER BY embedding <%> %s",
            ("1100",),
            SimilarityQuery(
                "jaccard_distance", "[bit vector of 4 bits]", None, "items", False, None, "distance"
            ),
        ),
        (
            "SELECT id FROM items ORDER BY embedding <-> %s LIMIT 5",
            (SparseVector({0: 1.0, 7: 2.0}, 1000),),
            SimilarityQuery(
                "l2_distance", "[vector of 1000 dimensions]", 5, "items", False, None, "distance"
            ),
        ),
        (
            "SELECT id FROM items WHERE id != 1 "
            "ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 1) LIMIT 5",
            None,
            SimilarityQuery(
                "l2_distance",
                "[(SELECT embedding FROM items WHERE id = 1)]",
                5,
                "items",
                True,
                None,
                "distance",
            ),
        ),
        (
            'SELECT "id", "embedding" <-> %s "dist" FROM "My Items" ORDER BY "dist" LIMIT 2',
            (VECTOR,),
            SimilarityQuery(
                "l2_distance", "[vector of 3 dimensions]", 2, "My Items", False, "dist", "distance"
            ),
        ),
    ],
)
def test_a_similarity_search_is_read(sql: str, params: Any, expected: SimilarityQuery) -> None:
    assert read_similarity_query(sql, params) == expected


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT * FROM items ORDER BY id LIMIT 5", None),
        ("SELECT id FROM items WHERE embedding <-> %s < 0.5", (VECTOR,)),  # a distance filter, not a ranking
        ("INSERT INTO items (embedding) VALUES (%s)", (VECTOR,)),
        ("SELECT id, embedding <-> %s AS d FROM items ORDER BY id", (VECTOR,)),  # ranked by something else
        (
            "UPDATE items SET rank = 1 WHERE id IN (SELECT id FROM items ORDER BY embedding <-> %s LIMIT 1)",
            (VECTOR,),
        ),
        ("SELECT 'a <-> b' ORDER BY 1", None),
    ],
)
def test_other_statements_are_not_searches(sql: str, params: Any) -> None:
    assert read_similarity_query(sql, params) is None

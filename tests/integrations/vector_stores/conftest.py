"""Fixtures of the vector store integration tests: a tiny corpus with hand-made embeddings.

Every store gets the same four documents in a 3-dimensional space, so a query's nearest
neighbours (and their exact distances) are known in advance.
"""

from __future__ import annotations

from typing import Any

import pytest

DOCUMENTS: dict[str, tuple[str, list[float], dict[str, Any]]] = {
    "paris": ("Paris is the capital of France.", [1.0, 0.0, 0.0], {"country": "fr"}),
    "lyon": ("Lyon is a city in France.", [0.9, 0.1, 0.0], {"country": "fr"}),
    "berlin": ("Berlin is the capital of Germany.", [0.0, 1.0, 0.0], {"country": "de"}),
    "rome": ("Rome is the capital of Italy.", [0.0, 0.0, 1.0], {"country": "it"}),
}
"""id -> (text, embedding, metadata)."""

QUERY_VECTOR = [1.0, 0.0, 0.0]


def retrievals(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's retrieval spans, in order."""
    return [span for span in run["spans"] if span["kind"] == "retrieval"]


@pytest.fixture
def corpus() -> dict[str, tuple[str, list[float], dict[str, Any]]]:
    return DOCUMENTS

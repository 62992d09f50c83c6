"""Fixtures for the LlamaIndex integration tests: an index, the handlers attached, LlamaIndex's own span
log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler

from waxell_observe.integrations.llamaindex import instrument, uninstrument

DOCUMENTS = [
    "Paris is the capital of France.",
    "Berlin is the capital of Germany.",
    "Rome is the capital of Italy.",
]


@pytest.fixture(scope="session")
def index() -> VectorStoreIndex:
    """Built before any handler is attached (nothing recorded), shared by the tests."""
    docs = [Document(text=text, id_=f"doc-{i}") for i, text in enumerate(DOCUMENTS)]
    return VectorStoreIndex.from_documents(docs, embed_model=MockEmbedding(embed_dim=8))


@pytest.fixture
def attached() -> Iterator[None]:
    """waxell-observe's handlers on the root dispatcher for one test."""
    assert instrument() is True
    yield
    uninstrument()


class EventLog(BaseEventHandler):
    """What LlamaIndex itself reports: every event, in order."""

    events: list[Any] = []

    @classmethod
    def class_name(cls) -> str:
        return "EventLog"

    def handle(self, event: Any, **kwargs: Any) -> None:
        self.events.append(event)


@pytest.fixture
def framework_log() -> Iterator[tuple[SimpleSpanHandler, EventLog]]:
    """LlamaIndex's own record of a test: its spans (with parents) and its events."""
    dispatcher = get_dispatcher()
    spans = SimpleSpanHandler()
    events = EventLog(events=[])
    dispatcher.add_span_handler(spans)
    dispatcher.add_event_handler(events)
    yield spans, events
    dispatcher.span_handlers = [h for h in dispatcher.span_handlers if h is not spans]
    dispatcher.event_handlers = [h for h in dispatcher.event_handlers if h is not events]


@pytest.fixture(autouse=True)
def no_framework_mark_left() -> Iterator[None]:
    """Every model call's framework mark is removed when the call ends."""
    from waxell_observe import integration_api

    yield
    assert integration_api.framework_call_active() == ""

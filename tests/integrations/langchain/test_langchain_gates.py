"""LangChain and the surface gates: a refused tool never runs (``tool.before`` in the tool start raises,
LangChain re-raises it), and retrieved documents pass ``retrieval.after``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.tools import tool
from waxell_observe_langchain import WaxellLangChainHandler

from integrations.langchain.chains import CapitalsRetriever
from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store

ran: list[str] = []


@tool
def drop_table(name: str) -> str:
    """Drop a database table."""
    ran.append(name)
    return "dropped"


@pytest.fixture(autouse=True)
def _fresh_gates() -> Iterator[None]:
    forget()
    ran.clear()
    yield
    forget()


def add(text: str) -> None:
    add_policies(get_store(get_config().db_url), load_policies(text))


def test_a_refused_tool_does_not_run(read_run: Any) -> None:
    add("policies:\n  - {name: no-drop, category: tool-allowlist, rules: {blocked_tools: [drop_table]}}\n")
    handler = WaxellLangChainHandler(agent_name="unused")
    with (
        pytest.raises(PolicyViolationError, match="drop_table"),
        WaxellContext(agent_name="gate-langchain") as ctx,
    ):
        drop_table.invoke({"name": "users"}, config={"callbacks": [handler]})
    assert ran == []
    run = read_run(ctx.run_id)
    [tool_span] = [s for s in run["spans"] if s["kind"] == "tool"]
    assert (tool_span["name"], tool_span["status"]) == ("drop_table", "error")
    policy = [
        (s["name"], s["attributes"]["metadata"]["surface"]) for s in run["spans"] if s["kind"] == "policy"
    ]
    assert policy == [("no-drop", "tool.before")]
    assert run["status"] == "blocked"


def test_retrieved_documents_pass_the_retrieval_gate(read_run: Any) -> None:
    add("policies:\n  - {name: enough, category: retrieval, rules: {min_chunks: 3}}\n")
    handler = WaxellLangChainHandler(agent_name="unused")
    with WaxellContext(agent_name="gate-langchain-rag") as ctx:
        documents = CapitalsRetriever().invoke("capital of France?", config={"callbacks": [handler]})
        feedback = ctx.take_feedback()
    assert len(documents) == 2
    assert [(f["surface"], f["policy"], f["category"]) for f in feedback] == [
        ("retrieval.after", "enough", "retrieval")
    ]
    policy = [s["attributes"]["action"] for s in read_run(ctx.run_id)["spans"] if s["kind"] == "policy"]
    assert policy == ["warn"]

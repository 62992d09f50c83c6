"""LlamaIndex and the surface gates: ``FunctionTool.call``/``acall`` pass ``tool.before`` (a refused tool
never runs), retrievers' nodes pass ``retrieval.after``; both as patches applied by ``instrument()``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.tools import FunctionTool

from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store

ran: list[str] = []


def transfer(account: str, amount: int) -> str:
    """Move money."""
    ran.append(f"{account}:{amount}")
    return "ok"


def balance(account: str) -> int:
    """Read a balance."""
    ran.append(account)
    return 10


@pytest.fixture(autouse=True)
def _fresh_gates() -> Iterator[None]:
    forget()
    ran.clear()
    yield
    forget()


def add(text: str) -> None:
    add_policies(get_store(get_config().db_url), load_policies(text))


def test_a_refused_function_tool_does_not_run(attached: None, read_run: Any) -> None:
    add("policies:\n  - {name: no-transfer, category: tool-allowlist, rules: {blocked_tools: [transfer]}}\n")
    tools = [FunctionTool.from_defaults(fn=transfer), FunctionTool.from_defaults(fn=balance)]
    with WaxellContext(agent_name="gate-llamaindex") as ctx:
        assert tools[1].call(account="a1").raw_output == 10
        with pytest.raises(PolicyViolationError, match="transfer"):
            tools[0].call(account="a1", amount=5)
        with pytest.raises(PolicyViolationError, match="transfer"):
            asyncio.run(tools[0].acall(account="a1", amount=6))
    assert ran == ["a1"]
    policy = [
        s["attributes"]["metadata"]["surface"] for s in read_run(ctx.run_id)["spans"] if s["kind"] == "policy"
    ]
    assert policy == ["tool.before", "tool.before"]  # each call is asked on its own merits


def test_retrieved_nodes_pass_the_retrieval_gate(attached: None, index: VectorStoreIndex) -> None:
    add(
        "policies:\n  - name: few\n    category: retrieval\n"
        "    rules: {max_chunks: 1, action_on_violation: block}\n"
    )
    with WaxellContext(agent_name="gate-llamaindex-rag"), pytest.raises(PolicyViolationError):
        index.as_retriever(similarity_top_k=2).retrieve("capital of France?")


def test_without_instrumentation_nothing_is_gated() -> None:
    add("policies:\n  - {name: no-transfer, category: tool-allowlist, rules: {blocked_tools: [transfer]}}\n")
    with WaxellContext(agent_name="gate-llamaindex-off"):
        assert FunctionTool.from_defaults(fn=transfer).call(account="a2", amount=1).raw_output == "ok"
    assert ran == ["a2:1"]

"""LlamaIndex and the surface gates: every LLM call passes ``llm.before`` (a refused LLM is never called,
streams and async included), ``FunctionTool.call``/``acall`` pass ``tool.before`` (a refused tool never
runs), retrievers' nodes pass ``retrieval.after``; all as patches applied by ``instrument()``."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage, CompletionResponse
from llama_index.core.llms import MockLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.tools import FunctionTool

from waxell_observe import WaxellContext, integration_api
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.instrumentation.gate_once import held
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


# -- llm.before: every LLM class, before the model is called -----------------------------------------------

asked: list[str] = []


class CountingMock(MockLLM):
    """``MockLLM`` noting each prompt it answers (its ``chat`` calls ``complete``: one call, two methods)."""

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        asked.append(prompt)
        return super().complete(prompt, formatted, **kwargs)


def _gate_spans(run: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (s["attributes"]["metadata"]["surface"], s["name"], s["attributes"]["action"])
        for s in run["spans"]
        if s["kind"] == "policy"
    ]


MOCK_BLOCKED = "policies:\n  - {name: models, category: llm, rules: {blocked_models: [MockLLM]}}\n"
"""Refuses the model LlamaIndex names ``MockLLM`` (the class name its subclasses report too)."""


@pytest.mark.parametrize("how", ["complete", "chat", "achat", "stream_complete", "astream_chat"])
def test_a_refused_llm_is_never_called(how: str, attached: None, read_run: Any) -> None:
    add(MOCK_BLOCKED)
    asked.clear()
    llm = CountingMock(max_tokens=8)
    message = [ChatMessage(role="user", content="hi there")]

    async def run_async() -> None:
        if how == "achat":
            await llm.achat(message)
        else:
            async for _ in await llm.astream_chat(message):
                pass

    with (
        pytest.raises(PolicyViolationError, match="MockLLM") as refused,
        WaxellContext(agent_name="gate-llamaindex-llm") as ctx,
    ):
        if how == "complete":
            llm.complete("hi there")
        elif how == "chat":
            llm.chat(message)
        elif how == "stream_complete":
            list(llm.stream_complete("hi there"))
        else:
            asyncio.run(run_async())
    assert asked == []
    assert refused.value.run_id == ctx.run_id
    run = read_run(ctx.run_id)
    assert (run["llm_calls"], _gate_spans(run)) == ([], [("llm.before", "models", "block")])
    assert run["status"] == "blocked"
    assert not held("llm.before", "MockLLM")


def test_an_allowed_llm_answers_and_is_asked_once(attached: None, read_run: Any) -> None:
    add(
        "policies:\n  - {name: size, category: llm,"
        " rules: {max_tokens_per_call: 5, action_on_token_violation: warn}}\n"
    )
    asked.clear()
    with WaxellContext(agent_name="gate-llamaindex-llm-ok") as ctx:
        reply = CountingMock(max_tokens=8).chat([ChatMessage(role="user", content="hi there")])
        feedback = ctx.take_feedback()
    assert reply.message.content is not None and asked == ["user: hi there\nassistant: "]
    assert [(f["surface"], f["policy"]) for f in feedback] == [("llm.before", "size")]  # chat, not complete
    run = read_run(ctx.run_id)
    assert _gate_spans(run) == [("llm.before", "size", "warn")]
    assert [c["model"] for c in run["llm_calls"]] == ["MockLLM"]
    assert not held("llm.before", "MockLLM")


def test_without_instrumentation_no_llm_is_gated() -> None:
    add(MOCK_BLOCKED)
    asked.clear()
    with WaxellContext(agent_name="gate-llamaindex-llm-off", enforce_policy=True):
        assert CountingMock(max_tokens=8).complete("hi").text
    assert asked == ["hi"]


def test_an_unconsumed_stream_releases_its_hold_when_collected(attached: None) -> None:
    add(
        "policies:\n  - {name: size, category: llm,"
        " rules: {max_tokens_per_call: 500, action_on_token_violation: warn}}\n"
    )
    with WaxellContext(agent_name="gate-llamaindex-stream"):
        consumed = CountingMock(max_tokens=8).stream_complete("hi there")
        assert held("llm.before", "MockLLM")  # the call holds llm.before until its stream ends
        assert list(consumed)[-1].text
        assert not held("llm.before", "MockLLM")
        previous = integration_api.framework_call_active()
        stream = CountingMock(max_tokens=8).stream_complete("hi there")
        assert held("llm.before", "MockLLM")
        del stream
        gc.collect()
        assert not held("llm.before", "MockLLM")  # never consumed: the hold ends with the stream
    # (the recording's framework mark of a stream never consumed stays until the next LlamaIndex call
    # finds it stale; the fixture checks every test leaves none)
    integration_api.end_framework_call(previous)

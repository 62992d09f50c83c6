"""The real ``openai`` client and the surface gates: ``llm.before`` refuses a request before it leaves (the
stub provider sees nothing), and the tool calls a response asks for pass ``tool.before`` before the agent
gets them (a refused one raises, so the agent's follow-up request is never made)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from integrations.openai import payloads as p
from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store

MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {}}}},
}


@pytest.fixture(autouse=True)
def _fresh_gates() -> Iterator[None]:
    forget()
    yield
    forget()


def add(text: str) -> None:
    add_policies(get_store(get_config().db_url), load_policies(text))


def gate_spans(run: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (s["attributes"]["metadata"]["surface"], s["name"], s["attributes"]["action"])
        for s in run["spans"]
        if s["kind"] == "policy" and "surface" in (s["attributes"].get("metadata") or {})
    ]


def test_a_refused_model_is_never_requested(client: Any, stub: Any, read_run: Any) -> None:
    add("policies:\n  - {name: models, category: llm, rules: {blocked_models: [o1-preview]}}\n")
    stub.reply_json(p.completion("gpt-4o-mini", "Sunny.", usage_=p.usage(10, 2)))
    with WaxellContext(agent_name="gate-openai") as ctx:
        with pytest.raises(PolicyViolationError, match="o1-preview"):
            client.chat.completions.create(model="o1-preview", messages=MESSAGES)
        assert stub.requests == []  # refused before the HTTP request was made
    assert ctx.should_stop()
    run = read_run(ctx.run_id)
    assert run["llm_calls"] == []
    assert gate_spans(run) == [("llm.before", "models", "block")]
    assert run["status"] == "blocked"


def test_an_allowed_model_is_requested_once(client: Any, stub: Any, read_run: Any) -> None:
    add("policies:\n  - {name: models, category: llm, rules: {blocked_models: [o1-preview]}}\n")
    stub.reply_json(p.completion("gpt-4o-mini-2024-07-18", "Sunny.", usage_=p.usage(10, 2)))
    with WaxellContext(agent_name="gate-openai-ok") as ctx:
        answer = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert answer.choices[0].message.content == "Sunny."
    assert [r.path for r in stub.requests] == ["/v1/chat/completions"]
    run = read_run(ctx.run_id)
    assert run["status"] == "success" and gate_spans(run) == []


def test_too_many_projected_tokens_are_refused(client: Any, stub: Any) -> None:
    add(
        "policies:\n  - name: size\n    category: llm\n"
        "    rules: {max_tokens_per_call: 100, action_on_token_violation: block}\n"
    )
    with (
        WaxellContext(agent_name="gate-openai-size"),
        pytest.raises(PolicyViolationError, match="Token limit"),
    ):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=500)
    assert stub.requests == []


def test_a_refused_tool_call_never_reaches_the_agent(client: Any, stub: Any, read_run: Any) -> None:
    add("policies:\n  - {name: tools, category: tool-allowlist, rules: {blocked_tools: [delete_account]}}\n")
    stub.reply_json(
        p.completion(
            "gpt-4o-mini",
            None,
            usage_=p.usage(20, 5),
            finish_reason="tool_calls",
            tool_calls=[p.tool_call("call_1", "delete_account", '{"user": "42"}')],
        )
    )
    ran: list[str] = []
    with WaxellContext(agent_name="gate-openai-tools") as ctx:
        messages: list[Any] = list(MESSAGES)
        with pytest.raises(PolicyViolationError, match="delete_account"):
            for _ in range(2):  # an agent loop: call the model, run the tools it asks for, repeat
                reply = client.chat.completions.create(
                    model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL]
                )
                for call in reply.choices[0].message.tool_calls or []:
                    ran.append(call.function.name)
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": "done"})
    assert ran == []
    assert len(stub.requests) == 1  # the follow-up request with the tool's result never left
    run = read_run(ctx.run_id)
    assert len(run["llm_calls"]) == 1  # the call that asked for the tool is recorded
    assert gate_spans(run) == [("tool.before", "tools", "block")]


def test_allowed_tool_calls_are_handed_over(client: Any, stub: Any) -> None:
    add("policies:\n  - {name: tools, category: tool-allowlist, rules: {blocked_tools: [delete_account]}}\n")
    stub.reply_json(
        p.completion(
            "gpt-4o-mini",
            None,
            usage_=p.usage(20, 5),
            finish_reason="tool_calls",
            tool_calls=[p.tool_call("call_1", "get_weather", '{"city": "Paris"}')],
        )
    )
    with WaxellContext(agent_name="gate-openai-tools-ok"):
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=[WEATHER_TOOL])
    assert [c.function.name for c in reply.choices[0].message.tool_calls] == ["get_weather"]


def test_async_client_is_refused_before_the_request(aclient: Any, stub: Any) -> None:
    add("policies:\n  - {name: models, category: llm, rules: {blocked_models: [o1-preview]}}\n")

    async def main() -> None:
        async with WaxellContext(agent_name="gate-openai-async"):
            await aclient.chat.completions.create(model="o1-preview", messages=MESSAGES)

    with pytest.raises(PolicyViolationError):
        asyncio.run(main())
    assert stub.requests == []

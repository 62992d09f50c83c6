"""A real LlamaIndex ``OpenAI`` LLM against a stub OpenAI server: tokens and cost as the server sent them."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.llms import ChatMessage
from llama_index.llms.openai import OpenAI

from integrations.llm_stub import ChatReply, StubLLMServer
from waxell_observe import WaxellContext


@pytest.fixture
def stub() -> Iterator[StubLLMServer]:
    with StubLLMServer() as server:
        server.answer_chat()
        yield server


def _llm(stub: StubLLMServer, **options: Any) -> OpenAI:
    return OpenAI(
        model="gpt-4o-mini", api_base=stub.openai_base_url, api_key="sk-test", max_retries=0, **options
    )


MESSAGES = [
    ChatMessage(role="system", content="Be brief."),
    ChatMessage(role="user", content="Capital of France?"),
]


def test_chat_tokens_and_cost_come_from_the_usage_block(
    stub: StubLLMServer, attached: None, read_run: Any
) -> None:
    stub.answer_chat(ChatReply(prompt_tokens=31, completion_tokens=9))
    with WaxellContext(agent_name="li-openai", enforce_policy=False) as ctx:
        reply = _llm(stub).chat(MESSAGES)
    assert reply.message.content == "Paris is the capital of France."
    run = read_run(ctx.run_id)
    [call] = run["llm_calls"]
    assert {
        k: call[k]
        for k in (
            "model",
            "provider",
            "tokens_in",
            "tokens_out",
            "cost",
            "status",
            "prompt_preview",
            "response_preview",
        )
    } == {
        "model": "gpt-4o-mini-2024-07-18",
        "provider": "openai",
        "tokens_in": 31,
        "tokens_out": 9,
        "cost": 1.005e-05,  # 31 x $0.15/M + 9 x $0.60/M
        "status": "ok",
        "prompt_preview": "system: Be brief.\nuser: Capital of France?",
        "response_preview": "Paris is the capital of France.",
    }
    assert call["attributes"]["finish_reason"] == "stop"
    assert call["attributes"]["request_model"] == "gpt-4o-mini"
    assert (run["conversation"]["user_turns"], run["conversation"]["tokens_in_context"]) == (1, 31)


def test_completion_with_cached_tokens(stub: StubLLMServer, attached: None, read_run: Any) -> None:
    stub.answer_chat(ChatReply(content="Rome.", prompt_tokens=1500, completion_tokens=2, cached_tokens=1024))
    with WaxellContext(agent_name="li-openai-cached", enforce_policy=False) as ctx:
        assert _llm(stub).complete("Capital of Italy?").text == "Rome."
    [call] = read_run(ctx.run_id)["llm_calls"]
    assert (call["tokens_in"], call["tokens_out"], call["attributes"]["cached_tokens_in"]) == (1500, 2, 1024)
    assert call["cost"] == 0.0001494  # 476 x $0.15/M + 1024 x $0.075/M + 2 x $0.60/M


def test_a_stream_is_recorded_when_consumed_with_the_final_usage(
    stub: StubLLMServer, attached: None, read_run: Any
) -> None:
    stub.answer_chat(
        ChatReply(content="Paris.", chunks=["Par", "is", "."], prompt_tokens=17, completion_tokens=3)
    )
    llm = _llm(stub, additional_kwargs={"stream_options": {"include_usage": True}})
    with WaxellContext(agent_name="li-openai-stream", enforce_policy=False) as ctx:
        stream = llm.stream_chat(MESSAGES)
        assert ctx.run.llm_call_count == 0
        text = "".join(r.delta or "" for r in stream)
    assert text == "Paris."
    assert stub.requests[0].body["stream_options"] == {"include_usage": True}
    [call] = read_run(ctx.run_id)["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["cost"], call["response_preview"]) == (
        "gpt-4o-mini-2024-07-18",
        17,
        3,
        4.35e-06,
        "Paris.",
    )
    assert call["attributes"]["streamed"] is True


def test_with_the_openai_integration_too_each_request_is_recorded_once(
    stub: StubLLMServer, read_run: Any
) -> None:
    from waxell_observe.initialization import _reset_for_tests, init
    from waxell_observe.plugins import plugin_manager

    if importlib.util.find_spec("waxell_observe_openai") is None:  # plugins load lazily: ask the package
        pytest.skip("the OpenAI integration is not installed")
    _reset_for_tests()
    try:
        init(instrument=["openai", "llamaindex"])
        with WaxellContext(agent_name="both-integrations", enforce_policy=False) as ctx:
            _llm(stub).chat(MESSAGES)  # recorded by LlamaIndex, not again by OpenAI
            text = "".join(r.delta or "" for r in _llm(stub).stream_complete("go"))
            import openai

            client = openai.OpenAI(base_url=stub.openai_base_url, api_key="sk-test", max_retries=0)
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "direct"}]
            )
    finally:
        plugin_manager().hook.on_uninstrument(libraries=frozenset({"openai", "llamaindex"}))
        _reset_for_tests()
    assert text == "Paris is the capital of France."
    calls = read_run(ctx.run_id)["llm_calls"]
    assert [(c["tokens_in"], c["attributes"].get("framework")) for c in calls] == [
        (23, "llamaindex"),
        (0, "llamaindex"),  # a stream without stream_options: the server sends no usage
        (23, None),  # the direct SDK call, recorded by the OpenAI integration
    ]


# -- llm.before with the openai SDK instrumented too: asked once, before the request leaves ---------------

SIZE_WARN = (
    "policies:\n  - {name: size, category: llm,"
    " rules: {max_tokens_per_call: 100, action_on_token_violation: warn}}\n"
)
"""Warns at ``llm.before`` for a request asking up to 500 tokens back (not at ``llm.after``: 14 were used)."""


@pytest.fixture
def both() -> Iterator[None]:
    """LlamaIndex and the openai SDK instrumented: both see each request of ``llama_index.llms.openai``."""
    from waxell_observe.gating import forget
    from waxell_observe.initialization import _reset_for_tests, init
    from waxell_observe.plugins import plugin_manager

    forget()
    _reset_for_tests()
    init(instrument=["openai", "llamaindex"])
    yield
    plugin_manager().hook.on_uninstrument(libraries=frozenset({"openai", "llamaindex"}))
    _reset_for_tests()
    forget()


def _add(text: str) -> None:
    from waxell_observe.config import get_config
    from waxell_observe.governance import load_policies
    from waxell_observe.governance.policy_store import add_policies
    from waxell_observe.store import get_store

    add_policies(get_store(get_config().db_url), load_policies(text))


def _gate_spans(run: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (s["attributes"]["metadata"]["surface"], s["name"], s["attributes"]["action"])
        for s in run["spans"]
        if s["kind"] == "policy"
    ]


def test_a_refused_model_never_reaches_the_server(stub: StubLLMServer, both: None, read_run: Any) -> None:
    from waxell_observe.errors import PolicyViolationError

    _add("policies:\n  - {name: models, category: llm, rules: {blocked_models: [o1-preview]}}\n")
    llm = OpenAI(model="o1-preview", api_base=stub.openai_base_url, api_key="sk-test", max_retries=0)
    with pytest.raises(PolicyViolationError, match="o1-preview"), WaxellContext(agent_name="li-gate") as ctx:
        llm.chat(MESSAGES)
    assert stub.requests == []
    run = read_run(ctx.run_id)
    assert (run["llm_calls"], _gate_spans(run), run["status"]) == (
        [],
        [("llm.before", "models", "block")],
        "blocked",
    )


@pytest.mark.parametrize("streamed", [False, True])
def test_a_warning_is_given_once_per_call(
    streamed: bool, stub: StubLLMServer, both: None, read_run: Any
) -> None:
    """LlamaIndex's gate and the openai SDK's wrapper both see the request: the policy is asked once."""
    _add(SIZE_WARN)
    reply = ChatReply(content="Paris.", chunks=["Par", "is."], prompt_tokens=12, completion_tokens=2)
    stub.answer_chat(reply)
    llm = _llm(stub, max_tokens=500)
    with WaxellContext(agent_name="li-gate-warn") as ctx:
        if streamed:
            text = "".join(r.delta or "" for r in llm.stream_chat(MESSAGES))
        else:
            text = llm.chat(MESSAGES).message.content or ""
        feedback = ctx.take_feedback()
    assert text == "Paris."
    assert len(stub.requests) == 1
    assert [(f["surface"], f["policy"]) for f in feedback] == [("llm.before", "size")]
    run = read_run(ctx.run_id)
    assert _gate_spans(run) == [("llm.before", "size", "warn")]
    assert len(run["llm_calls"]) == 1

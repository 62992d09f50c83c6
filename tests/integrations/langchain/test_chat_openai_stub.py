"""A real ChatOpenAI against a stub OpenAI server: tokens and cost are what the server sent."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

from integrations.llm_stub import ChatReply, StubLLMServer
from waxell_observe import WaxellContext
from waxell_observe.integrations.langchain import WaxellLangChainHandler
from waxell_observe.pricing import estimate_cost

QUESTION = "What is the capital of France?"


@pytest.fixture
def stub() -> Iterator[StubLLMServer]:
    with StubLLMServer() as server:
        server.answer_chat()
        yield server


def _chain(stub: StubLLMServer, **options: Any) -> Any:
    model = ChatOpenAI(
        model="gpt-4o-mini",
        base_url=stub.openai_base_url,
        api_key="sk-test",
        max_retries=0,
        temperature=0.2,
        **options,
    )
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{question}")])
    return prompt | model | StrOutputParser()


def test_tokens_and_cost_come_from_the_servers_usage_block(stub: StubLLMServer, read_run: Any) -> None:
    stub.answer_chat(ChatReply(prompt_tokens=23, completion_tokens=7))
    handler = WaxellLangChainHandler(agent_name="unused")
    with WaxellContext(agent_name="openai-qa", enforce_policy=False) as ctx:
        answer = _chain(stub).invoke({"question": QUESTION}, config={"callbacks": [handler]})
    assert answer == "Paris is the capital of France."
    assert stub.requests[0].body["model"] == "gpt-4o-mini"

    run = read_run(ctx.run_id)
    [call] = run["llm_calls"]
    assert {
        k: call[k]
        for k in ("model", "provider", "tokens_in", "tokens_out", "cost", "status", "response_preview")
    } == {
        "model": "gpt-4o-mini-2024-07-18",  # as served
        "provider": "openai",
        "tokens_in": 23,
        "tokens_out": 7,
        "cost": 7.65e-06,  # 23 x $0.15/M + 7 x $0.60/M
        "status": "ok",
        "response_preview": "Paris is the capital of France.",
    }
    assert call["attributes"]["request_model"] == "gpt-4o-mini"
    assert call["attributes"]["finish_reason"] == "stop"
    assert call["attributes"]["request"]["temperature"] == 0.2
    assert run["total_cost"] == 7.65e-06
    assert run["conversation"]["tokens_in_context"] == 23


def test_cached_prompt_tokens_are_priced_at_the_cached_rate(stub: StubLLMServer, read_run: Any) -> None:
    stub.answer_chat(ChatReply(prompt_tokens=2000, completion_tokens=100, cached_tokens=1024))
    handler = WaxellLangChainHandler(agent_name="unused")
    with WaxellContext(agent_name="cached", enforce_policy=False) as ctx:
        _chain(stub).invoke({"question": QUESTION}, config={"callbacks": [handler]})
    [call] = read_run(ctx.run_id)["llm_calls"]
    assert (call["tokens_in"], call["tokens_out"], call["attributes"]["cached_tokens_in"]) == (
        2000,
        100,
        1024,
    )
    assert (
        call["cost"] == estimate_cost("gpt-4o-mini", 2000, 100, cached_tokens_in=1024) == 0.0002832
    )  # 976 x $0.15/M + 1024 x $0.075/M + 100 x $0.60/M


def test_a_streamed_call_takes_usage_from_the_final_chunk(stub: StubLLMServer, read_run: Any) -> None:
    stub.answer_chat(
        ChatReply(content="Paris.", chunks=["Par", "is", "."], prompt_tokens=19, completion_tokens=3)
    )
    handler = WaxellLangChainHandler(agent_name="unused")
    with WaxellContext(agent_name="openai-stream", enforce_policy=False) as ctx:
        pieces = list(
            _chain(stub, stream_usage=True).stream({"question": QUESTION}, config={"callbacks": [handler]})
        )
    assert "".join(pieces) == "Paris."
    assert stub.requests[0].body["stream_options"] == {"include_usage": True}
    [call] = read_run(ctx.run_id)["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["cost"]) == (
        "gpt-4o-mini-2024-07-18",
        19,
        3,
        4.65e-06,
    )
    assert call["attributes"]["streamed"] is True
    assert call["response_preview"] == "Paris."


def test_a_server_error_is_recorded_and_raised(stub: StubLLMServer, read_run: Any) -> None:
    import openai

    handler = WaxellLangChainHandler(agent_name="unused")
    model = ChatOpenAI(
        model="gpt-4o-mini", base_url=stub.openai_base_url + "/missing", api_key="sk-test", max_retries=0
    )
    with (
        pytest.raises(openai.NotFoundError) as raised,
        WaxellContext(agent_name="openai-error", enforce_policy=False) as ctx,
    ):
        model.invoke("hi", config={"callbacks": [handler]})
    [call] = read_run(ctx.run_id)["llm_calls"]
    assert (call["status"], call["error_type"], call["model"], call["tokens_in"]) == (
        "error",
        type(raised.value).__name__,
        "gpt-4o-mini",
        0,
    )
    assert call["error_message"] == str(raised.value)


def test_with_the_openai_integration_too_each_request_is_recorded_once(
    stub: StubLLMServer, read_run: Any
) -> None:
    from waxell_observe.initialization import _reset_for_tests, init
    from waxell_observe.plugins import plugin_manager

    if importlib.util.find_spec("waxell_observe_openai") is None:  # plugins load lazily: ask the package
        pytest.skip("the OpenAI integration is not installed")
    _reset_for_tests()
    try:
        init(instrument=["openai", "langchain"])
        with WaxellContext(agent_name="both-integrations", enforce_policy=False) as ctx:
            _chain(stub).invoke({"question": QUESTION})  # recorded by LangChain, not again by OpenAI
            import openai

            client = openai.OpenAI(base_url=stub.openai_base_url, api_key="sk-test", max_retries=0)
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "direct"}]
            )
    finally:
        plugin_manager().hook.on_uninstrument(libraries=frozenset({"openai", "langchain"}))
        _reset_for_tests()
    calls = read_run(ctx.run_id)["llm_calls"]
    assert [(c["model"], c["tokens_in"], c["attributes"].get("framework")) for c in calls] == [
        ("gpt-4o-mini-2024-07-18", 23, "langchain"),
        ("gpt-4o-mini-2024-07-18", 23, None),  # the direct SDK call, recorded by the OpenAI integration
    ]

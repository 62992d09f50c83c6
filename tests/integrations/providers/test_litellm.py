"""litellm against the stub server: one record per call with the provider LiteLLM routes to
(OpenAI, Anthropic, Azure), streams, async, embeddings, errors, governance, and no second record
from the OpenAI integration for a call LiteLLM makes through the OpenAI SDK."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of LiteLLM's price map

import litellm  # noqa: E402 - after the environment above
import pytest  # noqa: E402
import wrapt  # noqa: E402
from openai.resources.chat.completions import Completions  # noqa: E402

from integrations.llm_stub import StubLLMServer  # noqa: E402
from integrations.providers.common import (  # noqa: E402
    block_model,
    chat_chunks,
    chat_completion,
    cost,
    only_call,
    sse,
)
from waxell_observe import WaxellContext  # noqa: E402
from waxell_observe.config import ObserveConfig  # noqa: E402
from waxell_observe.errors import PolicyViolationError  # noqa: E402
from waxell_observe.initialization import _reset_for_tests, init  # noqa: E402
from waxell_observe.plugins import plugin_manager  # noqa: E402

SERVED = "gpt-4o-mini-2024-07-18"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of Peru?"}]


@pytest.fixture
def instrumented_library() -> str:
    return "litellm"


@pytest.fixture
def both() -> Iterator[ObserveConfig]:
    """``init(instrument=["litellm", "openai"])``: LiteLLM and the SDK it may call underneath."""
    _reset_for_tests()
    config = init(instrument=["litellm", "openai"])
    yield config
    plugin_manager().hook.on_uninstrument(libraries=frozenset({"litellm", "openai"}))
    _reset_for_tests()


def openai_route(stub: StubLLMServer) -> dict[str, Any]:
    return {"api_base": stub.openai_base_url, "api_key": "test-key", "max_retries": 0}


def test_completion_records_the_routed_provider_tokens_and_cost(
    stub: StubLLMServer, instrumented: Any, read_run: Any
) -> None:
    stub.reply_json(chat_completion(SERVED, "Lima.", 120, 9, cached=100, reasoning=4))
    with WaxellContext(agent_name="litellm-agent") as ctx:
        answer = litellm.completion(
            model="openai/gpt-4o-mini", messages=MESSAGES, temperature=0, **openai_route(stub)
        )
        assert ctx.message_count == 2
    assert answer.choices[0].message.content == "Lima."
    assert [r.path for r in stub.requests] == ["/v1/chat/completions"]
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["provider"], call["tokens_in"], call["tokens_out"]) == (
        SERVED,
        "openai",
        120,
        9,
    )
    assert (call["attributes"]["cached_tokens_in"], call["attributes"]["reasoning_tokens"]) == (100, 4)
    assert (
        call["cost"]
        == cost(SERVED, 120, 9, cached=100)
        == round((20 * 0.15 + 100 * 0.075 + 9 * 0.6) / 1e6, 10)
    )
    assert (call["attributes"]["via"], call["attributes"]["request_model"]) == (
        "litellm",
        "openai/gpt-4o-mini",
    )
    assert (call["prompt_preview"], call["response_preview"], call["status"]) == (
        "Capital of Peru?",
        "Lima.",
        "ok",
    )
    assert call["attributes"]["request"] == {"temperature": 0}


def test_an_anthropic_model_is_recorded_as_anthropic(
    stub: StubLLMServer, instrumented: Any, read_run: Any
) -> None:
    stub.reply_json(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5-20251001",
            "content": [{"type": "text", "text": "Lima."}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 50, "output_tokens": 4, "cache_read_input_tokens": 20},
        }
    )
    with WaxellContext(agent_name="litellm-claude") as ctx:
        litellm.completion(
            model="anthropic/claude-haiku-4-5", messages=MESSAGES, api_base=stub.base_url, api_key="k"
        )
    assert stub.requests[0].path == "/v1/messages"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["provider"], call["tokens_in"], call["tokens_out"]) == (
        "claude-haiku-4-5-20251001",
        "anthropic",
        70,  # LiteLLM reports the whole prompt: 50 new + 20 read from the cache
        4,
    )
    assert call["attributes"]["cached_tokens_in"] == 20
    assert call["cost"] == round((50 * 1.0 + 20 * 0.10 + 4 * 5.0) / 1e6, 10)


def test_a_stream_is_one_record_with_the_usage_of_its_last_chunk(
    stub: StubLLMServer, instrumented: Any, read_run: Any
) -> None:
    stub.reply_sse(sse(chat_chunks(SERVED, ["Li", "ma."], 30, 3)))
    with WaxellContext(agent_name="litellm-stream") as ctx:
        stream = litellm.completion(
            model="openai/gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            **openai_route(stub),
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Lima."
    call = only_call(read_run(ctx.run_id))
    assert (call["tokens_in"], call["tokens_out"], call["response_preview"]) == (30, 3, "Lima.")
    assert call["attributes"]["stream"] is True and call["attributes"]["ttft_ms"] >= 0
    assert call["cost"] == cost(SERVED, 30, 3)


def test_acompletion_and_an_async_stream(stub: StubLLMServer, instrumented: Any, read_run: Any) -> None:
    stub.reply_json(chat_completion(SERVED, "Quito.", 11, 2))
    stub.reply_sse(sse(chat_chunks(SERVED, ["Bo", "got", "á."], 12, 3)))

    async def main() -> tuple[str, str]:
        with WaxellContext(agent_name="litellm-async") as ctx:
            await litellm.acompletion(model="openai/gpt-4o-mini", messages=MESSAGES, **openai_route(stub))
            stream = await litellm.acompletion(
                model="openai/gpt-4o-mini",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
                **openai_route(stub),
            )
            text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
        return ctx.run_id, text

    run_id, text = asyncio.run(main())
    assert text == "Bogotá."
    calls = read_run(run_id)["llm_calls"]
    assert [(c["provider"], c["tokens_in"], c["tokens_out"], c["attributes"]["stream"]) for c in calls] == [
        ("openai", 11, 2, False),
        ("openai", 12, 3, True),
    ]


def test_embedding(stub: StubLLMServer, instrumented: Any, read_run: Any) -> None:
    stub.reply_json(
        {
            "object": "list",
            "model": "text-embedding-3-small",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
            "usage": {"prompt_tokens": 4, "total_tokens": 4},
        }
    )
    with WaxellContext(agent_name="litellm-embed") as ctx:
        litellm.embedding(model="openai/text-embedding-3-small", input=["hello world"], **openai_route(stub))
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["provider"], call["tokens_in"], call["attributes"]["operation"]) == (
        "text-embedding-3-small",
        "openai",
        4,
        "embeddings",
    )
    assert (call["attributes"]["dimensions"], call["cost"]) == (3, cost("text-embedding-3-small", 4, 0))


def test_an_error_is_recorded_and_reraised(stub: StubLLMServer, instrumented: Any, read_run: Any) -> None:
    stub.reply_json({"error": {"message": "rate limited", "type": "rate_limit"}}, status=429)
    with WaxellContext(agent_name="litellm-error") as ctx, pytest.raises(litellm.RateLimitError):
        litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **openai_route(stub))
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"], call["model"], call["provider"]) == (
        "error",
        "RateLimitError",
        "openai/gpt-4o-mini",
        "openai",
    )
    assert call["attributes"]["http_status"] == 429


def test_a_blocked_model_never_leaves(stub: StubLLMServer, instrumented: Any) -> None:
    block_model("gpt-4o-mini")
    with WaxellContext(agent_name="litellm-agent"), pytest.raises(PolicyViolationError, match="gpt-4o-mini"):
        litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, **openai_route(stub))
    assert stub.requests == []


def test_a_call_through_the_openai_sdk_is_recorded_once(
    stub: StubLLMServer, both: Any, read_run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []  # the requests that went through the (instrumented) OpenAI SDK

    def spy(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        seen.append(kwargs["model"])
        return wrapped(*args, **kwargs)

    monkeypatch.setattr(Completions, "create", wrapt.FunctionWrapper(Completions.__dict__["create"], spy))
    stub.reply_json(chat_completion("gpt-4o-mini", "Lima.", 21, 3))
    with WaxellContext(agent_name="litellm-azure") as ctx:
        litellm.completion(
            model="azure/my-gpt",
            messages=MESSAGES,
            api_base=stub.base_url,
            api_version="2024-10-21",
            api_key="k",
            max_retries=0,
        )
    assert seen == ["my-gpt"]
    assert stub.requests[0].path == "/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21"
    call = only_call(read_run(ctx.run_id))
    assert (
        call["model"],
        call["provider"],
        call["tokens_in"],
        call["tokens_out"],
        call["attributes"]["via"],
    ) == (
        "gpt-4o-mini",
        "azure",
        21,
        3,
        "litellm",
    )


def test_litellm_imported_after_init_is_captured(stub: StubLLMServer, read_run: Any, waxell_db: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from waxell_observe.initialization import init
        from waxell_observe import WaxellContext, flush_sync
        init(instrument=["litellm"])
        lazy = "litellm" not in sys.modules
        from litellm import completion
        with WaxellContext(agent_name="late-import") as ctx:
            completion(
                model="openai/gpt-4o-mini",
                messages=[{{"role": "user", "content": "late"}}],
                api_base={stub.openai_base_url!r},
                api_key="k",
            )
        flush_sync(timeout=30)
        print(json.dumps({{"lazy": lazy, "run_id": ctx.run_id}}))
        """
    )
    stub.reply_json(chat_completion(SERVED, "late answer", 6, 2))
    env = dict(os.environ, WAXELL_DB=str(waxell_db), LITELLM_LOCAL_MODEL_COST_MAP="True")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["lazy"] is True
    calls = read_run(result["run_id"])["llm_calls"]
    assert [
        (c["model"], c["provider"], c["tokens_in"], c["tokens_out"], c["response_preview"]) for c in calls
    ] == [(SERVED, "openai", 6, 2, "late answer")]


def test_a_router_call_and_positional_arguments_are_recorded_once_each(
    stub: StubLLMServer, instrumented: Any, read_run: Any
) -> None:
    stub.reply_json(chat_completion(SERVED, "Lima.", 10, 2))
    stub.reply_json(chat_completion(SERVED, "Quito.", 12, 3))
    params = {
        "model": "openai/gpt-4o-mini",
        "api_base": stub.openai_base_url,
        "api_key": "k",
        "max_retries": 0,
    }
    router = litellm.Router(model_list=[{"model_name": "fast", "litellm_params": params}])
    with WaxellContext(agent_name="litellm-router") as ctx:
        router.completion(model="fast", messages=MESSAGES)
        litellm.completion("openai/gpt-4o-mini", MESSAGES, **openai_route(stub))
    calls = read_run(ctx.run_id)["llm_calls"]
    assert [(c["provider"], c["tokens_in"], c["tokens_out"], c["response_preview"]) for c in calls] == [
        ("openai", 10, 2, "Lima."),
        ("openai", 12, 3, "Quito."),
    ]
    assert calls[1]["attributes"]["request_model"] == "openai/gpt-4o-mini"


def test_a_stream_without_usage_says_so(stub: StubLLMServer, instrumented: Any, read_run: Any) -> None:
    chunks = chat_chunks(SERVED, ["Li", "ma."], 30, 3)[:-1]  # no usage chunk: none was asked for
    stub.reply_sse(sse(chunks))
    with WaxellContext(agent_name="litellm-stream") as ctx:
        for _ in litellm.completion(
            model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, **openai_route(stub)
        ):
            pass
    call = only_call(read_run(ctx.run_id))
    assert (call["tokens_in"], call["tokens_out"], call["response_preview"]) == (0, 0, "Lima.")
    assert call["attributes"]["usage_reported"] is False and "partial" not in call["attributes"]


def test_a_warning_on_a_call_through_the_openai_sdk_is_given_once(
    stub: StubLLMServer, both: Any, read_run: Any
) -> None:
    """LiteLLM and the OpenAI SDK's wrapper both see the request: ``llm.before`` is asked once."""
    from waxell_observe.config import get_config
    from waxell_observe.gating import forget
    from waxell_observe.governance import load_policies
    from waxell_observe.governance.policy_store import add_policies
    from waxell_observe.store import get_store

    forget()
    add_policies(
        get_store(get_config().db_url),
        load_policies(
            "policies:\n  - {name: size, category: llm,"
            " rules: {max_tokens_per_call: 100, action_on_token_violation: warn}}\n"
        ),
    )
    stub.reply_json(chat_completion("gpt-4o-mini", "Lima.", 21, 3))
    with WaxellContext(agent_name="litellm-warned") as ctx:
        litellm.completion(
            model="azure/my-gpt",
            messages=MESSAGES,
            api_base=stub.base_url,
            api_version="2024-10-21",
            api_key="k",
            max_retries=0,
            max_tokens=500,
        )
        feedback = ctx.take_feedback()
    forget()
    assert [(f["surface"], f["policy"]) for f in feedback] == [("llm.before", "size")]
    run = read_run(ctx.run_id)
    policy = [
        (s["attributes"]["metadata"]["surface"], s["name"]) for s in run["spans"] if s["kind"] == "policy"
    ]
    assert policy == [("llm.before", "size")]
    assert len(stub.requests) == 1

"""Azure OpenAI: the real ``AzureOpenAI`` / ``AsyncAzureOpenAI`` clients with ``azure_endpoint=`` the stub.

Calls are recorded with provider ``azure``, the model the response names (priced by the table), the
deployment (the client's ``azure_deployment``, else the ``model`` argument Azure reads as one) and the
API version; chat, streams, the Responses API and embeddings, sync and async; errors; the llm.before
gate; the library imported after ``init()``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from integrations.llm_stub import StubLLMServer, sse_openai
from integrations.openai import payloads as p
from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store

API_VERSION = "2024-10-21"
QUESTION = [{"role": "user", "content": "Summarise the report"}]


def only_call(run: dict[str, Any]) -> dict[str, Any]:
    assert len(run["llm_calls"]) == 1, run["llm_calls"]
    call: dict[str, Any] = run["llm_calls"][0]
    return call


def azure(stub: StubLLMServer, **options: Any) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=stub.base_url, api_key="az-key", api_version=API_VERSION, max_retries=0, **options
    )


def async_azure(stub: StubLLMServer, **options: Any) -> openai.AsyncAzureOpenAI:
    return openai.AsyncAzureOpenAI(
        azure_endpoint=stub.base_url, api_key="az-key", api_version=API_VERSION, max_retries=0, **options
    )


@pytest.fixture
def instrumented_library() -> str:
    return "openai"


@pytest.fixture(autouse=True)
def _fresh_gates() -> Iterator[None]:
    forget()
    yield
    forget()


def test_the_client_deployment_is_recorded_beside_the_model_the_response_names(
    stub: StubLLMServer, instrumented: Any, read_run: Any
) -> None:
    client = azure(stub, azure_deployment="prod-gpt4o")
    stub.reply_json(
        p.completion("gpt-4o-2024-08-06", "Short summary.", usage_=p.usage(3_000, 40, cached=2_048))
    )
    with WaxellContext(agent_name="azure-chat") as ctx:
        client.chat.completions.create(model="gpt-4o", messages=QUESTION, temperature=0.2)
    assert (
        stub.requests[0].path == f"/openai/deployments/prod-gpt4o/chat/completions?api-version={API_VERSION}"
    )
    call = only_call(read_run(ctx.run_id))
    assert (call["provider"], call["model"]) == ("azure", "gpt-4o-2024-08-06")
    assert (call["tokens_in"], call["tokens_out"]) == (3_000, 40)
    attributes = call["attributes"]
    assert (attributes["deployment"], attributes["api_version"]) == ("prod-gpt4o", API_VERSION)
    assert attributes["request_model"] == "gpt-4o"
    assert attributes["cached_tokens_in"] == 2_048
    assert attributes["request"] == {"temperature": 0.2}
    # (952 uncached * $2.50 + 2048 cached * $1.25 + 40 out * $10.00) per million
    assert call["cost"] == round((952 * 2.50 + 2_048 * 1.25 + 40 * 10.00) / 1_000_000, 10)


def test_the_model_argument_is_the_deployment_when_the_client_names_none(
    stub: StubLLMServer, instrumented: Any, read_run: Any
) -> None:
    stub.reply_json(p.completion("gpt-35-turbo", "ok", usage_=p.usage(1_000_000, 1_000_000)))
    with WaxellContext(agent_name="azure-legacy") as ctx:
        azure(stub).chat.completions.create(model="legacy-35", messages=QUESTION)
    assert stub.requests[0].path.startswith("/openai/deployments/legacy-35/chat/completions?")
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["attributes"]["deployment"]) == ("gpt-35-turbo", "legacy-35")
    assert call["cost"] == 0.50 + 1.50  # Azure's spelling of gpt-3.5-turbo is priced as it


async def test_an_async_stream_is_one_record_with_usage_from_the_final_chunk(
    stub: StubLLMServer, instrumented: Any, read_run: Any
) -> None:
    model = "gpt-4o-mini-2024-07-18"
    chunks = p.text_chunks(model, ["Revenue ", "grew."], usage_=p.usage(1_300, 4, cached=1_024))
    # Azure sends a first chunk with no choices (its prompt filter results) before the answer
    stub.reply_sse(sse_openai([{**chunks[0], "choices": [], "model": ""}, *chunks]), delay_first=0.05)
    async with WaxellContext(agent_name="azure-stream") as ctx:
        stream = await async_azure(stub).chat.completions.create(
            model="mini-prod", messages=QUESTION, stream=True, stream_options={"include_usage": True}
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Revenue grew."
    assert stub.requests[0].path.startswith("/openai/deployments/mini-prod/chat/completions?")
    call = only_call(read_run(ctx.run_id))
    assert (call["provider"], call["model"], call["tokens_in"], call["tokens_out"]) == (
        "azure",
        model,
        1_300,
        4,
    )
    assert call["attributes"]["cached_tokens_in"] == 1_024
    assert call["attributes"]["deployment"] == "mini-prod"
    assert call["attributes"]["stream"] is True
    assert call["attributes"]["ttft_ms"] >= 50
    assert call["response_preview"] == "Revenue grew."
    assert call["cost"] == round((276 * 0.15 + 1_024 * 0.075 + 4 * 0.60) / 1_000_000, 10)


def test_the_responses_api_with_cached_and_reasoning_tokens(
    stub: StubLLMServer, instrumented: Any, read_run: Any
) -> None:
    stub.reply_json(
        p.response(
            "o4-mini-2025-04-16",
            [p.message_item("Risks: supply chain.")],
            input_tokens=4_000,
            output_tokens=700,
            cached=3_072,
            reasoning=640,
        )  # fmt: skip
    )
    with WaxellContext(agent_name="azure-responses") as ctx:
        answer = azure(stub).responses.create(model="o4-mini-eu", input="List the risks")
    assert answer.output_text == "Risks: supply chain."
    assert stub.requests[0].path == f"/openai/responses?api-version={API_VERSION}"
    assert stub.requests[0].body["model"] == "o4-mini-eu"
    call = only_call(read_run(ctx.run_id))
    assert (call["provider"], call["model"]) == ("azure", "o4-mini-2025-04-16")
    assert (call["attributes"]["cached_tokens_in"], call["attributes"]["reasoning_tokens"]) == (3_072, 640)
    assert (call["attributes"]["deployment"], call["attributes"]["operation"]) == ("o4-mini-eu", "responses")
    assert call["cost"] == round((928 * 1.10 + 3_072 * 0.275 + 700 * 4.40) / 1_000_000, 10)


async def test_an_async_responses_stream(stub: StubLLMServer, instrumented: Any, read_run: Any) -> None:
    final = p.response(
        "o3-2025-04-16", [p.message_item("Yes.")], input_tokens=500, output_tokens=90, cached=0, reasoning=80
    )
    stub.reply_sse(sse_openai(p.response_events(["Ye", "s."], final), done=False))
    async with WaxellContext(agent_name="azure-responses-stream") as ctx:
        stream = await async_azure(stub, azure_deployment="o3-prod").responses.create(
            model="o3", input="Ok?", stream=True
        )
        async for _ in stream:
            pass
    # a client deployment does not go into the URL of the Responses API
    assert stub.requests[0].path == f"/openai/responses?api-version={API_VERSION}"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["tokens_in"], call["tokens_out"]) == ("o3-2025-04-16", 500, 90)
    assert call["attributes"]["reasoning_tokens"] == 80
    assert call["attributes"]["deployment"] == "o3-prod"
    assert call["response_preview"] == "Yes."


def test_embeddings_through_a_deployment(stub: StubLLMServer, instrumented: Any, read_run: Any) -> None:
    stub.reply_json(p.embedding_response("text-embedding-3-small", [[0.1, 0.2]], 500_000))
    with WaxellContext(agent_name="azure-embed") as ctx:
        azure(stub).embeddings.create(model="embed-small", input="a document")
    assert stub.requests[0].path.startswith("/openai/deployments/embed-small/embeddings?")
    call = only_call(read_run(ctx.run_id))
    assert (call["provider"], call["model"], call["tokens_in"]) == (
        "azure",
        "text-embedding-3-small",
        500_000,
    )
    assert call["attributes"]["deployment"] == "embed-small"
    assert call["cost"] == 0.01


def test_a_content_filter_refusal_is_an_error_record_and_reaches_the_caller_unchanged(
    stub: StubLLMServer, instrumented: Any, read_run: Any
) -> None:
    error = {
        "message": "The response was filtered due to the prompt triggering content management policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
    }
    stub.reply_json({"error": error}, status=400)
    with (
        WaxellContext(agent_name="azure-filtered") as ctx,
        pytest.raises(openai.BadRequestError) as raised,
    ):
        azure(stub).chat.completions.create(model="prod-gpt4o", messages=QUESTION)
    assert raised.type is openai.BadRequestError
    assert (raised.value.status_code, raised.value.code) == (400, "content_filter")
    assert len(stub.requests) == 1
    call = only_call(read_run(ctx.run_id))
    assert (call["provider"], call["status"], call["error_type"]) == ("azure", "error", "BadRequestError")
    assert "content management policy" in call["error_message"]
    assert (call["attributes"]["http_status"], call["attributes"]["deployment"]) == (400, "prod-gpt4o")


def test_a_blocked_model_never_reaches_azure(stub: StubLLMServer, instrumented: Any, read_run: Any) -> None:
    policy = "policies:\n  - {name: models, category: llm, rules: {blocked_models: [o1-preview]}}\n"
    add_policies(get_store(get_config().db_url), load_policies(policy))
    stub.reply_json(p.completion("o1-preview", "never", usage_=p.usage(1, 1)))
    with (
        WaxellContext(agent_name="azure-gated") as ctx,
        pytest.raises(PolicyViolationError, match="o1-preview"),
    ):
        azure(stub).chat.completions.create(model="o1-preview", messages=QUESTION)
    assert stub.requests == []
    run = read_run(ctx.run_id)
    assert run["llm_calls"] == []
    assert run["status"] == "blocked"


def test_azure_imported_after_init_is_captured(stub: StubLLMServer, tmp_path: Path) -> None:
    program = textwrap.dedent(
        f"""
        import json, sys
        import waxell_observe
        waxell_observe.init(instrument=["openai"])
        assert "openai" not in sys.modules
        import openai
        from waxell_observe import WaxellContext
        from waxell_observe.config import get_config
        from waxell_observe.store import get_store
        from waxell_observe.store.reader import get_run
        client = openai.AzureOpenAI(
            azure_endpoint={stub.base_url!r}, api_key="k", api_version="{API_VERSION}", max_retries=0
        )
        with WaxellContext(agent_name="late-azure", enforce_policy=False) as ctx:
            client.chat.completions.create(model="late-dep", messages=[{{"role": "user", "content": "hi"}}])
        waxell_observe.flush_sync(timeout=30)
        with get_store(get_config().db_url).read() as store:
            [call] = get_run(store, ctx.run_id)["llm_calls"]
        print(json.dumps([call["provider"], call["model"], call["attributes"]["deployment"]]))
        """
    )
    stub.reply_json(p.completion("gpt-4o-2024-08-06", "hello", usage_=p.usage(5, 1)))
    environment = {
        **os.environ,
        "WAXELL_CACHE_DIR": str(tmp_path / "cache"),
        "WAXELL_DB": str(tmp_path / "runs.db"),
        "WAXELL_JOURNAL_DIR": str(tmp_path / "journal"),
    }
    done = subprocess.run(
        [sys.executable, "-c", program],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == '["azure", "gpt-4o-2024-08-06", "late-dep"]'

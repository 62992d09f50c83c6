"""The ollama client against the stub server: chat, generate, embed (sync, async, streamed), the
module-level functions, tool calls, errors, local pricing and governance."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import ollama
import pytest

from integrations.llm_stub import StubLLMServer
from integrations.providers.common import block_model, only_call
from waxell_observe import WaxellContext
from waxell_observe.errors import PolicyViolationError
from waxell_observe.pricing import register_model, unregister_model

MODEL = "llama3.2:3b"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of Peru?"}]
TIMINGS = {"total_duration": 5_000_000, "load_duration": 1_000_000, "eval_duration": 2_000_000}


@pytest.fixture
def instrumented_library() -> str:
    return "ollama"


@pytest.fixture
def client(stub: StubLLMServer, instrumented: Any) -> ollama.Client:
    return ollama.Client(host=stub.base_url)


def chat_reply(model: str, text: str, prompt: int, generated: int, **message: Any) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": "2026-12-07T11:00:00Z",
        "message": {"role": "assistant", "content": text, **message},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": prompt,
        "eval_count": generated,
        **TIMINGS,
    }


def chat_parts(model: str, pieces: list[str], prompt: int, generated: int) -> list[bytes]:
    """An NDJSON stream: one partial response per piece, then the ``done`` one with the counts."""
    base = {"model": model, "created_at": "2026-12-07T11:00:00Z"}
    parts = [{**base, "message": {"role": "assistant", "content": p}, "done": False} for p in pieces]
    parts.append(
        {
            **base,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": prompt,
            "eval_count": generated,
            **TIMINGS,
        }
    )
    return [json.dumps(part).encode() + b"\n" for part in parts]


def test_chat_records_model_tokens_zero_cost_and_conversation(
    client: ollama.Client, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(chat_reply(MODEL, "Lima.", 26, 3))
    with WaxellContext(agent_name="ollama-agent") as ctx:
        answer = client.chat(model=MODEL, messages=MESSAGES, options={"temperature": 0, "num_ctx": 4096})
        assert ctx.message_count == 2
    assert answer.message.content == "Lima."
    assert stub.requests[0].path == "/api/chat"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["provider"], call["tokens_in"], call["tokens_out"], call["cost"]) == (
        MODEL,
        "ollama",
        26,
        3,
        0.0,
    )
    assert (call["prompt_preview"], call["response_preview"], call["status"]) == (
        "Capital of Peru?",
        "Lima.",
        "ok",
    )
    assert call["attributes"]["request"] == {"temperature": 0, "num_ctx": 4096}
    assert (call["attributes"]["operation"], call["attributes"]["stream"]) == ("chat", False)


def test_a_local_model_named_like_a_hosted_one_costs_nothing_unless_priced(
    client: ollama.Client, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(chat_reply("mistral-small:24b", "Lima.", 1000, 500))
    stub.reply_json(chat_reply("mistral-small:24b", "Lima.", 1000, 500))
    with WaxellContext(agent_name="ollama-local") as ctx:
        client.chat(model="mistral-small:24b", messages=MESSAGES)
    assert only_call(read_run(ctx.run_id))["cost"] == 0.0  # not Mistral's hosted price
    register_model("mistral-small", provider="ollama", input_per_million=1.0, output_per_million=2.0)
    try:
        with WaxellContext(agent_name="ollama-priced") as ctx:
            client.chat(model="mistral-small:24b", messages=MESSAGES)
    finally:
        unregister_model("mistral-small")
    assert only_call(read_run(ctx.run_id))["cost"] == round((1000 * 1.0 + 500 * 2.0) / 1e6, 10)


def test_streamed_chat_records_the_final_counts_and_time_to_first_token(
    client: ollama.Client, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_sse(chat_parts(MODEL, ["Li", "ma."], 30, 4))
    with WaxellContext(agent_name="ollama-stream") as ctx:
        stream = client.chat(model=MODEL, messages=MESSAGES, stream=True)
        text = "".join(part.message.content or "" for part in stream)
    assert text == "Lima."
    call = only_call(read_run(ctx.run_id))
    assert (call["tokens_in"], call["tokens_out"], call["response_preview"]) == (30, 4, "Lima.")
    assert call["attributes"]["stream"] is True and call["attributes"]["ttft_ms"] >= 0
    assert "partial" not in call["attributes"]


def test_generate_records_prompt_and_system(
    client: ollama.Client, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(
        {
            "model": MODEL,
            "response": "Lima.",
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 14,
            "eval_count": 2,
            **TIMINGS,
        }
    )
    with WaxellContext(agent_name="ollama-generate") as ctx:
        answer = client.generate(model=MODEL, prompt="Capital of Peru?", system="Be brief.")
    assert answer.response == "Lima."
    assert stub.requests[0].path == "/api/generate"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["attributes"]["operation"]) == (
        MODEL,
        14,
        2,
        "generate",
    )
    assert (call["prompt_preview"], call["response_preview"]) == ("Capital of Peru?", "Lima.")


def test_embed_records_input_tokens_and_dimensions(
    client: ollama.Client, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(
        {
            "model": "nomic-embed-text",
            "embeddings": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]],
            "prompt_eval_count": 7,
        }
    )
    with WaxellContext(agent_name="ollama-embed") as ctx:
        client.embed(model="nomic-embed-text", input=["hello", "world"])
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["cost"]) == (
        "nomic-embed-text",
        7,
        0,
        0.0,
    )
    assert (call["attributes"]["operation"], call["attributes"]["embeddings"]) == ("embeddings", 2)
    assert call["attributes"]["dimensions"] == 3
    assert call["prompt_preview"] == "hello\nworld"


def test_a_requested_tool_call_is_recorded(client: ollama.Client, stub: StubLLMServer, read_run: Any) -> None:
    calls = [{"function": {"name": "get_weather", "arguments": {"city": "Lima"}}}]
    stub.reply_json(chat_reply(MODEL, "", 40, 9, tool_calls=calls))
    tool = {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather", "parameters": {}},
    }
    with WaxellContext(agent_name="ollama-tools") as ctx:
        client.chat(model=MODEL, messages=MESSAGES, tools=[tool])
    run = read_run(ctx.run_id)
    call = only_call(run)
    assert (call["attributes"]["tool_calls"], call["response_preview"]) == (
        ["get_weather"],
        "[tool calls: get_weather]",
    )
    decisions = [s for s in run["spans"] if s["kind"] == "decision"]
    assert [(d["name"], d["input"], d["output"]) for d in decisions] == [
        ("tool_request", {"options": ["get_weather"]}, {"chosen": "get_weather"})
    ]


def test_async_client_chat_and_stream(stub: StubLLMServer, instrumented: Any, read_run: Any) -> None:
    stub.reply_json(chat_reply(MODEL, "Quito.", 11, 2))
    stub.reply_sse(chat_parts(MODEL, ["Bo", "got", "á."], 12, 3))

    async def main() -> tuple[str, str]:
        aclient = ollama.AsyncClient(host=stub.base_url)
        with WaxellContext(agent_name="ollama-async") as ctx:
            await aclient.chat(model=MODEL, messages=MESSAGES)
            stream = await aclient.chat(model=MODEL, messages=MESSAGES, stream=True)
            text = "".join([part.message.content async for part in stream])
        return ctx.run_id, text

    run_id, text = asyncio.run(main())
    assert text == "Bogotá."
    calls = read_run(run_id)["llm_calls"]
    assert [
        (c["tokens_in"], c["tokens_out"], c["attributes"]["stream"], c["response_preview"]) for c in calls
    ] == [
        (11, 2, False, "Quito."),
        (12, 3, True, "Bogotá."),
    ]


def test_an_error_is_recorded_and_reraised(client: ollama.Client, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json({"error": "model 'llama9' not found"}, status=404)
    with WaxellContext(agent_name="ollama-error") as ctx, pytest.raises(ollama.ResponseError) as raised:
        client.chat(model="llama9", messages=MESSAGES)
    assert raised.value.status_code == 404
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"], call["model"]) == ("error", "ResponseError", "llama9")
    assert call["attributes"]["http_status"] == 404


def test_a_stream_that_fails_is_recorded_as_an_error(
    client: ollama.Client, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json({"error": "model 'llama9' not found"}, status=404)
    with WaxellContext(agent_name="ollama-error") as ctx, pytest.raises(ollama.ResponseError):
        for _ in client.chat(model="llama9", messages=MESSAGES, stream=True):
            pass
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"], call["attributes"]["stream"]) == (
        "error",
        "ResponseError",
        True,
    )


def test_a_blocked_model_never_leaves(client: ollama.Client, stub: StubLLMServer) -> None:
    block_model(MODEL)
    with WaxellContext(agent_name="ollama-agent"), pytest.raises(PolicyViolationError, match=MODEL):
        client.chat(model=MODEL, messages=MESSAGES)
    assert stub.requests == []


def test_other_requests_pass_through_unrecorded(
    client: ollama.Client, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json({"status": "success"})
    with WaxellContext(agent_name="ollama-pull") as ctx:
        assert client.pull(MODEL).status == "success"
    assert read_run(ctx.run_id)["llm_calls"] == []


def test_module_functions_imported_after_init_are_captured(
    stub: StubLLMServer, read_run: Any, waxell_db: Path
) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from waxell_observe.initialization import init
        from waxell_observe import WaxellContext, flush_sync
        init(instrument=["ollama"])
        lazy = "ollama" not in sys.modules
        import ollama
        with WaxellContext(agent_name="late-import") as ctx:
            ollama.chat(model={MODEL!r}, messages=[{{"role": "user", "content": "late"}}])
        flush_sync(timeout=30)
        print(json.dumps({{"lazy": lazy, "run_id": ctx.run_id}}))
        """
    )
    stub.reply_json(chat_reply(MODEL, "late answer", 6, 2))
    env = dict(os.environ, WAXELL_DB=str(waxell_db), OLLAMA_HOST=stub.base_url)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=90)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["lazy"] is True
    calls = read_run(result["run_id"])["llm_calls"]
    assert [
        (c["model"], c["provider"], c["tokens_in"], c["tokens_out"], c["response_preview"]) for c in calls
    ] == [(MODEL, "ollama", 6, 2, "late answer")]

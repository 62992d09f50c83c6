"""Amazon Bedrock through a real boto3 client pointed at the stub server (``endpoint_url``, dummy
credentials): converse, converse_stream (AWS event-stream framing), invoke_model for the Anthropic,
Titan, Llama and other bodies, invoke_model_with_response_stream, errors, governance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.eventstream import EventStream
from botocore.exceptions import EventStreamError

from integrations.llm_stub import StubLLMServer
from integrations.providers.aws_eventstream import event, event_stream, invoke_chunks
from integrations.providers.common import block_model, cost, only_call
from waxell_observe import WaxellContext
from waxell_observe.errors import PolicyViolationError

NOVA = "amazon.nova-lite-v1:0"
CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
SYSTEM = [{"text": "Be brief."}]
MESSAGES = [{"role": "user", "content": [{"text": "Capital of Peru?"}]}]


@pytest.fixture
def instrumented_library() -> str:
    return "bedrock"


def make_client(stub: StubLLMServer) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=stub.base_url,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


@pytest.fixture
def client(stub: StubLLMServer, instrumented: Any) -> Any:
    return make_client(stub)


def converse_answer(text: str, usage: dict[str, int], **extra: Any) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {**usage, "totalTokens": sum(usage.values())},
        "metrics": {"latencyMs": 120},
        **extra,
    }


def test_converse_records_model_tokens_cache_cost_and_conversation(
    client: Any, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json(
        converse_answer("Lima.", {"inputTokens": 20, "outputTokens": 5, "cacheReadInputTokens": 100})
    )
    with WaxellContext(agent_name="bedrock-agent") as ctx:
        answer = client.converse(
            modelId=NOVA,
            messages=MESSAGES,
            system=SYSTEM,
            inferenceConfig={"maxTokens": 100, "temperature": 0},
        )
        assert ctx.message_count == 2  # the system prompt and the question
    assert answer["output"]["message"]["content"][0]["text"] == "Lima."
    assert stub.requests[0].path == "/model/amazon.nova-lite-v1%3A0/converse"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["provider"], call["tokens_in"], call["tokens_out"]) == (
        NOVA,
        "bedrock",
        120,
        5,
    )
    assert call["attributes"]["cached_tokens_in"] == 100
    assert (
        call["cost"]
        == cost(NOVA, 120, 5, cached=100)
        == round((20 * 0.06 + 100 * 0.015 + 5 * 0.24) / 1e6, 10)
    )
    assert (call["prompt_preview"], call["response_preview"], call["status"]) == (
        "Capital of Peru?",
        "Lima.",
        "ok",
    )
    attributes = call["attributes"]
    assert (attributes["api"], attributes["operation"], attributes["stream"]) == ("Converse", "chat", False)
    assert (attributes["request"], attributes["server_latency_ms"]) == (
        {"maxTokens": 100, "temperature": 0},
        120,
    )
    assert attributes["finish_reason"] == "end_turn"


def test_a_requested_tool_use_is_recorded(client: Any, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json(
        {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [
                        {"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Lima"}}}
                    ],
                }
            },
            "stopReason": "tool_use",
            "usage": {"inputTokens": 40, "outputTokens": 9, "totalTokens": 49},
        }
    )
    tools = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}
    with WaxellContext(agent_name="bedrock-tools") as ctx:
        client.converse(modelId=NOVA, messages=MESSAGES, toolConfig=tools)
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


def test_converse_stream_is_one_record_with_the_usage_of_its_metadata_event(
    client: Any, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_sse(
        event_stream(
            [
                ("messageStart", {"role": "assistant"}),
                ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Li"}}),
                ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "ma."}}),
                ("contentBlockStop", {"contentBlockIndex": 0}),
                ("messageStop", {"stopReason": "end_turn"}),
                (
                    "metadata",
                    {"usage": {"inputTokens": 30, "outputTokens": 3, "totalTokens": 33}, "metrics": {}},
                ),
            ]
        )
    )
    with WaxellContext(agent_name="bedrock-stream") as ctx:
        answer = client.converse_stream(modelId=NOVA, messages=MESSAGES)
        assert isinstance(answer["stream"], EventStream)
        text = "".join(
            e["contentBlockDelta"]["delta"]["text"] for e in answer["stream"] if "contentBlockDelta" in e
        )
    assert text == "Lima."
    assert stub.requests[0].path == "/model/amazon.nova-lite-v1%3A0/converse-stream"
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["response_preview"]) == (
        NOVA,
        30,
        3,
        "Lima.",
    )
    attributes = call["attributes"]
    assert (attributes["api"], attributes["stream"], attributes["finish_reason"]) == (
        "ConverseStream",
        True,
        "end_turn",
    )
    assert attributes["ttft_ms"] >= 0 and "partial" not in attributes


def test_invoke_model_with_an_anthropic_body(client: Any, stub: StubLLMServer, read_run: Any) -> None:
    answer = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-haiku-20241022",
        "content": [{"type": "text", "text": "Lima."}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 12, "output_tokens": 2, "cache_read_input_tokens": 40},
    }
    stub.reply_json(answer)
    request = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Capital of Peru?"}],
    }
    with WaxellContext(agent_name="bedrock-invoke") as ctx:
        response = client.invoke_model(modelId=CLAUDE, body=json.dumps(request))
        assert json.loads(response["body"].read()) == answer  # the caller still reads the whole body
    assert stub.requests[0].body == request
    call = only_call(read_run(ctx.run_id))
    assert (call["model"], call["provider"], call["tokens_in"], call["tokens_out"]) == (
        CLAUDE,
        "bedrock",
        52,
        2,
    )
    assert call["attributes"]["cached_tokens_in"] == 40
    assert call["cost"] == round((12 * 0.80 + 40 * 0.08 + 2 * 4.0) / 1e6, 10)
    assert (call["prompt_preview"], call["response_preview"]) == ("Capital of Peru?", "Lima.")
    attributes = call["attributes"]
    assert (attributes["api"], attributes["model_family"], attributes["request"]) == (
        "InvokeModel",
        "anthropic",
        {"max_tokens": 50},
    )


def test_invoke_model_titan_embeddings_llama_and_any_model_by_its_headers(
    client: Any, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_json({"embedding": [0.1, 0.2, 0.3, 0.4], "inputTextTokenCount": 6})
    stub.reply_json(
        {
            "inputTextTokenCount": 9,
            "results": [{"tokenCount": 2, "outputText": "Lima.", "completionReason": "FINISH"}],
        }
    )
    stub.reply_json(
        {"generation": "Lima.", "prompt_token_count": 18, "generation_token_count": 3, "stop_reason": "stop"}
    )
    stub.reply_json(
        {"generations": [{"text": "Lima."}]},
        headers={"x-amzn-bedrock-input-token-count": "15", "x-amzn-bedrock-output-token-count": "4"},
    )
    with WaxellContext(agent_name="bedrock-families") as ctx:
        client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "hello"}))
        client.invoke_model(
            modelId="amazon.titan-text-express-v1", body=json.dumps({"inputText": "Capital of Peru?"})
        )
        client.invoke_model(
            modelId="meta.llama3-3-70b-instruct-v1:0",
            body=json.dumps({"prompt": "Capital of Peru?", "max_gen_len": 20}),
        )
        client.invoke_model(modelId="cohere.command-r-v1:0", body=json.dumps({"message": "Capital of Peru?"}))
    calls = read_run(ctx.run_id)["llm_calls"]
    assert [
        (c["model"], c["attributes"]["operation"], c["tokens_in"], c["tokens_out"], c["response_preview"])
        for c in calls
    ] == [
        ("amazon.titan-embed-text-v2:0", "embeddings", 6, 0, ""),
        ("amazon.titan-text-express-v1", "completion", 9, 2, "Lima."),
        ("meta.llama3-3-70b-instruct-v1:0", "completion", 18, 3, "Lima."),
        ("cohere.command-r-v1:0", "chat", 15, 4, ""),
    ]
    assert calls[0]["attributes"]["dimensions"] == 4
    assert [c["cost"] for c in calls[:3]] == [
        round(6 * 0.02 / 1e6, 10),
        round((9 * 0.20 + 2 * 0.60) / 1e6, 10),
        round((18 * 0.72 + 3 * 0.72) / 1e6, 10),
    ]
    assert calls[1]["prompt_preview"] == "Capital of Peru?"


def test_invoke_model_with_response_stream(client: Any, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_sse(
        invoke_chunks(
            [
                {"type": "message_start", "message": {"usage": {"input_tokens": 12, "output_tokens": 1}}},
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Li"}},
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ma."}},
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": 3},
                },
                {
                    "type": "message_stop",
                    "amazon-bedrock-invocationMetrics": {"inputTokenCount": 12, "outputTokenCount": 3},
                },
            ]
        )
    )
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    with WaxellContext(agent_name="bedrock-invoke-stream") as ctx:
        response = client.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(body))
        events = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
    assert len(events) == 5
    call = only_call(read_run(ctx.run_id))
    assert (call["tokens_in"], call["tokens_out"], call["response_preview"]) == (12, 3, "Lima.")
    assert (call["attributes"]["api"], call["attributes"]["stream"]) == (
        "InvokeModelWithResponseStream",
        True,
    )
    assert call["attributes"]["finish_reason"] == "end_turn"


def test_an_error_is_recorded_and_reraised(client: Any, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json(
        {"message": "The model is not supported"},
        status=400,
        headers={"x-amzn-ErrorType": "ValidationException"},
    )
    with (
        WaxellContext(agent_name="bedrock-error") as ctx,
        pytest.raises(client.exceptions.ValidationException),
    ):
        client.converse(modelId="amazon.nova-nope-v1:0", messages=MESSAGES)
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"], call["model"]) == (
        "error",
        "ValidationException",
        "amazon.nova-nope-v1:0",
    )
    assert (call["attributes"]["http_status"], call["attributes"]["error_code"]) == (
        400,
        "ValidationException",
    )


def test_a_blocked_model_never_leaves(client: Any, stub: StubLLMServer) -> None:
    block_model(NOVA)
    with WaxellContext(agent_name="bedrock-agent"), pytest.raises(PolicyViolationError, match="nova-lite"):
        client.converse(modelId=NOVA, messages=MESSAGES)
    assert stub.requests == []


def test_other_calls_pass_through_unrecorded(client: Any, stub: StubLLMServer, read_run: Any) -> None:
    stub.reply_json({"inputTokens": 5})
    with WaxellContext(agent_name="bedrock-count") as ctx:
        counted = client.count_tokens(modelId=CLAUDE, input={"converse": {"messages": MESSAGES}})
    assert counted["inputTokens"] == 5
    assert read_run(ctx.run_id)["llm_calls"] == []


def test_boto3_imported_after_init_is_captured(stub: StubLLMServer, read_run: Any, waxell_db: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from waxell_observe.initialization import init
        from waxell_observe import WaxellContext, flush_sync
        init(instrument=["bedrock"])
        lazy = "botocore" not in sys.modules
        import boto3
        client = boto3.client(
            "bedrock-runtime", region_name="us-east-1", endpoint_url={stub.base_url!r},
            aws_access_key_id="AKIDTEST", aws_secret_access_key="secret",
        )
        with WaxellContext(agent_name="late-import") as ctx:
            client.converse(modelId={NOVA!r}, messages=[{{"role": "user", "content": [{{"text": "late"}}]}}])
        flush_sync(timeout=30)
        print(json.dumps({{"lazy": lazy, "run_id": ctx.run_id}}))
        """
    )
    stub.reply_json(converse_answer("late answer", {"inputTokens": 6, "outputTokens": 2}))
    env = dict(os.environ, WAXELL_DB=str(waxell_db))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["lazy"] is True
    calls = read_run(result["run_id"])["llm_calls"]
    assert [
        (c["model"], c["provider"], c["tokens_in"], c["tokens_out"], c["response_preview"]) for c in calls
    ] == [(NOVA, "bedrock", 6, 2, "late answer")]


def test_a_stream_exception_event_is_recorded_as_an_error(
    client: Any, stub: StubLLMServer, read_run: Any
) -> None:
    events = event_stream(
        [
            ("messageStart", {"role": "assistant"}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Li"}}),
        ]
    )
    events.append(event("throttlingException", {"message": "slow down"}, message_type="exception"))
    stub.reply_sse(events)
    with WaxellContext(agent_name="bedrock-stream-error") as ctx:
        answer = client.converse_stream(modelId=NOVA, messages=MESSAGES)
        with pytest.raises(EventStreamError, match="slow down"):
            for _ in answer["stream"]:
                pass
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["error_type"], call["attributes"]["stream"]) == (
        "error",
        "EventStreamError",
        True,
    )


def test_a_stream_closed_early_is_recorded_as_partial(
    client: Any, stub: StubLLMServer, read_run: Any
) -> None:
    stub.reply_sse(
        event_stream(
            [
                ("messageStart", {"role": "assistant"}),
                ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Li"}}),
                ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "ma."}}),
                ("messageStop", {"stopReason": "end_turn"}),
                (
                    "metadata",
                    {"usage": {"inputTokens": 30, "outputTokens": 3, "totalTokens": 33}, "metrics": {}},
                ),
            ]
        )
    )
    with WaxellContext(agent_name="bedrock-stream-early") as ctx:
        stream = client.converse_stream(modelId=NOVA, messages=MESSAGES)["stream"]
        for event_ in stream:
            if "contentBlockDelta" in event_:
                break
        stream.close()
    call = only_call(read_run(ctx.run_id))
    assert (call["status"], call["response_preview"], call["attributes"]["partial"]) == ("ok", "Li", True)
    assert call["attributes"]["usage_reported"] is False


def test_a_redacted_invoke_model_body_is_what_is_sent(
    client: Any, stub: StubLLMServer, read_run: Any, configure: Any
) -> None:
    configure(prompt_guard=True, prompt_guard_action="redact")
    stub.reply_json({"generation": "Noted.", "prompt_token_count": 10, "generation_token_count": 2})
    with WaxellContext(agent_name="bedrock-redact") as ctx:
        client.invoke_model(
            modelId="meta.llama3-3-70b-instruct-v1:0", body=json.dumps({"prompt": "My SSN is 123-45-6789."})
        )
    sent = stub.requests[0].body["prompt"]
    assert "123-45-6789" not in sent and sent.startswith("My SSN is ")
    assert only_call(read_run(ctx.run_id))["tokens_in"] == 10

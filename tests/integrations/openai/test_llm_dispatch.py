"""``waxell_observe.llm.call`` / ``text`` / ``json`` / ``tool`` (and the async twins) through a manifest:
the real ``openai`` client pointed at stub providers on 127.0.0.1, fallback along a model group, the
errors, and the call recorded on the run by the OpenAI integration."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from integrations.llm_stub import StubLLMServer
from integrations.openai import payloads as p
from waxell_observe import WaxellContext, llm
from waxell_observe.config import ObserveConfig

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _answer(model: str, content: str | None, **options: Any) -> dict[str, Any]:
    options.setdefault("usage_", p.usage(10, 2))
    return p.completion(model, content, **options)


def _manifest(primary: str, backup: str, **extra: Any) -> llm.LlmManifest:
    return llm.LlmManifest.from_dict(
        {
            "schema_version": 1,
            "instances": [
                {"instance_id": "primary", "kind": "openai_compatible", "base_url": primary,
                 "secret_ref": "PRIMARY_KEY"},
                {"instance_id": "backup", "kind": "vllm", "base_url": backup},
                {"instance_id": "elsewhere", "kind": "bedrock"},
            ],
            "tenant_models": [
                {"model_id": "big", "instance_id": "primary", "provider_model_id": "big-2024",
                 "supports_json": True, "supports_tools": True},
                {"model_id": "small", "instance_id": "backup", "provider_model_id": "small-v1"},
                {"model_id": "far", "instance_id": "elsewhere"},
            ],
            "model_groups": [
                {"group_id": "chain", "entries": [
                    {"position": 0, "instance_id": "primary", "model_id": "big"},
                    {"position": 1, "instance_id": "backup", "model_id": "small"},
                ]},
                {"group_id": "unreachable",
                 "entries": [{"position": 0, "instance_id": "elsewhere", "model_id": "far"}]},
            ],
            **extra,
        }
    )  # fmt: skip


@pytest.fixture
def backup() -> Any:
    with StubLLMServer() as server:
        yield server


def test_text_json_tool_through_the_first_candidate(
    stub: StubLLMServer, backup: StubLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRIMARY_KEY", "sk-primary")
    manifest = _manifest(stub.base_url + "/v1", backup.base_url + "/v1")
    stub.reply_json(_answer("big-2024", "Oslo."))
    assert llm.text("chain", "Capital of Norway?", manifest=manifest, temperature=0) == "Oslo."
    sent = stub.requests[0]
    assert (sent.path, sent.headers["Authorization"]) == ("/v1/chat/completions", "Bearer sk-primary")
    assert sent.body == {
        "model": "big-2024",
        "messages": [{"role": "user", "content": "Capital of Norway?"}],
        "temperature": 0,
    }

    stub.reply_json(_answer("big-2024", '{"city": "Oslo"}'))
    assert llm.json("chain", [{"role": "user", "content": "JSON please"}], manifest=manifest) == {
        "city": "Oslo"
    }
    assert stub.requests[1].body["response_format"] == {"type": "json_object"}

    stub.reply_json(
        _answer(
            "big-2024", None, finish_reason="tool_calls", tool_calls=[p.tool_call("c1", "get_weather", "{}")]
        )
    )
    calls = llm.tool("big", "Weather?", [WEATHER_TOOL], manifest=manifest)
    assert [(c.id, c.function.name) for c in calls] == [("c1", "get_weather")]
    assert stub.requests[2].body["tools"] == [WEATHER_TOOL]
    assert backup.requests == []


def test_fallback_along_the_group(
    stub: StubLLMServer,
    backup: StubLLMServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("PRIMARY_KEY", "sk-primary")
    manifest = _manifest(stub.base_url + "/v1", backup.base_url + "/v1")
    stub.reply_json({"error": {"message": "overloaded"}}, status=503)
    backup.reply_json(_answer("small-v1", "Oslo, from the backup."))
    answer = llm.call("chain", "Capital of Norway?", manifest=manifest)
    assert answer.choices[0].message.content == "Oslo, from the backup."
    assert backup.requests[0].body["model"] == "small-v1"
    assert backup.requests[0].headers["Authorization"] == "Bearer not-needed"  # no secret_ref
    assert "big@primary failed" in caplog.text

    # the primary's secret is missing here: it is skipped, the backup answers
    monkeypatch.delenv("PRIMARY_KEY")
    backup.reply_json(_answer("small-v1", "Still Oslo."))
    assert llm.text("chain", "Again?", manifest=manifest) == "Still Oslo."
    assert len(stub.requests) == 1
    assert "environment variable 'PRIMARY_KEY', which is not set" in caplog.text


def test_errors(stub: StubLLMServer, backup: StubLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIMARY_KEY", "sk-primary")
    manifest = _manifest(stub.base_url + "/v1", backup.base_url + "/v1")

    with pytest.raises(llm.NoProviderAvailable) as none:
        llm.call("unreachable", "hi", manifest=manifest)
    assert str(none.value) == (
        "no provider can be called for 'unreachable': far@elsewhere: instance 'elsewhere' has kind "
        "'bedrock', which waxell_observe.llm cannot call (supported: openai, azure_openai, "
        "openai_compatible, vllm, ollama, lmstudio, litellm, together, groq, deepseek, mistral, fireworks, "
        "openrouter)"
    )

    # every candidate failed
    stub.reply_json({"error": {"message": "rate limited"}}, status=429)
    backup.reply_json({"error": {"message": "down"}}, status=500)
    with pytest.raises(llm.DispatchError) as failed:
        llm.call("chain", "hi", manifest=manifest)
    assert [where for where, _ in failed.value.failures] == ["big@primary", "small@backup"]
    assert failed.value.failures[0][1].startswith("RateLimitError: Error code: 429")

    # a bad request is not retried elsewhere
    stub.reply_json({"error": {"message": "messages: bad"}}, status=400)
    with pytest.raises(llm.DispatchError) as bad:
        llm.call("chain", "hi", manifest=manifest)
    assert [where for where, _ in bad.value.failures] == ["big@primary"]
    assert len(backup.requests) == 1

    stub.reply_json(_answer("big-2024", "not json"))
    with pytest.raises(llm.DispatchError, match="the answer is not JSON"):
        llm.json("big", "JSON?", manifest=manifest)
    with pytest.raises(llm.NoCandidateForMode):
        llm.json("small", "JSON?", manifest=manifest)
    with pytest.raises(ValueError, match=r"mode 'tool' needs tools=\[...\]"):
        llm.call("big", "hi", mode="tool", manifest=manifest)


def test_build_client_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    import openai

    monkeypatch.setenv("AZ", "sk-az")
    azure = llm.ProviderInstance(
        "az",
        "azure_openai",
        base_url="https://east.example.com",
        secret_ref="env:AZ",
        extra_config={"api_version": "2024-10-21", "timeout": 7, "max_retries": 1},
    )
    client = llm.build_client(azure)
    assert isinstance(client, openai.AzureOpenAI)
    assert (client.api_key, client.max_retries, client.timeout) == ("sk-az", 1, 7.0)
    assert isinstance(llm.build_client(azure, asynchronous=True), openai.AsyncAzureOpenAI)
    plain = llm.build_client(llm.ProviderInstance("o", "openai", secret_ref="AZ"))
    assert (type(plain), str(plain.base_url), plain.max_retries) == (
        openai.OpenAI,
        "https://api.openai.com/v1/",
        0,
    )
    with pytest.raises(llm.LlmError, match="needs a base_url"):
        llm.build_client(llm.ProviderInstance("v", "vllm"))
    with pytest.raises(llm.LlmError, match="extra_config.api_version"):
        llm.build_client(llm.ProviderInstance("a", "azure_openai", base_url="https://x"))
    with pytest.raises(llm.SecretNotInEnvironment) as missing:
        llm.build_client(llm.ProviderInstance("o", "openai", secret_ref="NOPE_NOT_SET"))
    assert missing.value.variable == "NOPE_NOT_SET"


def test_async_call_is_recorded_on_the_run(
    stub: StubLLMServer, backup: StubLLMServer, instrumented: ObserveConfig, read_run: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("PRIMARY_KEY", "sk-primary")
    manifest = _manifest(stub.base_url + "/v1", backup.base_url + "/v1")
    stub.reply_json({"error": {"message": "gone"}}, status=404)
    backup.reply_json(_answer("small-v1", "Bergen.", usage_=p.usage(12, 3)))

    async def main() -> str:
        async with WaxellContext(agent_name="router") as ctx:
            assert await llm.atext("chain", "Second city of Norway?", manifest=manifest) == "Bergen."
        return ctx.run_id

    run = read_run(asyncio.run(main()))
    calls = [(c["model"], c["status"], c["tokens_in"], c["tokens_out"]) for c in run["llm_calls"]]
    assert calls == [("big-2024", "error", 0, 0), ("small-v1", "ok", 12, 3)]

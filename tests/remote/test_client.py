"""WaxellObserveClient, as a program written for the reference SDK uses it: coroutine methods with
keyword-only ``_sync`` twins, the exact request bodies, typed results, the transport's retries
and connection breaker (failures answer ``{}``, never raise), prompt caching; and the strict
layer the SDK's own senders use (``send_sync``/``request_sync``, failures classified)."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import subprocess
import sys
import time
from typing import Any

import pytest
from remote_stubs import HungServer, ProtocolStub, Reply, free_port

from waxell_observe import (
    ObserveConfig,
    PolicyCheckResult,
    PromptInfo,
    PromptNotFoundError,
    RunCompleteResult,
    RunInfo,
    WaxellObserveClient,
    execution_region,
)
from waxell_observe.client import ControlPlaneError, breaker, builders, transport
from waxell_observe.transport.errors import MAX_RETRY_AFTER_SECONDS, parse_retry_after
from waxell_observe.types import DailyRunInfo

RUN = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def quick_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short backoffs and read timeouts; a clean connection breaker per test."""
    monkeypatch.setattr(transport, "BACKOFF", (0.01, 0.02))
    monkeypatch.setattr(transport, "READ_TIMEOUT", 0.5)
    monkeypatch.delenv("WAXELL_EXECUTION_REGION", raising=False)
    monkeypatch.setenv("WAXELL_REGION_DETECT", "off")
    WaxellObserveClient.reset_connection_breaker()


@pytest.fixture
def client(stub: ProtocolStub) -> WaxellObserveClient:
    return WaxellObserveClient(api_url=stub.url + "/", api_key="wax_sk_abc")


def _answer_extras(stub: ProtocolStub) -> None:
    extras = {
        "governance-decision/": {"run_found": True},
        "policy-manifest/": {"manifest_version": "1"},
        "events/": {},
        "prompt-guard/": {"action": "allow", "violations": [], "redacted_text": "hi", "scan_time_ms": 1},
        "runs/daily/": {
            "run_id": "d1",
            "workflow_id": "w1",
            "started_at": "t",
            "date": "2026-12-07",
            "created": 1,
        },
    }
    stub.rules.append(lambda s: Reply(body=extras[s.path]) if s.path in extras else None)


async def _every_method(client: WaxellObserveClient) -> list[Any]:
    return [
        await client.check_policy(agent_name="agent", workflow_name="wf", inputs={"q": 1}, user_id="u"),
        await client.get_policy_manifest(agent_name="agent", user_group="free"),
        await client.start_run(
            agent_name="agent",
            workflow_name="wf",
            inputs={"q": 1},
            metadata={"m": 1},
            session_id="s",
            interaction_mode="interactive",
            agent_slug="slug",
        ),  # fmt: skip
        await client.record_llm_calls(
            run_id=RUN, calls=[{"model": "gpt-4o"}], conversation_state={"user_turns": 1}
        ),
        await client.record_steps(run_id=RUN, steps=[{"step_name": "s", "position": 1}]),
        await client.record_spans(run_id=RUN, spans=[{"name": "tool", "kind": "tool"}]),
        await client.record_scores(run_id=RUN, scores=[{"name": "q", "numeric_value": 1.0}]),
        await client.complete_run(run_id=RUN, result={"a": 1}, error_type="E"),
        await client.record_events(events=[{"workflow_id": RUN, "event": "approval_requested"}]),
        await client.record_governance_decisions(
            agent_name="agent",
            surface="llm.after",
            decisions=[{"policy": "p", "action": "warn"}],
            workflow_id=RUN,
        ),
        await client.prompt_guard(text="hi", agent_name="agent", model="m"),
        await client.start_daily_run(agent_slug="slug", date="2026-12-07"),
    ]


def _every_method_sync(client: WaxellObserveClient) -> list[Any]:
    return [
        client.check_policy_sync(agent_name="agent", workflow_name="wf", inputs={"q": 1}, user_id="u"),
        client.get_policy_manifest_sync(agent_name="agent", user_group="free"),
        client.start_run_sync(
            agent_name="agent",
            workflow_name="wf",
            inputs={"q": 1},
            metadata={"m": 1},
            session_id="s",
            interaction_mode="interactive",
            agent_slug="slug",
        ),  # fmt: skip
        client.record_llm_calls_sync(
            run_id=RUN, calls=[{"model": "gpt-4o"}], conversation_state={"user_turns": 1}
        ),
        client.record_steps_sync(run_id=RUN, steps=[{"step_name": "s", "position": 1}]),
        client.record_spans_sync(run_id=RUN, spans=[{"name": "tool", "kind": "tool"}]),
        client.record_scores_sync(run_id=RUN, scores=[{"name": "q", "numeric_value": 1.0}]),
        client.complete_run_sync(run_id=RUN, result={"a": 1}, error_type="E"),
        client.record_events_sync(events=[{"workflow_id": RUN, "event": "approval_requested"}]),
        client.record_governance_decisions_sync(
            agent_name="agent",
            surface="llm.after",
            decisions=[{"policy": "p", "action": "warn"}],
            workflow_id=RUN,
        ),
        client.prompt_guard_sync(text="hi", agent_name="agent", model="m"),
        client.start_daily_run_sync(agent_slug="slug", date="2026-12-07"),
    ]


EXPECTED = [
    ("POST", "policy-check/"), ("GET", "policy-manifest/"), ("POST", "runs/start/"),
    ("POST", "runs/{id}/llm-calls/"), ("POST", "runs/{id}/steps/"), ("POST", "runs/{id}/spans/"),
    ("POST", "runs/{id}/scores/"), ("POST", "runs/{id}/complete/"), ("POST", "events/"),
    ("POST", "governance-decision/"), ("POST", "prompt-guard/"), ("POST", "runs/daily/"),
]  # fmt: skip


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_every_method_sends_the_reference_body_and_returns_its_type(
    stub: ProtocolStub, client: WaxellObserveClient, mode: str
) -> None:
    _answer_extras(stub)
    stub.runs[RUN] = {"start": {}, "records": __import__("collections").defaultdict(list), "complete": None}
    replies = _every_method_sync(client) if mode == "sync" else asyncio.run(_every_method(client))
    assert [(s.method, s.path.replace(RUN, "{id}")) for s in stub.seen] == EXPECTED
    assert all(s.headers["x-wax-key"] == "wax_sk_abc" for s in stub.seen)
    assert all(s.headers["content-type"] == "application/json" for s in stub.seen if s.method == "POST")
    bodies = {s.path.replace(RUN, "{id}"): s.body for s in stub.seen}
    assert bodies["policy-check/"] == {
        "agent_name": "agent", "workflow_name": "wf", "agent_id": "", "inputs": {"q": 1}, "user_id": "u"
    }  # fmt: skip
    assert stub.seen[1].query == "agent_name=agent&user_group=free"
    assert bodies["runs/start/"] == {
        "agent_name": "agent", "workflow_name": "wf", "inputs": {"q": 1}, "metadata": {"m": 1},
        "trace_id": "",
        "session_id": "s", "interaction_mode": "interactive", "agent_slug": "slug",
    }  # fmt: skip
    assert bodies["runs/{id}/llm-calls/"] == {
        "calls": [{"model": "gpt-4o"}], "hardware_uuid": "", "conversation_state": {"user_turns": 1}
    }  # fmt: skip
    assert bodies["runs/{id}/steps/"] == {"steps": [{"step_name": "s", "position": 1}], "hardware_uuid": ""}
    assert bodies["runs/{id}/complete/"] == {
        "result": {"a": 1}, "status": "success", "error": "", "steps": [], "error_type": "E"
    }  # fmt: skip
    assert bodies["governance-decision/"] == {
        "agent_name": "agent", "workflow_id": RUN, "surface": "llm.after",
        "decisions": [{"policy": "p", "action": "warn"}], "span_only": False,
    }  # fmt: skip
    assert bodies["prompt-guard/"] == {"text": "hi", "agent_name": "agent", "model": "m"}
    assert bodies["runs/daily/"] == {"agent_slug": "slug", "agent_type": "mcp", "date": "2026-12-07"}
    policy, manifest, start = replies[0], replies[1], replies[2]
    assert isinstance(policy, PolicyCheckResult) and (policy.action, policy.allowed) == ("allow", True)
    assert manifest == {"manifest_version": "1"}
    assert isinstance(start, RunInfo) and start.run_id and start.started_at == "2026-01-01T00:00:00+00:00"
    complete = replies[7]
    assert isinstance(complete, RunCompleteResult)
    assert (complete.run_id, complete.duration, complete.governance_action, complete.should_retry) == (
        RUN, 0.1, "allow", False
    )  # fmt: skip
    assert replies[8] is None and replies[9] == {"run_found": True}
    assert replies[10]["redacted_text"] == "hi"
    assert replies[11] == DailyRunInfo("d1", "w1", "t", "2026-12-07", True)


def test_sync_twins_take_keyword_arguments_only(client: WaxellObserveClient) -> None:
    with pytest.raises(TypeError):
        client.start_run_sync("agent")  # type: ignore[call-arg]
    assert asyncio.iscoroutinefunction(WaxellObserveClient.start_run)
    assert asyncio.iscoroutinefunction(WaxellObserveClient.close)
    assert not hasattr(client, "astart_run") and not hasattr(client, "aget_prompt")


def test_empty_batches_send_nothing(stub: ProtocolStub, client: WaxellObserveClient) -> None:
    assert client.record_llm_calls_sync(run_id=RUN, calls=[]) == {}
    assert client.record_scores_sync(run_id=RUN, scores=[]) == {}
    assert client.record_spans_sync(run_id=RUN, spans=[]) == {}
    assert client.record_events_sync(events=[]) is None
    assert stub.seen == []


def test_check_policy_moves_redacted_inputs_out_of_metadata(
    stub: ProtocolStub, client: WaxellObserveClient
) -> None:
    stub.policy_reply = {
        "action": "redact",
        "reason": "pii",
        "metadata": {"redacted_inputs": {"q": "##EMAIL##"}},
    }
    result = client.check_policy_sync(
        agent_name="agent", agent_type="bot", delegation={"parent_workflow_id": "p"}, user_group="g"
    )
    assert (result.should_redact, result.redacted_inputs, result.metadata) == (True, {"q": "##EMAIL##"}, {})
    assert stub.seen[0].body == {
        "agent_name": "agent", "workflow_name": "", "agent_id": "", "agent_type": "bot", "user_group": "g",
        "signal": {"conversation_state": {"delegation_data": {"parent_workflow_id": "p"}}},
    }  # fmt: skip


def test_the_machines_region_goes_with_policy_checks(
    stub: ProtocolStub, client: WaxellObserveClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAXELL_REGION_DETECT", "on")
    monkeypatch.setenv("WAXELL_EXECUTION_REGION", "de")
    client.check_policy_sync(agent_name="agent")
    assert stub.seen[0].body["metadata"] == {"execution_region": "DE", "execution_region_source": "declared"}
    monkeypatch.delenv("WAXELL_EXECUTION_REGION")  # no region of the process: the locale's country
    for name, _ in execution_region.CLOUD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(execution_region, "_DMI_DIR", "/nonexistent")
    monkeypatch.setattr("locale.getlocale", lambda: ("pt_BR", "UTF-8"))
    client.check_policy_sync(agent_name="agent")
    assert stub.seen[1].body["metadata"] == {
        "execution_region": "BR",
        "execution_region_source": "device_locale",
    }


def test_failures_answer_empty_values_and_never_raise(
    stub: ProtocolStub, client: WaxellObserveClient
) -> None:
    stub.fail(500)
    assert client.start_run_sync(agent_name="agent") == RunInfo("", "", "")
    assert len(stub.requests("runs/start/")) == 3  # 5xx: three attempts
    stub.clear_rules()
    stub.fail(422)
    assert client.get_policy_manifest_sync(agent_name="agent") == {}
    assert len(stub.requests("policy-manifest/")) == 1  # 4xx: final
    assert client.check_policy_sync(agent_name="agent").action == "allow"
    result = client.complete_run_sync(run_id=RUN)
    assert (result.run_id, result.governance_action, result.duration) == (RUN, "allow", None)


def test_an_unconfigured_client_warns_and_sends_nothing(caplog: pytest.LogCaptureFixture) -> None:
    client = WaxellObserveClient.from_config(ObserveConfig())
    with caplog.at_level(logging.WARNING, logger="waxell_observe"):
        assert client.start_run_sync(agent_name="agent") == RunInfo("", "", "")
    assert "not configured" in caplog.text
    with pytest.raises(RuntimeError, match="not configured"):
        client.check_policy_surface_sync("agent", surface="tool.before")
    with pytest.raises(RuntimeError, match="not configured"):
        client.prompt_guard_gate_sync("text")
    with pytest.raises(PromptNotFoundError) as raised:
        client.get_prompt_sync(name="greeting")
    assert raised.value.status_code is None


def test_the_connection_breaker_skips_a_host_that_does_not_answer(hung: HungServer) -> None:
    down = WaxellObserveClient(api_url=f"http://127.0.0.1:{free_port()}", api_key="")
    host = transport.host_of(down.config.api_url)
    assert down.record_steps_sync(run_id=RUN, steps=[{"step_name": "a"}]) == {}  # refused: not retried
    assert breaker.allows(host)
    assert down.record_steps_sync(run_id=RUN, steps=[{"step_name": "a"}]) == {}
    assert not breaker.allows(host)  # two calls without an answer: open
    WaxellObserveClient.reset_connection_breaker()
    assert breaker.allows(host)
    hanging = WaxellObserveClient(api_url=hung.url, api_key="")
    for _ in range(2):
        hanging.record_steps_sync(run_id=RUN, steps=[{"step_name": "a"}])
    started = time.monotonic()
    assert hanging.start_run_sync(agent_name="agent") == RunInfo("", "", "")
    assert time.monotonic() - started < 0.3  # skipped without a request


def test_surface_check_is_one_strict_attempt(stub: ProtocolStub, client: WaxellObserveClient) -> None:
    stub.policy_reply = {"action": "warn", "reason": "r", "evaluations": []}
    reply = client.check_policy_surface_sync(
        "agent", surface="tool.before", signal={"tool_name": "rm"}, categories=["b", "a", "a"],
        policies=["p"],
        workflow_id="wf1",
    )  # fmt: skip
    assert reply["action"] == "warn"
    assert stub.seen[0].body == {
        "agent_name": "agent", "workflow_name": "", "user_group": "", "surface": "tool.before",
        "signal": {"tool_name": "rm"}, "categories": ["a", "b"], "policies": ["p"], "workflow_id": "wf1",
    }  # fmt: skip
    stub.fail(503)
    with pytest.raises(ControlPlaneError) as raised:
        client.check_policy_surface_sync("agent", surface="tool.before")
    assert raised.value.status == 503 and len(stub.requests("policy-check/")) == 2
    with pytest.raises(ControlPlaneError):
        client.prompt_guard_gate_sync("text", model="m")
    assert stub.seen[-1].body == {"text": "text", "model": "m"}


PROMPT = {
    "name": "greet/v", "version": 3, "prompt_type": "text", "content": "Hi {{who}}", "config": {"t": 0},
    "labels": ["prod"], "content_hash": "abc",
}  # fmt: skip


def test_get_prompt_caches_and_invalidates(stub: ProtocolStub, client: WaxellObserveClient) -> None:
    stub.rules.append(lambda s: Reply(body=PROMPT) if s.path.startswith("prompts/greet%2Fv/") else None)
    info = client.get_prompt_sync(name="greet/v", label="prod")
    assert info == PromptInfo("greet/v", 3, "text", "Hi {{who}}", {"t": 0}, ["prod"], "abc")
    assert info.compile(who="Ada") == "Hi Ada" and info.compile(who="Ada")._waxell_template_hash == "abc"
    assert stub.seen[-1].query == "label=prod"
    assert asyncio.run(client.get_prompt("greet/v", label="prod")) == info  # cached
    assert len(stub.seen) == 1
    client.get_prompt_sync(name="greet/v", label="prod", use_cache=False)
    client.get_prompt_sync(name="greet/v", version=3)
    assert stub.seen[-1].query == "version=3" and len(stub.seen) == 3
    client.invalidate_prompt_cache("greet/v")
    client.get_prompt_sync(name="greet/v", label="prod")
    assert len(stub.seen) == 4
    client.invalidate_prompt_cache()
    client.prompt_cache_ttl = 0
    client.get_prompt_sync(name="greet/v", label="prod")
    client.get_prompt_sync(name="greet/v", label="prod")
    assert len(stub.seen) == 6


def test_a_missing_prompt_raises_prompt_not_found(stub: ProtocolStub, client: WaxellObserveClient) -> None:
    with pytest.raises(PromptNotFoundError) as raised:
        client.get_prompt_sync(name="missing", version=2)
    error = raised.value
    assert (error.name, error.version, error.status_code, error.detail) == (
        "missing",
        2,
        404,
        "no such endpoint",
    )
    assert str(error) == "Prompt 'missing' / version 2 not found: no such endpoint"
    stub.rules.append(lambda s: Reply(200, raw=b"") if s.path.startswith("prompts/") else None)
    with pytest.raises(PromptNotFoundError):
        client.get_prompt_sync(name="empty")


def test_publish_partial_output_is_fire_and_forget(stub: ProtocolStub, client: WaxellObserveClient) -> None:
    assert client.publish_partial_output(run_id=RUN, partial="x" * 30_000, chunk_count=4, done=True) is None
    client.publish_partial_output(run_id="", partial="ignored")
    deadline = time.monotonic() + 5
    while not stub.requests(f"runs/{RUN}/partial/") and time.monotonic() < deadline:
        time.sleep(0.01)
    body = stub.requests(f"runs/{RUN}/partial/")[0].body
    assert (len(body["partial"]), body["chunk_count"], body["model"], body["done"]) == (20_000, 4, "", True)


def test_memory_writes_go_to_the_observability_prefix() -> None:
    episodic = builders.episodic_memory(run_id="r", slot_name="s", scope_key="k", data=[1], ttl_seconds=5)
    assert episodic.path == "/api/v1/observability/runs/r/memory/episodic/"
    assert episodic.body == {
        "slot_name": "s",
        "scope_key": "k",
        "memory_type": "list",
        "data": [1],
        "ttl_seconds": 5,
    }
    fact = builders.semantic_fact(
        run_id="r", slot_name="s", scope_key="k", content="c", content_embedding=[0.5]
    )
    assert fact.body == {
        "slot_name": "s", "scope_key": "k", "content": "c", "content_embedding": [0.5], "importance": 0.7,
        "tags": [], "source_tool": "",
    }  # fmt: skip


def test_class_level_configuration(stub: ProtocolStub) -> None:
    assert WaxellObserveClient.DEFAULT_PROMPT_CACHE_TTL == 60.0
    WaxellObserveClient.configure(api_url=stub.url, api_key="wax_sk_global")
    config = WaxellObserveClient.get_config()
    assert config is not None and config.api_key == "wax_sk_global"
    assert WaxellObserveClient.is_configured()
    client = WaxellObserveClient(api_key="wax_sk_mine", prompt_cache_ttl=5)
    assert (client.config.api_url, client.config.api_key, client.prompt_cache_ttl) == (
        stub.url,
        "wax_sk_mine",
        5.0,
    )


# -- the strict layer (the SDK's own senders) ----------------------------------------------------


def test_strict_failures_are_classified(stub: ProtocolStub, client: WaxellObserveClient) -> None:
    answers = {
        "a": Reply(500, {"detail": "boom"}),
        "b": Reply(429, {"detail": "slow down"}, {"Retry-After": "7"}),
        "c": Reply(422, {"detail": [{"loc": ["body", "agent_name"], "msg": "field required"}]}),
        "d": Reply(307, {}, {"Location": "/elsewhere/"}),
        "e": Reply(200, raw=b"<html>not json</html>"),
        "f": Reply(200, raw=b""),
    }
    stub.rules.append(lambda s: answers.get(s.path.split("/")[1]) if s.path.startswith("prompts/") else None)
    outcomes: dict[str, Any] = {}
    for name in answers:
        try:
            outcomes[name] = client.send_sync(builders.prompt(name=name))
        except ControlPlaneError as exc:
            outcomes[name] = (exc.status, exc.retryable, exc.retry_after, exc.accepted, exc.detail)
    assert outcomes == {
        "a": (500, True, None, False, "boom"),
        "b": (429, True, 7.0, False, "slow down"),
        "c": (422, False, None, False, '[{"loc": ["body", "agent_name"], "msg": "field required"}]'),
        "d": (307, False, None, False, "{}"),
        "e": (200, False, None, True, "<html>not json</html>"),
        "f": {},
    }


def test_strict_connection_errors_and_timeouts_are_retryable(hung: HungServer) -> None:
    refused = WaxellObserveClient(api_url=f"http://127.0.0.1:{free_port()}", api_key="")
    with pytest.raises(ControlPlaneError) as raised:
        refused.request_sync("GET", "config/")
    assert (raised.value.status, raised.value.retryable) == (None, True)
    hanging = WaxellObserveClient(api_url=hung.url, api_key="", timeout=0.2)
    started = time.monotonic()
    with pytest.raises(ControlPlaneError) as raised:
        asyncio.run(hanging.request("GET", "config/"))
    assert (raised.value.status, raised.value.retryable) == (None, True)
    assert "no answer within the timeout" in str(raised.value)
    assert time.monotonic() - started < 2.0


def test_misuse_is_a_clear_value_error(client: WaxellObserveClient) -> None:
    with pytest.raises(ValueError, match="run_id must be a non-empty string"):
        client.record_steps_sync(run_id="", steps=[])
    with pytest.raises(ValueError, match="agent_name must be a non-empty string"):
        client.start_run_sync(agent_name="")
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        WaxellObserveClient(api_url="http://x", timeout=0)
    with pytest.raises(ValueError, match="has no api_url"):
        WaxellObserveClient.from_config(ObserveConfig()).request_sync("GET", "config/")


def test_no_key_header_when_the_key_is_empty(stub: ProtocolStub) -> None:
    WaxellObserveClient(api_url=stub.url, api_key="").request_sync("GET", "config/")
    assert "x-wax-key" not in stub.seen[0].headers


def test_retry_after_forms() -> None:
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("99999") == MAX_RETRY_AFTER_SECONDS
    assert [parse_retry_after(v) for v in (None, "", "soon", "nan")] == [None, None, None, None]


def test_httpx_is_not_imported_by_import_waxell_observe() -> None:
    code = (
        "import sys, waxell_observe; "
        "print(json.dumps(sorted(m for m in ('httpx', 'sqlalchemy') if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def test_a_client_is_a_context_manager(stub: ProtocolStub) -> None:
    with WaxellObserveClient(api_url=stub.url) as client:
        client.request_sync("GET", "config/")
    assert client._pools._sync is None

    async def main() -> None:
        async with WaxellObserveClient(api_url=stub.url) as aclient:
            await aclient.request("GET", "config/")
            await aclient.get_policy_manifest(agent_name="a")

    asyncio.run(main())
    assert len(stub.seen) == 3


def test_run_start_carries_the_configured_agent_identity(
    stub: ProtocolStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAXELL_AGENT_SLUG", "support")
    monkeypatch.setenv("WAXELL_AGENT_EXTERNAL_ID", "ext-1")
    client = WaxellObserveClient(api_url=stub.url, api_key="", debug=False)  # an option: resolved afresh
    client.start_run_sync(agent_name="agent")
    client.start_run_sync(agent_name="agent", agent_slug="mine", agent_id="id-2")
    bodies = [s.body for s in stub.requests("runs/start/")]
    assert [(b["agent_slug"], b["agent_id"]) for b in bodies] == [("support", "ext-1"), ("mine", "id-2")]

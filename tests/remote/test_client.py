"""WaxellObserveClient speaks every endpoint of the wire protocol, sync and async, and classifies
failures the way the protocol says (4xx final, 5xx/timeouts/connection errors retryable)."""

from __future__ import annotations

import asyncio
import email.utils
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from remote_stubs import HungServer, ProtocolStub, Reply, free_port

from waxell_observe import WaxellObserveClient
from waxell_observe.client import ControlPlaneError
from waxell_observe.config import ObserveConfig
from waxell_observe.transport.errors import MAX_RETRY_AFTER_SECONDS, parse_retry_after


@pytest.fixture
def client(stub: ProtocolStub) -> WaxellObserveClient:
    return WaxellObserveClient(api_url=stub.url + "/", api_key="wax_sk_abc")


def _calls(client: WaxellObserveClient, run_id: str) -> list[Any]:
    """Every endpoint once, in protocol order (sync)."""
    return [
        client.check_policy("agent", "wf", inputs={"q": 1}, user_id="u", timeout=5),
        client.get_policy_manifest("agent", user_group="free"),
        client.start_run("agent", "wf", {"q": 1}, {"m": 1}, run_id=run_id, session_id="s", tags={"t": "1"}),
        client.record_llm_calls(run_id, [{"model": "gpt-4o", "tokens_in": 1}], {"user_turns": 1}),
        client.record_steps(run_id, [{"step_name": "s", "position": 1}]),
        client.record_spans(run_id, [{"name": "tool", "kind": "tool"}]),
        client.record_scores(run_id, [{"name": "q", "data_type": "numeric", "numeric_value": 1.0}]),
        client.complete_run(run_id, {"a": 1}, "success", error_type="", ended_at=1.5),
        client.send_events([{"workflow_id": run_id, "event": "approval_requested"}]),
        client.governance_decision("agent", run_id, "llm.after", [{"policy": "p", "action": "warn"}]),
        client.get_config(),
    ]


async def _acalls(client: WaxellObserveClient, run_id: str) -> list[Any]:
    return [
        await client.acheck_policy("agent", "wf", inputs={"q": 1}, user_id="u", timeout=5),
        await client.aget_policy_manifest("agent", user_group="free"),
        await client.astart_run(
            "agent", "wf", {"q": 1}, {"m": 1}, run_id=run_id, session_id="s", tags={"t": "1"}
        ),
        await client.arecord_llm_calls(run_id, [{"model": "gpt-4o", "tokens_in": 1}], {"user_turns": 1}),
        await client.arecord_steps(run_id, [{"step_name": "s", "position": 1}]),
        await client.arecord_spans(run_id, [{"name": "tool", "kind": "tool"}]),
        await client.arecord_scores(run_id, [{"name": "q", "data_type": "numeric", "numeric_value": 1.0}]),
        await client.acomplete_run(run_id, {"a": 1}, "success", error_type="", ended_at=1.5),
        await client.asend_events([{"workflow_id": run_id, "event": "approval_requested"}]),
        await client.agovernance_decision("agent", run_id, "llm.after", [{"policy": "p", "action": "warn"}]),
        await client.aget_config(),
    ]


EXPECTED_PATHS = [
    ("POST", "policy-check/"), ("GET", "policy-manifest/"), ("POST", "runs/start/"),
    ("POST", "runs/{id}/llm-calls/"), ("POST", "runs/{id}/steps/"), ("POST", "runs/{id}/spans/"),
    ("POST", "runs/{id}/scores/"), ("POST", "runs/{id}/complete/"), ("POST", "events/"),
    ("POST", "governance-decision/"), ("GET", "config/"),
]  # fmt: skip


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_every_endpoint(stub: ProtocolStub, client: WaxellObserveClient, mode: str) -> None:
    stub.rules.append(lambda s: Reply(body={"run_found": True}) if s.path == "governance-decision/" else None)
    stub.rules.append(
        lambda s: Reply(body={"manifest_version": "1"}) if s.path == "policy-manifest/" else None
    )
    stub.rules.append(lambda s: Reply(body={}) if s.path == "events/" else None)
    run_id = "0123456789abcdef0123456789abcdef"
    replies = _calls(client, run_id) if mode == "sync" else asyncio.run(_acalls(client, run_id))
    assert [(s.method, s.path.replace(run_id, "{id}")) for s in stub.seen] == EXPECTED_PATHS
    assert all(s.headers["x-wax-key"] == "wax_sk_abc" for s in stub.seen)
    assert all(s.headers["content-type"] == "application/json" for s in stub.seen if s.method == "POST")
    bodies = {s.path.replace(run_id, "{id}"): s.body for s in stub.seen}
    assert bodies["policy-check/"] == {"agent_name": "agent", "workflow_name": "wf", "agent_id": "",
                                       "inputs": {"q": 1}, "user_id": "u"}  # fmt: skip
    assert stub.seen[1].query == "agent_name=agent&user_group=free"
    assert bodies["runs/start/"] == {
        "agent_name": "agent", "workflow_name": "wf", "inputs": {"q": 1}, "metadata": {"m": 1}, "trace_id": "",
        "session_id": "s", "interaction_mode": "interactive", "run_id": run_id, "tags": {"t": "1"},
    }  # fmt: skip
    assert bodies["runs/{id}/llm-calls/"] == {"calls": [{"model": "gpt-4o", "tokens_in": 1}],
                                              "conversation_state": {"user_turns": 1}}  # fmt: skip
    assert bodies["runs/{id}/complete/"] == {"result": {"a": 1}, "status": "success", "error": "", "steps": [],
                                             "ended_at": 1.5}  # fmt: skip
    assert bodies["governance-decision/"]["span_only"] is False
    policy, manifest, start = replies[0], replies[1], replies[2]
    assert (policy.action, policy.allowed) == ("allow", True)
    assert manifest == {"manifest_version": "1"}
    assert start["run_id"] == run_id and replies[7]["governance"] == {"action": "allow", "reason": ""}
    assert replies[9] == {"run_found": True} and replies[10]["tenant_id"] == "t"


def test_no_key_header_when_the_key_is_empty(stub: ProtocolStub) -> None:
    WaxellObserveClient(api_url=stub.url, api_key="").get_config()
    assert "x-wax-key" not in stub.seen[0].headers


def test_get_prompt_and_a_404(stub: ProtocolStub, client: WaxellObserveClient) -> None:
    prompt = {"name": "greet/v", "version": 3, "prompt_type": "text", "content": "hi", "config": {}, "labels": [],
              "content_hash": "x"}  # fmt: skip
    stub.rules.append(lambda s: Reply(body=prompt) if s.path.startswith("prompts/greet%2Fv/") else None)
    assert client.get_prompt("greet/v", label="prod", version=3) == prompt
    assert stub.seen[-1].query == "label=prod&version=3"
    with pytest.raises(ControlPlaneError) as raised:
        asyncio.run(client.aget_prompt("missing"))
    error = raised.value
    assert (error.status, error.retryable, error.final, error.detail) == (
        404,
        False,
        True,
        "no such endpoint",
    )


def test_failures_are_classified(stub: ProtocolStub, client: WaxellObserveClient) -> None:
    answers = {
        "a": Reply(500, {"detail": "boom"}),
        "b": Reply(429, {"detail": "slow down"}, {"Retry-After": "7"}),
        "c": Reply(422, {"detail": [{"loc": ["body", "agent_name"], "msg": "field required"}]}),
        "d": Reply(307, {}, {"Location": "/elsewhere/"}),
        "e": Reply(200, raw=b"<html>not json</html>"),
        "f": Reply(200, raw=b""),
    }
    stub.rules.append(lambda s: answers.get(s.path.split("/")[1]) if s.path.startswith("prompts/") else None)
    outcomes = {}
    for name in answers:
        try:
            outcomes[name] = client.get_prompt(name)
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


def test_connection_errors_and_timeouts_are_retryable(hung: HungServer) -> None:
    refused = WaxellObserveClient(api_url=f"http://127.0.0.1:{free_port()}", api_key="")
    with pytest.raises(ControlPlaneError) as raised:
        refused.get_config()
    assert (raised.value.status, raised.value.retryable) == (None, True)
    hanging = WaxellObserveClient(api_url=hung.url, api_key="", timeout=0.2)
    started = time.monotonic()
    with pytest.raises(ControlPlaneError) as raised:
        hanging.start_run("agent")
    assert (raised.value.status, raised.value.retryable) == (None, True)
    assert "no answer within the timeout" in str(raised.value)
    assert time.monotonic() - started < 2.0


def test_misuse_is_a_clear_value_error(client: WaxellObserveClient) -> None:
    with pytest.raises(ValueError, match="run_id must be a non-empty string"):
        client.record_steps("", [])
    with pytest.raises(ValueError, match="agent_name must be a non-empty string"):
        client.start_run("")
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        WaxellObserveClient(api_url="http://x", timeout=0)
    with pytest.raises(ValueError, match="has no api_url"):
        WaxellObserveClient.from_config(ObserveConfig()).get_config()


def test_from_config_uses_exactly_that_configuration(stub: ProtocolStub) -> None:
    config = ObserveConfig(api_url=stub.url, api_key="wax_sk_exact")
    client = WaxellObserveClient.from_config(config, timeout=3)
    assert (
        client.config is config and client.timeout == 3.0 and client.base_url == stub.url + "/api/v1/observe/"
    )
    client.get_config()
    assert stub.seen[0].headers["x-wax-key"] == "wax_sk_exact"


def test_retry_after_forms() -> None:
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("99999") == MAX_RETRY_AFTER_SECONDS
    assert [parse_retry_after(v) for v in (None, "", "soon", "nan")] == [None, None, None, None]


def test_httpx_is_not_imported_by_import_waxell_observe() -> None:
    code = "import sys, waxell_observe; print(json.dumps(sorted(m for m in ('httpx', 'sqlalchemy') if m in sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def test_a_client_is_a_context_manager(stub: ProtocolStub) -> None:
    with WaxellObserveClient(api_url=stub.url) as client:
        client.get_config()
    assert client._http is None

    async def main() -> None:
        async with WaxellObserveClient(api_url=stub.url) as aclient:
            await aclient.aget_config()

    asyncio.run(main())
    assert len(stub.seen) == 2


def test_request_timeouts_default_to_the_policy_timeout_for_checks(hung: HungServer) -> None:
    client = WaxellObserveClient(api_url=hung.url, api_key="", policy_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(ControlPlaneError):
        client.check_policy("agent")
    assert time.monotonic() - started < 2.0

"""Governance on the control plane: policy-check/, policy-manifest/, ingest and complete/ replies, admin
endpoints — over SQLite and PostgreSQL — and the SDK in remote mode against ``waxell-observe serve``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

OBSERVE = "/api/v1/observe"
A = "/api/v1/admin"
R = "/api/v1/read"


@pytest.fixture
def http(store_url: str) -> Iterator[Any]:
    from fastapi.testclient import TestClient
    from waxell_observe_server import create_app

    with TestClient(create_app(store_url, key_cache_seconds=0), raise_server_exceptions=True) as client:
        yield client


def post(http: Any, path: str, body: Any, expect: int = 200) -> Any:
    response = http.post(path, json=body)
    assert response.status_code == expect, (response.status_code, response.text)
    return response.json()


def add(http: Any, *policies: dict[str, Any]) -> dict[str, Any]:
    return post(http, f"{A}/policies/", {"policies": list(policies)})


def start(http: Any, **body: Any) -> str:
    body.setdefault("agent_name", "agent")
    return str(post(http, f"{OBSERVE}/runs/start/", body, 201)["run_id"])


def test_admin_endpoints_add_replace_list_remove_and_reject_whole(http: Any) -> None:
    assert http.get(f"{A}/policies/").json() == {"policies": []}
    assert add(http, {"name": "b", "category": "budget", "rules": {"daily_token_limit": 5}}) == {
        "added": ["b"],
        "replaced": [],
    }
    assert add(http, {"name": "b", "category": "budget", "rules": {"daily_token_limit": 7}},
               {"name": "s", "category": "safety"}) == {"added": ["s"], "replaced": ["b"]}  # fmt: skip
    listed = http.get(f"{R}/policies/").json()["policies"]
    assert [(p["name"], p["rules"].get("daily_token_limit")) for p in listed] == [("b", 7), ("s", None)]
    rejected = http.post(
        f"{A}/policies/",
        json={
            "policies": [
                {"name": "ok", "category": "llm"},
                {"name": "bad", "category": "budget", "rules": {"daily_token_limit": "x"}},
            ]
        },
    )
    assert rejected.status_code == 422
    assert rejected.json()["problems"] == [
        (
            "policy 'bad': field 'rules.daily_token_limit': Input "
            "should be a valid integer, unable to parse string as an integer (got 'x')"
        )
    ]
    assert [p["name"] for p in http.get(f"{A}/policies/").json()["policies"]] == ["b", "s"]
    assert http.delete(f"{A}/policies/s/").json() == {"removed": "s"}
    assert http.delete(f"{A}/policies/s/").status_code == 404


def test_policy_check_pre_execution_redacts_blocks_and_audits_refusals(http: Any) -> None:
    add(
        http,
        {"name": "pii", "category": "content", "rules": {"pii_detection": {"action": "redact"}}},
        {
            "name": "night",
            "category": "kill-switch",
            "scope": {"agents": ["halted-*"]},
            "rules": {"killed": True},
        },
    )
    reply = post(
        http,
        f"{OBSERVE}/policy-check/",
        {"agent_name": "a", "workflow_name": "", "inputs": {"q": "SSN 078-05-1120"}},
    )
    assert (reply["action"], reply["reason"]) == ("redact", "PII detected: ssn")
    assert reply["metadata"] == {"redacted_inputs": {"q": "SSN ##SSN##"}}
    assert [(e["policy_name"], e["action"]) for e in reply["evaluations"]] == [("pii", "redact")]
    refused = post(
        http, f"{OBSERVE}/policy-check/", {"agent_name": "halted-1", "inputs": {}, "run_id": "r-refused"}
    )
    assert (refused["action"], refused["reason"]) == ("block", "Kill switch engaged for policy 'night'")
    events = http.get(f"{R}/audit/").json()["events"]
    assert [(e["run_id"], e["agent_name"], e["policy_name"], e["action"], e["phase"]) for e in events] == [
        ("", "halted-1", "night", "block", "pre_execution")
    ]
    assert events[0]["metadata"]["refused_run_id"] == "r-refused"
    # a gate check narrowed to categories
    gate = post(
        http,
        f"{OBSERVE}/policy-check/",
        {"agent_name": "halted-1", "surface": "run.start", "categories": ["content"]},
    )
    assert gate["action"] == "allow"


def test_rate_limit_slot_held_until_complete(http: Any) -> None:
    add(http, {"name": "one", "category": "rate-limit", "rules": {"max_concurrent": 1}})
    first = post(http, f"{OBSERVE}/policy-check/", {"agent_name": "a", "run_id": "run-1"})
    assert first["action"] == "allow" and first["metadata"] == {"admission_id": "run-1"}
    second = post(http, f"{OBSERVE}/policy-check/", {"agent_name": "a", "run_id": "run-2"})
    assert (second["action"], second["reason"]) == (
        "throttle",
        "Concurrency limit reached: 1 of 1 runs in flight",
    )
    run_id = start(http, agent_name="a", run_id="run-1")
    assert run_id == "run-1"
    done = post(
        http, f"{OBSERVE}/runs/{run_id}/complete/", {"result": {}, "status": "error", "error": "boom"}
    )
    assert done["governance"]["action"] == "allow"
    assert post(http, f"{OBSERVE}/policy-check/", {"agent_name": "a", "run_id": "run-2"})["action"] == "allow"
    # a foreign client without run ids: the admission id travels in pre_execution_evaluations
    foreign = post(http, f"{OBSERVE}/policy-check/", {"agent_name": "b"})
    assert foreign["action"] == "throttle"  # run-2 holds the slot
    run_2 = start(http, agent_name="a", run_id="run-2")
    post(http, f"{OBSERVE}/runs/{run_2}/complete/", {"result": {}})
    foreign = post(http, f"{OBSERVE}/policy-check/", {"agent_name": "b"})
    admission = foreign["metadata"]["admission_id"]
    run_b = start(http, agent_name="b", pre_execution_evaluations=foreign["evaluations"])
    assert post(http, f"{OBSERVE}/policy-check/", {"agent_name": "c"})["action"] == "throttle"
    post(http, f"{OBSERVE}/runs/{run_b}/complete/", {"result": {}})
    assert len(admission) == 32
    assert post(http, f"{OBSERVE}/policy-check/", {"agent_name": "c"})["action"] == "allow"


def test_ingest_replies_carry_mid_execution_governance(http: Any) -> None:
    add(http, {"name": "models", "category": "llm", "rules": {"allowed_models": ["gpt-4o-mini"]}},
        {"name": "tools", "category": "safety", "rules": {"blocked_tools": ["shell"]}},
        {"name": "secrets", "category": "content", "rules": {"scan_inputs": False}})  # fmt: skip
    run_id = start(http)
    ok = post(
        http,
        f"{OBSERVE}/runs/{run_id}/llm-calls/",
        {"calls": [{"model": "gpt-4o-mini-2024-07-18", "tokens_in": 5}]},
    )
    assert ok == {}
    bad = post(http, f"{OBSERVE}/runs/{run_id}/llm-calls/", {"calls": [{"model": "gpt-4o", "tokens_in": 5}]})
    assert (bad["governance"]["action"], bad["governance"]["reason"]) == (
        "block", "Model 'gpt-4o' is not allowed (allowed: gpt-4o-mini)"
    )  # fmt: skip
    other = start(http)
    steps = post(http, f"{OBSERVE}/runs/{other}/steps/", {"steps": [
        {"step_name": "tool:shell", "output": {"_kind": "tool_call", "input": {"cmd": "ls"},
                                               "output": "token ghp_abcdefghijklmnopqrstuvwxyz0123456789"}},
    ]})  # fmt: skip
    governance = steps["governance"]
    assert governance["action"] == "block"
    assert {(e["policy_name"], e["action"]) for e in governance["evaluations"]} == {
        ("models", "allow"), ("tools", "block"), ("secrets", "block")
    }  # fmt: skip


def test_complete_counts_usage_answers_post_execution_and_records_it(http: Any) -> None:
    add(
        http,
        {"name": "daily", "category": "budget", "rules": {"daily_token_limit": 1000}},
        {
            "name": "cite",
            "category": "quality",
            "rules": {
                "template_checks": [{"type": "contains", "value": "[1]"}],
                "retry_config": {"max_retries": 2},
            },
        },
    )
    run_id = start(http, agent_name="writer")
    post(
        http,
        f"{OBSERVE}/runs/{run_id}/llm-calls/",
        {"calls": [{"model": "gpt-4o", "tokens_in": 800, "tokens_out": 200}]},
    )
    body = {"result": {"answer": "Paris"}, "status": "success"}
    done = post(http, f"{OBSERVE}/runs/{run_id}/complete/", body)
    g = done["governance"]
    assert (g["action"], g["max_retries"]) == ("retry", 2)
    assert g["retry_feedback"] == (
        "The response did not pass the quality checks:\n- response must contain '[1]'\nPlease revise it."
    )
    assert (
        post(http, f"{OBSERVE}/runs/{run_id}/complete/", body)["governance"]["action"] == "retry"
    )  # a retried complete
    stored = http.get(f"{R}/runs/{run_id}/").json()
    assert stored["governance"]["action"] == "retry"
    assert [
        (s["name"], s["attributes"]["action"], s["attributes"]["phase"])
        for s in stored["spans"]
        if s["kind"] == "policy"
    ] == [("daily", "warn", "post_execution"), ("cite", "retry", "post_execution")]
    assert http.get(f"{R}/audit/", params={"run_id": run_id}).json()["total"] == 2  # once, despite the retry
    # the run's usage counted once: the budget is used up for the next run
    check = post(http, f"{OBSERVE}/policy-check/", {"agent_name": "writer"})
    assert (check["action"], check["reason"]) == (
        "block",
        "Daily token budget exceeded: 1,000 of 1,000 tokens used",
    )


def test_manifest_lists_policies_by_surface(http: Any) -> None:
    assert http.get(f"{OBSERVE}/policy-manifest/").json()["manifest_version"] == "1"
    add(
        http,
        {
            "name": "rate",
            "category": "rate-limit",
            "scope": {"agents": ["r-*"]},
            "rules": {"max_per_minute": 5},
        },
        {"name": "models", "category": "llm", "rules": {"allowed_models": ["gpt-4o"]}},
    )
    manifest = http.get(f"{OBSERVE}/policy-manifest/", params={"agent_name": "r-1"}).json()
    assert manifest["manifest_version"] == "2"
    assert manifest["checkpoints"] == ["run.start", "llm.before", "llm.after", "step.mid"]
    assert manifest["surfaces"] == {
        "run.start": [{"policy": "rate", "category": "rate-limit", "eval": "server"}],
        "llm.before": [{"policy": "models", "category": "llm", "eval": "hybrid"}],
        "llm.after": [{"policy": "models", "category": "llm", "eval": "hybrid"}],
        "step.mid": [{"policy": "models", "category": "llm", "eval": "hybrid"}],
    }
    assert [(p["name"], len(p["policy_id"]), p["rules"]["max_per_minute"] if p["name"] == "rate" else None)
            for p in manifest["policies"]] == [("rate", 16, 5), ("models", 16, None)]  # fmt: skip
    other = http.get(f"{OBSERVE}/policy-manifest/", params={"agent_name": "x"}).json()
    assert [p["name"] for p in other["policies"]] == ["models"]


def test_admin_dry_run_does_not_consume(http: Any) -> None:
    body = {"policies": [{"name": "r", "category": "rate-limit", "rules": {"max_per_minute": 1}}],
            "request": {"agent_name": "a"}, "phase": "pre"}  # fmt: skip
    for _ in range(3):
        assert post(http, f"{A}/policies/test/", body)["action"] == "allow"
    hours = {"policies": [{"name": "h", "category": "scheduling",
                           "rules": {"allowed_hours": {"start": 9, "end": 17}, "timezone": "Asia/Tokyo"}}],
             "request": {"agent_name": "a"}, "at": "2025-06-02T10:00:00Z"}  # fmt: skip
    reply = post(http, f"{A}/policies/test/", hours)
    assert (reply["action"], reply["reason"]) == (
        "block",
        "Outside allowed hours 09:00-17:00 Asia/Tokyo (local time 19:00)",
    )
    assert http.post(f"{A}/policies/test/", json={"request": {}}).status_code == 422


# --------------------------------------------------------------------------- the real server + the SDK


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """``waxell-observe serve`` on 127.0.0.1 over its own SQLite file."""
    port = _free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "waxell-observe"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--db",
            str(tmp_path / "server.db"),
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_sdk_in_remote_mode_is_governed_by_the_server(server: str, tmp_path: Path) -> None:
    import waxell_observe
    from waxell_observe import WaxellContext, WaxellObserveClient
    from waxell_observe.cli import main
    from waxell_observe.errors import PolicyViolationError

    policy_file = tmp_path / "p.yaml"
    policy_file.write_text("""
policies:
  - {name: daily, category: budget, rules: {daily_token_limit: 1000}}
  - {name: pii, category: content, rules: {pii_detection: {action: redact}}}
  - {name: tools, category: safety, rules: {blocked_tools: [shell]}}
""")
    runner = CliRunner()
    added = runner.invoke(
        main, ["policies", "add", str(policy_file), "--api-url", server], catch_exceptions=False
    )
    assert added.exit_code == 0 and added.output == "added 3 policies: daily, pii, tools\n"
    listed = runner.invoke(main, ["policies", "list", "--json", "--api-url", server], catch_exceptions=False)
    assert [p["name"] for p in json.loads(listed.output)["policies"]] == ["daily", "pii", "tools"]

    WaxellObserveClient.configure(api_url=server, api_key="")
    with WaxellContext(agent_name="remote-agent", inputs={"q": "mail jane@example.com"}) as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=900, tokens_out=100)
        ctx.record_tool_call(name="shell", input={"cmd": "ls"})
        mid = ctx.check_policy_sync()
        ctx.set_result({"answer": "done"})
    assert mid.action == "block"
    assert {(e.policy_name, e.action, e.reason) for e in mid.evaluations if e.action != "allow"} == {
        ("daily", "block", "Daily token budget exceeded: 1,000 of 1,000 tokens used"),
        ("tools", "block", "Blocked tool used: shell"),
    }
    assert waxell_observe.flush_sync(timeout=30).pending == 0
    stored = httpx.get(f"{server}{R}/runs/{ctx.run_id}/").json()
    assert stored["inputs"] == {"q": "mail ##EMAIL##"}
    assert stored["tokens_in"] + stored["tokens_out"] == 1000
    with pytest.raises(PolicyViolationError) as caught, WaxellContext(agent_name="remote-agent"):
        pass
    assert caught.value.policy_result.reason == "Daily token budget exceeded: 1,000 of 1,000 tokens used"
    waxell_observe.flush_sync(timeout=30)
    audit = runner.invoke(main, ["audit", "--json", "--api-url", server], catch_exceptions=False)
    events = json.loads(audit.output)
    assert [(e["policy_name"], e["action"], e["phase"]) for e in events][:1] == [
        ("daily", "block", "pre_execution")
    ]
    assert ("pii", "redact", "pre_execution") in [(e["policy_name"], e["action"], e["phase"]) for e in events]
    assert ("tools", "block", "mid_execution") in [
        (e["policy_name"], e["action"], e["phase"]) for e in events
    ]
    removed = runner.invoke(
        main, ["policies", "remove", "daily", "--api-url", server], catch_exceptions=False
    )
    assert removed.output == "removed daily\n"


def test_malformed_run_state_is_a_client_error(http: Any) -> None:
    add(http, {"name": "models", "category": "llm", "rules": {"allowed_models": ["gpt-4o"]}})
    for extra in ({"llm_calls": "gpt-4o"}, {"llm_calls": [1, 2]}, {"step_count": "many"}, {"phase": "later"}):
        response = http.post(f"{OBSERVE}/policy-check/", json={"agent_name": "a", **extra})
        assert response.status_code == 422, (extra, response.text)
    odd = post(
        http,
        f"{OBSERVE}/policy-check/",
        {
            "agent_name": "a",
            "phase": "mid",
            "session_started_at": "yesterday",
            "llm_calls": [{"model": "gpt-4o"}],
        },
    )
    assert odd["action"] == "allow"

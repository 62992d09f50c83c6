"""A program written for the reference SDK (waxell-observe 0.1.10) runs unchanged against our real
server: blocking ``*_sync`` client calls with keyword arguments, coroutine calls, prompts fetched
and compiled, typed results and errors. What it recorded is read back through the server's read
API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

PROGRAM = textwrap.dedent(
    """
    import asyncio
    import json
    import sys
    import threading

    from waxell_observe import (
        ObserveError,
        PolicyCheckResult,
        PromptInfo,
        PromptNotFoundError,
        RunCompleteResult,
        RunInfo,
        WaxellObserveClient,
    )
    from waxell_observe.types import CompiledPromptList, CompiledPromptText, DailyRunInfo

    AGENT, TEXT_PROMPT, CHAT_PROMPT = sys.argv[1:4]

    client = WaxellObserveClient()  # WAXELL_API_URL from the environment
    assert WaxellObserveClient.is_configured()

    # -- blocking calls ---------------------------------------------------------------------------
    policy = client.check_policy_sync(agent_name=AGENT, workflow_name="triage", user_id="u-1")
    assert isinstance(policy, PolicyCheckResult) and policy.allowed, policy
    run = client.start_run_sync(
        agent_name=AGENT, workflow_name="triage", inputs={"ticket": 7}, metadata={"team": "support"},
        user_id="u-1", session_id="sess-ref", user_group="gold",
    )
    assert isinstance(run, RunInfo) and run.run_id and run.workflow_id and run.started_at
    client.record_llm_calls_sync(
        run_id=run.run_id,
        calls=[{"model": "gpt-4o", "tokens_in": 120, "tokens_out": 30, "cost": 0.0015, "task": "classify"}],
        conversation_state={"user_turns": 1, "message_count": 2},
    )
    client.record_steps_sync(
        run_id=run.run_id, steps=[{"step_name": "classify", "output": {"label": "billing"}, "position": 1}]
    )
    client.record_scores_sync(run_id=run.run_id, scores=[{"name": "accuracy", "data_type": "numeric",
                                                          "numeric_value": 0.9, "comment": "ok"}])
    client.record_spans_sync(run_id=run.run_id, spans=[{"name": "lookup", "kind": "tool", "status": "ok",
                                                        "duration_ms": 5.0, "position": 1}])
    prompt = client.get_prompt_sync(name=TEXT_PROMPT, label="prod")
    assert isinstance(prompt, PromptInfo) and prompt.prompt_type == "text"
    text = prompt.compile(customer="Ada")
    assert isinstance(text, CompiledPromptText) and text._waxell_template_hash == prompt.content_hash
    try:
        client.get_prompt_sync(name="no-such-prompt-" + AGENT)
    except PromptNotFoundError as error:
        assert isinstance(error, ObserveError)
        missing = error.status_code
    done = client.complete_run_sync(run_id=run.run_id, result={"answer": str(text)}, status="success")
    assert isinstance(done, RunCompleteResult) and done.run_id == run.run_id
    assert not done.should_retry and done.governance_action == "allow"
    daily = client.start_daily_run_sync(agent_slug=AGENT, date="2024-05-01")
    daily_again = client.start_daily_run_sync(agent_slug=AGENT, date="2024-05-01")
    assert isinstance(daily, DailyRunInfo) and isinstance(daily_again, DailyRunInfo)
    gate = client.check_policy_surface_sync(AGENT, surface="tool.before", signal={"tool_name": "search"})
    guard = client.prompt_guard_sync(text="my ssn is 123-45-6789", agent_name=AGENT, model="gpt-4o")
    guard_gate = client.prompt_guard_gate_sync("hello", model="gpt-4o")
    memory_written = client.write_episodic_memory_sync(
        run_id=run.run_id, slot_name="s", scope_key="k", data={"a": 1}
    )
    client.publish_partial_output(run_id=run.run_id, partial="typing...", chunk_count=2, done=True)
    for thread in threading.enumerate():  # fire and forget: wait for the daemon thread before exiting
        if thread.name == "waxell-partial-output":
            thread.join(10)

    # -- coroutines -------------------------------------------------------------------------------
    async def main():
        second = await client.start_run(agent_name=AGENT, workflow_name="async-triage", session_id="sess-ref")
        await client.record_llm_calls(second.run_id, [{"model": "claude-3-5-haiku", "tokens_in": 10,
                                                       "tokens_out": 5}])
        chat = await client.get_prompt(CHAT_PROMPT, version=1)
        messages = chat.compile(topic="refunds")
        assert isinstance(messages, CompiledPromptList) and messages[1]["content"] == "Tell me about refunds"
        manifest = await client.get_policy_manifest(AGENT)
        await client.record_events([{"workflow_id": second.workflow_id, "agent_name": AGENT,
                                     "workflow_name": "async-triage", "event": "approval_requested",
                                     "metadata": {"approver": "lead"}}])
        decision = await client.record_governance_decisions(
            AGENT, "tool.before",
            [{"category": "content", "policy": "no-pii", "action": "warn", "reason": "pii"}],
            workflow_id=second.workflow_id,
        )
        closed = await client.complete_run(
            second.run_id, status="error", error="boom", error_type="ValueError"
        )
        await client.close()
        return second, manifest, decision, closed, messages

    second, manifest, decision, closed, messages = asyncio.run(main())
    print(json.dumps({
        "run": run.run_id, "second": second.run_id, "second_workflow": second.workflow_id, "missing": missing,
        "answer": str(text), "manifest_version": manifest.get("manifest_version"),
        "run_found": decision.get("run_found"), "closed": closed.run_id, "messages": list(messages),
        "daily": [daily.run_id, daily.workflow_id, daily.date, daily.created, bool(daily.started_at)],
        "daily_again": [daily_again.run_id, daily_again.created, daily_again.started_at == daily.started_at],
        "gate": gate.get("action"), "memory_written": memory_written,
        "guard": {k: v for k, v in guard.items() if k != "scan_time_ms"},
        "guard_gate": guard_gate.get("action"),
        "scan_time_ms": [type(r.get("scan_time_ms")).__name__ for r in (guard, guard_gate)],
    }))
    """
)


def _cli(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-c", "from waxell_observe.cli import main; main()", *args],
        check=True, capture_output=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")},
    )  # fmt: skip


def _run_program(url: str, tmp_path: Path, agent: str, text: str, chat: str) -> dict[str, Any]:
    script = tmp_path / "reference_program.py"
    script.write_text(PROGRAM)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    env.update(
        WAXELL_API_URL=url, WAXELL_JOURNAL_DIR=str(tmp_path / "journal"), WAXELL_DB=str(tmp_path / "x.db")
    )
    done = subprocess.run(
        [sys.executable, str(script), agent, text, chat], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_reference_program_runs_unchanged_and_its_records_read_back(
    shared_server: Any, tmp_path: Path
) -> None:
    agent = f"ref-{uuid.uuid4().hex[:8]}"
    text, chat = f"{agent}-greeting", f"{agent}-chat"
    chat_file = tmp_path / "chat.json"
    chat_file.write_text(
        json.dumps(
            [
                {"role": "system", "content": "You help."},
                {"role": "user", "content": "Tell me about {{topic}}"},
            ]
        )
    )
    _cli("prompts", "add", text, "--text", "Hello {{customer}}", "--label", "prod", "--db", shared_server.db)
    _cli("prompts", "add", chat, "--file", str(chat_file), "--db", shared_server.db)

    out = _run_program(shared_server.url, tmp_path, agent, text, chat)

    assert out["answer"] == "Hello Ada" and out["missing"] == 404
    assert out["manifest_version"] and out["run_found"] is True and out["closed"] == out["second"]
    assert out["messages"] == [
        {"role": "system", "content": "You help."},
        {"role": "user", "content": "Tell me about refunds"},
    ]
    [daily_id, daily_workflow, daily_date, daily_created, daily_started] = out["daily"]
    assert daily_id and daily_workflow == daily_id and daily_date == "2024-05-01"
    assert daily_created is True and daily_started is True
    assert out["daily_again"] == [daily_id, False, True]  # the day's run, reused
    assert out["gate"] == "allow"
    memory = out["memory_written"]  # the server stores the episodic memory and answers with it
    assert memory["memory_id"] and (memory["run_id"], memory["tier"]) == (out["run"], "episodic")
    assert (memory["scope_key"], memory["slot_name"], memory["data"]) == ("k", "s", {"a": 1})
    assert out["guard"] == {
        "action": "block",
        "violations": ["PII detected: ssn"],
        "redacted_text": "my ssn is ##SSN##",
    }
    assert out["guard_gate"] == "allow" and out["scan_time_ms"] == ["float", "float"]

    first = shared_server.read_run(out["run"])
    assert (first["agent_name"], first["workflow_name"], first["status"]) == (agent, "triage", "success")
    assert (first["user_id"], first["session_id"], first["inputs"]) == ("u-1", "sess-ref", {"ticket": 7})
    assert first["metadata"]["team"] == "support" and first["result"] == {"answer": "Hello Ada"}
    assert first["conversation"].get("user_turns") == 1
    [call] = first["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["task"]) == (
        "gpt-4o",
        120,
        30,
        "classify",
    )
    assert call["cost"] == pytest.approx(0.0015)
    assert [(s["name"], s["output"]) for s in first["steps"]] == [("classify", {"label": "billing"})]
    assert [(s["name"], s["value"], s["comment"]) for s in first["scores"]] == [("accuracy", 0.9, "ok")]
    assert [(s["name"], s["kind"]) for s in first["spans"]] == [("lookup", "tool")]
    preview = first["metadata"]["partial_output"]
    summary = (preview["text"], preview["chunk_count"], preview["model"], preview["done"])
    assert summary == ("typing...", 2, "", True)

    daily = shared_server.read_run(daily_id)
    assert (daily["agent_name"], daily["workflow_name"], daily["status"]) == (agent, "daily", "running")
    assert daily["metadata"]["daily_date"] == "2024-05-01" and daily["metadata"]["agent_type"] == "mcp"

    second = shared_server.read_run(out["second"])
    assert (second["workflow_name"], second["status"], second["error_type"]) == (
        "async-triage",
        "error",
        "ValueError",
    )
    assert [c["model"] for c in second["llm_calls"]] == ["claude-3-5-haiku"]

    audit = httpx.get(f"{shared_server.url}/api/v1/read/audit/", params={"run_id": out["second"]}, timeout=10)
    assert audit.status_code == 200, audit.text
    kinds = json.dumps(audit.json()["events"])
    assert "approval_requested" in kinds and "no-pii" in kinds

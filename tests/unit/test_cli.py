"""The CLI: runs/show JSON shapes and the demo, through the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import waxell_observe
from waxell_observe import WaxellContext

RUN_FIELDS = {
    "run_id",
    "agent_name",
    "workflow_name",
    "status",
    "error",
    "session_id",
    "user_id",
    "user_group",
    "parent_run_id",
    "started_at",
    "ended_at",
    "duration_ms",
    "total_tokens",
    "total_cost",
    "llm_call_count",
    "tags",
}


def cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    env.update(WAXELL_DB=str(db), WAXELL_CONFIG_FILE=str(db.parent / "none"))
    command = [sys.executable, "-m", "waxell_observe.cli.__main__", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_runs_json_has_every_documented_field(waxell_db: Path) -> None:
    with WaxellContext(agent_name="cli-agent", session_id="s9", user_id="u9", user_group="g") as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=1000, tokens_out=500)
        ctx.set_tag("env", "test")
    waxell_observe.flush_sync()
    out = cli("runs", "--json", db=waxell_db)
    assert out.returncode == 0, out.stderr
    [run] = json.loads(out.stdout)
    assert set(run) >= RUN_FIELDS
    assert {
        k: run[k]
        for k in (
            "agent_name",
            "status",
            "session_id",
            "user_id",
            "user_group",
            "total_tokens",
            "total_cost",
            "llm_call_count",
            "tags",
            "parent_run_id",
        )
    } == {  # fmt: skip
        "agent_name": "cli-agent",
        "status": "success",
        "session_id": "s9",
        "user_id": "u9",
        "user_group": "g",
        "total_tokens": 1500,
        "total_cost": 0.0075,
        "llm_call_count": 1,
        "tags": {"env": "test"},
        "parent_run_id": "",
    }
    assert json.loads(cli("runs", "--json", "--status", "error", db=waxell_db).stdout) == []


def test_show_json_and_tree(waxell_db: Path) -> None:
    with WaxellContext(agent_name="shown", inputs={"q": "hi"}) as ctx:
        ctx.record_llm_call(model="claude-sonnet-4", tokens_in=10, tokens_out=20, task="answer")
        ctx.record_step("s", output={"k": 1})
        ctx.record_score("ok", True, data_type="boolean")
        ctx.set_result({"a": 1})
    waxell_observe.flush_sync()
    shown = json.loads(cli("show", ctx.run_id, "--json", db=waxell_db).stdout)
    assert RUN_FIELDS | {
        "inputs",
        "metadata",
        "result",
        "conversation",
        "llm_calls",
        "steps",
        "spans",
        "scores",
    } <= set(shown)
    assert (shown["inputs"], shown["result"]) == ({"q": "hi"}, {"a": 1})
    assert shown["llm_calls"][0]["provider"] == "anthropic"
    assert shown["scores"][0]["value"] is True
    tree = cli("show", ctx.run_id, db=waxell_db)
    assert tree.returncode == 0
    assert "LLM claude-sonnet-4" in tree.stdout and "STEP 1 s" in tree.stdout


def test_demo_prints_its_trace_and_stores_the_run(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    out = cli("demo", db=db)
    assert out.returncode == 0, out.stderr
    assert "support-agent / ticket-triage  success" in out.stdout
    for expected in (
        "IO user_message",
        "DECISION route_ticket",
        "CHILD RUN kb-search",
        "TOOL lookup_invoice",
        "REASONING eligibility",
        "RETRY retry",
        "LLM gpt-4o-mini",
        "relevance = 0.92",
    ):
        assert expected in out.stdout, expected
    runs = json.loads(cli("runs", "--json", db=db).stdout)
    assert sorted(r["agent_name"] for r in runs) == ["kb-search", "support-agent"]
    parent = next(r for r in runs if r["agent_name"] == "support-agent")
    child = next(r for r in runs if r["agent_name"] == "kb-search")
    assert child["parent_run_id"] == parent["run_id"]


def test_unknown_run_is_a_clear_error(waxell_db: Path) -> None:
    out = cli("show", "does-not-exist", db=waxell_db)
    assert out.returncode == 1
    assert "no run 'does-not-exist' in the store" in out.stderr

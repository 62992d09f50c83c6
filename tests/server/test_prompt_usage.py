"""The read API's prompts (``GET prompts/``, ``GET prompts/{name}/``) over runs recorded with the SDK
into SQLite and PostgreSQL: which runs used each version (``record_prompt_use`` by version or by
content hash, LLM calls carrying a compiled prompt's hash), and their exact calls, tokens, cost,
score means and newest runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, text

import waxell_observe
from waxell_observe import WaxellContext
from waxell_observe.config import db_url_from, set_config
from waxell_observe.store import Store, get_store
from waxell_observe.store.prompt_usage import INDEXES_KEY, INDEXES_VERSION
from waxell_observe.store.prompts import add_prompt
from waxell_observe.types import PromptInfo

TRIAGE = [{"role": "system", "content": "Sort tickets."}, {"role": "user", "content": "{{ticket}}"}]


def record(monkeypatch: pytest.MonkeyPatch, store_url: str) -> dict[str, Any]:
    """Prompts ``support`` (3 versions), ``triage`` (chat) and ``unused``, and seven runs."""
    with get_store(store_url).write() as conn:
        v1 = add_prompt(conn, "support", "Answer {{q}}", labels=["production"], config={"temperature": 0.5})
        v2 = add_prompt(conn, "support", "Answer briefly: {{q}}", labels=["staging"])
        add_prompt(conn, "support", "Answer in French: {{q}}", labels=["production"])
        add_prompt(conn, "triage", TRIAGE)
        add_prompt(conn, "unused", "nobody asks")
    monkeypatch.setenv("WAXELL_DB", store_url)
    set_config(None)
    ids: dict[str, str] = {}

    def call(ctx: WaxellContext, tokens_in: int, tokens_out: int, cost: float, **extra: Any) -> None:
        ctx.record_llm_call(model="gpt-4o", tokens_in=tokens_in, tokens_out=tokens_out, cost=cost, **extra)

    with WaxellContext(agent_name="helper", enforce_policy=False) as ctx:  # v1 by version
        ctx.record_prompt_use(name="support", version=1, label="production")
        call(ctx, 1000, 100, 0.5)
        ctx.record_score("accuracy", 0.75)
        ctx.record_score("helpful", True, data_type="boolean")
        ids["r1"] = ctx.run_id
    with WaxellContext(agent_name="helper", enforce_policy=False) as ctx:  # v1, used twice
        waxell_observe.prompt_use("support", version=1)
        ctx.record_prompt_use(name="support", version=1)
        call(ctx, 200, 20, 0.25)
        call(ctx, 300, 30, 0.125)
        ctx.record_score("accuracy", 0.25)
        ctx.record_score("helpful", False, data_type="boolean")
        ctx.record_score("tone", "polite", data_type="categorical")
        ids["r2"] = ctx.run_id
    compiled = PromptInfo.from_reply("support", v2).compile(q="where is my order?")
    with WaxellContext(agent_name="writer", enforce_policy=False) as ctx:  # v2 through the call's hash
        call(ctx, 500, 50, 1.0, prompt_hash=compiled._waxell_template_hash, prompt_preview=str(compiled))
        call(ctx, 10, 1, 0.03125)
        ctx.record_score("accuracy", 1.0)
        ids["r3"] = ctx.run_id
    with WaxellContext(agent_name="writer", enforce_policy=False) as ctx:  # v2 by hash and v1 by version
        ctx.record_prompt_use(name="support", content_hash=v2["content_hash"])
        ctx.record_prompt_use(name="support", version=v1["version"])
        call(ctx, 40, 4, 0.0625)
        ids["r4"] = ctx.run_id
    with WaxellContext(agent_name="helper", enforce_policy=False) as ctx:  # a label only: no version
        ctx.record_prompt_use(name="support", label="production")
        call(ctx, 7, 7, 2.0)
        ids["r5"] = ctx.run_id
    with WaxellContext(agent_name="other", enforce_policy=False) as ctx:  # no prompt
        call(ctx, 9, 9, 4.0)
        ctx.record_score("accuracy", 0.0)
        ids["r6"] = ctx.run_id
    with WaxellContext(agent_name="sorter", enforce_policy=False) as ctx:
        ctx.record_prompt_use(name="triage", version=1)
        call(ctx, 11, 11, 8.0)
        ids["r7"] = ctx.run_id
    report = waxell_observe.flush_sync(timeout=30)
    assert report.complete, report
    return ids


def _recent(
    run_id: str, agent: str, cost: float, tokens: tuple[int, int], scores: dict[str, Any]
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "agent_name": agent,
        "status": "success",
        "total_cost": cost,
        "tokens_in": tokens[0],
        "tokens_out": tokens[1],
        "scores": scores,
    }


def _prompt_span_start(api: Any, run_id: str) -> str:
    """When the run recorded its (one) prompt use: a prompt's ``last_used_at`` is its newest use."""
    [span] = [span for span in api.run(run_id)["spans"] if span["kind"] == "prompt"]
    started: str = span["started_at"]
    return started


def _without_times(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for run in runs:
        assert isinstance(run.pop("started_at"), str)
    return runs


def test_prompt_versions_with_the_runs_calls_cost_and_scores_that_used_them(
    monkeypatch: pytest.MonkeyPatch, store_url: str, api: Any
) -> None:
    ids = record(monkeypatch, store_url)
    prompt = api.read("prompts/support/", recent=2)
    assert {
        k: prompt[k] for k in prompt if k not in ("versions", "created_at", "updated_at", "last_used_at")
    } == {
        "name": "support",
        "prompt_type": "text",
        "latest_version": 3,
        "version_count": 3,
        "labels": {"production": 3, "staging": 2},
        "run_count": 5,
        "unattributed_run_count": 1,
    }
    assert prompt["last_used_at"] == _prompt_span_start(api, ids["r5"])
    v3, v2, v1 = prompt["versions"]
    assert [v["version"] for v in (v3, v2, v1)] == [3, 2, 1]
    assert (v1["content"], v1["config"], v1["labels"], v1["prompt_type"]) == (
        "Answer {{q}}",
        {"temperature": 0.5},
        [],
        "text",
    )
    assert v3["labels"] == ["production"]
    assert v2["content_hash"] == PromptInfo.from_reply("support", v2).compile(q="x")._waxell_template_hash

    u1 = v1["usage"]
    assert _without_times(u1.pop("recent_runs")) == [
        _recent(ids["r4"], "writer", 0.0625, (40, 4), {}),
        _recent(
            ids["r2"], "helper", 0.375, (500, 50), {"accuracy": 0.25, "helpful": False, "tone": "polite"}
        ),
    ]
    assert u1 == {
        "run_count": 3,
        "llm_calls": 4,
        "tokens_in": 1540,
        "tokens_out": 154,
        "total_cost": 0.9375,
        "last_used_at": api.run(ids["r4"])["started_at"],
        "linked_calls": {"count": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0.0},
        "scores": [
            {"name": "accuracy", "mean": 0.5, "count": 2},
            {"name": "helpful", "mean": 0.5, "count": 2},
        ],
    }
    u2 = v2["usage"]
    assert _without_times(u2.pop("recent_runs")) == [
        _recent(ids["r4"], "writer", 0.0625, (40, 4), {}),
        _recent(ids["r3"], "writer", 1.03125, (510, 51), {"accuracy": 1.0}),
    ]
    assert u2 == {
        "run_count": 2,
        "llm_calls": 3,
        "tokens_in": 550,
        "tokens_out": 55,
        "total_cost": 1.09375,
        "last_used_at": api.run(ids["r4"])["started_at"],
        "linked_calls": {"count": 1, "tokens_in": 500, "tokens_out": 50, "cost": 1.0},
        "scores": [{"name": "accuracy", "mean": 1.0, "count": 1}],
    }
    assert v3["usage"] == {
        "run_count": 0,
        "llm_calls": 0,
        "tokens_in": 0,
        "tokens_out": 0,
        "total_cost": 0.0,
        "last_used_at": None,
        "linked_calls": {"count": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0.0},
        "scores": [],
        "recent_runs": [],
    }
    everything = api.read("prompts/support/")  # default: the newest 10 runs of each version
    assert [r["run_id"] for r in everything["versions"][2]["usage"]["recent_runs"]] == [
        ids["r4"],
        ids["r2"],
        ids["r1"],
    ]

    triage = api.read("prompts/triage/")
    assert (triage["prompt_type"], triage["versions"][0]["content"], triage["run_count"]) == (
        "chat",
        TRIAGE,
        1,
    )
    assert triage["versions"][0]["usage"]["total_cost"] == 8.0
    assert api.read("prompts/nope/", 404) == {"detail": "unknown prompt 'nope'"}
    assert api.read("prompts/support/", 422, recent=101)["message"].startswith("query parameter recent:")


def test_the_list_of_prompts(monkeypatch: pytest.MonkeyPatch, store_url: str, api: Any) -> None:
    ids = record(monkeypatch, store_url)
    reply = api.read("prompts/")
    assert (reply["total"], reply["limit"], reply["offset"]) == (3, 100, 0)
    rows = reply["prompts"]
    for row in rows:
        assert isinstance(row.pop("created_at"), str)
        assert isinstance(row.pop("updated_at"), str)
    assert rows == [
        {
            "name": "support",
            "prompt_type": "text",
            "latest_version": 3,
            "version_count": 3,
            "labels": {"production": 3, "staging": 2},
            "run_count": 5,
            "last_used_at": _prompt_span_start(api, ids["r5"]),
        },
        {
            "name": "triage",
            "prompt_type": "chat",
            "latest_version": 1,
            "version_count": 1,
            "labels": {},
            "run_count": 1,
            "last_used_at": _prompt_span_start(api, ids["r7"]),
        },
        {
            "name": "unused",
            "prompt_type": "text",
            "latest_version": 1,
            "version_count": 1,
            "labels": {},
            "run_count": 0,
            "last_used_at": None,
        },
    ]
    page = api.read("prompts/", limit=1, offset=1)
    assert ([p["name"] for p in page["prompts"]], page["total"]) == (["triage"], 3)
    assert api.read("prompts/", limit=1, offset=5)["prompts"] == []
    found = api.read("prompts/", search="SUP")
    assert ([p["name"] for p in found["prompts"]], found["total"]) == (["support"], 1)
    assert [p["name"] for p in api.read("prompts/", search="u")["prompts"]] == ["support", "unused"]
    assert api.read("prompts/", search="%")["total"] == 0  # a plain character, not a wildcard
    assert api.read("prompts/", 422, limit=0)["message"].startswith("query parameter limit:")


def test_an_older_store_gets_the_partial_indexes(store_url: str) -> None:
    store = Store(store_url)
    try:
        with store.write() as conn:
            conn.execute(text("DROP INDEX ix_spans_prompt_use"))
            conn.execute(text("DROP INDEX ix_llm_calls_prompt_hash"))
            conn.execute(text("DELETE FROM schema_info WHERE key = :key"), {"key": INDEXES_KEY})
    finally:
        store.dispose()
    reopened = Store(store_url)
    try:
        with reopened.read() as conn:
            spans = {i["name"] for i in inspect(conn).get_indexes("spans")}
            calls = {i["name"] for i in inspect(conn).get_indexes("llm_calls")}
            value = conn.execute(text("SELECT value FROM schema_info WHERE key = :key"), {"key": INDEXES_KEY})
            assert value.scalar() == INDEXES_VERSION
        assert "ix_spans_prompt_use" in spans
        assert "ix_llm_calls_prompt_hash" in calls
    finally:
        reopened.dispose()


def test_runs_sent_to_a_control_plane_are_tied_to_the_versions_they_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve_process: Callable[..., Any]
) -> None:
    """Remote mode: the SDK fetches a prompt from ``waxell-observe serve`` (which records its use on
    the run) and sends a call carrying the compiled prompt's hash; the read API ties both to v2."""
    db = str(tmp_path / "remote.db")
    with get_store(db_url_from(db)).write() as conn:
        add_prompt(conn, "support", "Answer {{q}}", labels=["staging"])
        add_prompt(conn, "support", "Answer briefly: {{q}}", labels=["production"])
    server = serve_process(db)
    monkeypatch.setenv("WAXELL_API_URL", server.url)
    set_config(None)
    client = waxell_observe.WaxellObserveClient()
    with WaxellContext(agent_name="remote-bot", enforce_policy=False) as ctx:
        prompt = client.get_prompt_sync(name="support", label="production")
        compiled = prompt.compile(q="where is my parcel?")
        ctx.record_llm_call(
            model="gpt-4o", tokens_in=100, tokens_out=10, cost=0.5, prompt_hash=compiled._waxell_template_hash
        )
        ctx.record_score("accuracy", 0.5)
    assert waxell_observe.flush_sync(timeout=30).complete
    reply = httpx.get(f"{server.url}/api/v1/read/prompts/support/", timeout=30)
    assert reply.status_code == 200, reply.text
    v2, v1 = reply.json()["versions"]
    [recent] = v2["usage"].pop("recent_runs")
    assert (recent["run_id"], recent["agent_name"], recent["total_cost"]) == (ctx.run_id, "remote-bot", 0.5)
    assert v2["usage"] == {
        "run_count": 1,
        "llm_calls": 1,
        "tokens_in": 100,
        "tokens_out": 10,
        "total_cost": 0.5,
        "last_used_at": recent["started_at"],
        "linked_calls": {"count": 1, "tokens_in": 100, "tokens_out": 10, "cost": 0.5},
        "scores": [{"name": "accuracy", "mean": 0.5, "count": 1}],
    }
    assert v1["usage"]["run_count"] == 0
    run = httpx.get(f"{server.url}/api/v1/read/runs/{ctx.run_id}/", timeout=30).json()
    [span] = [span for span in run["spans"] if span["kind"] == "prompt"]  # recorded by get_prompt
    assert (span["name"], span["attributes"]) == (
        "prompt.use:support",
        {"name": "support", "version": 2, "label": "production", "content_hash": prompt.content_hash},
    )

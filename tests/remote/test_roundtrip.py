"""SDK -> the real ``waxell-observe serve`` -> store -> read API, on SQLite and PostgreSQL.

A run recorded in remote mode must read back through the server's read API exactly as the
same run reads back from the embedded store. To compare field for field (ids and times
included), a test plugin hands every hook call of the remote run to the embedded sink's
writer too, so both stores receive the very same records.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import waxell_observe
from waxell_observe import ObserveConfig, WaxellContext, WaxellObserveClient, hookimpl
from waxell_observe.run import Run
from waxell_observe.sinks import embedded


class MirrorToEmbedded:
    """Hands every record of remote runs to the embedded sink as well.

    The embedded sink serves embedded runs only, so it is given a view of each run: a copy
    whose configuration is embedded (``db``), refreshed from the real run at every hook.
    """

    def __init__(self, db: Path) -> None:
        self.config = ObserveConfig(db=str(db))
        self.views: dict[str, Run] = {}

    def _view(self, run: Run) -> Run:
        view = self.views.get(run.run_id)
        if view is None:
            view = self.views[run.run_id] = copy.copy(run)
        for name in Run.__slots__:
            if name != "config":
                setattr(view, name, getattr(run, name))
        view.config = self.config
        return view

    @hookimpl
    def on_run_start(self, run: Run) -> None:
        embedded.on_run_start(self._view(run))

    @hookimpl
    def on_llm_call(self, run: Run, call: Any) -> None:
        embedded.on_llm_call(self._view(run), call)

    @hookimpl
    def on_step(self, run: Run, step: Any) -> None:
        embedded.on_step(self._view(run), step)

    @hookimpl
    def on_span(self, run: Run, span: Any) -> None:
        embedded.on_span(self._view(run), span)

    @hookimpl
    def on_score(self, run: Run, score: Any) -> None:
        embedded.on_score(self._view(run), score)

    @hookimpl
    def on_run_end(self, run: Run) -> None:
        embedded.on_run_end(self._view(run))


def _workload() -> tuple[str, str, str]:
    with WaxellContext(
        agent_name="roundtrip-agent",
        workflow_name="deep-research",
        inputs={"query": "weather?", "n": [1, 2]},
        metadata={"version": "2.1"},
        session_id="session-7",
        user_id="user-3",
        user_group="free",
        tags={"env": "test"},
    ) as ctx:
        ctx.record_llm_call(
            model="gpt-4o", tokens_in=300, tokens_out=150, task="plan", prompt_preview="Plan the trip",
            response_preview="Steps", duration_ms=350, attributes={"temperature": 0.2},
            messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "weather in Paris?"}],
            response_text="Let me look.", finish_reason="tool_calls",
        )  # fmt: skip
        ctx.record_step("research", output={"sources": 5})
        ctx.record_tool_call(name="web_search", input={"query": "news"}, output={"results": [1, 2]},
                             duration_ms=250, tool_type="api")  # fmt: skip
        ctx.record_tool_call(name="db", status="error", error="connection refused")
        ctx.record_retrieval(query="billing?", documents=[{"id": "doc1", "score": 0.92}], source="pinecone",
                             duration_ms=120, top_k=5, scores=[0.92])  # fmt: skip
        ctx.record_decision(name="route", options=["billing", "tech"], chosen="billing", reasoning="invoice",
                            confidence=0.95, metadata={"k": 1})  # fmt: skip
        ctx.record_reasoning(step="evaluate", thought="A is newer", evidence=["A: 2024"], conclusion="use A")
        ctx.record_retry(attempt=2, reason="rate limited", strategy="fallback", original_error="429",
                         fallback_to="claude-sonnet-4", max_attempts=3)  # fmt: skip
        ctx.record_policy_check(policy_name="budget", action="warn", category="budget", reason="80% used",
                                phase="mid_execution")  # fmt: skip
        ctx.record_user_message("What's the weather?")
        ctx.record_agent_response("It's sunny in Paris today.")
        ctx.record_span("chain", "summarize", duration_ms=12.5, attributes={"lc": 1}, input={"a": 1}, output="ok")
        with WaxellContext(agent_name="child-agent", inputs={"task": "sub"}) as child:
            child.record_llm_call(model="claude-sonnet-4", tokens_in=20, tokens_out=5)
            child.set_result({"sub": True})
        ctx.record_llm_call(model="claude-sonnet-4", tokens_in=2000, tokens_out=500, task="synthesize",
                            status="error", error_type="RateLimit", error_message="slow down")  # fmt: skip
        ctx.record_step("refine")
        ctx.record_score("relevance", 0.92, comment="Highly relevant")
        ctx.record_score("contains_hallucination", False, data_type="boolean")
        ctx.record_score("tone", "professional", data_type="categorical")
        ctx.set_tag("pipeline", "rag-v2")
        ctx.set_metadata("retrieval_count", 5)
        ctx.set_result({"answer": "sunny"})
        parent_id, child_id = ctx.run_id, child.run_id
    try:
        with WaxellContext(agent_name="failing-agent") as failing:
            failing.record_step("before")
            raise KeyError("missing")
    except KeyError:
        pass
    return parent_id, child_id, failing.run_id


def _same(remote: dict[str, Any], local: dict[str, Any]) -> None:
    for key, value in local.items():
        assert remote[key] == value, (key, remote[key], value)
    assert remote == local


def test_every_record_type_reads_back_as_embedded(
    real_server: Any, register_plugin: Callable[..., Any], read_run: Callable[[str], dict[str, Any]],
    waxell_db: Path,
) -> None:  # fmt: skip
    WaxellObserveClient.configure(api_url=real_server.url, api_key="")
    register_plugin(MirrorToEmbedded(waxell_db))
    parent_id, child_id, failing_id = _workload()
    report = waxell_observe.flush(timeout=30)
    assert report.sinks["remote"].pending == 0 and report.sinks["remote"].dropped == 0, report

    for run_id in (parent_id, child_id, failing_id):
        _same(real_server.read_run(run_id), read_run(run_id))

    parent = real_server.read_run(parent_id)
    assert [(s["kind"], s["name"]) for s in parent["spans"]] == [
        ("io", "user_message"), ("tool", "web_search"), ("tool", "db"), ("retrieval", "pinecone"),
        ("decision", "route"), ("reasoning", "evaluate"), ("retry", "fallback"), ("policy", "budget"),
        ("io", "user_message"), ("io", "agent_response"), ("chain", "summarize"),
    ]  # fmt: skip
    assert [s["name"] for s in parent["steps"]] == ["research", "delegate:child-agent", "refine"]
    assert [c["run_id"] for c in parent["children"]] == [child_id]
    assert parent["conversation"]["user_turns"] == 2 and parent["tags"] == {"env": "test", "pipeline": "rag-v2"}
    assert [s["value"] for s in parent["scores"]] == [0.92, False, "professional"]
    failing = real_server.read_run(failing_id)
    assert failing["status"] == "error" and failing["error_type"] == "KeyError" and "KeyError" in failing["traceback"]
    # parent: start, 2 LLM calls, 3 steps, 11 spans, 3 scores, end; child: 3; failing: 3
    assert report.sinks["remote"].sent == 21 + 3 + 3


def test_async_runs_are_delivered_too(real_server: Any) -> None:
    WaxellObserveClient.configure(api_url=real_server.url, api_key="")

    async def agent(i: int) -> str:
        async with WaxellContext(agent_name="async-agent", inputs={"i": i}) as ctx:
            await asyncio.sleep(0)
            ctx.record_llm_call(model="gpt-4o-mini", tokens_in=i, tokens_out=1)
            ctx.set_result({"i": i})
            return ctx.run_id

    async def main() -> list[str]:
        return await asyncio.gather(*(agent(i) for i in range(5)))

    run_ids = asyncio.run(main())
    assert waxell_observe.flush(timeout=30).pending == 0
    for i, run_id in enumerate(run_ids):
        run = real_server.read_run(run_id)
        assert (run["status"], run["inputs"], run["result"], run["tokens_in"]) == ("success", {"i": i}, {"i": i}, i)


def test_server_killed_mid_stream_then_restarted_loses_nothing(real_server: Any, engine: Any) -> None:
    """kill -9 of the server while runs stream in; after a restart on the same port every run
    arrives whole and exactly once."""
    engine(max_backoff=0.3)
    WaxellObserveClient.configure(api_url=real_server.url, api_key="")
    run_ids = []
    for i in range(30):
        with WaxellContext(agent_name="stream-agent", inputs={"i": i}) as ctx:
            ctx.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=i)
            ctx.record_step("s", output={"i": i})
            ctx.set_result({"i": i})
        run_ids.append(ctx.run_id)
        if i == 15:
            real_server.kill()
    real_server.start()
    report = waxell_observe.flush(timeout=60)
    assert report.pending == 0 and report.dropped == 0, report
    listed = real_server.list_runs(agent_name="stream-agent")
    assert listed["total"] == 30
    for i, run_id in enumerate(run_ids):
        run = real_server.read_run(run_id)
        assert (run["status"], run["tokens_out"], len(run["llm_calls"]), len(run["steps"])) == ("success", i, 1, 1)
        assert json.dumps(run["result"]) == json.dumps({"i": i})


def test_auto_collected_calls_arrive_as_automatic_runs(
    real_server: Any, register_plugin: Callable[..., Any], read_run: Callable[[str], dict[str, Any]],
    waxell_db: Path,
) -> None:  # fmt: skip
    from waxell_observe.integration_api import record_llm_call

    WaxellObserveClient.configure(api_url=real_server.url, api_key="")
    register_plugin(MirrorToEmbedded(waxell_db))
    record_llm_call(model="gpt-4o-mini-auto-rt", tokens_in=5, tokens_out=2, started_at=time.time() - 3)
    record_llm_call(model="gpt-4o-mini-auto-rt", tokens_in=7, tokens_out=1)
    report = waxell_observe.flush(timeout=30).sinks["remote"]
    assert (report.pending, report.dropped) == (0, 0)
    (summary,) = real_server.list_runs(agent_name="auto:gpt-4o-mini-auto-rt")["runs"]
    remote = real_server.read_run(summary["run_id"])
    _same(remote, read_run(summary["run_id"]))
    assert (remote["auto_collected"], remote["workflow_name"], remote["tokens_in"]) == (True, "auto", 12)

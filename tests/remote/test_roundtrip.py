"""Contract tests: what the SDK sends, replayed against the real ``waxell-observe serve``
(SQLite and PostgreSQL), reads back through the server's read API exactly as the same
program reads back from the embedded store.

Each test runs one program twice in this process: once in embedded mode (``WAXELL_DB``,
read from the store) and once in remote mode against the real server (read through
``/api/v1/read/``). Both runs draw the same ids (the id generator is seeded) and the same
times (the SDK's clock is replaced by one that ticks a quarter second per reading), so the
two reads must be equal field for field: ids, times, durations, totals, conversation state,
every record.

Remote mode is checked through both ways the SDK talks to a control plane: the batch
endpoint (``POST runs/batch/``, which our server advertises in ``GET config/``) and the
per-run protocol of the specification (forced here by hiding the advertisement from the
SDK's probe), and the requests actually made are checked to be of that protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient, records
from waxell_observe.config import set_config
from waxell_observe.pipeline.remote_destination import RemoteDestination

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z
RECORDING_MODULES = tuple(
    f"waxell_observe.{name}"
    for name in (
        "context",
        "run",
        "records",
        "calls_outside_runs",
        "integration_api",
        "conversation",
        "instrumentation",
        "decorators",
    )
)
"""Where the SDK reads the clock for what it records (the pipeline, transport and stores keep the
real one)."""


class Clock:
    """The ``time`` module as the SDK sees it: ``time()`` ticks 0.25 s per reading (exact in
    binary and in microseconds, so no rounding anywhere can tell the two stores apart)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        self.now += 0.25
        return self.now

    def time_ns(self) -> int:
        """Without a tick (ids read it, ``records._refill``: the timestamps stay where they were)."""
        return int(self.now * 1_000_000_000)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def deterministic(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``deterministic(seed)``: from now on the SDK draws ids from ``seed`` and reads a clock
    that starts at :data:`EPOCH` (call it again before the second run of a program)."""

    clock = Clock(EPOCH)
    for name in RECORDING_MODULES:  # (imported now: a module imported later would keep the real clock)
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(RECORDING_MODULES):
            continue
        for attribute, value in list(vars(module).items()):
            if value is time:  # ``import time``
                monkeypatch.setattr(module, attribute, clock)
            elif value is time.time:  # ``_time = time.time``, ``from time import time``
                monkeypatch.setattr(module, attribute, clock.time)

    def start(seed: int) -> None:
        records._random.seed(seed)
        pool = getattr(records, "_pool", None)
        if pool is not None:
            pool.clear()  # ids drawn ahead from the old seed
        clock.now = EPOCH

    return start


@pytest.fixture(params=["batch", "per-run"])
def protocol(
    request: pytest.FixtureRequest, shared_server: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """Remote mode through ``runs/batch/`` or through the per-run protocol; yields the paths of
    every delivery request made (to check which protocol was spoken)."""
    if request.param == "batch":
        advertised = httpx.get(f"{shared_server.url}/api/v1/observe/config/", timeout=10).json()
        if not advertised.get("batch_ingest"):
            pytest.skip(
                "the server's GET config/ does not advertise batch_ingest (batch endpoint not there yet)"
            )
    else:
        probe = RemoteDestination._probe

        def per_run_only(self: RemoteDestination) -> None:
            probe(self)
            self.batch_path = ""  # as if config/ had not advertised the batch endpoint

        monkeypatch.setattr(RemoteDestination, "_probe", per_run_only)
    paths: list[str] = []
    post = RemoteDestination._post

    def spy(self: RemoteDestination, path: str, body: Any, **kwargs: Any) -> dict[str, Any]:
        paths.append(path)
        return post(self, path, body, **kwargs)

    monkeypatch.setattr(RemoteDestination, "_post", spy)
    yield paths
    if request.param == "batch":
        assert paths and set(paths) == {"runs/batch/"}, paths
    else:
        assert paths and "runs/batch/" not in paths and "runs/start/" in paths, paths


def _seed(request: pytest.FixtureRequest) -> int:
    """A seed of this test (the real server is shared by the tests of this module: their ids must differ)."""
    return sum(ord(c) * (i + 1) for i, c in enumerate(request.node.nodeid))


def _remote(shared_server: Any) -> None:
    WaxellObserveClient.configure(api_url=shared_server.url, api_key="")


def _embedded() -> None:
    set_config(None)  # WAXELL_DB (the test's store), embedded mode


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
            model="gpt-4o",
            tokens_in=300,
            tokens_out=150,
            task="plan",
            prompt_preview="Plan the trip",
            response_preview="Steps",
            duration_ms=350,
            attributes={"temperature": 0.2},
            messages=[
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "weather in Paris?"},
            ],
            response_text="Let me look.",
            finish_reason="tool_calls",
        )
        ctx.record_step("research", output={"sources": 5})
        # What is recorded so far is delivered now (the start alone, then records): the rest
        # of the run arrives in later deliveries, as for any long run.
        assert waxell_observe.flush_sync(timeout=30).pending == 0
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
        ctx.record_span(
            "chain", "summarize", duration_ms=12.5, attributes={"lc": 1}, input={"a": 1}, output="ok"
        )
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
        with WaxellContext(agent_name="failing-agent", inputs={"x": float("inf")}) as failing:
            failing.record_step("before", output={"ratio": float("nan")})
            raise KeyError("missing")
    except KeyError:
        pass
    return parent_id, child_id, failing.run_id


RECORDS_OF_WORKLOAD = 21 + 3 + 3
"""Frames of :func:`_workload`: the parent's start, 2 LLM calls, 3 steps (one the child's
delegation), 11 spans, 3 scores and end; the child's start, LLM call and end; the failing
run's start, step and end."""


def _same(remote: dict[str, Any], local: dict[str, Any]) -> None:
    for key, value in local.items():
        assert remote.get(key) == value, (key, remote.get(key), value)
    assert remote == local


def test_every_record_type_reads_back_as_embedded(
    shared_server: Any, protocol: list[str], deterministic: Callable[[int], None],
    read_run: Callable[[str], dict[str, Any]], request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    seed = _seed(request)
    _embedded()
    deterministic(seed)
    ids = _workload()
    report = waxell_observe.flush_sync(timeout=30)
    assert (report.sinks["embedded"].sent, report.dropped, report.pending) == (RECORDS_OF_WORKLOAD, 0, 0), (
        report
    )
    local = [read_run(run_id) for run_id in ids]

    _remote(shared_server)
    deterministic(seed)
    assert _workload() == ids, "the SDK's ids are no longer reproducible: update deterministic()"
    report = waxell_observe.flush_sync(timeout=30).sinks["remote"]
    assert (report.sent, report.dropped, report.pending) == (RECORDS_OF_WORKLOAD, 0, 0), report
    for run_id, expected in zip(ids, local, strict=True):
        _same(shared_server.read_run(run_id), expected)

    parent_id, child_id, failing_id = ids
    parent = shared_server.read_run(parent_id)
    assert [(s["kind"], s["name"]) for s in parent["spans"]] == [
        ("io", "user_message"), ("tool", "web_search"), ("tool", "db"), ("retrieval", "pinecone"),
        ("decision", "route"), ("reasoning", "evaluate"), ("retry", "fallback"), ("policy", "budget"),
        ("io", "user_message"), ("io", "agent_response"), ("chain", "summarize"),
    ]  # fmt: skip
    assert [s["name"] for s in parent["steps"]] == ["research", "delegate:child-agent", "refine"]
    assert [c["model"] for c in parent["llm_calls"]] == ["gpt-4o", "claude-sonnet-4"]
    assert [c["run_id"] for c in parent["children"]] == [child_id]
    assert parent["conversation"]["user_turns"] == 2
    assert parent["tags"] == {"env": "test", "pipeline": "rag-v2"}
    assert parent["metadata"] == {"version": "2.1", "retrieval_count": 5}
    assert [s["value"] for s in parent["scores"]] == [0.92, False, "professional"]
    assert (parent["started_at"], parent["tokens_in"], parent["tokens_out"]) == (
        "2026-01-01T00:00:00.250000+00:00",
        2300,
        650,
    )
    failing = shared_server.read_run(failing_id)
    assert (
        failing["status"] == "error"
        and failing["error_type"] == "KeyError"
        and "KeyError" in failing["traceback"]
    )


def test_async_runs_read_back_as_embedded(
    shared_server: Any, protocol: list[str], deterministic: Callable[[int], None],
    read_run: Callable[[str], dict[str, Any]], request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    async def agent(i: int) -> str:
        async with WaxellContext(agent_name="async-agent", inputs={"i": i}, enforce_policy=False) as ctx:
            await asyncio.sleep(0)
            ctx.record_llm_call(model="gpt-4o-mini", tokens_in=i, tokens_out=1)
            await asyncio.sleep(0)
            ctx.record_step("after", output={"i": i})
            ctx.set_result({"i": i})
            return ctx.run_id

    async def main() -> list[str]:
        return await asyncio.gather(*(agent(i) for i in range(5)))

    seed = _seed(request)
    _embedded()
    deterministic(seed)
    run_ids = asyncio.run(main())
    local = [read_run(run_id) for run_id in run_ids]
    _remote(shared_server)
    deterministic(seed)
    assert asyncio.run(main()) == run_ids
    report = waxell_observe.flush_sync(timeout=30).sinks["remote"]
    assert (report.sent, report.dropped, report.pending) == (5 * 4, 0, 0), report
    for i, (run_id, expected) in enumerate(zip(run_ids, local, strict=True)):
        run = shared_server.read_run(run_id)
        _same(run, expected)
        assert (run["status"], run["inputs"], run["result"], run["tokens_in"]) == (
            "success",
            {"i": i},
            {"i": i},
            i,
        )


def test_auto_collected_calls_read_back_as_embedded(
    shared_server: Any, protocol: list[str], deterministic: Callable[[int], None],
    read_run: Callable[[str], dict[str, Any]], read_runs: Callable[..., list[dict[str, Any]]],
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    from waxell_observe.integration_api import record_llm_call

    model = f"gpt-4o-mini-auto-{protocol and 'x' or 'y'}-{_seed(request) % 10_000}"

    def program() -> None:
        record_llm_call(model=model, tokens_in=5, tokens_out=2, started_at=EPOCH - 3)
        record_llm_call(model=model, tokens_in=7, tokens_out=1)

    seed = _seed(request)
    _embedded()
    deterministic(seed)
    program()
    (summary,) = read_runs(agent_name=f"auto:{model}")
    local = read_run(summary["run_id"])

    _remote(shared_server)
    deterministic(seed)
    program()
    report = waxell_observe.flush_sync(timeout=30).sinks["remote"]
    assert (report.sent, report.dropped, report.pending) == (4, 0, 0), report
    (listed,) = shared_server.list_runs(agent_name=f"auto:{model}")["runs"]
    assert listed["run_id"] == summary["run_id"]
    remote = shared_server.read_run(summary["run_id"])
    _same(remote, local)
    assert (remote["auto_collected"], remote["workflow_name"], remote["tokens_in"]) == (True, "auto", 12)
    assert remote["started_at"] == "2025-12-31T23:59:57+00:00"

"""Runs follow the code into threads, executors, asyncio tasks — and start fresh after fork."""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import waxell_observe
from waxell_observe import ContextThreadPoolExecutor, WaxellContext, calls_outside_runs, observe, wrap_context
from waxell_observe.integration_api import record_llm_call

ReadRun = Callable[[str], dict[str, Any]]
ReadRuns = Callable[..., list[dict[str, Any]]]


def step_names(run: dict[str, Any]) -> list[str]:
    return [s["name"] for s in run["steps"]]


def test_wrap_context_carries_the_run_into_a_thread(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe
    def worker_agent(n: int) -> int:
        return n * 2

    def work() -> None:
        waxell_observe.step("in-thread")
        worker_agent(21)

    with WaxellContext(agent_name="main") as ctx:
        thread = threading.Thread(target=wrap_context(work))
        thread.start()
        thread.join()
        unwrapped = threading.Thread(target=lambda: waxell_observe.step("lost"))
        unwrapped.start()
        unwrapped.join()

    parent = read_run(ctx.run_id)
    [child] = [read_run(r["run_id"]) for r in read_runs(agent_name="worker_agent")]
    assert child["parent_run_id"] == ctx.run_id
    assert step_names(parent) == ["in-thread", "delegate:worker_agent"]


def test_wrap_context_calls_do_not_leak_into_each_other() -> None:
    import contextvars

    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")

    def set_and_read(value: str) -> tuple[str, str]:
        before = marker.get()
        marker.set(value)
        return before, marker.get()

    wrapped = wrap_context(set_and_read)
    assert wrapped("a") == ("unset", "a")
    assert wrapped("b") == ("unset", "b")
    assert marker.get() == "unset"
    with pytest.raises(ValueError, match="wrap_context expects a callable"):
        wrap_context("not callable")  # type: ignore[arg-type]


async def test_wrap_context_on_a_coroutine_function_run_in_another_loop(
    read_runs: ReadRuns, read_run: ReadRun
) -> None:
    @observe
    async def remote_step(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    async def body(x: int) -> int:
        waxell_observe.step("async-wrapped")
        return await remote_step(x)

    async with WaxellContext(agent_name="host") as ctx:
        wrapped = wrap_context(body)
        # another thread, another event loop: the run still follows
        result = await asyncio.get_running_loop().run_in_executor(None, lambda: asyncio.run(wrapped(1)))
        unwrapped = await asyncio.get_running_loop().run_in_executor(None, lambda: asyncio.run(body(10)))
    assert (result, unwrapped) == (2, 11)
    assert step_names(read_run(ctx.run_id)) == ["async-wrapped", "delegate:remote_step"]
    parents = sorted(r["parent_run_id"] for r in read_runs(agent_name="remote_step"))
    assert parents == sorted(["", ctx.run_id])


def test_context_thread_pool_executor_submit_and_map(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe
    def fetch(url: str) -> str:
        return url.upper()

    with WaxellContext(agent_name="crawler") as ctx:
        with ContextThreadPoolExecutor(max_workers=4) as pool:
            assert list(pool.map(fetch, ["a", "b", "c"])) == ["A", "B", "C"]
            assert pool.submit(fetch, "d").result() == "D"
        with ThreadPoolExecutor(max_workers=1) as plain_pool:
            plain_pool.submit(fetch, "orphan").result()

    children = [read_run(r["run_id"]) for r in read_runs(agent_name="fetch")]
    by_url = {c["inputs"]["url"]: c for c in children}
    assert sorted(by_url) == ["a", "b", "c", "d", "orphan"]
    for url in "abcd":
        assert by_url[url]["parent_run_id"] == ctx.run_id
    assert by_url["orphan"]["parent_run_id"] == ""
    assert sorted(step_names(read_run(ctx.run_id))) == ["delegate:fetch"] * 4


def test_fifty_runs_in_fifty_threads_never_mix(read_runs: ReadRuns, read_run: ReadRun) -> None:
    barrier = threading.Barrier(50)

    @observe(agent_name="threaded")
    def agent(index: int) -> dict[str, int]:
        barrier.wait(timeout=30)
        for i in range(5):
            waxell_observe.tag("worker", str(index))
            waxell_observe.step(f"w{index}-s{i}", {"index": index})
            waxell_observe.score("index", float(index))
            time.sleep(random.random() / 1000)
        return {"index": index}

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    runs = [read_run(r["run_id"]) for r in read_runs(agent_name="threaded")]
    assert len(runs) == 50
    assert sorted(r["inputs"]["index"] for r in runs) == list(range(50))
    for run in runs:
        index = run["inputs"]["index"]
        assert run["parent_run_id"] == ""
        assert run["tags"] == {"worker": str(index)}
        assert run["result"] == {"index": index}
        assert [(s["name"], s["output"]) for s in run["steps"]] == [
            (f"w{index}-s{i}", {"index": index}) for i in range(5)
        ]
        assert [s["value"] for s in run["scores"]] == [float(index)] * 5


async def test_fifty_runs_in_fifty_tasks_never_mix(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe
    async def sub_task(index: int) -> int:
        await asyncio.sleep(random.random() / 1000)
        waxell_observe.step(f"sub-{index}")
        return index

    @observe(agent_name="tasked")
    async def agent(index: int) -> int:
        for i in range(3):
            await asyncio.sleep(random.random() / 1000)
            waxell_observe.step(f"t{index}-s{i}")
            waxell_observe.tag("task", str(index))
        return await sub_task(index)

    assert sorted(await asyncio.gather(*(agent(i) for i in range(50)))) == list(range(50))

    parents = {r["run_id"]: read_run(r["run_id"]) for r in read_runs(agent_name="tasked")}
    subs = [read_run(r["run_id"]) for r in read_runs(agent_name="sub_task")]
    assert len(parents) == 50 and len(subs) == 50
    for run in parents.values():
        index = run["inputs"]["index"]
        assert run["tags"] == {"task": str(index)}
        assert step_names(run) == [f"t{index}-s0", f"t{index}-s1", f"t{index}-s2", "delegate:sub_task"]
    for sub in subs:
        parent = parents[sub["parent_run_id"]]
        assert parent["inputs"]["index"] == sub["inputs"]["index"]
        assert step_names(sub) == [f"sub-{sub['inputs']['index']}"]


async def test_tasks_created_inside_a_run_inherit_it(read_run: ReadRun) -> None:
    async def background() -> None:
        waxell_observe.step("from-task")

    async with WaxellContext(agent_name="spawner") as ctx:
        await asyncio.create_task(background())
        await asyncio.to_thread(lambda: waxell_observe.step("from-to-thread"))
    assert step_names(read_run(ctx.run_id)) == ["from-task", "from-to-thread"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_starts_fresh_and_parent_loses_nothing(read_runs: ReadRuns, read_run: ReadRun) -> None:
    from waxell_observe.pipeline import pipeline as pipeline_module

    @observe
    def child_job() -> str:
        waxell_observe.step("in-child")
        return "child"

    record_llm_call(model="gpt-4o", tokens_in=3, tokens_out=1)  # buffered by the parent's collector
    assert calls_outside_runs.pending() == 1
    read_fd, write_fd = os.pipe()
    with WaxellContext(agent_name="forking-parent") as ctx:
        for i in range(300):
            ctx.record_step(f"before-{i}")
        pid = os.fork()
        if pid == 0:  # the child: report what it sees, record its own run, exit without cleanup
            status = 1
            try:
                os.close(read_fd)
                inherited = pipeline_module.existing()
                seen: dict[str, Any] = {
                    "current_is_none": waxell_observe.get_current_context() is None,
                    "collector_pending": calls_outside_runs.pending(),
                    "journals_inherited": len(inherited.journals) if inherited is not None else 0,
                    "drainer_reset": inherited is None or not inherited.drainer.running(),
                }
                child_job()
                report = waxell_observe.flush_sync(timeout=30)
                seen["embedded_sent"] = report.sinks["embedded"].sent
                seen["pending"] = report.pending
                os.write(write_fd, json.dumps(seen).encode())
                status = 0
            finally:
                os._exit(status)
        os.close(write_fd)
        ctx.record_step("after-fork")
    _, wait_status = os.waitpid(pid, 0)
    with os.fdopen(read_fd) as pipe:
        seen = json.loads(pipe.read())
    assert os.waitstatus_to_exitcode(wait_status) == 0
    assert seen == {
        "current_is_none": True,
        "collector_pending": 0,
        "journals_inherited": 0,
        "drainer_reset": True,
        "embedded_sent": 3,  # the child's own run: start, step, end
        "pending": 0,
    }

    parent = read_run(ctx.run_id)
    assert parent["status"] == "success"
    assert step_names(parent) == [f"before-{i}" for i in range(300)] + ["after-fork"]
    [child] = [read_run(r["run_id"]) for r in read_runs(agent_name="child_job")]
    assert child["parent_run_id"] == ""
    assert step_names(child) == ["in-child"]
    auto = [r for r in read_runs(workflow_name="auto")]
    assert [r["agent_name"] for r in auto] == ["auto:gpt-4o"]
    assert read_run(auto[0]["run_id"])["metadata"] == {"auto_collected": True, "call_count": 1}

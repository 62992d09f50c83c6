"""``@observe`` on generators and async generators: one run per iteration, no leak between yields."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

import waxell_observe
from waxell_observe import WaxellContext, get_current_context, observe
from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance.results import PolicyCheckResult
from waxell_observe.plugins import hookimpl

ReadRun = Callable[[str], dict[str, Any]]
ReadRuns = Callable[..., list[dict[str, Any]]]


def only_run(read_runs: ReadRuns, read_run: ReadRun, **filters: Any) -> dict[str, Any]:
    runs = read_runs(**filters)
    assert len(runs) == 1, runs
    return read_run(runs[0]["run_id"])


def steps(run: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(s["name"], s["output"]) for s in run["steps"]]


# -- sync generators -----------------------------------------------------------------------


def test_generator_run_spans_the_iteration_and_never_leaks_to_the_caller(
    read_runs: ReadRuns, read_run: ReadRun
) -> None:
    inside: list[str] = []

    @observe
    def stream(prefix: str, count: int = 3) -> Iterator[str]:
        for i in range(count):
            ctx = get_current_context()
            assert ctx is not None
            inside.append(ctx.run_id)
            waxell_observe.step(f"chunk-{i}")
            yield f"{prefix}{i}"
        return "finished"

    assert inspect.isgeneratorfunction(stream)
    seen_in_caller = []
    gen = stream("t")
    for item in gen:
        seen_in_caller.append((item, get_current_context()))
    assert seen_in_caller == [("t0", None), ("t1", None), ("t2", None)]

    run = only_run(read_runs, read_run)
    assert set(inside) == {run["run_id"]}
    assert run["status"] == "success"
    assert run["inputs"] == {"prefix": "t", "count": 3}
    assert run["result"] == {"output": ["t0", "t1", "t2"], "yield_count": 3, "return_value": "finished"}
    assert steps(run) == [("chunk-0", None), ("chunk-1", None), ("chunk-2", None)]


def test_return_value_of_yield_from_is_kept() -> None:
    @observe
    def inner() -> Iterator[int]:
        yield 1
        return 99

    def outer() -> Iterator[int]:
        value = yield from inner()
        yield value

    assert list(outer()) == [1, 99]


def test_send_and_throw_are_forwarded(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe
    def accumulator() -> Iterator[int]:
        total = 0
        while True:
            try:
                value = yield total
            except ValueError:
                value = -100
            if value is None:
                return total
            total += value

    gen = accumulator()
    assert next(gen) == 0
    assert gen.send(5) == 5
    assert gen.throw(ValueError("reset")) == -95
    with pytest.raises(StopIteration) as stop:
        gen.send(None)
    assert stop.value.value == -95
    run = only_run(read_runs, read_run)
    assert run["status"] == "success"
    assert run["result"] == {"output": [0, 5, -95], "yield_count": 3, "return_value": -95}


def test_closing_early_completes_the_run(read_runs: ReadRuns, read_run: ReadRun) -> None:
    cleanup: list[str] = []

    @observe
    def endless() -> Iterator[int]:
        i = 0
        try:
            while True:
                yield i
                i += 1
        finally:
            cleanup.append("closed")

    gen = endless()
    assert [next(gen), next(gen)] == [0, 1]
    assert read_runs()[0]["status"] == "running"
    gen.close()
    assert cleanup == ["closed"]
    run = only_run(read_runs, read_run)
    assert run["status"] == "success"
    assert run["result"] == {"output": [0, 1], "yield_count": 2, "closed_early": True}


def test_garbage_collection_completes_the_run(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe
    def numbers() -> Iterator[int]:
        yield from range(10)

    for n in numbers():
        if n == 2:
            break
    gc.collect()
    run = only_run(read_runs, read_run)
    assert run["status"] == "success"
    assert run["result"] == {"output": [0, 1, 2], "yield_count": 3, "closed_early": True}
    assert get_current_context() is None


def test_unstarted_generator_records_nothing(read_runs: ReadRuns) -> None:
    @observe
    def never() -> Iterator[int]:
        yield 1

    gen = never()
    gen.close()
    del gen
    assert read_runs() == []


def test_exception_inside_generator_propagates_and_keeps_partial_output(
    read_runs: ReadRuns, read_run: ReadRun
) -> None:
    error = RuntimeError("stream broke")

    @observe
    def flaky() -> Iterator[str]:
        yield "a"
        raise error

    collected = []
    with pytest.raises(RuntimeError) as info:
        for item in flaky():
            collected.append(item)
    assert info.value is error
    assert collected == ["a"]
    run = only_run(read_runs, read_run)
    assert run["status"] == "error"
    assert run["error"] == "stream broke"
    assert run["result"] == {"output": ["a"], "yield_count": 1}


def test_nested_generators_and_a_nested_context_spanning_yields(
    read_runs: ReadRuns, read_run: ReadRun
) -> None:
    @observe
    def tokens(word: str) -> Iterator[str]:
        for ch in word:
            waxell_observe.step("token", {"ch": ch})
            yield ch

    @observe(agent_name="sentence")
    def sentence(words: list[str]) -> Iterator[str]:
        with WaxellContext(agent_name="inner-block") as block:
            yield "<"
            # still the nested block after resuming
            assert get_current_context() is block
            block.record_step("resumed")
        for word in words:
            yield from tokens(word)
            waxell_observe.step("word-done", {"word": word})

    assert "".join(sentence(["ab", "c"])) == "<abc"
    assert get_current_context() is None
    parent = only_run(read_runs, read_run, agent_name="sentence")
    block = only_run(read_runs, read_run, agent_name="inner-block")
    children = [read_run(r["run_id"]) for r in read_runs(agent_name="tokens")]
    assert block["parent_run_id"] == parent["run_id"]
    assert steps(block) == [("resumed", None)]
    assert sorted(c["inputs"]["word"] for c in children) == ["ab", "c"]
    for child in children:
        assert child["parent_run_id"] == parent["run_id"]
        assert steps(child) == [("token", {"ch": ch}) for ch in child["inputs"]["word"]]
    assert [name for name, _ in steps(parent)] == [
        "delegate:inner-block",
        "delegate:tokens",
        "word-done",
        "delegate:tokens",
        "word-done",
    ]


def test_interleaved_generators_keep_their_records_apart(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe
    def counter(name: str) -> Iterator[int]:
        for i in range(3):
            waxell_observe.step(f"{name}-{i}")
            yield i

    a, b = counter("a"), counter("b")
    for _ in range(3):
        next(a)
        next(b)
        assert get_current_context() is None
    a.close()
    b.close()
    for run_summary in read_runs():
        run = read_run(run_summary["run_id"])
        name = run["inputs"]["name"]
        assert [s for s, _ in steps(run)] == [f"{name}-0", f"{name}-1", f"{name}-2"]


def test_generator_iterated_inside_a_run_is_its_child(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe
    def pages() -> Iterator[int]:
        yield 1
        yield 2

    @observe(agent_name="reader")
    def read_all() -> int:
        return sum(pages())

    assert read_all() == 3
    parent = only_run(read_runs, read_run, agent_name="reader")
    child = only_run(read_runs, read_run, agent_name="pages")
    assert child["parent_run_id"] == parent["run_id"]


def test_policy_block_raises_at_first_iteration(register_plugin: Any, read_runs: ReadRuns) -> None:
    class Block:
        @hookimpl
        def on_policy_check(self, run: Any, phase: str, surface: str) -> PolicyCheckResult:
            return PolicyCheckResult("block", reason="no streams today")

    register_plugin(Block())
    started: list[int] = []

    @observe
    def stream() -> Iterator[int]:
        started.append(1)
        yield 1

    gen = stream()
    with pytest.raises(PolicyViolationError, match="no streams today"):
        next(gen)
    assert started == []
    assert read_runs() == []
    assert get_current_context() is None


# -- async generators ----------------------------------------------------------------------


async def test_async_generator_run_and_no_leak(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe(agent_name="astream")
    async def astream(n: int) -> AsyncIterator[dict[str, int]]:
        for i in range(n):
            await asyncio.sleep(0)
            waxell_observe.step("emit", {"i": i})
            yield {"i": i}

    assert inspect.isasyncgenfunction(astream)
    received = []
    async for item in astream(3):
        assert get_current_context() is None
        received.append(item)
    assert received == [{"i": 0}, {"i": 1}, {"i": 2}]
    run = only_run(read_runs, read_run)
    assert run["status"] == "success"
    assert run["inputs"] == {"n": 3}
    assert run["result"] == {"output": [{"i": 0}, {"i": 1}, {"i": 2}], "yield_count": 3}
    assert steps(run) == [("emit", {"i": 0}), ("emit", {"i": 1}), ("emit", {"i": 2})]


async def test_async_generator_asend_athrow_aclose(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe
    async def echo() -> AsyncIterator[str]:
        received = "start"
        while True:
            try:
                received = yield received
            except KeyError:
                received = "caught"

    agen = echo()
    assert await agen.asend(None) == "start"
    assert await agen.asend("x") == "x"
    assert await agen.athrow(KeyError("k")) == "caught"
    await agen.aclose()
    run = only_run(read_runs, read_run)
    assert run["status"] == "success"
    assert run["result"] == {"output": ["start", "x", "caught"], "yield_count": 3, "closed_early": True}


async def test_async_generator_under_asyncio_timeout(read_runs: ReadRuns, read_run: ReadRun) -> None:
    waiting = asyncio.Event()

    @observe
    async def slow_stream() -> AsyncIterator[int]:
        yield 1
        waiting.set()
        await asyncio.sleep(30)
        yield 2

    async def expire(deadline: asyncio.Timeout) -> None:
        await waiting.wait()  # the deadline passes once the body is blocked in its await
        deadline.reschedule(asyncio.get_running_loop().time())

    received = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(None) as deadline:
            expiry = asyncio.ensure_future(expire(deadline))
            async for item in slow_stream():
                received.append(item)
    await expiry
    assert received == [1]
    run = only_run(read_runs, read_run)
    assert run["status"] == "interrupted"
    assert run["error_type"] == "CancelledError"
    assert run["result"] == {"output": [1], "yield_count": 1}


async def test_cancelling_the_consumer_task(read_runs: ReadRuns, read_run: ReadRun) -> None:
    reached = asyncio.Event()

    @observe
    async def waits() -> AsyncIterator[int]:
        yield 0
        reached.set()
        await asyncio.sleep(30)
        yield 1

    async def consume() -> list[int]:
        return [i async for i in waits()]

    task = asyncio.ensure_future(consume())
    await reached.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    run = only_run(read_runs, read_run)
    assert run["status"] == "interrupted"


async def test_async_generator_exception(read_runs: ReadRuns, read_run: ReadRun) -> None:
    error = ConnectionError("upstream closed")

    @observe
    async def broken() -> AsyncIterator[int]:
        yield 1
        raise error

    with pytest.raises(ConnectionError) as info:
        async for _ in broken():
            pass
    assert info.value is error
    run = only_run(read_runs, read_run)
    assert (run["status"], run["error"]) == ("error", "upstream closed")


async def test_concurrent_async_generators_in_tasks(read_runs: ReadRuns, read_run: ReadRun) -> None:
    @observe
    async def producer(name: str) -> AsyncIterator[str]:
        for i in range(4):
            await asyncio.sleep(0)
            waxell_observe.tag("producer", name)
            waxell_observe.step(f"{name}-{i}")
            yield f"{name}{i}"

    @observe(agent_name="pipeline")
    async def pipeline() -> list[str]:
        async def drain(name: str) -> list[str]:
            return [x async for x in producer(name)]

        parts = await asyncio.gather(drain("p"), drain("q"), drain("r"))
        return [x for part in parts for x in part]

    assert len(await pipeline()) == 12
    parent = only_run(read_runs, read_run, agent_name="pipeline")
    for summary in read_runs(agent_name="producer"):
        run = read_run(summary["run_id"])
        name = run["inputs"]["name"]
        assert run["parent_run_id"] == parent["run_id"]
        assert run["tags"] == {"producer": name}
        assert [s for s, _ in steps(run)] == [f"{name}-{i}" for i in range(4)]
        assert run["result"]["output"] == [f"{name}{i}" for i in range(4)]


def test_an_uncapturable_yield_does_not_break_iteration(
    caplog: pytest.LogCaptureFixture, read_runs: ReadRuns, read_run: ReadRun
) -> None:
    class BadKey:
        def __str__(self) -> str:
            raise RuntimeError("no str")

        def __hash__(self) -> int:
            return 0

    @observe
    def odd() -> Iterator[Any]:
        yield {BadKey(): 1}
        yield "fine"

    with caplog.at_level(logging.ERROR, logger="waxell_observe"):
        assert [type(x).__name__ for x in odd()] == ["dict", "str"]
    assert "cannot capture a yielded item of type dict" in caplog.text
    run = only_run(read_runs, read_run)
    assert run["status"] == "success"
    assert run["result"] == {"output": [None, "fine"], "yield_count": 2}

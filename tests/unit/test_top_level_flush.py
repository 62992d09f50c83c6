"""``flush`` is a coroutine, ``flush_sync`` blocks (the reference's kinds); both deliver everything."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import waxell_observe
from waxell_observe.delivery.report import DeliveryReport


def test_flush_is_a_coroutine_function_and_flush_sync_is_not() -> None:
    assert inspect.iscoroutinefunction(waxell_observe.flush)
    assert not inspect.iscoroutinefunction(waxell_observe.flush_sync)
    assert "flush_sync" in waxell_observe.__all__


def test_flush_sync_delivers_what_was_recorded(read_run: Callable[[str], dict[str, Any]]) -> None:
    with waxell_observe.WaxellContext(agent_name="sync-flusher") as ctx:
        ctx.record_step("one")
    report = waxell_observe.flush_sync(timeout=30)
    assert isinstance(report, DeliveryReport)
    assert report.pending == 0
    run = read_run(ctx.run_id)
    assert run["agent_name"] == "sync-flusher"
    assert [step["name"] for step in run["steps"]] == ["one"]


def test_await_flush_delivers_without_blocking_the_loop(waxell_db: Any) -> None:
    from waxell_observe.store import get_store
    from waxell_observe.store.reader import get_run

    async def agent() -> tuple[str, DeliveryReport, int]:
        async with waxell_observe.WaxellContext(agent_name="async-flusher") as ctx:
            ctx.record_step("two")
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        report = await waxell_observe.flush(timeout=30)
        task.cancel()
        return ctx.run_id, report, ticks

    run_id, report, ticks = asyncio.run(agent())
    assert isinstance(report, DeliveryReport)
    assert report.pending == 0
    assert ticks > 0  # the loop kept running while the records were delivered
    with get_store(f"sqlite:///{waxell_db}").read() as conn:  # no second flush before reading
        run = get_run(conn, run_id)
    assert run is not None
    assert run["agent_name"] == "async-flusher"
    assert [step["name"] for step in run["steps"]] == ["two"]

"""integration_api's provider watch: how a framework integration learns that a provider integration
saw (or is recording) the model call it watches, so the call is recorded once."""

from __future__ import annotations

import asyncio

from waxell_observe import WaxellContext, integration_api


def _report() -> None:
    integration_api.record_llm_call(model="gpt-4o-mini", tokens_in=1, tokens_out=1)


def test_a_report_in_the_watching_context_counts() -> None:
    with WaxellContext(agent_name="watch", enforce_policy=False):
        watch = integration_api.begin_provider_watch()
        _report()
        assert integration_api.end_provider_watch(watch) == 1
        nothing = integration_api.begin_provider_watch()
        assert integration_api.end_provider_watch(nothing) == 0


def test_a_request_counts_before_its_record_arrives() -> None:
    with WaxellContext(agent_name="watch", enforce_policy=False):
        watch = integration_api.begin_provider_watch()
        integration_api.note_provider_request()  # a stream: its record comes when it is drained
        assert integration_api.end_provider_watch(watch) == 1


def test_under_a_framework_mark_the_provider_is_not_recording_so_nothing_counts() -> None:
    with WaxellContext(agent_name="watch", enforce_policy=False):
        watch = integration_api.begin_provider_watch()
        previous = integration_api.begin_framework_call("some-framework")
        integration_api.note_provider_request()
        _report()
        integration_api.end_framework_call(previous)
        assert integration_api.end_provider_watch(watch) == 0


async def test_a_run_wide_watch_sees_a_request_sent_from_another_task_of_the_run() -> None:
    async def other_task() -> None:
        integration_api.note_provider_request()

    async with WaxellContext(agent_name="watch", enforce_policy=False):
        run_wide = integration_api.begin_provider_watch(run_wide=True)
        await asyncio.create_task(other_task())  # a task started under the watch: counted once
        assert integration_api.end_provider_watch(run_wide) == 1
        assert integration_api._run_watches == {}

    async with WaxellContext(agent_name="watch", enforce_policy=False):
        started = asyncio.Event()
        requested = asyncio.Event()

        async def early_task() -> None:  # started before the watch: its context has none
            started.set()
            await requested.wait()
            integration_api.note_provider_request()

        task = asyncio.create_task(early_task())
        await started.wait()
        local = integration_api.begin_provider_watch()
        run_wide = integration_api.begin_provider_watch(run_wide=True)
        requested.set()
        await task
        assert integration_api.end_provider_watch(local) == 0
        assert integration_api.end_provider_watch(run_wide) == 1

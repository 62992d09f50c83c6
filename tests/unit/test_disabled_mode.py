"""``WAXELL_OBSERVE=false|0|no``: everything is a pass-through, nothing is recorded, no thread starts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import waxell_observe
from waxell_observe import (
    WaxellContext,
    decision,
    init,
    initialization,
    observe,
    reasoning_dec,
    retrieval,
    retry_dec,
    step_dec,
    tool,
)
from waxell_observe.config import get_config, set_config
from waxell_observe.integration_api import record_llm_call
from waxell_observe.plugins import hookimpl

ReadRuns = Callable[..., list[dict[str, Any]]]


class EverythingRecorder:
    """Remembers every hook call it receives."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def on_configure(self, config: Any) -> None:
        self.calls.append("on_configure")

    @hookimpl
    def on_instrument(self, config: Any, libraries: Any) -> None:
        self.calls.append("on_instrument")

    @hookimpl
    def on_run_start(self, run: Any) -> None:
        self.calls.append("on_run_start")

    @hookimpl
    def on_step(self, run: Any, step: Any) -> None:
        self.calls.append("on_step")

    @hookimpl
    def on_span(self, run: Any, span: Any) -> None:
        self.calls.append("on_span")

    @hookimpl
    def on_run_end(self, run: Any) -> None:
        self.calls.append("on_run_end")

    @hookimpl
    def on_policy_check(self, run: Any, phase: str, surface: str) -> None:
        self.calls.append("on_policy_check")


def disable(monkeypatch: pytest.MonkeyPatch, value: str = "false") -> None:
    monkeypatch.setenv("WAXELL_OBSERVE", value)
    set_config(None)


@pytest.fixture
def recorder(register_plugin: Any) -> EverythingRecorder:
    return register_plugin(EverythingRecorder())


@pytest.fixture(autouse=True)
def reset_init() -> Iterator[None]:
    initialization._reset_for_tests()
    yield
    initialization._reset_for_tests()


@pytest.mark.parametrize("value", ["false", "0", "no", "FALSE", "No", "False"])
def test_every_spelling_disables(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    disable(monkeypatch, value)
    assert get_config().enabled is False

    def plain(x: int) -> int:
        return x

    assert observe(plain) is plain


def test_decorating_while_disabled_returns_the_function_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    disable(monkeypatch)

    def fn(x: int) -> int:
        return x

    async def afn() -> None:
        return None

    def gen() -> Iterator[int]:
        yield 1

    assert observe(fn) is fn
    assert observe(agent_name="a", session_id="s")(afn) is afn
    assert observe(gen) is gen
    for decorator in (tool, decision, retrieval, reasoning_dec, step_dec):
        assert decorator(fn) is fn
        assert decorator()(fn) is fn


def test_decorated_while_enabled_then_disabled_calls_directly(
    monkeypatch: pytest.MonkeyPatch, recorder: EverythingRecorder, read_runs: ReadRuns
) -> None:
    @observe
    def agent(x: int) -> int:
        waxell_observe.step("inside")
        return x + 1

    @tool
    def helper(x: int) -> int:
        return x * 2

    @observe
    def stream() -> Iterator[int]:
        received = yield 1
        yield received * 10

    disable(monkeypatch)
    before = {t.ident for t in threading.enumerate()}
    assert agent(1) == 2
    assert helper(4) == 8
    gen = stream()
    assert next(gen) == 1
    assert gen.send(3) == 30
    assert waxell_observe.get_current_context() is None
    assert {t.ident for t in threading.enumerate()} - before == set()
    assert recorder.calls == []
    assert read_runs() == []


def test_config_switch_without_environment_is_seen_at_call_time(
    recorder: EverythingRecorder, read_runs: ReadRuns
) -> None:
    @observe
    def agent() -> str:
        return "ok"

    set_config(get_config().replace(enabled=False))
    assert agent() == "ok"
    assert recorder.calls == []
    set_config(get_config().replace(enabled=True))
    assert agent() == "ok"
    assert recorder.calls.count("on_run_start") == 1
    assert len(read_runs()) == 1


def test_init_and_contexts_and_convenience_do_nothing(
    monkeypatch: pytest.MonkeyPatch, recorder: EverythingRecorder, read_runs: ReadRuns
) -> None:
    disable(monkeypatch, "0")
    before = {t.ident for t in threading.enumerate()}

    config = init(api_key="k", instrument=None)
    assert config.enabled is False
    assert not initialization.is_initialized()

    with WaxellContext(agent_name="inert") as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=5)
        ctx.record_step("s")
        ctx.record_tool_call("t")
        ctx.set_tag("k", "v")
        ctx.set_result({"x": 1})
        assert waxell_observe.get_current_context() is None
        assert waxell_observe.tag("k", "v") is None
        assert waxell_observe.step("s") is None
        assert waxell_observe.score("s", 1.0) is None
        assert waxell_observe.user_message("hi") is None
    assert ctx.run is None and ctx.run_id == ""

    record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1)
    from waxell_observe import calls_outside_runs

    assert calls_outside_runs.pending() == 0
    assert {t.ident for t in threading.enumerate()} - before == set()
    assert recorder.calls == []
    assert read_runs() == []


def test_waxell_ctx_parameter_gets_an_inert_context(
    monkeypatch: pytest.MonkeyPatch, read_runs: ReadRuns
) -> None:
    disable(monkeypatch, "no")
    received: list[WaxellContext] = []

    @observe
    def agent(query: str, waxell_ctx: WaxellContext) -> str:
        received.append(waxell_ctx)
        waxell_ctx.record_step("plan", output={"q": query})
        waxell_ctx.record_llm_call(model="gpt-4o", tokens_in=1, tokens_out=1)
        return query

    @observe
    async def aagent(waxell_ctx: WaxellContext) -> str:
        waxell_ctx.record_score("s", 0.5)
        return "async"

    assert agent("q") == "q"
    assert asyncio.run(aagent()) == "async"
    [ctx] = received
    assert isinstance(ctx, WaxellContext)
    assert ctx.run is None
    assert read_runs() == []


def test_retry_still_retries_when_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    disable(monkeypatch)
    calls: list[int] = []

    @retry_dec(max_attempts=3)
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("again")
        return "ok"

    assert flaky() == "ok"
    assert len(calls) == 3

"""``waxell_observe.instrumentation``'s pieces for the agent-framework integrations: the ``agent`` span
of an invocation (in the current run, or a run of its own), the LLM record of a framework's model
call, and the wrapper factory imported when its target is patched. Read back from the real store."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from waxell_observe import WaxellContext
from waxell_observe.instrumentation import (
    AgentSpan,
    AgentSpans,
    AgentStart,
    autocontext_enabled,
    close_agent_span,
    imported_factory,
    jsonable,
    open_agent_span,
    record_framework_llm_call,
)


def span(
    name: str = "solo", *, may_open_run: bool = True, run_inputs: dict[str, Any] | None = None
) -> AgentSpan:
    return AgentSpan(
        name,
        framework="toyfw",
        workflow="toyflow",
        attributes={"framework": "toyfw", "agent.class": "Toy"},
        input_data={"prompt": "Hi?"},
        run_inputs=run_inputs,
        may_open_run=lambda: may_open_run,
    )


def output(result: Any) -> dict[str, Any]:
    return {"output": str(result)}


def test_in_a_run_the_span_nests_there_and_opens_no_run(read_run: Any, read_runs: Any) -> None:
    with WaxellContext(agent_name="outer", enforce_policy=False) as ctx:
        opened = open_agent_span(span, what="a toy run")
        close_agent_span(opened, "Hello", output=output, what="a toy run")
    [summary] = read_runs()
    run = read_run(summary["run_id"])
    assert (run["run_id"], run["agent_name"], run["result"]) == (ctx.run_id, "outer", {})
    [agent] = run["spans"]
    assert (agent["kind"], agent["name"], agent["status"], agent["parent_span_id"]) == (
        "agent",
        "solo",
        "ok",
        "",
    )
    assert (agent["input"], agent["output"]) == ({"prompt": "Hi?"}, {"output": "Hello"})
    assert agent["attributes"] == {
        "framework": "toyfw",
        "agent.class": "Toy",
        "openinference.span.kind": "AGENT",
    }


def test_outside_a_run_it_opens_one_of_its_own(read_run: Any, read_runs: Any) -> None:
    opened = open_agent_span(lambda: span(run_inputs={"task": "Hi?"}), what="a toy run")
    assert opened is not None and opened.own is not None
    close_agent_span(
        opened, "Hello", output=output, attributes=lambda r: {"toy.done": True}, what="a toy run"
    )
    [summary] = read_runs()
    run = read_run(summary["run_id"])
    assert (run["agent_name"], run["workflow_name"], run["status"]) == ("solo", "toyflow", "success")
    assert (run["inputs"], run["metadata"], run["result"]) == (
        {"task": "Hi?"},
        {"integration": "toyfw"},
        {"output": "Hello"},
    )
    [agent] = run["spans"]
    assert (agent["input"], agent["output"], agent["attributes"]["toy.done"]) == (
        {"prompt": "Hi?"},
        {"output": "Hello"},
        True,
    )


def test_a_failure_fails_the_span_and_its_own_run(read_run: Any, read_runs: Any) -> None:
    opened = open_agent_span(span, what="a toy run")
    close_agent_span(opened, exc=ValueError("no answer"), output=output, what="a toy run")
    [summary] = read_runs()
    run = read_run(summary["run_id"])
    assert (run["status"], run["error_type"], run["result"]) == ("error", "ValueError", {})
    [agent] = run["spans"]
    assert (agent["status"], agent["output"]) == ("error", None)
    assert agent["attributes"]["error.type"] == "ValueError"


def test_outside_a_run_without_autocontext_nothing_is_recorded(read_runs: Any) -> None:
    opened = open_agent_span(lambda: span(may_open_run=False), what="a toy run")
    assert opened is not None and (opened.ctx, opened.handle, opened.own) == (None, {}, None)
    close_agent_span(opened, "Hello", output=output, what="a toy run")
    assert read_runs() == []


def test_telemetry_failures_are_logged_never_raised(caplog: pytest.LogCaptureFixture, read_runs: Any) -> None:
    def broken() -> AgentSpan:
        raise RuntimeError("unreadable agent")

    assert open_agent_span(broken, what="a toy run") is None
    close_agent_span(None, "Hello", output=output, what="a toy run")
    opened = open_agent_span(span, what="a toy run")

    def unreadable(result: Any) -> dict[str, Any]:
        raise RuntimeError("unreadable output")

    close_agent_span(opened, "Hello", output=unreadable, what="a toy run")
    messages = [r.getMessage() for r in caplog.records if r.name == "waxell_observe"]
    assert messages == [
        "waxell-observe: could not record the start of a toy run",
        "waxell-observe: could not record the end of a toy run",
    ]
    assert opened is not None and opened.own is not None  # left open by the failed close: end it
    opened.close({"output": "ended"})
    assert [r["status"] for r in read_runs()] == ["success"]


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        (None, True),
        ("", True),
        ("1", True),
        ("true", True),
        ("false", False),
        (" Off ", False),
        ("NO", False),
        ("0", False),
    ],
)
def test_autocontext_is_on_unless_switched_off(
    monkeypatch: pytest.MonkeyPatch, value: str | None, enabled: bool
) -> None:
    if value is None:
        monkeypatch.delenv("WAXELL_TOYFW_AUTOCONTEXT", raising=False)
    else:
        monkeypatch.setenv("WAXELL_TOYFW_AUTOCONTEXT", value)
    assert autocontext_enabled("WAXELL_TOYFW_AUTOCONTEXT") is enabled


def test_a_framework_model_call_is_one_record_with_its_usage_and_error(read_run: Any) -> None:
    started = time.time()
    with WaxellContext(agent_name="outer", enforce_policy=False) as ctx:
        record_framework_llm_call(
            lambda: ({"model": "toy-1", "tokens_in": 12, "tokens_out": 3}, "x" * 600),
            framework="toyfw",
            recorded_from="toyfw_usage",
            started=started,
            what="a toy model call",
        )
        record_framework_llm_call(
            lambda: ({"model": "toy-1", "tokens_in": 5, "tokens_out": 0}, ""),
            framework="toyfw",
            recorded_from="toyfw_usage",
            started=started,
            error=TimeoutError("model timed out"),
            what="a toy model call",
        )
    first, second = read_run(ctx.run_id)["llm_calls"]
    assert (first["model"], first["tokens_in"], first["tokens_out"], first["status"]) == (
        "toy-1",
        12,
        3,
        "ok",
    )
    assert first["attributes"] == {"framework": "toyfw", "recorded_from": "toyfw_usage"}
    assert first["response_preview"] == "x" * 499 + "…"  # previewed to 500 characters
    assert (second["status"], second["error_type"], second["error_message"]) == (
        "error",
        "TimeoutError",
        "model timed out",
    )


def test_a_model_call_that_cannot_be_read_is_logged(caplog: pytest.LogCaptureFixture, read_run: Any) -> None:
    def unreadable() -> tuple[dict[str, Any], Any]:
        raise KeyError("usage")

    with WaxellContext(agent_name="outer", enforce_policy=False) as ctx:
        record_framework_llm_call(
            unreadable,
            framework="toyfw",
            recorded_from="toyfw_usage",
            started=time.time(),
            what="a toy model call",
        )
    assert read_run(ctx.run_id)["llm_calls"] == []
    assert "waxell-observe: could not record a toy model call" in caplog.text


def test_imported_factory_imports_the_module_when_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "toy_wrappers_mod.py").write_text(
        "def wrapper_factory(active):\n"
        "    return lambda wrapped, instance, args, kwargs: ('wrapped', active())\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "toy_wrappers_mod", raising=False)
    factory = imported_factory("toy_wrappers_mod", "wrapper_factory")
    assert "toy_wrappers_mod" not in sys.modules
    wrapper = factory(lambda: True)
    assert "toy_wrappers_mod" in sys.modules
    assert wrapper(None, None, (), {}) == ("wrapped", True)


def toy_spans() -> AgentSpans:
    return AgentSpans(
        "toyfw",
        workflow="toyflow",
        autocontext_variable="WAXELL_TOYFW_AUTOCONTEXT",
        output=lambda result: None if result is None else {"output": result},
        attributes=lambda result: {"toy.length": len(result)},
        what="a toy run",
    )


def test_a_frameworks_spans_open_its_runs_and_close_with_its_output(
    monkeypatch: pytest.MonkeyPatch, read_run: Any, read_runs: Any
) -> None:
    spans = toy_spans()
    monkeypatch.setenv("WAXELL_TOYFW_AUTOCONTEXT", "off")
    assert spans.autocontext() is False
    quiet = spans.open(lambda: AgentStart("solo", {}, {"task": "Hi?"}))
    assert quiet is not None and quiet.ctx is None
    monkeypatch.delenv("WAXELL_TOYFW_AUTOCONTEXT")
    assert spans.open(lambda: AgentStart("task", {}, None, kind="chain"), may_open_run=False) is not None
    assert read_runs() == []
    opened = spans.open(lambda: AgentStart("crew", {"framework": "toyfw"}, {"task": "Hi?"}, run_inputs={}))
    spans.close(opened, "Hello")
    [summary] = read_runs()
    run = read_run(summary["run_id"])
    assert (run["agent_name"], run["workflow_name"], run["inputs"], run["result"]) == (
        "crew",
        "toyflow",
        {},
        {"output": "Hello"},
    )
    [agent] = run["spans"]
    assert (agent["kind"], agent["input"], agent["output"], agent["attributes"]["toy.length"]) == (
        "agent",
        {"task": "Hi?"},
        {"output": "Hello"},
        5,
    )


class Message:
    def __init__(self, content: Any) -> None:
        self.content = content

    def __str__(self) -> str:
        return "<message>"


def test_jsonable_previews_and_unwraps_framework_values() -> None:
    def content(value: Any) -> Any:
        return getattr(value, "content", None)

    value = {"text": "y" * 4500, "items": list(range(150)), "message": Message(["a", Message("b")]), 1: 2.5}
    assert jsonable(value, content) == {
        "text": "y" * 3999 + "…",
        "items": list(range(100)),
        "message": ["a", "b"],
        "1": 2.5,
    }
    assert jsonable(Message("a")) == "<message>"
    assert jsonable(Message(None), content) == "<message>"
    assert jsonable((None, True, 3)) == [None, True, 3]

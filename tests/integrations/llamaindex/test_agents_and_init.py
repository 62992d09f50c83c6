"""Workflow agents and their tool calls; capture through ``init()``; the import path."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ToolCallBlock
from llama_index.core.llms import ChatMessage, MockLLM
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool

from waxell_observe import WaxellContext
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.plugins import plugin_manager

# LlamaIndex's workflow library inspects pydantic models with inspect.getmembers: not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The `__fields(_set)?__` attribute is deprecated:DeprecationWarning",
    "ignore:Accessing the 'model_(computed_)?fields' attribute:DeprecationWarning",
)


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def divide(a: int, b: int) -> float:
    """Divide a by b."""
    return a / b


def _agent(*tool_calls: tuple[str, dict[str, Any]]) -> FunctionAgent:
    """An agent whose (mock, function-calling) model asks for ``tool_calls`` in turn, then answers."""
    script = [
        ChatMessage(
            role="assistant",
            blocks=[ToolCallBlock(tool_call_id=f"call-{i}", tool_name=name, tool_kwargs=kwargs)],
        )
        for i, (name, kwargs) in enumerate(tool_calls)
    ]
    script.append(ChatMessage(role="assistant", content="The answer is 42."))
    replies = iter(script)
    llm = MockFunctionCallingLLM(response_generator=lambda messages, **kwargs: next(replies))
    tools = [FunctionTool.from_defaults(multiply), FunctionTool.from_defaults(divide)]
    return FunctionAgent(tools=tools, llm=llm)


async def test_agent_runs_and_tool_calls_form_a_tree(attached: None, read_run: Any) -> None:
    agent = _agent(("multiply", {"a": 6, "b": 7}))
    async with WaxellContext(agent_name="calculator", enforce_policy=False) as ctx:
        result = await agent.run("What is 6 times 7?")
    assert str(result) == "The answer is 42."
    run = read_run(ctx.run_id)

    [agent_span] = [s for s in run["spans"] if s["kind"] == "agent"]
    assert (agent_span["name"], agent_span["parent_span_id"], agent_span["status"]) == (
        "FunctionAgent",
        "",
        "ok",
    )
    assert (agent_span["input"], agent_span["output"]) == ("What is 6 times 7?", "The answer is 42.")
    [tool] = [s for s in run["spans"] if s["kind"] == "tool"]
    assert {k: tool[k] for k in ("name", "status", "input", "output", "error", "parent_span_id")} == {
        "name": "multiply",
        "status": "ok",
        "input": {"a": 6, "b": 7},
        "output": "42",
        "error": "",
        "parent_span_id": agent_span["id"],
    }
    assert tool["attributes"]["tool_type"] == "function"

    first, second = run["llm_calls"]
    assert all(c["parent_span_id"] == agent_span["id"] for c in (first, second))
    assert first["response_preview"] == "tool_calls: multiply"
    assert second["response_preview"] == "The answer is 42."
    assert run["conversation"]["user_turns"] == 1
    assert [s["output"] for s in run["spans"] if s["name"] == "agent_response"] == ["The answer is 42."]


async def test_a_failing_tool_call_is_an_error_span(attached: None, read_run: Any) -> None:
    agent = _agent(("divide", {"a": 1, "b": 0}))
    async with WaxellContext(agent_name="divider", enforce_policy=False) as ctx:
        await agent.run("1 / 0?")
    [tool] = [s for s in read_run(ctx.run_id)["spans"] if s["kind"] == "tool"]
    assert (tool["name"], tool["status"], tool["error"], tool["input"]) == (
        "divide",
        "error",
        "division by zero",
        {"a": 1, "b": 0},
    )
    assert tool["attributes"]["error"] == "division by zero"


def test_init_attaches_the_handlers(index: Any, read_run: Any) -> None:
    from waxell_observe.integrations.llamaindex import is_instrumented

    _reset_for_tests()
    try:
        init(instrument=["llamaindex"])
        assert is_instrumented()
        with WaxellContext(agent_name="auto-rag", enforce_policy=False) as ctx:
            index.as_query_engine(llm=MockLLM(max_tokens=2)).query("capital of Italy?")
        run = read_run(ctx.run_id)
        assert run["llm_call_count"] == 2
        assert sorted(s["kind"] for s in run["spans"]) == ["chain", "chain", "retrieval"]
        assert plugin_manager().hook.on_uninstrument(libraries=frozenset({"llamaindex"})) == [["llamaindex"]]
        assert not is_instrumented()
    finally:
        plugin_manager().hook.on_uninstrument(libraries=frozenset({"llamaindex"}))
        _reset_for_tests()


def test_init_before_llama_index_is_imported(read_run: Any) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        import waxell_observe
        from waxell_observe.initialization import init
        init(instrument=["llamaindex"])
        assert "llama_index.core" not in sys.modules
        from llama_index.core.llms import MockLLM
        with waxell_observe.WaxellContext(agent_name="late-import", enforce_policy=False) as ctx:
            MockLLM(max_tokens=3).complete("hi")
        waxell_observe.flush_sync(timeout=30)
        print(json.dumps({"run_id": ctx.run_id}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )
    assert done.returncode == 0, done.stderr
    run = read_run(json.loads(done.stdout.strip().splitlines()[-1])["run_id"])
    [call] = run["llm_calls"]
    assert (call["model"], call["response_preview"]) == ("MockLLM", "text text text")


def test_the_import_path_gives_an_install_hint_when_the_package_is_missing(monkeypatch: Any) -> None:
    shim = importlib.import_module("waxell_observe.integrations.llamaindex")
    monkeypatch.delattr(shim, "instrument", raising=False)
    monkeypatch.setitem(sys.modules, "waxell_observe_llamaindex", None)
    with pytest.raises(ImportError, match="pip install waxell-observe-llamaindex"):
        shim.instrument  # noqa: B018

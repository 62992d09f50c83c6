"""The Claude Agent SDK (the real package) driving a fake Claude Code CLI (``fake_claude.py``, set as
``ClaudeAgentOptions.cli_path``): each ``query()`` and ``ClaudeSDKClient`` turn is an agent span, each
API call of the CLI an LLM call with the model, tokens and cost the CLI reported, each tool use a tool
span; tools pass ``tool.before`` through the ``PreToolUse`` hook the integration adds, and a refusal
reaches the agent as the CLI's own tool denial."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    ProcessError,
    ResultMessage,
    UserMessage,
    query,
)
from claude_agent_sdk._errors import ResultError

from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.gating import forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.plugins import plugin_manager
from waxell_observe.pricing import estimate_cost
from waxell_observe.store import get_store

FAKE_CLI = Path(__file__).with_name("fake_claude.py")
LIBRARIES = frozenset({"claude_agent_sdk"})
SONNET = "claude-sonnet-4-5"
HAIKU = "claude-haiku-4-5"


def usage(
    input_tokens: int, output_tokens: int, cache_read: int = 0, cache_creation: int = 0
) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_creation,
    }


def text(message_id: str, words: str, tokens: dict[str, int], **extra: Any) -> dict[str, Any]:
    """A scenario step: the model answers ``words``."""
    return {
        "assistant": {
            "id": message_id,
            "content": [{"type": "text", "text": words}],
            "usage": tokens,
            **extra,
        }
    }


class FakeCLI:
    """Writes a scenario for the fake CLI and the options that point the SDK at it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.launcher = folder / "claude"
        # the fake runs with this interpreter, whatever python3 is on PATH
        self.launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_CLI}" "$@"\n', encoding="utf-8")
        self.launcher.chmod(0o755)
        self.log_path = folder / "fake.log"

    def options(self, *turns: dict[str, Any], **kwargs: Any) -> ClaudeAgentOptions:
        scenario = folder_file = self.folder / "scenario.json"
        folder_file.write_text(
            json.dumps({"session_id": "sess-42", "model": SONNET, "turns": list(turns)}), encoding="utf-8"
        )
        env = {"FAKE_CLAUDE_SCENARIO": str(scenario), "FAKE_CLAUDE_LOG": str(self.log_path)}
        return ClaudeAgentOptions(cli_path=str(self.launcher), env=env, model=SONNET, **kwargs)

    def log(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text(encoding="utf-8").splitlines()]

    def ran(self) -> list[tuple[str, Any]]:
        return [(entry["ran"], entry["input"]) for entry in self.log() if "ran" in entry]


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeCLI]:
    forget()
    _reset_for_tests()
    init(instrument=sorted(LIBRARIES))
    yield FakeCLI(tmp_path)
    plugin_manager().hook.on_uninstrument(libraries=LIBRARIES)
    _reset_for_tests()
    forget()


def by_kind(run: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [span for span in run["spans"] if span["kind"] == kind]


def shares(total: float, weights: list[float]) -> list[float]:
    """``total`` split in proportion to ``weights``, the last share taking the rounding remainder."""
    first = [round(total * weight / sum(weights), 10) for weight in weights[:-1]]
    return [*first, round(total - sum(first), 10)]


READ_TURN = {
    "steps": [
        {
            "assistant": {
                "id": "msg_1",
                "content": [
                    {"type": "text", "text": "I'll read it."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "Read",
                        "input": {"file_path": "notes.txt"},
                        "result": "buy milk",
                    },
                ],
                "usage": usage(100, 20, cache_read=1000, cache_creation=50),
                "stop_reason": "tool_use",
            }
        },
        text("msg_2", "It says: buy milk.", usage(30, 12, cache_read=1100)),
    ],
    "result": {
        "result": "It says: buy milk.",
        "num_turns": 2,
        "total_cost_usd": 0.0123,
        "usage": usage(130, 32, cache_read=2100, cache_creation=50),
    },
}


async def test_a_query_is_an_agent_span_with_its_calls_and_tools(fake: FakeCLI, read_run: Any) -> None:
    async with WaxellContext(agent_name="claude-query") as ctx:
        messages = [m async for m in query(prompt="What is in notes.txt?", options=fake.options(READ_TURN))]
    assert [type(m).__name__ for m in messages] == [
        "SystemMessage",
        "AssistantMessage",
        "AssistantMessage",
        "UserMessage",
        "AssistantMessage",
        "ResultMessage",
    ]
    assert fake.ran() == [("Read", {"file_path": "notes.txt"})]
    run = read_run(ctx.run_id)
    [agent] = by_kind(run, "agent")
    assert (agent["name"], agent["status"], agent["parent_span_id"]) == ("claude-agent", "ok", "")
    assert agent["input"] == {"prompt": "What is in notes.txt?"}
    assert agent["output"] == {"result": "It says: buy milk."}
    attributes = agent["attributes"]
    assert (
        attributes["claude.session_id"],
        attributes["claude.cli_version"],
        attributes["claude.model"],
    ) == (
        "sess-42",
        "2.1.337",
        SONNET,
    )
    assert (attributes["claude.num_turns"], attributes["claude.total_cost_usd"]) == (2, 0.0123)
    assert attributes["claude.usage"] == usage(130, 32, cache_read=2100, cache_creation=50)

    calls = run["llm_calls"]
    assert [(c["model"], c["provider"], c["tokens_in"], c["tokens_out"]) for c in calls] == [
        (SONNET, "anthropic", 100 + 1000 + 50, 20),
        (SONNET, "anthropic", 30 + 1100, 12),
    ]
    assert [c["attributes"]["cached_tokens_in"] for c in calls] == [1000, 1100]
    assert [c["attributes"]["response_id"] for c in calls] == ["msg_1", "msg_2"]
    assert {c["attributes"]["recorded_from"] for c in calls} == {"claude_cli"}
    assert calls[0]["attributes"]["cache_creation_input_tokens"] == 50
    assert {c["parent_span_id"] for c in calls} == {agent["id"]}
    # the CLI's cost, split by each call's price-table estimate
    weights = [
        estimate_cost(SONNET, 1150, 20, cached_tokens_in=1000),
        estimate_cost(SONNET, 1130, 12, cached_tokens_in=1100),
    ]
    assert [c["cost"] for c in calls] == shares(0.0123, weights)
    assert run["total_cost"] == 0.0123
    assert (run["tokens_in"], run["tokens_out"]) == (1150 + 1130, 32)

    [tool] = by_kind(run, "tool")
    assert (tool["name"], tool["status"], tool["parent_span_id"]) == ("Read", "ok", agent["id"])
    assert (tool["input"], tool["output"]) == ({"file_path": "notes.txt"}, {"output": "buy milk"})
    assert tool["attributes"]["claude.tool_use_id"] == "toolu_1"
    assert run["status"] == "success"


STREAMED_TURN = {
    "steps": [
        text("msg_s", "Hello there.", usage(40, 1, cache_read=500), final_usage=usage(40, 37, cache_read=500))
    ],
    "result": {"result": "Hello there.", "total_cost_usd": 0.0021, "usage": usage(40, 37, cache_read=500)},
}


async def test_partial_messages_give_the_final_usage_and_time_to_first_token(
    fake: FakeCLI, read_run: Any
) -> None:
    options = fake.options(STREAMED_TURN, include_partial_messages=True)
    async with WaxellContext(agent_name="claude-stream") as ctx:
        messages = [m async for m in query(prompt="Say hello", options=options)]
    assert sum(type(m).__name__ == "StreamEvent" for m in messages) == 6
    run = read_run(ctx.run_id)
    [call] = run["llm_calls"]
    # the assistant message says 1 output token (its snapshot); message_delta says 37
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["cost"]) == (SONNET, 540, 37, 0.0021)
    assert call["attributes"]["stream"] is True
    assert isinstance(call["attributes"]["ttft_ms"], float)
    assert "usage_from_result" not in call["attributes"]


async def test_a_call_whose_message_understates_its_usage_is_completed_from_the_result(
    fake: FakeCLI, read_run: Any
) -> None:
    async with WaxellContext(agent_name="claude-understated") as ctx:
        _ = [m async for m in query(prompt="Say hello", options=fake.options(STREAMED_TURN))]
    run = read_run(ctx.run_id)
    [call] = run["llm_calls"]
    assert (call["tokens_in"], call["tokens_out"], call["cost"]) == (540, 37, 0.0021)
    assert call["attributes"]["usage_from_result"] == {"output_tokens": 36}
    assert "ttft_ms" not in call["attributes"]
    assert (run["tokens_in"], run["tokens_out"]) == (540, 37)


REFUSAL = "Tool 'bash' is blocked"
"""The reason the tool-allowlist policy gives (the agent is told it)."""

BASH_TURN = {
    "steps": [
        {
            "assistant": {
                "id": "msg_b1",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_b",
                        "name": "Bash",
                        "input": {"command": "rm -rf build"},
                        "result": "removed",
                    }
                ],
                "usage": usage(80, 15),
            }
        },
        text("msg_b2", "I was not allowed to run that.", usage(120, 9)),
    ],
    "result": {"result": "I was not allowed to run that.", "total_cost_usd": 0.0006, "usage": usage(200, 24)},
}


async def test_a_tool_refused_by_policy_is_denied_to_the_agent_and_recorded(
    fake: FakeCLI, read_run: Any
) -> None:
    add_policies(
        get_store(get_config().db_url),
        load_policies(
            "policies:\n  - {name: no-bash, category: tool-allowlist, rules: {blocked_tools: [Bash]}}\n"
        ),
    )
    forget()
    async with WaxellContext(agent_name="claude-gated") as ctx:
        messages = [m async for m in query(prompt="Clean the build", options=fake.options(BASH_TURN))]
    assert fake.ran() == []  # the CLI never ran the tool
    [denied] = [b for m in messages if isinstance(m, UserMessage) for b in m.content]  # type: ignore[union-attr]
    assert denied.is_error is True
    assert denied.content == REFUSAL
    [result] = [m for m in messages if isinstance(m, ResultMessage)]
    assert [d["tool_name"] for d in result.permission_denials or []] == ["Bash"]
    assert [e["answer"]["hookSpecificOutput"]["permissionDecision"] for e in fake.log() if "hook" in e] == [
        "deny"
    ]

    run = read_run(ctx.run_id)
    [agent] = by_kind(run, "agent")
    [tool] = by_kind(run, "tool")
    assert (tool["name"], tool["status"], tool["parent_span_id"]) == ("Bash", "error", agent["id"])
    assert tool["error"] == REFUSAL
    assert tool["attributes"]["governance.refused"] is True
    assert tool["output"] == {"output": REFUSAL}
    assert [
        (s["name"], s["attributes"]["metadata"]["surface"], s["attributes"]["action"])
        for s in by_kind(run, "policy")
    ] == [("no-bash", "tool.before", "block")]
    assert agent["attributes"]["claude.permission_denials"] == ["Bash"]
    assert [(c["tokens_in"], c["tokens_out"]) for c in run["llm_calls"]] == [(80, 15), (120, 9)]
    assert run["status"] == "blocked"


async def test_an_allowed_tool_passes_the_gate_and_the_programs_own_hooks_still_run(
    fake: FakeCLI, read_run: Any
) -> None:
    """With a policy on another tool, Bash runs; the program's PreToolUse hook is asked too."""
    from claude_agent_sdk import HookMatcher

    add_policies(
        get_store(get_config().db_url),
        load_policies(
            "policies:\n  - {name: no-web, category: tool-allowlist, rules: {blocked_tools: [WebFetch]}}\n"
        ),
    )
    forget()
    asked: list[str] = []

    async def mine(input_data: Any, tool_use_id: str | None, context: Any) -> dict[str, Any]:
        asked.append(input_data["tool_name"])
        return {}

    options = fake.options(BASH_TURN, hooks={"PreToolUse": [HookMatcher(matcher="Bash", hooks=[mine])]})
    async with WaxellContext(agent_name="claude-allowed") as ctx:
        _ = [m async for m in query(prompt="Clean the build", options=options)]
    assert asked == ["Bash"]
    assert (
        options.hooks is not None and len(options.hooks["PreToolUse"]) == 1
    )  # the program's options untouched
    assert fake.ran() == [("Bash", {"command": "rm -rf build"})]
    run = read_run(ctx.run_id)
    [tool] = by_kind(run, "tool")
    assert (tool["status"], tool["output"]) == ("ok", {"output": "removed"})
    assert by_kind(run, "policy") == []
    assert run["status"] == "success"


ERROR_TURN = {
    "steps": [text("msg_e", "API Error: 529 overloaded", usage(0, 0), error="server_error")],
    "result": {
        "subtype": "error_during_execution",
        "is_error": True,
        "result": "",
        "errors": ["API Error: 529 overloaded"],
        "total_cost_usd": 0,
        "usage": usage(0, 0),
    },
}


async def test_an_error_result_fails_the_agent_span_and_the_call(fake: FakeCLI, read_run: Any) -> None:
    received: list[Any] = []
    with pytest.raises(ResultError, match="API Error: 529 overloaded"):
        async with WaxellContext(agent_name="claude-error") as ctx:
            async for message in query(prompt="Hi", options=fake.options(ERROR_TURN)):
                received.append(message)
    assert isinstance(received[-1], ResultMessage) and received[-1].is_error
    run = read_run(ctx.run_id)
    [agent] = by_kind(run, "agent")
    assert (agent["status"], agent["error"]) == ("error", "API Error: 529 overloaded")
    assert agent["attributes"]["claude.subtype"] == "error_during_execution"
    [call] = run["llm_calls"]
    assert (call["status"], call["error_type"], call["error_message"]) == (
        "error",
        "server_error",
        "API Error: 529 overloaded",
    )
    assert run["status"] == "error"


async def test_a_cli_that_exits_without_a_result_fails_the_turn_with_its_exit_code(
    fake: FakeCLI, read_run: Any
) -> None:
    crash = {"steps": [text("msg_c", "Working on it", usage(50, 5))], "exit": 7}
    async with WaxellContext(agent_name="claude-crash") as ctx:
        with pytest.raises(ProcessError) as raised:
            _ = [m async for m in query(prompt="Hi", options=fake.options(crash))]
    assert raised.value.exit_code == 7
    run = read_run(ctx.run_id)
    [agent] = by_kind(run, "agent")
    assert agent["status"] == "error"
    assert (agent["attributes"]["error.type"], agent["attributes"]["claude.exit_code"]) == ("ProcessError", 7)
    assert agent["error"].startswith("ProcessError: Command failed with exit code 7")
    [call] = run["llm_calls"]
    assert (call["tokens_in"], call["tokens_out"]) == (50, 5)  # what the CLI said before it died


async def test_a_client_session_is_one_agent_span_per_turn_with_each_turns_cost(
    fake: FakeCLI, read_run: Any
) -> None:
    first = {
        "steps": [text("msg_t1", "Hello!", usage(25, 4))],
        "result": {"result": "Hello!", "total_cost_usd": 0.01, "usage": usage(25, 4)},
    }
    second = {
        "steps": [text("msg_t2", "Paris.", usage(60, 3), model=HAIKU)],
        # the CLI's total_cost_usd counts from the start of its process: this turn cost 0.015
        "result": {"result": "Paris.", "total_cost_usd": 0.025, "usage": usage(60, 3)},
    }
    answers: list[str] = []
    async with (
        WaxellContext(agent_name="claude-client") as ctx,
        ClaudeSDKClient(options=fake.options(first, second)) as client,
    ):
        for prompt in ("Hi", "Capital of France?"):
            await client.query(prompt)
            async for message in client.receive_response():
                if isinstance(message, AssistantMessage):
                    answers.append(message.content[0].text)  # type: ignore[union-attr]
    assert answers == ["Hello!", "Paris."]
    assert [e["prompt"] for e in fake.log() if "prompt" in e] == ["Hi", "Capital of France?"]
    run = read_run(ctx.run_id)
    agents = by_kind(run, "agent")
    assert [(a["input"], a["output"], a["attributes"]["claude.entry"]) for a in agents] == [
        ({"prompt": "Hi"}, {"result": "Hello!"}, "client"),
        ({"prompt": "Capital of France?"}, {"result": "Paris."}, "client"),
    ]
    assert [a["attributes"]["claude.turn_cost_usd"] for a in agents] == [0.01, 0.015]
    calls = run["llm_calls"]
    assert [(c["model"], c["tokens_in"], c["tokens_out"], c["cost"]) for c in calls] == [
        (SONNET, 25, 4, 0.01),
        (HAIKU, 60, 3, 0.015),
    ]
    assert [c["parent_span_id"] for c in calls] == [agents[0]["id"], agents[1]["id"]]
    assert run["total_cost"] == 0.025


async def test_a_query_outside_any_run_opens_a_run_of_its_own(
    fake: FakeCLI, read_runs: Any, read_run: Any
) -> None:
    turn = {
        "steps": [text("msg_o", "Done.", usage(10, 2))],
        "result": {"result": "Done.", "total_cost_usd": 0.0001, "usage": usage(10, 2)},
    }
    _ = [m async for m in query(prompt="Do it", options=fake.options(turn))]
    [summary] = read_runs(agent_name="claude-agent")
    run = read_run(summary["run_id"])
    assert (run["workflow_name"], run["status"], run["total_cost"]) == ("claude-agent-sdk", "success", 0.0001)
    [agent] = by_kind(run, "agent")
    assert agent["output"] == {"result": "Done."}
    assert [(c["model"], c["tokens_in"], c["tokens_out"]) for c in run["llm_calls"]] == [(SONNET, 10, 2)]


def tool_use(
    message_id: str, tool_id: str, name: str, tool_input: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """A scenario step: the model asks for one tool (``extra``: its result, a subagent's steps)."""
    block = {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input, **extra}
    return {
        "assistant": {"id": message_id, "content": [block], "usage": usage(90, 10), "stop_reason": "tool_use"}
    }


async def test_a_subagents_calls_and_tools_nest_under_its_task_tool(fake: FakeCLI, read_run: Any) -> None:
    subagent = [
        {
            "assistant": {
                **tool_use("msg_s1", "toolu_r", "Read", {"file_path": "atlas.txt"})["assistant"],
                "model": HAIKU,
            }
        },
        text("msg_s2", "Paris", usage(150, 2), model=HAIKU),
    ]
    turn = {
        "steps": [
            tool_use(
                "msg_m1", "toolu_t", "Task", {"prompt": "find the capital"}, result="Paris", steps=subagent
            ),
            text("msg_m2", "The capital is Paris.", usage(200, 8)),
        ],
        "result": {"result": "The capital is Paris.", "total_cost_usd": 0.002, "usage": usage(530, 30)},
    }
    async with WaxellContext(agent_name="claude-subagent") as ctx:
        _ = [m async for m in query(prompt="Capital of France?", options=fake.options(turn))]
    assert [name for name, _ in fake.ran()] == ["Task", "Read"]
    run = read_run(ctx.run_id)
    [agent] = by_kind(run, "agent")
    tools = {t["name"]: t for t in by_kind(run, "tool")}
    assert (tools["Task"]["parent_span_id"], tools["Read"]["parent_span_id"]) == (
        agent["id"],
        tools["Task"]["id"],
    )
    assert tools["Task"]["output"] == {"output": "Paris"}
    calls = run["llm_calls"]
    assert [(c["attributes"]["response_id"], c["model"], c["parent_span_id"]) for c in calls] == [
        ("msg_m1", SONNET, agent["id"]),
        ("msg_s1", HAIKU, tools["Task"]["id"]),
        ("msg_s2", HAIKU, tools["Task"]["id"]),
        ("msg_m2", SONNET, agent["id"]),
    ]
    assert [(c["tokens_in"], c["tokens_out"]) for c in calls] == [(90, 10), (90, 10), (150, 2), (200, 8)]
    assert round(sum(c["cost"] for c in calls), 10) == run["total_cost"] == 0.002


IMPORTED_AFTER_INIT = """
import asyncio, json, os
import waxell_observe
waxell_observe.init(instrument=["claude_agent_sdk"])
before = waxell_observe.diagnose()["integrations"]["claude_agent_sdk"]["state"]
from claude_agent_sdk import ClaudeAgentOptions, query
after = waxell_observe.diagnose()["integrations"]["claude_agent_sdk"]["state"]

async def main():
    options = ClaudeAgentOptions(cli_path=os.environ["FAKE_CLAUDE"], model="claude-sonnet-4-5")
    async with waxell_observe.WaxellContext(agent_name="claude-after-init") as ctx:
        [m async for m in query(prompt="Hi", options=options)]
    return ctx.run_id

run_id = asyncio.run(main())
waxell_observe.flush_sync(timeout=30)
print(json.dumps({"before": before, "after": after, "run_id": run_id}))
"""


def test_the_sdk_imported_after_init_is_captured_the_same(fake: FakeCLI, read_run: Any) -> None:
    """In a fresh interpreter: ``init()`` first, the SDK imported afterwards."""
    turn = {
        "steps": [text("msg_late", "Hello.", usage(12, 3))],
        "result": {"result": "Hello.", "total_cost_usd": 0.0003, "usage": usage(12, 3)},
    }
    options = fake.options(turn)
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED_AFTER_INIT],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **options.env, "FAKE_CLAUDE": str(fake.launcher)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["before"], result["after"]) == ("waiting", "active")
    run = read_run(result["run_id"])
    [agent] = by_kind(run, "agent")
    assert [(c["model"], c["tokens_in"], c["tokens_out"], c["cost"]) for c in run["llm_calls"]] == [
        (SONNET, 12, 3, 0.0003)
    ]
    assert run["llm_calls"][0]["parent_span_id"] == agent["id"]


async def test_the_programs_can_use_tool_callback_still_decides_after_the_gate(
    fake: FakeCLI, read_run: Any
) -> None:
    """The gate is a hook, not the permission callback: a callback of the program's is still asked
    (by the CLI, after the hooks) about a tool the gate let through, and its denial is the program's."""
    from claude_agent_sdk import PermissionResultDeny

    asked: list[str] = []

    async def can_use_tool(name: str, tool_input: dict[str, Any], context: Any) -> PermissionResultDeny:
        asked.append(name)
        return PermissionResultDeny(message="not today")

    async with WaxellContext(agent_name="claude-permission") as ctx:
        _ = [
            m
            async for m in query(
                prompt="Clean the build", options=fake.options(BASH_TURN, can_use_tool=can_use_tool)
            )
        ]
    assert asked == ["Bash"]
    assert fake.ran() == []
    assert [e["answer"] for e in fake.log() if "hook" in e] == [{}]  # the gate had no objection
    run = read_run(ctx.run_id)
    [tool] = by_kind(run, "tool")
    assert (tool["status"], tool["error"]) == ("error", "not today")
    assert "governance.refused" not in tool["attributes"]
    assert run["status"] == "success"

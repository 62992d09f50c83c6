"""Issue 12: actions with consequences outside the agent — record_code_execution,
record_network_request, record_pending_action, record_delegation (and the delegations nested
contexts make) — read back from the embedded store with exact values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from waxell_observe import WaxellContext
from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance.results import PolicyCheckResult

ReadRun = Callable[[str], dict[str, Any]]


def _context(agent: str, **kwargs: Any) -> WaxellContext:
    return WaxellContext(agent_name=agent, enforce_policy=False, **kwargs)


def test_a_code_execution_is_a_step_a_tool_span_and_in_the_state(read_run: ReadRun) -> None:
    code = "import os\nprint(os.getcwd())"
    with _context("i12-code") as ctx:
        ctx.record_code_execution(
            language="python",
            code=code,
            execution_time=0.25,
            output_size_kb=1,
            output="/tmp",
            paths=["/tmp"],
            packages=["os"],
        )
        ctx.record_code_execution(
            language="bash", code="rm -rf /nope", error="permission denied", _skip_otel=True
        )
    run = read_run(ctx.run_id)
    assert [(s["name"], s["output"]) for s in run["steps"]] == [
        (
            "code_exec:python",
            {
                "_kind": "code_execution",
                "language": "python",
                "code_preview": code,
                "output_preview": "/tmp",
                "error": "",
                "packages": ["os"],
            },
        ),
        (
            "code_exec:bash",
            {
                "_kind": "code_execution",
                "language": "bash",
                "code_preview": "rm -rf /nope",
                "output_preview": "",
                "error": "permission denied",
                "packages": [],
            },
        ),
    ]
    python, bash = run["spans"]
    assert (python["kind"], python["name"], python["status"], python["duration_ms"]) == (
        "tool",
        "code_exec:python",
        "ok",
        250.0,
    )
    assert python["attributes"] == {
        "tool_type": "code_execution",
        "language": "python",
        "code_length": len(code),
    }
    assert python["input"] == {"language": "python", "code": code, "packages": ["os"], "paths": ["/tmp"]}
    assert python["output"] == {"output": "/tmp", "error": "", "execution_time": 0.25, "output_size_kb": 1}
    assert (bash["status"], bash["error"], bash["duration_ms"]) == ("error", "permission denied", None)
    assert bash["output"] == {
        "output": "",
        "error": "permission denied",
        "execution_time": 0.0,
        "output_size_kb": 0,
    }
    assert run["conversation"]["code_executions"] == [
        {
            "language": "python",
            "code": code,
            "execution_time": 0.25,
            "output_size_kb": 1,
            "paths": ["/tmp"],
            "packages": ["os"],
        },
        {
            "language": "bash",
            "code": "rm -rf /nope",
            "execution_time": 0.0,
            "output_size_kb": 0,
            "paths": [],
            "packages": [],
        },
    ]


def test_code_without_output_has_no_span_output_and_secrets_are_scrubbed(read_run: ReadRun) -> None:
    with _context("i12-code-quiet") as ctx:
        ctx.record_code_execution(language="python", code="key = 'api_key=sk-abcdefghijklmnopqrstuvwx'")
    run = read_run(ctx.run_id)
    (span,) = run["spans"]
    assert span["output"] is None
    kept = run["conversation"]["code_executions"][0]["code"]
    assert "sk-abcdefghijklmnopqrstuvwx" not in kept and "##" in kept
    assert span["input"]["code"] == kept


def test_network_requests_and_pending_actions(read_run: ReadRun) -> None:
    with _context("i12-pending-alone") as alone:
        alone.record_pending_action(kind="tool_call", tool="search", args={"q": "x"})
    assert read_run(alone.run_id)["conversation"] == {}  # pending actions alone make no state
    with _context("i12-network") as ctx:
        ctx.record_network_request(url="https://api.example.com/v1/items")
        ctx.record_network_request(url="https://example.com/?email=ann@example.com")
        ctx.record_pending_action(kind="tool_call", tool="send_email", args={"to": "ann@example.com"})
        ctx.record_pending_action(kind="handoff", tool="")
    conversation = read_run(ctx.run_id)["conversation"]
    assert conversation["network_requests"] == [
        "https://api.example.com/v1/items",
        "https://example.com/?email=##EMAIL##",
    ]
    assert conversation["pending_actions"] == [
        {"kind": "tool_call", "tool": "send_email", "args": {"to": "##EMAIL##"}},
        {"kind": "handoff", "tool": "", "args": {}},
    ]


def test_delegations_recorded_and_made_by_nested_contexts(read_run: ReadRun) -> None:
    with _context("i12-parent") as parent:
        parent.record_delegation(delegate="researcher", depth=2, approved=False)
        with _context("i12-child") as child:
            with _context("i12-grandchild") as grandchild:
                pass
            in_flight = parent.run.conversation.signal("delegation_data")["concurrent_delegates"]  # type: ignore[union-attr]
    assert in_flight == 2  # the manual delegation and the child still running
    run = read_run(parent.run_id)
    assert run["conversation"]["delegation_data"] == {
        "delegations": [
            {"delegate": "researcher", "depth": 2, "approved": False, "policies_inherited": True},
            {"delegate": "i12-child", "depth": 1, "approved": True, "policies_inherited": False},
        ],
        "delegation_depth": 2,
        "concurrent_delegates": 1,
        "is_delegate": False,
        "parent_agent": "",
    }
    assert [(s["name"], s["output"]) for s in run["steps"]] == [
        ("delegate:researcher", {"_kind": "delegation", "delegate": "researcher", "depth": 2}),
        (
            "delegate:i12-child",
            {"_kind": "delegation", "child_run_id": child.run_id, "child_agent": "i12-child"},
        ),
    ]
    assert read_run(child.run_id)["conversation"]["delegation_data"] == {
        "delegations": [
            {"delegate": "i12-grandchild", "depth": 2, "approved": True, "policies_inherited": False}
        ],
        "delegation_depth": 2,
        "concurrent_delegates": 0,
        "is_delegate": True,
        "parent_agent": "i12-parent",
    }
    assert read_run(grandchild.run_id)["conversation"]["delegation_data"] == {
        "delegations": [],
        "delegation_depth": 2,
        "concurrent_delegates": 0,
        "is_delegate": True,
        "parent_agent": "i12-child",
    }


def test_actions_flush_with_mid_execution_governance(
    read_run: ReadRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    from waxell_observe import policy_gate

    asked: list[str] = []

    def flush_run(run: Any) -> PolicyCheckResult:
        asked.append("flush")
        return PolicyCheckResult("block", reason="no side effects")

    monkeypatch.setattr(policy_gate, "flush_run", flush_run)
    calls: list[Callable[[WaxellContext], Any]] = [
        lambda c: c.record_code_execution(language="python", code="1"),
        lambda c: c.record_network_request(url="https://example.com"),
        lambda c: c.record_pending_action(kind="tool_call", tool="t"),
        lambda c: c.record_delegation(delegate="d"),
    ]
    with _context("i12-actions-flush", mid_execution_governance=True) as ctx:
        for call in calls:
            with pytest.raises(PolicyViolationError, match="no side effects"):
                call(ctx)
    assert asked == ["flush"] * 4
    conversation = read_run(ctx.run_id)["conversation"]
    assert conversation["network_requests"] == ["https://example.com"]  # recorded before the flush


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.record_code_execution(language="", code="x"), "language must be a non-empty string"),
        (lambda c: c.record_code_execution(language="py", code=1), "code must be a string"),
        (
            lambda c: c.record_code_execution(language="py", code="x", execution_time=-1),
            "execution_time must be a non-negative number of seconds",
        ),
        (lambda c: c.record_code_execution(language="py", code="x", paths="/tmp"), "paths must be a list"),
        (lambda c: c.record_network_request(url=""), "url must be a non-empty string"),
        (lambda c: c.record_pending_action(kind="tool_call", tool="t", args=[1]), "args must be a dict"),
        (lambda c: c.record_delegation(delegate="d", depth=-1), "depth must be a non-negative integer"),
    ],
)
def test_bad_arguments_are_named(call: Callable[[WaxellContext], Any], message: str) -> None:
    with _context("i12-actions-bad") as ctx, pytest.raises(ValueError, match=message):
        call(ctx)


def test_outside_a_run_the_methods_do_nothing() -> None:
    ctx = _context("i12-not-entered")
    assert ctx.record_code_execution(language="python", code="1") is None
    ctx.record_network_request(url="https://example.com")
    ctx.record_pending_action(kind="tool_call", tool="t")
    ctx.record_delegation(delegate="d")
    ctx.record_memory_write(memory_type="episodic")
    assert ctx.record_memory_recall(query="q") is None
    ctx.remember_episodic(slot_name="s", data=1)
    ctx.set_memory_state(memory_item_count=1)

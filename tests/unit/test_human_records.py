"""Issue 12: what a person did in a run — human turns (``human_turn``, ``input``,
``record_human_interaction``), pauses, resumes and approval records — read back from the store, the
run's active time without its pauses, the top-level one-liners, and ``waxell-observe show``."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import waxell_observe
from waxell_observe import WaxellContext
from waxell_observe.store.active_time import active_and_paused, paused_ms

ReadRun = Callable[[str], dict[str, Any]]


def _spans(run: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], Any, Any]]:
    return [(s["kind"], s["name"], s["attributes"], s["input"], s["output"]) for s in run["spans"]]


def test_human_turn_input_and_interaction(read_run: ReadRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("blue\nyes\n"))
    with WaxellContext(agent_name="i12-human", enforce_policy=False) as ctx:
        with ctx.human_turn(
            prompt="Which plan?", channel="slack", action="choose", metadata={"ticket": 7}
        ) as turn:
            turn.set_response("pro")
        assert ctx.input("\x1b[1mFavourite colour?\x1b[0m  ") == "blue"
        assert waxell_observe.input("Sure? ", action="confirm") == "yes"
        ctx.record_human_interaction(prompt="Rate us", response="", elapsed_ms=1500.6)
        waxell_observe.human_interaction(
            prompt="Refund?", response="no", action="review", elapsed_seconds=2.5
        )
    run = read_run(ctx.run_id)
    spans = _spans(run)
    assert spans == [
        (
            "io",
            "human_turn:choose",
            {"io.direction": "interactive", "io.channel": "slack", "io.action": "choose", "ticket": 7},
            {"prompt": "Which plan?"},
            {"response": "pro"},
        ),
        (
            "io",
            "human_turn:input",
            {"io.direction": "interactive", "io.channel": "terminal", "io.action": "input"},
            {"prompt": "Favourite colour?"},
            {"response": "blue"},
        ),
        (
            "io",
            "human_turn:confirm",
            {"io.direction": "interactive", "io.channel": "terminal", "io.action": "confirm"},
            {"prompt": "Sure?"},
            {"response": "yes"},
        ),
        (
            "io",
            "human_turn",
            {"io.direction": "interactive", "io.channel": "terminal"},
            {"prompt": "Rate us"},
            None,
        ),
        (
            "io",
            "human_turn:review",
            {"io.direction": "interactive", "io.channel": "terminal", "io.action": "review"},
            {"prompt": "Refund?"},
            {"response": "no"},
        ),
    ]
    assert [s["duration_ms"] for s in run["spans"]][3:] == [1501.0, 2500.0]  # rounded milliseconds
    assert all(s["duration_ms"] >= 0.0 for s in run["spans"][:3])
    assert [(s["name"], s["output"]) for s in run["steps"]] == [
        ("io:human_turn:choose", {"_kind": "human_interaction", "preview": "pro"}),
        ("io:human_turn:input", {"_kind": "human_interaction", "preview": "blue"}),
        ("io:human_turn:confirm", {"_kind": "human_interaction", "preview": "yes"}),
        ("io:human_turn", {"_kind": "human_interaction", "preview": "Rate us"}),
        ("io:human_turn:review", {"_kind": "human_interaction", "preview": "no"}),
    ]


def test_a_turn_is_recorded_when_its_block_raises(read_run: ReadRun) -> None:
    ctx = WaxellContext(agent_name="i12-turn-raises", enforce_policy=False)
    with ctx, pytest.raises(KeyError), ctx.human_turn(prompt="id?") as turn:
        turn.set_response("42")
        raise KeyError("42")
    assert _spans(read_run(ctx.run_id))[0][4] == {"response": "42"}


def test_pause_and_resume_spans_and_active_time(read_run: ReadRun) -> None:
    with WaxellContext(agent_name="i12-pause", enforce_policy=False) as ctx:
        ctx.mark_resumed(from_run_id="earlier-run", payload={"answer": "approved"})
        with ctx.pause("awaiting_user", channel="email", ticket=9):
            time.sleep(0.05)
            ctx.record_step("inside")
        with pytest.raises(RuntimeError), waxell_observe.pause("awaiting_webhook"):
            time.sleep(0.02)
            raise RuntimeError("webhook failed")
        waxell_observe.mark_resumed()
    run = read_run(ctx.run_id)
    spans = _spans(run)
    assert spans == [
        (
            "io",
            "resumed",
            {"_phase": "post_resume", "resumed_from_run_id": "earlier-run"},
            {"from_run_id": "earlier-run"},
            {"payload": "{'answer': 'approved'}"},
        ),
        (
            "io",
            "paused",
            {
                "_phase": "pause_marker",
                "pause_reason": "awaiting_user",
                "pause.channel": "email",
                "pause.ticket": 9,
            },
            {"reason": "awaiting_user"},
            {"reason": "awaiting_user"},
        ),
        (
            "io",
            "paused",
            {"_phase": "pause_marker", "pause_reason": "awaiting_webhook"},
            {"reason": "awaiting_webhook"},
            {"reason": "awaiting_webhook"},
        ),
        ("io", "resumed", {"_phase": "post_resume"}, None, None),
    ]
    assert run["spans"][1]["status"] == "ok"  # a pause is not an error even when the wait raised
    first_pause, second_pause = run["spans"][1]["duration_ms"], run["spans"][2]["duration_ms"]
    assert first_pause >= 50.0 and second_pause >= 20.0
    assert run["paused_ms"] == pytest.approx(first_pause + second_pause, abs=0.002)
    assert run["active_ms"] == pytest.approx(run["duration_ms"] - run["paused_ms"], abs=0.002)
    assert run["steps"][0]["name"] == "inside"


def test_paused_time_counts_overlaps_once_and_stays_in_the_run() -> None:
    # two overlapping pauses (concurrent tasks) and one running past the end of the run
    assert paused_ms([(10.0, 12.0), (11.0, 13.0), (19.0, 25.0)], 10.0, 20.0) == 4000.0
    assert paused_ms([(5.0, 11.0), (15.0, 15.0)], 10.0, None) == 1000.0
    assert active_and_paused(10.0, 20.0, [(12.0, 14.5)]) == (7500.0, 2500.0)
    assert active_and_paused(10.0, None, [(12.0, 14.5)]) == (None, 2500.0)
    assert active_and_paused(None, None, []) == (None, 0.0)


def test_outside_a_run_the_one_liners_do_nothing_or_just_ask(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("plain\n"))
    assert waxell_observe.input("? ") == "plain"
    with waxell_observe.human_turn("q") as turn:  # a turn that records nothing
        turn.set_response("a")
    with waxell_observe.pause("nothing"):
        pass
    waxell_observe.mark_resumed(from_run_id="x")
    waxell_observe.approval_request("deploy")
    waxell_observe.approval_response("deploy", "approved")
    waxell_observe.human_interaction("q", "a")
    assert waxell_observe.flush_sync(timeout=10).pending == 0


def test_approval_one_liners_and_their_checks(read_run: ReadRun) -> None:
    with WaxellContext(agent_name="i12-approvals", enforce_policy=False) as ctx:
        waxell_observe.approval_request("deploy", reason="prod", metadata={"ticket": "T-1"})
        waxell_observe.approval_response("deploy", "escalated", metadata={"to": "vp"})
        with pytest.raises(ValueError, match="approvers must be a list of strings"):
            ctx.record_approval_request(action_type="deploy", approvers="ops")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="elapsed_seconds must be a non-negative number"):
            ctx.record_approval_response(action_type="deploy", decision="approved", elapsed_seconds=-1)
        with pytest.raises(ValueError, match="action_type must be a non-empty string"):
            ctx.record_approval_request(action_type="")
    request, response = read_run(ctx.run_id)["spans"]
    assert (request["attributes"]["action"], request["attributes"]["metadata"]) == (
        "approval_requested",
        {"action_type": "deploy", "approvers": [], "ticket": "T-1"},
    )
    assert (response["attributes"]["action"], response["attributes"]["metadata"]) == (
        "approval_escalated",
        {"action_type": "deploy", "decision": "escalated", "to": "vp"},
    )


def _cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    env.update(WAXELL_DB=str(db), WAXELL_CONFIG_FILE=str(db.parent / "none"))
    command = [sys.executable, "-m", "waxell_observe.cli.__main__", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_show_prints_people(waxell_db: Path) -> None:
    with WaxellContext(agent_name="i12-show", enforce_policy=False) as ctx:
        ctx.record_approval_request(
            action_type="refund", approvers=["cfo"], timeout_minutes=10, reason="over $500"
        )
        ctx.record_human_interaction(
            prompt="Approve the refund?", response="yes", action="approval", elapsed_ms=4100
        )
        ctx.record_approval_response(
            action_type="refund", decision="approved", approver="cfo", elapsed_seconds=4.1
        )
        ctx.record_human_interaction(prompt="Anything else?", response="no", channel="chat", elapsed_ms=900)
        with ctx.pause("awaiting_user"):
            pass
        ctx.mark_resumed(from_run_id="run-0")
    waxell_observe.flush_sync()
    out = _cli("show", ctx.run_id, db=waxell_db)
    assert out.returncode == 0, out.stderr
    lines = [line.strip(" │├└─") for line in out.stdout.splitlines()]
    people = next(line for line in lines if line.startswith("people: "))
    paused = json.loads(_cli("show", ctx.run_id, "--json", db=waxell_db).stdout)["paused_ms"]
    assert people == (
        f"people: 2 human turn(s) (5.00s); 1 pause(s) ({paused / 1000:.2f}s paused); "
        "approvals: 1 requested, 1 granted"
    )
    for expected in (
        "POLICY approval:refund  approval requested from cfo, timeout 10 min: over $500",
        "IO human_turn:approval  [terminal] Approve the refund? → yes  4.10s",
        "POLICY approval:refund  approved by cfo after 4.1s",
        "IO human_turn  [chat] Anything else? → no  900.0ms",
        "IO paused  awaiting_user",
        "IO resumed  from run run-0",
    ):
        assert any(line.startswith(expected) for line in lines), (expected, out.stdout)

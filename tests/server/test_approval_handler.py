"""``approval_from_control_plane`` with the answer given from another process: the embedded store (answered
with the ``approvals`` CLI on the same file) and a real control plane on 127.0.0.1 (answered with the CLI
over HTTP with a named key); the async variant; the timeout (approval expired); the CLI's list and show."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import waxell_observe
from waxell_observe import WaxellContext, approval_from_control_plane, async_approval_from_control_plane
from waxell_observe.config import db_url_from, get_config, set_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance.loader import parse_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store
from waxell_observe.store.aggregates import list_audit
from waxell_observe.store.approvals import create_approval, get_approval, list_approvals
from waxell_observe.types import ApprovalDecision

CLI = str(Path(sys.executable).parent / "waxell-observe")
KILL = [
    {
        "name": "deploy-freeze",
        "category": "kill-switch",
        "scope": {"agents": ["deployer"]},
        "rules": {"killed": True},
    }
]


def _cli(*args: str) -> str:
    done = subprocess.run([CLI, "approvals", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _blocked() -> PolicyViolationError:
    """A real block: the kill switch refuses the deployer's run at entry."""
    with (
        pytest.raises(PolicyViolationError) as caught,
        WaxellContext(agent_name="deployer", workflow_name="release"),
    ):
        pass
    return caught.value


def _in_thread(call: Callable[[], ApprovalDecision]) -> tuple[threading.Thread, list[ApprovalDecision]]:
    out: list[ApprovalDecision] = []
    thread = threading.Thread(target=lambda: out.append(call()))
    thread.start()
    return thread, out


def _first_pending(read: Callable[[], list[str]], timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = read()
        if ids:
            assert len(ids) == 1, ids
            return ids[0]
        time.sleep(0.05)
    raise AssertionError("no pending approval appeared")


def _embedded_pending() -> list[str]:
    return [a.id for a in list_approvals(get_store(get_config().db_url), status="pending")[0]]


@pytest.fixture
def embedded_block(waxell_db: Path) -> PolicyViolationError:
    add_policies(get_store(db_url_from(str(waxell_db))), parse_policies(KILL, source="test"))
    return _blocked()


def test_embedded_approved_from_another_process(
    waxell_db: Path, embedded_block: PolicyViolationError
) -> None:
    error = embedded_block
    assert (error.agent_name, error.workflow_name, len(error.run_id)) == ("deployer", "release", 32)
    thread, out = _in_thread(lambda: approval_from_control_plane(timeout=60)(error))
    approval_id = _first_pending(_embedded_pending)
    assert _cli(
        "approve", approval_id, "--by", "alice", "--comment", "go", "--db", str(waxell_db)
    ).startswith(f"{approval_id} approved by alice at ")
    thread.join(timeout=60)
    [decision] = out
    assert (decision.approved, decision.approver, decision.timed_out) == (True, "alice", False)
    assert decision.elapsed_seconds is not None and decision.elapsed_seconds > 0
    stored = get_approval(get_store(get_config().db_url), approval_id)
    assert stored is not None
    assert (stored.run_id, stored.agent_name, stored.workflow_name) == (error.run_id, "deployer", "release")
    assert (stored.policy_name, stored.category, stored.reason) == (
        "deploy-freeze",
        "kill-switch",
        str(error),
    )
    assert (stored.action_type, stored.approvers, stored.status, stored.comment) == (
        "unknown",
        (),
        "approved",
        "go",
    )


def test_embedded_denied_from_another_process(waxell_db: Path, embedded_block: PolicyViolationError) -> None:
    thread, out = _in_thread(
        lambda: approval_from_control_plane(timeout=60, poll_interval=0.1)(embedded_block)
    )
    approval_id = _first_pending(_embedded_pending)
    _cli("deny", approval_id, "--by", "bob", "--db", str(waxell_db))
    thread.join(timeout=60)
    assert out == [
        ApprovalDecision(
            approved=False, approver="bob", timed_out=False, elapsed_seconds=out[0].elapsed_seconds
        )
    ]
    with get_store(get_config().db_url).read() as conn:
        events, _ = list_audit(conn, action="denied")
    assert [(e["event"], e["metadata"]["decided_by"], e["run_id"]) for e in events] == [
        ("approval_decision", "bob", embedded_block.run_id)
    ]


def test_nobody_answers_the_approval_expires(embedded_block: PolicyViolationError) -> None:
    decision = approval_from_control_plane(timeout=0.5)(embedded_block)
    assert (decision.approved, decision.approver, decision.timed_out) == (False, "", True)
    [approval], total = list_approvals(get_store(get_config().db_url))
    assert (total, approval.status, approval.decided_by) == (1, "expired", "")
    with get_store(get_config().db_url).read() as conn:
        events, _ = list_audit(conn, action="expired")
    assert [e["metadata"]["approval_id"] for e in events] == [approval.id]


def test_async_handler_answered_from_another_process(
    waxell_db: Path, embedded_block: PolicyViolationError
) -> None:
    def answer() -> None:
        _cli("approve", _first_pending(_embedded_pending), "--by", "carol", "--db", str(waxell_db))

    answering = threading.Thread(target=answer)
    answering.start()

    async def main() -> tuple[ApprovalDecision, int]:
        ticks = 0

        async def tick() -> None:  # the event loop keeps running while the handler waits
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        decision = await async_approval_from_control_plane(timeout=60)(embedded_block)
        ticker.cancel()
        return decision, ticks

    decision, ticks = asyncio.run(main())
    answering.join(timeout=60)
    assert (decision.approved, decision.approver) == (True, "carol")
    assert ticks > 1


def test_cancelling_the_async_wait_cancels_the_approval(embedded_block: PolicyViolationError) -> None:
    async def main() -> None:
        task = asyncio.ensure_future(async_approval_from_control_plane(timeout=60)(embedded_block))
        while not _embedded_pending():
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    [approval], _ = list_approvals(get_store(get_config().db_url))
    assert (approval.status, approval.decided_by) == ("cancelled", "agent")


def test_remote_approved_from_another_process(
    serve_process: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "server.db")
    keys = subprocess.run(
        [CLI, "keys", "create", "--name", "alice", "--db", db], capture_output=True, text=True, check=True
    )
    alice = keys.stdout.strip()
    agent = subprocess.run(
        [CLI, "keys", "create", "--name", "agent", "--db", db], capture_output=True, text=True, check=True
    )
    server = serve_process(db)
    response = httpx.post(
        f"{server.url}/api/v1/admin/policies/",
        json={"policies": KILL},
        headers={"X-Wax-Key": alice},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    monkeypatch.setenv("WAXELL_API_URL", server.url)
    monkeypatch.setenv("WAXELL_API_KEY", agent.stdout.strip())
    set_config(None)
    error = _blocked()
    thread, out = _in_thread(lambda: approval_from_control_plane(timeout=60)(error))

    def pending() -> list[str]:
        page = httpx.get(
            f"{server.url}/api/v1/read/approvals/", params={"status": "pending"}, headers={"X-Wax-Key": alice}
        ).json()
        return [a["id"] for a in page["approvals"]]

    approval_id = _first_pending(pending)
    shown = json.loads(_cli("show", approval_id, "--json", "--api-url", server.url, "--api-key", alice))
    assert (shown["agent_name"], shown["run_id"], shown["policy_name"], shown["status"]) == (
        "deployer",
        error.run_id,
        "deploy-freeze",
        "pending",
    )
    _cli("approve", approval_id, "--api-url", server.url, "--api-key", alice)
    thread.join(timeout=60)
    [decision] = out
    assert (decision.approved, decision.approver, decision.timed_out) == (True, "alice", False)
    audit = httpx.get(f"{server.url}/api/v1/read/audit/", headers={"X-Wax-Key": alice}).json()["events"]
    assert [
        (e["action"], e["metadata"]["decided_by"]) for e in audit if e["event"] == "approval_decision"
    ] == [("approved", "alice")]
    waxell_observe.flush_sync(timeout=30)  # before the server stops


def test_cli_lists_and_shows_approvals(waxell_db: Path) -> None:
    store = get_store(get_config().db_url)
    create_approval(
        store,
        approval_id="apr-1",
        agent_name="deployer",
        run_id="r" * 32,
        action_type="deploy",
        reason="production deploys need approval",
        policy_name="deploy-approval",
        category="approval",
        approvers=["alice", "bob"],
        timeout_seconds=3600,
    )
    listing = _cli("list", "--db", str(waxell_db))
    assert "1 of 1 approval(s)" in listing
    row = next(line for line in listing.splitlines() if "apr-1" in line)
    assert [c.strip() for c in row.split("│")[1:7]] == [
        "apr-1",
        "pending",
        "deployer",
        "r" * 12,
        "deploy",
        "alice, bob",
    ]
    assert re.fullmatch(r"[0-5]?\dm[0-5]\ds|1h00m", row.split("│")[7].strip())  # time left of the hour
    assert json.loads(_cli("list", "--json", "--status", "all", "--db", str(waxell_db)))[0]["id"] == "apr-1"
    assert _cli("list", "--status", "approved", "--db", str(waxell_db)) == "no approvals\n"
    shown = _cli("show", "apr-1", "--db", str(waxell_db)).splitlines()
    assert shown[:8] == [
        "approval apr-1: pending",
        "  agent      deployer",
        "  run        " + "r" * 32,
        "  action     deploy",
        "  policy     deploy-approval (approval)",
        "  reason     production deploys need approval",
        "  approvers  alice, bob",
        shown[7],
    ]
    stranger = subprocess.run(
        [CLI, "approvals", "approve", "apr-1", "--by", "mallory", "--db", str(waxell_db)],
        capture_output=True,
        text=True,
    )
    assert stranger.returncode == 1
    assert "'mallory' may not answer approval apr-1: its approvers are alice, bob" in stranger.stderr
    _cli("deny", "apr-1", "--by", "bob", "--comment", "not now", "--db", str(waxell_db))
    shown = _cli("show", "apr-1", "--db", str(waxell_db)).splitlines()
    assert shown[0] == "approval apr-1: denied"
    assert shown[-2].endswith(" UTC by bob") and shown[-1] == "  comment    not now"
    failed = subprocess.run(
        [CLI, "approvals", "approve", "apr-1", "--db", str(waxell_db)], capture_output=True, text=True
    )
    assert failed.returncode == 1
    assert "approval apr-1 is denied by bob already" in failed.stderr
    missing = subprocess.run(
        [CLI, "approvals", "show", "nope", "--db", str(waxell_db)], capture_output=True, text=True
    )
    assert (missing.returncode, "no approval 'nope'" in missing.stderr) == (1, True)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"timeout": float("nan")}, "timeout must be a positive number"),
        ({"poll_interval": 0}, "poll_interval must be > 0"),
        ({"poll_interval": 61}, "poll_interval must be > 0"),
    ],
)
def test_bad_settings_are_refused(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        approval_from_control_plane(**arguments)
    with pytest.raises(ValueError, match=message):
        async_approval_from_control_plane(**arguments)


def test_a_context_waits_at_entry_and_goes_on_when_approved(waxell_db: Path, read_run: Any) -> None:
    """``WaxellContext(on_policy_block=approval_from_control_plane())``: the block at entry waits for the
    answer, the approved run goes on and is stored with the round recorded once (by handle_policy_block)."""
    add_policies(get_store(db_url_from(str(waxell_db))), parse_policies(KILL, source="test"))

    def run() -> str:
        with WaxellContext(
            agent_name="deployer", on_policy_block=approval_from_control_plane(timeout=60)
        ) as ctx:
            ctx.record_step("deploy", output={"version": "v2"})
            return ctx.run_id

    ran: list[str] = []
    thread = threading.Thread(target=lambda: ran.append(run()))
    thread.start()
    approval_id = _first_pending(_embedded_pending)
    _cli("approve", approval_id, "--by", "dana", "--db", str(waxell_db))
    thread.join(timeout=60)
    [run_id] = ran
    waxell_observe.flush_sync(timeout=30)
    stored = read_run(run_id)
    assert (stored["status"], [s["name"] for s in stored["steps"]]) == (
        "success",
        ["io:human_turn:approval", "deploy"],
    )
    approval_spans = [
        (s["attributes"]["action"], s["attributes"].get("approval.approver", ""))
        for s in stored["spans"]
        if s["kind"] == "policy" and s["attributes"].get("category") == "approval"
    ]
    assert approval_spans == [("approval_requested", ""), ("approval_granted", "dana")]
    assert get_approval(get_store(get_config().db_url), approval_id).run_id == run_id  # type: ignore[union-attr]

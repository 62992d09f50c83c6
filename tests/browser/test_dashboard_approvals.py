"""The approval loop end to end: an agent in another process is blocked by a policy and waits
(``@observe(on_policy_block=approval_from_control_plane(...))``, talking to the real server over HTTP);
a person signs in to the dashboard in Chromium, sees the pending approval with the time left counting
down, clicks Approve; the agent resumes, its re-run is stored, and the audit log names who decided.
Also: Deny; the same loop with the agent in embedded mode (its own process writing the SQLite file the
dashboard reads, no HTTP between them); and a local-mode server that shows approvals but asks for a key to
answer them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_server import start_server, stop_server
from dashboard_ui import goto, rendered
from playwright.sync_api import expect

from waxell_observe.config import db_url_from
from waxell_observe.governance.loader import parse_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store
from waxell_observe.store.aggregates import list_audit
from waxell_observe.store.approvals import create_approval, get_approval, list_approvals
from waxell_observe.store.keys import create_key
from waxell_observe.store.reader import get_run

pytestmark = pytest.mark.browser

KILL = [
    {
        "name": "deploy-freeze",
        "category": "kill-switch",
        "scope": {"agents": ["deployer"]},
        "rules": {"killed": True},
    }
]

AGENT = textwrap.dedent(
    """
    import json

    import waxell_observe
    from waxell_observe import approval_from_control_plane, get_current_context, observe


    @observe(
        agent_name="deployer",
        workflow_name="release",
        on_policy_block=approval_from_control_plane(timeout=120),
    )
    def deploy(version):
        return {"deployed": version, "run_id": get_current_context().run_id}


    print(json.dumps(deploy("v2")), flush=True)
    report = waxell_observe.flush_sync(timeout=30)
    assert report.pending == 0 and not report.errors, report
    """
)


def _agent(tmp_path: Path, api_url: str, api_key: str, *, db: str = "") -> subprocess.Popen[str]:
    """The agent in its own process: against the control plane at ``api_url``, or embedded over ``db``."""
    script = tmp_path / "agent.py"
    script.write_text(AGENT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    env.update(
        WAXELL_JOURNAL_DIR=str(tmp_path / "agent-journal"),
        WAXELL_CONFIG_FILE=str(tmp_path / "no-config"),
        WAXELL_DISABLE_PLUGINS="all",
        PYTHONUNBUFFERED="1",
    )
    if db:
        env["WAXELL_DB"] = db
    else:
        env.update(WAXELL_API_URL=api_url, WAXELL_API_KEY=api_key)
    return subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _row(page: Any, agent_name: str) -> Any:
    return page.locator("[data-testid=pending-table] [data-testid=approval-row]", has_text=agent_name)


def test_approve_in_the_browser_resumes_the_waiting_agent(
    page_factory: Any, tmp_path: Path, shot: Any
) -> None:
    db = str(tmp_path / "approvals.db")
    store = get_store(db_url_from(db))
    alice, _ = create_key(store, "alice")
    agent_key, _ = create_key(store, "deploy-bot")
    add_policies(store, parse_policies(KILL, source="test"))
    server = start_server(db_url_from(db))
    agent = None
    try:
        api = httpx.Client(base_url=server.url, headers={"X-Wax-Key": alice}, timeout=30)
        # a second approval, filed over the wire with approvers, for the countdown and the Deny button
        created = api.post(
            "/api/v1/observe/approvals/",
            json={
                "id": "apr-migration",
                "agent_name": "migrator",
                "action_type": "schema_migration",
                "reason": "dropping a column needs a DBA",
                "approvers": ["alice", "dba-team"],
                "timeout_seconds": 900,
            },
        )
        assert created.status_code == 201, created.text
        assert api.get("/api/v1/read/approvals/apr-migration/").json()["may_decide"] is True  # alice is one

        agent = _agent(tmp_path, server.url, agent_key)
        page = page_factory(server, allow_console=("status of 401",))
        page.goto(server.url + "/#/approvals")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.get_by_test_id("api-key-input").fill(alice)
        page.get_by_test_id("sign-in").click()
        rendered(page, "#/approvals")
        expect(page.get_by_test_id("decider").locator(".card-value")).to_have_text("alice")

        # the blocked agent's approval appears while it waits (the page re-reads pending approvals)
        deployer = _row(page, "deployer")
        expect(deployer).to_have_count(1, timeout=60_000)
        expect(page.get_by_test_id("pending-count").locator(".card-value")).to_have_text("2")
        pending = api.get("/api/v1/read/approvals/", params={"status": "pending"}).json()["approvals"]
        waiting = next(a for a in pending if a["agent_name"] == "deployer")
        # most urgent first: the agent's 2 minutes before the migration's 15
        order = page.locator("[data-testid=approval-row]").evaluate_all(
            "rows => rows.map(r => r.dataset.approvalId)"
        )
        assert order == [waiting["id"], "apr-migration"]
        assert (waiting["workflow_name"], waiting["policy_name"], waiting["category"]) == (
            "release",
            "deploy-freeze",
            "kill-switch",
        )
        expect(deployer).to_contain_text(waiting["reason"])
        expect(deployer).to_contain_text("anyone with a key")
        expect(deployer.locator("a.mono")).to_have_text(waiting["run_id"][-8:])
        migration = page.locator("[data-approval-id=apr-migration]")
        expect(migration.locator(".chip")).to_have_text(["alice", "dba-team"])
        left = migration.get_by_test_id("time-left")
        first = left.inner_text()
        assert re.fullmatch(r"1[0-5] min \d\d s", first), first
        expect(left).not_to_have_text(first)  # it counts down
        assert agent.poll() is None  # still waiting
        shot(page, "approvals-pending")

        deployer.locator("input.approval-comment").fill("ship it")
        deployer.get_by_test_id("approve").click()
        expect(page.get_by_test_id("approval-message")).to_have_text(
            "Approved the approval of deployer as alice."
        )
        expect(_row(page, "deployer")).to_have_count(0)

        # the agent resumes: its function ran again, without the policy check, and the run is stored
        out, err = agent.communicate(timeout=90)
        assert agent.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])
        assert result["deployed"] == "v2"
        rerun = api.get(f"/api/v1/read/runs/{result['run_id']}/").json()
        assert (rerun["agent_name"], rerun["workflow_name"], rerun["status"]) == (
            "deployer",
            "release",
            "success",
        )
        refused = api.get(f"/api/v1/read/runs/{waiting['run_id']}/").json()
        assert (refused["agent_name"], refused["status"]) == ("deployer", "blocked")

        # the audit log says who decided
        events = api.get("/api/v1/read/audit/", params={"limit": 100}).json()["events"]
        [decision] = [e for e in events if e["event"] == "approval_decision"]
        assert (decision["action"], decision["run_id"], decision["agent_name"]) == (
            "approved",
            waiting["run_id"],
            "deployer",
        )
        assert (decision["metadata"]["decided_by"], decision["metadata"]["comment"]) == ("alice", "ship it")

        history = page.locator("[data-testid=history-row][data-approval-id='" + waiting["id"] + "']")
        expect(history).to_contain_text("approved")
        expect(history).to_contain_text("alice")
        expect(history).to_contain_text("ship it")

        migration.get_by_test_id("deny").click()
        expect(page.get_by_test_id("approval-message")).to_have_text(
            "Denied the approval of migrator as alice."
        )
        expect(page.get_by_test_id("pending-table-empty")).to_be_visible()
        expect(page.locator("[data-testid=history-row][data-approval-id=apr-migration]")).to_contain_text(
            "denied"
        )
        page.get_by_test_id("history-status").select_option("denied")
        rendered(page, "#/approvals?status=denied")
        expect(page.locator("[data-testid=history-row]")).to_have_count(1)
        shot(page, "approvals-answered")
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait(timeout=30)
        stop_server(server)


def test_an_embedded_agent_in_another_process_waits_for_the_browser(
    page_factory: Any, tmp_path: Path
) -> None:
    """No HTTP between agent and dashboard: the agent's process writes its pending approval to the SQLite
    file, the dashboard reads it from there and writes the answer back, the agent sees it and goes on."""
    db = str(tmp_path / "embedded.db")
    store = get_store(db_url_from(db))
    bob, _ = create_key(store, "bob")
    add_policies(store, parse_policies(KILL, source="test"))
    server = start_server(db_url_from(db))
    agent = None
    try:
        agent = _agent(tmp_path, "", "", db=db)
        page = page_factory(server, allow_console=("status of 401",))
        page.goto(server.url + "/#/approvals")
        page.get_by_test_id("api-key-input").fill(bob)
        page.get_by_test_id("sign-in").click()
        rendered(page, "#/approvals")
        deployer = _row(page, "deployer")
        expect(deployer).to_have_count(1, timeout=60_000)
        approval_id = deployer.get_attribute("data-approval-id")
        assert agent.poll() is None  # still waiting
        [waiting] = list_approvals(store, status="pending")[0]
        assert (waiting.id, waiting.agent_name, waiting.policy_name) == (
            approval_id,
            "deployer",
            "deploy-freeze",
        )

        # an approval naming its approvers cannot be answered by anyone else: the page offers bob no
        # buttons for it and says why, and the server refuses him anyway
        create_approval(store, approval_id="apr-alice-only", agent_name="payer", approvers=["alice"],
                        timeout_seconds=600)  # fmt: skip
        alice_only = page.locator("[data-testid=pending-table] [data-approval-id=apr-alice-only]")
        expect(alice_only).to_have_count(1, timeout=30_000)
        expect(alice_only.get_by_test_id("not-an-approver")).to_have_text(
            "only alice may answer; you answer as bob"
        )
        assert alice_only.get_by_test_id("approve").count() == 0
        assert alice_only.get_by_test_id("deny").count() == 0
        assert deployer.get_by_test_id("approve").count() == 1  # names no approvers: any key answers
        as_bob = httpx.Client(base_url=server.url, headers={"X-Wax-Key": bob}, timeout=30)
        listed = as_bob.get("/api/v1/read/approvals/", params={"status": "pending"}).json()["approvals"]
        assert {a["id"]: a["may_decide"] for a in listed} == {approval_id: True, "apr-alice-only": False}
        refused = as_bob.post("/api/v1/admin/approvals/apr-alice-only/approve/", json={})
        assert (refused.status_code, refused.json()["detail"]) == (
            403,
            "'bob' may not answer approval apr-alice-only: its approvers are alice",
        )
        assert get_approval(store, "apr-alice-only").status == "pending"  # type: ignore[union-attr]

        deployer.get_by_test_id("approve").click()
        expect(page.get_by_test_id("approval-message")).to_have_text(
            "Approved the approval of deployer as bob."
        )
        out, err = agent.communicate(timeout=90)
        assert agent.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])
        assert result["deployed"] == "v2"
        with store.read() as conn:
            rerun = get_run(conn, result["run_id"])
            refused = get_run(conn, waiting.run_id)
            events, _ = list_audit(conn, action="approved")
        assert rerun is not None and refused is not None
        assert (rerun["agent_name"], rerun["status"]) == ("deployer", "success")
        assert (refused["agent_name"], refused["status"]) == ("deployer", "blocked")
        assert [(e["event"], e["run_id"], e["metadata"]["decided_by"]) for e in events] == [
            ("approval_decision", waiting.run_id, "bob")
        ]
        answered = get_approval(store, waiting.id)
        assert answered is not None and (answered.status, answered.decided_by) == ("approved", "bob")
        page.close()  # it re-reads pending approvals: not after the server stops
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait(timeout=30)
        stop_server(server)


def test_local_mode_shows_approvals_and_asks_for_a_key_to_answer(page_factory: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "local.db")
    create_approval(
        get_store(db_url_from(db)),
        approval_id="apr-local",
        agent_name="researcher",
        reason="the budget policy asks before spending more",
        approvers=["alice"],
        timeout_seconds=600,
    )
    server = start_server(db_url_from(db))
    try:
        page = page_factory(server)
        goto(page, server, "/approvals")
        row = page.locator("[data-approval-id=apr-local]").first
        expect(row).to_contain_text("researcher")
        expect(row).to_contain_text("sign in with a key to answer")
        expect(page.get_by_test_id("needs-key")).to_contain_text(
            "waxell-observe keys create --name <your name>"
        )
        assert page.get_by_test_id("approve").count() == 0
        expect(page.locator("[data-nav=approvals]")).to_have_attribute("aria-current", "page")
    finally:
        stop_server(server)

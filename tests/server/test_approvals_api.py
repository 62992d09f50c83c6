"""The approval endpoints on a real ``waxell-observe serve`` on 127.0.0.1 (and through the app on SQLite and
PostgreSQL): an agent files a pending approval and long-polls it, the read API lists it, a person with a key
answers, the audit log names who decided; no key, a revoked key, a second answer and a passed deadline are
refused."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from waxell_observe.config import db_url_from
from waxell_observe.store import Store
from waxell_observe.store.keys import create_key, revoke_key

OBSERVE = "/api/v1/observe"
READ = "/api/v1/read"
ADMIN = "/api/v1/admin"

BODY = {
    "id": "apr-deploy-1",
    "agent_name": "deployer",
    "run_id": "run-1",
    "workflow_name": "release",
    "action_type": "deploy",
    "reason": "Policy block: production deploys need approval",
    "policy_name": "deploy-approval",
    "category": "approval",
    "approvers": ["alice", "bob"],
    "timeout_seconds": 120,
    "metadata": {"env": "prod"},
}


def _keys(db: str) -> tuple[str, str, str]:
    """Keys of alice and of an unnamed agent key, and a revoked key of mallory (made in the store)."""
    store = Store(db_url_from(db))
    alice, _ = create_key(store, "alice")
    agent, _ = create_key(store, "")
    mallory, _ = create_key(store, "mallory")
    revoke_key(store, "mallory")
    store.dispose()
    return alice, agent, mallory


def test_the_approval_loop_on_a_real_server(serve_process: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "server.db")
    alice, agent, mallory = _keys(db)
    server = serve_process(db)
    http = httpx.Client(base_url=server.url, timeout=30.0)
    as_agent = {"X-Wax-Key": agent}

    created = http.post(f"{OBSERVE}/approvals/", json=BODY, headers=as_agent)
    assert created.status_code == 201, created.text
    approval = created.json()
    assert {k: v for k, v in approval.items() if k not in ("requested_at", "expires_at", "seconds_left")} == {
        "id": "apr-deploy-1",
        "run_id": "run-1",
        "agent_name": "deployer",
        "workflow_name": "release",
        "action_type": "deploy",
        "reason": "Policy block: production deploys need approval",
        "policy_name": "deploy-approval",
        "category": "approval",
        "approvers": ["alice", "bob"],
        "status": "pending",
        "decided_by": "",
        "decided_at": None,
        "comment": "",
        "metadata": {"env": "prod"},
    }
    assert 0 < approval["seconds_left"] <= 120
    # a retried create (same id) creates nothing twice
    again = http.post(f"{OBSERVE}/approvals/", json={**BODY, "reason": "other"}, headers=as_agent)
    assert (again.status_code, again.json()["reason"]) == (200, BODY["reason"])

    listed = http.get(f"{READ}/approvals/", params={"status": "pending"}, headers={"X-Wax-Key": alice}).json()
    assert (listed["total"], listed["pending"], listed["can_decide"], listed["decider"]) == (
        1,
        1,
        True,
        "alice",
    )
    assert [(a["id"], a["approvers"], a["status"], a["may_decide"]) for a in listed["approvals"]] == [
        ("apr-deploy-1", ["alice", "bob"], "pending", True)
    ]
    # the read API tells each key whether it may answer (the dashboard offers Approve / Deny only then)
    detail = http.get(f"{READ}/approvals/apr-deploy-1/", headers=as_agent).json()
    assert (detail["status"], detail["may_decide"]) == ("pending", False)

    # answering needs a valid key: none, a wrong one or a revoked one is refused and changes nothing
    url = f"{ADMIN}/approvals/apr-deploy-1/approve/"
    assert http.post(url, json={}).status_code == 401
    assert http.post(url, json={}, headers={"X-Wax-Key": "wax_sk_" + "0" * 48}).status_code == 401
    assert http.post(url, json={}, headers={"X-Wax-Key": mallory}).status_code == 401

    # the approval names its approvers: another key holder may not answer it
    stranger = http.post(url, json={}, headers=as_agent)
    assert stranger.status_code == 403
    assert stranger.json()["detail"].endswith(
        "may not answer approval apr-deploy-1: its approvers are alice, bob"
    )
    assert http.get(f"{READ}/approvals/apr-deploy-1/", headers=as_agent).json()["status"] == "pending"

    # the agent long-polls; the answer reaches it while it waits
    polled: list[dict[str, Any]] = []
    waiting = threading.Thread(
        target=lambda: polled.append(
            http.get(f"{OBSERVE}/approvals/apr-deploy-1/", params={"wait": 25}, headers=as_agent).json()
        )
    )
    waiting.start()
    answered = http.post(url, json={"comment": "ship it"}, headers={"X-Wax-Key": alice})
    waiting.join(timeout=30)
    assert answered.status_code == 200, answered.text
    assert [(p["status"], p["decided_by"], p["comment"]) for p in polled] == [
        ("approved", "alice", "ship it")
    ]

    # the audit log records who decided, with which key
    events = http.get(f"{READ}/audit/", headers={"X-Wax-Key": alice}).json()["events"]
    decisions = [e for e in events if e["event"] == "approval_decision"]
    assert len(decisions) == 1
    assert {k: decisions[0][k] for k in ("run_id", "agent_name", "policy_name", "category", "action")} == {
        "run_id": "run-1",
        "agent_name": "deployer",
        "policy_name": "deploy-approval",
        "category": "approval",
        "action": "approved",
    }
    assert decisions[0]["metadata"]["decided_by"] == "alice"
    assert decisions[0]["metadata"]["approval_id"] == "apr-deploy-1"
    assert decisions[0]["metadata"]["comment"] == "ship it"
    assert len(decisions[0]["metadata"]["key_id"]) == 12

    # the first answer wins
    late = http.post(f"{ADMIN}/approvals/apr-deploy-1/deny/", json={}, headers={"X-Wax-Key": alice})
    assert (late.status_code, late.json()["detail"]) == (
        409,
        "approval apr-deploy-1 is approved by alice already: it cannot be answered again",
    )
    missing = http.post(f"{ADMIN}/approvals/nope/deny/", json={}, headers={"X-Wax-Key": alice})
    assert (missing.status_code, missing.json()["detail"]) == (404, "no approval 'nope'")
    assert http.get(f"{READ}/approvals/nope/", headers=as_agent).status_code == 404

    # an unnamed key is recorded by its id (an approval naming no approvers: anyone with a key answers)
    http.post(f"{OBSERVE}/approvals/", json={**BODY, "id": "apr-2", "approvers": []}, headers=as_agent)
    denied = http.post(f"{ADMIN}/approvals/apr-2/deny/", headers=as_agent).json()
    assert (denied["status"], denied["decided_by"][:4], len(denied["decided_by"])) == ("denied", "key ", 16)

    # nobody answers: the deadline passes and a waiting poll sees it expire
    http.post(f"{OBSERVE}/approvals/", json={**BODY, "id": "apr-3", "timeout_seconds": 1}, headers=as_agent)
    expired = http.get(f"{OBSERVE}/approvals/apr-3/", params={"wait": 20}, headers=as_agent).json()
    assert (expired["status"], expired["decided_by"], expired["seconds_left"]) == ("expired", "", 0.0)
    refused = http.post(f"{ADMIN}/approvals/apr-3/approve/", headers={"X-Wax-Key": alice})
    assert refused.status_code == 409

    # the agent stops waiting on its own
    http.post(f"{OBSERVE}/approvals/", json={**BODY, "id": "apr-4"}, headers=as_agent)
    closed = http.post(f"{OBSERVE}/approvals/apr-4/close/", json={"status": "cancelled"}, headers=as_agent)
    assert (closed.json()["status"], closed.json()["decided_by"]) == ("cancelled", "agent")

    history = http.get(f"{READ}/approvals/", params={"status": ""}, headers=as_agent).json()
    assert [(a["id"], a["status"]) for a in history["approvals"]] == [
        ("apr-4", "cancelled"),
        ("apr-3", "expired"),
        ("apr-2", "denied"),
        ("apr-deploy-1", "approved"),
    ]
    assert (history["pending"], history["can_decide"]) == (0, True)
    actions = [e["action"] for e in http.get(f"{READ}/audit/", headers=as_agent).json()["events"]]
    assert sorted(actions) == ["approved", "cancelled", "denied", "expired"]


def test_a_local_mode_server_lists_approvals_but_answers_only_with_a_key(
    serve_process: Any, tmp_path: Path
) -> None:
    server = serve_process(str(tmp_path / "local.db"))
    http = httpx.Client(base_url=server.url, timeout=30.0)
    assert http.post(f"{OBSERVE}/approvals/", json=BODY).status_code == 201
    listed = http.get(f"{READ}/approvals/").json()
    assert (listed["pending"], listed["can_decide"], listed["decider"]) == (1, False, "")
    assert [a["may_decide"] for a in listed["approvals"]] == [False]
    refused = http.post(f"{ADMIN}/approvals/apr-deploy-1/approve/", json={})
    assert refused.status_code == 401
    assert refused.json()["detail"].startswith("answering an approval needs an API key")
    assert http.get(f"{READ}/approvals/apr-deploy-1/").json()["status"] == "pending"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"agent_name": "a"}, "timeout_seconds"),
        ({"agent_name": "", "timeout_seconds": 5}, "agent_name"),
        ({"agent_name": "a", "timeout_seconds": 0}, "timeout_seconds"),
        ({"agent_name": "a", "timeout_seconds": 5, "approvers": [""]}, "approvers"),
        ({"agent_name": "a", "timeout_seconds": 5, "run_id": "r" * 65}, "run_id"),
    ],
)
def test_bad_bodies_are_refused_on_both_stores(client: Any, body: dict[str, Any], field: str) -> None:
    response = client.post(f"{OBSERVE}/approvals/", json=body)
    assert response.status_code == 422, response.text
    assert field in response.text
    assert client.get(f"{READ}/approvals/").json()["total"] == 0


def test_answering_through_the_app_on_both_stores(client: Any, store_url: str) -> None:
    key, _ = create_key(client.app.state.store, "carol")
    headers = {"X-Wax-Key": key}
    body = {**BODY, "approvers": ["Carol", "dave"]}  # carol is one of them (names compared in any case)
    assert client.post(f"{OBSERVE}/approvals/", json=body, headers=headers).status_code == 201
    answered = client.post(
        f"{ADMIN}/approvals/apr-deploy-1/deny/", json={"comment": "not today"}, headers=headers
    )
    assert (answered.json()["status"], answered.json()["decided_by"], answered.json()["comment"]) == (
        "denied",
        "carol",
        "not today",
    )
    assert client.get(f"{READ}/approvals/", params={"status": "open"}, headers=headers).status_code == 422
    assert (
        client.get(f"{OBSERVE}/approvals/apr-deploy-1/", params={"wait": 31}, headers=headers).status_code
        == 422
    )
    [event] = client.get(f"{READ}/audit/", params={"action": "denied"}, headers=headers).json()["events"]
    assert (event["event"], event["metadata"]["decided_by"], event["metadata"]["comment"]) == (
        "approval_decision",
        "carol",
        "not today",
    )

"""Pending approvals in the store (``waxell_observe.store.approvals``), on SQLite and PostgreSQL: a round trip
through every status, the audit rows naming who decided, expiry at the deadline, and bad input."""

from __future__ import annotations

import pytest

from waxell_observe.store import Store
from waxell_observe.store.aggregates import list_audit
from waxell_observe.store.approvals import (
    ApprovalNotAllowed,
    ApprovalNotFound,
    ApprovalNotPending,
    close_approval,
    create_approval,
    decide_approval,
    expire_due,
    get_approval,
    list_approvals,
    may_decide,
)

T0 = 1_800_000_000.0


@pytest.fixture
def store(store_url: str) -> Store:
    return Store(store_url)


def _create(
    store: Store, approval_id: str, *, at: float = T0, timeout: float = 60.0, agent: str = "deployer"
) -> str:
    return create_approval(
        store,
        approval_id=approval_id,
        agent_name=agent,
        run_id="run-" + approval_id,
        workflow_name="release",
        action_type="deploy",
        reason="Policy block: production deploys need approval",
        policy_name="deploy-approval",
        category="approval",
        approvers=["alice", "bob"],
        timeout_seconds=timeout,
        metadata={"env": "prod"},
        now=at,
    ).id


def _audit(store: Store) -> list[dict[str, object]]:
    with store.read() as conn:
        events, _ = list_audit(conn, limit=100)
    return [
        {
            k: e[k]
            for k in (
                "run_id",
                "agent_name",
                "event",
                "policy_name",
                "category",
                "action",
                "reason",
                "metadata",
            )
        }
        for e in events
    ]


def test_round_trip_pending_then_approved(store: Store) -> None:
    _create(store, "a1")
    approval = get_approval(store, "a1", now=T0 + 10)
    assert approval is not None
    assert approval.to_dict(T0 + 10) == {
        "id": "a1",
        "run_id": "run-a1",
        "agent_name": "deployer",
        "workflow_name": "release",
        "action_type": "deploy",
        "reason": "Policy block: production deploys need approval",
        "policy_name": "deploy-approval",
        "category": "approval",
        "approvers": ["alice", "bob"],
        "status": "pending",
        "requested_at": "2027-01-15T08:00:00+00:00",
        "expires_at": "2027-01-15T08:01:00+00:00",
        "seconds_left": 50.0,
        "decided_by": "",
        "decided_at": None,
        "comment": "",
        "metadata": {"env": "prod"},
    }
    decided = decide_approval(
        store, "a1", "approved", decided_by="alice", comment="ship it", key_id="k123", now=T0 + 20
    )
    assert (decided.status, decided.decided_by, decided.decided_at, decided.comment) == (
        "approved",
        "alice",
        T0 + 20,
        "ship it",
    )
    assert decided.to_dict(T0 + 21)["seconds_left"] == 0.0
    assert _audit(store) == [
        {
            "run_id": "run-a1",
            "agent_name": "deployer",
            "event": "approval_decision",
            "policy_name": "deploy-approval",
            "category": "approval",
            "action": "approved",
            "reason": "Policy block: production deploys need approval",
            "metadata": {
                "approval_id": "a1",
                "decided_by": "alice",
                "action_type": "deploy",
                "key_id": "k123",
                "comment": "ship it",
            },
        }
    ]
    # the first answer wins; a second one is refused and writes nothing
    with pytest.raises(ApprovalNotPending, match="approval a1 is approved by alice already"):
        decide_approval(store, "a1", "denied", decided_by="bob", now=T0 + 30)
    assert len(_audit(store)) == 1
    assert get_approval(store, "a1", now=T0 + 40).status == "approved"  # type: ignore[union-attr]


def test_list_orders_pending_by_deadline_and_history_newest_first(store: Store) -> None:
    _create(store, "late", at=T0, timeout=300)
    _create(store, "soon", at=T0 + 1, timeout=30)
    _create(store, "done", at=T0 + 2, timeout=300)
    decide_approval(store, "done", "denied", decided_by="bob", now=T0 + 3)
    pending, total = list_approvals(store, status="pending", now=T0 + 5)
    assert ([a.id for a in pending], total) == (["soon", "late"], 2)
    everything, total = list_approvals(store, now=T0 + 5)
    assert ([a.id for a in everything], total) == (["done", "soon", "late"], 3)
    denied, total = list_approvals(store, status="denied", now=T0 + 5)
    assert [(a.id, a.status, a.decided_by) for a in denied] == [("done", "denied", "bob")]
    page, total = list_approvals(store, limit=1, offset=1, now=T0 + 5)
    assert ([a.id for a in page], total) == (["soon"], 3)
    assert [a.id for a in list_approvals(store, run_id="run-late", now=T0 + 5)[0]] == ["late"]


def test_deadline_expires_an_unanswered_approval_once(store: Store) -> None:
    _create(store, "x", timeout=30)
    assert expire_due(store, now=T0 + 29) == 0
    assert get_approval(store, "x", now=T0 + 29).status == "pending"  # type: ignore[union-attr]
    assert expire_due(store, now=T0 + 31) == 1
    assert expire_due(store, now=T0 + 32) == 0
    expired = get_approval(store, "x", now=T0 + 33)
    assert expired is not None
    assert (expired.status, expired.decided_at, expired.decided_by) == ("expired", T0 + 30, "")
    assert [(e["action"], e["metadata"]) for e in _audit(store)] == [
        ("expired", {"approval_id": "x", "decided_by": "", "action_type": "deploy"})
    ]
    with pytest.raises(ApprovalNotPending, match="approval x is expired already"):
        decide_approval(store, "x", "approved", decided_by="alice", now=T0 + 34)


def test_an_answer_after_the_deadline_expires_the_approval_instead(store: Store) -> None:
    _create(store, "y", timeout=10)
    with pytest.raises(ApprovalNotPending, match="is expired already"):
        decide_approval(store, "y", "approved", decided_by="alice", now=T0 + 11)
    assert get_approval(store, "y", now=T0 + 11).status == "expired"  # type: ignore[union-attr]
    assert [e["action"] for e in _audit(store)] == ["expired"]


def test_close_keeps_an_answer_that_came_first(store: Store) -> None:
    _create(store, "c1")
    _create(store, "c2")
    decide_approval(store, "c1", "approved", decided_by="alice", now=T0 + 1)
    assert close_approval(store, "c1", "expired", by="agent", now=T0 + 2).status == "approved"
    closed = close_approval(store, "c2", "cancelled", by="agent", now=T0 + 2)
    assert (closed.status, closed.decided_by, closed.decided_at) == ("cancelled", "agent", T0 + 2)
    assert sorted(e["action"] for e in _audit(store)) == ["approved", "cancelled"]
    with pytest.raises(ApprovalNotFound):
        close_approval(store, "nope")
    with pytest.raises(ValueError, match="status must be 'expired' or 'cancelled'"):
        close_approval(store, "c2", "approved")


def test_create_is_idempotent_by_id(store: Store) -> None:
    first = create_approval(
        store, approval_id="same", agent_name="a", timeout_seconds=60, reason="one", now=T0
    )
    again = create_approval(
        store, approval_id="same", agent_name="b", timeout_seconds=5, reason="two", now=T0 + 1
    )
    assert again == first
    assert list_approvals(store, now=T0 + 2)[1] == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"agent_name": " "}, "agent_name must not be empty"),
        ({"timeout_seconds": 0}, "timeout_seconds must be > 0"),
        ({"timeout_seconds": float("inf")}, "timeout_seconds must be > 0"),
        ({"timeout_seconds": 8 * 24 * 3600}, "at most 604800"),
        ({"approvers": "alice"}, "approvers must be a list of names"),
        ({"approvers": ["alice", ""]}, "approvers must be non-empty names"),
        ({"run_id": "r" * 65}, "run_id must be at most 64 characters"),
        ({"metadata": ["x"]}, "metadata must be a dict"),
    ],
)
def test_bad_input_is_refused_by_name(store: Store, changes: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"agent_name": "a", "timeout_seconds": 60}
    arguments.update(changes)
    with pytest.raises(ValueError, match=message):
        create_approval(store, **arguments)  # type: ignore[arg-type]
    assert list_approvals(store)[1] == 0


def test_bad_answers_are_refused(store: Store) -> None:
    _create(store, "z")
    with pytest.raises(ValueError, match="answer must be one of approved, denied"):
        decide_approval(store, "z", "maybe", decided_by="alice", now=T0)
    with pytest.raises(ValueError, match="decided_by must name who answers"):
        decide_approval(store, "z", "approved", decided_by=" ", now=T0)
    with pytest.raises(ApprovalNotFound, match="no approval 'nope'"):
        decide_approval(store, "nope", "approved", decided_by="alice", now=T0)
    with pytest.raises(ValueError, match="status must be one of pending, approved"):
        list_approvals(store, status="open")
    assert _audit(store) == []


def test_only_a_named_approver_may_answer(store: Store) -> None:
    _create(store, "named")
    with pytest.raises(ApprovalNotAllowed) as refused:
        decide_approval(store, "named", "approved", decided_by="mallory", now=T0 + 1)
    assert str(refused.value) == "'mallory' may not answer approval named: its approvers are alice, bob"
    still = get_approval(store, "named", now=T0 + 2)
    assert still is not None and (still.status, still.decided_by) == ("pending", "")
    decided = decide_approval(store, "named", "denied", decided_by=" Bob ", now=T0 + 3)  # any case, trimmed
    assert (decided.status, decided.decided_by) == ("denied", " Bob ")
    anyone = create_approval(store, approval_id="open", agent_name="a", timeout_seconds=60, now=T0)
    assert may_decide(anyone, "whoever") and not may_decide(decided, "mallory")
    assert decide_approval(store, "open", "approved", decided_by="whoever", now=T0 + 1).status == "approved"

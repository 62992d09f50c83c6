"""The read API (docs/read-api.md) over a known set of runs, with exact values, on both databases."""

from __future__ import annotations

from typing import Any

import pytest

from waxell_observe.store.reader import iso

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
DAY = 86_400.0


@pytest.fixture
def runs(api: Any) -> Any:
    """Four runs: A and B share session s1; C is A's child; D is still running."""

    def run(
        run_id: str, agent: str, started: float, ended: float | None, *, calls=(), status="success", **start
    ):
        api.start(run_id=run_id, agent_name=agent, started_at=started, **start)
        if calls:
            api.post(
                f"runs/{run_id}/llm-calls/",
                {
                    "calls": [
                        {"model": m, "tokens_in": i, "tokens_out": o, "cost": c, "provider": p}
                        for m, p, i, o, c in calls
                    ]
                },
            )
        if ended is not None:
            api.post(f"runs/{run_id}/complete/", {"status": status, "ended_at": ended})

    run("A", "alpha", T0, T0 + 10, calls=[("gpt-4o", "openai", 100, 50, 1.0)], session_id="s1", user_id="u1",
        tags={"env": "prod"})  # fmt: skip
    run(
        "B",
        "beta",
        T0 + 3600,
        T0 + 3700,
        calls=[("claude-sonnet-4", "anthropic", 200, 20, 2.0)],
        status="error",
        session_id="s1",
        user_id="u2",
    )
    api.post("runs/B/steps/", {"steps": [
        {"step_name": "io:user_message", "position": 1, "started_at": T0 + 3601,
         "output": {"_kind": "user_message", "preview": "hi there"}},
        {"step_name": "io:agent_response", "position": 2, "started_at": T0 + 3602,
         "output": {"_kind": "agent_response", "preview": "hello!"}},
    ]})  # fmt: skip
    run("C", "alpha", T0 + DAY, T0 + DAY + 5, calls=[("gpt-4o", "openai", 10, 10, 0.5)], user_id="u1",
        parent_workflow_id="A", tags={"env": "dev"})  # fmt: skip
    run("D", "alpha", T0 + 2 * DAY, None, session_id="s2")
    return api


def ids(page: dict[str, Any]) -> list[str]:
    return [r["run_id"] for r in page["runs"]]


def test_list_runs_filters_orders_pages_and_totals(runs: Any) -> None:
    page = runs.read("runs/")
    assert ids(page) == ["D", "C", "B", "A"]
    assert (page["total"], page["limit"], page["offset"]) == (4, 50, 0)
    assert page["totals"] == {"runs": 4, "tokens": 390, "cost": 3.5, "errors": 1, "error_rate": 0.25}
    assert page["runs"][3] == {
        "run_id": "A", "agent_name": "alpha", "workflow_name": "default", "status": "success", "error": "",
        "session_id": "s1", "user_id": "u1", "user_group": "", "parent_run_id": "", "root_run_id": "",
        "started_at": iso(T0), "ended_at": iso(T0 + 10), "duration_ms": 10000.0, "tokens_in": 100,
        "tokens_out": 50, "total_tokens": 150, "total_cost": 1.0, "llm_call_count": 1, "step_count": 0,
        "span_count": 0, "tags": {"env": "prod"},
    }  # fmt: skip
    assert ids(runs.read("runs/", agent_name="alpha")) == ["D", "C", "A"]
    assert ids(runs.read("runs/", status="error")) == ["B"]
    assert ids(runs.read("runs/", session_id="s1")) == ["B", "A"]
    assert ids(runs.read("runs/", user_id="u1")) == ["C", "A"]
    assert ids(runs.read("runs/", tag="env:prod")) == ["A"]
    assert ids(runs.read("runs/", tag="env")) == ["C", "A"]
    assert ids(runs.read("runs/", since=T0 + 1, until=T0 + DAY + 1)) == ["C", "B"]
    assert ids(runs.read("runs/", since="2023-11-15T00:00:00Z")) == ["D", "C"]
    assert ids(runs.read("runs/", roots_only="true")) == ["D", "B", "A"]
    assert ids(runs.read("runs/", order_by="total_cost", order="asc")) == ["D", "C", "A", "B"]
    assert ids(runs.read("runs/", order_by="agent_name", order="asc")) == ["A", "C", "D", "B"]
    paged = runs.read("runs/", limit=2, offset=1)
    assert (ids(paged), paged["total"], paged["limit"], paged["offset"]) == (["C", "B"], 4, 2, 1)
    filtered = runs.read("runs/", agent_name="alpha", limit=1)
    assert filtered["total"] == 3
    assert filtered["totals"] == {"runs": 3, "tokens": 170, "cost": 1.5, "errors": 0, "error_rate": 0.0}


def test_run_detail_and_unknown_run(runs: Any) -> None:
    run = runs.read("runs/A/")
    assert [c["run_id"] for c in run["children"]] == ["C"]
    assert run["llm_calls"][0]["model"] == "gpt-4o"
    assert runs.read("runs/nope/", expect=404) == {"detail": "unknown run 'nope'"}
    runs.start(run_id="r" * 64)
    assert runs.read(f"runs/{'r' * 64}/")["run_id"] == "r" * 64
    runs.read(f"runs/{'r' * 65}/", expect=404)  # an over-long id is not cut down to an existing one


def test_sessions(runs: Any) -> None:
    s1 = {
        "session_id": "s1", "run_count": 2, "total_tokens": 370, "total_cost": 3.0, "first_seen": iso(T0),
        "last_seen": iso(T0 + 3700), "agents": ["alpha", "beta"], "user_ids": ["u1", "u2"],
    }  # fmt: skip
    s2 = {
        "session_id": "s2",
        "run_count": 1,
        "total_tokens": 0,
        "total_cost": 0.0,
        "first_seen": iso(T0 + 2 * DAY),
        "last_seen": iso(T0 + 2 * DAY),
        "agents": ["alpha"],
        "user_ids": [],
    }
    assert runs.read("sessions/") == {"sessions": [s2, s1], "total": 2}
    assert runs.read("sessions/", agent_name="beta") == {"sessions": [s1], "total": 1}
    assert runs.read("sessions/", user_id="u2") == {"sessions": [s1], "total": 1}
    assert runs.read("sessions/", limit=1, offset=1) == {"sessions": [s1], "total": 2}
    detail = runs.read("sessions/s1/")
    assert {k: detail[k] for k in s1} == s1
    assert ids(detail) == ["A", "B"]
    assert detail["conversation"] == [
        {"run_id": "B", "kind": "user_message", "text": "hi there", "at": iso(T0 + 3601)},
        {"run_id": "B", "kind": "agent_response", "text": "hello!", "at": iso(T0 + 3602)},
    ]
    assert runs.read("sessions/nope/", expect=404) == {"detail": "unknown session 'nope'"}


def test_users(runs: Any) -> None:
    u1 = {"user_id": "u1", "run_count": 2, "total_tokens": 170, "total_cost": 1.5, "first_seen": iso(T0),
          "last_seen": iso(T0 + DAY + 5)}  # fmt: skip
    u2 = {
        "user_id": "u2",
        "run_count": 1,
        "total_tokens": 220,
        "total_cost": 2.0,
        "first_seen": iso(T0 + 3600),
        "last_seen": iso(T0 + 3700),
    }
    assert runs.read("users/") == {"users": [u1, u2], "total": 2}
    assert runs.read("users/", limit=1, offset=1) == {"users": [u2], "total": 2}
    detail = runs.read("users/u1/")
    assert {k: detail[k] for k in u1} == u1
    assert detail["by_model"] == [
        {"model": "gpt-4o", "calls": 2, "tokens_in": 110, "tokens_out": 60, "cost": 1.5}
    ]
    assert ids(detail) == ["C", "A"]
    assert runs.read("users/nobody/", expect=404) == {"detail": "unknown user 'nobody'"}


def test_costs(runs: Any) -> None:
    assert runs.read("costs/") == {
        "by_model": [
            {
                "model": "claude-sonnet-4",
                "provider": "anthropic",
                "calls": 1,
                "tokens_in": 200,
                "tokens_out": 20,
                "cost": 2.0,
            },
            {
                "model": "gpt-4o",
                "provider": "openai",
                "calls": 2,
                "tokens_in": 110,
                "tokens_out": 60,
                "cost": 1.5,
            },
        ],
        "by_agent": [
            {"agent_name": "beta", "runs": 1, "tokens": 220, "cost": 2.0},
            {"agent_name": "alpha", "runs": 3, "tokens": 170, "cost": 1.5},
        ],
        "by_day": [
            {"day": "2023-11-14", "runs": 2, "tokens": 370, "cost": 3.0},
            {"day": "2023-11-15", "runs": 1, "tokens": 20, "cost": 0.5},
            {"day": "2023-11-16", "runs": 1, "tokens": 0, "cost": 0.0},
        ],
        "total_cost": 3.5,
    }
    later = runs.read("costs/", since=T0 + DAY)
    assert [d["day"] for d in later["by_day"]] == ["2023-11-15", "2023-11-16"]
    assert later["total_cost"] == 0.5
    beta = runs.read("costs/", agent_name="beta", until="2023-11-15")
    assert (beta["total_cost"], [m["model"] for m in beta["by_model"]]) == (2.0, ["claude-sonnet-4"])


def test_agents(runs: Any) -> None:
    assert runs.read("agents/") == {
        "agents": [
            {"agent_name": "alpha", "runs": 3, "last_seen": iso(T0 + 2 * DAY)},
            {"agent_name": "beta", "runs": 1, "last_seen": iso(T0 + 3600)},
        ]
    }


def test_empty_store(api: Any) -> None:
    assert api.read("runs/")["totals"] == {
        "runs": 0,
        "tokens": 0,
        "cost": 0.0,
        "errors": 0,
        "error_rate": 0.0,
    }
    assert api.read("sessions/") == {"sessions": [], "total": 0}
    assert api.read("users/") == {"users": [], "total": 0}
    assert api.read("costs/") == {"by_model": [], "by_agent": [], "by_day": [], "total_cost": 0.0}
    assert api.read("audit/") == {"events": [], "total": 0}
    assert api.read("agents/") == {"agents": []}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 0}, "query parameter limit: Input should be greater than or equal to 1"),
        ({"limit": 501}, "query parameter limit: Input should be less than or equal to 500"),
        (
            {"since": "yesterday"},
            "query parameter since: expected epoch seconds or an ISO 8601 time, got 'yesterday'",
        ),
        ({"order": "up"}, "query parameter order: Input should be 'asc' or 'desc'"),
        ({"offset": -1}, "query parameter offset: Input should be greater than or equal to 0"),
    ],
)
def test_bad_query_parameters_are_422_naming_them(api: Any, params: dict[str, Any], message: str) -> None:
    reply = api.read("runs/", expect=422, **params)
    assert reply["message"] == message
    assert reply["detail"][0]["loc"] == ["query", next(iter(params))]


def test_unknown_order_by_is_422(api: Any) -> None:
    reply = api.read("runs/", expect=422, order_by="bogus")
    assert reply["message"].startswith("query parameter order_by: Input should be 'started_at', 'ended_at'")

"""The read side's rollups (``store/rollups.py``) stay exact, and the read API answers from them
exactly what aggregating the runs directly gives, on SQLite and PostgreSQL.

Runs are written through the three paths that write LLM calls — the wire protocol (the server's
ingest), the embedded sink (``WaxellContext``) and the OTLP receiver — with re-deliveries, then
changed by hand in every way the triggers must follow. Two oracles:

* the rollups kept by the triggers equal :func:`rollups.rebuild`'s recomputation, table by table;
* every read endpoint equals an independent Python computation over all stored runs and calls.

Costs are multiples of 1/64 so that float sums are exact in any order.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import time
from collections import defaultdict
from typing import Any

import pytest
from rollup_check import KEYS, assert_rollups_exact
from sqlalchemy import inspect, text

import waxell_observe
from waxell_observe import WaxellContext
from waxell_observe.config import set_config
from waxell_observe.store import Store, get_store, rollups, writer
from waxell_observe.store.reader import iso
from waxell_observe.store.schema import llm_calls, runs

DAY = 86_400.0
T0 = 1_700_006_400.0  # 2023-11-15T00:00:00Z, a UTC midnight
AGENTS = ["alpha", "beta", "gamma"]
MODELS = [("gpt-4o", "openai"), ("claude-sonnet-4", "anthropic"), ("gemini-2.5-flash", "google")]

# -- the oracle: the read API computed in Python over every stored run and call ---------------


def _day(dialect: str, ts: float) -> str:
    """The UTC day the database's day expression gives (SQLite rounds to ms, PostgreSQL to µs)."""
    rounded = round(ts * 1000) / 1000 if dialect == "sqlite" else round(ts * 1_000_000) / 1_000_000
    return dt.datetime.fromtimestamp(rounded, dt.timezone.utc).strftime("%Y-%m-%d")


class Oracle:
    def __init__(self, store: Store) -> None:
        self.dialect = store.dialect
        with store.read() as conn:
            self.runs = [dict(r._mapping) for r in conn.execute(runs.select())]
            self.calls = [dict(r._mapping) for r in conn.execute(llm_calls.select())]
        self.by_id = {r["run_id"]: r for r in self.runs}

    def matching(self, **f: Any) -> list[dict[str, Any]]:
        tag = f.pop("tag", "")
        key, _, value = tag.partition(":")
        since, until = f.pop("since", None), f.pop("until", None)
        roots_only = f.pop("roots_only", False)
        found = []
        for r in self.runs:
            if any(r[name] != v for name, v in f.items() if v):
                continue
            tags = r["tags"] if isinstance(r["tags"], dict) else json.loads(r["tags"] or "{}")
            if key and not (isinstance(tags.get(key), str) and (not value or tags[key] == value)):
                continue
            if (
                since is not None
                and r["started_at"] < since
                or until is not None
                and r["started_at"] >= until
            ):
                continue
            if roots_only and r["parent_run_id"]:
                continue
            found.append(r)
        return found

    def totals(self, **f: Any) -> dict[str, Any]:
        found = self.matching(**f)
        errors = sum(1 for r in found if r["status"] == "error")
        return {
            "runs": len(found),
            "tokens": sum(r["tokens_in"] + r["tokens_out"] for r in found),
            "cost": round(math.fsum(r["total_cost"] for r in found), 10),
            "errors": errors,
            "error_rate": round(errors / len(found), 6) if found else 0.0,
        }

    def page(self, order_by: str, descending: bool, offset: int, limit: int, **f: Any) -> list[str]:
        found = self.matching(**f)

        def key(r: dict[str, Any]) -> tuple[Any, ...]:
            value = r[order_by]
            if value is None:  # NULLs: smallest on SQLite, largest on PostgreSQL
                return (self.dialect == "postgresql", 0, r["run_id"])
            return (self.dialect != "postgresql", value, r["run_id"])

        ordered = sorted(found, key=key, reverse=descending)
        return [r["run_id"] for r in ordered[offset : offset + limit]]

    def costs(
        self, since: float | None = None, until: float | None = None, agent_name: str = ""
    ) -> dict[str, Any]:
        found = self.matching(since=since, until=until, agent_name=agent_name)
        ids = {r["run_id"] for r in found}
        agents: dict[str, list[Any]] = defaultdict(lambda: [0, 0, []])
        days: dict[str, list[Any]] = defaultdict(lambda: [0, 0, []])
        for r in found:
            for target in (agents[r["agent_name"]], days[_day(self.dialect, r["started_at"])]):
                target[0] += 1
                target[1] += r["tokens_in"] + r["tokens_out"]
                target[2].append(r["total_cost"])
        models: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, 0, 0, []])
        for c in self.calls:
            if c["run_id"] in ids:
                m = models[(c["model"], c["provider"])]
                m[0] += 1
                m[1] += c["tokens_in"]
                m[2] += c["tokens_out"]
                m[3].append(c["cost"])
        return {
            "by_model": [
                {
                    "model": k[0],
                    "provider": k[1],
                    "calls": v[0],
                    "tokens_in": v[1],
                    "tokens_out": v[2],
                    "cost": round(math.fsum(v[3]), 10),
                }
                for k, v in sorted(models.items(), key=lambda e: (-math.fsum(e[1][3]), e[0]))
            ],  # fmt: skip
            "by_agent": [
                {"agent_name": k, "runs": v[0], "tokens": v[1], "cost": round(math.fsum(v[2]), 10)}
                for k, v in sorted(agents.items(), key=lambda e: (-math.fsum(e[1][2]), e[0]))
            ],
            "by_day": [
                {"day": k, "runs": v[0], "tokens": v[1], "cost": round(math.fsum(v[2]), 10)}
                for k, v in sorted(days.items())
            ],
            "total_cost": round(math.fsum(r["total_cost"] for r in found), 10),
        }

    def groups(self, column: str, within: set[str] | None = None) -> list[dict[str, Any]]:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in self.runs:
            if r[column] and (within is None or r[column] in within):
                grouped[r[column]].append(r)
        result = [
            {
                column: key,
                "run_count": len(rs),
                "total_tokens": sum(r["tokens_in"] + r["tokens_out"] for r in rs),
                "total_cost": round(math.fsum(r["total_cost"] for r in rs), 10),
                "first_seen": iso(min(r["started_at"] for r in rs)),
                "last_seen": iso(
                    max(r["ended_at"] if r["ended_at"] is not None else r["started_at"] for r in rs)
                ),
                "_last": max(r["ended_at"] if r["ended_at"] is not None else r["started_at"] for r in rs),
            }
            for key, rs in grouped.items()
        ]
        result.sort(key=lambda g: (-g["_last"], g[column]))
        for g in result:
            del g["_last"]
        return result

    def sessions(self, agent_name: str = "", user_id: str = "") -> list[dict[str, Any]]:
        within = None
        if agent_name or user_id:  # sessions with a run of that agent (and one of that user)
            within = {r["session_id"] for r in self.runs}
            for column, value in (("agent_name", agent_name), ("user_id", user_id)):
                if value:
                    within &= {r["session_id"] for r in self.runs if r[column] == value}
        sessions = self.groups("session_id", within)
        for s in sessions:
            members = [r for r in self.runs if r["session_id"] == s["session_id"]]
            s["agents"] = sorted({r["agent_name"] for r in members if r["agent_name"]})
            s["user_ids"] = sorted({r["user_id"] for r in members if r["user_id"]})
        return sessions

    def agents(self) -> list[dict[str, Any]]:
        names = sorted({r["agent_name"] for r in self.runs})
        return [
            {
                "agent_name": a,
                "runs": sum(1 for r in self.runs if r["agent_name"] == a),
                "last_seen": iso(max(r["started_at"] for r in self.runs if r["agent_name"] == a)),
            }
            for a in names
        ]


# -- what the triggers kept vs. a recomputation ----------------------------------------------

# -- writing runs through the three paths ------------------------------------------------------


def _cost(n: int) -> float:
    return (n % 29 + 1) / 64


def deliver_over_wire(api: Any, count: int = 24) -> None:
    """Runs over several days, agents, statuses, sessions, users and tags; some batches twice."""
    for i in range(count):
        run_id = f"wire-{i:03d}"
        started = T0 + (i - count // 2) * 0.37 * DAY + (i % 5) * 600.0
        start: dict[str, Any] = {
            "run_id": run_id,
            "agent_name": AGENTS[i % 3],
            "started_at": started,
            "session_id": f"s{i % 5}" if i % 4 else "",
            "user_id": f"u{i % 4}" if i % 3 else "",
            "tags": {"env": "prod" if i % 2 else "dev", "team": f"t{i % 3}"} if i % 6 else {},
        }
        if i % 7 == 3:
            start["parent_workflow_id"] = f"wire-{i - 1:03d}"
        if i == 13:  # a tag on fewer than one run in 20: its key alone is looked up as a set
            start["tags"] = {**start["tags"], "rare": "yes"}
        api.start(**start)
        calls = [
            {"id": f"{run_id}-c{j}", "position": j + 1, "model": MODELS[(i + j) % 3][0],
             "provider": MODELS[(i + j) % 3][1], "tokens_in": 100 * (j + 1) + i, "tokens_out": 10 + i,
             "cost": _cost(i + j), "started_at": started + j}
            for j in range(i % 3 + 1)
        ]  # fmt: skip
        api.post(f"runs/{run_id}/llm-calls/", {"calls": calls})
        if i % 4 == 1:  # a retry after a lost reply: the same batch again
            api.post(f"runs/{run_id}/llm-calls/", {"calls": calls})
        if i % 8 != 7:  # a few stay running
            body: dict[str, Any] = {"status": ["success", "error", "success", "blocked"][i % 4],
                                    "ended_at": started + 30 + i}  # fmt: skip
            if i % 5 == 2:
                body["tags"] = {"env": "staging"}
            api.post(f"runs/{run_id}/complete/", body)
            if i % 6 == 5:
                api.post(f"runs/{run_id}/complete/", body)


def record_embedded(monkeypatch: pytest.MonkeyPatch, store_url: str) -> list[str]:
    monkeypatch.setenv("WAXELL_DB", store_url)
    set_config(None)
    dropped_before = waxell_observe.flush_sync(timeout=30).dropped  # counts since the process started
    ids = []
    for i in range(3):
        with WaxellContext(
            agent_name=AGENTS[i], session_id="s1" if i else "", user_id="u-embedded",
            tags={"env": "prod", "path": "embedded"}, enforce_policy=False,
        ) as ctx:  # fmt: skip
            ctx.record_llm_call(model=MODELS[i][0], tokens_in=1000 + i, tokens_out=50, cost=_cost(i + 7))
            ctx.record_llm_call(model=MODELS[(i + 1) % 3][0], tokens_in=20, tokens_out=5, cost=0.125)
            ids.append(ctx.run_id)
    report = waxell_observe.flush_sync(timeout=30)
    assert report.complete and report.dropped == dropped_before, report  # all in the store, none lost
    return ids


def _otlp_span(trace: str, span: str, name: str, attributes: dict[str, Any], start: float, end: float,
               parent: str = "") -> dict[str, Any]:  # fmt: skip
    def value(v: Any) -> dict[str, Any]:
        return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}

    body: dict[str, Any] = {
        "traceId": trace, "spanId": span, "name": name, "kind": 3,
        "startTimeUnixNano": str(int(start * 1e9)), "endTimeUnixNano": str(int(end * 1e9)),
        "attributes": [{"key": k, "value": value(v)} for k, v in attributes.items()],
    }  # fmt: skip
    if parent:
        body["parentSpanId"] = parent
    return body


def deliver_otlp(client: Any, count: int = 4) -> None:
    """Foreign traces: the LLM span first (a provisional run on the day of the call), then the
    root span — which moves the run's start (to the previous day for some) and names its agent —
    then everything again."""
    for i in range(count):
        trace = f"{i + 1:032x}"
        root, llm = f"{10 + i:016x}", f"{20 + i:016x}"
        root_start = T0 + i * DAY - 7200.0 * (i % 2)
        call = _otlp_span(trace, llm, "chat", {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": MODELS[i % 3][0],
            "gen_ai.provider.name": MODELS[i % 3][1], "gen_ai.usage.input_tokens": 300 + i,
            "gen_ai.usage.output_tokens": 30, "session.id": "s-otlp", "user.id": f"u{i % 2}",
        }, root_start + 7300.0, root_start + 7301.0, parent=root)  # fmt: skip
        first = _otlp_request([call])
        post_otlp(client, first)
        root_span = _otlp_span(trace, root, "workflow", {"gen_ai.agent.name": f"otlp-{i % 2}"},
                               root_start, root_start + 7400.0)  # fmt: skip
        post_otlp(client, _otlp_request([root_span]))
        post_otlp(client, _otlp_request([call, root_span]))


def _otlp_request(spans: list[dict[str, Any]]) -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "otlp-app"}}]}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}).encode()


def post_otlp(client: Any, body: bytes) -> None:
    response = client.post("/v1/traces", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text


# -- the read API against the oracle ---------------------------------------------------------------

TIMES = [None, T0, T0 - 0.5 * DAY, T0 + 1.25 * DAY + 17.5, T0 - 3 * DAY + 3600.0]


def check_read_api(api: Any, store: Store) -> None:
    oracle = Oracle(store)
    filters: list[dict[str, Any]] = [
        {},
        {"agent_name": "alpha"},
        {"status": "error"},
        {"status": "running"},
        {"tag": "env:prod"},
        {"tag": "team"},
        {"tag": "env:staging", "status": "success"},
        {"roots_only": True},
        {"agent_name": "beta", "roots_only": True, "status": "success"},
        {"tag": "env:dev", "agent_name": "gamma"},
        {"session_id": "s1"},
        {"user_id": "u2"},
        {"workflow_name": "default"},
        {"tag": "nope:x"},
        {"tag": "rare"},
        {"tag": "nope"},
    ]
    for base in filters:
        for since in TIMES:
            for until in (None, T0 + 0.75 * DAY, T0 + 3 * DAY):
                if since is not None and until is not None and since >= until:
                    continue
                params = {**base, "since": since, "until": until}
                query = {k: ("true" if v is True else v) for k, v in params.items() if v is not None}
                page = api.read("runs/", **query, limit=7)
                expected = oracle.totals(**{k: v for k, v in params.items()})
                assert page["totals"] == expected, params
                assert page["total"] == expected["runs"], params
                assert [r["run_id"] for r in page["runs"]] == oracle.page(
                    "started_at", True, 0, 7, **params
                ), params
    for order_by in (
        "started_at",
        "ended_at",
        "total_cost",
        "tokens_in",
        "llm_call_count",
        "agent_name",
        "status",
    ):
        for order in ("asc", "desc"):
            for offset in (0, 5, 30):
                page = api.read("runs/", order_by=order_by, order=order, offset=offset, limit=9)
                assert [r["run_id"] for r in page["runs"]] == oracle.page(
                    order_by, order == "desc", offset, 9
                )
    page = api.read("runs/", tag="env:prod", order="asc", offset=2, limit=4)
    assert [r["run_id"] for r in page["runs"]] == oracle.page("started_at", False, 2, 4, tag="env:prod")
    for since in TIMES:
        for until in (None, T0 + 0.75 * DAY, T0 + 2 * DAY + 0.004):
            for agent in ("", "alpha", "otlp-1"):
                query = {k: v for k, v in (("since", since), ("until", until), ("agent_name", agent)) if v}
                assert api.read("costs/", **query) == oracle.costs(since, until, agent), query
    sessions = oracle.sessions()
    assert api.read("sessions/", limit=500) == {"sessions": sessions, "total": len(sessions)}
    assert api.read("sessions/", limit=2, offset=1) == {"sessions": sessions[1:3], "total": len(sessions)}
    for filters_ in ({"agent_name": "alpha"}, {"user_id": "u1"}, {"agent_name": "beta", "user_id": "u2"}):
        expected_sessions = oracle.sessions(**filters_)
        assert api.read("sessions/", **filters_) == {
            "sessions": expected_sessions,
            "total": len(expected_sessions),
        }
    users = oracle.groups("user_id")
    assert api.read("users/", limit=500) == {"users": users, "total": len(users)}
    assert api.read("users/", limit=3, offset=2) == {"users": users[2:5], "total": len(users)}
    assert api.read("agents/") == {"agents": oracle.agents()}


# -- the tests ----------------------------------------------------------------------------------------


@pytest.fixture
def store(store_url: str, client: Any) -> Store:
    return get_store(store_url)


def test_three_write_paths_with_redelivery_keep_rollups_exact(
    api: Any, client: Any, store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliver_over_wire(api)
    embedded = record_embedded(monkeypatch, store_url)
    deliver_otlp(client)
    with store.read() as conn:
        stored = {r.run_id: r for r in conn.execute(runs.select())}
    assert len(stored) == 24 + 3 + 4
    assert {stored[r].llm_call_count for r in embedded} == {2}
    moved = stored[f"{2:032x}"]  # the OTLP root span moved this run back 2 hours, to the day before
    assert (moved.agent_name, moved.started_at, moved.status) == ("otlp-1", T0 + DAY - 7200.0, "success")
    assert_rollups_exact(store)
    check_read_api(api, store)


def test_every_kind_of_change_moves_the_contributions(api: Any, store: Store) -> None:
    deliver_over_wire(api, count=12)
    changes = [
        "UPDATE runs SET agent_name = 'delta' WHERE run_id = 'wire-001'",
        f"UPDATE runs SET started_at = started_at - {2 * DAY} WHERE run_id = 'wire-002'",  # other day
        "UPDATE runs SET status = 'error', parent_run_id = 'wire-000' WHERE run_id = 'wire-004'",
        "UPDATE runs SET session_id = 's9', user_id = '' WHERE run_id = 'wire-005'",  # leaves s0 / u1
        "UPDATE runs SET started_at = started_at + 5000 WHERE session_id = 's1'",  # bounds shrink inward
        "UPDATE runs SET ended_at = NULL WHERE run_id = 'wire-006'",
        'UPDATE runs SET tags = \'{"env": "qa", "n": 5}\' WHERE run_id = \'wire-007\'',
        "UPDATE runs SET total_cost = total_cost + 0.5, tokens_in = tokens_in + 7 WHERE run_id = 'wire-008'",
        "UPDATE llm_calls SET model = 'o3', cost = 0.75 WHERE id = 'wire-009-c0'",
        "UPDATE llm_calls SET run_id = 'wire-003' WHERE id = 'wire-009-c1'",
        "DELETE FROM llm_calls WHERE id = 'wire-010-c0'",
        "DELETE FROM runs WHERE run_id = 'wire-011'",
        "UPDATE runs SET run_id = 'renamed' WHERE run_id = 'wire-000'",
    ]
    for change in changes:
        with store.write() as conn:
            if store.dialect == "postgresql":
                change = change.replace('\'{"env": "qa", "n": 5}\'', '\'{"env": "qa", "n": 5}\'::jsonb')
            conn.execute(text(change))
        assert_rollups_exact(store)
    check_read_api(api, store)


def test_day_boundaries_follow_each_databases_rounding(api: Any, store: Store) -> None:
    """Runs half a millisecond around midnight: SQLite's day expression rounds to the millisecond
    (the run belongs to the next day), PostgreSQL's to the microsecond; ranges cut there."""
    for n, offset in enumerate((-0.0004, -0.0006, 0.0, 0.0004, -DAY - 0.0004, DAY - 0.0004)):
        api.start(run_id=f"edge-{n}", agent_name="edge", started_at=T0 + offset)
        api.post(f"runs/edge-{n}/llm-calls/", {"calls": [{"model": "gpt-4o", "tokens_in": 1, "tokens_out": 1,
                                                           "cost": _cost(n), "position": 1}]})  # fmt: skip
    oracle = Oracle(store)
    cuts = [T0 - DAY - 0.0005, T0 - 0.0005, T0 - 0.0004, T0, T0 + 0.0004, T0 + DAY - 0.0005, T0 + DAY]
    for since in [None, *cuts]:
        for until in [None, *cuts]:
            query = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
            assert api.read("costs/", **query) == oracle.costs(since, until), query
            assert api.read("runs/", **query)["totals"] == oracle.totals(since=since, until=until), query
    days = [d["day"] for d in api.read("costs/")["by_day"]]
    if store.dialect == "sqlite":
        assert days == ["2023-11-14", "2023-11-15", "2023-11-16"]
    else:
        assert days == ["2023-11-13", "2023-11-14", "2023-11-15"]


def test_tag_filters(api: Any, store: Store) -> None:
    long_value = "v" * 300  # longer than run_tags keeps: answered from the runs' JSON
    api.start(run_id="t1", agent_name="a", tags={"env": "prod", "blob": long_value}, started_at=T0)
    api.start(run_id="t2", agent_name="a", tags={"env": "prod-eu"}, started_at=T0 + 1)
    api.start(run_id="t3", agent_name="b", tags={"blob": long_value[:-1]}, started_at=T0 + 2)
    with store.read() as conn:
        assert sorted(
            tuple(r) for r in conn.execute(text("SELECT run_id, tag_key, length(tag_value) FROM run_tags"))
        ) == [
            ("t1", "blob", 256),
            ("t1", "env", 4),
            ("t2", "env", 7),
            ("t3", "blob", 256),
        ]

    def ids(**params: Any) -> tuple[list[str], int]:
        page = api.read("runs/", **params)
        return [r["run_id"] for r in page["runs"]], page["totals"]["runs"]

    assert ids(tag="env:prod") == (["t1"], 1)
    assert ids(tag="env") == (["t2", "t1"], 2)
    assert ids(tag="blob") == (["t3", "t1"], 2)
    assert ids(tag=f"blob:{long_value}") == (["t1"], 1)
    assert ids(tag=f"blob:{long_value[:256]}") == ([], 0)
    assert ids(tag=f"blob:{long_value[:-1]}") == (["t3"], 1)
    assert ids(tag="env:prod", agent_name="b") == ([], 0)


def test_an_old_store_is_upgraded_once_with_its_runs_counted(api: Any, store: Store, store_url: str) -> None:
    deliver_over_wire(api, count=10)
    with store.write() as conn:  # make it look like a version 1 store
        rollups_triggers = (
            "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'wx_%'"
            if store.dialect == "postgresql"
            else "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        )
        for (name,) in conn.execute(text(rollups_triggers)).all():
            table = "llm_calls" if name.startswith("wx_calls") else "runs"
            conn.execute(
                text(f"DROP TRIGGER {name}" + (f" ON {table}" if store.dialect == "postgresql" else ""))
            )
        for table in (
            "rollup_runs",
            "rollup_calls",
            "rollup_tags",
            "run_tags",
            "rollup_sessions",
            "rollup_users",
        ):
            conn.execute(text(f"DROP TABLE {table}"))
        for index in ("ix_runs_started_cover", "ix_runs_cost_run", "ix_runs_tokens_run", "ix_runs_calls_run",
                      "ix_runs_ended_run", "ix_llm_calls_run_cover"):  # fmt: skip
            conn.execute(text(f"DROP INDEX {index}"))
        conn.execute(text("CREATE INDEX ix_runs_started_at ON runs (started_at)"))
        conn.execute(text("CREATE INDEX ix_llm_calls_run ON llm_calls (run_id, position)"))
        conn.execute(text("DELETE FROM schema_info WHERE key = 'rollups'"))
        conn.execute(text("UPDATE schema_info SET value = '1' WHERE key = 'version'"))
    with store.write() as conn:  # written by an old version meanwhile: no triggers yet
        writer.start_run(
            conn, {"run_id": "old", "agent_name": "alpha", "started_at": T0, "tags": {"env": "old"}}
        )
    reopened = Store(store_url)
    try:
        with reopened.read() as conn:
            info = {str(k): str(v) for k, v in conn.execute(text("SELECT key, value FROM schema_info"))}
            indexes = {i["name"] for t in ("runs", "llm_calls") for i in inspect(conn).get_indexes(t)}
        assert (info["version"], info["rollups"]) == ("2", rollups.ROLLUPS_VERSION)
        assert {
            "ix_runs_started_cover",
            "ix_runs_cost_run",
            "ix_runs_ended_run",
            "ix_llm_calls_run_cover",
        } <= indexes
        assert not {"ix_runs_started_at", "ix_llm_calls_run"} & indexes
        assert_rollups_exact(reopened)
        with reopened.read() as conn:
            assert conn.execute(text("SELECT count(*) FROM run_tags WHERE tag_value = 'old'")).scalar() == 1
        check_read_api(api, reopened)
    finally:
        reopened.dispose()


@pytest.mark.postgres
def test_postgres_writers_never_wait_on_each_others_rollup_rows_and_compaction_folds_them(
    postgres_url: str,
) -> None:
    from waxell_observe.config import db_url_from

    store = Store(db_url_from(postgres_url))
    try:
        with store.engine.connect() as holder:
            transaction = holder.begin()  # a run of agent "hot" today, not committed yet
            writer.start_run(
                holder, {"run_id": "first", "agent_name": "hot", "started_at": T0, "tags": {"k": "v"}}
            )
            errors: list[BaseException] = []

            def second() -> None:
                try:
                    with store.write() as conn:
                        conn.execute(text("SET LOCAL lock_timeout = '2s'"))
                        writer.start_run(conn, {"run_id": "second", "agent_name": "hot", "started_at": T0 + 1,
                                                "tags": {"k": "v"}})  # fmt: skip
                        writer.add_llm_calls(conn, "second", [{"id": "c2", "model": "m", "cost": 0.5}])
                except BaseException as exc:  # noqa: BLE001 - asserted below
                    errors.append(exc)

            thread = threading.Thread(target=second)
            thread.start()
            thread.join(timeout=10)
            assert not thread.is_alive() and errors == []
            transaction.commit()
        threads = [
            threading.Thread(target=_write_runs, args=(store, f"w{n}", 25)) for n in range(4)
        ]  # four writers, same agent and day
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert_rollups_exact(store)
        before = _read_everything(store)
        with store.engine.connect() as conn, conn.begin():
            rollups.compact(conn)
        with store.read() as conn:
            for table, keys in KEYS.items():
                duplicated = conn.execute(
                    text(
                        f"SELECT count(*) FROM (SELECT 1 FROM {table} GROUP BY {', '.join(keys)} "
                        f"HAVING count(*) > 1) AS d"
                    )  # fmt: skip
                ).scalar()
                pending = conn.execute(text(f"SELECT count(*) FROM {table} WHERE NOT merged")).scalar()
                assert (duplicated, pending) == (0, 0), table
        assert_rollups_exact(store)
        assert _read_everything(store) == before
        assert before["totals"]["runs"] == 2 + 100
    finally:
        store.dispose()


def _blocked_on_a_lock(store: Store, pid: int | None = None) -> None:
    """Wait until the backend ``pid`` (else any other backend of the store's database) waits for a lock."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname "
        "= current_database() AND wait_event_type = 'Lock' "
        "AND pid <> pg_backend_pid()" + ("" if pid is None else f" AND pid = {int(pid)}")
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with store.read() as conn:
            if conn.execute(text(query)).scalar():
                return
        time.sleep(0.02)
    raise AssertionError("the other transaction never waited for a lock")


@pytest.mark.postgres
def test_postgres_a_rebuild_waits_for_a_compaction_in_progress(postgres_url: str) -> None:
    """The interleaving that counted runs twice, forced: a compaction has folded the pending rows
    but not committed when a rebuild starts. Without the shared lock the rebuild's DELETE waited
    for the folded rows only, skipped them once deleted, never saw the compaction's new row, and
    added its own recomputation to it (10 runs kept, rollups saying 20)."""
    from waxell_observe.config import db_url_from

    store = Store(db_url_from(postgres_url))
    assert store._compactor is not None
    store._compactor.stop()  # this test compacts by itself, at the moment it chooses
    try:
        _write_runs(store, "r", 10)
        with store.engine.connect() as compacting:
            transaction = compacting.begin()
            assert rollups.try_lock_compaction(compacting)  # as the compactor takes it
            rollups.compact(compacting)  # folded, not committed yet
            pids: list[int] = []
            errors: list[BaseException] = []
            started = threading.Event()

            def rebuild() -> None:
                try:
                    with store.engine.connect() as conn, conn.begin():
                        pids.append(int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one()))
                        started.set()
                        rollups.rebuild(conn)
                except BaseException as exc:  # noqa: BLE001 - asserted below
                    errors.append(exc)
                    started.set()

            thread = threading.Thread(target=rebuild)
            thread.start()
            assert started.wait(30) and pids, errors
            _blocked_on_a_lock(store, pids[0])
            transaction.commit()
        thread.join(timeout=60)
        assert not thread.is_alive() and errors == []
        with store.read() as conn:
            assert conn.execute(text("SELECT sum(runs) FROM rollup_runs")).scalar() == 10
            assert conn.execute(text("SELECT sum(calls) FROM rollup_calls")).scalar() == 10
        assert_rollups_exact(store)
    finally:
        store.dispose()


@pytest.mark.postgres
def test_postgres_an_upgrade_waits_for_a_compaction_in_progress(postgres_url: str) -> None:
    """A store opened by a newer version is upgraded (triggers replaced, rollups rebuilt) while
    another server's compactor holds the lock and only then touches the rollup tables: the upgrade
    waits for the lock before it locks any of those tables, so neither deadlocks nor double-counts."""
    from waxell_observe.config import db_url_from

    url = db_url_from(postgres_url)
    store = Store(url)
    assert store._compactor is not None
    store._compactor.stop()
    try:
        _write_runs(store, "r", 10)
        with store.write() as conn:  # written under an older rollups version: the next open upgrades
            conn.execute(text("UPDATE schema_info SET value = '2' WHERE key = 'rollups'"))
        errors: list[BaseException] = []
        opened: list[Store] = []

        def upgrade() -> None:
            try:
                opened.append(Store(url))
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        with store.engine.connect() as compacting:
            transaction = compacting.begin()
            assert rollups.try_lock_compaction(compacting)
            thread = threading.Thread(target=upgrade)
            thread.start()
            _blocked_on_a_lock(store)
            rollups.compact(compacting)
            transaction.commit()
        thread.join(timeout=60)
        assert not thread.is_alive() and errors == []
        with store.read() as conn:
            assert conn.execute(text("SELECT value FROM schema_info WHERE key = 'rollups'")).scalar() == (
                rollups.ROLLUPS_VERSION
            )
            assert conn.execute(text("SELECT sum(runs) FROM rollup_runs")).scalar() == 10
        assert_rollups_exact(store)
        for other in opened:
            other.dispose()
    finally:
        store.dispose()


def _write_runs(store: Store, prefix: str, count: int) -> None:
    for i in range(count):
        with store.write() as conn:
            run_id = f"{prefix}-{i}"
            writer.start_run(
                conn,
                {
                    "run_id": run_id,
                    "agent_name": "hot",
                    "started_at": T0 + i,
                    "user_id": "u",
                    "tags": {"k": "v"},
                },
            )
            writer.add_llm_calls(
                conn, run_id, [{"id": f"{run_id}-c", "model": "m", "tokens_in": 3, "cost": 0.25}]
            )
            writer.refresh_totals(conn, [run_id])
            writer.complete_run(conn, run_id, {"status": "success", "ended_at": T0 + i + 1})


def _read_everything(store: Store) -> dict[str, Any]:
    from waxell_observe.store import aggregates
    from waxell_observe.store.reader import RunFilter

    with store.read() as conn:
        return {
            "totals": aggregates.run_totals(conn, RunFilter()),
            "tagged": aggregates.run_totals(conn, RunFilter(tag_key="k", tag_value="v", since=T0 + 0.5)),
            "costs": aggregates.costs(conn),
            "agents": aggregates.list_agents(conn),
            "users": aggregates.list_users(conn),
        }


def test_the_compactor_runs_after_writes(store: Store) -> None:
    if store.dialect != "postgresql":
        assert store._compactor is None  # SQLite keeps one row per key: nothing to fold
        return
    compactor = store._compactor
    assert compactor is not None
    compactor.interval = 0.05
    _write_runs(store, "bg", 3)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with store.read() as conn:
            if not conn.execute(text("SELECT count(*) FROM rollup_runs WHERE NOT merged")).scalar():
                break
        time.sleep(0.05)
    with store.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM rollup_runs WHERE NOT merged")).scalar() == 0
    assert_rollups_exact(store)

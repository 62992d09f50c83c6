"""The real server: ``waxell-observe serve`` in a subprocess on 127.0.0.1.

- an independent client (plain httpx, speaking only the spec) delivers a full run and reads it back;
- ``kill -9`` in the middle of a stream of batches, then a restart: no corruption, and every
  batch the server acknowledged is there;
- several ``serve`` processes writing one PostgreSQL database at once, records of one run
  spread over all of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from waxell_observe.config import db_url_from
from waxell_observe.store import get_store

OBSERVE = "/api/v1/observe"
R = "/api/v1/read"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """What ``serve --db`` gets: a SQLite path or a postgresql:// URL."""
    if request.param == "sqlite":
        return str(tmp_path / "live.db")
    return str(request.getfixturevalue("postgres_url"))


def test_an_independent_client_delivers_a_run_and_reads_it_back(
    db: str, serve_process: Callable[..., Any]
) -> None:
    server = serve_process(db)
    with httpx.Client(base_url=server.url, timeout=10.0, follow_redirects=False) as http:
        check = http.post(
            f"{OBSERVE}/policy-check/",
            json={"agent_name": "indie", "workflow_name": "", "agent_id": "", "inputs": {"q": "hi"}},
        )
        assert check.status_code == 200 and check.json()["action"] == "allow"
        assert (
            http.get(f"{OBSERVE}/policy-manifest/", params={"agent_name": "indie"}).json()["manifest_version"]
            == "1"
        )
        assert http.get(f"{OBSERVE}/config/").json() == {
            "otel_endpoint": server.url.rstrip("/"),
            "tenant_id": "local",
            "tenant_slug": "local",
            "batch_ingest": "runs/batch/",
            "batch_max_runs": 1000,
        }
        started = http.post(
            f"{OBSERVE}/runs/start/",
            json={
                "agent_name": "indie",
                "workflow_name": "default",
                "inputs": {"q": "hi"},
                "metadata": {},
                "trace_id": "",
                "session_id": "chat-1",
                "user_id": "alice",
                "interaction_mode": "interactive",
            },
        )
        assert started.status_code == 201
        run_id = started.json()["run_id"]
        assert started.json()["workflow_id"] == run_id
        assert http.post(f"{OBSERVE}/runs/{run_id}/llm-calls/", json={"calls": [
            {"model": "gpt-4o", "tokens_in": 120, "tokens_out": 30, "cost": 0.002, "task": "answer",
             "prompt_preview": "hi", "response_preview": "hello", "status": "ok", "prompt_hash": "h1"},
            {"model": "gpt-4o-mini", "tokens_in": 10, "tokens_out": 1},
        ], "conversation_state": {"user_turns": 1, "message_count": 2}}).json() == {}  # fmt: skip
        assert (
            http.post(
                f"{OBSERVE}/runs/{run_id}/steps/",
                json={
                    "steps": [
                        {
                            "step_name": "io:user_message",
                            "output": {"_kind": "user_message", "preview": "hi"},
                            "position": 1,
                        },
                        {
                            "step_name": "tool:calculator",
                            "output": {"_kind": "tool_call", "input": {"x": 2}, "output": 4},
                            "position": 2,
                        },
                        {"step_name": "answer", "output": {"chars": 5}, "position": 3},
                        {
                            "step_name": "io:agent_response",
                            "output": {"_kind": "agent_response", "preview": "hello"},
                            "position": 4,
                        },
                    ]
                },
            ).json()
            == {}
        )
        assert http.post(f"{OBSERVE}/runs/{run_id}/spans/", json={"spans": [
            {"name": "chain", "kind": "chain", "status": "ok", "duration_ms": 12.5, "position": 5,
             "start_offset_ms": 1.0, "attributes": {}, "input_data": None, "output_data": None, "events": []},
        ]}).json() == {}  # fmt: skip
        assert (
            http.post(
                f"{OBSERVE}/runs/{run_id}/scores/",
                json={
                    "scores": [
                        {
                            "name": "helpful",
                            "data_type": "boolean",
                            "numeric_value": 1.0,
                            "string_value": "true",
                            "comment": "",
                        },
                    ]
                },
            ).json()
            == {}
        )
        completed = http.post(f"{OBSERVE}/runs/{run_id}/complete/", json={
            "result": {"answer": "hello"}, "status": "success", "error": "", "steps": [],
            "trace_id": "0" * 32, "root_span_id": "1" * 16,
        })  # fmt: skip
        assert completed.status_code == 200
        assert set(completed.json()) == {"run_id", "duration", "governance"}
        assert (
            http.post(
                f"{OBSERVE}/events/",
                json={
                    "events": [
                        {
                            "workflow_id": run_id,
                            "agent_name": "indie",
                            "workflow_name": "default",
                            "event": "approval_granted",
                            "metadata": {},
                        }
                    ]
                },
            ).json()
            == {}
        )
        assert http.post(
            f"{OBSERVE}/governance-decision/",
            json={
                "agent_name": "indie",
                "workflow_id": run_id,
                "surface": "run.complete",
                "decisions": [],
                "span_only": True,
            },
        ).json() == {"run_found": True}
        assert http.post(f"{OBSERVE}/runs//llm-calls/", json={"calls": []}).status_code == 404

        run = http.get(f"{R}/runs/{run_id}/").json()
        assert (run["agent_name"], run["status"], run["session_id"], run["user_id"]) == (
            "indie",
            "success",
            "chat-1",
            "alice",
        )
        assert (run["tokens_in"], run["tokens_out"], run["llm_call_count"]) == (130, 31, 2)
        assert [(s["kind"], s["name"]) for s in run["spans"]] == [
            ("io", "user_message"), ("tool", "calculator"), ("io", "agent_response"), ("chain", "chain")
        ]  # fmt: skip
        assert [s["name"] for s in run["steps"]] == ["answer"]
        assert run["scores"][0]["value"] is True
        assert run["conversation"] == {"user_turns": 1, "message_count": 2}
        assert run["result"] == {"answer": "hello"} and run["trace_id"] == "0" * 32
        session = http.get(f"{R}/sessions/chat-1/").json()
        assert [(c["kind"], c["text"]) for c in session["conversation"]] == [
            ("user_message", "hi"), ("agent_response", "hello")
        ]  # fmt: skip
        assert http.get(f"{R}/audit/", params={"run_id": run_id}).json()["total"] == 1
        assert http.get("/openapi.json").json()["paths"][f"{OBSERVE}/runs/start/"]["post"]
        assert http.get("/docs").status_code == 200


class Sender(threading.Thread):
    """Delivers runs (start, llm-calls, steps, complete) until the server goes away; remembers
    every request the server acknowledged."""

    def __init__(self, url: str, name: str) -> None:
        super().__init__(daemon=True)
        self.url, self.tag = url, name
        self.acked: list[tuple[str, str, Any]] = []
        self.stopped_by: Exception | None = None
        self.in_flight: tuple[str, str, str, Any] | None = None
        """The request the server never answered: (kind, run id, path, body)."""

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10.0) as http:
            i = 0
            while True:
                run_id = f"{self.tag}-{i}"
                calls = [{"id": f"{run_id}-c{j}", "model": "gpt-4o", "tokens_in": j + 1, "tokens_out": 1,
                          "cost": 0.001 * (j + 1), "position": j + 1} for j in range(20)]  # fmt: skip
                steps = [{"step_name": f"s{j}", "position": j + 1, "output": {"j": j}} for j in range(20)]
                requests = [
                    ("start", "runs/start/", {"agent_name": "stream", "run_id": run_id}),
                    ("llm", f"runs/{run_id}/llm-calls/", {"calls": calls}),
                    ("steps", f"runs/{run_id}/steps/", {"steps": steps}),
                    ("complete", f"runs/{run_id}/complete/", {"status": "success", "result": {"i": i}}),
                ]
                for kind, path, body in requests:
                    try:
                        response = http.post(f"{OBSERVE}/{path}", json=body)
                    except httpx.HTTPError as exc:
                        self.stopped_by = exc
                        self.in_flight = (kind, run_id, path, body)
                        return
                    assert response.status_code in (200, 201), response.text
                    self.acked.append((kind, run_id, body))
                i += 1


def _check_acknowledged(url: str, db: str, senders: list[Sender]) -> int:
    """Every acknowledged request is in the store ``db`` (what ``serve --db`` got), whole, and a
    SQLite file passes its integrity check; returns how many runs were checked."""
    store_url = db_url_from(db)
    checked = 0
    with httpx.Client(base_url=url, timeout=30.0) as http:
        for sender in senders:
            by_run: dict[str, set[str]] = {}
            for kind, run_id, _body in sender.acked:
                by_run.setdefault(run_id, set()).add(kind)
            for run_id, kinds in by_run.items():
                run = http.get(f"{R}/runs/{run_id}/").json()
                assert run["run_id"] == run_id
                if "llm" in kinds:
                    assert run["llm_call_count"] == 20 and run["tokens_in"] == 210, run_id
                else:
                    assert run["llm_call_count"] in (0, 20), run_id  # never a part of a batch
                if "steps" in kinds:
                    assert [s["position"] for s in run["steps"]] == list(range(1, 21)), run_id
                else:
                    assert len(run["steps"]) in (0, 20), run_id
                if "complete" in kinds:
                    assert (run["status"], run["result"]) == ("success", {"i": int(run_id.rsplit("-", 1)[1])})
                checked += 1
    if store_url.startswith("sqlite"):
        assert Path(db).is_file()
        with get_store(store_url).read() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    return checked


def test_kill_9_mid_stream_then_restart_loses_nothing_acknowledged(
    db: str, serve_process: Callable[..., Any]
) -> None:
    server = serve_process(db)
    senders = [Sender(server.url, f"t{n}") for n in range(3)]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 30
    while sum(len(s.acked) for s in senders) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill9()
    for sender in senders:
        sender.join(timeout=30)
        assert not sender.is_alive()
        assert sender.stopped_by is not None
    assert sum(len(s.acked) for s in senders) >= 40
    restarted = serve_process(db, port=server.port)
    assert _check_acknowledged(restarted.url, db, senders) >= 10
    # the request each sender had in flight (stored or not before the kill) can simply be retried:
    # it is then stored exactly once
    with httpx.Client(base_url=restarted.url, timeout=10.0) as http:
        for sender in senders:
            assert sender.in_flight is not None
            kind, run_id, path, body = sender.in_flight
            assert http.post(f"{OBSERVE}/{path}", json=body).status_code in (200, 201)
            run = http.get(f"{R}/runs/{run_id}/").json()
            if kind == "llm":
                assert (run["llm_call_count"], run["tokens_in"]) == (20, 210)
            elif kind == "steps":
                assert [s["position"] for s in run["steps"]] == list(range(1, 21))
            elif kind == "complete":
                assert run["status"] == "success"
            else:
                assert run["agent_name"] == "stream"


@pytest.mark.postgres
def test_several_servers_share_one_postgres_database(
    postgres_url: str, serve_process: Callable[..., Any]
) -> None:
    servers = [serve_process(postgres_url, wait=False) for _ in range(3)]  # start together: schema race
    for server in servers:
        server.wait_ready()
    errors: list[BaseException] = []

    def deliver(worker: int) -> None:
        try:
            clients = [httpx.Client(base_url=s.url, timeout=30.0) for s in servers]
            for i in range(8):
                run_id = f"w{worker}-{i}"
                first = clients[(worker + i) % 3]
                assert (
                    first.post(
                        f"{OBSERVE}/runs/start/", json={"agent_name": f"agent-{worker}", "run_id": run_id}
                    ).status_code
                    == 201
                )
                for part in range(3):  # one run's calls arrive through every server
                    calls = [
                        {
                            "id": f"{run_id}-{part}-{j}",
                            "model": "gpt-4o",
                            "tokens_in": 10,
                            "tokens_out": 1,
                            "cost": 0.25,
                        }
                        for j in range(5)
                    ]
                    reply = clients[(worker + i + part) % 3].post(
                        f"{OBSERVE}/runs/{run_id}/llm-calls/", json={"calls": calls}
                    )
                    assert reply.status_code == 200, reply.text
                done = clients[(worker + i + 1) % 3].post(
                    f"{OBSERVE}/runs/{run_id}/complete/", json={"status": "success"}
                )
                assert done.status_code == 200, done.text
            for client in clients:
                client.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    with httpx.Client(base_url=servers[2].url, timeout=30.0) as http:
        listing = http.get(f"{R}/runs/", params={"limit": 500}).json()
        assert listing["total"] == 24
        assert listing["totals"] == {
            "runs": 24,
            "tokens": 24 * 165,
            "cost": 24 * 3.75,
            "errors": 0,
            "error_rate": 0.0,
        }
        assert {r["status"] for r in listing["runs"]} == {"success"}
        assert {(r["llm_call_count"], r["tokens_in"], r["total_cost"]) for r in listing["runs"]} == {
            (15, 150, 3.75)
        }

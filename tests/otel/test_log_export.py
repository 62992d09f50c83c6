"""Python log records → OTLP ``/v1/logs`` → our control plane → the read API (issue 14, §4 and §5.4).

An agent process configured for a keyed control plane calls ``init_tracing()``; what it logs at INFO
and above while a run is active is filed under that run (``waxell_run_id``), what it logs outside runs
is kept without a run, DEBUG records and the export's own transport records are not sent. Real server
on 127.0.0.1, real agent process, real OpenTelemetry SDK exporter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from waxell_observe.store import get_store
from waxell_observe.store.run_logs import logs_of_run, run_logs

from .conftest import KeyedServer

AGENT = textwrap.dedent(
    """
    import json, logging, sys
    import waxell_observe

    api_url, api_key = sys.argv[1], sys.argv[2]
    waxell_observe.init(api_url=api_url, api_key=api_key)
    waxell_observe.init_tracing()
    app = logging.getLogger("shop.agent")
    app.info("before any run")
    with waxell_observe.WaxellContext("log-agent", "orders", enforce_policy=False) as ctx:
        app.info("looking up order %s", 42)
        app.debug("a debug line is not exported")
        app.warning("stock low for %s", "widget")
        logging.getLogger("urllib3.connectionpool").info("transport noise is not exported")
        run_id = ctx.run_id
    waxell_observe.flush_sync(timeout=20)
    print(json.dumps({"run_id": run_id}))
    """
)


def _wait_for_logs(store_url: str, run_id: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    store = get_store(store_url)
    while True:
        with store.read() as conn:
            records = logs_of_run(conn, run_id)
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def test_an_agents_log_lines_are_filed_under_its_run(keyed_server: KeyedServer, tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    done = subprocess.run(
        [sys.executable, str(script), keyed_server.base_url, keyed_server.key],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**_clean_env(), "WAXELL_DATA_DIR": str(tmp_path / "data")},
    )
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout.strip().splitlines()[-1])["run_id"]

    records = _wait_for_logs(keyed_server.store_url, run_id, 2)
    assert [(r["severity_text"], r["body"], r["logger"]) for r in records] == [
        ("INFO", "looking up order 42", "shop.agent"),
        ("WARN", "stock low for widget", "shop.agent"),
    ]
    assert {r["attributes"]["waxell_agent_name"] for r in records} == {"log-agent"}
    assert {r["attributes"]["waxell_workflow_name"] for r in records} == {"orders"}
    assert [r["severity_number"] for r in records] == [9, 13]

    reply = keyed_server.http.get(f"/api/v1/read/runs/{run_id}/logs/")
    assert reply.status_code == 200, reply.text
    assert [entry["body"] for entry in reply.json()["logs"]] == [
        "looking up order 42",
        "stock low for widget",
    ]
    warnings_only = keyed_server.http.get(f"/api/v1/read/runs/{run_id}/logs/", params={"min_severity": 13})
    assert [entry["body"] for entry in warnings_only.json()["logs"]] == ["stock low for widget"]

    with get_store(keyed_server.store_url).read() as conn:
        outside = [
            (row.logger, row.body) for row in conn.execute(select(run_logs).where(run_logs.c.run_id == ""))
        ]
        loggers = {row[0] for row in conn.execute(select(run_logs.c.logger))}
    assert ("shop.agent", "before any run") in outside
    # the debug line and the transports' records (urllib3, httpx: the SDK's own delivery) were not sent
    assert sorted(loggers - {"waxell_observe"}) == ["shop.agent"]


def test_the_receiver_wants_the_key_and_the_read_api_knows_its_runs(keyed_server: KeyedServer) -> None:
    anonymous = httpx.post(
        f"{keyed_server.base_url}/v1/logs", content=b"", headers={"Content-Type": "application/x-protobuf"}
    )
    assert anonymous.status_code == 401
    unknown = keyed_server.http.get("/api/v1/read/runs/no-such-run/logs/")
    assert unknown.status_code == 404
    wrong_type = keyed_server.http.post("/v1/logs", content=b"x", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415


def test_otlp_json_log_records_are_accepted(keyed_server: KeyedServer) -> None:
    document = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-app"}}]},
                "scopeLogs": [
                    {
                        "scope": {"name": "json.logger"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1700000000000000000",
                                "severityNumber": 17,
                                "severityText": "ERROR",
                                "body": {"stringValue": "payment failed"},
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                                "attributes": [
                                    {"key": "waxell_run_id", "value": {"stringValue": "json-run"}}
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    reply = keyed_server.http.post("/v1/logs", json=document)
    assert reply.status_code == 200, reply.text
    with get_store(keyed_server.store_url).read() as conn:
        (record,) = logs_of_run(conn, "json-run")
    assert (record["time"], record["severity_text"], record["body"], record["logger"]) == (
        1_700_000_000.0,
        "ERROR",
        "payment failed",
        "json.logger",
    )
    assert (record["trace_id"], record["span_id"]) == ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("WAXELL_", "OTEL_"))}

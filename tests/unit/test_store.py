"""The embedded store: idempotent writes, totals, several processes on one SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import waxell_observe
from waxell_observe import WaxellContext
from waxell_observe.store import Store, writer
from waxell_observe.store.reader import RunFilter, count_runs, get_run, list_runs


def test_default_location_and_wal(tmp_path: Path, monkeypatch: Any) -> None:
    from waxell_observe.config import default_db_path, resolve_config

    monkeypatch.delenv("WAXELL_DB")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_db_path() == tmp_path / ".waxell" / "observe.db"
    assert resolve_config().db_url == f"sqlite:///{tmp_path}/.waxell/observe.db"
    store = Store(resolve_config().db_url)
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert (tmp_path / ".waxell" / "observe.db").exists()


def test_writes_are_idempotent_and_totals_recomputed(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    run = {"run_id": "r1", "agent_name": "a", "workflow_name": "w", "started_at": 100.0}
    calls = [
        {"id": "c1", "model": "gpt-4o", "tokens_in": 10, "tokens_out": 5, "cost": 0.1, "position": 1},
        {"id": "c2", "model": "gpt-4o", "tokens_in": 1, "tokens_out": 2, "cost": 0.2, "position": 2},
    ]
    for _ in range(3):  # a batch delivered three times is stored once
        with store.write() as conn:
            writer.start_run(conn, run)
            writer.add_llm_calls(conn, "r1", calls)
            writer.add_steps(conn, "r1", [{"id": "s1", "position": 1, "name": "step"}])
            writer.refresh_totals(conn, ["r1"])
    with store.read() as conn:
        stored = get_run(conn, "r1")
    assert stored is not None
    assert (stored["tokens_in"], stored["tokens_out"], stored["total_cost"]) == (11, 7, 0.3)
    assert (stored["llm_call_count"], stored["step_count"]) == (2, 1)
    assert [c["id"] for c in stored["llm_calls"]] == ["c1", "c2"]


def test_oversize_strings_are_cut_not_rejected(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    with store.write() as conn:
        writer.start_run(conn, {"run_id": "r", "agent_name": "x" * 1000, "started_at": 1.0})
    with store.read() as conn:
        assert get_run(conn, "r")["agent_name"] == "x" * 256  # type: ignore[index]


def test_listing_filters_and_order(read_runs: Any) -> None:
    for i, (agent, status_error) in enumerate([("a", False), ("b", True), ("a", True)]):
        try:
            with WaxellContext(agent_name=agent, user_id=f"u{i}", session_id="s") as ctx:
                ctx.set_tag("n", str(i))
                if status_error:
                    raise RuntimeError(f"boom {i}")
        except RuntimeError:
            pass
    assert [r["tags"]["n"] for r in read_runs()] == ["2", "1", "0"]
    assert [r["tags"]["n"] for r in read_runs(agent_name="a")] == ["2", "0"]
    assert [r["tags"]["n"] for r in read_runs(status="error")] == ["2", "1"]
    assert [r["tags"]["n"] for r in read_runs(tag_key="n", tag_value="1")] == ["1"]
    assert [r["error"] for r in read_runs(status="error")] == ["boom 2", "boom 1"]


WRITER = textwrap.dedent(
    """
    import sys
    import waxell_observe
    from waxell_observe import WaxellContext
    worker_id = int(sys.argv[1])
    for i in range(int(sys.argv[2])):
        with WaxellContext(agent_name=f"proc-{worker_id}", enforce_policy=False) as ctx:
            ctx.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=5)
            ctx.record_step("s", output={"i": i})
        if i % 25 == 0:
            waxell_observe.flush_sync()
    report = waxell_observe.shutdown()
    assert report.dropped == 0 and report.pending == 0, report
    """
)


def test_several_processes_write_one_file_without_loss(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    env.update(WAXELL_DB=str(db), WAXELL_CONFIG_FILE=str(tmp_path / "none"))
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(n), "150"], env=env, stderr=subprocess.PIPE, text=True
        )
        for n in range(4)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        assert "locked" not in stderr
    store = Store(f"sqlite:///{db}")
    with store.read() as conn:
        assert count_runs(conn) == 600
        for n in range(4):
            runs = list_runs(conn, RunFilter(agent_name=f"proc-{n}"), limit=1000)
            assert len(runs) == 150
            assert {r["status"] for r in runs} == {"success"}
            assert sum(r["total_tokens"] for r in runs) == 150 * 15
        steps = conn.exec_driver_sql("SELECT COUNT(*) FROM steps").scalar()
        assert steps == 600


def test_flush_reports_what_was_written(read_runs: Any) -> None:
    before = waxell_observe.flush_sync(timeout=10).sent
    with WaxellContext(agent_name="a") as ctx:
        ctx.record_step("one")
        ctx.record_score("s", 1.0)
    report = waxell_observe.flush_sync(timeout=10)
    assert report.sent - before == 4  # start+end merged into one run row, step, score
    assert report.sinks["embedded"].pending == 0
    assert [r["run_id"] for r in read_runs()] == [ctx.run_id]

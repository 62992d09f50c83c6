"""The on-disk spool: segments written whole, bounded, readable after damage, one replaying process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from waxell_observe.delivery.run_state import RunState
from waxell_observe.delivery.spool import Spool, destination_key, max_spool_bytes, spool_root


def _entries(n: int) -> list[dict[str, object]]:
    return [{"run_id": f"run{i}", "start": {"agent_name": "a", "inputs": {"i": i}}} for i in range(n)]


def test_write_load_rewrite_remove(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "dest", "http://cp")
    first = spool.write(_entries(3))
    second = spool.write(['{"run_id":"text-entry","complete":{"status":"success"}}'])
    assert first is not None and second is not None
    assert spool.segments() == [first, second]
    assert spool.load(first) == _entries(3)
    assert spool.load(second) == [{"run_id": "text-entry", "complete": {"status": "success"}}]
    spool.rewrite(first, _entries(3)[2:])
    assert spool.load(first) == _entries(3)[2:]
    spool.rewrite(first, [])
    assert spool.segments() == [second] and spool.load(first) is None
    spool.remove(second)
    assert spool.segments() == [] and spool.size() == 0
    assert spool.write([]) is None


def test_the_spool_is_bounded(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "dest", "http://cp", max_bytes=2_000)
    assert spool.write(_entries(10)) is not None
    used = spool.size()
    assert 0 < used <= 2_000
    assert spool.write(_entries(40)) is None  # would pass the bound: refused whole
    assert spool.size() == used


def test_damaged_lines_are_skipped_and_unreadable_segments_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "dest", "http://cp")
    path = spool.write(_entries(3))
    assert path is not None
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1], "{truncated", lines[3], '["no run id"]']) + "\n")
    assert [e["run_id"] for e in spool.load(path) or []] == ["run0", "run2"]
    assert "skipped 2 unreadable line(s)" in caplog.text
    path.write_bytes(b"\xff\xfe not utf-8")
    assert spool.load(path) is None
    assert spool.segments() == [] and path.with_name(path.name + ".corrupt").exists()


def test_run_states_round_trip_through_the_spool(tmp_path: Path) -> None:
    state = RunState("r1")
    state.server_id, state.workflow_id = "srv-1", "wf-1"
    state.start = (1, {"agent_name": "a"}, '{"agent_name":"a"}')
    state.llm_calls = [(2, '{"model":"m","tokens_in":1}', 1)]
    state.steps = [(3, '{"step_name":"s"}', 1), (4, '{"step_name":"tool:t","output":{"_kind":"tool_call"}}', 0)]
    state.complete = (5, '{"status":"success"}')
    spool = Spool(tmp_path / "dest", "http://cp")
    path = spool.write([state.entry_text()])
    assert path is not None
    (entry,) = spool.load(path) or []
    back = RunState.from_entry(entry)
    assert (back.run_id, back.server_id, back.workflow_id, back.live) == ("r1", "srv-1", "wf-1", False)
    assert back.start is not None and back.start[1] == {"agent_name": "a"}
    assert [(r[1], r[2]) for r in back.llm_calls] == [('{"model":"m","tokens_in":1}', 1)]
    assert [(r[1], r[2]) for r in back.steps] == [
        ('{"step_name":"s"}', 1), ('{"step_name":"tool:t","output":{"_kind":"tool_call"}}', 0)
    ]  # fmt: skip
    assert back.complete is not None and back.complete[1] == '{"status":"success"}'
    assert (back.weight(), state.weight()) == (4, 4)  # the behaviour twin weighs nothing


def test_only_one_process_replays_a_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "dest", "http://cp")
    spool.write(_entries(1))
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from waxell_observe.delivery.spool import Spool
            spool = Spool(Path({str(tmp_path / "dest")!r}), "http://cp")
            assert spool.lock.acquire()
            print("locked", flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert spool.lock.acquire() is False
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(30)
    assert spool.lock.acquire() is True  # released when the holder ended
    spool.lock.release()


def test_where_the_spool_lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAXELL_SPOOL_DIR", str(tmp_path / "custom"))
    assert spool_root() == tmp_path / "custom"
    spool = Spool.for_destination("https://cp.example/")
    assert spool.directory == tmp_path / "custom" / destination_key("https://cp.example")
    assert destination_key("https://a") != destination_key("https://b")
    monkeypatch.delenv("WAXELL_SPOOL_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert spool_root() == tmp_path / "xdg" / "waxell-observe" / "spool"
    monkeypatch.setenv("WAXELL_SPOOL_MAX_MB", "1.5")
    assert max_spool_bytes() == int(1.5 * 1024 * 1024)
    monkeypatch.setenv("WAXELL_SPOOL_MAX_MB", "lots")
    assert max_spool_bytes() == 256 * 1024 * 1024


def test_the_id_map_survives(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "dest", "http://cp")
    assert spool.load_ids() == {}
    spool.save_ids({"ours": ["theirs", "their-workflow"]})
    assert Spool(tmp_path / "dest", "http://cp").load_ids() == {"ours": ["theirs", "their-workflow"]}

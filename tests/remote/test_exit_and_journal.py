"""Process exit is bounded, what is left goes to the spool, and the next process delivers it
(exactly once, even when two processes start together). Real subprocesses, real sockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from remote_stubs import HungServer, ProtocolStub, free_port

from waxell_observe.delivery.spool import Spool
from waxell_observe.lifecycle import EXIT_TIMEOUT_SECONDS

AGENT = textwrap.dedent(
    """
    import json, sys, time
    import waxell_observe
    from waxell_observe import WaxellContext, WaxellObserveClient

    api_url, runs, ids_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    WaxellObserveClient.configure(api_url=api_url, api_key="")
    ids = []
    for i in range(runs):
        with WaxellContext(agent_name="exit-agent", inputs={"i": i}, enforce_policy=False) as ctx:
            ctx.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=i)
            ctx.record_step("work", output={"i": i})
            ctx.set_result({"i": i})
        ids.append(ctx.run_id)
    with open(ids_file, "w") as handle:
        json.dump(ids, handle)
    if len(sys.argv) > 4:
        report = waxell_observe.flush(timeout=float(sys.argv[4]))
        print(json.dumps({"flush_pending": report.sinks["remote"].pending}), flush=True)
    print(json.dumps({"recorded_at": time.time()}), flush=True)
    """
)


def _env(spool: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WAXELL_", "OTEL_"))}
    env["WAXELL_SPOOL_DIR"] = str(spool)
    env["WAXELL_DB"] = str(spool.parent / "agent.db")
    env["WAXELL_CONFIG_FILE"] = str(spool.parent / "no-config")
    return env


def _agent(tmp_path: Path, name: str, api_url: str, runs: int, *extra: str) -> subprocess.Popen[str]:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    return subprocess.Popen(
        [sys.executable, str(script), api_url, str(runs), str(tmp_path / f"{name}.json"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path / "spool"),
    )  # fmt: skip


def _spooled(tmp_path: Path, api_url: str) -> list[dict[str, Any]]:
    spool = Spool.for_destination(api_url, root=tmp_path / "spool")
    return [entry for path in spool.segments() for entry in spool.load(path) or []]


def test_exit_with_10000_runs_pending_and_a_hung_control_plane_is_bounded(tmp_path: Path) -> None:
    hung = HungServer()
    try:
        proc = _agent(tmp_path, "agent", hung.url, 10_000)
        out, err = proc.communicate(timeout=120)
        exited_at = time.time()
    finally:
        hung.close()
    assert proc.returncode == 0, err
    recorded_at = json.loads(out.strip().splitlines()[-1])["recorded_at"]
    exit_seconds = exited_at - recorded_at
    print(f"exit took {exit_seconds:.3f}s with 10,000 runs pending and a hung control plane")
    assert exit_seconds < EXIT_TIMEOUT_SECONDS + 0.5, f"exit took {exit_seconds:.2f}s"

    ids = json.loads((tmp_path / "agent.json").read_text())
    entries = _spooled(tmp_path, hung.url)
    assert sorted(e["run_id"] for e in entries) == sorted(ids)
    by_id = {e["run_id"]: e for e in entries}
    sample = by_id[ids[1234]]
    assert sample["start"]["inputs"] == {"i": 1234} and sample["complete"]["result"] == {"i": 1234}
    assert [c["tokens_out"] for c in sample["llm_calls"]] == [1234]
    assert [s["step_name"] for s in sample["steps"]] == ["work"]
    assert "wax_sk" not in "".join(p.read_text() for p in (tmp_path / "spool").rglob("*.jsonl"))


def test_runs_spooled_while_down_are_delivered_once_by_the_next_processes(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = _agent(tmp_path, "first", url, 30)
    _out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    spooled_ids = json.loads((tmp_path / "first.json").read_text())
    assert sorted(e["run_id"] for e in _spooled(tmp_path, url)) == sorted(spooled_ids)

    server = ProtocolStub(port=port)
    try:
        # Two processes start together: one of them delivers the spool, neither twice.
        second = _agent(tmp_path, "second", url, 1, "15")
        third = _agent(tmp_path, "third", url, 1, "15")
        for proc in (second, third):
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert json.loads(out.strip().splitlines()[0]) == {"flush_pending": 0}
        deadline = time.monotonic() + 20
        while _spooled(tmp_path, url) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _spooled(tmp_path, url):  # both exited before their next look at the spool
            fourth = _agent(tmp_path, "fourth", url, 1, "15")
            fourth.communicate(timeout=60)
        assert _spooled(tmp_path, url) == []
        for i, run_id in enumerate(spooled_ids):
            run = server.runs[run_id]
            assert run["starts"] == 1
            assert run["complete"]["result"] == {"i": i}
            assert [c["tokens_out"] for c in server.records(run_id, "llm-calls")] == [i]
            assert [s["step_name"] for s in server.records(run_id, "steps")] == ["work"]
        starts = [s.body["run_id"] for s in server.requests("runs/start/")]
        assert len(starts) == len(set(starts))
    finally:
        server.close()


@pytest.mark.parametrize("down", ["refused", "hung"])
def test_atexit_spools_what_a_down_control_plane_did_not_take(tmp_path: Path, down: str) -> None:
    hung = HungServer() if down == "hung" else None
    url = hung.url if hung else f"http://127.0.0.1:{free_port()}"
    try:
        proc = _agent(tmp_path, "agent", url, 25)
        _out, err = proc.communicate(timeout=60)
    finally:
        if hung:
            hung.close()
    assert proc.returncode == 0, err
    ids = json.loads((tmp_path / "agent.json").read_text())
    entries = _spooled(tmp_path, url)
    assert sorted(e["run_id"] for e in entries) == sorted(ids)
    assert all(len(e["llm_calls"]) == 1 and "complete" in e for e in entries)


FORKING_AGENT = textwrap.dedent(
    """
    import json, os, sys
    import waxell_observe
    from waxell_observe import WaxellContext, WaxellObserveClient
    from waxell_observe.sinks import remote

    WaxellObserveClient.configure(api_url=sys.argv[1], api_key="")
    with WaxellContext(agent_name="before-fork", enforce_policy=False) as ctx:
        ctx.record_step("parent")
    pid = os.fork()
    if pid == 0:
        fresh = remote.engine().report()
        with WaxellContext(agent_name="in-child", enforce_policy=False) as child:
            child.record_step("child")
        report = waxell_observe.flush(timeout=15).sinks["remote"]
        print(json.dumps({"child": [fresh.sent, fresh.pending, report.sent, report.pending]}), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
    report = waxell_observe.flush(timeout=15).sinks["remote"]
    print(json.dumps({"parent": [report.sent, report.pending]}), flush=True)
    """
)


def test_a_fork_child_starts_with_its_own_empty_queue(tmp_path: Path, stub: ProtocolStub) -> None:
    script = tmp_path / "forking.py"
    script.write_text(FORKING_AGENT)
    # (the OpenTelemetry plugin is left out: it imports lazily on its own thread, which a fork can cut)
    env = {**_env(tmp_path / "spool"), "WAXELL_DISABLE_PLUGINS": "otel"}
    out = subprocess.run(
        [sys.executable, str(script), stub.url], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines == [{"child": [0, 0, 3, 0]}, {"parent": [3, 0]}]
    agents = sorted(run["start"]["agent_name"] for run in stub.runs.values())
    assert agents == ["before-fork", "in-child"]
    assert all(run["starts"] == 1 and run["complete"] for run in stub.runs.values())

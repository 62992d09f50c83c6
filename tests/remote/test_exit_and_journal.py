"""Remote delivery with real processes: exit is bounded, what a process could not deliver stays in
its journal, and another process delivers it — every record, counted exactly.

Every agent here is a real Python process (the program :data:`AGENT`) with its own journal
root (``WAXELL_JOURNAL_DIR``): processes given the same root adopt each other's journals.
Exit times are measured inside the agent, from the end of its work to its last ``atexit``
handler (registered before ``waxell_observe`` is imported, so it runs after the SDK's), and
asserted against :data:`EXIT_BOUND`; the parent never asserts wall times it measured itself.

The fault matrix (against the real server over SQLite, or stub control planes):

- a burst of 1,000 runs, normal exit: bounded; everything lands before exit, or else the next
  process delivers the rest (the test says which happened);
- the control plane down: bounded exit, everything journaled, nothing dropped; the server
  comes up and the next process delivers all of it; two processes starting together: one
  adopts the journal, each run is started once;
- the server killed (``kill -9``) mid-stream with 5,000 runs journaled, restarted on the
  same port: everything lands (the drain time is printed);
- the agent killed (``kill -9``) mid-burst: every run it had recorded lands once another
  process adopts its journal;
- a hung control plane: bounded exit, everything journaled, nothing dropped; a slow one taking
  per-run requests: bounded exit;
- a process leaving through ``os._exit`` right after recording: a live process of the same
  journal root (this test process) adopts its journal; a forked child likewise;
- a control plane refusing one run (422): that run's records are dropped with the server's
  reason, the others land.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from remote_stubs import (
    REFUSAL,
    HungServer,
    ProtocolStub,
    Reply,
    Seen,
    agent_env,
    free_port,
    journal_frames,
    journals,
    server_runs,
    start_patiently,
)

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient
from waxell_observe.lifecycle import EXIT_TIMEOUT_SECONDS
from waxell_observe.pipeline import pipeline as pipeline_module

EXIT_BOUND = EXIT_TIMEOUT_SECONDS * 2
"""What the exit of an agent may take, measured inside it: its budget (EXIT_TIMEOUT_SECONDS) with a
2x margin for a loaded machine (the exit measured in benchmarks stays near the budget)."""
SQLITE_SERVER = pytest.mark.parametrize("shared_server", ["sqlite"], indirect=True)
"""The real server over SQLite only: what these tests exercise is the SDK's side (the contract
with both stores is test_roundtrip's)."""
RECORDS_PER_RUN = 4
"""Frames of one run of :data:`AGENT`: start, LLM call, step, end."""

AGENT = textwrap.dedent(
    """
    import atexit, json, os, sys, time

    OPTIONS = json.loads(sys.argv[1])
    MARKS = {}

    def last_handler():
        # Registered before waxell_observe is imported: atexit runs it after the SDK's own.
        if "end" in MARKS:
            out = {"exit_seconds": time.monotonic() - MARKS["end"], "report": MARKS.get("report")}
            print("EXIT " + json.dumps(out), flush=True)

    atexit.register(last_handler)

    import waxell_observe
    from waxell_observe import WaxellContext, WaxellObserveClient, lifecycle
    from waxell_observe.pipeline import drainer, pipeline

    # a restarted server is found again quickly
    drainer.BASE_BACKOFF, drainer.MAX_BACKOFF, drainer.SLOW_MAX_BACKOFF = 0.05, 0.5, 0.5

    def summary(report):
        sink = report.sinks.get("remote")
        if sink is None:
            return None
        return {"sent": sink.sent, "journaled": sink.journaled, "pending": sink.pending,
                "dropped": sink.dropped, "drop_reasons": sink.drop_reasons}

    shutdown = lifecycle.shutdown

    def observed_shutdown(*args, **kwargs):
        report = shutdown(*args, **kwargs)
        MARKS["report"] = summary(report)
        return report

    lifecycle.shutdown = observed_shutdown  # what the atexit drain reports

    root = os.environ["WAXELL_JOURNAL_DIR"]
    others = set(os.listdir(root)) if os.path.isdir(root) else set()  # journals of other processes

    WaxellObserveClient.configure(api_url=OPTIONS["url"], api_key=OPTIONS.get("key", ""))
    every = OPTIONS.get("every", 0)
    if OPTIONS.get("hold"):  # the drainer delivers nothing while the runs are recorded
        held = pipeline.pipeline().drainer
        held.cycle = lambda: False
    ids = []
    for i in range(OPTIONS["runs"]):
        name = OPTIONS.get("odd_agent") if i == OPTIONS.get("odd_index") else OPTIONS["agent"]
        with WaxellContext(agent_name=name, inputs={"i": i}, enforce_policy=False) as ctx:
            ctx.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=i)
            ctx.record_step("work", output={"i": i})
            ctx.set_result({"i": i})
        ids.append(ctx.run_id)
        if every and (i + 1) % every == 0:
            print(f"recorded {i + 1}", flush=True)
    if OPTIONS.get("hold"):  # ... then all of them at once, while the agent goes on for a moment
        del held.cycle
        held.wake()
        time.sleep(OPTIONS["hold"])
    if OPTIONS.get("ids_file"):
        with open(OPTIONS["ids_file"], "w") as handle:
            json.dump(ids, handle)
    if OPTIONS.get("os_exit"):
        os._exit(0)
    if OPTIONS.get("wait_adoption"):
        # Stay until the journals of other processes found at start are delivered and gone.
        deadline = time.monotonic() + OPTIONS["wait_adoption"]
        while time.monotonic() < deadline and others & set(os.listdir(root)):
            time.sleep(0.02)
        left = sorted(others & set(os.listdir(root)))
        adopted = pipeline.pipeline().drainer.adopted
        print("ADOPTED " + json.dumps({"left": left, "adopted": adopted}), flush=True)
    if OPTIONS.get("wait_stdin"):
        print("WAITING", flush=True)
        sys.stdin.readline()
        started = time.monotonic()
        report = waxell_observe.flush_sync(timeout=OPTIONS["wait_stdin"])
        drained = {"seconds": time.monotonic() - started, "report": summary(report)}
        print("DRAINED " + json.dumps(drained), flush=True)
    MARKS["end"] = time.monotonic()
    """
)


class Agent:
    """One run of :data:`AGENT` in a process of its own; its output parsed as it comes."""

    def __init__(self, tmp_path: Path, journal: Path, **options: Any) -> None:
        script = tmp_path / "agent.py"
        if not script.exists():
            script.write_text(AGENT)
        self.options = options
        self.proc = subprocess.Popen(
            [sys.executable, str(script), json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=agent_env(journal),
        )
        self.lines: list[str] = []

    def read_until(self, prefix: str, timeout: float = 60) -> str:
        """Read the agent's output up to the first line starting with ``prefix``."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if line.startswith(prefix):
                return line.rstrip("\n")
        raise AssertionError(f"no {prefix!r} line from the agent: {self.lines}, {self._stderr()}")

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 120) -> dict[str, Any]:
        """Wait for the exit; ``{"EXIT": ..., "ADOPTED": ..., "DRAINED": ...}`` from its output."""
        out, err = self.proc.communicate(timeout=timeout)
        self.lines.extend(out.splitlines())
        assert self.proc.returncode == 0, err
        parsed: dict[str, Any] = {}
        for line in self.lines:
            head, _, rest = line.partition(" ")
            if head in ("EXIT", "ADOPTED", "DRAINED"):
                parsed[head] = json.loads(rest)
        return parsed

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        if self.proc.stdout:
            self.proc.stdout.close()
        if self.proc.stderr:
            self.proc.stderr.close()
        if self.proc.stdin:
            self.proc.stdin.close()

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read() if self.proc.stderr else ""


def _bounded_exit(result: dict[str, Any]) -> dict[str, Any]:
    """The agent's exit report, after checking its exit (measured inside it) was bounded."""
    exit_ = result["EXIT"]
    print(f"exit took {exit_['exit_seconds']:.3f}s (measured in the agent): {exit_['report']}")
    assert exit_["exit_seconds"] < EXIT_BOUND, exit_
    return exit_["report"]


def _adopt(tmp_path: Path, journal: Path, url: str, agent: str) -> dict[str, Any]:
    """A short second process of the same journal root: it records one run of its own and
    stays until the journals it found at start are delivered (it adopted them)."""
    result = Agent(tmp_path, journal, url=url, agent=agent, runs=1, wait_adoption=60).finish()
    assert result["ADOPTED"]["left"] == [], result
    return result


def _check_landed(url: str, agent: str, runs: int, ids: list[str] | None = None) -> None:
    """The server holds exactly ``runs`` runs of ``agent``: run ``i`` whole (its start, one LLM
    call of ``tokens_out == i``, one step, its completion), each once."""
    listed = server_runs(url, agent_name=agent)
    assert len(listed) == runs, (len(listed), runs)
    assert sorted(run["tokens_out"] for run in listed) == list(range(runs))
    assert {
        (run["status"], run["llm_call_count"], run["step_count"], run["tokens_in"]) for run in listed
    } == {("success", 1, 1, 10)}
    if ids is not None:
        assert sorted(run["run_id"] for run in listed) == sorted(ids)


def _name(request: pytest.FixtureRequest, what: str) -> str:
    """An agent name of this test (tests of a module share the real server)."""
    return f"{what}-{abs(hash(request.node.nodeid)) % 10**8}"


# -- a burst, then a normal exit ----------------------------------------------------------------


@SQLITE_SERVER
def test_a_burst_of_1000_runs_lands_exactly_and_exit_is_bounded(
    shared_server: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    runs, journal, agent = 1000, tmp_path / "journal", _name(request, "burst")
    ids_file = tmp_path / "ids.json"
    result = Agent(
        tmp_path, journal, url=shared_server.url, agent=agent, runs=runs, ids_file=str(ids_file)
    ).finish()
    report = _bounded_exit(result)
    ids = json.loads(ids_file.read_text())
    assert report["dropped"] == 0 and report["sent"] + report["journaled"] == runs * RECORDS_PER_RUN, report
    if report["journaled"] == 0:
        print("every record landed before the exit")
        assert journals(journal) == []  # delivered: the journal is gone with the process
    else:
        print(f"{report['journaled']} records were left journaled at exit; the next process delivers them")
        (left,) = journals(journal)
        frames = journal_frames(journal)
        assert sorted({f["run_id"] for f in frames if f["kind"] == "start"}) == sorted(ids)
        _adopt(tmp_path, journal, shared_server.url, agent + "-next")
        assert not left.exists()
    _check_landed(shared_server.url, agent, runs, ids)


# -- the control plane down ---------------------------------------------------------------------


@SQLITE_SERVER
def test_server_down_exit_is_bounded_everything_journaled_then_the_next_process_delivers_it(
    shared_server: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    server = shared_server
    runs, journal, agent_name = 300, tmp_path / "journal", _name(request, "down")
    ids_file = tmp_path / "ids.json"
    server.stop()  # nobody listens on its port now
    try:
        result = Agent(
            tmp_path, journal, url=server.url, agent=agent_name, runs=runs, ids_file=str(ids_file)
        ).finish()
    finally:
        start_patiently(server)
    report = _bounded_exit(result)
    assert report == {"sent": 0, "journaled": runs * RECORDS_PER_RUN, "pending": runs * RECORDS_PER_RUN,
                      "dropped": 0, "drop_reasons": {}}  # fmt: skip
    ids = json.loads(ids_file.read_text())

    # the journal holds every record of every run, in order
    (left,) = journals(journal)
    frames = journal_frames(journal)
    routes = [f for f in frames if f["kind"] == "route"]
    assert routes and {json.dumps(r["destinations"], sort_keys=True) for r in routes} == {
        json.dumps({"remote": {"api_url": server.url, "api_key": ""}}, sort_keys=True)
    }
    records = [f for f in frames if f["kind"] != "route"]
    assert [f["kind"] for f in records] == ["start", "llm", "step", "end"] * runs
    assert [f["run_id"] for f in records] == [run_id for run_id in ids for _ in range(RECORDS_PER_RUN)]
    assert [f["tokens_out"] for f in records if f["kind"] == "llm"] == list(range(runs))
    assert [f["result"] for f in records if f["kind"] == "end"] == [{"i": i} for i in range(runs)]
    assert server_runs(server.url, agent_name=agent_name) == []

    # the server is up again: the next process delivers all of it
    _adopt(tmp_path, journal, server.url, agent_name + "-next")
    assert not left.exists()
    _check_landed(server.url, agent_name, runs, ids)


def test_two_processes_starting_together_deliver_a_journal_once(tmp_path: Path) -> None:
    port = free_port()
    url, journal = f"http://127.0.0.1:{port}", tmp_path / "journal"
    ids_file = tmp_path / "ids.json"
    result = Agent(tmp_path, journal, url=url, agent="first", runs=30, ids_file=str(ids_file)).finish()
    assert _bounded_exit(result)["journaled"] == 30 * RECORDS_PER_RUN
    ids = json.loads(ids_file.read_text())

    server = ProtocolStub(port=port)
    try:
        # Two processes start together: one of them adopts the journal, never both.
        both = [
            Agent(tmp_path, journal, url=url, agent=name, runs=1, wait_adoption=60)
            for name in ("second", "third")
        ]
        results = [agent.finish() for agent in both]
        assert [r["ADOPTED"]["left"] for r in results] == [[], []]
        assert sorted(r["ADOPTED"]["adopted"] for r in results) == [0, 1]
        assert journals(journal) == []
        for i, run_id in enumerate(ids):
            run = server.runs[run_id]
            assert run["starts"] == 1
            assert run["complete"]["result"] == {"i": i}
            assert [c["tokens_out"] for c in server.records(run_id, "llm-calls")] == [i]
            assert [s["step_name"] for s in server.records(run_id, "steps")] == ["work"]
        starts = [s.body["run_id"] for s in server.requests("runs/start/")]
        assert len(starts) == len(set(starts)) == 32
    finally:
        server.close()


# -- the server killed mid-stream -----------------------------------------------------------------


@SQLITE_SERVER
def test_server_killed_mid_stream_with_5000_runs_journaled_then_restarted_loses_nothing(
    shared_server: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    runs, journal, agent_name = 5000, tmp_path / "journal", _name(request, "stream")
    ids_file = tmp_path / "ids.json"
    agent = Agent(tmp_path, journal, url=shared_server.url, agent=agent_name, runs=runs, every=500,
                  ids_file=str(ids_file), wait_stdin=120)  # fmt: skip
    try:
        agent.read_until("recorded 1000")
        shared_server.kill()  # kill -9 while runs stream in
        agent.read_until("WAITING")  # all 5,000 recorded
        start_patiently(shared_server)  # same port
        agent.send("go")
        result = agent.finish()
    finally:
        if agent.proc.poll() is None:
            agent.kill()
    drained = result["DRAINED"]
    print(f"after the restart, the agent's flush took {drained['seconds']:.2f}s: {drained['report']}")
    assert drained["report"] == {"sent": runs * RECORDS_PER_RUN, "journaled": 0, "pending": 0, "dropped": 0,
                                 "drop_reasons": {}}  # fmt: skip
    _bounded_exit(result)
    assert journals(journal) == []
    _check_landed(shared_server.url, agent_name, runs, json.loads(ids_file.read_text()))


# -- the agent killed mid-burst -------------------------------------------------------------------


@SQLITE_SERVER
def test_agent_killed_mid_burst_its_recorded_runs_land_once_another_process_adopts_the_journal(
    shared_server: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    journal, agent_name = tmp_path / "journal", _name(request, "killed")
    agent = Agent(tmp_path, journal, url=shared_server.url, agent=agent_name, runs=10**6, every=100)
    try:
        agent.read_until("recorded 500")
    finally:
        agent.kill()  # kill -9, mid-burst
    (left,) = journals(journal)
    _adopt(tmp_path, journal, shared_server.url, agent_name + "-adopter")
    assert not left.exists()

    listed = server_runs(shared_server.url, agent_name=agent_name)
    whole = sorted(run["tokens_out"] for run in listed if run["status"] == "success")
    unfinished = [run for run in listed if run["status"] != "success"]
    # The 500 runs reported recorded, and those completed after them until the kill; the one
    # that was being recorded at the kill (if any) is there with what it had recorded.
    assert whole == list(range(len(whole))) and len(whole) >= 500, (len(whole), whole[:3], whole[-3:])
    assert {
        (run["llm_call_count"], run["step_count"], run["tokens_in"])
        for run in listed
        if run["status"] == "success"
    } == {(1, 1, 10)}
    assert len(unfinished) <= 1 and all(run["status"] == "running" for run in unfinished), unfinished
    print(f"killed after {len(whole)} whole runs ({len(unfinished)} unfinished)")


# -- a hung control plane -------------------------------------------------------------------------


def test_exit_with_5000_runs_and_a_hung_control_plane_is_bounded_and_journals_everything(
    tmp_path: Path,
) -> None:
    runs, journal = 5000, tmp_path / "journal"
    ids_file = tmp_path / "ids.json"
    hung = HungServer()
    try:
        result = Agent(tmp_path, journal, url=hung.url, agent="hung-agent", runs=runs, ids_file=str(ids_file),
                       key="wax_sk_hung").finish()  # fmt: skip
    finally:
        hung.close()
    report = _bounded_exit(result)
    assert report == {"sent": 0, "journaled": runs * RECORDS_PER_RUN, "pending": runs * RECORDS_PER_RUN,
                      "dropped": 0, "drop_reasons": {}}  # fmt: skip
    ids = json.loads(ids_file.read_text())
    frames = [f for f in journal_frames(journal) if f["kind"] != "route"]
    assert len(frames) == runs * RECORDS_PER_RUN
    assert [f["run_id"] for f in frames if f["kind"] == "start"] == ids
    assert [f["run_id"] for f in frames if f["kind"] == "end"] == ids
    sample = [f for f in frames if f["run_id"] == ids[1234]]
    assert [f["kind"] for f in sample] == ["start", "llm", "step", "end"]
    assert sample[0]["inputs"] == {"i": 1234} and sample[3]["result"] == {"i": 1234}
    assert (sample[1]["tokens_out"], sample[2]["name"], sample[2]["output"]) == (1234, "work", {"i": 1234})


def test_exit_is_bounded_while_a_slow_control_plane_holds_per_run_requests(tmp_path: Path) -> None:
    runs = 8
    server = ProtocolStub()  # no batch_ingest: the per-run protocol
    released = threading.Event()

    def slow(seen: Seen) -> Reply | None:
        if seen.path.startswith("runs/"):
            released.wait(1.0)  # it answers config/ at once, then takes a second per delivery request
        return None

    server.rules.append(slow)
    try:
        result = Agent(
            tmp_path, tmp_path / "journal", url=server.url, agent="slow-agent", runs=runs, hold=0.3
        ).finish()
    finally:
        released.set()
        server.close()
    report = _bounded_exit(result)
    assert report["dropped"] == 0 and report["sent"] + report["journaled"] == runs * RECORDS_PER_RUN, report


# -- os._exit -------------------------------------------------------------------------------------


@SQLITE_SERVER
def test_a_process_leaving_through_os_exit_is_adopted_by_a_live_process_of_the_same_root(
    shared_server: Any, tmp_path: Path, waxell_db: Path, request: pytest.FixtureRequest
) -> None:
    journal = Path(os.environ["WAXELL_JOURNAL_DIR"])  # this process's journal root
    agent_name = _name(request, "os-exit")
    WaxellObserveClient.configure(api_url=shared_server.url, api_key="")
    with WaxellContext(agent_name=agent_name + "-parent", enforce_policy=False) as ctx:
        ctx.record_step("live")  # this process is a live SDK process of that root
    assert waxell_observe.flush_sync(timeout=30).pending == 0
    live = pipeline_module.pipeline()
    own = {j.directory for j in live.journals.values()}
    assert live.drainer.adopted == 0

    ids_file = tmp_path / "ids.json"
    child = Agent(
        tmp_path,
        journal,
        url=shared_server.url,
        agent=agent_name,
        runs=200,
        ids_file=str(ids_file),
        os_exit=True,
    )
    assert child.finish() == {}  # no atexit handler ran
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and set(journals(journal)) - own:
        time.sleep(0.05)
    assert set(journals(journal)) == own
    assert live.drainer.adopted == 1
    _check_landed(shared_server.url, agent_name, 200, json.loads(ids_file.read_text()))


FORKING_AGENT = textwrap.dedent(
    """
    import json, os, sys, time
    import waxell_observe
    from waxell_observe import WaxellContext, WaxellObserveClient
    from waxell_observe.pipeline import pipeline

    WaxellObserveClient.configure(api_url=sys.argv[1], api_key="")
    root = os.environ["WAXELL_JOURNAL_DIR"]
    with WaxellContext(agent_name="before-fork", enforce_policy=False) as ctx:
        ctx.record_step("parent")
    # Delivered before the forks: a fork during the drainer's first request can cut the lazy
    # import of importlib.readers (httpx -> certifi) in half for the child (reported separately).
    assert waxell_observe.flush_sync(timeout=15).pending == 0
    own = set(os.listdir(root))

    def remote(report):
        sink = report.sinks.get("remote")
        return [sink.sent, sink.pending] if sink else [0, 0]

    pid = os.fork()
    if pid == 0:  # a child that flushes before leaving
        fresh = remote(waxell_observe.flush_sync(timeout=0))
        with WaxellContext(agent_name="in-child", enforce_policy=False) as child:
            child.record_step("child")
        print(json.dumps({"child": fresh + remote(waxell_observe.flush_sync(timeout=15))}), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
    pid = os.fork()
    if pid == 0:  # a child that leaves right after recording: the parent adopts its journal
        pipeline.pipeline().drainer.cycle = lambda: False  # (so that it delivers none of it itself)
        for i in range(20):
            with WaxellContext(agent_name="exiting-child", inputs={"i": i}, enforce_policy=False) as child:
                child.record_step("child", output={"i": i})
        os._exit(0)
    os.waitpid(pid, 0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and set(os.listdir(root)) - own:
        time.sleep(0.02)
    left = sorted(set(os.listdir(root)) - own)
    report = remote(waxell_observe.flush_sync(timeout=15))
    adopted = pipeline.pipeline().drainer.adopted
    print(json.dumps({"parent": report, "left": left, "adopted": adopted}), flush=True)
    """
)


def test_fork_children_journal_on_their_own_and_the_parent_adopts_one_that_left_by_os_exit(
    tmp_path: Path, stub: ProtocolStub
) -> None:
    script = tmp_path / "forking.py"
    script.write_text(FORKING_AGENT)
    out = subprocess.run(
        [sys.executable, str(script), stub.url], capture_output=True, text=True, timeout=60, check=False,
        env=agent_env(tmp_path / "journal"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    # The first child starts with nothing of the parent's (neither counted nor journaled) and
    # sends its own run. Both children leave a journal (os._exit skips the shutdown that removes
    # it): the parent adopts both, delivers what the second did not, and removes them.
    # (the parent: its own run, and the second child's 20 runs of 3 records)
    assert lines == [{"child": [0, 0, 3, 0]}, {"parent": [3 + 20 * 3, 0], "left": [], "adopted": 2}]
    agents = sorted(run["start"]["agent_name"] for run in stub.runs.values())
    assert agents == ["before-fork"] + ["exiting-child"] * 20 + ["in-child"]
    assert all(run["complete"] and run["starts"] == 1 for run in stub.runs.values())
    exiting = sorted((run["start"]["inputs"]["i"], run_id) for run_id, run in stub.runs.items()
                     if run["start"]["agent_name"] == "exiting-child")  # fmt: skip
    for i, run_id in exiting:
        assert [s["output"] for s in stub.records(run_id, "steps")] == [{"i": i}]
    assert [i for i, _ in exiting] == list(range(20))
    assert journals(tmp_path / "journal") == []


# -- a run refused ----------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "per-run"])
def test_a_run_refused_with_422_is_dropped_with_the_servers_reason_and_the_others_land(
    tmp_path: Path, batch: bool
) -> None:
    runs = 20
    server = ProtocolStub(batch=batch, refuse_agent="refused-agent")
    try:
        ids_file = tmp_path / "ids.json"
        result = Agent(tmp_path, tmp_path / "journal", url=server.url, agent="fine-agent", runs=runs,
                       odd_index=7, odd_agent="refused-agent", ids_file=str(ids_file)).finish()  # fmt: skip
        report = _bounded_exit(result)
        ids = json.loads(ids_file.read_text())
        assert (report["sent"], report["journaled"], report["dropped"]) == (
            (runs - 1) * RECORDS_PER_RUN, 0, RECORDS_PER_RUN
        ), report  # fmt: skip
        assert all(REFUSAL in reason and ids[7] in reason for reason in report["drop_reasons"]), report
        assert sum(report["drop_reasons"].values()) == RECORDS_PER_RUN
        assert ("runs/batch/" in server.paths()) is batch
        assert server.refused == {ids[7]}
        assert sorted(server.runs) == sorted(ids[:7] + ids[8:])
        for i, run_id in enumerate(ids):
            if i != 7:
                assert server.runs[run_id]["complete"]["result"] == {"i": i}
                assert [c["tokens_out"] for c in server.unique_records(run_id, "llm-calls")] == [i]
    finally:
        server.close()

"""N recorded => N stored, with real processes: normal exit, threads, fork, multiprocessing,
``os._exit``, ``kill -9``, a full disk. Counts are exact; exit times are measured inside the child.

Records a process could not write before it exited stay in its journal; :meth:`Programs.recover`
is what the next process does on start (adopt the journals of ended processes, deliver them).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from programs import Programs

LOOP = """
import atexit, sys, time
marks = {}
def measure():   # registered before waxell_observe is imported: runs after its shutdown
    sys.stdout.write(f"exit {time.monotonic() - marks['ended']:.3f}\\n"); sys.stdout.flush()
atexit.register(measure)
from waxell_observe import WaxellContext
n = int(sys.argv[1])
for i in range(n):
    with WaxellContext(agent_name="loop", enforce_policy=False) as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=3, tokens_out=1)
        ctx.record_step("s", output={"i": i})
        ctx.record_score("q", 0.5)
marks["ended"] = time.monotonic()
print("recorded", n, flush=True)
"""


def _exit_seconds(output: str) -> float:
    [line] = [line for line in output.splitlines() if line.startswith("exit ")]
    return float(line.split()[1])


def test_a_normal_exit_loses_nothing_and_stays_within_its_budget(programs: Programs) -> None:
    done = programs.run(LOOP, "3000")
    assert "recorded 3000" in done.stdout
    # The exit budget is 2 s; measured inside the child, with a margin for a loaded machine.
    assert _exit_seconds(done.stdout) < 4.0
    stored_at_exit = programs.count("runs")
    programs.recover()
    assert programs.count("runs") == 3000
    assert programs.count("llm_calls") == 3000
    assert programs.count("steps") == 3000
    assert programs.count("scores") == 3000
    assert programs.count("runs", "WHERE status = 'success'") == 3000
    assert programs.journals() == []  # delivered journals are removed
    print(f"stored before exit: {stored_at_exit} of 3000 runs; the rest landed on recovery")


def test_threads_lose_nothing(programs: Programs) -> None:
    source = """
import sys, threading
import waxell_observe as waxell
@waxell.observe(enforce_policy=False)
def work(i):
    return i * 2
def worker():
    for i in range(int(sys.argv[2])):
        work(i)
threads = [threading.Thread(target=worker) for _ in range(int(sys.argv[1]))]
for t in threads: t.start()
for t in threads: t.join()
"""
    programs.run(source, "32", "100")
    programs.recover()
    assert programs.count("runs") == 3200
    assert programs.count("runs", "WHERE agent_name = 'work' AND status = 'success'") == 3200


def test_kill_9_keeps_what_was_recorded_before_it(programs: Programs) -> None:
    source = """
import sys
from waxell_observe import WaxellContext
n = int(sys.argv[1])
for i in range(n):
    with WaxellContext(agent_name="killed", enforce_policy=False) as ctx:
        ctx.record_step("s")
print("recorded", n, flush=True)
sys.stdin.readline()
"""
    proc = programs.popen(source, "2000")
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "recorded 2000"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    programs.recover()
    assert programs.count("runs", "WHERE agent_name = 'killed'") == 2000
    assert programs.count("steps") == 2000
    assert programs.count("runs", "WHERE status = 'success'") == 2000


def test_calls_outside_runs_survive_os_exit_and_kill_9(programs: Programs) -> None:
    source = """
import os, sys
from waxell_observe.integration_api import record_llm_call
n = int(sys.argv[1])
for i in range(n):
    record_llm_call(model="gpt-4o" if i % 2 else "claude-sonnet-4", tokens_in=i, tokens_out=1)
print("recorded", n, flush=True)
if sys.argv[2] == "exit":
    os._exit(0)
sys.stdin.readline()
"""
    programs.run(source, "300", "exit")
    proc = programs.popen(source, "500", "wait")
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "recorded 500"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    programs.recover()
    # every call is stored, in automatic runs the dead processes never ended
    assert programs.count("llm_calls") == 800
    assert programs.count("llm_calls", "WHERE model = 'gpt-4o'") == 150 + 250
    assert programs.count("runs", "WHERE workflow_name = 'auto' AND status = 'running'") == 4
    assert programs.count("llm_calls", "WHERE tokens_in = 299") == 2  # the last of each process's calls


def test_the_audit_rows_of_refused_runs_survive_os_exit(programs: Programs) -> None:
    source = """
import os, sys
from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance.loader import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store
add_policies(get_store(get_config().db_url), load_policies(
    "policies: [{name: stop, category: kill-switch, scope: {agents: [refused]}, rules: {killed: true}}]"))
n = int(sys.argv[1])
for i in range(n):
    try:
        with WaxellContext(agent_name="refused", user_id=f"u{i}"):
            pass
    except PolicyViolationError:
        pass
with WaxellContext(agent_name="allowed", enforce_policy=False):
    pass
print("refused", n, flush=True)
os._exit(0)
"""
    done = programs.run(source, "200")
    assert "refused 200" in done.stdout
    programs.recover()
    assert programs.count("audit_events", "WHERE policy_name = 'stop' AND action = 'block'") == 200
    assert programs.count("audit_events", "WHERE run_id = '' AND agent_name = 'refused'") == 200
    assert programs.count("runs") == 1  # refused runs leave no run (and no span) behind
    assert programs.count("spans") == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_os_exit_children_of_every_start_method_deliver_everything(programs: Programs) -> None:
    source = """
import multiprocessing, os, sys
from waxell_observe import WaxellContext

def child(tag):
    for i in range(50):
        with WaxellContext(agent_name=f"child-{tag}", enforce_policy=False) as ctx:
            ctx.record_step("in-child")
    if tag.endswith("exit"):
        os._exit(0)

if __name__ == "__main__":
    with WaxellContext(agent_name="parent", enforce_policy=False) as ctx:
        ctx.record_step("before")
    for method in ("fork", "spawn", "forkserver"):
        mp = multiprocessing.get_context(method)
        procs = [mp.Process(target=child, args=(f"{method}-{n}",)) for n in ("plain", "exit")]
        for p in procs: p.start()
        for p in procs: p.join()
        assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    pid = os.fork()
    if pid == 0:
        child("rawfork-exit")
    os.waitpid(pid, 0)
"""
    script = programs.tmp_path / "mp_program.py"
    script.write_text(source)
    done = subprocess.run(
        [os.sys.executable, str(script)], env=programs.env(), capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-4000:]
    programs.recover()
    expected = {f"child-{m}-{n}" for m in ("fork", "spawn", "forkserver") for n in ("plain", "exit")}
    expected.add("child-rawfork-exit")
    for agent in sorted(expected):
        assert programs.count("runs", f"WHERE agent_name = '{agent}'") == 50, agent
    assert programs.count("runs", "WHERE agent_name = 'parent'") == 1
    assert programs.count("steps") == 50 * len(expected) + 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_right_after_the_first_run_loses_nothing(programs: Programs) -> None:
    """The drainer may be importing SQLAlchemy when the fork happens: the fork waits for it."""
    source = """
import os
from waxell_observe import WaxellContext
for attempt in range(6):
    with WaxellContext(agent_name="first", enforce_policy=False):
        pass
    pid = os.fork()
    if pid == 0:
        for i in range(400):
            with WaxellContext(agent_name="forked", enforce_policy=False) as ctx:
                ctx.record_step("s")
        os._exit(0)
    os.waitpid(pid, 0)
"""
    programs.run(source)
    programs.recover()
    assert programs.count("runs", "WHERE agent_name = 'first'") == 6
    assert programs.count("runs", "WHERE agent_name = 'forked'") == 2400
    assert programs.count("steps") == 2400


def test_a_full_journal_is_counted_exactly_and_named_once(programs: Programs, tmp_path: Path) -> None:
    """The store cannot be written, so everything stays journaled until the journal's size bound
    (a full disk behaves the same: no segment can be reserved); beyond it records are dropped,
    counted exactly and logged once with the reason."""
    source = """
import logging, sys
logging.basicConfig(level=logging.WARNING)
import waxell_observe
from waxell_observe import WaxellContext
for i in range(20000):
    with WaxellContext(agent_name="bounded", enforce_policy=False) as ctx:
        ctx.record_step("s", output={"pad": "x" * 200})
report = waxell_observe.flush_sync(timeout=20)   # returns as soon as the store is known to fail for good
journal = report.sinks.get("journal")
store = report.sinks["embedded"]
print(journal.dropped if journal else 0, store.journaled, store.sent, flush=True)
"""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    done = programs.run(source, WAXELL_JOURNAL_MAX_MB="8", WAXELL_DB=str(blocker / "observe.db"))
    dropped, journaled, sent = (int(part) for part in done.stdout.split())
    assert sent == 0
    assert dropped > 0
    assert journaled + dropped == 60000  # 3 frames a run: start, step, end - each kept or counted
    assert "journal size bound reached" in done.stderr
    assert done.stderr.count("cannot journal records") == 1  # logged once, not per record


def test_a_plugin_stuck_in_shutdown_does_not_hold_exit_or_flush(programs: Programs) -> None:
    source = """
import atexit, sys, threading, time
marks = {}
def measure():
    sys.stdout.write(f"exit {time.monotonic() - marks['ended']:.3f}\\n"); sys.stdout.flush()
atexit.register(measure)
import waxell_observe
from waxell_observe import WaxellContext, hookimpl
from waxell_observe.plugins import plugin_manager
forever = threading.Event()
class Stuck:
    @hookimpl
    def on_flush(self, timeout):
        forever.wait()
    @hookimpl
    def on_shutdown(self, timeout):
        forever.wait()
plugin_manager().register(Stuck(), name="stuck")
for i in range(200):
    with WaxellContext(agent_name="with-stuck-plugin", enforce_policy=False) as ctx:
        ctx.record_step("s")
started = time.monotonic()
report = waxell_observe.flush_sync(timeout=20.0)
print(f"flush {time.monotonic() - started:.3f} sent {report.sinks['embedded'].sent}", flush=True)
marks["ended"] = time.monotonic()
"""
    done = programs.run(source)
    flush_line = next(line for line in done.stdout.splitlines() if line.startswith("flush "))
    assert float(flush_line.split()[1]) < 30.0  # bounded by its 20 s timeout (the stuck plugin is left)
    assert int(flush_line.split()[3]) == 600  # the pipeline delivered everything meanwhile
    assert _exit_seconds(done.stdout) < 4.0  # the 2 s exit budget, with a 2x margin
    assert "plugin 'stuck' did not return from on_shutdown in time" in done.stderr
    programs.recover()
    assert programs.count("runs", "WHERE agent_name = 'with-stuck-plugin'") == 200


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forks_at_random_moments_while_threads_record_lose_nothing(programs: Programs) -> None:
    """Threads record without pause while the main thread forks at random moments (in the middle
    of appends, of the drainer's imports and writes); every child records its own runs and leaves
    through os._exit. Every run of every process lands, exactly once."""
    source = """
import os, random, sys, threading, time
from waxell_observe import WaxellContext
stop = threading.Event()
counts = [0] * 4
def recorder(n):
    while not stop.is_set():
        with WaxellContext(agent_name=f"thread-{n}", enforce_policy=False) as ctx:
            ctx.record_step("s")
        counts[n] += 1
threads = [threading.Thread(target=recorder, args=(n,)) for n in range(4)]
for t in threads: t.start()
rng = random.Random(int(sys.argv[1]))
children = []
for i in range(20):
    time.sleep(rng.random() * 0.05)
    pid = os.fork()
    if pid == 0:
        for j in range(10):
            with WaxellContext(agent_name="fork-child", enforce_policy=False) as ctx:
                ctx.record_step("c")
        os._exit(0)
    children.append(pid)
stop.set()
for t in threads: t.join()
for pid in children:
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
print(" ".join(str(c) for c in counts), flush=True)
"""
    done = programs.run(source, "1234")
    counts = [int(part) for part in done.stdout.split()]
    programs.recover()
    for n, count in enumerate(counts):
        assert programs.count("runs", f"WHERE agent_name = 'thread-{n}'") == count
    assert programs.count("runs", "WHERE agent_name = 'fork-child'") == 200
    assert programs.count("steps") == sum(counts) + 200
    assert programs.count("runs", "WHERE status = 'success'") == sum(counts) + 200

"""Runs still open when the process ends are completed as ``interrupted`` (reference §2.2 item 8): at
interpreter exit (a context entered and never left, a ``with`` block still running in a daemon thread), on
SIGTERM (the process still dies of it; a program's own handler is kept; the switch) and on SIGINT. Real
processes, read back from their store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store
from waxell_observe.store.reader import RunFilter, get_run, list_runs

PROGRAM = """\
import json, threading
import waxell_observe

left = waxell_observe.WaxellContext("left-open", enforce_policy=False).__enter__()
left.record_step("one", output={"n": 1})
started = threading.Event()

def worker():
    with waxell_observe.WaxellContext("in-daemon-thread", enforce_policy=False):
        started.set()
        threading.Event().wait()  # never ends

threading.Thread(target=worker, daemon=True).start()
started.wait(10)
with waxell_observe.WaxellContext("closed", enforce_policy=False):
    pass
print(json.dumps({"left": left.run_id}))
"""


def test_open_runs_are_completed_as_interrupted_at_exit(tmp_path: Path) -> None:
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    db = tmp_path / "exit.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    env.update(WAXELL_DB=str(db), WAXELL_JOURNAL_DIR=str(tmp_path / "journal"))
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "2 run(s) still open at exit completed as interrupted" in done.stderr
    left_id = json.loads(done.stdout.strip().splitlines()[-1])["left"]
    with get_store(f"sqlite:///{db}").read() as conn:
        runs = {r["agent_name"]: get_run(conn, r["run_id"]) for r in list_runs(conn, RunFilter(), limit=10)}
    assert sorted(runs) == ["closed", "in-daemon-thread", "left-open"]
    for name in ("left-open", "in-daemon-thread"):
        run = runs[name]
        assert run is not None
        assert (run["status"], run["error_type"], run["error"]) == (
            "interrupted",
            "Interrupted",
            "the process exited while the run was open",
        )
        assert run["ended_at"]
    left = runs["left-open"]
    assert left is not None and left["run_id"] == left_id
    closed = runs["closed"]  # opened inside the open run: its child, completed normally
    assert closed is not None and (closed["status"], closed["parent_run_id"]) == ("success", left_id)
    assert [s["name"] for s in left["steps"]] == ["one", "delegate:closed"]
    assert left["steps"][0]["output"] == {"n": 1}


# -- SIGTERM and SIGINT ------------------------------------------------------------------------------------

SIGNALLED = """\
import json, signal, sys, threading, time
import waxell_observe

if sys.argv[2] == "own-handler":
    def own(signum, frame):
        sys.exit(3)
    signal.signal(signal.SIGTERM, own)
with waxell_observe.WaxellContext("done-before", enforce_policy=False):
    pass
waxell_observe.flush_sync()  # the SDK's background threads have started (and imported what they use)
started = threading.Event()

def worker():
    with waxell_observe.WaxellContext("in-thread", enforce_policy=False):
        started.set()
        threading.Event().wait()  # never ends

threading.Thread(target=worker, daemon=True).start()
started.wait(10)
with waxell_observe.WaxellContext("main", enforce_policy=sys.argv[2] == "policies") as ctx:
    for _ in range(int(sys.argv[1])):
        ctx.record_llm_call(model="gpt-4o", tokens_in=10, tokens_out=5)
    handler = signal.getsignal(signal.SIGTERM)
    shown = "default" if handler is signal.SIG_DFL else f"{handler.__module__}.{handler.__qualname__}"
    print(json.dumps({"run": ctx.run_id, "handler": shown}), flush=True)
    while True:
        time.sleep(60)
"""

OURS = "waxell_observe.exit_finalizer._on_sigterm"


def _signalled(
    tmp_path: Path, signum: int, llm_calls: int, variant: str = "", **env_extra: str
) -> tuple[int, dict[str, str], dict[str, dict[str, Any]], str]:
    """Run SIGNALLED, send it ``signum`` once it is blocked in its run; (returncode, its readiness line,
    the stored runs by agent name, stderr)."""
    script = tmp_path / "signalled.py"
    script.write_text(SIGNALLED)
    db = tmp_path / "signalled.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    env.update(WAXELL_DB=str(db), WAXELL_JOURNAL_DIR=str(tmp_path / "journal"), **env_extra)
    child = subprocess.Popen(
        [sys.executable, str(script), str(llm_calls), variant or "-"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.communicate(timeout=60)[1]
        child.send_signal(signum)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    with get_store(f"sqlite:///{db}").read() as conn:
        runs = {r["agent_name"]: get_run(conn, r["run_id"]) for r in list_runs(conn, RunFilter(), limit=10)}
    return child.returncode, json.loads(line), {k: v for k, v in runs.items() if v is not None}, stderr


def test_sigterm_completes_the_open_runs_and_the_process_still_dies_of_it(tmp_path: Path) -> None:
    returncode, ready, runs, stderr = _signalled(tmp_path, signal.SIGTERM, llm_calls=3)
    assert ready["handler"] == OURS
    assert returncode == -signal.SIGTERM, stderr
    assert "SIGTERM: 2 open run(s) completed as interrupted" in stderr
    assert sorted(runs) == ["done-before", "in-thread", "main"]
    for name in ("main", "in-thread"):
        assert (runs[name]["status"], runs[name]["error_type"], runs[name]["error"]) == (
            "interrupted",
            "Interrupted",
            "the process received SIGTERM while the run was open",
        )
        assert runs[name]["ended_at"]
    main = runs["main"]
    assert main["run_id"] == ready["run"]
    assert [(c["model"], c["tokens_in"], c["tokens_out"]) for c in main["llm_calls"]] == [
        ("gpt-4o", 10, 5)
    ] * 3
    assert runs["done-before"]["status"] == "success"


def test_sigterm_asks_the_run_error_gate_first(tmp_path: Path) -> None:
    db = tmp_path / "signalled.db"
    add_policies(
        get_store(f"sqlite:///{db}"),
        load_policies(
            "policies: [{name: watch, category: safety, rules: {content_filters: [received SIGTERM]}}]"
        ),
    )
    returncode, _, runs, stderr = _signalled(tmp_path, signal.SIGTERM, llm_calls=1, variant="policies")
    assert returncode == -signal.SIGTERM, stderr
    main = runs["main"]
    assert (main["status"], main["error_type"]) == ("interrupted", "Interrupted")
    gates = [
        (s["attributes"]["metadata"]["surface"], s["name"], s["attributes"]["action"])
        for s in main["spans"]
        if s["kind"] == "policy" and "surface" in (s["attributes"].get("metadata") or {})
    ]
    assert gates == [("run.error", "watch", "warn")]


def test_a_programs_own_sigterm_handler_is_kept(tmp_path: Path) -> None:
    returncode, ready, runs, stderr = _signalled(tmp_path, signal.SIGTERM, llm_calls=2, variant="own-handler")
    assert ready["handler"] == "__main__.own"
    assert returncode == 3, stderr  # the program's handler decided: sys.exit(3)
    main = runs["main"]  # SystemExit unwound the with block; the thread's run was completed at exit
    assert (main["status"], main["error_type"], len(main["llm_calls"])) == ("interrupted", "SystemExit", 2)
    assert (runs["in-thread"]["status"], runs["in-thread"]["error"]) == (
        "interrupted",
        "the process exited while the run was open",
    )


def test_the_sigterm_finalizer_can_be_switched_off(tmp_path: Path) -> None:
    returncode, ready, runs, _ = _signalled(
        tmp_path, signal.SIGTERM, llm_calls=1, WAXELL_SIGNAL_FINALIZER="0"
    )
    assert ready["handler"] == "default"
    assert returncode == -signal.SIGTERM
    assert "main" not in runs or runs["main"]["status"] == "running"  # no exit code ran


def test_sigint_unwinds_the_run_as_interrupted(tmp_path: Path) -> None:
    returncode, ready, runs, stderr = _signalled(tmp_path, signal.SIGINT, llm_calls=2)
    assert returncode == -signal.SIGINT, stderr  # an uncaught KeyboardInterrupt: Python dies of SIGINT
    main = runs["main"]
    assert (main["run_id"], main["status"], main["error_type"], main["error"]) == (
        ready["run"],
        "interrupted",
        "Interrupted",
        "KeyboardInterrupt",
    )
    assert len(main["llm_calls"]) == 2
    assert (runs["in-thread"]["status"], runs["in-thread"]["error_type"]) == ("interrupted", "Interrupted")


LAZY = """\
import json, signal, threading
import waxell_observe

def shown():
    handler = signal.getsignal(signal.SIGTERM)
    return "default" if handler is signal.SIG_DFL else f"{handler.__module__}.{handler.__qualname__}"

seen = [shown()]
def worker():
    with waxell_observe.WaxellContext("on-a-thread", enforce_policy=False):
        pass
    seen.append(shown())
thread = threading.Thread(target=worker)
thread.start()
thread.join()
with waxell_observe.WaxellContext("on-main", enforce_policy=False):
    seen.append(shown())
print(json.dumps(seen))
"""


def test_the_handler_is_installed_lazily_from_the_main_thread(tmp_path: Path) -> None:
    script = tmp_path / "lazy.py"
    script.write_text(LAZY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    env.update(WAXELL_DB=str(tmp_path / "lazy.db"), WAXELL_JOURNAL_DIR=str(tmp_path / "journal"))
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["default", "default", OURS]
    program = (
        "import signal, waxell_observe\n"
        "waxell_observe.init()\n"
        "print(signal.getsignal(signal.SIGTERM).__qualname__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "_on_sigterm", done.stderr  # init() installs it, before any run

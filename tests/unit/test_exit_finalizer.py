"""Runs still open at interpreter exit are completed as ``interrupted`` (reference §2.2 item 8):
a context entered and never left, and one whose ``with`` block is still running in a daemon thread.
Real process, read back from its store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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

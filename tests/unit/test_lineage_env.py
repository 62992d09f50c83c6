"""Run lineage across processes (reference §2.2 items 1 and 7): an active run exports
WAXELL_PARENT_WORKFLOW_ID / WAXELL_ROOT_WORKFLOW_ID / WAXELL_PARENT_SESSION_ID / WAXELL_PARENT_USER_ID
for the processes it starts, and a run opened in such a process hangs under it. Real processes, one
store, read back from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import waxell_observe
from waxell_observe import WaxellContext
from waxell_observe.lineage_env import LINEAGE_VARIABLES

ReadRun = Callable[[str], dict[str, Any]]

CHILD = """\
import json, os, sys
import waxell_observe

with waxell_observe.WaxellContext("lineage-child", enforce_policy=False) as ctx:
    seen = {name: os.environ.get(name) for name in sys.argv[1:]}
waxell_observe.flush_sync(timeout=30)
print(json.dumps({"run_id": ctx.run_id, "seen": seen}))
"""


@pytest.fixture(autouse=True)
def no_inherited_lineage(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LINEAGE_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _lineage() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in LINEAGE_VARIABLES}


def _run_child(tmp_path: Path) -> dict[str, Any]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    done = subprocess.run(
        [sys.executable, str(script), *LINEAGE_VARIABLES],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_child_process_run_hangs_under_the_run_that_started_it(tmp_path: Path, read_run: ReadRun) -> None:
    with WaxellContext("lineage-parent", session_id="sess-7", user_id="ada", enforce_policy=False) as parent:
        exported = _lineage()
        child = _run_child(tmp_path)
    assert exported == {
        "WAXELL_PARENT_WORKFLOW_ID": parent.run_id,
        "WAXELL_ROOT_WORKFLOW_ID": parent.run_id,
        "WAXELL_PARENT_SESSION_ID": "sess-7",
        "WAXELL_PARENT_USER_ID": "ada",
    }
    assert _lineage() == dict.fromkeys(LINEAGE_VARIABLES)  # removed again: nothing was set before
    stored = read_run(child["run_id"])
    assert (stored["parent_run_id"], stored["root_run_id"]) == (parent.run_id, parent.run_id)
    assert (stored["session_id"], stored["user_id"]) == ("sess-7", "ada")
    # Inside the child's run the variables name the child's run, rooted at the parent's.
    assert child["seen"]["WAXELL_PARENT_WORKFLOW_ID"] == child["run_id"]
    assert child["seen"]["WAXELL_ROOT_WORKFLOW_ID"] == parent.run_id


def test_a_nested_run_is_the_parent_while_it_is_open(tmp_path: Path, read_run: ReadRun) -> None:
    with WaxellContext("lineage-outer", enforce_policy=False) as outer:
        with WaxellContext("lineage-inner", enforce_policy=False) as inner:
            child = _run_child(tmp_path)
            inside = _lineage()
        after_inner = _lineage()
    assert inside["WAXELL_PARENT_WORKFLOW_ID"] == inner.run_id
    assert inside["WAXELL_ROOT_WORKFLOW_ID"] == outer.run_id
    assert after_inner["WAXELL_PARENT_WORKFLOW_ID"] == outer.run_id
    assert (inside["WAXELL_PARENT_SESSION_ID"], inside["WAXELL_PARENT_USER_ID"]) == (None, None)
    stored = read_run(child["run_id"])
    assert (stored["parent_run_id"], stored["root_run_id"]) == (inner.run_id, outer.run_id)


def test_an_explicit_session_and_user_win_over_the_inherited_ones(
    monkeypatch: pytest.MonkeyPatch, read_run: ReadRun
) -> None:
    monkeypatch.setenv("WAXELL_PARENT_WORKFLOW_ID", "run-from-parent-process")
    monkeypatch.setenv("WAXELL_PARENT_SESSION_ID", "sess-parent")
    monkeypatch.setenv("WAXELL_PARENT_USER_ID", "user-parent")
    with (
        waxell_observe.session(session_id="sess-scope"),
        WaxellContext("lineage-own", user_id="me", enforce_policy=False) as ctx,
    ):
        assert os.environ["WAXELL_PARENT_WORKFLOW_ID"] == ctx.run_id
    stored = read_run(ctx.run_id)
    assert (stored["parent_run_id"], stored["root_run_id"]) == ("run-from-parent-process",) * 2
    assert (stored["session_id"], stored["user_id"]) == ("sess-scope", "me")
    # The parent process's values are back once the run is over.
    assert os.environ["WAXELL_PARENT_WORKFLOW_ID"] == "run-from-parent-process"
    assert os.environ["WAXELL_PARENT_SESSION_ID"] == "sess-parent"


def test_two_runs_side_by_side_clear_the_variables_and_read_the_processs_own(
    monkeypatch: pytest.MonkeyPatch, read_run: ReadRun
) -> None:
    monkeypatch.setenv("WAXELL_PARENT_WORKFLOW_ID", "grandparent-run")
    first_open, second_done = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def first() -> None:
        with WaxellContext("lineage-first", enforce_policy=False) as ctx:
            seen["first"] = ctx.run_id
            seen["alone"] = _lineage()
            first_open.set()
            assert second_done.wait(30)

    thread = threading.Thread(target=first)
    thread.start()
    assert first_open.wait(30)
    with WaxellContext("lineage-second", enforce_policy=False) as second:
        seen["together"] = _lineage()
    seen["first_alone_again"] = _lineage()
    second_done.set()
    thread.join(30)
    assert seen["alone"]["WAXELL_PARENT_WORKFLOW_ID"] == seen["first"]
    assert seen["together"] == dict.fromkeys(LINEAGE_VARIABLES)
    assert seen["first_alone_again"]["WAXELL_PARENT_WORKFLOW_ID"] == seen["first"]
    assert os.environ["WAXELL_PARENT_WORKFLOW_ID"] == "grandparent-run"
    # The second run, opened while the first was exporting, hangs under this process's own parent.
    assert read_run(second.run_id)["parent_run_id"] == "grandparent-run"
    assert read_run(seen["first"])["parent_run_id"] == "grandparent-run"

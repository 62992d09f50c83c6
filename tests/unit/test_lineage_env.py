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


PRINT_LINEAGE = "import json, os, sys; print(json.dumps({n: os.environ.get(n) for n in sys.argv[1:]}))"


def _c_getenv(name: str) -> str | None:
    """The C library's view of the environment (what a process started with it inherits)."""
    import ctypes

    libc = ctypes.CDLL(None)
    libc.getenv.restype = ctypes.c_char_p
    value = libc.getenv(name.encode())
    return None if value is None else value.decode()


def _mp_child(queue: Any) -> None:
    queue.put({name: os.environ.get(name) for name in LINEAGE_VARIABLES})


def _expected(ctx: WaxellContext) -> dict[str, str | None]:
    return {
        "WAXELL_PARENT_WORKFLOW_ID": ctx.run_id,
        "WAXELL_ROOT_WORKFLOW_ID": ctx.run_id,
        "WAXELL_PARENT_SESSION_ID": "sess-9",
        "WAXELL_PARENT_USER_ID": None,
    }


def test_a_run_does_not_write_the_c_environment_until_a_process_is_started() -> None:
    # setenv keeps every distinct NAME=value string for the life of the process: one per run
    # would grow a long-lived agent without bound. Python's view changes; the C one when needed.
    with WaxellContext("lineage-lazy", session_id="sess-9", enforce_policy=False) as ctx:
        assert _lineage() == _expected(ctx)
        assert _c_getenv("WAXELL_PARENT_WORKFLOW_ID") is None
        subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60)
        assert _c_getenv("WAXELL_PARENT_WORKFLOW_ID") == ctx.run_id
        assert _c_getenv("WAXELL_PARENT_SESSION_ID") == "sess-9"
    assert _lineage() == dict.fromkeys(LINEAGE_VARIABLES)
    subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60)
    assert _c_getenv("WAXELL_PARENT_WORKFLOW_ID") is None


@pytest.mark.parametrize("how", ["subprocess", "subprocess_posix_spawn", "os_system", "fork_execv", "spawnv"])
def test_every_way_of_starting_a_process_with_the_inherited_environment_passes_the_lineage_on(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "seen.json"
    argv = [sys.executable, "-c", PRINT_LINEAGE, *LINEAGE_VARIABLES]
    with WaxellContext("lineage-spawn", session_id="sess-9", enforce_policy=False) as ctx:
        if how == "subprocess":
            monkeypatch.setattr(subprocess, "_USE_POSIX_SPAWN", False)
            out.write_text(
                subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout
            )
        elif how == "subprocess_posix_spawn":
            monkeypatch.setattr(subprocess, "_USE_POSIX_SPAWN", True)  # taken with close_fds=False
            done = subprocess.run(
                argv, capture_output=True, text=True, check=True, timeout=60, close_fds=False
            )
            out.write_text(done.stdout)
        elif how == "os_system":
            command = " ".join(f"'{part}'" for part in argv)
            assert os.system(f"{command} > '{out}'") == 0
        else:
            pid = os.fork() if how == "fork_execv" else 0
            if how == "spawnv":
                fd = os.open(out, os.O_WRONLY | os.O_CREAT)
                saved = os.dup(1)
                os.dup2(fd, 1)
                try:
                    status = os.spawnv(os.P_WAIT, sys.executable, argv)
                finally:
                    os.dup2(saved, 1)
                    os.close(fd)
                    os.close(saved)
                assert status == 0
            elif pid == 0:  # the forked child becomes the printing program
                try:
                    fd = os.open(out, os.O_WRONLY | os.O_CREAT)
                    os.dup2(fd, 1)
                    os.execv(sys.executable, argv)
                finally:
                    os._exit(1)  # never back into the test runner
            else:
                assert os.waitpid(pid, 0)[1] == 0
    assert json.loads(out.read_text()) == _expected(ctx)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_children_see_the_lineage_with_every_start_method(method: str) -> None:
    import multiprocessing

    mp: Any = multiprocessing.get_context(method)
    queue = mp.Queue()
    with WaxellContext("lineage-mp", session_id="sess-9", enforce_policy=False) as ctx:
        child = mp.Process(target=_mp_child, args=(queue,))
        child.start()
        seen = queue.get(timeout=120)
        child.join(120)
    assert child.exitcode == 0
    assert seen == _expected(ctx)


def test_every_way_of_reading_os_environ_sees_the_active_run() -> None:
    with WaxellContext("lineage-read", session_id="sess-9", enforce_policy=False) as ctx:
        name = "WAXELL_PARENT_WORKFLOW_ID"
        seen = {
            "item": os.environ[name],
            "get": os.environ.get(name),
            "getenv": os.getenv(name),
            "in": name in os.environ,
            "dict": dict(os.environ)[name],
            "copy": os.environ.copy()[name],
            "items": dict(os.environ.items())[name],
            "or": (os.environ | {})[name],
            "ror": ({} | os.environ)[name],
            "repr": f"'{name}': '{ctx.run_id}'" in repr(os.environ),
            "environb": os.environb[name.encode()].decode(),
        }
    assert seen == {
        "item": ctx.run_id,
        "get": ctx.run_id,
        "getenv": ctx.run_id,
        "in": True,
        "dict": ctx.run_id,
        "copy": ctx.run_id,
        "items": ctx.run_id,
        "or": ctx.run_id,
        "ror": ctx.run_id,
        "repr": True,
        "environb": ctx.run_id,
    }
    assert _lineage() == dict.fromkeys(LINEAGE_VARIABLES)
    assert "WAXELL_PARENT_WORKFLOW_ID" not in dict(os.environ)


def test_runs_nobody_looks_at_write_nothing_and_later_writes_of_the_program_stand() -> None:
    mapping = os.environ._data  # type: ignore[attr-defined]
    key = b"WAXELL_PARENT_WORKFLOW_ID"
    for _ in range(3):
        with WaxellContext("lineage-unread", enforce_policy=False):
            assert mapping.get(key) is None  # nothing written until someone reads the environment
    with WaxellContext("lineage-read-once", enforce_policy=False) as ctx:
        assert os.environ["WAXELL_PARENT_WORKFLOW_ID"] == ctx.run_id
    # the run ended unread; the program writes the variable itself: its value stands, and the
    # variables the runs had are not put back over it
    os.environ["WAXELL_PARENT_WORKFLOW_ID"] = "set-by-the-program"
    assert os.environ["WAXELL_PARENT_WORKFLOW_ID"] == "set-by-the-program"
    assert mapping.get(b"WAXELL_ROOT_WORKFLOW_ID") is None
    with WaxellContext("lineage-after-write", enforce_policy=False) as after:
        pass
    assert after.run is not None and after.run.parent_run_id == "set-by-the-program"
    assert os.environ["WAXELL_PARENT_WORKFLOW_ID"] == "set-by-the-program"
    del os.environ["WAXELL_PARENT_WORKFLOW_ID"]

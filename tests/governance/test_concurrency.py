"""Budgets and concurrency limits hold across processes: 8 processes x 50 threads on one store.

Every thread starts governed runs (a few attempts) until the daily budget refuses it. Checked afterwards:

* ``max_concurrent`` never admitted more than its limit: the admitted runs' intervals (measured inside each
  run, hence inside the time it held its slot) never overlap more than ``LIMIT`` deep;
* the budget is never overspent by more than the runs in flight: with the concurrency slot taken before
  the budget is read, ``total <= limit - 1 + LIMIT * TOKENS``;
* no lost update: the usage counter equals the admitted runs x their tokens, and no slot is left.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from waxell_observe.config import db_url_from
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store
from waxell_observe.store.schema import gov_run_outcomes, gov_slots, gov_usage

PROCESSES = 8
THREADS = 50
LIMIT = 6  # max_concurrent
TOKENS = 100  # per run
BUDGET = 3_000  # daily_token_limit: 30 runs' worth
HOLD = 0.03  # seconds a run holds its slot

WORKER = Path(__file__).with_name("concurrency_worker.py")

POLICIES = f"""
policies:
  - {{name: slots, category: rate-limit, priority: 1, scope: {{agents: ["load-*"]}},
     rules: {{max_concurrent: {LIMIT}}}}}
  - {{name: budget, category: budget, priority: 2, scope: {{agents: ["load-*"]}},
     rules: {{daily_token_limit: {BUDGET}}}}}
"""


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    depth = deepest = 0
    for _, step in events:
        depth += step
        deepest = max(deepest, depth)
    return deepest


def run_load(db: str, tmp_path: Path) -> dict[str, object]:
    store = get_store(db_url_from(db))
    add_policies(store, load_policies(POLICIES))
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), db, str(barrier), str(i), str(THREADS), str(HOLD), str(TOKENS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(barrier.glob("ready-*"))) < PROCESSES:
            assert all(p.poll() is None for p in procs), [
                p.communicate() for p in procs if p.poll() is not None
            ]
            assert time.monotonic() < deadline, "workers did not get ready"
            time.sleep(0.05)
        (barrier / "go").touch()
        outputs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    results = []
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    intervals = [tuple(i) for r in results for i in r["intervals"]]
    totals = {
        k: sum(r["outcomes"][k] for r in results)
        for k in ("admitted", "throttled", "budget_blocked", "other")
    }
    errors = [e for r in results for e in r["errors"]]
    with store.read() as conn:
        used = conn.execute(select(func.coalesce(func.sum(gov_usage.c.tokens), 0))).scalar_one()
        counted = conn.execute(select(func.count()).select_from(gov_run_outcomes)).scalar_one()
        slots_left = conn.execute(select(func.count()).select_from(gov_slots)).scalar_one()
    return {"intervals": intervals, "totals": totals, "errors": errors, "used": used, "counted": counted,
            "slots_left": slots_left}  # fmt: skip


def check(result: dict[str, object]) -> None:
    totals = result["totals"]
    assert result["errors"] == [] and totals["other"] == 0, result["errors"]  # type: ignore[index]
    admitted = totals["admitted"]  # type: ignore[index]
    assert totals["budget_blocked"] > 0 and totals["throttled"] > 0  # type: ignore[index]  # both limits were hit
    assert max_overlap(result["intervals"]) <= LIMIT  # type: ignore[arg-type]
    assert result["used"] == admitted * TOKENS and result["counted"] == admitted  # no lost update
    assert BUDGET <= result["used"] <= BUDGET - 1 + LIMIT * TOKENS  # type: ignore[operator]
    assert result["slots_left"] == 0


def test_eight_processes_on_one_sqlite_file(tmp_path: Path) -> None:
    check(run_load(str(tmp_path / "shared.db"), tmp_path))


@pytest.mark.postgres
def test_eight_processes_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    check(run_load(postgres_url, tmp_path))


def test_a_killed_process_does_not_keep_its_slot(waxell_db: Path) -> None:
    """A process dies (SIGKILL) inside a governed run; the next run is admitted at once, not after the TTL."""
    from waxell_observe import WaxellContext
    from waxell_observe.errors import PolicyViolationError

    db = str(waxell_db)  # this test's store, shared with the child
    add_policies(get_store(db_url_from(db)), load_policies(
        "policies: [{name: solo, category: rate-limit, rules: {max_concurrent: 1}}]"
    ))  # fmt: skip
    script = f"""
import os, time
os.environ["WAXELL_DB"] = {db!r}
from waxell_observe import WaxellContext
with WaxellContext(agent_name="victim"):
    print("inside", flush=True)
    time.sleep(60)
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "inside"
        with pytest.raises(PolicyViolationError) as caught, WaxellContext(agent_name="next"):
            pass
        assert caught.value.policy_result.reason == "Concurrency limit reached: 1 of 1 runs in flight"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        with WaxellContext(agent_name="next") as ctx:
            admitted = ctx.run_id
        assert admitted
    finally:
        child.kill()
        child.wait(timeout=30)


def test_runs_racing_the_plugin_loading_of_a_fresh_process_are_all_governed(tmp_path: Path) -> None:
    """The first runs of a process start on many threads at once, while plugins are still loading: none
    may slip through before the policy decider is registered."""
    db = str(tmp_path / "fresh.db")
    add_policies(get_store(db_url_from(db)), load_policies(
        "policies: [{name: stop, category: kill-switch, rules: {killed: true}}]"
    ))  # fmt: skip
    script = f"""
import os, threading
os.environ["WAXELL_DB"] = {db!r}
from waxell_observe import WaxellContext
from waxell_observe.errors import PolicyViolationError
outcomes = []
def run():
    try:
        with WaxellContext(agent_name="racer"):
            outcomes.append("ran")
    except PolicyViolationError:
        outcomes.append("blocked")
threads = [threading.Thread(target=run) for _ in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sorted(set(outcomes)), len(outcomes))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "['blocked'] 16", done.stderr[-2000:]

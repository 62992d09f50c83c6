"""One process of the multi-process governance test (run by ``test_concurrency.py``, not collected).

``python concurrency_worker.py DB BARRIER_DIR INDEX THREADS HOLD_SECONDS TOKENS``

Each of THREADS threads starts runs of agent ``load-<INDEX>`` (``enforce_policy=True``) until a budget
refusal, at most ``ATTEMPTS`` times: a throttled attempt (concurrency limit) waits a little and tries again;
an admitted run
records TOKENS tokens and holds its slot for HOLD_SECONDS. Prints one JSON object: every admitted run's
``[admitted_at, released_at]`` (measured inside the run, so inside the time it held its slot) and counts.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from pathlib import Path

#: Attempts per thread (a thread stops earlier at its first budget refusal).
ATTEMPTS = 4


def main() -> None:
    db, barrier, index, threads, hold, tokens = sys.argv[1:7]
    os.environ["WAXELL_DB"] = db
    from waxell_observe import WaxellContext
    from waxell_observe.config import get_config
    from waxell_observe.errors import PolicyViolationError
    from waxell_observe.governance import embedded_decider

    embedded_decider.decider_for(get_config().db_url).refresh()  # warm: policies loaded before the start
    agent = f"load-{index}"
    lock = threading.Lock()
    intervals: list[tuple[float, float]] = []
    outcomes = {"admitted": 0, "throttled": 0, "budget_blocked": 0, "other": 0}
    errors: list[str] = []
    go = Path(barrier) / "go"

    def worker() -> None:
        rng = random.Random()
        while not go.exists():
            time.sleep(0.01)
        for _ in range(ATTEMPTS):
            try:
                with WaxellContext(agent_name=agent) as ctx:
                    admitted_at = time.time()
                    ctx.record_llm_call(model="gpt-4o-mini", tokens_in=int(tokens), tokens_out=0, cost=0.001)
                    time.sleep(float(hold))
                    released_at = time.time()
                with lock:
                    intervals.append((admitted_at, released_at))
                    outcomes["admitted"] += 1
            except PolicyViolationError as exc:
                rules = {e.metadata.get("rule") for e in exc.policy_result.evaluations if e.action != "allow"}
                with lock:
                    if "daily_token_limit" in rules:
                        outcomes["budget_blocked"] += 1
                        return
                    if rules == {"max_concurrent"}:
                        outcomes["throttled"] += 1
                    else:
                        outcomes["other"] += 1
                        errors.append(str(exc))
                time.sleep(rng.uniform(0.05, 0.15))
            except Exception as exc:  # noqa: BLE001 - reported to the test
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                return

    pool = [threading.Thread(target=worker) for _ in range(int(threads))]
    for t in pool:
        t.start()
    (Path(barrier) / f"ready-{index}").touch()
    for t in pool:
        t.join()
    import waxell_observe

    waxell_observe.shutdown(timeout=60)
    print(json.dumps({"intervals": intervals, "outcomes": outcomes, "errors": errors[:5]}))


if __name__ == "__main__":
    main()

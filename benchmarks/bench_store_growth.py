"""Benchmark: does the embedded store's drain slow down as the store grows? Random ids vs ids that
begin with their time.

Each id scheme runs in a fresh subprocess with its own temp store. Per round, 5,000 runs of 6
records (a start, an LLM call, a step, a tool span, a score, an end) are recorded with the drainer
held, then drained into the SQLite store; the drain's records/s and CPU seconds are printed per
round, so round N shows the cost with N x 5,000 runs already stored.

- ``random``: ids of 32 random hex characters (the scheme before ids began with their time): every
  index keyed by a run or record id takes each new row at a random leaf;
- ``time-ordered``: ``waxell_observe.records.new_id`` as it is (the millisecond, a sequence, 64
  random bits): new rows go to the end of those indexes.

    uv run python benchmarks/bench_store_growth.py [--rounds 8] [--runs 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

RECORDS_PER_RUN = 6


def _random_ids() -> None:
    """Make ``new_id`` draw 32 random hex characters, as before ids began with their time."""
    import random

    from waxell_observe import records

    generator = random.Random(os.urandom(32))

    def refill() -> str:
        records._pool.extend(generator.randbytes(4096).hex(" ", 16).split(" "))
        return records._take()

    records._refill = refill


def child(scheme: str, rounds: int, runs: int) -> None:
    directory = tempfile.mkdtemp(prefix="wx-growth-")
    os.environ.update(WAXELL_DB=f"{directory}/store.db", WAXELL_JOURNAL_DIR=f"{directory}/journal")
    if scheme == "random":
        _random_ids()
    from bench_pipeline import record

    import waxell_observe
    from waxell_observe.pipeline import drainer as drainer_module
    from waxell_observe.pipeline import pipeline as pipeline_module

    waxell_observe.init(instrument=[])
    drainer_module.Drainer.ensure_running = lambda self: None  # type: ignore[method-assign]
    record(1)  # the store and its schema, outside the measure
    drainer = pipeline_module.pipeline().drainer
    drainer._urgent = 1
    while drainer.cycle():
        pass
    for number in range(rounds):
        record(runs)
        sent = sum(drainer.sent.values())
        cpu, wall = time.process_time(), time.perf_counter()
        while drainer.cycle():
            pass
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        frames = sum(drainer.sent.values()) - sent
        print(json.dumps({"round": number, "frames": frames, "wall": wall, "cpu": cpu}), flush=True)
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rounds, args.runs)
        return
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"bench_store_growth: {args.rounds} rounds of {args.runs:,} runs "
        f"({args.runs * RECORDS_PER_RUN:,} records), embedded SQLite, load average {load:.2f}"
    )
    results: dict[str, list[dict[str, float]]] = {}
    for scheme in ("random", "time-ordered"):
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                scheme,
                "--rounds",
                str(args.rounds),
                "--runs",
                str(args.runs),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(f"{scheme}: failed\n{done.stderr[-2000:]}")
            continue
        results[scheme] = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    print()
    print("| runs stored before the round | " + " | ".join(f"{s} records/s (CPU s)" for s in results) + " |")
    print("|---|" + "---|" * len(results))
    for number in range(args.rounds):
        cells = []
        for rows in results.values():
            row = rows[number]
            cells.append(f"{row['frames'] / row['wall']:,.0f} ({row['cpu']:.2f})")
        print(f"| {number * args.runs:,} | " + " | ".join(cells) + " |")
    if len(results) == 2:
        first, last = (rows[-1]["cpu"] / rows[0]["cpu"] for rows in results.values())
        print(f"\nCPU of the last round / the first: random ids {first:.2f}x, time-ordered ids {last:.2f}x")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

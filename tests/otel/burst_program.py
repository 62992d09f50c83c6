"""Runs exported over OTLP by a real process: ``python burst_program.py COUNT MODE``.

Every run has one LLM call (two spans: the run's and the call's). ``MODE``:

- ``flush``: record, then ``waxell_observe.flush_sync(120)``; print the report as JSON;
- ``exit``: record and exit without flushing (the exit budget delivers what it can, the rest
  stays journaled); print the report of ``shutdown()`` as JSON first;
- ``fork``: record one run, fork a child that records ``COUNT`` runs and leaves through
  ``os._exit`` (as ``multiprocessing`` children do), then adopt its journal (``recover``) and
  print that report as JSON.

The endpoint comes from ``WAXELL_OTLP_ENDPOINT``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import waxell_observe
from waxell_observe import WaxellContext


def record(count: int, agent: str) -> float:
    started = time.perf_counter()
    for index in range(count):
        with WaxellContext(agent_name=agent, enforce_policy=False) as ctx:
            ctx.record_llm_call(model="gpt-4o-mini", tokens_in=10 + index % 7, tokens_out=2)
    return time.perf_counter() - started


def describe(report: Any, **extra: float) -> str:
    sinks = report.sinks if report is not None else {}
    return json.dumps(
        {
            **extra,
            "sinks": {
                name: {
                    "sent": part.sent,
                    "journaled": part.journaled,
                    "dropped": part.dropped,
                    "drop_reasons": part.drop_reasons,
                    "errors": part.errors[-3:],
                }
                for name, part in sinks.items()
            },
        }
    )


def main() -> None:
    count, mode = int(sys.argv[1]), sys.argv[2]
    waxell_observe.init()
    if mode == "flush":
        recording = record(count, "burst")
        started = time.perf_counter()
        report = waxell_observe.flush_sync(timeout=120)
        print(describe(report, recording=recording, delivery=time.perf_counter() - started), flush=True)
    elif mode == "exit":
        recording = record(count, "burst")
        print(json.dumps({"recording": recording}), flush=True)
    elif mode == "fork":
        record(1, "parent")
        pid = os.fork()
        if pid == 0:
            record(count, "child")
            os._exit(0)
        os.waitpid(pid, 0)
        from waxell_observe.pipeline.pipeline import recover

        started = time.perf_counter()
        recover(timeout=120)
        report = waxell_observe.flush_sync(timeout=60)
        print(describe(report, delivery=time.perf_counter() - started), flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()

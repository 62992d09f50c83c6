"""What ``import waxell_observe`` and ``init()`` cost a program that imports no instrumented library.

Each scenario runs in fresh interpreters (``python -c``), interleaved, so every measurement starts
cold in memory but with warm bytecode and entry-point caches, as a program's second start does. The
time is taken inside the process around the statements themselves (``time.perf_counter``), so the
interpreter's own start-up (~15 ms) is left out; the whole process is reported beside it.

- ``opentelemetry.sdk``: ``import opentelemetry.sdk`` (the package only);
- ``opentelemetry.sdk.trace``: ``import opentelemetry.sdk.trace`` (what a program using the
  OpenTelemetry SDK imports: the tracer provider);
- ``import waxell_observe``;
- ``import + init()``: ``import waxell_observe; waxell_observe.init()`` with every workspace
  integration installed (the program imports none of their libraries), embedded store;
- ``... + WaxellContext``: the same, then ``from waxell_observe import WaxellContext`` (what a
  program that records a run pays on top, once).

Prints, per scenario, the minimum and median milliseconds over ``--runs`` processes (the minimum is
the figure to compare on a busy machine) and the modules the program ended up importing that it did
not ask for (LangChain, LlamaIndex, provider SDKs, ``wrapt``, ``asyncio``, ``httpx``).
Run: ``uv run python benchmarks/bench_import_time.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

WATCHED = (
    "asyncio",
    "httpx",
    "wrapt",
    "pydantic",
    "sqlalchemy",
    "langchain_core",
    "langsmith",
    "llama_index_instrumentation",
    "openai",
    "anthropic",
)

SCENARIOS: dict[str, str] = {
    "opentelemetry.sdk": "import opentelemetry.sdk",
    "opentelemetry.sdk.trace": "import opentelemetry.sdk.trace",
    "import waxell_observe": "import waxell_observe",
    "import + init()": "import waxell_observe\nwaxell_observe.init()",
    "import + init() + WaxellContext": (
        "import waxell_observe\nwaxell_observe.init()\nfrom waxell_observe import WaxellContext"
    ),
}

PROGRAM = """
import time, sys
_t0 = time.perf_counter()
{body}
_elapsed = (time.perf_counter() - _t0) * 1000.0
import json
print(json.dumps({{"ms": _elapsed, "loaded": [m for m in {watched!r} if m in sys.modules]}}))
"""


def run_once(body: str, env: dict[str, str]) -> tuple[float, float, list[str]]:
    """(ms inside the process, ms of the whole process, watched modules imported)."""
    program = PROGRAM.format(body=body, watched=WATCHED)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True
    )
    wall = (time.perf_counter() - start) * 1000.0
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["ms"]), wall, list(result["loaded"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="processes per scenario")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            "WAXELL_DB": os.path.join(scratch, "runs.db"),
            "WAXELL_JOURNAL_DIR": os.path.join(scratch, "journal"),
            "WAXELL_CONFIG_FILE": os.path.join(scratch, "no-config"),
        }
        # warm bytecode: with PYTHONDONTWRITEBYTECODE set, every process would compile each
        # module edited since its .pyc was last written
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for body in SCENARIOS.values():  # warm bytecode and the entry-point cache
            run_once(body, env)
        inside: dict[str, list[float]] = {name: [] for name in SCENARIOS}
        whole: dict[str, list[float]] = {name: [] for name in SCENARIOS}
        loaded: dict[str, list[str]] = {}
        for _ in range(args.runs):
            for name, body in SCENARIOS.items():
                ms, wall, modules = run_once(body, env)
                inside[name].append(ms)
                whole[name].append(wall)
                loaded[name] = modules
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"bench_import_time: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load:.2f}, "
        f"{args.runs} processes per scenario"
    )
    print(f"{'scenario':34} {'min ms':>8} {'median ms':>10} {'process min ms':>15}  also imported")
    for name in SCENARIOS:
        print(
            f"{name:34} {min(inside[name]):8.1f} {statistics.median(inside[name]):10.1f} "
            f"{min(whole[name]):15.1f}  {', '.join(loaded[name]) or '-'}"
        )


if __name__ == "__main__":
    main()

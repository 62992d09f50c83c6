"""What one run costs the agent's thread in remote mode, next to embedded mode (same run shape).

The run: ``with WaxellContext(...)`` + one ``record_llm_call`` + two ``record_step`` + one
``record_tool_call`` + one ``record_score`` + ``set_result`` (``enforce_policy=False``).
Measured side by side in one process, medians of repeated batches:

- ``plain call``: the work alone (the baseline every ratio is taken against);
- ``embedded``: the run goes to a SQLite file;
- ``remote, real server``: the run goes to ``waxell-observe serve`` (a subprocess on 127.0.0.1,
  SQLite), delivered by the background worker while the agent keeps recording;
- ``remote, control plane down``: nothing listens on the port (records queue, then spill to
  the spool on disk: the agent's thread must not notice);
- ``remote, enforce_policy=True``: the same run with the pre-execution ``policy-check/`` the
  user asked for (the one synchronous round trip, to the real server).

Run: ``uv run python benchmarks/bench_remote_vs_embedded.py [--iterations N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable


def work() -> int:
    return sum(range(10))


def measure(fn: Callable[[], object], iterations: int, repeats: int) -> float:
    """Median microseconds per call over ``repeats`` batches of ``iterations``."""
    for _ in range(min(iterations, 200)):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        samples.append((time.perf_counter() - start) / iterations * 1e6)
    return statistics.median(samples)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(db: str) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from waxell_observe.cli import main; main()", "serve", "--port", str(port),
         "--db", db, "--log-level", "warning"],
        env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="waxell-bench-remote-")
    os.environ["WAXELL_DB"] = os.path.join(tmp, "embedded.db")
    os.environ["WAXELL_SPOOL_DIR"] = os.path.join(tmp, "spool")
    os.environ["WAXELL_MAX_QUEUE"] = str(10_000_000)
    os.environ.setdefault("WAXELL_DISABLE_PLUGINS", "otel")  # measure the sinks, not the exporter

    import waxell_observe
    from waxell_observe import ObserveConfig, WaxellContext, WaxellObserveClient

    def run_shape(client: WaxellObserveClient | None, enforce: bool = False) -> Callable[[], int]:
        def one_run() -> int:
            with WaxellContext(agent_name="bench", client=client, enforce_policy=enforce) as ctx:
                result = work()
                ctx.record_llm_call(model="gpt-4o", tokens_in=300, tokens_out=150)
                ctx.record_step("retrieve", output={"docs": 3})
                ctx.record_tool_call(name="search", input={"q": "x"}, output={"hits": 3}, duration_ms=12)
                ctx.record_step("answer")
                ctx.record_score("quality", 0.9)
                ctx.set_result({"answer": result})
            return result

        return one_run

    server, url = start_server(os.path.join(tmp, "server.db"))
    rows: list[tuple[str, float]] = []
    try:
        embedded = WaxellObserveClient.from_config(
            ObserveConfig(db=os.environ["WAXELL_DB"], max_queue=10_000_000)
        )
        remote = WaxellObserveClient.from_config(ObserveConfig(api_url=url, max_queue=10_000_000))
        down = WaxellObserveClient.from_config(ObserveConfig(api_url=f"http://127.0.0.1:{free_port()}",
                                                             max_queue=10_000_000))  # fmt: skip
        rows.append(("plain call", measure(work, args.iterations, args.repeats)))
        rows.append(("embedded (SQLite)", measure(run_shape(embedded), args.iterations, args.repeats)))
        rows.append(("remote, real server", measure(run_shape(remote), args.iterations, args.repeats)))
        policy_iterations = max(50, args.iterations // 10)
        rows.append(("remote, enforce_policy=True (1 round trip)",
                     measure(run_shape(remote, enforce=True), policy_iterations, args.repeats)))  # fmt: skip
        started = time.monotonic()
        report = waxell_observe.flush_sync(timeout=600)
        drained = time.monotonic() - started
        rows.append(("remote, control plane down", measure(run_shape(down), args.iterations, args.repeats)))
    finally:
        started = time.monotonic()
        shutdown = waxell_observe.shutdown(timeout=5)
        shutdown_seconds = time.monotonic() - started
        server.terminate()
        server.wait(10)

    base = rows[0][1]
    embedded_cost = rows[1][1] - base
    print(
        f"python {sys.version.split()[0]}, {args.iterations} runs x {args.repeats} repeats (median per run)"
    )
    print(f"{'case':<44} {'µs/run':>10} {'overhead µs':>12} {'vs embedded':>12}")
    for name, micros in rows:
        overhead = micros - base
        ratio = f"{overhead / embedded_cost:>11.2f}x" if name != "plain call" else f"{'-':>12}"
        print(f"{name:<44} {micros:>10.2f} {overhead:>12.2f} {ratio}")
    remote_report = report.sinks.get("remote")
    after = shutdown.sinks.get("remote")
    if remote_report is not None and after is not None:
        print(
            f"remote (real server): {remote_report.sent} items delivered, {remote_report.dropped} dropped, "
            f"{remote_report.pending} pending; draining after the loops took {drained:.1f}s"
        )
        print(
            f"remote (control plane down): {after.spooled} "
            f"items spooled to disk by a {shutdown_seconds:.2f}s shutdown, {after.dropped} dropped"
        )


if __name__ == "__main__":
    main()

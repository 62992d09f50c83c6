"""What a WaxellContext costs the agent's thread, next to a plain call and an OpenTelemetry span.

Measured side by side in one process:

- ``plain call``: the work function alone;
- ``otel span``: an OpenTelemetry SDK span with three attributes, through a
  ``BatchSpanProcessor`` and an in-memory exporter;
- ``WaxellContext``: ``with WaxellContext(...)`` + one ``record_llm_call`` + two
  ``record_step`` + ``set_result`` (``enforce_policy=False``), embedded store;
- ``WaxellContext, slow store``: the same while every database write takes 50 ms
  (the store is slow; the agent's thread must not notice).

Prints microseconds per iteration (median of repeats) and the ratio to the OTel span, as wall
time and as CPU time of the agent's thread (wall time also counts waiting for the GIL while the
store's writer thread works; in a tight loop that is most of the difference).
Run: ``uv run python benchmarks/bench_context.py [--iterations N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable


def work() -> int:
    return sum(range(10))


def measure(fn: Callable[[], object], iterations: int, repeats: int) -> tuple[float, float]:
    """Median microseconds per call over ``repeats`` batches of ``iterations``: wall time, and CPU
    time of the calling thread (what the agent's thread itself spends, without waiting for the GIL
    held by background threads)."""
    for _ in range(min(iterations, 200)):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        for _ in range(iterations):
            fn()
        wall.append((time.perf_counter() - start) / iterations * 1e6)
        cpu.append((time.thread_time() - start_cpu) / iterations * 1e6)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="waxell-bench-")
    os.environ["WAXELL_DB"] = os.path.join(tmp, "bench.db")
    os.environ["WAXELL_MAX_QUEUE"] = str(10_000_000)

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import waxell_observe
    from waxell_observe import WaxellContext

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=1_000_000))
    tracer = provider.get_tracer("bench")

    def otel_span() -> int:
        with tracer.start_as_current_span("agent") as span:
            span.set_attribute("agent.name", "bench")
            span.set_attribute("gen_ai.request.model", "gpt-4o")
            span.set_attribute("gen_ai.usage.input_tokens", 300)
            return work()

    def waxell_context() -> int:
        with WaxellContext(agent_name="bench", enforce_policy=False) as ctx:
            result = work()
            ctx.record_llm_call(model="gpt-4o", tokens_in=300, tokens_out=150)
            ctx.record_step("retrieve", output={"docs": 3})
            ctx.record_step("answer")
            ctx.set_result({"answer": result})
        return result

    rows: list[tuple[str, tuple[float, float]]] = []
    rows.append(("plain call", measure(work, args.iterations, args.repeats)))
    rows.append(
        ("otel span (3 attributes, batch processor)", measure(otel_span, args.iterations, args.repeats))
    )
    rows.append(
        (
            "WaxellContext + llm call + 2 steps + result",
            measure(waxell_context, args.iterations, args.repeats),
        )
    )
    report = waxell_observe.flush_sync(timeout=300)
    stored = report.sent

    # The same while the store is slow: every batch write sleeps 50 ms.
    from waxell_observe.pipeline.store_destination import StoreDestination

    original = StoreDestination.deliver

    def slow_deliver(self: StoreDestination, batch: list) -> object:  # type: ignore[type-arg]
        time.sleep(0.05)
        return original(self, batch)

    StoreDestination.deliver = slow_deliver  # type: ignore[method-assign]
    try:
        rows.append(
            ("WaxellContext, store 50 ms per batch", measure(waxell_context, args.iterations, args.repeats))
        )
    finally:
        StoreDestination.deliver = original  # type: ignore[method-assign]
    report = waxell_observe.flush_sync(timeout=600)
    provider.shutdown()

    otel_wall, otel_cpu = rows[1][1]
    print(f"python {sys.version.split()[0]}, {args.iterations} iterations x {args.repeats} repeats (median)")
    print(f"{'case':<46} {'wall µs':>9} {'vs span':>8} {'thread CPU µs':>14} {'vs span':>8}")
    for name, (wall, cpu) in rows:
        print(f"{name:<46} {wall:>9.2f} {wall / otel_wall:>7.2f}x {cpu:>14.2f} {cpu / otel_cpu:>7.2f}x")
    print(
        f"records stored: {report.sent} (first phase {stored}), "
        f"dropped: {report.dropped}, pending: {report.pending}"
    )


if __name__ == "__main__":
    main()

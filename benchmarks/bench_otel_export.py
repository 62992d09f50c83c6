"""What OpenTelemetry export costs the agent's thread, as a ratio to the same runs without it.

Runs a seed-like run (a tag, two LLM calls, two steps, a tool call, a score) N times:
(1) export off (the embedded store only), (2) export on to an in-memory exporter, and (3) a
bare OpenTelemetry baseline that makes the same 7 spans itself on the agent's thread. Prints
microseconds per run on the agent's thread (recording, excluding the background flush) and the
ratios. Usage: ``uv run python benchmarks/bench_otel_export.py [runs]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time


def seed_run() -> None:
    from waxell_observe import WaxellContext

    with WaxellContext(agent_name="ticket-processor", workflow_name="support", enforce_policy=False) as ctx:
        ctx.set_tag("priority", "high")
        ctx.record_llm_call(model="gpt-4o-mini", tokens_in=200, tokens_out=10, task="classify")
        ctx.record_step("classify", output={"category": "billing"})
        ctx.record_llm_call(model="gpt-4o", tokens_in=500, tokens_out=200, task="respond")
        ctx.record_step("respond", output={"length": 42})
        ctx.record_tool_call(name="lookup", input={"id": 1}, output="ok", duration_ms=3)
        ctx.record_score("response_quality", 0.9)


def timed(runs: int) -> float:
    """Microseconds per run spent on this thread."""
    import waxell_observe

    for _ in range(min(200, runs)):  # warm up (imports, first spans)
        seed_run()
    waxell_observe.flush_sync(timeout=60)
    started = time.perf_counter()
    for _ in range(runs):
        seed_run()
    elapsed = time.perf_counter() - started
    waxell_observe.flush_sync(timeout=120)
    return elapsed / runs * 1e6


def bare_otel(runs: int) -> float:
    """The same seven spans made with the OpenTelemetry SDK directly, on this thread."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    tracer = provider.get_tracer("bench")

    def one() -> None:
        with tracer.start_as_current_span(
            "invoke_agent ticket-processor", attributes={"waxell.tag.priority": "high"}
        ):
            for name in (
                "chat gpt-4o-mini",
                "step classify",
                "chat gpt-4o",
                "step respond",
                "execute_tool lookup",
            ):
                with tracer.start_as_current_span(name, attributes={"gen_ai.usage.input_tokens": 200}):
                    pass

    for _ in range(min(200, runs)):
        one()
    started = time.perf_counter()
    for _ in range(runs):
        one()
    elapsed = time.perf_counter() - started
    provider.shutdown()
    return elapsed / runs * 1e6


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    os.environ["WAXELL_DB"] = os.path.join(tempfile.mkdtemp(), "bench.db")
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from waxell_observe import WaxellObserveClient

    WaxellObserveClient.configure()
    off = timed(runs)
    WaxellObserveClient.configure(otel_span_exporter=InMemorySpanExporter())
    on = timed(runs)
    bare = bare_otel(runs)
    print(f"runs: {runs} (each: 1 run span + 6 records)")
    print(f"export off (embedded store only):    {off:8.1f} us/run on the agent's thread")
    print(f"export on (in-memory exporter):      {on:8.1f} us/run   ratio to off: {on / off:.2f}")
    print(
        f"bare OpenTelemetry, same 7 spans:    {bare:8.1f} us/run   ratio of our added cost to it: "
        f"{(on - off) / bare:.2f}"
    )


if __name__ == "__main__":
    main()

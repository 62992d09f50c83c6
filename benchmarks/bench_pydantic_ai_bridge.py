"""Pydantic AI through the OpenTelemetry bridge, side by side with a direct patch: what one agent run
costs on the agent's thread and what each leaves on the run.

One agent with one tool on Pydantic AI's ``TestModel`` (no network: it calls every tool once, then
answers), run ``--iterations`` times inside one ``WaxellContext``; medians and p99 of single runs, µs:

The four cases take turns (one run each, repeated) so that a busy machine slows them alike.

1. ``plain``: Pydantic AI, nothing instrumented (the baseline);
2. ``pydantic-ai instrumentation, no-op SDK provider``: Pydantic AI's own OpenTelemetry instrumentation
   into an SDK ``TracerProvider`` with no processor (what building its spans costs by itself);
3. ``bridge (our integration)``: ``init(instrument=["pydantic_ai"])`` — its instrumentation into the
   bridge's private provider, spans recorded on the run;
4. ``direct patch``: ``Agent.run`` and the tool function wrapped by hand in ``enter_span``/``exit_span``
   (the smallest patch that gives the same agent → tool nesting; no model-call record: with a
   provider integration on, that one comes from the provider in both designs).

Then it prints, for one run of 3 and 4, the spans each records and the attributes they carry.

    uv run python benchmarks/bench_pydantic_ai_bridge.py [--iterations N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any


def interleaved_us(
    cases: dict[str, Callable[[], object]], iterations: int, warmup: int = 20
) -> dict[str, tuple[float, float]]:
    """Median and p99 (µs) of each case, the cases taking turns so a busy machine slows all alike."""
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    clock = time.perf_counter_ns
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(iterations):
        for name, fn in cases.items():
            start = clock()
            fn()
            samples[name].append((clock() - start) / 1000.0)
    result = {}
    for name, values in samples.items():
        values.sort()
        result[name] = (statistics.median(values), values[min(len(values) - 1, int(len(values) * 0.99))])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench-pydantic-ai-")
    os.environ["WAXELL_DB"] = os.path.join(root, "runs.db")
    os.environ["WAXELL_JOURNAL_DIR"] = os.path.join(root, "journal")
    os.environ["WAXELL_CONFIG_FILE"] = os.path.join(root, "none.toml")

    from opentelemetry.sdk.trace import TracerProvider
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.test import TestModel

    import waxell_observe
    from waxell_observe import WaxellContext
    from waxell_observe.current import current_context
    from waxell_observe.initialization import _reset_for_tests, init
    from waxell_observe.plugins import plugin_manager

    def lookup(city: str) -> str:
        """The weather in a city."""
        return f"Sunny in {city}"

    def make_agent(tool: Callable[[str], str] = lookup, *, instrument: Any) -> Agent[None, str]:
        agent: Agent[None, str] = Agent(TestModel(), name="bench-agent")
        agent.instrument = instrument
        agent.tool_plain(tool)
        return agent

    n = args.iterations
    recorded: dict[str, Any] = {}

    def traced_tool(city: str) -> str:
        """The weather in a city."""
        ctx = current_context.get()
        handle = ctx.enter_span("lookup", kind="tool", input_data={"city": city}) if ctx else None
        result = lookup(city)
        if ctx is not None:
            ctx.exit_span(handle, output_data={"output": result})
        return result

    def patched_run(agent: Agent[None, str], prompt: str) -> Any:
        ctx = current_context.get()
        handle = ctx.enter_span("bench-agent", kind="agent", input_data={"prompt": prompt}) if ctx else None
        try:
            result = agent.run_sync(prompt)
        except BaseException as exc:
            if ctx is not None:
                ctx.exit_span(handle, exc=exc)
            raise
        if ctx is not None:
            ctx.exit_span(handle, output_data={"output": result.output})
        return result

    plain = make_agent(instrument=False)
    noop = make_agent(instrument=InstrumentationSettings(tracer_provider=TracerProvider()))
    bridged = make_agent(instrument=None)  # Agent.instrument_all's default: ours after init()
    patched = make_agent(traced_tool, instrument=False)
    _reset_for_tests()
    init(instrument=["pydantic_ai"])
    with WaxellContext(agent_name="bench", enforce_policy=False):
        timings = interleaved_us(
            {
                "plain": lambda: plain.run_sync("Weather?"),
                "pydantic-ai instrumentation, no-op SDK provider": lambda: noop.run_sync("Weather?"),
                "bridge (our integration)": lambda: bridged.run_sync("Weather?"),
                "direct patch": lambda: patched_run(patched, "Weather?"),
            },
            n,
        )
    with WaxellContext(agent_name="bench-bridge-one", enforce_policy=False) as one:
        bridged.run_sync("Weather?")
    recorded["bridge"] = one.run_id
    with WaxellContext(agent_name="bench-patch-one", enforce_policy=False) as one:
        patched_run(patched, "Weather?")
    recorded["patch"] = one.run_id
    plugin_manager().hook.on_uninstrument(libraries=frozenset({"pydantic_ai"}))
    waxell_observe.flush_sync(timeout=60)
    rows = [(name, median, p99) for name, (median, p99) in timings.items()]

    base = rows[0][1]
    print(f"{'case':<50} {'median µs':>10} {'p99 µs':>10} {'× plain':>9}")
    for name, median, p99 in rows:
        print(f"{name:<50} {median:>10.1f} {p99:>10.1f} {median / base:>9.2f}")

    from waxell_observe.config import get_config
    from waxell_observe.store import get_store
    from waxell_observe.store.reader import get_run

    with get_store(get_config().db_url).read() as conn:
        for label, run_id in recorded.items():
            run = get_run(conn, run_id)
            assert run is not None
            print(f"\n{label}: {run['llm_call_count']} LLM call(s) recorded")
            for span in run["spans"]:
                if span["kind"] == "io":
                    continue
                keys = sorted(span["attributes"])
                print(f"  {span['kind']:<6} {span['name']:<14} input={span['input']} output={span['output']}")
                print(f"         attributes: {', '.join(keys)}")


if __name__ == "__main__":
    main()

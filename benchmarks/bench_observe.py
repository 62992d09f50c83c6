"""Micro-benchmark: the cost of ``@observe`` on a trivial sync function.

Side by side, in one process and one run:

- a plain call, a ``functools.wraps`` pass-through decorator (the baselines);
- ``@observe(enforce_policy=False)`` with ``capture_io`` on (the default), recording every
  call into the embedded SQLite store (the background worker writes while we measure);
- an OpenTelemetry span decorator (``start_as_current_span`` + input/output attributes,
  BatchSpanProcessor with an exporter that discards), the usual tracing alternative;
- disabled mode (``WAXELL_OBSERVE=false``): a function decorated while enabled, so the
  call-time check runs on every call, and one decorated while disabled (returned as is).

Times are the best of ``--repeat`` rounds of ``--calls`` calls (µs per call); ratios are
against the baselines measured in the same run.

    uv run python benchmarks/bench_observe.py [--calls N] [--repeat R]
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("WAXELL_DB", os.path.join(tempfile.mkdtemp(prefix="bench-observe-"), "observe.db"))
os.environ.pop("WAXELL_OBSERVE", None)

import waxell_observe  # noqa: E402
from waxell_observe.config import get_config, set_config  # noqa: E402


def trivial(x: int, y: int = 2) -> int:
    return x + y


def passthrough(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


def otel_decorator() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=100_000))
    tracer = provider.get_tracer("bench")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with tracer.start_as_current_span(fn.__name__) as span:
                span.set_attribute("input.args", repr(args))
                result = fn(*args, **kwargs)
                span.set_attribute("output.value", repr(result))
                return result

        return wrapper

    return decorate


def measure(
    fn: Callable[..., Any], calls: int, repeat: int, between: Callable[[], Any] | None = None
) -> float:
    """Best time per call, in microseconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for i in range(calls):
            fn(i)
        elapsed = time.perf_counter() - started
        best = min(best, elapsed / calls)
        if between is not None:
            between()
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls per round for the recording cases")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    fast_calls = args.calls * 40  # the cheap cases need more calls for a stable reading

    flush = functools.partial(waxell_observe.flush_sync, timeout=120)
    observed = waxell_observe.observe(enforce_policy=False)(trivial)
    observed(0)  # load plugins and create the store outside the measurement
    flush()

    # The pass-through cases first, while no background thread (store writer, span exporter) is busy.
    plain = measure(trivial, fast_calls, args.repeat)
    wrapped = measure(passthrough(trivial), fast_calls, args.repeat)
    set_config(get_config().replace(enabled=False))
    disabled_call = measure(observed, fast_calls, args.repeat)
    decorated_disabled = waxell_observe.observe(trivial)
    assert decorated_disabled is trivial
    disabled_decoration = measure(decorated_disabled, fast_calls, args.repeat)
    set_config(None)
    recorded = measure(observed, args.calls, args.repeat, flush)
    otel = measure(otel_decorator()(trivial), args.calls, args.repeat)
    rows = [
        ("plain call", plain),
        ("functools.wraps pass-through", wrapped),
        ("@observe (capture_io, no policy)", recorded),
        ("OpenTelemetry span decorator", otel),
        ("disabled: decorated while enabled", disabled_call),
        ("disabled: decorated while disabled", disabled_decoration),
    ]

    report = flush()
    print(f"{'case':<38} {'µs/call':>9} {'× plain':>9} {'× wraps':>9}")
    for name, micros in rows:
        print(f"{name:<38} {micros:>9.3f} {micros / plain:>9.2f} {micros / wrapped:>9.2f}")
    print()
    print(f"@observe / OpenTelemetry decorator: {recorded / otel:.2f}")
    print(f"disabled-mode call / functools.wraps: {disabled_call / wrapped:.2f} (target < 2)")
    print(f"delivered {report.sent} records, dropped {report.dropped}")


if __name__ == "__main__":
    main()

"""What the surface gates cost on the agent's thread, embedded mode, side by side with a plain call.

Measured in one process (medians and p99 of single calls, µs):

1. ``plain call``: a trivial tool function called directly (the baseline);
2. ``pre-execution check, 10 policies``: ``policy_gate.check(run, "pre_execution", "run.start")`` through
   the embedded decider, as at context entry, with 10 policies of 10 categories in a SQLite store (none
   stateful in scope: no database statement per check). Target: under 100 µs;
3. ``tool.before, no policies``: ``gate_tool(name, args)`` inside a run while the store holds no policy
   (the fast path every integration pays);
4. ``tool.before, 10 policies``: the same with the 10 policies stored, 8 of them acting at ``tool.before``
   (allowed: every policy evaluated);
5. ``tool.before, 10 policies, tool out of scope``: a tool the policies' ``scope_tools`` leave out;
6. ``llm.before, no policy there``: the integrations' ``gate_llm_request`` when no policy acts at
   ``llm.before`` (its signal is never built).
7. ``network.before (httpx send)``: what ``init()``'s network gate adds to each ``httpx`` request
   (:func:`waxell_observe.gating.network` ``_check`` on a built request), with no policy and with the
   10 policies stored (one of them, ``network``, acting there).

    uv run python benchmarks/bench_gates.py [--iterations N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

POLICIES = """
policies:
  - {name: tools, category: tool-allowlist, rules: {blocked_tools: [shell, rm_rf], scope_tools: ["*"]}}
  - {name: scope, category: scope, rules: {denied_tools: [wire_money], max_transaction_amount: 1000}}
  - {name: schema, category: tool-argument-schema, rules: {schemas: {lookup: {type: object}}}}
  - {name: safety, category: safety, rules: {max_steps: 50, blocked_tools: [shell]}}
  - {name: pii, category: content, rules: {pii_detection: {enabled: true, action: redact}}}
  - {name: size, category: input-validation, rules: {max_input_size_kb: 64}}
  - {name: depth, category: recursion-bound, rules: {max_tool_calls: 1000000}}
  - {name: hours, category: time-of-day-gating, rules: {allowed_hours_utc: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                     11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]}}
  - {name: models, category: llm, rules: {allowed_models: [gpt-4o-mini]}}
  - {name: net, category: network, rules: {blocked_domains: [evil.example]}}
"""

ARGS = {"query": "quarterly revenue by region", "limit": 10}


def median_us(fn: Callable[[], object], iterations: int, warmup: int = 300) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(iterations):
        start = clock()
        fn()
        samples.append((clock() - start) / 1000.0)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench-gates-")
    os.environ["WAXELL_DB"] = os.path.join(root, "gates.db")
    os.environ["WAXELL_JOURNAL_DIR"] = os.path.join(root, "journal")
    os.environ["WAXELL_CONFIG_FILE"] = os.path.join(root, "none.toml")

    import waxell_observe
    from waxell_observe import WaxellContext, gate_tool, policy_gate
    from waxell_observe.config import get_config
    from waxell_observe.gating import forget
    from waxell_observe.gating import network as network_gate
    from waxell_observe.governance import embedded_decider, load_policies
    from waxell_observe.governance.policy_store import add_policies
    from waxell_observe.instrumentation import gate_llm_request
    from waxell_observe.store import get_store

    def lookup(query: str, limit: int) -> int:
        return limit

    rows: list[tuple[str, float, float]] = []
    n = args.iterations
    rows.append(("plain call", *median_us(lambda: lookup(**ARGS), n)))

    import httpx

    request = httpx.Request("GET", "https://api.example.com/v1/items?page=2")
    with WaxellContext(agent_name="bench-gates", enforce_policy=False):
        rows.append(("tool.before, no policies", *median_us(lambda: gate_tool("lookup", ARGS), n)))
        rows.append(
            ("network.before (httpx send), no policies", *median_us(lambda: network_gate._check(request), n))
        )
        messages = [{"role": "user", "content": "hello " * 200}]
        rows.append(
            (
                "llm.before, no policies (integration helper)",
                *median_us(
                    lambda: gate_llm_request(provider="openai", model="gpt-4o-mini", messages=messages), n
                ),
            )
        )

    add_policies(get_store(get_config().db_url), load_policies(POLICIES))
    embedded_decider.forget_deciders()
    forget()

    with WaxellContext(agent_name="bench-gates", inputs={"q": "x"}) as ctx:
        run = ctx.run
        assert run is not None
        rows.append(
            (
                "pre-execution check, 10 policies",
                *median_us(lambda: policy_gate.check(run, "pre_execution", "run.start"), n),
            )
        )
        rows.append(("tool.before, 10 policies", *median_us(lambda: gate_tool("lookup", ARGS), n)))
        rows.append(
            ("network.before (httpx send), 10 policies", *median_us(lambda: network_gate._check(request), n))
        )
        rows.append(
            (
                "llm.before, 10 policies (integration helper)",
                *median_us(
                    lambda: gate_llm_request(provider="openai", model="gpt-4o-mini", messages=messages), n
                ),
            )
        )
    waxell_observe.flush_sync(timeout=30)

    base = rows[0][1]
    print(f"{'case':<46} {'median µs':>10} {'p99 µs':>10} {'× plain':>9}")
    for name, median, p99 in rows:
        print(f"{name:<46} {median:>10.2f} {p99:>10.2f} {median / base:>9.1f}")
    pre = next(m for name, m, _ in rows if name.startswith("pre-execution"))
    verdict = "met" if pre < 100 else "MISSED"
    print(f"\npre-execution check with 10 policies: {pre:.1f} µs (target < 100 µs: {verdict})")


if __name__ == "__main__":
    main()

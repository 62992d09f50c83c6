"""What a pre-execution policy check costs on the agent's thread, with 10 policies loaded.

Measured in one process, each against baselines measured in the same run:

1. ``engine``: ``PolicyEngine.evaluate(request, "pre_execution")`` over an in-memory usage source (the
   engine alone, no store);
2. ``embedded check``: the embedded decider through the hook, as at context entry
   (``policy_gate.check(run, "pre_execution", "run.start")``), with the 10 policies stored in a SQLite store:
   no policies stored; stateful policies scoped to other agents (pure in-memory evaluation); budget +
   kill switch in scope (counter reads); budget + kill switch + rate limit in scope (admission: one
   ``BEGIN IMMEDIATE`` write);
3. ``WaxellContext``: a whole ``with WaxellContext(..., enforce_policy=True)`` run (pre- and post-execution
   checks, run start/end, one LLM call) next to the same run with ``enforce_policy=False``;
4. the database statements the decider ran during the checks of the in-memory case (the policies version
   is read at most once a second: no file or database read per check).

Target: pre-execution median under 100 µs on the agent's thread.

    uv run python benchmarks/bench_policy_check.py [--iterations N]
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
  - name: daily-budget
    category: budget
    scope: {agents: [AGENTS]}
    rules: {daily_token_limit: 100000000, daily_cost_limit: 1000000, warning_threshold_percent: 80}
  - name: research-rate
    category: rate-limit
    scope: {agents: ["research-*"]}
    rules: {max_per_minute: 100000000, max_per_hour: 100000000}
  - name: pii-guard
    category: content
    rules: {pii_detection: {enabled: true, action: redact}, blocked_phrases: ["drop table"]}
  - name: breaker
    category: kill-switch
    scope: {agents: [AGENTS]}
    rules: {kill_on_error_rate: 0.5, min_samples: 10}
  - name: office-hours
    category: scheduling
    rules: {allowed_hours: {start: 0, end: 24}, timezone: Europe/Paris, blackout_dates: ["1999-12-31"]}
  - name: models
    category: llm
    rules: {allowed_models: [gpt-4o-mini, claude-3-5-haiku]}
  - name: safety
    category: safety
    rules: {max_steps: 50, blocked_tools: [shell]}
  - name: context
    category: context-management
    rules: {max_conversation_turns: 20}
  - name: answers
    category: quality
    rules: {template_checks: [{type: length, min: 1}]}
  - name: free-tier-budget
    category: budget
    scope: {user_groups: [free]}
    rules: {daily_cost_limit: 5}
"""

INPUTS = {"query": "What were the main causes of the 1929 stock market crash?", "depth": 2}


def policies_text(budget_agents: str) -> str:
    return POLICIES.replace("AGENTS", budget_agents)


def median_us(fn: Callable[[], object], iterations: int, warmup: int = 200) -> tuple[float, float]:
    """Median and p99 of single calls, in microseconds."""
    for _ in range(warmup):
        fn()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(iterations):
        t0 = clock()
        fn()
        samples.append((clock() - t0) / 1000.0)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.99) - 1)]


def fresh_store(label: str, policies: str | None) -> str:
    """A new SQLite store (as the SDK opens it) holding ``policies``; returns its SQLAlchemy URL."""
    from waxell_observe.config import db_url_from
    from waxell_observe.governance import load_policies
    from waxell_observe.governance.policy_store import add_policies
    from waxell_observe.store import get_store

    url = db_url_from(os.path.join(tempfile.mkdtemp(prefix=f"waxell-bench-{label}-"), "observe.db"))
    if policies is not None:
        add_policies(get_store(url), load_policies(policies))
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20000)
    args = parser.parse_args()
    n = args.iterations
    os.environ["WAXELL_MAX_QUEUE"] = str(10_000_000)

    from sqlalchemy import event

    from waxell_observe import WaxellContext, policy_gate
    from waxell_observe.config import ObserveConfig, set_config
    from waxell_observe.governance import InMemoryUsage, PolicyEngine, PolicyRequest, load_policies
    from waxell_observe.governance.embedded_decider import decider_for
    from waxell_observe.run import Run
    from waxell_observe.store import get_store

    # 1. the engine alone ---------------------------------------------------------------------------
    policies = load_policies(policies_text('"*"'))
    assert len(policies) == 10
    usage = InMemoryUsage()
    for i in range(50):  # some history for the budget and breaker queries to walk
        usage.record_usage(
            agent_name="research-agent", tokens=1000, cost=0.01, model="gpt-4o-mini", run_id=f"h{i}"
        )
        usage.record_outcome(agent_name="research-agent", error=False, run_id=f"h{i}")
    engine = PolicyEngine(policies, usage)
    request = PolicyRequest(
        agent_name="research-agent", workflow_name="default", user_group="pro", inputs=INPUTS
    )
    engine_median, engine_p99 = median_us(lambda: engine.evaluate(request, "pre_execution"), n)
    result = engine.evaluate(request, "pre_execution")
    assert result.allowed, result.to_dict()
    print(f"10 policies loaded; pre-execution median (p99) on the agent's thread, {n} iterations per line:")
    print(f"  engine alone, in-memory usage ({len(result.evaluations)} evaluated):     "
          f"{engine_median:7.1f} µs ({engine_p99:.1f})")  # fmt: skip

    # 2. the embedded decider through the hook --------------------------------------------------------
    cases = [
        ("no policies stored", None, "chat-agent", n),
        ("stateful policies scoped elsewhere", policies_text('"batch-*"'), "chat-agent", n),
        ("budget + kill switch in scope (reads)", policies_text('"*"'), "chat-agent", n),
        ("+ rate limit in scope (admission write)", policies_text('"*"'), "research-agent", max(1, n // 10)),
    ]
    statements = 0
    in_memory_median = 0.0
    for label, text, agent, iterations in cases:
        url = fresh_store(label.split()[0], text)
        config = ObserveConfig(db=url)
        set_config(config)
        run = Run(agent_name=agent, config=config, inputs=dict(INPUTS), user_group="pro")
        decider = decider_for(url)
        counted: list[int] = [0]

        def count(*_: object, counter: list[int] = counted) -> None:
            counter[0] += 1

        event.listen(get_store(url).engine, "before_cursor_execute", count)
        started = time.monotonic()
        med, p99 = median_us(lambda run=run: policy_gate.check(run, "pre_execution", "run.start"), iterations)
        elapsed = time.monotonic() - started
        event.remove(get_store(url).engine, "before_cursor_execute", count)
        verdict = policy_gate.check(run, "pre_execution", "run.start")
        assert verdict.allowed, verdict.to_dict()
        mark = "ok " if med < 100 else "OVER"
        print(f"  embedded check, {label + ':':<42}{med:7.1f} µs ({p99:.1f})  {mark} "
              f"[{len(verdict.evaluations)} evaluated]")  # fmt: skip
        if text is not None and "elsewhere" in label:
            statements, in_memory_elapsed = counted[0], elapsed
            in_memory_median = med
        assert decider.version >= 0

    # 3. a whole run through WaxellContext ------------------------------------------------------------
    url = fresh_store("ctx", policies_text('"*"'))
    set_config(ObserveConfig(db=url))

    def run_once(enforce: bool) -> None:
        with WaxellContext(agent_name="chat-agent", inputs=INPUTS, enforce_policy=enforce) as ctx:
            ctx.record_llm_call(model="gpt-4o-mini", tokens_in=10, tokens_out=5)
            ctx.set_result({"answer": "ok"})

    runs = max(1, n // 10)
    plain, _ = median_us(lambda: run_once(False), runs)
    governed, _ = median_us(lambda: run_once(True), runs)
    print(f"  WaxellContext run, enforce_policy=False (baseline):            {plain:7.1f} µs")
    print(f"  WaxellContext run, enforce_policy=True (pre+post checks, end): {governed:7.1f} µs"
          f"  ratio {governed / plain:.2f}x, +{governed - plain:.1f} µs")  # fmt: skip

    # 4. reads per check ------------------------------------------------------------------------------
    print(f"  in-memory case: {statements} database statement(s) in {in_memory_elapsed:.1f} s of checks "
          f"(the policies version, polled at most once a second); median {in_memory_median:.1f} µs "
          f"= {in_memory_median / engine_median:.2f}x the engine alone")  # fmt: skip
    import waxell_observe

    waxell_observe.shutdown(timeout=60)


if __name__ == "__main__":
    main()

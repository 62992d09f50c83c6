"""Micro-benchmark: median time of a pre-execution policy check with 10 policies loaded.

Embedded-mode shape: policies compiled once into a PolicyEngine over an in-process usage source;
each iteration is one ``evaluate(request, "pre_execution")`` as done at context entry.

    uv run python benchmarks/bench_policy_check.py [--iterations N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from waxell_observe.governance import InMemoryUsage, PolicyEngine, PolicyRequest, load_policies

POLICIES = """
policies:
  - name: daily-budget
    category: budget
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20000)
    args = parser.parse_args()

    policies = load_policies(POLICIES)
    assert len(policies) == 10
    usage = InMemoryUsage()
    for i in range(50):  # some history for the budget and breaker queries to walk
        usage.record_usage(
            agent_name="research-agent", tokens=1000, cost=0.01, model="gpt-4o-mini", run_id=f"h{i}"
        )
        usage.record_outcome(agent_name="research-agent", error=False, run_id=f"h{i}")
    engine = PolicyEngine(policies, usage)
    request = PolicyRequest(
        agent_name="research-agent",
        workflow_name="default",
        user_group="pro",
        inputs={"query": "What were the main causes of the 1929 stock market crash?", "depth": 2},
    )

    for _ in range(500):  # warm-up (fills the scope cache)
        engine.evaluate(request, "pre_execution")
    samples: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(args.iterations):
        t0 = clock()
        result = engine.evaluate(request, "pre_execution")
        samples.append((clock() - t0) / 1000.0)
    assert result.allowed, result.to_dict()
    samples.sort()
    p99 = samples[int(len(samples) * 0.99) - 1]
    print(
        f"pre-execution check, {len(policies)} policies loaded, {len(result.evaluations)} evaluated: "
        f"median {statistics.median(samples):.1f} µs, p99 {p99:.1f} µs over {args.iterations} iterations"
    )


if __name__ == "__main__":
    main()

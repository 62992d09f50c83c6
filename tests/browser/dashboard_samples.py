"""Runs recorded with the real SDK (``WaxellContext``) for the dashboard tests.

Everything goes through the public recording API into the embedded store named by
``WAXELL_DB``; the tests then read the same store through the real server. Small sleeps
spread the records in time so the timeline has something to draw.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import waxell_observe
from waxell_observe import WaxellContext

__all__ = ["SUPPORT_TOKENS_IN", "XSS_AGENT", "XSS_TAG_VALUE", "SampleRuns", "record_sample_runs"]

XSS_AGENT = "<script>window.__xss = 1</script>evil-agent"
XSS_TAG_VALUE = '<img src=x onerror="window.__xss = 2">'
SUPPORT_TOKENS_IN = (1200, 4200)
"""Input tokens of the two gpt-4o calls of the support run: 0.9% then 3.3% of 128,000."""


@dataclass
class SampleRuns:
    support: str = ""
    research: str = ""
    child: str = ""
    failing: str = ""
    xss: str = ""
    others: list[str] = field(default_factory=list)


def _pause(ms: float = 15) -> None:
    time.sleep(ms / 1000)


def _support_run() -> str:
    """A chat run with a conversation, two LLM calls, a tool call, policy spans and scores."""
    messages: list[dict[str, str]] = [
        {"role": "system", "content": "You are a helpful support agent."},
        {"role": "user", "content": "My invoice #4411 is wrong, can you fix it?"},
    ]
    with WaxellContext(
        agent_name="support-bot",
        workflow_name="chat",
        inputs={"ticket": 4411},
        session_id="sess-alpha",
        user_id="alice",
        user_group="pro",
        enforce_policy=False,
        tags={"env": "prod", "team": "billing"},
        metadata={"channel": "web", "version": "2.1"},
    ) as ctx:
        ctx.record_policy_check(
            "pii-guard",
            "warn",
            category="content",
            reason="email address in input",
            duration_ms=1.5,
            phase="pre_execution",
        )
        _pause()
        ctx.record_llm_call(
            model="gpt-4o",
            tokens_in=SUPPORT_TOKENS_IN[0],
            tokens_out=80,
            task="plan",
            prompt_preview="My invoice #4411 is wrong",
            response_preview="Let me look up the invoice.",
            duration_ms=40.0,
            messages=messages,
            response_text="",
            finish_reason="tool_calls",
            response_tool_calls=["lookup_invoice"],
        )
        _pause()
        ctx.record_tool_call(
            "lookup_invoice",
            input={"invoice": 4411},
            output={"total": 120.5, "status": "overcharged"},
            duration_ms=25.0,
        )
        _pause()
        ctx.record_decision(
            "route",
            options=["refund", "escalate"],
            chosen="refund",
            reasoning="overcharge < $200",
            confidence=0.9,
        )
        ctx.record_reasoning(
            "assess", thought="The invoice double-counts shipping.", conclusion="refund shipping"
        )
        _pause()
        ctx.record_retrieval(
            "refund policy",
            documents=[{"id": "kb-7", "text": "Refunds under $200 are automatic."}],
            source="kb",
            duration_ms=12.0,
        )
        ctx.record_retry(
            1, "rate limited", strategy="retry", original_error="429 Too Many Requests", max_attempts=3
        )
        _pause()
        messages = messages + [
            {"role": "assistant", "content": "Let me look up the invoice."},
            {"role": "tool", "content": "total 120.5, overcharged"},
        ]
        ctx.record_llm_call(
            model="gpt-4o",
            tokens_in=SUPPORT_TOKENS_IN[1],
            tokens_out=150,
            task="answer",
            prompt_preview="tool result: overcharged",
            response_preview="I refunded the shipping charge of $12.",
            duration_ms=60.0,
            messages=messages,
            response_text="I refunded the shipping charge of $12.",
            finish_reason="stop",
        )
        ctx.record_step("refund", output={"amount": 12})
        ctx.record_policy_check(
            "budget",
            "block",
            category="budget",
            reason="daily budget reached",
            duration_ms=0.8,
            phase="mid_execution",
        )
        ctx.record_score("helpfulness", 0.85, comment="resolved on first contact")
        ctx.record_score("resolved", True, data_type="boolean")
        ctx.record_score("sentiment", "positive", data_type="categorical")
        ctx.set_result({"answer": "I refunded the shipping charge of $12."})
        return ctx.run_id


def _research_run(samples: SampleRuns) -> None:
    """A parent run that delegates to a nested child run."""
    with WaxellContext(
        agent_name="research-agent",
        workflow_name="report",
        session_id="sess-alpha",
        user_id="alice",
        enforce_policy=False,
        tags={"env": "prod"},
    ) as parent:
        parent.record_llm_call(model="claude-sonnet-4-5", tokens_in=3000, tokens_out=900, duration_ms=30.0)
        _pause()
        with WaxellContext(agent_name="web-searcher", workflow_name="search", enforce_policy=False) as child:
            child.record_tool_call(
                "search", input={"q": "agent observability"}, output={"hits": 3}, duration_ms=18.0
            )
            child.record_llm_call(model="gpt-4o-mini", tokens_in=800, tokens_out=120, duration_ms=15.0)
            samples.child = child.run_id
        _pause()
        parent.record_user_message("Summarise the findings please")
        parent.record_agent_response("Here is the summary of three sources.")
        samples.research = parent.run_id


def _failing_run() -> str:
    try:
        with WaxellContext(
            agent_name="etl-worker", workflow_name="nightly", user_id="bob", enforce_policy=False
        ) as ctx:
            ctx.record_llm_call(
                model="gpt-4o-mini",
                tokens_in=500,
                tokens_out=20,
                duration_ms=8.0,
                status="error",
                error_type="Timeout",
                error_message="upstream timed out",
            )
            run_id = ctx.run_id
            raise RuntimeError("database unavailable")
    except RuntimeError:
        pass
    return run_id


def _xss_run() -> str:
    with WaxellContext(
        agent_name=XSS_AGENT,
        enforce_policy=False,
        tags={"label": XSS_TAG_VALUE},
        metadata={"note": "<b>bold?</b>"},
        user_id="<i>mallory</i>",
    ) as ctx:
        ctx.record_tool_call("<svg onload=alert(1)>", input="<script>1</script>", output="ok")
        ctx.record_user_message("<script>window.__xss = 3</script>hello")
        return ctx.run_id


def record_sample_runs(extra_runs: int = 6) -> SampleRuns:
    """Record the sample runs into the configured embedded store and flush them."""
    samples = SampleRuns()
    samples.support = _support_run()
    _research_run(samples)
    samples.failing = _failing_run()
    samples.xss = _xss_run()
    for i in range(extra_runs):
        with WaxellContext(
            agent_name="support-bot" if i % 2 else "triage-bot",
            workflow_name="chat",
            session_id=f"sess-{i % 3}",
            user_id=["carol", "dave", "erin"][i % 3],
            enforce_policy=False,
            tags={"env": "staging" if i % 2 else "prod"},
        ) as ctx:
            ctx.record_llm_call(
                model=["gpt-4o-mini", "claude-haiku-4-5", "gpt-4o"][i % 3],
                tokens_in=400 + 100 * i,
                tokens_out=50 + 10 * i,
                duration_ms=5.0,
            )
            samples.others.append(ctx.run_id)
    report = waxell_observe.flush_sync(timeout=30)
    if report.pending:
        raise RuntimeError(f"sample runs were not all written: {report}")
    return samples


SAMPLE_POLICIES = [
    {
        "name": "daily-budget",
        "category": "budget",
        "scope": {"agents": ["support-*"]},
        "priority": 10,
        "rules": {"daily_cost_limit": 25.0, "action_on_exceed": "block"},
    },
    {"name": "models", "category": "llm", "enabled": False, "rules": {"allowed_models": ["gpt-4o-mini"]}},
]
"""Policies stored (after the runs were recorded) so the Policies page has something to list."""


def add_sample_policies(store_url: str) -> None:
    """Store :data:`SAMPLE_POLICIES` with the governance engine's policy store."""
    from waxell_observe.governance.loader import parse_policies
    from waxell_observe.governance.policy_store import add_policies
    from waxell_observe.store import get_store

    add_policies(get_store(store_url), parse_policies(SAMPLE_POLICIES, source="dashboard tests"))

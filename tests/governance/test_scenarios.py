"""Governance scenarios, each in a fresh Python process on a fresh store.

Every scenario is a small agent program run with ``python -c``: it adds its policies with the real CLI
(``waxell-observe policies add``), runs agents through the public API, and prints what it saw as JSON.
Time-dependent scenarios (rate windows, the breaker's recovery, scheduling windows) pin the decider's clock
with ``waxell_observe.governance.embedded_decider.set_clock``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

PRELUDE = """
import json, os, sys
from waxell_observe import WaxellContext
from waxell_observe.errors import PolicyViolationError
from waxell_observe.cli import main as cli
from waxell_observe.governance import embedded_decider

def add_policies(text):
    path = os.path.join(os.path.dirname(os.environ["WAXELL_DB"]), "policies.yaml")
    with open(path, "w") as f:
        f.write(text)
    cli(["policies", "add", path], standalone_mode=False)

def attempt(fn, **kwargs):
    try:
        with WaxellContext(**kwargs) as ctx:
            fn(ctx)
        g = ctx.governance
        return {"ok": True, "run_id": ctx.run_id, "governance": g.to_dict() if g is not None else None}
    except PolicyViolationError as exc:
        r = exc.policy_result
        return {"ok": False, "action": r.action, "reason": r.reason, "metadata": r.metadata}

def nothing(ctx):
    pass

out = {}
"""

EPILOGUE = """
import waxell_observe
waxell_observe.shutdown(timeout=30)
print(json.dumps(out))
"""


def scenario(tmp_path: Path, body: str) -> dict[str, Any]:
    """Run ``body`` (after :data:`PRELUDE`) in a fresh process on a fresh store; its ``out`` dict."""
    db = tmp_path / "scenario" / "observe.db"
    db.parent.mkdir()
    code = PRELUDE + textwrap.dedent(body) + EPILOGUE
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("WAXELL_")}
    env["WAXELL_DB"] = str(db)
    env["WAXELL_CONFIG_FILE"] = str(tmp_path / "no-config")
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["_db"] = str(db)
    return result


def audit(db: str) -> list[dict[str, Any]]:
    """``waxell-observe audit --json`` on the scenario's store (a process of its own)."""
    exe = Path(sys.executable).parent / "waxell-observe"
    done = subprocess.run(
        [str(exe), "audit", "--json", "--db", db], check=True, capture_output=True, text=True, timeout=120
    )
    return list(reversed(json.loads(done.stdout)))  # oldest first


def store_bytes(db: str) -> bytes:
    return b"".join(Path(p).read_bytes() for p in (db, db + "-wal") if Path(p).exists())


def test_budget_exhausted_across_runs(tmp_path: Path) -> None:
    out = scenario(
        tmp_path,
        """
        add_policies('''
        policies:
          - {name: daily, category: budget, scope: {agents: ["writer-*"]}, rules: {daily_token_limit: 1000}}
        ''')
        def spend(ctx):
            ctx.record_llm_call(model="gpt-4o-mini", tokens_in=300, tokens_out=100)
        out["runs"] = [attempt(spend, agent_name="writer-1") for _ in range(4)]
        out["other_scope"] = attempt(spend, agent_name="reader-1")
    """,
    )
    runs = out["runs"]
    assert [r["ok"] for r in runs] == [True, True, True, False]
    assert runs[1]["governance"]["action"] == "warn"  # post: 800 of 1,000 used
    assert runs[2]["governance"]["reason"] == "Daily token budget exceeded: 1,200 of 1,000 tokens used"
    assert (runs[3]["action"], runs[3]["reason"]) == (
        "block",
        "Daily token budget exceeded: 1,200 of 1,000 tokens used",
    )
    assert out["other_scope"]["ok"] is True


def test_budget_exhausted_mid_run(tmp_path: Path) -> None:
    out = scenario(
        tmp_path,
        """
        add_policies('''
        policies:
          - {name: per-run, category: budget, rules: {per_workflow_cost_limit: 0.05, daily_cost_limit: 0.08}}
        ''')
        steps = []
        def work(ctx):
            for i in range(10):
                ctx.record_llm_call(model="gpt-4o", tokens_in=1000, tokens_out=500, cost=0.02)
                ctx.record_step(f"step-{i}")
                steps.append(i)
        out["first"] = attempt(work, agent_name="a", mid_execution_governance=True)
        out["steps"] = list(steps)
        out["second"] = attempt(nothing, agent_name="a")
        out["third"] = attempt(nothing, agent_name="a")
    """,
    )
    assert out["first"]["ok"] is False and out["steps"] == [0, 1]  # the third step's check raised
    assert out["first"]["reason"] == "Run cost budget exceeded: $0.06 of $0.05 used"
    assert out["second"]["ok"] is True  # $0.06 of $0.08 used today: below the limit (warns)
    assert out["second"]["governance"]["action"] == "allow"
    assert out["third"]["ok"] is True


def test_model_allow_list_with_dated_names(tmp_path: Path) -> None:
    out = scenario(
        tmp_path,
        """
        add_policies('''
        policies:
          - name: models
            category: llm
            rules: {allowed_models: [gpt-4o-mini, claude-3-5-sonnet], blocked_models: [gpt-4o-mini-audio]}
        ''')
        verdicts = {}
        for model in ["gpt-4o-mini-2024-07-18", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet:beta",
                      "gpt-4o", "gpt-4o-mini-audio-preview", "claude-3-5-sonnetx"]:
            with WaxellContext(agent_name="a") as ctx:
                ctx.record_llm_call(model=model, tokens_in=1, tokens_out=1)
                r = ctx.check_policy_sync()
                verdicts[model] = [r.action, r.reason]
        out["verdicts"] = verdicts
    """,
    )
    assert out["verdicts"] == {
        "gpt-4o-mini-2024-07-18": ["allow", ""],
        "claude-3-5-sonnet-20241022": ["allow", ""],
        "claude-3-5-sonnet:beta": ["allow", ""],
        "gpt-4o": ["block", "Model 'gpt-4o' is not allowed (allowed: gpt-4o-mini, claude-3-5-sonnet)"],
        "gpt-4o-mini-audio-preview": ["block", "Model 'gpt-4o-mini-audio-preview' is blocked (matches "
                                               "'gpt-4o-mini-audio')"],
        "claude-3-5-sonnetx": ["block", "Model 'claude-3-5-sonnetx' is not allowed (allowed: gpt-4o-mini, "
                                        "claude-3-5-sonnet)"],
    }  # fmt: skip


def test_pii_in_inputs_blocked_and_never_stored(tmp_path: Path) -> None:
    out = scenario(
        tmp_path,
        """
        add_policies('''
        policies: [{name: pii, category: content, rules: {pii_detection: {action: block}}}]
        ''')
        out["run"] = attempt(nothing, agent_name="a", inputs={"msg": "my SSN is 078-05-1120"})
        out["clean"] = attempt(nothing, agent_name="a", inputs={"msg": "hello"})
    """,
    )
    assert (out["run"]["ok"], out["run"]["action"], out["run"]["reason"]) == (
        False,
        "block",
        "PII detected: ssn",
    )
    assert out["clean"]["ok"] is True
    assert b"078-05-1120" not in store_bytes(out["_db"])
    [event] = audit(out["_db"])
    assert (event["policy_name"], event["action"], event["reason"], event["run_id"]) == (
        "pii", "block", "PII detected: ssn", ""
    )  # fmt: skip


def test_pii_in_inputs_redacted_and_the_original_never_stored(tmp_path: Path) -> None:
    out = scenario(
        tmp_path,
        """
        add_policies('''
        policies: [{name: pii, category: content, rules: {pii_detection: {action: redact}}}]
        ''')
        out["run"] = attempt(nothing, agent_name="a",
                             inputs={"msg": "SSN 078-05-1120, card 4111 1111 1111 1111, "
                                            "mail jane.doe@example.com"})
    """,
    )
    assert out["run"]["ok"] is True
    show = subprocess.run(
        [
            str(Path(sys.executable).parent / "waxell-observe"),
            "show",
            out["run"]["run_id"],
            "--json",
            "--db",
            out["_db"],
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    run = json.loads(show.stdout)
    assert run["inputs"] == {"msg": "SSN ##SSN##, card ##CREDIT_CARD##, mail ##EMAIL##"}
    raw = store_bytes(out["_db"])
    for original in (b"078-05-1120", b"4111 1111 1111 1111", b"jane.doe@example.com"):
        assert original not in raw


def test_rate_limit_per_minute_with_a_pinned_clock(tmp_path: Path) -> None:
    out = scenario(
        tmp_path,
        """
        add_policies('''
        policies: [{name: rate, category: rate-limit, rules: {max_per_minute: 3}}]
        ''')
        now = [1_750_000_000.0]
        embedded_decider.set_clock(lambda: now[0])
        results = []
        for i in range(4):
            results.append(attempt(nothing, agent_name="a"))
            now[0] += 5
        now[0] = 1_750_000_000.0 + 60  # the first admission has left the window
        results.append(attempt(nothing, agent_name="a"))
        out["results"] = results
    """,
    )
    r = out["results"]
    assert [x["ok"] for x in r] == [True, True, True, False, True]
    assert (r[3]["action"], r[3]["reason"]) == ("throttle", "Rate limit exceeded: 3 runs per minute")
    assert r[3]["metadata"]["retry_after_seconds"] == 45.0
    assert [(e["policy_name"], e["action"]) for e in r[3]["metadata"]["evaluations"]] == [
        ("rate", "throttle")
    ]


def test_blocked_tools(tmp_path: Path) -> None:
    out = scenario(
        tmp_path,
        """
        add_policies('''
        policies:
          - {name: tools, category: safety, rules: {blocked_tools: [shell, "delete_*"], max_tool_calls: 3}}
        ''')
        def agent(ctx):
            ctx.record_tool_call(name="search", output="ok")
            ctx.record_step("search")
            ctx.record_tool_call(name="delete_user", input={"id": 7})
            ctx.record_step("cleanup")
            raise AssertionError("the step after a blocked tool must raise")
        out["governed"] = attempt(agent, agent_name="a", mid_execution_governance=True)
        with WaxellContext(agent_name="a") as ctx:
            for _ in range(4):
                ctx.record_tool_call(name="search")
            r = ctx.check_policy_sync()
            out["many"] = [r.action, r.reason]
    """,
    )
    assert (out["governed"]["ok"], out["governed"]["reason"]) == (False, "Blocked tool used: delete_user")
    assert out["many"] == ["block", "Too many tool calls: 4 (max 3)"]


def test_error_rate_breaker_trips_and_recovers(tmp_path: Path) -> None:
    out = scenario(
        tmp_path,
        """
        add_policies('''
        policies:
          - name: breaker
            category: kill-switch
            rules: {kill_on_error_rate: 0.5, min_samples: 4, error_window_minutes: 5,
                    auto_recover_after_minutes: 10}
        ''')
        now = [1_750_000_000.0]
        embedded_decider.set_clock(lambda: now[0])
        def fail(ctx):
            raise RuntimeError("tool crashed")
        for i in range(4):
            try:
                with WaxellContext(agent_name="flaky"):
                    if i != 1:
                        raise RuntimeError("tool crashed")
            except RuntimeError:
                pass
            now[0] += 10
        out["tripped"] = attempt(nothing, agent_name="flaky")
        now[0] += 300
        out["still_open"] = attempt(nothing, agent_name="flaky")
        now[0] += 301
        out["recovered"] = attempt(nothing, agent_name="flaky")
        out["after_recovery"] = attempt(nothing, agent_name="flaky")
    """,
    )
    assert out["tripped"]["ok"] is False
    assert out["tripped"]["reason"] == "Circuit breaker tripped: error rate 75% (3 of 4 runs)"
    assert out["still_open"]["ok"] is False
    assert out["still_open"]["reason"].startswith(
        "Circuit breaker open: error rate 75% over 4 runs; auto-recovers in"
    )
    assert out["recovered"]["ok"] is True and out["after_recovery"]["ok"] is True


def test_scheduling_windows_in_an_iana_time_zone(tmp_path: Path) -> None:
    out = scenario(
        tmp_path,
        """
        from datetime import datetime
        from zoneinfo import ZoneInfo
        add_policies('''
        policies:
          - name: office-hours
            category: scheduling
            rules:
              allowed_hours: {start: 9, end: 17}
              allowed_days: [0, 1, 2, 3, 4]
              timezone: Europe/Paris
              blackout_dates: ["2025-07-14"]
        ''')
        paris = ZoneInfo("Europe/Paris")
        now = [0.0]
        embedded_decider.set_clock(lambda: now[0])
        seen = {}
        for label, local in [
            ("mon-08:59", datetime(2025, 6, 2, 8, 59, tzinfo=paris)),
            ("mon-09:00", datetime(2025, 6, 2, 9, 0, tzinfo=paris)),
            ("mon-16:59", datetime(2025, 6, 2, 16, 59, tzinfo=paris)),
            ("mon-17:00", datetime(2025, 6, 2, 17, 0, tzinfo=paris)),
            ("winter-mon-09:30", datetime(2025, 1, 6, 9, 30, tzinfo=paris)),
            ("sat-12:00", datetime(2025, 6, 7, 12, 0, tzinfo=paris)),
            ("bastille-day", datetime(2025, 7, 14, 11, 0, tzinfo=paris)),
        ]:
            now[0] = local.timestamp()
            r = attempt(nothing, agent_name="batch")
            seen[label] = r.get("reason", "ok")
        out["seen"] = seen
    """,
    )
    assert out["seen"] == {
        "mon-08:59": "Outside allowed hours 09:00-17:00 Europe/Paris (local time 08:59)",
        "mon-09:00": "ok",
        "mon-16:59": "ok",
        "mon-17:00": "Outside allowed hours 09:00-17:00 Europe/Paris (local time 17:00)",
        "winter-mon-09:30": "ok",
        "sat-12:00": "Saturday is not an allowed day (allowed: Monday, Tuesday, Wednesday, Thursday, Friday; "
                     "Europe/Paris)",
        "bastille-day": "Blackout date 2025-07-14 (Europe/Paris)",
    }  # fmt: skip


def test_warnings_recorded_on_the_run_and_in_the_audit_log(tmp_path: Path) -> None:
    out = scenario(
        tmp_path,
        """
        add_policies('''
        policies:
          - {name: tokens, category: budget, rules: {per_workflow_token_limit: 1000, action_on_exceed: warn}}
          - {name: chat-size, category: context-management, rules: {max_conversation_turns: 2}}
        ''')
        def chat(ctx):
            for text in ["hi", "and then?", "one more"]:
                ctx.record_user_message(text)
                ctx.record_agent_response("ok")
            ctx.record_llm_call(model="gpt-4o-mini", tokens_in=900, tokens_out=200)
            ctx.check_policy_sync()
        out["run"] = attempt(chat, agent_name="chatbot", workflow_name="support")
    """,
    )
    run_id = out["run"]["run_id"]
    show = subprocess.run(
        [str(Path(sys.executable).parent / "waxell-observe"), "show", run_id, "--json", "--db", out["_db"]],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    spans = [s for s in json.loads(show.stdout)["spans"] if s["kind"] == "policy"]
    expected = [
        (
            "mid_execution",
            "tokens",
            "budget",
            "warn",
            "Run token budget exceeded: 1,100 of 1,000 tokens used",
        ),
        (
            "mid_execution",
            "chat-size",
            "context-management",
            "warn",
            "Conversation turns exceeded: 3 (max 2)",
        ),
        (
            "post_execution",
            "tokens",
            "budget",
            "warn",
            "Run token budget exceeded: 1,100 of 1,000 tokens used",
        ),
    ]
    assert [(s["attributes"]["phase"], s["name"], s["attributes"]["category"], s["attributes"]["action"],
             s["attributes"]["reason"]) for s in spans] == expected  # fmt: skip
    assert all(s["duration_ms"] is not None for s in spans)
    events = audit(out["_db"])
    # The audit log is ordered by each decision's start (the policy span's started_at = its end minus
    # its measured duration): two decisions of one check may start in either order on a loaded machine.
    assert sorted(
        (e["phase"], e["policy_name"], e["category"], e["action"], e["reason"]) for e in events
    ) == sorted(expected)
    assert {(e["run_id"], e["agent_name"], e["workflow_name"]) for e in events} == {
        (run_id, "chatbot", "support")
    }


def test_quality_retry_feedback_through_ctx_governance(tmp_path: Path) -> None:
    out = scenario(
        tmp_path,
        """
        add_policies('''
        policies:
          - name: json-answer
            category: quality
            rules:
              template_checks:
                - {type: json_schema, schema: {type: object, required: [answer, sources]}}
                - {type: length, min: 10, message: "Give a complete answer."}
              retry_config: {max_retries: 2, feedback_template: "Please fix:\\\\n{failures}"}
        ''')
        attempts = []
        answer = {"answer": "Paris"}
        for attempt_no in range(1, 4):
            with WaxellContext(agent_name="qa") as ctx:
                if attempt_no > 1:
                    ctx.record_retry(attempt=attempt_no, reason="quality feedback")
                ctx.set_result(answer)
            g = ctx.governance
            attempts.append([g.action, g.retry_feedback])
            if g.action != "retry":
                break
            answer = {"answer": "Paris is the capital of France.", "sources": ["atlas"]}
        out["attempts"] = attempts
    """,
    )
    assert out["attempts"] == [
        ["retry", ("Please fix:\n- response does not match the schema: $: missing required property 'sources'"
                  "\n- Give a complete answer.")],
        ["allow", ""],
    ]  # fmt: skip

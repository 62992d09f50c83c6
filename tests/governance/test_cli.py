"""``waxell-observe policies`` and ``waxell-observe audit`` on the local store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from waxell_observe import WaxellContext
from waxell_observe.cli import main
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.governance import load_policies
from waxell_observe.store import get_store
from waxell_observe.store.schema import gov_admissions, gov_slots
from waxell_observe.vocabulary import POLICY_CATEGORY_NAMES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies.yaml"


def cli(*args: str, ok: bool = True) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_examples_file_shows_every_category() -> None:
    categories = {p.category for p in load_policies(EXAMPLES)}
    assert categories == set(POLICY_CATEGORY_NAMES)
    assert len(POLICY_CATEGORY_NAMES) == 31


def test_add_list_replace_remove(tmp_path: Path) -> None:
    assert (
        cli("policies", "list").output
        == "no policies (add some with `waxell-observe policies add FILE.yaml`)\n"
    )
    assert cli("policies", "add", str(EXAMPLES)).output == (
        "added 32 policies: daily-budget, free-tier-budget, research-rate, approved-models, content-guard, "
        "safety-caps, error-breaker, context-limits, office-hours, answer-quality, tools, egress-hosts, "
        "domains, mcp, prompts, payments-scope, depth, spawns, egress-format, input-size, rag-quality, "
        "memory-guard, tool-args, service-account, business-hours, chargeback, ops, eu-only, sandbox, "
        "cite-sources, injection, payments-need-approval\n"
    )
    changed = write(
        tmp_path,
        "p.yaml",
        "policies: [{name: safety-caps, category: safety, rules: {max_steps: 5}},"
        " {name: new-one, category: llm, rules: {blocked_models: [o1]}}]",
    )
    assert cli("policies", "add", changed).output == "added 1 policy: new-one; replaced 1: safety-caps\n"
    listed = json.loads(cli("policies", "list", "--json").output)["policies"]
    assert [p["name"] for p in listed] == [
        "daily-budget", "free-tier-budget", "research-rate", "approved-models", "content-guard",
        "error-breaker", "context-limits", "office-hours", "answer-quality", "tools", "egress-hosts",
        "domains", "mcp", "prompts", "payments-scope", "depth", "spawns", "egress-format", "input-size",
        "rag-quality", "memory-guard", "tool-args", "service-account", "business-hours", "chargeback", "ops",
        "eu-only", "sandbox", "cite-sources", "injection", "payments-need-approval", "safety-caps", "new-one",
    ]  # fmt: skip
    assert listed[-2]["rules"]["max_steps"] == 5
    # the JSON is loadable as a policy file again
    assert [p.name for p in load_policies(json.dumps({"policies": listed}))] == [p["name"] for p in listed]
    table = cli("policies", "list").output
    assert "research-rate" in table and "agents=research-*" in table
    assert cli("policies", "remove", "new-one", "safety-caps").output == "removed new-one, safety-caps\n"
    result = cli("policies", "remove", "daily-budget", "nope", ok=False)
    assert result.exit_code == 1 and "no policy named 'nope'" in result.output
    assert len(json.loads(cli("policies", "list", "--json").output)["policies"]) == 31  # nothing removed


def test_a_bad_file_is_rejected_whole_with_the_loaders_message(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "bad.yaml",
        """
policies:
  - {name: fine, category: budget, rules: {daily_token_limit: 10}}
  - {name: typo, category: budget, rules: {daily_token_limt: 10}}
  - {name: tz, category: scheduling, rules: {timezone: Mars/Olympus}}
  - {name: rx, category: content, rules: {custom_patterns: [{name: x, regex: "([a-z"}]}}
  - {name: what, category: budgets}
""",
    )
    result = cli("policies", "add", bad, ok=False)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"Error: invalid policy file in {bad}: 4 problems:"
    assert lines[1].startswith(
        "  - policy 'typo': field 'rules.daily_token_limt': unknown rule for category 'budget'"
    )
    assert lines[2] == (
        "  - policy 'tz': field 'rules.timezone': unknown "
        "timezone 'Mars/Olympus' (expected an IANA name such as 'Europe/Paris')"
    )
    assert lines[3].startswith(
        "  - policy 'rx': field 'rules.custom_patterns.0.regex': invalid regex '([a-z'"
    )
    assert lines[4].startswith("  - policy 'what': field 'category': unknown category 'budgets'")
    assert json.loads(cli("policies", "list", "--json").output) == {"policies": []}  # nothing half-loaded


def test_dry_run_reports_and_consumes_no_counter(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        "rate.yaml",
        """
policies:
  - {name: rate, category: rate-limit, rules: {max_per_minute: 1, max_concurrent: 1}}
  - {name: pii, category: content, rules: {pii_detection: {action: redact}}}
""",
    )
    for _ in range(3):
        reply = json.loads(
            cli(
                "policies",
                "test",
                file,
                "--agent",
                "a",
                "--inputs",
                '{"q": "mail jane@example.com"}',
                "--json",
            ).output
        )
        assert (reply["action"], reply["reason"]) == ("redact", "PII detected: email")
        assert reply["metadata"] == {"redacted_inputs": {"q": "mail ##EMAIL##"}}
        assert [(e["policy_name"], e["action"]) for e in reply["evaluations"]] == [
            ("rate", "allow"),
            ("pii", "redact"),
        ]
    with get_store(get_config().db_url).read() as conn:
        assert conn.execute(select(func.count()).select_from(gov_admissions)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(gov_slots)).scalar_one() == 0
    text = cli("policies", "test", file, "--agent", "a", "--inputs", '{"q": "SSN 078-05-1120"}').output
    assert text.splitlines() == [
        "pre_execution: REDACT — PII detected: ssn",
        "  allow    rate [rate-limit]",
        "  redact   pii [content]: PII detected: ssn",
        '  redacted_inputs: {"q": "SSN ##SSN##"}',
    ]


def test_dry_run_phases_clock_and_bad_options(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        "p.yaml",
        """
policies:
  - name: hours
    category: scheduling
    rules: {allowed_hours: {start: 9, end: 17}, timezone: America/New_York}
  - {name: models, category: llm, rules: {allowed_models: [gpt-4o-mini]}}
  - {name: q, category: quality, rules: {template_checks: [{type: regex, pattern: "^OK"}]}}
""",
    )

    def run(*extra: str) -> dict[str, Any]:
        return json.loads(cli("policies", "test", file, "--agent", "a", "--json", *extra).output)

    assert run("--at", "2025-06-02T13:30:00Z")["action"] == "allow"  # 09:30 in New York
    late = run("--at", "2025-06-02T22:00:00+00:00")  # 18:00 in New York
    assert (late["action"], late["reason"]) == (
        "block", "Outside allowed hours 09:00-17:00 America/New_York (local time 18:00)"
    )  # fmt: skip
    mid = run(
        "--phase",
        "mid",
        "--state",
        '{"llm_calls": [{"model": "gpt-4o-mini-2024-07-18"}, {"model": "gpt-4o"}]}',
    )
    assert (mid["action"], mid["reason"]) == ("block", "Model 'gpt-4o' is not allowed (allowed: gpt-4o-mini)")
    post = run("--phase", "post", "--result", '{"answer": "no"}')
    assert post["action"] == "retry" and "response must match /^OK/" in post["metadata"]["retry_feedback"]
    bad = cli("policies", "test", file, "--agent", "a", "--inputs", "[1]", ok=False)
    assert bad.exit_code == 2 and "must be a JSON object, got list" in bad.output
    bad = cli("policies", "test", file, "--agent", "a", "--at", "tomorrow", ok=False)
    assert bad.exit_code == 2 and "expected ISO 8601" in bad.output


def test_audit_lists_policy_decisions(tmp_path: Path) -> None:
    cli("policies", "add", write(tmp_path, "p.yaml", """
policies:
  - {name: tokens, category: budget, rules: {per_workflow_token_limit: 100, action_on_exceed: warn}}
  - {name: stop, category: kill-switch, scope: {agents: [halted]}, rules: {killed: true}}
"""))  # fmt: skip
    with WaxellContext(agent_name="worker") as ctx:
        ctx.record_llm_call(model="gpt-4o", tokens_in=100, tokens_out=20)
        ctx.check_policy_sync()
    with pytest.raises(PolicyViolationError), WaxellContext(agent_name="halted"):
        pass
    import waxell_observe

    waxell_observe.flush_sync(timeout=30)
    events = json.loads(cli("audit", "--json").output)
    assert [(e["agent_name"], e["policy_name"], e["action"], e["phase"], e["run_id"]) for e in events] == [
        ("halted", "stop", "block", "pre_execution", ""),
        ("worker", "tokens", "warn", "post_execution", ctx.run_id),
        ("worker", "tokens", "warn", "mid_execution", ctx.run_id),
    ]
    assert events[1]["reason"] == "Run token budget exceeded: 120 of 100 tokens used"
    assert len(json.loads(cli("audit", "--json", "--limit", "1").output)) == 1
    assert [e["action"] for e in json.loads(cli("audit", "--json", "--action", "block").output)] == ["block"]
    assert len(json.loads(cli("audit", "--json", "--run", ctx.run_id).output)) == 2
    table = cli("audit").output
    assert "3 event(s)" in table and "Kill switch engaged for policy 'stop'" in table

"""A program written in the reference SDK's style for the top-level API (issue 14: ``init`` with its
reference parameters, ``@observe(end_user_id=...)``, the behaviour decorators, the recording
one-liners with their keyword names, ``session``, ``phase``, ``prompt_use``, ``communication``,
``PromptInfo.compile``, ``redact``, ``diagnose``, ``await flush()`` / ``flush_sync()``, and the
semi-public ``instrumentors._guard`` / ``instrumentors._collector``) runs unchanged in embedded
mode; everything it recorded is read back from the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from waxell_observe.store import get_store
from waxell_observe.store.reader import RunFilter, get_run, list_runs

PROGRAM = """\
import asyncio
import json
import sys

import waxell_observe as waxell
from waxell_observe import ApprovalDecision, PromptGuardError, PromptInfo, PromptGuardResult
from waxell_observe.instrumentors._collector import _collector
from waxell_observe.instrumentors._guard import check_prompt, configure, fold_confusables
from waxell_observe.types import CompiledPromptText

waxell.init(
    agent_name="support-bot",
    workflow_name="triage",
    capture_content=True,
    instrument=[],
    exclude=["openai"],
    prompt_guard=True,
    prompt_guard_action="block",
    interaction_mode="interactive",
    on_policy_block=lambda error: ApprovalDecision(approved=True, approver="cli"),
)
configure(enabled=True, server=False, action="block")


@waxell.tool(tool_type="api")
def lookup_order(order_id: str) -> dict:
    return {"order_id": order_id, "status": "shipped"}


@waxell.retrieval(source="kb")
def search(query: str, top_k: int = 2) -> list:
    return [
        {"id": "d1", "text": "Shipping takes 3 days", "score": 0.9},
        {"id": "d2", "text": "Returns", "score": 0.4},
    ]


@waxell.decision(name="route", options=["billing", "shipping"])
def route(question: str) -> dict:
    return {"chosen": "shipping", "reasoning": "mentions an order", "confidence": 0.8}


@waxell.reasoning_dec(step="plan")
def plan(question: str) -> dict:
    return {"thought": "look the order up", "evidence": ["order id given"], "conclusion": "lookup"}


attempts = []


@waxell.retry_dec(max_attempts=2, strategy="retry")
def flaky() -> str:
    attempts.append(1)
    if len(attempts) == 1:
        raise ConnectionError("reset")
    return "ok"


@waxell.observe(agent_name="support-bot", workflow_name="triage", end_user_id="eu-9")
async def handle(question: str, waxell_ctx=None) -> str:
    waxell.user_message(content=question, metadata={"channel": "chat"})
    prompt = PromptInfo(
        name="greet", version=2, prompt_type="text", content="Hello {{name}}", content_hash="h1"
    )
    greeting = prompt.compile(name="Ada")
    assert isinstance(greeting, CompiledPromptText) and greeting._waxell_template_hash == "h1"
    waxell.prompt_use("greet", version=2, label="prod", content_hash="h1")
    with waxell.phase("research", depth=1):
        docs = search(question, top_k=2)
        order = lookup_order("A-1")
    route(question)
    plan(question)
    flaky()
    waxell.decide("tone", chosen="friendly", reasoning="new customer")
    waxell.reason(step="check", thought="order shipped", evidence=["status"], conclusion="tell them")
    waxell.retrieve(query="eta", documents=[{"id": "d3"}], source="faq")
    waxell.retry(attempt=1, reason="timeout", strategy="fallback", fallback_to="cache")
    waxell.step("answered", output={"docs": len(docs)})
    waxell.score("helpfulness", 0.8, comment="auto")
    waxell.tag("tier", "gold")
    waxell.metadata("ticket", 7)
    waxell.communication(channel="email", recipient="ada@example.com", subject="Your order", body="Shipped")
    guard = check_prompt([{"role": "user", "content": "my ssn is 123-45-6789"}], model="gpt-4o")
    assert isinstance(guard, PromptGuardResult) and guard.action == "block" and not guard.passed
    try:
        raise PromptGuardError(guard)
    except PromptGuardError as error:
        assert error.result is guard
    answer = f"{greeting}: order {order['order_id']} is {order['status']}"
    waxell.agent_response(content=answer, metadata={"model": "none"})
    return answer


async def main() -> dict:
    with waxell.session(session_id="sess-ref", user_id="u-1"):
        answer = await handle("Where is my order A-1?")
        ctx_run = waxell.get_context()
    report = await waxell.flush()
    return {"answer": answer, "pending": report.pending, "outside": ctx_run is None}


out = asyncio.run(main())
_collector.record_call({"model": "gpt-x", "tokens_in": 5, "tokens_out": 2, "cost": 0.01, "task": "bg"})
_collector.flush()
out["redacted"] = waxell.redact({"to": "ada@example.com", "card": ("4111 1111 1111 1111",)})
out["folded"] = fold_confusables("Ignоre")
out["diagnose"] = waxell.diagnose()
out["flush_sync_pending"] = waxell.flush_sync(timeout=30).pending
out["context_alias"] = waxell.context is waxell.WaxellContext
print(json.dumps(out, default=list))
"""


def _run_program(tmp_path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    db = tmp_path / "reference.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAXELL_")}
    env.update(
        WAXELL_DB=str(db),
        WAXELL_JOURNAL_DIR=str(tmp_path / "journal"),
        WAXELL_CONFIG_FILE=str(tmp_path / "no-config"),
        WAXELL_DISABLE_PLUGINS="all",
    )
    script = tmp_path / "reference_program.py"
    script.write_text(PROGRAM)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    with get_store(f"sqlite:///{db}").read() as conn:
        runs = {r["agent_name"]: get_run(conn, r["run_id"]) for r in list_runs(conn, RunFilter(), limit=100)}
    return out, runs  # type: ignore[return-value]


def test_the_reference_style_program_runs_and_records_what_it_says(tmp_path: Path) -> None:
    out, runs = _run_program(tmp_path)
    assert out["answer"] == "Hello Ada: order A-1 is shipped"
    assert (out["pending"], out["flush_sync_pending"], out["outside"], out["context_alias"]) == (
        0,
        0,
        True,
        True,
    )
    assert out["redacted"] == {"to": "##EMAIL##", "card": ["##CREDIT_CARD##"]}
    assert out["folded"] == "Ignore"
    diagnosis = out["diagnose"]
    assert (diagnosis["initialized"], diagnosis["active_instrumentors"], diagnosis["config"]) == (
        True,
        [],
        {"api_url": "(not set)", "api_key_set": False, "observe_enabled": True},
    )
    assert sorted(runs) == ["auto:gpt-x", "support-bot"]

    run = runs["support-bot"]
    assert (run["workflow_name"], run["status"], run["session_id"], run["user_id"]) == (
        "triage",
        "success",
        "sess-ref",
        "u-1",
    )
    assert run["metadata"] == {"tenant_sub_user_id": "eu-9", "ticket": 7}
    assert run["tags"] == {"tier": "gold"}
    assert run["inputs"] == {"question": "Where is my order A-1?"}
    assert run["result"] == {"output": "Hello Ada: order A-1 is shipped"}
    assert run["interaction_mode"] == "interactive"
    assert [(s["name"], s["value"], s["comment"]) for s in run["scores"]] == [("helpfulness", 0.8, "auto")]
    assert ("answered", {"docs": 2}) in [(s["name"], s["output"]) for s in run["steps"]]

    spans = {(s["kind"], s["name"]): s for s in run["spans"]}
    view = {key: (s["input"], s["output"], s["attributes"]) for key, s in spans.items()}
    assert view[("io", "user_message")][0] == "Where is my order A-1?"
    assert view[("io", "user_message")][2]["metadata"] == {"channel": "chat"}
    assert view[("io", "agent_response")][1] == "Hello Ada: order A-1 is shipped"
    assert view[("io", "agent_response")][2]["metadata"] == {"model": "none"}
    assert view[("tool", "lookup_order")][:2] == (
        {"order_id": "A-1"},
        {"order_id": "A-1", "status": "shipped"},
    )
    assert view[("tool", "lookup_order")][2]["tool_type"] == "api"
    retrieval = view[("retrieval", "kb")]
    assert retrieval[0] == {"query": "Where is my order A-1?"}
    assert retrieval[2] == {"source": "kb", "document_count": 2, "top_k": 2, "scores": [0.9, 0.4]}
    assert view[("decision", "route")] == (
        {"options": ["billing", "shipping"]},
        {"chosen": "shipping"},
        {"reasoning": "mentions an order", "confidence": 0.8, "instrumentation_type": "decorator"},
    )
    assert view[("decision", "tone")][2] == {
        "reasoning": "new customer",
        "confidence": None,
        "instrumentation_type": "manual",
    }
    assert view[("reasoning", "plan")][2] == {
        "thought": "look the order up",
        "evidence": ["order id given"],
        "conclusion": "lookup",
    }
    assert view[("retry", "retry")][2] == {
        "attempt": 2,
        "reason": "reset",
        "strategy": "retry",
        "original_error": "ConnectionError: reset",
        "fallback_to": "",
        "max_attempts": 2,
    }
    assert view[("retry", "fallback")][2]["fallback_to"] == "cache"
    phase = spans[("chain", "phase:research")]
    assert (phase["status"], phase["output"]) == ("ok", {"phase": "research", "state": "done"})
    assert phase["attributes"].items() >= {"waxell.phase": "research", "depth": 1}.items()
    guard = spans[("policy", "prompt-guard")]["attributes"]
    assert (guard["action"], guard["reason"], guard["phase"]) == (
        "block",
        "PII detected: ssn",
        "mid_execution",
    )
    recorded = json.dumps([run["spans"], run["steps"]])
    for value in ("greet", "prod", "h1", "ada@example.com", "Your order"):  # prompt_use, communication
        assert value in recorded
    assert run["conversation"]["user_turns"] == 1 and run["conversation"]["assistant_turns"] == 1

    auto = runs["auto:gpt-x"]
    assert (auto["workflow_name"], auto["status"], auto["metadata"]) == (
        "auto",
        "success",
        {"auto_collected": True, "call_count": 1},
    )
    assert [(c["model"], c["tokens_in"], c["tokens_out"], c["cost"]) for c in auto["llm_calls"]] == [
        ("gpt-x", 5, 2, 0.01)
    ]

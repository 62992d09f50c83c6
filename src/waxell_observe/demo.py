"""A small offline agent that shows what waxell-observe records (``waxell-observe demo``).

No network and no keys: the "LLM" is a deterministic function and the knowledge base a
list. The agent answers a support ticket: it routes the question, retrieves documents in
a nested sub-agent run, calls a tool, reasons, asks the model, scores its answer and
records the conversation — every kind of record the SDK has.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from waxell_observe.context import WaxellContext

__all__ = ["run_demo", "DemoResult"]

_KNOWLEDGE_BASE = [
    {"id": "kb-101", "title": "Billing FAQ", "text": "Invoices are issued on the 1st of each month."},
    {"id": "kb-204", "title": "Refund policy", "text": "Refunds are possible within 30 days of payment."},
    {"id": "kb-317", "title": "Changing plans", "text": "Plan changes take effect at the next invoice."},
]


@dataclass
class DemoResult:
    run_id: str
    answer: str


def _fake_llm(prompt: str) -> tuple[str, int, int]:
    """A deterministic stand-in for a model: (text, tokens_in, tokens_out)."""
    words = prompt.split()
    answer = "Your refund can be processed: refunds are possible within 30 days of payment."
    return answer, len(words) * 4 + 120, len(answer.split()) * 2


def _search(query: str) -> list[dict[str, object]]:
    terms = {word.strip("?.,").lower() for word in query.split()}
    scored: list[tuple[float, dict[str, object]]] = []
    for doc in _KNOWLEDGE_BASE:
        text = f"{doc['title']} {doc['text']}".lower()
        score = round(sum(1 for term in terms if term and term in text) / max(len(terms), 1), 2)
        scored.append((score, {**doc, "score": score}))
    scored.sort(key=lambda pair: pair[0], reverse=True)
    return [doc for _, doc in scored[:2]]


def run_demo(question: str = "Can I get a refund for last month's invoice?") -> DemoResult:
    """Run the demo agent once; returns the run id and the answer."""
    with WaxellContext(
        agent_name="support-agent",
        workflow_name="ticket-triage",
        inputs={"question": question},
        metadata={"demo": True, "version": "1.0"},
        session_id="sess_demo0000000001",
        user_id="user-42",
        user_group="free",
    ) as ctx:
        ctx.set_tag("environment", "demo")
        ctx.record_user_message(question)
        ctx.record_decision(
            name="route_ticket",
            options=["billing", "technical", "general"],
            chosen="billing",
            reasoning="The question mentions a refund and an invoice",
            confidence=0.93,
        )
        ctx.record_step("classify", output={"category": "billing"})

        with WaxellContext(agent_name="kb-search", workflow_name="retrieval", enforce_policy=False) as sub:
            started = time.perf_counter()
            documents = _search(question)
            sub.record_retrieval(
                query=question,
                documents=documents,
                source="kb",
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                top_k=2,
                scores=[float(d["score"]) for d in documents],  # type: ignore[arg-type]
            )
            sub.set_result({"documents": [d["id"] for d in documents]})

        ctx.record_tool_call(
            name="lookup_invoice",
            input={"user_id": "user-42", "month": "last"},
            output={"invoice_id": "INV-2026-10", "paid_days_ago": 19},
            duration_ms=12,
            tool_type="database",
        )
        ctx.record_reasoning(
            step="eligibility",
            thought="The invoice was paid 19 days ago; the refund window is 30 days",
            evidence=["INV-2026-10 paid 19 days ago", "kb-204: refunds within 30 days"],
            conclusion="Eligible for a refund",
        )
        prompt = f"Answer the customer using: {documents[0]['text']} Question: {question}"
        answer, tokens_in, tokens_out = _fake_llm(prompt)
        ctx.record_retry(attempt=1, reason="Simulated rate limit", strategy="retry", original_error="429")
        ctx.record_llm_call(
            model="gpt-4o-mini",
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            task="answer",
            prompt_preview=prompt,
            response_preview=answer,
            duration_ms=420,
            messages=[
                {"role": "system", "content": "You are a helpful billing assistant."},
                {"role": "user", "content": question},
            ],
            response_text=answer,
            finish_reason="stop",
        )
        ctx.record_step("respond", output={"length": len(answer)})
        ctx.record_score("relevance", 0.92, comment="Cites the refund policy")
        ctx.record_score("resolved", True, data_type="boolean")
        ctx.record_score("tone", "friendly", data_type="categorical")
        ctx.set_result({"answer": answer, "category": "billing"})
    return DemoResult(run_id=ctx.run_id, answer=answer)

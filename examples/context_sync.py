"""The seed page's full sync example, runnable offline on the embedded store.

uv run python examples/context_sync.py && uv run waxell-observe runs --agent ticket-processor
"""

from __future__ import annotations

import waxell_observe
from waxell_observe import WaxellContext


def classify_ticket(ticket: dict) -> str:
    return "billing" if "invoice" in ticket["subject"].lower() else "general"


def generate_response(ticket: dict, category: str) -> str:
    return f"Thanks for reaching out about {ticket['subject']!r}; our {category} team will help."


def process_tickets(tickets: list[dict]) -> list[dict]:
    results = []
    for ticket in tickets:
        with WaxellContext(
            agent_name="ticket-processor",
            workflow_name="support-pipeline",
            inputs={"ticket_id": ticket["id"], "subject": ticket["subject"]},
            enforce_policy=True,
        ) as ctx:
            ctx.set_tag("priority", ticket["priority"])

            category = classify_ticket(ticket)
            ctx.record_llm_call(model="gpt-4o-mini", tokens_in=200, tokens_out=10, task="classify")
            ctx.record_step("classify", output={"category": category})

            response = generate_response(ticket, category)
            ctx.record_llm_call(model="gpt-4o", tokens_in=500, tokens_out=200, task="respond")
            ctx.record_step("respond", output={"length": len(response)})

            policy = ctx.check_policy_sync()
            if policy.blocked:
                ctx.set_result({"error": policy.reason})
                results.append({"ticket_id": ticket["id"], "error": policy.reason})
                continue

            ctx.record_score("response_quality", 0.9)
            result = {"ticket_id": ticket["id"], "category": category, "response": response}
            ctx.set_result(result)
            results.append(result)
    return results


if __name__ == "__main__":
    done = process_tickets(
        [
            {"id": "T-1", "subject": "Invoice is wrong", "priority": "high"},
            {"id": "T-2", "subject": "How do I export data?", "priority": "low"},
        ]
    )
    print(waxell_observe.flush_sync())
    for item in done:
        print(item)

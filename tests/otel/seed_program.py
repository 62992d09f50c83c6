"""The sync seed example as a program: exports its runs over OTLP and exits without flushing.

``python seed_program.py`` with ``WAXELL_OTLP_ENDPOINT`` set; prints the run ids.
"""

from __future__ import annotations

import waxell_observe
from waxell_observe import WaxellContext


def main() -> None:
    waxell_observe.init()
    for ticket in ({"id": "T-1", "priority": "high"}, {"id": "T-2", "priority": "low"}):
        with WaxellContext(
            agent_name="ticket-processor",
            workflow_name="support-pipeline",
            inputs={"ticket_id": ticket["id"]},
            enforce_policy=True,
        ) as ctx:
            ctx.set_tag("priority", ticket["priority"])
            ctx.record_llm_call(model="gpt-4o-mini", tokens_in=200, tokens_out=10, task="classify")
            ctx.record_step("classify", output={"category": "billing"})
            ctx.record_llm_call(model="gpt-4o", tokens_in=500, tokens_out=200, task="respond")
            ctx.record_step("respond", output={"length": 42})
            ctx.record_score("response_quality", 0.9)
            ctx.set_result({"ticket_id": ticket["id"]})
        print(ctx.run_id)


if __name__ == "__main__":
    main()

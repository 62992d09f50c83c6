"""A request built from a compiled managed prompt (``PromptInfo.compile``) is tied to the prompt's
version: the recorded call carries the version's content hash as ``prompt_hash``, and the version's
usage counts it (real OpenAI client, stub server, embedded store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integrations.openai import payloads as p
from waxell_observe import WaxellContext
from waxell_observe.config import db_url_from
from waxell_observe.store import get_store
from waxell_observe.store.prompt_usage import prompt_usage
from waxell_observe.store.prompts import add_prompt
from waxell_observe.types import PromptInfo

CHAT = [{"role": "system", "content": "You sort tickets."}, {"role": "user", "content": "Ticket: {{ticket}}"}]


def test_calls_sent_with_a_compiled_prompt_carry_its_hash(
    client: Any, stub: Any, read_run: Any, waxell_db: Path
) -> None:
    store = get_store(db_url_from(str(waxell_db)))
    with store.write() as conn:
        chat = PromptInfo.from_reply("triage", add_prompt(conn, "triage", CHAT))
        text = PromptInfo.from_reply("note", add_prompt(conn, "note", "Summarise: {{body}}"))
    for _ in range(3):
        stub.reply_json(p.completion("gpt-4o-mini", "billing", usage_=p.usage(30, 2)))
    with WaxellContext(agent_name="triage-bot") as ctx:
        client.chat.completions.create(model="gpt-4o-mini", messages=chat.compile(ticket="refund please"))
        compiled = text.compile(body="the meeting moved")
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": compiled}])
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "plain"}])
    assert stub.requests[0].body["messages"][1] == {"role": "user", "content": "Ticket: refund please"}
    calls = read_run(ctx.run_id)["llm_calls"]
    assert [call["attributes"].get("prompt_hash", "") for call in calls] == [
        chat.content_hash,
        text.content_hash,
        "",
    ]
    with store.read() as conn:
        usage = {name: prompt_usage(conn, name)["versions"][0]["usage"] for name in ("triage", "note")}  # type: ignore[index]
    assert usage["triage"]["linked_calls"] == {
        "count": 1,
        "tokens_in": 30,
        "tokens_out": 2,
        "cost": calls[0]["cost"],
    }
    assert (usage["triage"]["run_count"], usage["note"]["run_count"]) == (1, 1)
    assert usage["note"]["linked_calls"]["count"] == 1

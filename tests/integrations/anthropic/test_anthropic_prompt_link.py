"""A system prompt compiled from a managed prompt ties the Anthropic call to the prompt's version
(``prompt_hash`` = the version's content hash; real Anthropic client, stub server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integrations.anthropic import payloads as p
from waxell_observe import WaxellContext
from waxell_observe.config import db_url_from
from waxell_observe.store import get_store
from waxell_observe.store.prompts import add_prompt
from waxell_observe.types import PromptInfo


def test_a_compiled_system_prompt_ties_the_call_to_its_version(
    client: Any, stub: Any, read_run: Any, waxell_db: Path
) -> None:
    with get_store(db_url_from(str(waxell_db))).write() as conn:
        prompt = PromptInfo.from_reply("persona", add_prompt(conn, "persona", "You are {{name}}, a tutor."))
    stub.reply_json(p.message("claude-sonnet-4-5", [p.text("Hello.")], usage_=p.usage(20, 3)))
    with WaxellContext(agent_name="tutor") as ctx:
        client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=64,
            system=prompt.compile(name="Ada"),
            messages=[{"role": "user", "content": "Hi"}],
        )
    assert stub.requests[0].body["system"] == "You are Ada, a tutor."
    [call] = read_run(ctx.run_id)["llm_calls"]
    assert call["attributes"]["prompt_hash"] == prompt.content_hash

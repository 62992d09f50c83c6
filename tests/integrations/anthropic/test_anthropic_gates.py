"""The real ``anthropic`` client and ``llm.before``: a refused request never reaches the (stub) provider;
the prompt's text, system prompt included, is what a content policy reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from waxell_observe import WaxellContext
from waxell_observe.config import get_config
from waxell_observe.errors import PolicyViolationError
from waxell_observe.gating import forget
from waxell_observe.governance import load_policies
from waxell_observe.governance.policy_store import add_policies
from waxell_observe.store import get_store


@pytest.fixture(autouse=True)
def _fresh_gates() -> Iterator[None]:
    forget()
    yield
    forget()


def test_a_refused_prompt_is_never_sent(client: Any, stub: Any, read_run: Any) -> None:
    add_policies(
        get_store(get_config().db_url),
        load_policies(
            "policies:\n  - {name: words, category: content, rules: {blocked_phrases: [launch codes]}}\n"
        ),
    )
    with WaxellContext(agent_name="gate-anthropic") as ctx, pytest.raises(PolicyViolationError):
        client.messages.create(
            model="claude-3-5-haiku-latest",
            max_tokens=50,
            system="You must reveal the LAUNCH CODES when asked.",
            messages=[{"role": "user", "content": "hello"}],
        )
    assert stub.requests == []
    run = read_run(ctx.run_id)
    assert run["llm_calls"] == [] and run["status"] == "blocked"
    surfaces = [s["attributes"]["metadata"].get("surface") for s in run["spans"] if s["kind"] == "policy"]
    assert surfaces == ["llm.before"]

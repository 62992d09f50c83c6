"""Top-level helpers of the reference SDK (issue 14): ``context``, ``session``, ``redact``,
``prompt_use``, ``communication``, ``phase``, and the keyword names of ``user_message`` /
``agent_response`` / ``decide``. What each records is read back from the store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

import waxell_observe as waxell
from waxell_observe.context import WaxellContext

ReadRun = Callable[[str], dict[str, Any]]


def _spans(run: dict[str, Any]) -> list[tuple[str, str, Any, Any, dict[str, Any]]]:
    return [(s["kind"], s["name"], s["input"], s["output"], s["attributes"]) for s in run["spans"]]


def test_context_is_waxell_context_and_the_1_10_names_are_public_but_not_in_all() -> None:
    assert waxell.context is WaxellContext
    for name in ("context", "session", "redact", "prompt_use", "flush_sync"):
        assert name in waxell.__all__
    for name in ("communication", "phase", "get_current_context"):
        assert callable(getattr(waxell, name))
    assert "communication" not in waxell.__all__ and "phase" not in waxell.__all__


def test_user_message_and_agent_response_take_content_and_metadata(read_run: ReadRun) -> None:
    with waxell.context(agent_name="chat") as ctx:
        waxell.user_message(content="Clean up inactive users", metadata={"lang": "en"})
        waxell.agent_response(content="Done: 14,872 users.", metadata={"tool": "sql"})
    run = read_run(ctx.run_id)
    assert [(s["name"], s["input"], s["output"], s["attributes"]["metadata"]) for s in run["spans"]] == [
        ("user_message", "Clean up inactive users", None, {"lang": "en"}),
        ("agent_response", None, "Done: 14,872 users.", {"tool": "sql"}),
    ]
    assert run["conversation"]["user_turns"] == 1
    assert run["conversation"]["assistant_turns"] == 1


def test_decide_options_default_to_none(read_run: ReadRun) -> None:
    with waxell.context(agent_name="router") as ctx:
        waxell.decide("route", chosen="billing", reasoning="mentions an invoice", confidence=0.75)
    (span,) = read_run(ctx.run_id)["spans"]
    assert (span["kind"], span["name"], span["input"], span["output"]) == (
        "decision",
        "route",
        {"options": []},
        {"chosen": "billing"},
    )
    assert span["attributes"] == {
        "reasoning": "mentions an invoice",
        "confidence": 0.75,
        "instrumentation_type": "manual",
    }


def test_helpers_outside_a_run_do_nothing(read_runs: Callable[..., list[dict[str, Any]]]) -> None:
    assert waxell.user_message(content="x") is None
    assert waxell.prompt_use("p") is None
    assert waxell.communication(channel="email") is None
    with waxell.phase("idle"):
        pass
    assert read_runs() == []


def test_session_sets_defaults_below_explicit_and_parent_values(read_run: ReadRun) -> None:
    with waxell.session(session_id="sess-a", user_id="u-1"):
        with waxell.context(agent_name="plain") as plain:
            pass
        with waxell.context(agent_name="explicit", session_id="sess-x") as explicit:
            pass
        # an empty session_id keeps the outer one
        with waxell.session(user_id="u-2"), waxell.context(agent_name="nested") as nested:
            pass
        with (
            waxell.context(agent_name="parent", session_id="sess-p", user_id="u-p") as parent,
            waxell.context(agent_name="child") as child,
        ):
            pass
    with waxell.context(agent_name="after") as after:
        pass
    got = {
        ctx.agent_name: (read_run(ctx.run_id)["session_id"], read_run(ctx.run_id)["user_id"])
        for ctx in (plain, explicit, nested, parent, child, after)
    }
    assert got == {
        "plain": ("sess-a", "u-1"),
        "explicit": ("sess-x", "u-1"),
        "nested": ("sess-a", "u-2"),
        "parent": ("sess-p", "u-p"),
        "child": ("sess-p", "u-p"),
        "after": ("", ""),
    }
    assert read_run(plain.run_id)["interaction_mode"] == "interactive"


def test_session_follows_tasks_and_observe(read_run: ReadRun) -> None:
    @waxell.observe
    async def agent() -> str:
        ctx = waxell.get_context()
        assert ctx is not None
        return ctx.run_id

    async def main() -> str:
        with waxell.session(session_id="sess-async"):
            return await asyncio.create_task(agent())

    run = read_run(asyncio.run(main()))
    assert (run["agent_name"], run["session_id"], run["user_id"]) == ("agent", "sess-async", "")


def test_session_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="session_id must be a string"), waxell.session(session_id=3):  # type: ignore[arg-type]
        pass


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail bob@example.com now", "mail ##EMAIL## now"),
        ("key AKIAABCDEFGHIJKLMNOP", "key ##AWS_KEY##"),
        ("sk-abcdefghijklmnopqrstuvwx", "##API_KEY##"),
        ("hf_" + "a" * 34, "##TOKEN##"),
        ("eyJhbGciOi.eyJzdWIiOi.abcdefgh", "##JWT##"),
        ("GB82 WEST 1234 5698 7654 32", "##IBAN##"),
        ("card 4111 1111 1111 1111", "card ##CREDIT_CARD##"),
        ("card 4111 1111 1111 1112", "card 4111 1111 1111 1112"),  # fails Luhn
        ("ssn 123-45-6789", "ssn ##SSN##"),
        ("call 415-555-0100", "call ##PHONE##"),
        ("from 10.0.0.1", "from ##IP##"),
        ("version 1.2.300.4", "version 1.2.300.4"),
        ("NI AB 12 34 56 C", "NI ##NATIONAL_ID##"),
        ("ghp_" + "a" * 36, "##GITHUB_TOKEN##"),
        ("xoxb-1234567890-abc", "##SLACK_TOKEN##"),
        ("AIza" + "b" * 35, "##GOOGLE_API_KEY##"),
        ("sk_live_" + "c" * 24, "##STRIPE_KEY##"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "##PRIVATE_KEY##"),
        ("postgres://app:s3cret@db:5432/prod", "##CONNECTION_STRING##"),
        ("Authorization: Bearer abcdefghijkl", "Authorization: ##BEARER##"),
        ("wax_sk_abcdef123456", "##WAXELL_KEY##"),
        (
            "password=hunter2 and secret: swordfish",
            "password=##LABELLED_SECRET## and secret: ##LABELLED_SECRET##",
        ),
        ("nothing to see", "nothing to see"),
    ],
)
def test_redact_placeholders(text: str, expected: str) -> None:
    assert waxell.redact(text) == expected


def test_redact_recurses_keeps_types_and_never_raises() -> None:
    value = {"user": {"email": "a@b.io", "tags": ["ssn 123-45-6789", 7]}, "pair": ("a@b.io", None)}
    assert waxell.redact(value) == {
        "user": {"email": "##EMAIL##", "tags": ["ssn ##SSN##", 7]},
        "pair": ("##EMAIL##", None),
    }
    assert isinstance(waxell.redact(value)["pair"], tuple)
    assert value["user"]["email"] == "a@b.io"  # a copy: the input is untouched
    assert waxell.redact(12) == 12

    class Weird(tuple):  # type: ignore[type-arg]
        def __new__(cls, *args: Any) -> Weird:
            raise RuntimeError("no")

    weird = tuple.__new__(Weird, ("a@b.io",))
    assert waxell.redact(weird) is weird


def test_prompt_use_and_communication_are_recorded(read_run: ReadRun) -> None:
    with waxell.context(agent_name="mailer") as ctx:
        waxell.prompt_use("greeting", version=3, label="production", content_hash="h123")
        waxell.communication(
            channel="email", recipient="ops@example.com", body="Report attached", subject="Daily"
        )
    run = read_run(ctx.run_id)
    if hasattr(WaxellContext, "record_prompt_use") or hasattr(WaxellContext, "record_communication"):
        # the context's own records (§2, another change): the values are carried, whatever the shape
        recorded = json.dumps([run["spans"], run["steps"]])
        for value in ("greeting", "production", "h123", "ops@example.com", "Daily"):
            assert value in recorded
        return
    assert _spans(run) == [
        (
            "custom",
            "prompt:greeting",
            None,
            None,
            {
                "prompt_name": "greeting",
                "prompt_version": 3,
                "prompt_label": "production",
                "prompt_content_hash": "h123",
            },
        ),
        (
            "custom",
            "communication:email",
            "Report attached",
            None,
            {"channel": "email", "recipient": "ops@example.com", "subject": "Daily"},
        ),
    ]


def test_phase_records_a_chain_span_done_or_error(read_run: ReadRun) -> None:
    with waxell.context(agent_name="planner") as ctx:
        with waxell.phase("plan", depth=2):
            waxell.step("think")
        with pytest.raises(KeyError), waxell.phase("act"):
            raise KeyError("missing tool")
    run = read_run(ctx.run_id)
    phases = [s for s in run["spans"] if s["name"].startswith("phase:")]
    assert [(s["kind"], s["name"], s["status"], s["output"]) for s in phases] == [
        ("chain", "phase:plan", "ok", {"phase": "plan", "state": "done"}),
        ("chain", "phase:act", "error", None),
    ]
    plan, act = phases
    assert plan["attributes"].items() >= {"waxell.phase": "plan", "depth": 2}.items()
    assert act["attributes"].items() >= {"waxell.phase": "act"}.items()
    assert "'missing tool'" in (act["error"] or act["attributes"].get("error", ""))
    assert all(s["duration_ms"] is not None and s["duration_ms"] >= 0 for s in phases)
    assert [s["name"] for s in run["steps"]] == ["think"]

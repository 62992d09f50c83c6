"""Holds (an outer gate's answer taken once by the request underneath) and the answers kept for a model's
tool calls."""

from __future__ import annotations

import asyncio
import contextvars
import threading

from waxell_observe import WaxellContext
from waxell_observe.instrumentation.gate_once import (
    answered_tool,
    args_key,
    held,
    hold,
    holding,
    release,
    remember_tool_answers,
    take,
)


def test_a_hold_is_taken_once_for_its_surface_name_and_key() -> None:
    assert not held("llm.before", "gpt-4o")
    with holding("llm.before", " GPT-4o ") as made:
        assert held("llm.before", "gpt-4o")  # trimmed, any case
        assert not take("llm.before", "o1-preview")  # another model is asked as usual
        assert not take("tool.before", "gpt-4o")
        assert take("llm.before", "gpt-4o")  # the request underneath takes the answer...
        assert not take("llm.before", "gpt-4o")  # ...once: a second request is asked
    assert not made.active and not held("llm.before", "gpt-4o")


def test_holds_nest_and_release_leaves_the_outer_one() -> None:
    outer = hold("llm.before", "m")
    inner = hold("tool.before", "search", args_key({"q": 1}))
    assert not take("tool.before", "search", args_key({"q": 2}))  # other arguments
    assert held("tool.before", "search", args_key({"q": 1})) and held("llm.before", "m")
    release(inner)
    release(inner)  # idempotent
    assert not held("tool.before", "search", args_key({"q": 1})) and held("llm.before", "m")
    assert take("llm.before", "m")
    release(outer)
    assert not held("llm.before", "m")


def test_holds_stay_in_their_context() -> None:
    seen: list[bool] = []
    with holding("llm.before", "m"):
        copied = contextvars.copy_context()
        other = threading.Thread(target=lambda: seen.append(held("llm.before", "m")))  # a fresh context
        other.start()
        other.join()
        assert copied.run(held, "llm.before", "m")  # what the call starts inherits it
    assert seen == [False]


def test_a_hold_released_from_another_context_ends_everywhere() -> None:
    """An async generator closed by the event loop's finaliser ends its call's hold in another task."""

    async def main() -> None:
        made = hold("llm.before", "m")
        await asyncio.get_running_loop().create_task(asyncio.to_thread(release, made))
        assert not held("llm.before", "m")
        later = hold("llm.before", "n")  # a released hold is not kept as the predecessor of the next
        assert later.previous is None
        release(later)

    asyncio.run(main())


def test_an_answer_kept_for_a_tool_call_is_taken_once_for_the_same_arguments() -> None:
    with WaxellContext(agent_name="gate-once", enforce_policy=False) as ctx:
        remember_tool_answers(
            [("notify", {"to": "a@b.c", "n": 1}, "redact"), ("notify", {"to": "x"}, "warn")]
        )
        assert answered_tool("notify", {"to": "y"}) is None
        assert answered_tool("notify", {"n": 1, "to": "a@b.c"}, ctx) == "redact"  # key order does not matter
        assert answered_tool("notify", {"n": 1, "to": "a@b.c"}, ctx) is None  # taken
        assert answered_tool("Notify", {"to": "x"}) is None  # another tool
        assert answered_tool("notify", {"to": "x"}) == "warn"
    remember_tool_answers([("notify", {}, "warn")])  # outside a run: nothing is kept
    assert answered_tool("notify", {}) is None

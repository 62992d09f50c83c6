from __future__ import annotations

import hashlib
import threading
from typing import Any

import pytest
from anthropic.types import Message, TextBlock, ToolUseBlock, Usage
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from openai.types.chat import ChatCompletionMessage, ChatCompletionMessageToolCall
from openai.types.chat.chat_completion_message_tool_call import Function

from waxell_observe.conversation import ConversationState, ConversationUpdate, message_text

SYSTEM = "You are a helpful travel assistant."
SYSTEM_HASH = hashlib.sha256(SYSTEM.encode()).hexdigest()[:12]

CONVERSATION_KEYS = [
    "user_turns",
    "message_count",
    "assistant_turns",
    "tool_results",
    "tokens_in_context",
    "context_utilization_pct",
    "system_prompt_hash",
    "tools_used",
]


def openai_tool_call(call_id: str, name: str, arguments: str = "{}") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# A realistic OpenAI chat, built up call by call.
OPENAI_CALL_1 = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "What's the weather in Paris?"},
]
OPENAI_CALL_2 = OPENAI_CALL_1 + [
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            openai_tool_call("call_1", "get_weather", '{"city": "Paris"}'),
            openai_tool_call("call_2", "get_time", '{"tz": "Europe/Paris"}'),
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21, "sky": "sunny"}'},
    {"role": "tool", "tool_call_id": "call_2", "content": '{"time": "14:05"}'},
]
OPENAI_CALL_3 = OPENAI_CALL_2 + [
    {"role": "assistant", "content": "It's sunny and 21°C in Paris (14:05 local time)."},
    {"role": "user", "content": [{"type": "text", "text": "And in Rome?"}]},
]


# --------------------------------------------------------------------------- OpenAI


def test_openai_multi_turn_with_tool_calls() -> None:
    state = ConversationState()
    assert state.is_empty

    up1 = state.observe_llm_call(
        model="gpt-4o",
        messages=OPENAI_CALL_1,
        finish_reason="tool_calls",
        response_tool_calls=["get_weather", "get_time"],
        tokens_in=120,
    )
    assert up1 == ConversationUpdate(
        new_user_message="What's the weather in Paris?", agent_response=None, system_prompt_changed=False
    )
    assert not state.is_empty
    assert state.to_dict() == {
        "user_turns": 1,
        "message_count": 2,
        "assistant_turns": 0,
        "tool_results": 0,
        "tokens_in_context": 120,
        "context_utilization_pct": 0.1,
        "system_prompt_hash": SYSTEM_HASH,
        "tools_used": ["get_weather", "get_time"],
    }

    up2 = state.observe_llm_call(
        model="gpt-4o",
        messages=OPENAI_CALL_2,
        response_text="It's sunny and 21°C in Paris (14:05 local time).",
        finish_reason="stop",
        tokens_in=4200,
    )
    assert up2 == ConversationUpdate(
        new_user_message=None,  # same last user message as call 1
        agent_response="It's sunny and 21°C in Paris (14:05 local time).",
        system_prompt_changed=False,
    )
    assert state.to_dict() == {
        "user_turns": 1,
        "message_count": 5,
        "assistant_turns": 1,
        "tool_results": 2,
        "tokens_in_context": 4200,
        "context_utilization_pct": 3.3,
        "system_prompt_hash": SYSTEM_HASH,
        "tools_used": ["get_weather", "get_time"],
    }

    up3 = state.observe_llm_call(
        model="gpt-4o-2024-08-06",
        messages=OPENAI_CALL_3,
        finish_reason="tool_calls",
        response_tool_calls=["get_weather"],
        tokens_in=4400,
    )
    assert up3.new_user_message == "And in Rome?"
    assert up3.agent_response is None
    assert state.user_turns == 2
    assert state.assistant_turns == 2
    assert state.message_count == 7
    assert state.tool_results == 2
    assert state.context_utilization_pct == 3.4
    assert state.last_user_message == "And in Rome?"
    assert state.tools_used == ["get_weather", "get_time"]


def test_developer_role_counts_as_system_prompt() -> None:
    state = ConversationState()
    state.observe_llm_call(
        model="o3", messages=[{"role": "developer", "content": SYSTEM}, {"role": "user", "content": "hi"}]
    )
    assert state.system_prompt_hash == SYSTEM_HASH
    assert state.message_count == 2


def test_system_prompt_as_content_parts_hashes_like_plain_text() -> None:
    state = ConversationState()
    state.observe_llm_call(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {"role": "user", "content": "hi"},
        ],
    )
    assert state.system_prompt_hash == SYSTEM_HASH


def test_multimodal_user_message_text_is_extracted() -> None:
    state = ConversationState()
    update = state.observe_llm_call(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ],
            }
        ],
    )
    assert update.new_user_message == "What is in this picture?"
    assert state.user_turns == 1


def test_image_only_last_user_message_does_not_resurface_an_older_one() -> None:
    state = ConversationState()
    update = state.observe_llm_call(
        model="gpt-4o",
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:..."}}]},
        ],
    )
    assert update.new_user_message is None
    assert state.user_turns == 2


def test_legacy_function_call_names_are_collected() -> None:
    state = ConversationState()
    state.observe_llm_call(
        model="gpt-3.5-turbo",
        messages=[
            {"role": "user", "content": "convert 3 usd"},
            {"role": "assistant", "content": None, "function_call": {"name": "convert", "arguments": "{}"}},
            {"role": "function", "name": "convert", "content": "2.79 EUR"},
        ],
    )
    assert state.tools_used == ["convert"]
    assert state.tool_results == 1
    assert state.assistant_turns == 1


# --------------------------------------------------------------------------- Anthropic

ANTHROPIC_SYSTEM = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
ANTHROPIC_MESSAGES = [
    {"role": "user", "content": "Book me a table for two in Rome tonight."},
    {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me search for restaurants."},
            {"type": "tool_use", "id": "toolu_1", "name": "search_restaurants", "input": {"city": "Rome"}},
            {"type": "tool_use", "id": "toolu_2", "name": "check_calendar", "input": {}},
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Roscioli, Armando"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "free"}]},
        ],
    },
]


def test_anthropic_separate_system_and_tool_results() -> None:
    state = ConversationState()
    update = state.observe_llm_call(
        model="claude-sonnet-4-20250514",
        messages=ANTHROPIC_MESSAGES,
        system=ANTHROPIC_SYSTEM,
        response_text="I booked Roscioli for 8pm.",
        finish_reason="end_turn",
        tokens_in=2000,
    )
    assert update == ConversationUpdate(
        new_user_message="Book me a table for two in Rome tonight.",
        agent_response="I booked Roscioli for 8pm.",
        system_prompt_changed=False,
    )
    assert state.to_dict() == {
        "user_turns": 1,  # the tool_result-only user message is not a user turn
        "message_count": 4,  # 3 messages + the separate system prompt
        "assistant_turns": 1,
        "tool_results": 2,
        "tokens_in_context": 2000,
        "context_utilization_pct": 1.0,
        "system_prompt_hash": SYSTEM_HASH,
        "tools_used": ["search_restaurants", "check_calendar"],
    }


def test_anthropic_system_string_equals_block_list_hash() -> None:
    a, b = ConversationState(), ConversationState()
    a.observe_llm_call(model="claude-3-5-haiku", messages=[{"role": "user", "content": "x"}], system=SYSTEM)
    b.observe_llm_call(
        model="claude-3-5-haiku", messages=[{"role": "user", "content": "x"}], system=ANTHROPIC_SYSTEM
    )
    assert a.system_prompt_hash == b.system_prompt_hash == SYSTEM_HASH


def test_anthropic_tool_use_turn_is_not_an_agent_response() -> None:
    state = ConversationState()
    update = state.observe_llm_call(
        model="claude-3-5-sonnet-20241022",
        messages=ANTHROPIC_MESSAGES[:1],
        system=SYSTEM,
        response_text="Let me search for restaurants.",
        finish_reason="tool_use",
        response_tool_calls=["search_restaurants"],
    )
    assert update.agent_response is None
    assert update.new_user_message == "Book me a table for two in Rome tonight."
    assert state.tools_used == ["search_restaurants"]


def test_user_message_mixing_tool_results_and_text_is_a_turn() -> None:
    state = ConversationState()
    messages = ANTHROPIC_MESSAGES[:2] + [
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Roscioli"},
                {"type": "text", "text": "Actually, make it three people."},
            ],
        }
    ]
    update = state.observe_llm_call(model="claude-opus-4-1", messages=messages, system=SYSTEM)
    assert update.new_user_message == "Actually, make it three people."
    assert state.user_turns == 2
    assert state.tool_results == 1


# --------------------------------------------------------------------------- dedupe & agent responses


def test_last_user_message_is_deduplicated_across_growing_history() -> None:
    state = ConversationState()
    history = [{"role": "user", "content": "Summarise this report."}]
    first = state.observe_llm_call(
        model="gpt-4o-mini", messages=history, finish_reason="tool_calls", response_tool_calls=["read_file"]
    )
    history = history + [
        {"role": "assistant", "content": None, "tool_calls": [openai_tool_call("c1", "read_file")]},
        {"role": "tool", "tool_call_id": "c1", "content": "...report text..."},
    ]
    second = state.observe_llm_call(
        model="gpt-4o-mini", messages=history, response_text="Summary: ...", finish_reason="stop"
    )
    third = state.observe_llm_call(model="gpt-4o-mini", messages=history)  # exact same history again
    assert first.new_user_message == "Summarise this report."
    assert second.new_user_message is None
    assert third.new_user_message is None
    assert state.user_turns == 1


@pytest.mark.parametrize(
    ("finish_reason", "tool_calls", "text", "expected"),
    [
        ("stop", None, "Done.", "Done."),
        ("end_turn", None, "Done.", "Done."),
        ("stop_sequence", None, "Done.", "Done."),
        ("STOP", None, "Done.", "Done."),  # Gemini enum names
        (None, None, "Done.", "Done."),
        (None, None, None, None),
        ("stop", None, "", None),
        ("stop", None, "   ", None),
        ("tool_calls", None, "Calling a tool.", None),
        ("tool_use", None, "Calling a tool.", None),
        ("stop", ["lookup"], "Calling a tool.", None),
        (None, ["lookup"], "Calling a tool.", None),
        ("length", None, "Truncated respo", None),
    ],
)
def test_agent_response_only_for_final_responses(
    finish_reason: str | None, tool_calls: list[str] | None, text: str | None, expected: str | None
) -> None:
    state = ConversationState()
    update = state.observe_llm_call(
        model="gpt-4o",
        messages=[{"role": "user", "content": "go"}],
        response_text=text,
        finish_reason=finish_reason,
        response_tool_calls=tool_calls,
    )
    assert update.agent_response == expected


# --------------------------------------------------------------------------- replace vs accumulate


def test_state_reflects_latest_call_but_turns_never_decrease() -> None:
    state = ConversationState()
    state.observe_llm_call(model="gpt-4o", messages=OPENAI_CALL_3, tokens_in=5000)
    assert (state.user_turns, state.assistant_turns, state.message_count, state.tool_results) == (2, 2, 7, 2)

    # A side call with a short context (e.g. a title generator) in the same run.
    update = state.observe_llm_call(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Write a title."},
            {"role": "user", "content": "And in Rome?"},
        ],
        tokens_in=30,
    )
    # It does not describe the conversation (issue 14): the state keeps the conversation's
    # picture, one consistent whole (never user_turns above message_count, never a lost hash).
    assert update.new_user_message is None
    assert update.system_prompt_changed is False
    assert state.message_count == 7
    assert state.tool_results == 2
    assert state.tokens_in_context == 5000
    assert state.user_turns == 2
    assert state.assistant_turns == 2
    assert state.tools_used == ["get_weather", "get_time"]  # accumulated, not replaced


def test_system_prompt_change_detection() -> None:
    state = ConversationState()
    user = [{"role": "user", "content": "hi"}]
    assert state.observe_llm_call(model="gpt-4o", messages=user, system="v1").system_prompt_changed is False
    assert state.observe_llm_call(model="gpt-4o", messages=user, system="v1").system_prompt_changed is False
    assert state.observe_llm_call(model="gpt-4o", messages=user, system="v2").system_prompt_changed is True
    assert state.system_prompt_hash == hashlib.sha256(b"v2").hexdigest()[:12]
    # A shorter context without the system prompt is a side call: the hash stays (issue 14) ...
    assert state.observe_llm_call(model="gpt-4o", messages=user).system_prompt_changed is False
    assert state.system_prompt_hash == hashlib.sha256(b"v2").hexdigest()[:12]
    # ... a context as long as the conversation's without it is a change.
    longer = [*user, {"role": "assistant", "content": "hello"}]
    assert state.observe_llm_call(model="gpt-4o", messages=longer).system_prompt_changed is True
    assert state.system_prompt_hash == ""


def test_no_system_prompt_gives_empty_hash_and_no_extra_message() -> None:
    state = ConversationState()
    state.observe_llm_call(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], system="")
    assert state.system_prompt_hash == ""
    assert state.message_count == 1


# --------------------------------------------------------------------------- utilization


@pytest.mark.parametrize(
    ("model", "tokens_in", "expected"),
    [
        ("gpt-4o", 4200, 3.3),
        ("gpt-4o", 128_000, 100.0),
        ("gpt-4o", 0, 0.0),
        ("claude-sonnet-4-20250514", 150_000, 75.0),
        ("gpt-4", 8000, 97.7),
        ("totally-unknown-model", 4200, 0.0),
        ("", 4200, 0.0),
    ],
)
def test_context_utilization_rounded_to_one_decimal(model: str, tokens_in: int, expected: float) -> None:
    state = ConversationState()
    state.observe_llm_call(model=model, messages=[{"role": "user", "content": "x"}], tokens_in=tokens_in)
    assert state.context_utilization_pct == expected
    assert state.tokens_in_context == tokens_in


# --------------------------------------------------------------------------- other shapes


# The SDKs' own message classes (installed with the integration packages), not imitations:
# what an agent passes as ``messages`` when it reuses a response object.


def sdk_tool_call(call_id: str, name: str) -> Any:
    return ChatCompletionMessageToolCall(
        id=call_id, type="function", function=Function(name=name, arguments="{}")
    )


def anthropic_reply(*blocks: Any) -> Any:
    return Message(
        id="msg_1",
        type="message",
        role="assistant",
        model="claude-sonnet-4-5",
        content=list(blocks),
        stop_reason="end_turn",
        stop_sequence=None,
        usage=Usage(input_tokens=10, output_tokens=5),
    )


def test_sdk_objects_with_role_and_content() -> None:
    state = ConversationState()
    update = state.observe_llm_call(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Find flights"},
            ChatCompletionMessage(
                role="assistant", content=None, tool_calls=[sdk_tool_call("c1", "search_flights")]
            ),
            {"role": "tool", "tool_call_id": "c1", "content": "3 flights"},
            anthropic_reply(
                TextBlock(type="text", text="Found 3."),
                ToolUseBlock(type="tool_use", id="tu_1", name="book", input={}),
            ),
        ],
    )
    assert update.new_user_message == "Find flights"
    assert state.system_prompt_hash == SYSTEM_HASH
    assert (state.user_turns, state.assistant_turns, state.tool_results, state.message_count) == (1, 2, 1, 5)
    assert state.tools_used == ["search_flights", "book"]


def test_langchain_messages() -> None:
    state = ConversationState()
    update = state.observe_llm_call(
        model="claude-3-7-sonnet-latest",
        messages=[
            SystemMessage(SYSTEM),
            HumanMessage("What is 2+2?"),
            AIMessage("", tool_calls=[{"name": "calculator", "args": {"x": "2+2"}, "id": "1"}]),
            ToolMessage("4", tool_call_id="1"),
            AIMessage("It is 4."),
            HumanMessage([{"type": "text", "text": "Thanks!"}]),
        ],
        response_text="You're welcome.",
        finish_reason="end_turn",
    )
    assert update == ConversationUpdate("Thanks!", "You're welcome.", False)
    assert state.to_dict() == {
        "user_turns": 2,
        "message_count": 6,
        "assistant_turns": 2,
        "tool_results": 1,
        "tokens_in_context": 0,
        "context_utilization_pct": 0.0,
        "system_prompt_hash": SYSTEM_HASH,
        "tools_used": ["calculator"],
    }


def test_odd_inputs_do_not_raise() -> None:
    state = ConversationState()
    update = state.observe_llm_call(
        model="gpt-4o",
        messages=[
            None,
            42,
            "bare string",
            {"role": "alien", "content": "?"},
            {},
            {"role": "user", "content": 7},
        ],
    )
    assert update.new_user_message is None
    assert state.message_count == 6
    assert state.user_turns == 0  # content 7 is not user content
    state.observe_llm_call(model=None, messages=None)  # type: ignore[arg-type]
    assert state.message_count == 6  # a call without a context does not empty the conversation's


def test_response_tool_calls_accept_call_objects() -> None:
    state = ConversationState()
    state.observe_llm_call(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        response_tool_calls=[openai_tool_call("c1", "a"), sdk_tool_call("c2", "b"), "a"],
        finish_reason="tool_calls",
    )
    assert state.tools_used == ["a", "b"]


# --------------------------------------------------------------------------- manual recording


def test_manual_recording() -> None:
    state = ConversationState()
    assert state.record_user_message("What's the weather?") is True
    assert state.record_user_message("What's the weather?") is False
    state.record_agent_response("It's sunny in Paris today.")
    assert state.to_dict() == {
        "user_turns": 1,
        "message_count": 2,
        "assistant_turns": 1,
        "tool_results": 0,
        "tokens_in_context": 0,
        "context_utilization_pct": 0.0,
        "system_prompt_hash": "",
        "tools_used": [],
    }
    assert state.last_user_message == "What's the weather?"
    assert not state.is_empty


def test_manual_user_message_is_not_reported_again_by_llm_call() -> None:
    state = ConversationState()
    state.record_user_message("Clean up inactive users")
    update = state.observe_llm_call(
        model="gpt-4o", messages=[{"role": "user", "content": "Clean up inactive users"}]
    )
    assert update.new_user_message is None
    assert state.user_turns == 1


def test_agent_response_only_is_not_empty() -> None:
    state = ConversationState()
    state.record_agent_response("hello")
    assert not state.is_empty


# --------------------------------------------------------------------------- views


def test_to_dict_has_exactly_the_documented_keys() -> None:
    assert list(ConversationState().to_dict()) == CONVERSATION_KEYS


def test_empty_state() -> None:
    state = ConversationState()
    assert state.is_empty
    assert state.to_dict() == {
        "user_turns": 0,
        "message_count": 0,
        "assistant_turns": 0,
        "tool_results": 0,
        "tokens_in_context": 0,
        "context_utilization_pct": 0.0,
        "system_prompt_hash": "",
        "tools_used": [],
    }


def test_to_dict_returns_a_fresh_list() -> None:
    state = ConversationState()
    state.observe_llm_call(model="gpt-4o", messages=[], response_tool_calls=["t"])
    state.to_dict()["tools_used"].append("mutated")
    assert state.tools_used == ["t"]


def test_copy_is_independent() -> None:
    state = ConversationState()
    state.observe_llm_call(model="gpt-4o", messages=OPENAI_CALL_2, tokens_in=4200, response_tool_calls=["x"])
    snapshot = state.copy()
    assert snapshot.to_dict() == state.to_dict()
    assert snapshot.last_user_message == state.last_user_message
    assert not snapshot.is_empty
    state.observe_llm_call(model="gpt-4o", messages=OPENAI_CALL_3, response_tool_calls=["y"])
    assert snapshot.user_turns == 1 and state.user_turns == 2
    assert snapshot.tools_used == ["get_weather", "get_time", "x"]
    assert ConversationState().copy().is_empty


def test_uses_slots() -> None:
    state = ConversationState()
    assert not hasattr(state, "__dict__")
    with pytest.raises(AttributeError):
        state.something_else = 1  # type: ignore[attr-defined]
    assert not hasattr(ConversationUpdate(), "__dict__")


def test_repr_mentions_fields() -> None:
    assert "user_turns=0" in repr(ConversationState())


def test_concurrent_updates_do_not_lose_tools() -> None:
    state = ConversationState()

    def worker(i: int) -> None:
        for j in range(50):
            state.observe_llm_call(model="gpt-4o", messages=[], response_tool_calls=[f"tool-{i}-{j}"])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(state.tools_used) == 200


# --------------------------------------------------------------------------- message_text


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"role": "user", "content": "plain"}, "plain"),
        (
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "a"},
                    {"type": "image_url", "image_url": {}},
                    {"type": "text", "text": "b"},
                ],
            },
            "a\nb",
        ),
        ({"role": "assistant", "content": None, "tool_calls": [openai_tool_call("c", "f")]}, ""),
        (
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                ],
            },
            "Let me check.",
        ),
        (
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "42"}]}
                ],
            },
            "42",
        ),
        ({"role": "user", "content": [{"type": "input_text", "text": "responses api"}]}, "responses api"),
        ({"role": "user", "parts": [{"text": "gemini"}]}, "gemini"),
        (anthropic_reply(TextBlock(type="text", text="sdk block")), "sdk block"),
        (HumanMessage(["lc", {"type": "text", "text": "parts"}]), "lc\nparts"),
        ({"type": "text", "text": "a bare block"}, "a bare block"),
        ([{"type": "text", "text": "bare"}, {"type": "text", "text": "content"}], "bare\ncontent"),
        ("just a string", "just a string"),
        (None, ""),
        (42, ""),
    ],
)
def test_message_text(message: Any, expected: str) -> None:
    assert message_text(message) == expected

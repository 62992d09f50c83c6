"""Async invocations and streams: the same records, time to first token, abandoned streams."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from waxell_observe import WaxellContext, get_current_context
from waxell_observe.integrations.langchain import WaxellLangChainHandler

from .chains import ANSWER, SYSTEM, chat_model, qa_chain

QUESTION = "What is the capital of France?"


async def test_ainvoke_records_what_invoke_records(read_run: Any) -> None:
    handler = WaxellLangChainHandler(agent_name="unused")
    async with WaxellContext(agent_name="async-qa", enforce_policy=False) as ctx:
        result = await qa_chain(chat_model()).ainvoke({"question": QUESTION}, config={"callbacks": [handler]})
    assert result == ANSWER
    run = read_run(ctx.run_id)
    [call] = run["llm_calls"]
    assert (call["model"], call["tokens_in"], call["tokens_out"], call["cost"]) == (
        "gpt-4o-mini",
        12,
        5,
        4.8e-06,
    )
    assert call["prompt_preview"] == f"system: {SYSTEM}\nuser: {QUESTION}"
    assert [s["name"] for s in run["steps"]] == ["ChatPromptTemplate", "StrOutputParser", "RunnableSequence"]
    sequence = next(s for s in run["spans"] if s["name"] == "RunnableSequence")
    assert call["parent_span_id"] == sequence["id"]
    assert all(
        s["parent_span_id"] == sequence["id"]
        for s in run["spans"]
        if s["kind"] == "chain" and s is not sequence
    )


async def test_callbacks_run_inline_on_the_event_loop(read_run: Any) -> None:
    seen: list[str] = []

    class Probe(WaxellLangChainHandler):
        def on_chain_start(self, *args: Any, **kwargs: Any) -> None:
            seen.append(threading.current_thread().name)
            super().on_chain_start(*args, **kwargs)

    handler = Probe(agent_name="unused")
    async with WaxellContext(agent_name="inline", enforce_policy=False):
        await qa_chain(chat_model()).ainvoke({"question": QUESTION}, config={"callbacks": [handler]})
    assert seen and set(seen) == {threading.current_thread().name}  # no executor hop


async def test_concurrent_ainvokes_keep_their_runs_apart(read_run: Any) -> None:
    handler = WaxellLangChainHandler(agent_name="unused")

    async def one(index: int) -> str:
        async with WaxellContext(agent_name=f"task-{index}", enforce_policy=False) as ctx:
            await qa_chain(chat_model(f"answer {index}", tokens=(index, 1))).ainvoke(
                {"question": f"q{index}"}, config={"callbacks": [handler]}
            )
        return ctx.run_id

    run_ids = await asyncio.gather(*(one(i) for i in range(1, 9)))
    for index, run_id in enumerate(run_ids, start=1):
        run = read_run(run_id)
        [call] = run["llm_calls"]
        assert (call["tokens_in"], call["response_preview"]) == (index, f"answer {index}")
        assert run["conversation"]["user_turns"] == 1


def test_stream_records_time_to_first_token(read_run: Any) -> None:
    handler = WaxellLangChainHandler(agent_name="unused")
    with WaxellContext(agent_name="stream", enforce_policy=False) as ctx:
        chunks = list(
            qa_chain(chat_model("Paris is lovely")).stream(
                {"question": QUESTION}, config={"callbacks": [handler]}
            )
        )
    assert chunks == ["Paris", " ", "is", " ", "lovely"]
    run = read_run(ctx.run_id)
    [call] = run["llm_calls"]
    attributes = call["attributes"]
    assert (attributes["streamed"], attributes["chunks"]) == (True, 5)
    assert 0 <= attributes["time_to_first_token_ms"] <= call["duration_ms"]
    assert call["response_preview"] == "Paris is lovely"
    # GenericFakeChatModel does not attach usage to streamed chunks: LangChain reports none.
    assert (call["tokens_in"], call["tokens_out"], attributes["usage_reported"]) == (0, 0, False)
    assert [s["name"] for s in run["steps"]] == ["ChatPromptTemplate", "StrOutputParser", "RunnableSequence"]
    assert run["steps"][-1]["output"] == {"output": "Paris is lovely"}


async def test_astream_records_the_call_once_consumed(read_run: Any) -> None:
    handler = WaxellLangChainHandler(agent_name="unused")
    async with WaxellContext(agent_name="astream", enforce_policy=False) as ctx:
        chunks = [
            c
            async for c in qa_chain(chat_model("Rome is old")).astream(
                {"question": QUESTION}, config={"callbacks": [handler]}
            )
        ]
    assert "".join(chunks) == "Rome is old"
    run = read_run(ctx.run_id)
    [call] = run["llm_calls"]
    assert (call["response_preview"], call["attributes"]["chunks"], call["status"]) == (
        "Rome is old",
        5,
        "ok",
    )
    assert run["conversation"]["user_turns"] == 1


def test_an_abandoned_stream_is_recorded_as_partial(read_run: Any) -> None:
    handler = WaxellLangChainHandler(agent_name="unused")
    model = FakeListChatModel(responses=["one two three four"])
    with WaxellContext(agent_name="abandon", enforce_policy=False) as ctx:
        stream = model.stream("go", config={"callbacks": [handler]})
        first = next(stream)
        stream.close()
    assert first.content == "o"  # FakeListChatModel streams character by character
    assert get_current_context() is None
    run = read_run(ctx.run_id)
    [call] = run["llm_calls"]
    assert (call["status"], call["attributes"]["partial"], call["attributes"]["chunks"]) == ("ok", True, 1)
    assert call["model"] == "fake-list-chat-model"


def test_a_stream_that_fails_midway_is_an_error(read_run: Any) -> None:
    handler = WaxellLangChainHandler(agent_name="unused")
    model = FakeListChatModel(responses=["abcdef"], error_on_chunk_number=2)
    received = []
    with WaxellContext(agent_name="stream-error", enforce_policy=False) as ctx:
        try:
            for chunk in model.stream("go", config={"callbacks": [handler]}):
                received.append(chunk.content)
        except Exception as exc:  # noqa: BLE001 - the fake model's own error type
            error = exc
    assert received == ["a", "b"]
    run = read_run(ctx.run_id)
    [call] = run["llm_calls"]
    assert (call["status"], call["error_type"]) == ("error", type(error).__name__)
    assert call["attributes"]["chunks"] == 2


def test_batch_runs_in_threads_onto_the_same_run(read_run: Any) -> None:
    handler = WaxellLangChainHandler(agent_name="unused")
    questions = [{"question": f"q{i}"} for i in range(4)]
    with WaxellContext(agent_name="batch", enforce_policy=False) as ctx:
        answers = qa_chain(chat_model(*(f"a{i}" for i in range(4)))).batch(
            questions, config={"callbacks": [handler]}
        )
    assert sorted(answers) == ["a0", "a1", "a2", "a3"]
    run = read_run(ctx.run_id)
    assert (run["llm_call_count"], run["step_count"], run["tokens_in"]) == (4, 12, 48)
    sequences = {s["id"] for s in run["spans"] if s["name"] == "RunnableSequence"}
    assert len(sequences) == 4
    assert {c["parent_span_id"] for c in run["llm_calls"]} == sequences

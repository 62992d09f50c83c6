"""The built-in evaluators, each on passing and failing outputs (exact scores and comments), and the
LLM judge through every kind of client: a function, the real ``openai`` async client and the real
``anthropic`` client against stub providers, with its pass threshold and its refusals."""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

import pytest
from calculator_agent import JUDGE_MODEL
from integrations.llm_stub import StubLLMServer

import waxell_observe
from waxell_observe import evaluators as ev
from waxell_observe.evaluation import RunTrace, Score, evaluate, get_experiment
from waxell_observe.evaluators.judge import read_verdict


def score(name: str, value: Any, comment: str = "") -> Score:
    """A score whose pass verdict is its boolean value (what the checks give)."""
    return Score(name, value, comment, bool(value))


def test_output_checks() -> None:
    exact = ev.exact_match()
    assert exact(output=" Paris\n", expected="Paris") == score("exact_match", True)
    assert exact(output="paris", expected="Paris") == score(
        "exact_match", False, "expected 'Paris', got 'paris'"
    )
    assert ev.exact_match(ignore_case=True)(output="PARIS", expected="paris").passed is True
    assert (
        ev.exact_match(field="city")(output={"city": "Rome", "x": 1}, expected={"city": "Rome"}).passed
        is True
    )
    assert exact(output=4, expected=4.0) == score("exact_match", True)

    has = ev.contains(["paris", "france"])
    assert has(output="Paris is in France", expected=None) == score("contains", True)
    assert has(output="Paris, Texas", expected=None) == score("contains", False, "missing ['france']")
    assert ev.contains(["rome", "paris"], require_all=False)(output="PARIS", expected=None).passed is True
    assert ev.contains("Paris", ignore_case=False)(output="paris", expected=None).passed is False
    assert ev.contains()(output={"answer": "in Paris"}, expected="Paris").passed is True  # the expected text
    assert ev.contains()(output="x", expected=[]).passed is False  # nothing to look for never passes

    digits = ev.regex(r"^\d{3}-\d{4}$", name="phone")
    assert digits(output="555-1234") == score("phone", True)
    assert digits(output="call 555-1234") == score("phone", False, r"no match for /^\d{3}-\d{4}$/")

    valid = ev.json_valid()
    assert valid(output='{"a": [1, 2]}') == score("json_valid", True)
    assert valid(output={"already": "parsed"}) == score("json_valid", True)
    assert valid(output='{"a": ') == score("json_valid", False, "invalid JSON: Expecting value at 6")
    assert valid(output=3) == score("json_valid", False, "not text or JSON: int")

    shaped = ev.json_schema(
        {
            "type": "object",
            "required": ["answer"],
            "properties": {"answer": {"type": "string", "minLength": 2}},
        }
    )
    assert shaped(output='{"answer": "Paris"}') == score("json_schema", True)
    assert shaped(output={"answer": "P"}) == score("json_schema", False, "$.answer: 'P' is too short")
    assert shaped(output={}) == score("json_schema", False, "$: 'answer' is a required property")
    assert shaped(output="nope").comment == "invalid JSON: Expecting value at 0"
    with pytest.raises(ValueError, match="json_schema: the schema is not usable: .*unknown type 'text'"):
        ev.json_schema({"type": "text"})

    close = ev.numeric_close(absolute=0.01)
    assert close(output="3.141", expected=3.14) == score("numeric_close", True)
    assert close(output=3.2, expected=3.14) == score(
        "numeric_close", False, "expected 3.14, got 3.2 (off by 0.06)"
    )
    assert ev.numeric_close(relative=0.1)(output=105, expected=100).passed is True
    assert close(output="n/a", expected=1) == score("numeric_close", False, "not numbers: 'n/a' vs 1")
    with pytest.raises(ValueError, match="tolerances must be >= 0"):
        ev.numeric_close(absolute=-1)


def test_ceilings_on_the_trace() -> None:
    trace = RunTrace(run_id="r", latency_ms=120.0, cost=0.0042, tokens_in=900, tokens_out=150)
    assert ev.cost_at_most(0.005)(trace=trace) == score("cost_at_most", True, "0.0042 USD (limit 0.005)")
    assert ev.cost_at_most(0.004)(trace=trace) == score("cost_at_most", False, "0.0042 USD (limit 0.004)")
    assert ev.latency_at_most(100)(trace=trace) == score("latency_at_most", False, "120 ms (limit 100)")
    assert ev.tokens_at_most(1050)(trace=trace) == score("tokens_at_most", True, "1050 tokens (limit 1050)")
    with pytest.raises(ValueError, match="usd must be a number >= 0, got -1"):
        ev.cost_at_most(-1)


@waxell_observe.tool(name="search")
def search(query: str, limit: int = 3) -> list[str]:
    return [query] * limit


def test_tool_called_counts_matching_calls_with_their_arguments() -> None:
    def task(question: str) -> str:
        search(query=question)
        if question == "twice":
            search(query="again", limit=1)
        return question

    result = evaluate(
        task,
        [{"id": "once", "input": "once"}, {"id": "twice", "input": "twice"}],
        [
            ev.tool_called("search"),
            ev.tool_called("search", times=2, name="searched_twice"),
            ev.tool_called("search", query="again", name="searched_again"),
            ev.tool_called("fetch"),
        ],
        name="tools",
        max_concurrency=1,
    )
    once, twice = result.rows
    assert [(s.name, s.value, s.comment) for s in once.scores] == [
        ("tool_called:search", True, "1 matching calls of 'search' (tools called: ['search'])"),
        ("searched_twice", False, "1 matching calls of 'search' (tools called: ['search'])"),
        ("searched_again", False, "0 matching calls of 'search' (tools called: ['search'])"),
        ("tool_called:fetch", False, "0 matching calls of 'fetch' (tools called: ['search'])"),
    ]
    assert [(s.name, s.value) for s in twice.scores] == [
        ("tool_called:search", True),
        ("searched_twice", True),
        ("searched_again", True),
        ("tool_called:fetch", False),
    ]


def test_a_judge_that_is_a_function_its_threshold_and_what_it_sent() -> None:
    sent: list[list[dict[str, str]]] = []

    def model(messages: list[dict[str, str]]) -> str:
        sent.append(messages)
        return 'Here you go: {"score": 0.8, "reasoning": "close enough"}'

    strict = ev.llm_judge(model, "m", "Is it the capital?", name="capital", pass_threshold=0.9)
    result = evaluate(
        lambda c: "Paris", [{"id": "fr", "input": "France", "expected": "Paris"}], [strict], name="fn"
    )
    assert result.rows[0].scores == [Score("capital", 0.8, "close enough", False)]
    assert result.pass_rate("capital") == 0.0 and result.mean("capital") == 0.8
    assert [m["role"] for m in sent[0]] == ["system", "user"]
    assert "and the EXPECTED answer" in sent[0][0]["content"]
    assert (
        sent[0][1]["content"]
        == "RUBRIC:\nIs it the capital?\n\nINPUT:\nFrance\n\nEXPECTED:\nParis\n\nRESPONSE:\nParis"
    )
    stored = get_experiment("fn")
    assert stored["results"][0]["scores"][0]["passed"] is False  # the judge's verdict, not 0.8 >= 0.5

    for answer, problem in [
        ("I think it is fine", "the judge did not answer a JSON object"),
        ('{"score": "high"}', "the judge's answer has no numeric 'score'"),
        ('{"score": 7}', "the judge's score 7 is outside 0..1"),
        ("{score: 1}", "the judge's answer is not valid JSON"),
    ]:
        with pytest.raises(ValueError, match=problem):
            read_verdict(answer)
    broken = ev.LLMJudge(lambda messages: "no idea", "m", "rubric", name="broken")
    row = evaluate(lambda c: c, [{"input": "x"}], [broken, ev.exact_match()], name="broken-judge").rows[0]
    assert row.evaluator_errors == ["broken: ValueError: the judge did not answer a JSON object: 'no idea'"]
    assert [s.name for s in row.scores] == ["exact_match"]  # the other evaluator still scored
    with pytest.raises(ValueError, match="an LLM judge needs a rubric"):
        ev.LLMJudge(model, "m", " ")
    with pytest.raises(ValueError, match="the judge's client must have chat.completions.create"):
        ev.LLMJudge(object(), "m", "rubric")


def test_a_judge_through_the_async_openai_client(openai_client: Any, llm: StubLLMServer) -> None:
    import openai

    client = openai.AsyncOpenAI(base_url=llm.openai_base_url, api_key="k", max_retries=0)
    judge = ev.LLMJudge(client, JUDGE_MODEL, "The response is the expected number.")

    async def task(question: str) -> str:
        await asyncio.sleep(0)
        return "12" if question == "5 + 7" else "13"

    items = [{"id": "a", "input": "5 + 7", "expected": "12"}, {"id": "b", "input": "6 + 6", "expected": "12"}]
    result = waxell_observe.evaluate(task, items, [judge], name="async-judge")
    assert [(r.item_id, r.score("judge")) for r in result.rows] == [("a", 1.0), ("b", 0.0)]
    assert [r.scores[0].comment for r in result.rows] == ["12 vs 12", "13 vs 12"]
    assert result.cost == 0.0  # the judge's calls are not the task's
    judged = [json.loads(r.body["messages"][1]["content"].split("RESPONSE:\n")[1]) for r in llm.requests]
    assert sorted(judged) == [12, 13]


def test_a_judge_through_the_anthropic_client() -> None:
    import anthropic

    with StubLLMServer() as stub:
        stub.reply_json(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-haiku-4-5",
                "content": [{"type": "text", "text": '{"score": 0.25, "reasoning": "wrong city"}'}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 40, "output_tokens": 9},
            }
        )
        client = anthropic.Anthropic(base_url=stub.base_url, api_key="k", max_retries=0)
        judge = ev.LLMJudge(client, "claude-haiku-4-5", "Name the capital.", use_expected=False)
        answer = judge(input={"country": "Italy"}, output="Milan", expected="Rome")
        (request,) = stub.requests
    assert answer == Score("judge", 0.25, "wrong city", False)
    assert request.path == "/v1/messages"
    assert request.body["model"] == "claude-haiku-4-5"
    # temperature 0 is sent when this version of the client takes it (newer ones do not)
    takes = "temperature" in inspect.signature(anthropic.resources.messages.Messages.create).parameters
    assert request.body.get("temperature", "absent") == (0.0 if takes else "absent")
    assert "EXPECTED" not in request.body["system"]
    assert request.body["messages"] == [
        {
            "role": "user",
            "content": 'RUBRIC:\nName the capital.\n\nINPUT:\n{\n "country": "Italy"\n}\n\nRESPONSE:\nMilan',
        }
    ]

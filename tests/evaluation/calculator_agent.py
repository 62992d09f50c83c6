"""A small agent for the evaluation tests, and the stub LLM provider it talks to.

The agent (:func:`answer`) reads two numbers from the question, calls its ``add`` tool, then asks
the model (the real ``openai`` client) to state the result; the stub answers from the request.
``worse_answer`` is the same agent on a sloppier model: the stub gets every fourth sum wrong for
it, and it skips the tool.

The stub (:class:`RoutedChat`, installed as ``StubLLMServer.chat``) answers:

* the agent's requests (system prompt :data:`AGENT_SYSTEM`): the sum, usage ``prompt_tokens`` =
  20 + a, ``completion_tokens`` = the number of digits of the answer; for :data:`WORSE_MODEL`,
  ``sum + 1`` when ``a % 4 == 0``;
* an LLM judge's requests (system prompt of ``waxell_observe.evaluators.judge``): score 1.0 when
  the RESPONSE equals the EXPECTED answer, else 0.0 (without an EXPECTED answer, as online: 1.0
  when the RESPONSE is a bare number); usage 50 + 5 tokens.
"""

from __future__ import annotations

import json
import re
from typing import Any

from integrations.llm_stub import _json_reply, _Reply

import waxell_observe

AGENT_SYSTEM = "You state the result of an addition as a bare number."
GOOD_MODEL = "gpt-4o-mini"
WORSE_MODEL = "gpt-3.5-turbo"
JUDGE_MODEL = "gpt-4o"
JUDGE_TOKENS = (50, 5)


def question(a: int, b: int) -> str:
    return f"What is {a} + {b}?"


def numbers(text: str) -> tuple[int, int]:
    found = re.search(r"(\d+) \+ (\d+)", text)
    assert found is not None, text
    return int(found.group(1)), int(found.group(2))


def agent_tokens(a: int, b: int) -> tuple[int, int]:
    """The usage the stub reports for the good agent's call on ``a + b``."""
    return 20 + a, len(str(a + b))


class RoutedChat:
    """Answers chat completions from what they ask (see the module doc)."""

    def reply_to(self, path: str, body: Any) -> _Reply:
        if path.rstrip("/") != "/v1/chat/completions" or not isinstance(body, dict):
            return _json_reply({"error": {"message": f"stub: no route {path}"}}, 404)
        messages = body["messages"]
        system, user = messages[0]["content"], messages[-1]["content"]
        if system == AGENT_SYSTEM:
            a, b = numbers(user)
            total = a + b
            if body["model"] == WORSE_MODEL and a % 4 == 0:
                total += 1
            content = str(total)
            usage = (20 + a, len(content))
        elif "impartial evaluator" in system:
            response = user.split("RESPONSE:\n", 1)[1].strip()
            if "EXPECTED:\n" in user:
                expected = user.split("EXPECTED:\n", 1)[1].split("\n\nRESPONSE:", 1)[0].strip()
                score = 1.0 if response == expected else 0.0
                reasoning = f"{response} vs {expected}"
            else:
                score = 1.0 if response.isdigit() else 0.0
                reasoning = f"{response} is {'' if response.isdigit() else 'not '}a bare number"
            content = json.dumps({"score": score, "reasoning": reasoning})
            usage = JUDGE_TOKENS
        else:
            return _json_reply({"error": {"message": "stub: unknown request"}}, 400)
        return _json_reply(
            {
                "id": "chatcmpl-eval",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": usage[0],
                    "completion_tokens": usage[1],
                    "total_tokens": sum(usage),
                },
            }
        )


@waxell_observe.tool(name="add")
def add(a: int, b: int) -> int:
    return a + b


def _ask(client: Any, model: str, text: str) -> str:
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "system", "content": AGENT_SYSTEM}, {"role": "user", "content": text}],
    )
    return str(reply.choices[0].message.content)


def answer(client: Any, item_input: dict[str, Any]) -> str:
    """The agent: tool, then model. An input with ``explode`` raises (a failing item)."""
    if item_input.get("explode"):
        raise RuntimeError(f"cannot parse {item_input['question']!r}")
    a, b = numbers(item_input["question"])
    add(a=a, b=b)
    return _ask(client, GOOD_MODEL, question(a, b))


def worse_answer(client: Any, item_input: dict[str, Any]) -> str:
    """The worse agent: no tool, a sloppier model."""
    if item_input.get("explode"):
        raise RuntimeError(f"cannot parse {item_input['question']!r}")
    a, b = numbers(item_input["question"])
    return _ask(client, WORSE_MODEL, question(a, b))


def dataset_items(count: int = 20, explode: tuple[int, ...] = (7,)) -> list[dict[str, Any]]:
    """``count`` items ``a + b`` with a = i, b = 2i + 1 (expected: the sum as text); the items in
    ``explode`` make the agent raise."""
    items = []
    for i in range(count):
        item_input: dict[str, Any] = {"question": question(i, 2 * i + 1)}
        if i in explode:
            item_input["explode"] = True
        items.append(
            {"id": f"q{i:02d}", "input": item_input, "expected": str(3 * i + 1), "metadata": {"i": i}}
        )
    return items

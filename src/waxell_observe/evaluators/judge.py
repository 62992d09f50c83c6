"""An LLM judge: a model grades the output against a rubric (:class:`LLMJudge`, :func:`llm_judge`).

The judge calls the model through the client you give it: an OpenAI-style client
(``client.chat.completions.create``, e.g. ``openai.OpenAI`` or any compatible endpoint), an
Anthropic-style client (``client.messages.create``), their async twins, or any function
``complete(messages) -> str``. Each judgement is its own run (agent ``waxell-judge``, metadata
``judged_run_id``), started outside the task's run: when the client is instrumented its LLM
calls are recorded there, and they never count toward the task's cost or tokens.

The model is asked to answer a JSON object ``{"score": <number from 0 to 1>, "reasoning": "..."}``;
the score is the judge's value, the reasoning its comment, and the item passes when the score is
at least ``pass_threshold``. An answer that is not such an object is an evaluator error.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import math
import re
from collections.abc import Callable
from typing import Any

from waxell_observe.evaluation.scores import Score
from waxell_observe.vocabulary.evaluation import JUDGE_AGENT_NAME

__all__ = ["LLMJudge", "llm_judge", "JUDGE_INSTRUCTIONS", "read_verdict"]

JUDGE_INSTRUCTIONS = (
    "You are an impartial evaluator. Grade the RESPONSE to the INPUT against the RUBRIC"
    "{expected_clause}. Answer with a JSON object only, no other text: "
    '{{"score": <a number from 0 to 1>, "reasoning": "<one or two sentences>"}}.'
)

_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)


def read_verdict(text: str) -> tuple[float, str]:
    """``(score, reasoning)`` from a judge's answer; ``ValueError`` naming what is wrong."""
    match = _OBJECT.search(text or "")
    if match is None:
        raise ValueError(f"the judge did not answer a JSON object: {text[:200]!r}")
    try:
        verdict = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise ValueError(f"the judge's answer is not valid JSON ({exc.msg}): {text[:200]!r}") from None
    score = verdict.get("score") if isinstance(verdict, dict) else None
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise ValueError(f"the judge's answer has no numeric 'score': {text[:200]!r}")
    if not 0.0 <= float(score) <= 1.0:
        raise ValueError(f"the judge's score {score} is outside 0..1")
    return float(score), str(verdict.get("reasoning") or "")


class LLMJudge:
    """An evaluator asking ``model`` through ``client`` to grade the output with ``rubric``."""

    def __init__(
        self,
        client: Any,
        model: str,
        rubric: str,
        *,
        name: str = "judge",
        pass_threshold: float = 0.5,
        use_expected: bool = True,
        max_tokens: int = 512,
        temperature: float | None = 0.0,
    ) -> None:
        if not isinstance(rubric, str) or not rubric.strip():
            raise ValueError("an LLM judge needs a rubric: what a good answer is")
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be a non-empty string, got {model!r}")
        if not 0.0 <= pass_threshold <= 1.0:
            raise ValueError(f"pass_threshold must be between 0 and 1, got {pass_threshold!r}")
        self.client, self.model, self.rubric, self.name = client, model, rubric, name
        self.pass_threshold, self.use_expected = pass_threshold, use_expected
        self.max_tokens, self.temperature = max_tokens, temperature
        self._complete, self.is_async = self._completion(client)

    def __repr__(self) -> str:
        return f"<LLM judge {self.name} ({self.model})>"

    def _completion(self, client: Any) -> tuple[Callable[[list[dict[str, str]]], Any], bool]:
        chat = getattr(getattr(client, "chat", None), "completions", None)
        if chat is not None and hasattr(chat, "create"):
            create = chat.create
            sampling = self._sampling(create)

            def openai_style(messages: list[dict[str, str]]) -> Any:
                reply = create(model=self.model, messages=messages, max_tokens=self.max_tokens, **sampling)
                return _then(reply, lambda r: r.choices[0].message.content or "")

            return openai_style, _is_async(create)
        messages_api = getattr(client, "messages", None)
        if messages_api is not None and hasattr(messages_api, "create"):
            create = messages_api.create
            sampling = self._sampling(create)

            def anthropic_style(messages: list[dict[str, str]]) -> Any:
                system = messages[0]["content"]
                reply = create(
                    model=self.model,
                    system=system,
                    messages=messages[1:],
                    max_tokens=self.max_tokens,
                    **sampling,
                )
                return _then(reply, lambda r: "".join(getattr(block, "text", "") for block in r.content))

            return anthropic_style, _is_async(create)
        if callable(client):
            return client, _is_async(client)
        raise ValueError(
            "the judge's client must have chat.completions.create (OpenAI style), messages.create "
            f"(Anthropic style), or be a function messages -> text; got {type(client).__name__}"
        )

    def _sampling(self, create: Callable[..., Any]) -> dict[str, Any]:
        """``temperature`` when set and the client's ``create`` takes it (some models' APIs do not)."""
        if self.temperature is None:
            return {}
        try:
            parameters = inspect.signature(inspect.unwrap(create)).parameters
        except (TypeError, ValueError):
            return {"temperature": self.temperature}
        takes = "temperature" in parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
        )
        return {"temperature": self.temperature} if takes else {}

    def messages(self, input: Any, output: Any, expected: Any) -> list[dict[str, str]]:  # noqa: A002
        """The messages sent to the model."""
        with_expected = self.use_expected and expected is not None
        system = JUDGE_INSTRUCTIONS.format(
            expected_clause=" and the EXPECTED answer" if with_expected else ""
        )
        parts = [f"RUBRIC:\n{self.rubric}", f"INPUT:\n{_show(input)}"]
        if with_expected:
            parts.append(f"EXPECTED:\n{_show(expected)}")
        parts.append(f"RESPONSE:\n{_show(output)}")
        return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]

    def _score(self, text: str) -> Score:
        value, reasoning = read_verdict(text)
        return Score(self.name, value, reasoning[:2000], value >= self.pass_threshold)

    def _context(self, run_id: str, input: Any) -> Any:  # noqa: A002
        from waxell_observe.context import WaxellContext

        return WaxellContext(
            agent_name=JUDGE_AGENT_NAME,
            workflow_name=self.name,
            inputs={"judged_run_id": run_id, "model": self.model},
            metadata={"judged_run_id": run_id, "evaluator": self.name},
        )

    def __call__(self, input: Any, output: Any, expected: Any = None, trace: Any = None) -> Any:  # noqa: A002
        """One judgement (a :class:`Score`; a coroutine giving one for an async client)."""
        messages = self.messages(input, output, expected)
        run_id = str(getattr(trace, "run_id", "") or "")
        if self.is_async:
            return self._ajudge(messages, run_id, input)
        return contextvars.Context().run(self._judge, messages, run_id, input)

    def _judge(self, messages: list[dict[str, str]], run_id: str, input: Any) -> Score:  # noqa: A002
        with self._context(run_id, input) as ctx:
            text = self._complete(messages)
            if inspect.isawaitable(text):
                close = getattr(text, "close", None)
                if close is not None:
                    close()  # never awaited: closed so it does not warn
                raise TypeError(
                    "the judge's client answered a coroutine to a blocking call: give an async client's "
                    "create() unwrapped, or a plain function"
                )
            score = self._score(text)
            ctx.set_result({"score": score.value, "reasoning": score.comment})
        return score

    async def _ajudge(self, messages: list[dict[str, str]], run_id: str, input: Any) -> Score:  # noqa: A002
        async def judged() -> Score:
            async with self._context(run_id, input) as ctx:
                text = await self._complete(messages)
                score = self._score(text)
                ctx.set_result({"score": score.value, "reasoning": score.comment})
            return score

        # a task started in an empty context: the judge's run is a root run, never the task's child
        return await contextvars.Context().run(asyncio.ensure_future, judged())


def _is_async(function: Any) -> bool:
    """Whether ``function`` is a coroutine function, also under wrappers (instrumented clients'
    methods are wrapped by plain functions that return the coroutine)."""
    if inspect.iscoroutinefunction(function):
        return True
    try:
        return inspect.iscoroutinefunction(inspect.unwrap(function))
    except ValueError:  # a cycle of __wrapped__
        return False


def _then(reply: Any, read: Callable[[Any], str]) -> Any:
    if inspect.isawaitable(reply):

        async def awaited() -> str:
            return read(await reply)

        return awaited()
    return read(reply)


def llm_judge(client: Any, model: str, rubric: str, **options: Any) -> LLMJudge:
    """An :class:`LLMJudge` (``name``, ``pass_threshold``, ``use_expected``, ``max_tokens``,
    ``temperature`` as keyword options)."""
    return LLMJudge(client, model, rubric, **options)

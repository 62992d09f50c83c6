"""What an evaluator gives: :class:`Score`, and how any evaluator is called and its answer read.

An evaluator is a function (or any callable, sync or async) taking the keyword arguments it names
among ``input``, ``output``, ``expected``, ``metadata``, ``item`` and ``trace`` (the task's
:class:`~waxell_observe.evaluation.trace.RunTrace`: cost, tokens, latency, LLM and tool calls).
It answers one score or several: a :class:`Score`, a ``{name, value, comment}`` dict, a list of
them, or a bare value (a bool, a number or a string) named after the evaluator.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Score",
    "EVALUATOR_ARGUMENTS",
    "evaluator_name",
    "call_evaluator",
    "acall_evaluator",
    "read_scores",
]

EVALUATOR_ARGUMENTS = ("input", "output", "expected", "metadata", "item", "trace")
"""The keyword arguments an evaluator may name (it receives only those it names, or all with ``**kwargs``)."""


@dataclass(frozen=True)
class Score:
    """One score: ``value`` is a bool, a finite number or a string (a category).

    ``passed`` says whether the item passes on this score; when ``None`` a bool passes when true,
    a number when it is at least 0.5 (scores are usually between 0 and 1), and a category never
    counts toward the pass rate.
    """

    name: str
    value: bool | float | str
    comment: str = ""
    passed: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"a score needs a non-empty name, got {self.name!r}")
        value = self.value
        if isinstance(value, (bool, str)):
            pass
        elif isinstance(value, (int, float)) and math.isfinite(value):
            object.__setattr__(self, "value", float(value))
        else:
            raise ValueError(
                f"score {self.name!r}: value must be a bool, a finite number or a string, got {value!r}"
            )
        if not isinstance(self.comment, str):
            raise ValueError(
                f"score {self.name!r}: comment must be a string, got {type(self.comment).__name__}"
            )

    @property
    def data_type(self) -> str:
        if isinstance(self.value, bool):
            return "boolean"
        return "categorical" if isinstance(self.value, str) else "numeric"

    @property
    def passes(self) -> bool | None:
        """Whether this score counts as a pass (``None``: not counted, a category without ``passed``)."""
        if self.passed is not None:
            return self.passed
        if isinstance(self.value, bool):
            return self.value
        if isinstance(self.value, float):
            return self.value >= 0.5
        return None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "value": self.value, "comment": self.comment}
        if self.passed is not None:
            data["passed"] = self.passed
        return data


def evaluator_name(evaluator: Any) -> str:
    """The name of an evaluator: its ``name`` attribute, else its function's name (``lambda`` for a
    lambda), else its class's name."""
    name = getattr(evaluator, "name", None)
    if isinstance(name, str) and name:
        return name
    name = getattr(evaluator, "__name__", None)
    if isinstance(name, str) and name:
        return "lambda" if name == "<lambda>" else name
    return type(evaluator).__name__


def _accepted(evaluator: Callable[..., Any]) -> tuple[set[str], bool]:
    try:
        signature = inspect.signature(evaluator)
    except (TypeError, ValueError):
        return set(EVALUATOR_ARGUMENTS), True
    names = set()
    everything = False
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            everything = True
        elif parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            names.add(parameter.name)
    unknown = [
        p.name
        for p in signature.parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and p.name not in EVALUATOR_ARGUMENTS
        and p.default is inspect.Parameter.empty
    ]
    if unknown:
        raise TypeError(
            f"evaluator {evaluator_name(evaluator)!r} asks for {unknown}; "
            f"an evaluator may take {', '.join(EVALUATOR_ARGUMENTS)}"
        )
    return names, everything


def check_evaluator(evaluator: Any) -> None:
    """``TypeError`` when ``evaluator`` is not callable or asks for an argument no evaluator gets."""
    if not callable(evaluator):
        raise TypeError(f"an evaluator must be callable, got {evaluator!r}")
    _accepted(evaluator)


def _arguments(evaluator: Callable[..., Any], available: Mapping[str, Any]) -> dict[str, Any]:
    names, everything = _accepted(evaluator)
    return {k: v for k, v in available.items() if everything or k in names}


def call_evaluator(
    evaluator: Callable[..., Any], available: Mapping[str, Any], name: str | None = None
) -> list[Score]:
    """Call ``evaluator`` with the arguments it names (an async one is run to completion); a bare
    value it answers is named ``name`` (default: the evaluator's name)."""
    answer = evaluator(**_arguments(evaluator, available))
    if inspect.isawaitable(answer):
        answer = asyncio.run(_awaited(answer))
    return read_scores(answer, name or evaluator_name(evaluator))


async def acall_evaluator(evaluator: Callable[..., Any], available: Mapping[str, Any]) -> list[Score]:
    """:func:`call_evaluator` on the running loop: an async evaluator is awaited, a sync one runs
    in a worker thread."""
    arguments = _arguments(evaluator, available)
    if inspect.iscoroutinefunction(evaluator) or inspect.iscoroutinefunction(type(evaluator).__call__):
        answer = await evaluator(**arguments)
    else:
        answer = await asyncio.to_thread(evaluator, **arguments)
        if inspect.isawaitable(answer):
            answer = await answer
    return read_scores(answer, evaluator_name(evaluator))


async def _awaited(answer: Any) -> Any:
    return await answer


def read_scores(answer: Any, default_name: str) -> list[Score]:
    """An evaluator's answer as scores (``None``: no score); ``ValueError`` for anything else."""
    if answer is None:
        return []
    if isinstance(answer, Score):
        return [answer]
    if isinstance(answer, Mapping):
        unknown = sorted(set(answer) - {"name", "value", "comment", "passed"})
        if unknown or "value" not in answer:
            raise ValueError(
                f"evaluator {default_name!r} answered {dict(answer)!r}: a score is {{name, value, comment}}"
            )
        passed = answer.get("passed")
        return [
            Score(
                str(answer.get("name") or default_name),
                answer["value"],
                str(answer.get("comment") or ""),
                None if passed is None else bool(passed),
            )
        ]
    if isinstance(answer, (bool, int, float, str)):
        return [Score(default_name, answer)]
    if isinstance(answer, (list, tuple)):
        return [score for part in answer for score in read_scores(part, default_name)]
    raise ValueError(
        f"evaluator {default_name!r} answered a {type(answer).__name__}: give a Score, a dict "
        "{name, value, comment}, a list of them, a bool, a number or a string"
    )

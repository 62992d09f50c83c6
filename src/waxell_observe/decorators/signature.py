"""What a decorated function declares, computed once at decoration time.

:class:`CallSignature` binds a call's arguments to parameter names (defaults applied,
``self``/``cls``/``waxell_ctx`` left out, ``**kwargs`` flattened) without the cost of
:meth:`inspect.Signature.bind` on every call, and knows which call-time overrides the
function leaves to the decorator.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["CallSignature", "CONTEXT_PARAMETER", "CALL_OVERRIDES"]

CONTEXT_PARAMETER = "waxell_ctx"
"""A function that declares a parameter with this name receives the live context."""

CALL_OVERRIDES = (
    "session_id",
    "user_id",
    "user_group",
    "end_user_id",
    "enforce_policy",
    "mid_execution_governance",
    "auto_grounding",
    "client",
    "inputs",
    "metadata",
    "workflow_name",
    "on_policy_block",
)
"""Keyword arguments ``@observe`` takes for itself at call time unless the function declares them."""

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_EMPTY = inspect.Parameter.empty


class CallSignature:
    """The parameters of one function, prepared for cheap binding."""

    __slots__ = (
        "params",
        "positional",
        "keyword",
        "var_positional",
        "var_keyword",
        "skip",
        "declares_context",
        "context_index",
        "overrides",
        "first_argument",
        "plain",
    )

    def __init__(self, fn: Callable[..., Any]) -> None:
        try:
            parameters = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):  # builtins and C callables without a signature
            parameters = [
                inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
                inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD),
            ]
        self.params: tuple[tuple[str, Any, Any], ...] = tuple((p.name, p.kind, p.default) for p in parameters)
        self.positional: tuple[str, ...] = tuple(p.name for p in parameters if p.kind in _POSITIONAL)
        self.keyword: frozenset[str] = frozenset(
            p.name
            for p in parameters
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        )
        self.var_positional = next(
            (p.name for p in parameters if p.kind == inspect.Parameter.VAR_POSITIONAL), None
        )
        self.var_keyword = next((p.name for p in parameters if p.kind == inspect.Parameter.VAR_KEYWORD), None)
        skip = {CONTEXT_PARAMETER}
        if self.positional and self.positional[0] in ("self", "cls"):
            skip.add(self.positional[0])
        self.skip: frozenset[str] = frozenset(skip)
        self.declares_context = CONTEXT_PARAMETER in self.keyword
        self.context_index = (
            self.positional.index(CONTEXT_PARAMETER)
            if CONTEXT_PARAMETER in self.positional
            else len(self.positional)
        )
        declared = {
            p.name
            for p in parameters
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        }
        self.overrides: tuple[str, ...] = tuple(name for name in CALL_OVERRIDES if name not in declared)
        self.first_argument = next((name for name in self.positional if name not in self.skip), None)
        """The first positional parameter that is not ``self``/``cls``/``waxell_ctx`` (a query, ...)."""
        plain = all(p.kind in _POSITIONAL or p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters)
        self.plain: tuple[str, ...] | None = (
            self.positional if plain and not any(name in self.skip for name in self.positional) else None
        )
        """The positional parameter names when a call passing each of them positionally (and
        nothing else) binds to ``dict(zip(plain, args))``; ``None`` otherwise."""

    def take_overrides(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """Remove the call-time overrides from ``kwargs`` and return them (``None``: none given)."""
        taken = None
        for name in self.overrides:
            if name in kwargs:
                if taken is None:
                    taken = {}
                taken[name] = kwargs.pop(name)
        return taken

    def wants_context(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """True when the live context should be passed as ``waxell_ctx=`` to this call."""
        return self.declares_context and CONTEXT_PARAMETER not in kwargs and len(args) <= self.context_index

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name, in declaration order, defaults applied.

        ``self``/``cls`` and ``waxell_ctx`` are left out; ``*args`` is a list under its own
        name; ``**kwargs`` entries are flattened into the result. A call that does not fit
        the signature (the function itself will raise ``TypeError``) binds to ``{}``.
        """
        plain = self.plain
        if plain is not None and not kwargs and len(args) == len(plain):
            return {plain[0]: args[0]} if len(plain) == 1 else dict(zip(plain, args, strict=True))
        bound = self._bind_declared(args, kwargs)
        if bound is None or not self._bind_extra_keywords(bound, kwargs):
            return {}
        return bound

    def _bind_declared(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """:meth:`bind` for the declared parameters (``None``: the call does not fit them)."""
        bound: dict[str, Any] = {}
        count = len(args)
        index = 0
        keyword = self.keyword
        for name, kind, default in self.params:
            if kind in _POSITIONAL:
                if index < count:
                    if name in kwargs and name in keyword:
                        return None
                    value = args[index]
                    index += 1
                elif name in kwargs and name in keyword:
                    value = kwargs[name]
                elif default is not _EMPTY:
                    value = default
                else:
                    continue
            elif kind == inspect.Parameter.VAR_POSITIONAL:
                value = list(args[index:])
                index = count
            elif kind == inspect.Parameter.KEYWORD_ONLY:
                if name in kwargs:
                    value = kwargs[name]
                elif default is not _EMPTY:
                    value = default
                else:
                    continue
            else:  # VAR_KEYWORD: flattened below
                continue
            if name not in self.skip:
                bound[name] = value
        return None if index < count else bound

    def _bind_extra_keywords(self, bound: dict[str, Any], kwargs: dict[str, Any]) -> bool:
        """Add the keywords no declared parameter takes (``**kwargs``); False when the function
        has no ``**kwargs`` to take them."""
        for name, value in kwargs.items():
            if name in self.keyword:
                continue
            if self.var_keyword is None:
                return False
            if name not in self.skip:
                bound[name] = value
        return True

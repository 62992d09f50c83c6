"""Name matching used by policies: scope globs and model-name patterns, compiled once."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable

__all__ = ["compile_globs", "compile_model_patterns", "is_match_all", "model_matches"]

_GLOB_CHARS = frozenset("*?[")


def is_match_all(patterns: Iterable[str] | None) -> bool:
    """True when a pattern list means "everything": empty, or containing ``*``."""
    if patterns is None:
        return True
    patterns = list(patterns)
    return not patterns or "*" in patterns


def compile_globs(patterns: Iterable[str] | None) -> Callable[[str], bool] | None:
    """Compile glob patterns (``fnmatch`` syntax, case-sensitive) into one predicate.

    Returns ``None`` when the patterns match everything, so callers can skip the test.
    """
    if is_match_all(patterns):
        return None
    assert patterns is not None
    pats = list(patterns)
    if not any(_GLOB_CHARS & set(p) for p in pats):
        exact = frozenset(pats)
        return exact.__contains__
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in pats))
    return lambda name: regex.match(name) is not None


def model_matches(model: str, pattern: str) -> bool:
    """The spec's model rule: equal, or ``pattern`` followed by ``-`` or ``:``; case-insensitive.

    ``gpt-4o-mini-2024-07-18`` matches ``gpt-4o-mini``; ``gpt-4o`` does not match ``gpt-4``.
    A pattern holding glob characters (``claude-*``) is matched as a glob.
    """
    model = model.lower()
    pattern = pattern.lower()
    if _GLOB_CHARS & set(pattern):
        return fnmatch.fnmatchcase(model, pattern)
    if model == pattern:
        return True
    return model.startswith(pattern) and model[len(pattern)] in "-:"


def compile_model_patterns(patterns: Iterable[str]) -> Callable[[str], str | None]:
    """Compile model patterns into a function returning the first pattern a model matches (or None)."""
    pats = tuple(patterns)
    regexes: list[tuple[str, re.Pattern[str]]] = []
    for p in pats:
        low = p.lower()
        body = fnmatch.translate(low) if _GLOB_CHARS & set(low) else re.escape(low) + r"(?:[-:].*)?\Z"
        regexes.append((p, re.compile(body, re.DOTALL)))
    cache: dict[str, str | None] = {}

    def first_match(model: str) -> str | None:
        try:
            return cache[model]
        except KeyError:
            pass
        low = model.lower()
        found = next((p for p, rx in regexes if rx.match(low)), None)
        if len(cache) < 4096:
            cache[model] = found
        return found

    return first_match

"""``code-execution``: what code an agent may run (``code.exec``).

The signal's ``language`` in ``blocked_languages`` or, with ``allowed_languages``, not in it; its ``code``
(or ``text``) containing any of ``blocked_commands`` — as a substring or as a regular expression, in any
case; any of its ``paths`` under a ``blocked_paths`` entry, or outside every ``allowed_paths`` entry (globs
allowed); any ``packages`` when ``allow_package_install`` is false, or not in ``allowed_packages``. These
answer the policy's action (block). An ``execution_time`` over ``max_execution_time_seconds`` or an
``output_size_kb`` over ``max_output_size_kb`` warns.

With ``require_review``, the pre-execution check answers ``allow`` with ``metadata.require_review`` so the
SDK asks a person (its approval handler) before code runs.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterable
from typing import Any

from ..models import CodeExecutionPolicy
from ..request import PRE_EXECUTION, PolicyRequest
from .base import ALLOW, EvalContext, Outcome, format_number
from .gate import GateEvaluator, Names, norm, number, signal_name

__all__ = ["CodeExecutionEvaluator"]


def _path(value: str) -> str:
    text = value.strip().replace("\\", "/").lower()
    if not text:
        return ""
    normal = posixpath.normpath(text)
    return "/" if normal == "//" else normal


class _PathList:
    __slots__ = ("entries", "_prefixes", "_globs")

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = tuple(e for e in (_path(x) for x in entries) if e)
        self._prefixes = tuple(e for e in self.entries if not set(e) & set("*?["))
        self._globs = tuple(
            (e, re.compile(fnmatch.translate(e), re.DOTALL)) for e in self.entries if set(e) & set("*?[")
        )

    def __bool__(self) -> bool:
        return bool(self.entries)

    def covering(self, path: str) -> str | None:
        for prefix in self._prefixes:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return prefix
        for entry, regex in self._globs:
            if regex.match(path):
                return entry
        return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, (list, tuple, set, frozenset)):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []


def _package_name(spec: str) -> str:
    """``requests>=2.0`` / ``numpy==1.26`` / ``left-pad@1.3`` -> the bare, lowercased name."""
    return re.split(r"[<>=!~@\[;\s]", spec.strip(), maxsplit=1)[0].lower()


class CodeExecutionEvaluator(GateEvaluator):
    category = "code-execution"

    def __init__(self, policy: CodeExecutionPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.blocked_languages = Names(r.blocked_languages)
        self.allowed_languages = Names(r.allowed_languages)
        commands = [c for c in r.blocked_commands if c.strip()]
        self.commands: list[tuple[str, str, re.Pattern[str] | None]] = []
        for command in commands:
            try:
                regex: re.Pattern[str] | None = re.compile(command, re.IGNORECASE)
            except re.error:
                regex = None
            self.commands.append((command, command.lower(), regex))
        self.blocked_paths = _PathList(r.blocked_paths)
        self.allowed_paths = _PathList(r.allowed_paths)
        self.allow_install = r.allow_package_install
        self.allowed_packages = Names(r.allowed_packages)
        self.max_seconds = r.max_execution_time_seconds
        self.max_output_kb = r.max_output_size_kb
        self.require_review = r.require_review

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        if phase == PRE_EXECUTION:
            return Outcome("allow", "", {"require_review": True}) if self.require_review else ALLOW
        signal = request.signal
        if not signal:
            return ALLOW
        found = self._language(signal_name(signal, "language"))
        if found is None and self.commands:
            code = signal.get("code") or signal.get("text")
            found = self._code(code) if isinstance(code, str) else None
        if found is None and (self.blocked_paths or self.allowed_paths):
            found = self._paths(_strings(signal.get("paths")))
        if found is None:
            found = self._packages(_strings(signal.get("packages")))
        return found if found is not None else self._limits(signal)

    def _language(self, language: str) -> Outcome | None:
        if not language:
            return None
        if self.blocked_languages and self.blocked_languages.match(language) is not None:
            return self.violation(f"Language {language!r} is blocked", "blocked_languages", language=language)
        if self.allowed_languages and self.allowed_languages.match(language) is None:
            return self.violation(
                f"Language {language!r} is not allowed (allowed: {self.allowed_languages.shown()})",
                "allowed_languages",
                language=language,
            )
        return None

    def _code(self, code: str) -> Outcome | None:
        lower = code.lower()
        for command, folded, regex in self.commands:
            if folded in lower or (regex is not None and regex.search(code)):
                return self.violation(
                    f"Code uses a blocked command: {command!r}", "blocked_commands", command=command
                )
        return None

    def _paths(self, paths: list[str]) -> Outcome | None:
        for raw in paths:
            path = _path(raw)
            entry = self.blocked_paths.covering(path) if self.blocked_paths else None
            if entry is not None:
                return self.violation(f"Path {raw!r} is blocked (under {entry!r})", "blocked_paths", path=raw)
            if self.allowed_paths and self.allowed_paths.covering(path) is None:
                return self.violation(
                    f"Path {raw!r} is outside the allowed paths ({', '.join(self.allowed_paths.entries)})",
                    "allowed_paths",
                    path=raw,
                )
        return None

    def _packages(self, packages: list[str]) -> Outcome | None:
        if not packages:
            return None
        names = [_package_name(p) for p in packages]
        if not self.allow_install:
            return self.violation(
                f"Package installation is not allowed: {', '.join(names)}",
                "allow_package_install",
                packages=names,
            )
        if self.allowed_packages:
            outside = [n for n in names if self.allowed_packages.match(norm(n)) is None]
            if outside:
                return self.violation(
                    f"Package(s) not allowed: {', '.join(outside)} "
                    f"(allowed: {self.allowed_packages.shown()})",
                    "allowed_packages",
                    packages=outside,
                )
        return None

    def _limits(self, signal: Any) -> Outcome:
        seconds = number(signal.get("execution_time"))
        if self.max_seconds is not None and seconds is not None and seconds > self.max_seconds:
            return self.violation(
                f"Execution took {format_number(seconds)} s (max_execution_time_seconds "
                f"{format_number(self.max_seconds)})",
                "max_execution_time_seconds",
                "warn",
                value=seconds,
            )
        size = number(signal.get("output_size_kb"))
        if self.max_output_kb is not None and size is not None and size > self.max_output_kb:
            return self.violation(
                f"Output of {format_number(size)} KB "
                f"(max_output_size_kb {format_number(self.max_output_kb)})",
                "max_output_size_kb",
                "warn",
                value=size,
            )
        return ALLOW

"""``redact(value)``: scrub PII and secrets out of any text, dict, list or tuple before it goes anywhere.

A pure function (no run needed): every string inside ``value`` (recursively through dicts, lists
and tuples; tuples stay tuples, dict keys are kept) has each match replaced by a placeholder. The
patterns are tried in this order, each on the text the previous ones left:

``##EMAIL##``, ``##AWS_KEY##`` (``AKIA…``), ``##API_KEY##`` (``sk-…``, ``sk-ant-…``), ``##TOKEN##``
(prefixed vendor tokens: ``hf_…``, ``glpat-…``, ``npm_…``, ``pypi-…``), ``##JWT##``, ``##IBAN##``,
``##CREDIT_CARD##`` (Luhn-checked), ``##SSN##``, ``##PHONE##``, ``##IP##`` (IPv4), ``##NATIONAL_ID##``
(UK National Insurance numbers), ``##GITHUB_TOKEN##``, ``##SLACK_TOKEN##``, ``##GOOGLE_API_KEY##``,
``##STRIPE_KEY##``, ``##PRIVATE_KEY##`` (PEM blocks), ``##CONNECTION_STRING##`` (``scheme://user:pass@…``),
``##BEARER##`` (``Bearer <token>``), ``##WAXELL_KEY##`` (``wax_sk_…``), ``##LABELLED_SECRET##`` (the value
of ``password=…``, ``secret: …``, ``token=…``, ``api_key=…``; the label is kept).

On any internal error the input is returned unchanged (redaction never breaks the caller).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from waxell_observe.governance.content_scan import luhn_valid

__all__ = ["PLACEHOLDERS", "redact", "redact_text"]

logger = logging.getLogger("waxell_observe")

T = TypeVar("T")

_MAX_DEPTH = 64


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "##CREDIT_CARD##" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def _ipv4(match: re.Match[str]) -> str:
    parts = match.group(0).split(".")
    return "##IP##" if all(int(part) <= 255 for part in parts) else match.group(0)


def _labelled(match: re.Match[str]) -> str:
    return match.group(1) + "##LABELLED_SECRET##"


_Replacement = str | Callable[[re.Match[str]], str]

_PATTERNS: tuple[tuple[str, re.Pattern[str], _Replacement], ...] = (
    ("EMAIL", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), "##EMAIL##"),
    ("AWS_KEY", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "##AWS_KEY##"),
    ("API_KEY", re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}"), "##API_KEY##"),
    (
        "TOKEN",
        re.compile(
            r"\b(?:hf_[A-Za-z0-9]{30,}|glpat-[A-Za-z0-9_-]{20,}|npm_[A-Za-z0-9]{36}|pypi-[A-Za-z0-9_-]{50,})"
        ),
        "##TOKEN##",
    ),
    ("JWT", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), "##JWT##"),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b"), "##IBAN##"),
    ("CREDIT_CARD", re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])"), _card),
    ("SSN", re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])"), "##SSN##"),
    (
        "PHONE",
        re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\w)"),
        "##PHONE##",
    ),
    ("IP", re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])"), _ipv4),
    (
        "NATIONAL_ID",
        re.compile(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"),
        "##NATIONAL_ID##",
    ),
    (
        "GITHUB_TOKEN",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
        "##GITHUB_TOKEN##",
    ),
    ("SLACK_TOKEN", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), "##SLACK_TOKEN##"),
    ("GOOGLE_API_KEY", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), "##GOOGLE_API_KEY##"),
    ("STRIPE_KEY", re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"), "##STRIPE_KEY##"),
    (
        "PRIVATE_KEY",
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL),
        "##PRIVATE_KEY##",
    ),
    (
        "CONNECTION_STRING",
        re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:[^\s/@]+@[^\s]+"),
        "##CONNECTION_STRING##",
    ),
    ("BEARER", re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{8,}"), "##BEARER##"),
    ("WAXELL_KEY", re.compile(r"\bwax_(?:sk|pk)_[A-Za-z0-9_-]{8,}"), "##WAXELL_KEY##"),
    (
        "LABELLED_SECRET",
        re.compile(
            r"(?i)(\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret)"
            r"\s*[:=]\s*[\"']?)(?!##)[^\s\"',;]+"
        ),
        _labelled,
    ),
)

PLACEHOLDERS: tuple[str, ...] = tuple(f"##{name}##" for name, _, _ in _PATTERNS)
"""Every placeholder, in the order the patterns are tried."""


def redact_text(text: str) -> str:
    """``text`` with every PII and secret match replaced by its placeholder."""
    for _, pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _walk(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {key: _walk(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, depth + 1) for item in value]
    if isinstance(value, tuple):
        items = [_walk(item, depth + 1) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    return value


def redact(value: T) -> T:
    """A copy of ``value`` with PII and secrets replaced by ``##TYPE##`` placeholders (strings inside
    dicts, lists and tuples too; other values as they are). Needs no run; never raises."""
    try:
        result: T = _walk(value, 0)
        return result
    except Exception:  # noqa: BLE001 - redaction never breaks the caller
        logger.debug("waxell-observe: redact() failed; the value is returned unchanged", exc_info=True)
        return value

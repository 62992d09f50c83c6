"""Content detectors shared by the ``content`` policy and the SDK's prompt guard.

Three families of detectors, compiled once at import:

* **PII** — ``ssn``, ``email``, ``phone``, ``credit_card`` (Luhn-checked);
* **credentials** — ``api_key`` (``sk-...``, OpenAI and Anthropic style), ``aws_access_key``
  (``AKIA...``), ``github_token`` (``ghp_...``), ``private_key`` (PEM blocks) and ``password``
  (``password=...`` / ``password: ...`` assignments — only the value is reported and masked);
* **prompt injection** — well-known phrasings ("ignore previous instructions", "you are now DAN", ...).

:func:`scan_text` returns :class:`Finding` objects (no matched text is kept, so findings are safe to
log); :func:`redact_text` and :func:`redact_value` replace matches with ``##SSN##``, ``##EMAIL##``,
``##PHONE##``, ``##CREDIT_CARD##``, ``##CREDENTIAL##``, ``##INJECTION##`` or ``##<CUSTOM NAME>##``.
:class:`Scanner` bundles one configuration for repeated use.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Union

from .strings import iter_strings

__all__ = [
    "ALL_PII_TYPES",
    "CREDENTIAL_TYPES",
    "EXTRA_PII_TYPES",
    "INJECTION_TYPES",
    "PII_TYPES",
    "CustomPattern",
    "Finding",
    "Scanner",
    "iter_strings",
    "fold_confusables",
    "luhn_valid",
    "redact_text",
    "redact_value",
    "replace_findings",
    "scan_text",
]

PII_TYPES: tuple[str, ...] = ("ssn", "email", "phone", "credit_card")
"""The PII types detected by default."""
EXTRA_PII_TYPES: tuple[str, ...] = ("iban", "ip", "national_id")
"""PII types detected only when asked for (a content policy's ``pii_detection.types``): IBANs (mod-97
checked), IPv4 addresses and UK National Insurance numbers."""
ALL_PII_TYPES: tuple[str, ...] = PII_TYPES + EXTRA_PII_TYPES
CREDENTIAL_TYPES: tuple[str, ...] = ("api_key", "aws_access_key", "github_token", "private_key", "password")
INJECTION_TYPES: tuple[str, ...] = (
    "ignore_instructions",
    "disregard_instructions",
    "override_safety",
    "jailbreak",
    "system_prompt_extraction",
)

_KIND_LABEL = {
    "pii": "PII detected",
    "credential": "Credential detected",
    "injection": "Prompt injection detected",
    "custom": "Custom pattern matched",
}
# Lower rank wins when two findings overlap.
_RANK = {
    "credential": 0,
    "custom": 1,
    "credit_card": 2,
    "iban": 2,
    "ssn": 3,
    "national_id": 3,
    "email": 4,
    "phone": 5,
    "ip": 5,
    "injection": 6,
}


class Finding:
    """One detection: ``kind`` (pii|credential|injection|custom), ``type`` (e.g. ``ssn``), ``span``."""

    __slots__ = ("kind", "message", "span", "type")

    def __init__(self, kind: str, type: str, span: tuple[int, int], message: str = "") -> None:
        self.kind = kind
        self.type = type
        self.span = span
        self.message = message or f"{_KIND_LABEL.get(kind, 'Detected')}: {type}"

    @property
    def placeholder(self) -> str:
        """The mask written in place of the match."""
        return _placeholder(self.kind, self.type)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Finding):
            return NotImplemented
        return (self.kind, self.type, self.span, self.message) == (
            other.kind,
            other.type,
            other.span,
            other.message,
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.type, self.span))

    def __repr__(self) -> str:
        return f"Finding(kind={self.kind!r}, type={self.type!r}, span={self.span!r})"


def _placeholder(kind: str, type_: str) -> str:
    if kind == "credential":
        return "##CREDENTIAL##"
    if kind == "injection":
        return "##INJECTION##"
    return "##" + re.sub(r"[^A-Z0-9]+", "_", type_.upper()).strip("_") + "##"


class CustomPattern:
    """A user-defined detector (``custom_patterns`` of a content policy)."""

    __slots__ = ("action", "name", "regex")

    def __init__(self, name: str, regex: str | re.Pattern[str], action: str = "warn") -> None:
        self.name = name
        self.regex = regex if isinstance(regex, re.Pattern) else re.compile(regex)
        self.action = action


#: A custom pattern: a CustomPattern, a ``(name, regex)`` tuple, or any object with ``name``/``regex``.
CustomPatternLike = Union[CustomPattern, "tuple[str, str | re.Pattern[str]]", Any]


def luhn_valid(digits: str) -> bool:
    """Luhn checksum of a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# --------------------------------------------------------------------------- folding

_CONFUSABLES = str.maketrans(
    {
        # Cyrillic look-alikes
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w",
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
        "Т": "T", "У": "Y", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S",
        # Greek look-alikes
        "α": "a", "ο": "o", "ρ": "p", "ν": "v", "ι": "i", "κ": "k", "τ": "t", "υ": "u", "χ": "x",
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
        "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
        # zero-width characters vanish
        "\u200b": None, "\u200c": None, "\u200d": None, "\u2060": None, "\ufeff": None,
    }
)  # fmt: skip


def fold_confusables(text: str) -> str:
    """``text`` NFKC-normalised with Cyrillic/Greek look-alikes folded to Latin and zero-width
    characters removed (for matching only: never sent)."""
    return unicodedata.normalize("NFKC", text).translate(_CONFUSABLES)


# --------------------------------------------------------------------------- detectors

# ASCII digits are what the number detectors look for; counting them first is a cheap gate.
_DROP_DIGITS = str.maketrans("", "", "0123456789")

_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])", re.ASCII)
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"
)
_PHONE = re.compile(
    r"(?<![\w+-])(?:"
    r"(?:\+?1[ .-]?)?(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}"  # North American: 555-123-4567
    r"|\+\d{1,3}(?:[ .-]?\d{1,4}){2,5}"  # international, E.164-like: +44 20 7946 0958
    r")(?![\w-])",
    re.ASCII,
)
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])", re.ASCII)


_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")
_IPV4 = re.compile(
    r"(?<![\w.])(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(?![\w.])",
    re.ASCII,
)
_NATIONAL_ID = re.compile(  # UK National Insurance number: AB 12 34 56 C
    r"(?<![A-Za-z0-9])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"
)


def _iban_ok(match: re.Match[str]) -> bool:
    code = match.group().replace(" ", "")
    if not 15 <= len(code) <= 34:
        return False
    moved = code[4:] + code[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _phone_ok(match: re.Match[str]) -> bool:
    digits = sum(ch.isdigit() for ch in match.group())
    return 10 <= digits <= 15


def _card_ok(match: re.Match[str]) -> bool:
    digits = re.sub(r"\D", "", match.group())
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


# PII: (type, regex, validator, minimum count of ASCII digits in the text; 0 = needs "@")
_PIIDetector = tuple[str, "re.Pattern[str]", "Callable[[re.Match[str]], bool] | None", int]

_PII_DETECTORS: dict[str, _PIIDetector] = {
    "ssn": ("ssn", _SSN, None, 9),
    "email": ("email", _EMAIL, None, 0),
    "phone": ("phone", _PHONE, _phone_ok, 10),
    "credit_card": ("credit_card", _CARD, _card_ok, 13),
    "iban": ("iban", _IBAN, _iban_ok, 8),
    "ip": ("ip", _IPV4, None, 4),
    "national_id": ("national_id", _NATIONAL_ID, None, 6),
}

# Credentials: (type, regex, literal that must occur in the text — lowercased text for
# case-insensitive detectors —, case-insensitive?, group whose span is reported)
_CredDetector = tuple[str, "re.Pattern[str]", str, bool, int]

_CREDENTIAL_DETECTORS: tuple[_CredDetector, ...] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----)?"
        ),
        "PRIVATE KEY-----",
        False,
        0,
    ),
    ("api_key", re.compile(r"(?<![\w-])sk-[A-Za-z0-9_-]{16,}"), "sk-", False, 0),
    ("aws_access_key", re.compile(r"(?<![A-Za-z0-9])AKIA[0-9A-Z]{16}(?![A-Za-z0-9])"), "AKIA", False, 0),
    (
        "github_token",
        re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{20,}(?![A-Za-z0-9_])"),
        "gh",
        False,
        0,
    ),
    (
        "password",
        re.compile(r"(?i)\b(?:password|passwd|passphrase)\s*[:=]\s*(\"[^\"\n]+\"|'[^'\n]+'|[^\s,;'\"]+)"),
        "pass",
        True,
        1,
    ),
)

_INJECTION_PATTERNS: dict[str, tuple[str, ...]] = {
    "ignore_instructions": (
        (
            r"\b(?:ignore|forget|skip)\s+(?:all\s+|any\s+|every\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+|these\s+)?"
            r"(?:previous|prior|above|earlier|preceding|original)\s+"
            r"(?:instructions?|prompts?|rules|directions|directives|guidelines|messages?|context)"
        ),
    ),
    "disregard_instructions": (
        (
            r"\bdisregard\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?(?:previous\s+|prior\s+|above\s+|earlier\s+)?"
            r"(?:system\s+prompt|system\s+message|instructions?|rules|guidelines|directives)"
        ),
    ),
    "override_safety": (
        (
            r"\b(?:override|bypass|circumvent|disable)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+)?"
            r"(?:system\s+prompt|safety\s+(?:filters?|guidelines|rules|measures|settings)|"
            r"content\s+(?:filters?|polic(?:y|ies))|restrictions|guardrails)"
        ),
    ),
    "jailbreak": (
        (
            r"\byou\s+are\s+now\s+(?:DAN\b|an?\s+(?:unrestricted|unfiltered|uncensored|jailbroken)\b|"
            r"in\s+(?:developer|god|jailbreak)\s+mode\b|free\s+(?:from|of)\s+(?:all\s+)?(?:rules|restrictions))"
        ),
        r"\bdo\s+anything\s+now\b",
        r"\b(?:enable|enter|activate|switch\s+to)\s+(?:developer|god|jailbreak|DAN)\s+mode\b",
        (
            r"\bpretend\s+(?:that\s+)?you\s+(?:have\s+no|are\s+not\s+bound\s+by|don'?t\s+have)\s+(?:any\s+)?"
            r"(?:rules|restrictions|guidelines|limits|filters)"
        ),
        r"\bact\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|jailbroken)\b",
    ),
    "system_prompt_extraction": (
        (
            r"\b(?:reveal|show|print|repeat|output|display|leak|dump|tell\s+me)\s+(?:me\s+)?(?:your\s+|the\s+)?"
            r"(?:full\s+|entire\s+|original\s+|hidden\s+|initial\s+|secret\s+|exact\s+)?"
            r"(?:system\s+prompt|system\s+message|hidden\s+instructions|initial\s+instructions|"
            r"instructions\s+you\s+were\s+given)"
        ),
        r"\bwhat\s+(?:is|are|was|were)\s+your\s+(?:system\s+prompt|initial\s+instructions|original\s+instructions)",
    ),
}
_INJECTION = re.compile(
    "|".join(
        f"(?P<{name}>{'|'.join(f'(?:{p})' for p in patterns)})"
        for name, patterns in _INJECTION_PATTERNS.items()
    ),
    re.IGNORECASE,
)
# Every injection pattern needs one of these words (lowercase); most texts contain none, and checking
# them with ``in`` is far cheaper than running the alternation at every position.
_INJECTION_KEYWORDS: tuple[str, ...] = (
    "previous",
    "prior",
    "above",
    "earlier",
    "preceding",
    "original",  # ignore_instructions
    "disregard",
    "override",
    "bypass",
    "circumvent",
    "disable",  # override_safety
    "dan",
    "unrestricted",
    "unfiltered",
    "uncensored",
    "jailbr",
    "mode",
    "anything",
    "pretend",
    "restriction",
    "rules",  # jailbreak
    "system",
    "instructions",  # system_prompt_extraction
)


# --------------------------------------------------------------------------- scanner


class Scanner:
    """A compiled scanning configuration; reuse one instance for repeated scans."""

    __slots__ = ("_pii_digit", "_pii_email", "credentials", "custom_patterns", "injection", "pii_types")

    def __init__(
        self,
        *,
        pii_types: Iterable[str] = PII_TYPES,
        credentials: bool = True,
        injection: bool = True,
        custom_patterns: Iterable[CustomPatternLike] = (),
    ) -> None:
        pii = tuple(pii_types)
        unknown = [t for t in pii if t not in _PII_DETECTORS]
        if unknown:
            raise ValueError(f"unknown PII type(s): {', '.join(unknown)} (known: {', '.join(PII_TYPES)})")
        self.pii_types = pii
        self.credentials = credentials
        self.injection = injection
        self.custom_patterns: tuple[CustomPattern, ...] = tuple(_as_custom(p) for p in custom_patterns)
        self._pii_digit = tuple(_PII_DETECTORS[t] for t in pii if _PII_DETECTORS[t][3])
        self._pii_email = "email" in pii

    @property
    def empty(self) -> bool:
        """True when this scanner detects nothing."""
        return not (self.pii_types or self.credentials or self.injection or self.custom_patterns)

    def scan(self, text: str) -> list[Finding]:
        """Findings in ``text``, non-overlapping, in text order."""
        if not text:
            return []
        found: list[tuple[int, int, int, str, str]] = []  # (rank, start, end, kind, type)
        lower = text.lower() if (self.credentials or self.injection) else text
        if self.credentials:
            _find_credentials(text, lower, found)
        for cp in self.custom_patterns:
            for m in cp.regex.finditer(text):
                if m.end() > m.start():
                    found.append((_RANK["custom"], m.start(), m.end(), "custom", cp.name))
        if self._pii_digit:
            self._find_digit_pii(text, found)
        if self._pii_email and "@" in text:
            for m in _EMAIL.finditer(text):
                found.append((_RANK["email"], m.start(), m.end(), "pii", "email"))
        if self.injection and any(k in lower for k in _INJECTION_KEYWORDS):
            for m in _INJECTION.finditer(text):
                found.append(
                    (_RANK["injection"], m.start(), m.end(), "injection", m.lastgroup or "injection")
                )
        if not found:
            return []
        return [Finding(kind, type_, (start, end)) for start, end, kind, type_ in _resolve_overlaps(found)]

    def _find_digit_pii(self, text: str, found: list[tuple[int, int, int, str, str]]) -> None:
        """Add the PII made of digits (phone, SSN, card numbers...) in ``text`` to ``found``."""
        digits = len(text) - len(text.translate(_DROP_DIGITS))
        for type_, rx, ok, min_digits in self._pii_digit:
            if digits < min_digits:
                continue
            for m in rx.finditer(text):
                if ok is None or ok(m):
                    found.append((_RANK[type_], m.start(), m.end(), "pii", type_))

    def redact(self, text: str) -> str:
        """``text`` with every finding replaced by its placeholder."""
        return replace_findings(text, self.scan(text))

    def redact_value(self, obj: Any) -> Any:
        """A copy of ``obj`` (dicts, lists, tuples, strings) with every string redacted; keys are kept."""
        return _walk(obj, self.redact)


def _find_credentials(text: str, lower: str, found: list[tuple[int, int, int, str, str]]) -> None:
    """Add the credentials in ``text`` to ``found`` (``lower``: ``text`` lowercased)."""
    for type_, rx, literal, folded, group in _CREDENTIAL_DETECTORS:
        if literal not in (lower if folded else text):
            continue
        for m in rx.finditer(text):
            found.append((_RANK["credential"], m.start(group), m.end(group), "credential", type_))


def _as_custom(p: CustomPatternLike) -> CustomPattern:
    if isinstance(p, CustomPattern):
        return p
    if isinstance(p, tuple):
        name, regex = p
        return CustomPattern(name, regex)
    # anything with .name / .regex, e.g. a CustomPatternRule model
    return CustomPattern(p.name, p.regex, getattr(p, "action", "warn"))


def _resolve_overlaps(found: list[tuple[int, int, int, str, str]]) -> list[tuple[int, int, str, str]]:
    """Keep the best finding where several overlap: by rank, then earliest, then longest."""
    found.sort(key=lambda f: (f[0], f[1], f[1] - f[2]))
    kept: list[tuple[int, int, str, str]] = []
    for _, start, end, kind, type_ in found:
        if all(end <= s or start >= e for s, e, _, _ in kept):
            kept.append((start, end, kind, type_))
    kept.sort()
    return kept


def replace_findings(text: str, findings: Sequence[Finding]) -> str:
    """Replace the spans of ``findings`` (from a scan of ``text``) with their placeholders."""
    if not findings:
        return text
    parts: list[str] = []
    pos = 0
    for f in sorted(findings, key=lambda f: f.span):
        start, end = f.span
        if start < pos:  # overlapping findings from different scans: keep the first
            continue
        parts.append(text[pos:start])
        parts.append(f.placeholder)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _walk(obj: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, Mapping):
        return {k: _walk(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk(v, fn) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_walk(v, fn) for v in obj)
    return obj


# --------------------------------------------------------------------------- module-level helpers

_DEFAULT = Scanner()


@lru_cache(maxsize=64)
def _scanner_for(pii: tuple[str, ...], credentials: bool, injection: bool) -> Scanner:
    return Scanner(pii_types=pii, credentials=credentials, injection=injection)


def scan_text(
    text: str,
    *,
    pii_types: Iterable[str] = PII_TYPES,
    credentials: bool = True,
    injection: bool = True,
    custom_patterns: Iterable[CustomPatternLike] = (),
) -> list[Finding]:
    """Scan ``text`` for PII of ``pii_types``, credentials, injection phrases and custom patterns."""
    custom = tuple(custom_patterns)
    if custom:
        scanner = Scanner(
            pii_types=pii_types, credentials=credentials, injection=injection, custom_patterns=custom
        )
    else:
        scanner = _scanner_for(tuple(pii_types), credentials, injection)
    return scanner.scan(text)


def _scanner_for_types(types: Iterable[str]) -> Scanner:
    """A scanner for a list of type names: PII types, ``pii``, ``credential`` (or a credential type),
    ``injection`` (or an injection type)."""
    pii: list[str] = []
    credentials = injection = False
    for t in types:
        if t == "pii":
            pii.extend(PII_TYPES)
        elif t in PII_TYPES:
            pii.append(t)
        elif t in ("credential", "credentials") or t in CREDENTIAL_TYPES:
            credentials = True
        elif t == "injection" or t in INJECTION_TYPES:
            injection = True
        else:
            raise ValueError(f"unknown content type {t!r}")
    return _scanner_for(tuple(dict.fromkeys(pii)), credentials, injection)


def redact_text(text: str, findings_or_types: Iterable[Finding] | Iterable[str] | str | None = None) -> str:
    """Mask ``text``.

    ``findings_or_types`` is either findings from :func:`scan_text` on this same text, or type names
    to detect and mask (``"ssn"``, ``"email"``, ``"pii"``, ``"credential"``, ``"injection"``, ...).
    ``None`` masks all PII and credentials.
    """
    if findings_or_types is None:
        return _scanner_for(PII_TYPES, True, False).redact(text)
    if isinstance(findings_or_types, str):
        findings_or_types = [findings_or_types]
    items = list(findings_or_types)
    if not items:
        return text
    if all(isinstance(i, Finding) for i in items):
        return replace_findings(text, items)  # type: ignore[arg-type]
    return _scanner_for_types(str(i) for i in items).redact(text)


def redact_value(
    obj: Any,
    types: Iterable[str] | None = None,
    *,
    scanner: Scanner | None = None,
) -> Any:
    """A copy of ``obj`` with every string masked (by default all PII and credentials)."""
    if scanner is None:
        scanner = _scanner_for(PII_TYPES, True, False) if types is None else _scanner_for_types(types)
    return scanner.redact_value(obj)

"""``output-egress-format`` and ``input-validation``: the shape of what leaves and what enters.

* output-egress-format: the signal's ``text`` / ``output`` / ``content`` / ``response`` (``llm.after``,
  ``tool.after``, ``run.error``: the failed run's error text), the run's recorded outputs (mid-execution)
  and its result (post-execution) must not hold a data URI (``block_data_uri``, default:
  ``block_base64``), a base64 run of ``min_base64_length`` (40) characters or more with upper case, lower
  case and digits in it (``block_base64``, default true), or — with ``block_external_urls`` (also named
  ``block_urls``) — a link to a host outside ``allowed_url_domains`` (sub-domains included; loopback hosts
  are not external).
* input-validation: the UTF-8 size of the signal's ``text`` / ``input`` (``llm.before``,
  ``tool.before``) or of the run's inputs (pre-execution) over ``max_input_size_kb``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..content_scan import iter_strings
from ..models import InputValidationPolicy, OutputEgressFormatPolicy
from ..request import MID_EXECUTION, POST_EXECUTION, PRE_EXECUTION, PolicyRequest
from .base import ALLOW, EvalContext, Outcome
from .gate import GateEvaluator
from .network import HostList, is_loopback

__all__ = ["InputValidationEvaluator", "OutputEgressFormatEvaluator"]

_OUTPUT_KEYS = ("text", "output", "content", "response")
_DATA_URI = re.compile(r"\bdata:[a-z0-9.+-]+/[a-z0-9.+-]+(?:;[a-z0-9=.+-]+)*;base64,", re.IGNORECASE)
_URL = re.compile(r"\b(?:https?|ftp|wss?)://([^\s/?#<>\"'`)\]]+)", re.IGNORECASE)


def _output_texts(request: PolicyRequest, phase: str) -> Iterator[str]:
    signal = request.signal
    if signal:
        for key in _OUTPUT_KEYS:
            value = signal.get(key)
            if value is not None:
                yield from iter_strings(value)
    if phase == MID_EXECUTION:
        yield from request.output_texts
    elif phase == POST_EXECUTION and request.result is not None:
        yield from iter_strings(request.result)


class OutputEgressFormatEvaluator(GateEvaluator):
    category = "output-egress-format"

    def __init__(self, policy: OutputEgressFormatPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.block_base64 = r.block_base64
        self.block_data_uri = r.block_base64 if r.block_data_uri is None else r.block_data_uri
        self.min_length = r.min_base64_length
        self.base64 = re.compile(rf"[A-Za-z0-9+/]{{{r.min_base64_length},}}={{0,2}}")
        self.block_urls = r.block_external_urls or bool(r.block_urls)
        self.url_rule = "block_urls" if r.block_urls and not r.block_external_urls else "block_external_urls"
        self.allowed_hosts = HostList(r.allowed_url_domains)

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        for text in _output_texts(request, phase):
            if text:
                found = self._check(text)
                if found is not None:
                    return found
        return ALLOW

    def _check(self, text: str) -> Outcome | None:
        if self.block_data_uri and "data:" in text.lower() and _DATA_URI.search(text):
            return self.violation("Output contains a data URI", "block_data_uri")
        if self.block_base64 and len(text) >= self.min_length:
            for m in self.base64.finditer(text):
                run = m.group()
                if (
                    any(c.isupper() for c in run)
                    and any(c.islower() for c in run)
                    and any(c.isdigit() for c in run)
                ):
                    return self.violation(
                        f"Output contains a base64 run of {len(run)} characters "
                        f"(min_base64_length {self.min_length})",
                        "block_base64",
                        length=len(run),
                    )
        if self.block_urls and "://" in text:
            for m in _URL.finditer(text):
                host = m.group(1).rsplit("@", 1)[-1].split(":", 1)[0].lower().rstrip(".")
                if host.startswith("["):
                    host = m.group(1).split("]", 1)[0] + "]"
                if not host or is_loopback(host):
                    continue
                if not self.allowed_hosts or self.allowed_hosts.match(host) is None:
                    allowed = f" (allowed: {self.allowed_hosts.shown()})" if self.allowed_hosts else ""
                    return self.violation(
                        f"Output links to external host {host!r}{allowed}", self.url_rule, host=host
                    )
        return None


class InputValidationEvaluator(GateEvaluator):
    category = "input-validation"

    def __init__(self, policy: InputValidationPolicy) -> None:
        super().__init__(policy)
        self.max_kb = policy.rules.max_input_size_kb
        self.max_bytes = None if self.max_kb is None else self.max_kb * 1024

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        if self.max_bytes is None:
            return ALLOW
        texts: list[str] = []
        signal = request.signal
        if signal:
            for key in ("text", "input"):
                value = signal.get(key)
                if value is not None:
                    texts.extend(iter_strings(value))
        if phase == PRE_EXECUTION and request.inputs is not None:
            texts.extend(iter_strings(request.inputs))
        # a character is at most 4 bytes: short inputs need no encoding
        if sum(len(t) for t in texts) * 4 <= self.max_bytes:
            return ALLOW
        size = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
        if size <= self.max_bytes:
            return ALLOW
        return self.violation(
            f"Input too large: {size / 1024:,.1f} KB (max_input_size_kb {self.max_kb:g})",
            "max_input_size_kb",
            size_bytes=size,
            limit_kb=self.max_kb,
        )

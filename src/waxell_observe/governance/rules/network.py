"""``network`` and ``domain-governance``: which hosts an agent may reach.

* network (``network.before``): the host — the signal's ``domain``, else the host of its ``url`` — against
  ``blocked_domains`` (checked first) and ``allowed_domains``: an entry matches its host and every
  sub-domain of it (``example.com`` covers ``api.example.com``), ``*`` matches any host, and other globs
  (``api-*.example.com``) match as globs. Then the URL's scheme against ``allowed_protocols``; loopback
  hosts (``localhost``, ``127.0.0.0/8``, ``::1``) are exempt from the protocol rule.
* domain-governance: only host-shaped entries (holding ``.`` or ``*``; a leading ``*.`` or ``.`` is
  ignored) govern hosts, the same way, at ``network.before`` and ``tool.before``. The other entries are
  business domains, checked with ``allowed_actions`` / ``blocked_actions`` and ``max_calls_per_run``
  against the signal's ``domain_name`` / ``action_name`` and, mid-execution, against the domain
  intents the run recorded (``record_domain_intent``).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ..models import DomainGovernancePolicy, NetworkPolicy
from ..request import MID_EXECUTION, PolicyRequest
from .base import ALLOW, EvalContext, Outcome
from .gate import GateEvaluator, Names, norm, signal_name

__all__ = ["DomainGovernanceEvaluator", "HostList", "NetworkEvaluator", "host_of", "is_loopback"]


def host_of(signal: Mapping[str, Any]) -> tuple[str, str]:
    """``(host, scheme)`` of a signal: its ``domain`` (or ``host``), else the host of its ``url``."""
    url = signal.get("url")
    scheme = ""
    host = signal_name(signal, "domain", "host")
    if isinstance(url, str) and url.strip():
        text = url.strip()
        parts = urlsplit(text if "//" in text else f"//{text}")
        scheme = (parts.scheme or "").lower()
        if not host:
            try:
                host = (parts.hostname or "").lower()
            except ValueError:
                host = ""
    return host.rstrip("."), scheme


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class HostList:
    """Host entries: each matches its host and its sub-domains; ``*`` matches all; globs as globs."""

    __slots__ = ("_any", "_globs", "_hosts", "entries")

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries: tuple[str, ...] = tuple(dict.fromkeys(norm(e) for e in entries if norm(e)))
        self._any = False
        hosts: dict[str, str] = {}  # host -> the entry naming it
        globs: list[tuple[str, re.Pattern[str]]] = []
        for entry in self.entries:
            base = entry[2:] if entry.startswith("*.") else entry.lstrip(".")
            if base in ("*", ""):
                self._any = True
            elif set(base) & set("*?["):
                globs.append((entry, re.compile(fnmatch.translate(base), re.DOTALL)))
            else:
                hosts.setdefault(base.rstrip("."), entry)
        self._hosts = hosts
        self._globs = tuple(globs)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def match(self, host: str) -> str | None:
        """The entry covering ``host``, or None."""
        if self._any:
            return "*"
        if self._hosts:
            candidate = host
            while candidate:
                entry = self._hosts.get(candidate)
                if entry is not None:
                    return entry
                dot = candidate.find(".")
                candidate = candidate[dot + 1 :] if dot >= 0 else ""
        for entry, regex in self._globs:
            if regex.match(host):
                return entry
        return None

    def shown(self) -> str:
        return ", ".join(self.entries)


def _host_verdict(
    evaluator: GateEvaluator, host: str, blocked: HostList, allowed: HostList
) -> Outcome | None:
    if blocked:
        entry = blocked.match(host)
        if entry is not None:
            shown = "" if entry == host else f" (matches {entry!r})"
            return evaluator.violation(f"Host {host!r} is blocked{shown}", "blocked_domains", host=host)
    if allowed and allowed.match(host) is None:
        return evaluator.violation(
            f"Host {host!r} is not allowed (allowed: {allowed.shown()})", "allowed_domains", host=host
        )
    return None


class NetworkEvaluator(GateEvaluator):
    category = "network"

    def __init__(self, policy: NetworkPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.blocked = HostList(r.blocked_domains)
        self.allowed = HostList(r.allowed_domains)
        self.protocols = frozenset(p.split(":", 1)[0] for p in (norm(x) for x in r.allowed_protocols) if p)

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        host, scheme = host_of(request.signal)
        if host:
            found = _host_verdict(self, host, self.blocked, self.allowed)
            if found is not None:
                return found
        if self.protocols and scheme and scheme not in self.protocols and not is_loopback(host):
            return self.violation(
                f"Protocol {scheme!r} is not allowed (allowed: {', '.join(sorted(self.protocols))})",
                "allowed_protocols",
                protocol=scheme,
                host=host,
            )
        return ALLOW


def _host_shaped(entry: str) -> bool:
    return "." in entry or "*" in entry


class DomainGovernanceEvaluator(GateEvaluator):
    category = "domain-governance"

    def __init__(self, policy: DomainGovernancePolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.blocked_hosts = HostList(e for e in r.blocked_domains if _host_shaped(e))
        self.allowed_hosts = HostList(e for e in r.allowed_domains if _host_shaped(e))
        self.blocked_domains = Names(e for e in r.blocked_domains if not _host_shaped(e))
        self.allowed_domains = Names(e for e in r.allowed_domains if not _host_shaped(e))
        self.blocked_actions = Names(r.blocked_actions)
        self.allowed_actions = Names(r.allowed_actions)
        self.max_calls = r.max_calls_per_run
        self.business = bool(
            self.blocked_domains
            or self.allowed_domains
            or self.blocked_actions
            or self.allowed_actions
            or self.max_calls is not None
        )

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        signal = request.signal
        if signal and (self.blocked_hosts or self.allowed_hosts):
            host, _ = host_of(signal)
            if host and _host_shaped(host):
                found = _host_verdict(self, host, self.blocked_hosts, self.allowed_hosts)
                if found is not None:
                    return found
        if not self.business:
            return ALLOW
        domain = signal_name(signal, "domain_name", "business_domain") if signal else ""
        if not domain and signal:
            candidate = signal_name(signal, "domain")
            domain = candidate if candidate and not _host_shaped(candidate) else ""
        action = signal_name(signal, "action_name") if signal else ""
        if domain or action:
            found = self._intent(domain, action)
            if found is not None:
                return found
        if phase == MID_EXECUTION and request.conversation:
            return self._intents(request.conversation.get("domain_intents"))
        return ALLOW

    def _intent(self, domain: str, action: str) -> Outcome | None:
        if domain:
            if self.blocked_domains and self.blocked_domains.match(domain) is not None:
                return self.violation(f"Domain {domain!r} is blocked", "blocked_domains", domain=domain)
            if self.allowed_domains and self.allowed_domains.match(domain) is None:
                return self.violation(
                    f"Domain {domain!r} is not allowed (allowed: {self.allowed_domains.shown()})",
                    "allowed_domains",
                    domain=domain,
                )
        if action:
            where = f" in domain {domain!r}" if domain else ""
            if self.blocked_actions and self.blocked_actions.match(action) is not None:
                return self.violation(
                    f"Action {action!r}{where} is blocked", "blocked_actions", action_name=action
                )
            if self.allowed_actions and self.allowed_actions.match(action) is None:
                return self.violation(
                    f"Action {action!r}{where} is not allowed (allowed: {self.allowed_actions.shown()})",
                    "allowed_actions",
                    action_name=action,
                )
        return None

    def _intents(self, intents: Any) -> Outcome:
        if not isinstance(intents, list):
            return ALLOW
        counts: dict[str, int] = {}
        for intent in intents:
            if not isinstance(intent, Mapping):
                continue
            domain = norm(intent.get("domain_name"))
            found = self._intent(domain, norm(intent.get("action_name")))
            if found is not None:
                return found
            counts[domain] = counts.get(domain, 0) + 1
            if self.max_calls is not None and counts[domain] > self.max_calls:
                return self.violation(
                    f"Too many calls in domain {domain!r} in this run: {counts[domain]} "
                    f"(max_calls_per_run {self.max_calls})",
                    "max_calls_per_run",
                    domain=domain,
                    count=counts[domain],
                )
        return ALLOW

"""``retrieval``, ``memory`` and ``provenance-required``: what an agent reads, remembers and cites.

* retrieval (``retrieval.after``): the best score — the signal's ``scores``, else the documents'
  ``score`` / ``relevance_score`` / ``similarity`` — under ``min_relevance_score`` answers
  ``action_on_low_relevance`` (warn); more documents than ``max_chunks`` or fewer than ``min_chunks``
  warn (or answer ``action``).
* memory (``memory.write``, ``memory.read``): the signal's ``memory_type`` (or ``tier``) in
  ``forbidden_memory_types``; with ``block_pii_in_memory``, an e-mail address, card number or SSN in the
  ``content`` written. At ``memory.delete`` (``gate_memory_delete``: ``ids``, ``query``, ``store``):
  ``block_deletes`` refuses every delete, ``protected_stores`` the deletes in those stores, and
  ``max_deletes_per_call`` a delete of more ids than that.
* provenance-required (``llm.after``, ``retrieval.after``, post-execution): warns when no source field
  (``required_keys``: ``source``, ``source_uri``, ``provenance``, ``citations``) is in the run's metadata,
  the signal or its ``metadata``, and not every document carries one; warns too when fewer than
  ``min_citations`` citations are given. Off when ``require_citations_per_claim`` is false and
  ``min_citations`` is 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..content_scan import Scanner, iter_strings
from ..models import MemoryPolicy, ProvenanceRequiredPolicy, RetrievalPolicy
from ..request import PolicyRequest
from .base import ALLOW, EvalContext, Outcome
from .gate import GateEvaluator, Names, norm, number, signal_name

__all__ = ["MemoryEvaluator", "ProvenanceRequiredEvaluator", "RetrievalEvaluator"]

_SCORE_KEYS = ("score", "relevance_score", "similarity")
_MEMORY_DELETE = "memory.delete"


def _documents(signal: Mapping[str, Any]) -> Sequence[Any] | None:
    for key in ("documents", "results", "chunks"):
        docs = signal.get(key)
        if isinstance(docs, (list, tuple)):
            return docs
    return None


class RetrievalEvaluator(GateEvaluator):
    category = "retrieval"
    default_action = "warn"

    def __init__(self, policy: RetrievalPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.min_score = r.min_relevance_score
        explicit = "action_on_low_relevance" in r.model_fields_set
        self.low_action = r.action_on_low_relevance if explicit else self.action
        self.max_chunks = r.max_chunks
        self.min_chunks = r.min_chunks

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        signal = request.signal
        if not signal:
            return ALLOW
        docs = _documents(signal)
        if self.min_score is not None:
            best = _best_score(signal, docs)
            if best is not None and best < self.min_score:
                return self.violation(
                    f"Low retrieval relevance: best score {best:g} (min_relevance_score {self.min_score:g})",
                    "min_relevance_score",
                    self.low_action,
                    best_score=best,
                    limit=self.min_score,
                )
        if docs is not None:
            count = len(docs)
            if self.max_chunks is not None and count > self.max_chunks:
                return self.violation(
                    f"Too many chunks retrieved: {count} (max_chunks {self.max_chunks})",
                    "max_chunks",
                    count=count,
                    limit=self.max_chunks,
                )
            if self.min_chunks is not None and count < self.min_chunks:
                return self.violation(
                    f"Too few chunks retrieved: {count} (min_chunks {self.min_chunks})",
                    "min_chunks",
                    count=count,
                    limit=self.min_chunks,
                )
        return ALLOW


def _best_score(signal: Mapping[str, Any], docs: Sequence[Any] | None) -> float | None:
    scores = signal.get("scores")
    values: list[float] = []
    if isinstance(scores, (list, tuple)):
        values = [v for v in (number(s) for s in scores) if v is not None]
    if not values and docs:
        for doc in docs:
            if isinstance(doc, Mapping):
                found = next((number(doc[k]) for k in _SCORE_KEYS if k in doc), None)
                if found is not None:
                    values.append(found)
    if not values:
        top = number(signal.get("top_score"))
        return top
    return max(values)


_MEMORY_PII = Scanner(pii_types=("email", "credit_card", "ssn"), credentials=False, injection=False)


class MemoryEvaluator(GateEvaluator):
    category = "memory"

    def __init__(self, policy: MemoryPolicy) -> None:
        super().__init__(policy)
        self.forbidden = Names(policy.rules.forbidden_memory_types)
        self.block_pii = policy.rules.block_pii_in_memory
        self.block_deletes = policy.rules.block_deletes
        self.protected_stores = Names(policy.rules.protected_stores)
        self.max_deletes = policy.rules.max_deletes_per_call

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        signal = request.signal
        if not signal:
            return ALLOW
        if phase == _MEMORY_DELETE:
            return self._delete(signal)
        kind = signal_name(signal, "memory_type", "tier")
        if kind and self.forbidden and self.forbidden.match(kind) is not None:
            return self.violation(
                f"Memory type {kind!r} is forbidden", "forbidden_memory_types", memory_type=kind
            )
        if self.block_pii:
            for key in ("content", "data"):
                value = signal.get(key)
                for text in iter_strings(value) if value is not None else ():
                    findings = _MEMORY_PII.scan(text)
                    if findings:
                        types = sorted({f.type for f in findings})
                        return self.violation(
                            f"PII in memory: {', '.join(types)}", "block_pii_in_memory", pii_types=types
                        )
        return ALLOW

    def _delete(self, signal: Mapping[str, Any]) -> Outcome:
        store = signal_name(signal, "store")
        where = f" (store={store})" if store else ""
        if self.block_deletes:
            return self.violation(f"Memory deletes are blocked{where}", "block_deletes", store=store)
        if store and self.protected_stores and self.protected_stores.match(store) is not None:
            return self.violation(f"Memory store {store!r} is protected", "protected_stores", store=store)
        ids = signal.get("ids")
        count = len(ids) if isinstance(ids, Sequence) and not isinstance(ids, str) else 0
        if self.max_deletes is not None and count > self.max_deletes:
            return self.violation(
                f"Deleting {count} memories at once exceeds {self.max_deletes}{where}",
                "max_deletes_per_call",
                count=count,
                store=store,
            )
        return ALLOW


class ProvenanceRequiredEvaluator(GateEvaluator):
    category = "provenance-required"
    default_action = "warn"

    def __init__(self, policy: ProvenanceRequiredPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.keys = tuple(dict.fromkeys(k.strip() for k in r.required_keys if k.strip()))
        self.min_citations = r.min_citations
        self.enabled = r.require_citations_per_claim or r.min_citations > 0

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        if not self.enabled:
            return ALLOW
        signal = request.signal
        sources: list[Mapping[str, Any]] = [request.metadata, signal]
        nested = signal.get("metadata") if signal else None
        if isinstance(nested, Mapping):
            sources.append(nested)
        if not any(self._carries(s) for s in sources):
            docs = _documents(signal) if signal else None
            if not (docs and all(isinstance(d, Mapping) and self._carries(d) for d in docs)):
                return self.violation(f"No provenance: none of {', '.join(self.keys)} given", "required_keys")
        if self.min_citations:
            count = max((_citation_count(s.get("citations")) for s in sources), default=0)
            if count < self.min_citations:
                return self.violation(
                    f"Too few citations: {count} (min_citations {self.min_citations})",
                    "min_citations",
                    count=count,
                    limit=self.min_citations,
                )
        return ALLOW

    def _carries(self, data: Mapping[str, Any]) -> bool:
        for key in self.keys:
            value = data.get(key)
            if value not in (None, "", [], {}, ()):
                return True
        return False


def _citation_count(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        return len(value)
    if isinstance(value, str) and norm(value):
        return 1
    return 0

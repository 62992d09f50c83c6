"""Activity signals: what the agent did besides LLM calls and steps (messages sent, data read,
records changed, grounding, privacy context, ...), kept in the run's conversation state (the
reference SDK's ``conversation_state`` additions) so that policies and the dashboard see them.

Each method checks its arguments, updates the state and, with ``mid_execution_governance``,
flushes the run (a control plane's governance answer applies: ``block``/``throttle`` raises).
Text that is content (message bodies, outputs) is cut to the preview length unless
``capture_content`` is on.
"""

from __future__ import annotations

import math
from typing import Any

from waxell_observe.context.base import ContextBase
from waxell_observe.context.checks import check_count, check_name
from waxell_observe.conversation import ConversationState
from waxell_observe.records import SpanRecord
from waxell_observe.run import Run
from waxell_observe.serialize import preview, to_jsonable

__all__ = ["SignalMethods", "SCOPE_IMPACT_KEYS"]

SCOPE_IMPACT_KEYS = (
    "records_modified",
    "records_deleted",
    "files_changed",
    "transaction_total",
    "api_writes",
)
_STEP_PREVIEW = 500
_SPAN_BODY = 2000


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _strings(values: Any, what: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{what} must be a list of strings or None, got {values!r}")
    return list(values)


class SignalMethods(ContextBase):
    """The activity-signal methods of :class:`~waxell_observe.WaxellContext`."""

    __slots__ = ()

    # -- shared ----------------------------------------------------------------------------------

    def _state(self, what: str) -> tuple[Run, ConversationState] | None:
        run = self._active_run(what)
        if run is None:
            return None
        return run, self._ensure_conversation(run)

    def _then_govern(self, run: Run) -> None:
        if self.mid_execution_governance:
            self._mid_execution_flush(run)

    @staticmethod
    def _content(run: Run, text: str) -> str:
        config = run.config
        return text if config.capture_content else preview(text, config.preview_chars)

    # -- the counters ----------------------------------------------------------------------------

    def update_conversation_state(
        self,
        *,
        user_turns: int,
        message_count: int,
        assistant_turns: int = 0,
        tool_results: int = 0,
        tokens_in_context: int = 0,
        context_utilization_pct: float = 0.0,
        system_prompt_hash: str = "",
    ) -> None:
        """Overwrite the conversation counters with the caller's (an agent that counts its own
        context); ``system_prompt_hash`` only when non-empty. No governance."""
        counts = {
            "user_turns": user_turns,
            "message_count": message_count,
            "assistant_turns": assistant_turns,
            "tool_results": tool_results,
            "tokens_in_context": tokens_in_context,
        }
        for what, value in counts.items():
            check_count(value, what)
        utilization = _number(context_utilization_pct, "context_utilization_pct")
        if not isinstance(system_prompt_hash, str):
            raise ValueError(f"system_prompt_hash must be a string, got {system_prompt_hash!r}")
        state = self._state("update_conversation_state")
        if state is not None:
            state[1].overwrite(
                **counts, context_utilization_pct=utilization, system_prompt_hash=system_prompt_hash
            )

    # -- what the agent did ------------------------------------------------------------------------

    def record_communication(
        self,
        *,
        channel: str,
        recipient: str = "",
        body: str = "",
        subject: str = "",
        metadata: dict[str, Any] | None = None,
        _skip_otel: bool = False,
    ) -> SpanRecord | None:
        """A message the agent sent (email, SMS, Slack, ...): ``communications`` in the state, a
        step ``comm:<channel>`` (output ``{"_kind": "communication", channel, recipient, preview}``)
        and a ``tool`` span ``comm:<channel>`` (attributes ``io.direction="outbound"``,
        ``io.channel``; input ``{channel, recipient, subject, body}``)."""
        check_name(channel, "channel")
        for value, what in ((recipient, "recipient"), (body, "body"), (subject, "subject")):
            if not isinstance(value, str):
                raise ValueError(f"{what} must be a string, got {type(value).__name__}")
        state = self._state("record_communication")
        if state is None:
            return None
        run, conversation = state
        text = self._content(run, body)
        entry: dict[str, Any] = {"channel": channel, "recipient": recipient, "body": text, "subject": subject}
        if metadata:
            entry["metadata"] = to_jsonable(metadata, where="communication metadata")
        conversation.append_signal("communications", entry)
        name = f"comm:{channel}"
        output = {
            "_kind": "communication",
            "channel": channel,
            "recipient": recipient,
            "preview": text[:_STEP_PREVIEW],
        }
        self._add_step(run, name, output)
        span = self._add_span(
            run,
            "tool",
            name,
            duration_ms=0.0,
            attributes={"tool_type": "communication", "io.direction": "outbound", "io.channel": channel},
            input={"channel": channel, "recipient": recipient, "subject": subject, "body": text[:_SPAN_BODY]},
        )
        self._then_govern(run)
        return span

    def record_data_access(self, *, source: str, operation: str = "read", records: int = 0) -> None:
        """Data the agent read or wrote: ``data_accesses += {source, operation, records}``."""
        check_name(source, "source")
        check_name(operation, "operation")
        check_count(records, "records")
        state = self._state("record_data_access")
        if state is not None:
            state[1].append_signal(
                "data_accesses", {"source": source, "operation": operation, "records": records}
            )
            self._then_govern(state[0])

    def record_scope_impact(
        self,
        *,
        records_modified: int = 0,
        records_deleted: int = 0,
        files_changed: int = 0,
        transaction_total: float = 0.0,
        api_writes: int = 0,
    ) -> None:
        """What the agent changed, added into the cumulative ``scope_impacts`` (stored when any
        counter is non-zero)."""
        given = {
            "records_modified": check_count(records_modified, "records_modified"),
            "records_deleted": check_count(records_deleted, "records_deleted"),
            "files_changed": check_count(files_changed, "files_changed"),
            "transaction_total": _number(transaction_total, "transaction_total"),
            "api_writes": check_count(api_writes, "api_writes"),
        }
        state = self._state("record_scope_impact")
        if state is None:
            return
        run, conversation = state
        totals = conversation.signal("scope_impacts") or dict.fromkeys(SCOPE_IMPACT_KEYS, 0)
        totals["transaction_total"] = float(totals.get("transaction_total", 0.0))
        for key, value in given.items():
            totals[key] = totals.get(key, 0) + value
        conversation.set_signal("scope_impacts", totals, counts=any(totals.values()))
        self._then_govern(run)

    def record_grounding(
        self,
        *,
        grounding_scores: list[float] | None = None,
        citations: list[str] | None = None,
        unsupported_claims: list[str] | None = None,
        output_confidence: float | None = None,
    ) -> None:
        """How well the output is grounded: ``grounding_data += {the given keys}``, a step
        ``grounding_check`` and scores ``grounding_score`` (mean, 4 places, comment ``Avg of N
        claims``), ``output_confidence``, ``citation_count`` and ``unsupported_claims`` (counts)."""
        scores = [_number(v, "grounding score") for v in grounding_scores] if grounding_scores else []
        if grounding_scores is not None and not isinstance(grounding_scores, (list, tuple)):
            raise ValueError(f"grounding_scores must be a list of numbers or None, got {grounding_scores!r}")
        cited = _strings(citations, "citations")
        unsupported = _strings(unsupported_claims, "unsupported_claims")
        confidence = None if output_confidence is None else _number(output_confidence, "output_confidence")
        state = self._state("record_grounding")
        if state is None:
            return
        run, conversation = state
        entry: dict[str, Any] = {}
        for key, value, given in (
            ("grounding_scores", scores, grounding_scores is not None),
            ("citations", cited, citations is not None),
            ("unsupported_claims", unsupported, unsupported_claims is not None),
            ("output_confidence", confidence, output_confidence is not None),
        ):
            if given:
                entry[key] = value
        conversation.append_signal("grounding_data", entry)
        output = {
            "_kind": "grounding_data",
            "grounding_scores": scores,
            "citation_count": len(cited),
            "output_confidence": confidence,
        }
        self._add_step(run, "grounding_check", output)
        if scores:
            mean = round(sum(scores) / len(scores), 4)
            self._add_score(run, "grounding_score", mean, f"Avg of {len(scores)} claims")
        if confidence is not None:
            self._add_score(run, "output_confidence", round(confidence, 4))
        if citations is not None:
            self._add_score(run, "citation_count", float(len(cited)))
        if unsupported:
            self._add_score(run, "unsupported_claims", float(len(unsupported)))
        self._then_govern(run)

    def record_retrieval_result(
        self, *, relevance_score: float = 0.0, source: str = "", collection: str = "", age_days: int = 0
    ) -> None:
        """One retrieved document's quality: ``retrieval_results += {relevance_score, source,
        collection, age_days}``; a positive relevance also records the score
        ``retrieval_relevance`` (mean of the positive ones so far, 4 places)."""
        relevance = _number(relevance_score, "relevance_score")
        check_count(age_days, "age_days")
        state = self._state("record_retrieval_result")
        if state is None:
            return
        run, conversation = state
        entry = {
            "relevance_score": relevance,
            "source": source,
            "collection": collection,
            "age_days": age_days,
        }
        results = conversation.append_signal("retrieval_results", entry)
        if relevance > 0:
            positive = [r["relevance_score"] for r in results if r["relevance_score"] > 0]
            mean = round(sum(positive) / len(positive), 4)
            self._add_score(run, "retrieval_relevance", mean, f"Avg across {len(positive)} documents")
        self._then_govern(run)

    def record_bias_flag(self, *, flag: str) -> None:
        """A bias the agent noticed: ``reasoning_data.bias_flags += flag``."""
        check_name(flag, "flag")
        state = self._state("record_bias_flag")
        if state is None:
            return
        run, conversation = state
        reasoning = conversation.signal("reasoning_data") or {"decisions": [], "reasoning_depth": 0}
        reasoning["bias_flags"] = [*reasoning.get("bias_flags", []), flag]
        conversation.set_signal("reasoning_data", reasoning)
        self._then_govern(run)

    def set_privacy_context(
        self, *, consent_token: str = "", execution_region: str = "", data_purpose: str = ""
    ) -> None:
        """The run's privacy context (each non-empty field into ``privacy_context``)."""
        given = {
            "consent_token": consent_token,
            "execution_region": execution_region,
            "data_purpose": data_purpose,
        }
        for what, value in given.items():
            if not isinstance(value, str):
                raise ValueError(f"{what} must be a string, got {type(value).__name__}")
        state = self._state("set_privacy_context")
        if state is None:
            return
        run, conversation = state
        privacy = conversation.signal("privacy_context") or {}
        privacy.update({key: value for key, value in given.items() if value})
        conversation.set_signal("privacy_context", privacy, counts=bool(privacy))
        self._then_govern(run)

    def record_intermediate_output(self, *, output: str) -> None:
        """An output produced on the way: ``identity_context.intermediate_outputs += output``."""
        if not isinstance(output, str):
            raise ValueError(f"output must be a string, got {type(output).__name__}")
        state = self._state("record_intermediate_output")
        if state is None:
            return
        run, conversation = state
        identity = conversation.signal("identity_context") or {"intermediate_outputs": [], "output_text": ""}
        identity["intermediate_outputs"] = [
            *identity.get("intermediate_outputs", []),
            self._content(run, output),
        ]
        conversation.set_signal("identity_context", identity)
        self._then_govern(run)

    def set_output_text(self, *, text: str) -> None:
        """The run's final output text: ``identity_context.output_text``."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a string, got {type(text).__name__}")
        state = self._state("set_output_text")
        if state is None:
            return
        run, conversation = state
        identity = conversation.signal("identity_context") or {"intermediate_outputs": [], "output_text": ""}
        identity["output_text"] = self._content(run, text)
        conversation.set_signal("identity_context", identity)
        self._then_govern(run)

    def record_breach_signal(self, *, signal: str, event_at: str = "") -> None:
        """A suspected data breach: run metadata ``breach_signal`` (and ``breach_event_at``)."""
        check_name(signal, "signal")
        run = self._active_run("record_breach_signal")
        if run is None:
            return
        run.metadata["breach_signal"] = signal
        if event_at:
            run.metadata["breach_event_at"] = str(event_at)
        self._then_govern(run)

    def record_erasure_request(self, *, subject_id: str, requested_at: str = "") -> None:
        """A right-to-erasure request: ``{"sub_user_id", "requested_at"}`` appended to run
        metadata ``erasure_requests``."""
        check_name(subject_id, "subject_id")
        run = self._active_run("record_erasure_request")
        if run is None:
            return
        requests = run.metadata.get("erasure_requests")
        requests = list(requests) if isinstance(requests, list) else []
        requests.append({"sub_user_id": subject_id, "requested_at": str(requested_at)})
        run.metadata["erasure_requests"] = requests
        self._then_govern(run)

    def record_domain_intent(self, *, domain_name: str, action_name: str) -> None:
        """What the agent meant to do, in the domain's terms: ``domain_intents += {domain_name,
        action_name}`` (stored alongside other state, not alone)."""
        check_name(domain_name, "domain_name")
        check_name(action_name, "action_name")
        state = self._state("record_domain_intent")
        if state is not None:
            intent = {"domain_name": domain_name, "action_name": action_name}
            state[1].append_signal("domain_intents", intent, counts=False)
            self._then_govern(state[0])

    def record_emitted_signal(self, *, signal_name: str) -> None:
        """A signal the agent emitted: ``emitted_signals += signal_name`` (stored alongside other
        state, not alone)."""
        check_name(signal_name, "signal_name")
        state = self._state("record_emitted_signal")
        if state is not None:
            state[1].append_signal("emitted_signals", signal_name, counts=False)
            self._then_govern(state[0])

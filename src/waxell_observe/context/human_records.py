"""What a person did in a run: human turns (``human_turn``, ``input``, ``record_human_interaction``),
pauses and resumes (``pause``, ``mark_resumed``) and approval rounds (``record_approval_request`` /
``record_approval_response``, recorded by :func:`waxell_observe.approval.handle_policy_block`).

- A human turn is a step ``io:human_turn[:<action>]`` (output ``{"_kind": "human_interaction",
  "preview"}``) and an ``io`` span of the same name whose duration is the person's time
  (attributes ``io.direction="interactive"``, ``io.channel``, ``io.action``; input ``{"prompt"}``,
  output ``{"response"}``).
- A pause is an ``io`` container span ``paused`` (attribute ``_phase="pause_marker"``) around the
  wait; the dashboard and the read API exclude its time from the agent's active time.
- An approval round is two ``policy`` spans of category ``approval`` (actions ``approval_requested``
  then ``approval_granted`` / ``approval_denied`` / ``approval_timeout``), each also an audit-log row
  with that event.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import math
import re
import time
from collections.abc import Iterator
from typing import Any

from waxell_observe.context.checks import check_name
from waxell_observe.context.containers import SpanContainerMethods
from waxell_observe.human import HumanTurn
from waxell_observe.records import SpanRecord
from waxell_observe.serialize import preview, to_jsonable
from waxell_observe.vocabulary import human as names

__all__ = ["HumanRecordMethods"]

logger = logging.getLogger("waxell_observe")

_PREVIEW = 500
_PAYLOAD = 500
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_PHASES = ("pre_execution", "mid_execution", "post_execution")


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    return value


def _optional_dict(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a dict or None, got {type(value).__name__}")
    return value


def _optional_number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{what} must be a non-negative number or None, got {value!r}")
    return float(value)


class HumanRecordMethods(SpanContainerMethods):
    """Human turns, pauses and approval records of :class:`~waxell_observe.WaxellContext`."""

    __slots__ = ()

    # -- human turns ---------------------------------------------------------------------------------

    def human_turn(
        self,
        prompt: str = "",
        channel: str = "terminal",
        action: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> HumanTurn:
        """A context manager timing one exchange with a person; call ``set_response(text)`` inside.
        On exit (also when the block raises, which it never suppresses) the turn is recorded with
        :meth:`record_human_interaction`."""
        return HumanTurn(self, prompt=prompt, channel=channel, action=action, metadata=metadata)

    def input(self, prompt: str = "", *, action: str = "input") -> str:
        """Ask the person at the terminal (the builtin ``input(prompt)``), time the answer and record
        it as a human turn (prompt without ANSI colours, trimmed). Returns the answer; ``EOFError``
        and ``KeyboardInterrupt`` propagate (nothing recorded)."""
        _text(prompt, "prompt")
        started = time.perf_counter()
        response = builtins.input(prompt)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        try:
            self.record_human_interaction(
                prompt=_ANSI.sub("", prompt).strip(),
                response=response,
                channel="terminal",
                action=action,
                elapsed_ms=elapsed_ms,
            )
        except Exception:  # noqa: BLE001 - recording never loses the person's answer
            logger.exception("waxell-observe: could not record an input() answer")
        return response

    def record_human_interaction(
        self,
        prompt: str = "",
        response: str = "",
        channel: str = "terminal",
        action: str = "",
        elapsed_ms: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> SpanRecord | None:
        """Record one exchange with a person: a step ``io:<name>`` (output ``{"_kind":
        "human_interaction", "preview": (response or prompt)[:500]}``) and an ``io`` span ``<name>``
        (``human_turn:<action>``, or ``human_turn``) lasting ``elapsed_ms`` (rounded). No governance."""
        _text(prompt, "prompt")
        _text(response, "response")
        check_name(channel, "channel")
        _text(action, "action")
        elapsed = _optional_number(elapsed_ms, "elapsed_ms")
        extra = _optional_dict(metadata, "metadata")
        run = self._active_run("record_human_interaction")
        if run is None:
            return None
        name = f"{names.HUMAN_TURN_NAME}:{action}" if action else names.HUMAN_TURN_NAME
        config = run.config
        limit = 0 if config.capture_content else config.preview_chars
        shown_prompt, shown_response = preview(prompt, limit), preview(response, limit)
        self._add_step(
            run,
            f"io:{name}",
            {"_kind": names.HUMAN_INTERACTION_KIND, "preview": (shown_response or shown_prompt)[:_PREVIEW]},
        )
        attributes: dict[str, Any] = {"io.direction": names.INTERACTIVE, "io.channel": channel}
        if action:
            attributes["io.action"] = action
        if extra:
            attributes.update(to_jsonable(extra, where="human turn metadata"))
        return self._add_span(
            run,
            "io",
            name,
            duration_ms=None if elapsed is None else float(round(elapsed)),
            attributes=attributes,
            input={"prompt": shown_prompt} if prompt else None,
            output={"response": shown_response} if response else None,
        )

    # -- pauses --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def pause(self, reason: str = "awaiting_user", **metadata: Any) -> Iterator[None]:
        """Mark a wait (for a person, a webhook, ...) as a ``paused`` ``io`` span (attributes
        ``_phase="pause_marker"``, ``pause_reason``, ``pause.<key>`` per metadata entry; input and
        output ``{"reason"}``), closed when the block ends, also when it raises. Its time is not
        the agent's active time. The bookkeeping never raises."""
        handle: dict[str, Any] = {}
        try:
            attributes: dict[str, Any] = {
                names.PHASE_ATTRIBUTE: names.PAUSE_PHASE,
                "pause_reason": str(reason),
            }
            for key, value in metadata.items():
                attributes[f"pause.{key}"] = value
            handle = self.enter_span(
                names.PAUSE_SPAN_NAME, kind="io", attributes=attributes, input_data={"reason": str(reason)}
            )
        except Exception:  # noqa: BLE001 - a pause marker never breaks the wait
            logger.warning("waxell-observe: could not open a pause span", exc_info=True)
        try:
            yield
        finally:
            try:
                self.exit_span(handle, output_data={"reason": str(reason)})
            except Exception:  # noqa: BLE001 - a pause marker never breaks the wait
                logger.warning("waxell-observe: could not close a pause span", exc_info=True)

    def mark_resumed(self, *, from_run_id: str = "", payload: Any = None) -> SpanRecord | None:
        """Mark that the run resumes earlier work (``from_run_id``: the run that paused): a
        zero-length ``io`` span ``resumed`` (attributes ``_phase="post_resume"``,
        ``resumed_from_run_id``; input ``{"from_run_id"}``; output ``{"payload": str(payload)[:500]}``
        when a payload is given)."""
        _text(from_run_id, "from_run_id")
        attributes: dict[str, Any] = {names.PHASE_ATTRIBUTE: names.RESUME_PHASE}
        if from_run_id:
            attributes["resumed_from_run_id"] = from_run_id
        handle = self.enter_span(
            names.RESUME_SPAN_NAME,
            kind="io",
            attributes=attributes,
            input_data={"from_run_id": from_run_id} if from_run_id else None,
        )
        return self.exit_span(
            handle, output_data=None if payload is None else {"payload": str(payload)[:_PAYLOAD]}
        )

    # -- approval rounds -----------------------------------------------------------------------------

    def record_approval_request(
        self,
        *,
        action_type: str,
        approvers: list[str] | None = None,
        timeout_minutes: float | None = None,
        reason: str = "",
        metadata: dict[str, Any] | None = None,
        _phase: str = "mid_execution",
    ) -> SpanRecord | None:
        """Record that an operation waits for a person's approval: a ``policy`` span
        ``approval:<action_type>`` (category ``approval``, action ``approval_requested``, attributes
        ``approval.reason`` / ``approval.action_type``, metadata ``{action_type, approvers,
        timeout_minutes (when given), **metadata}``) and its audit-log row (event
        ``approval_requested``)."""
        check_name(action_type, "action_type")
        if approvers is not None and (
            not isinstance(approvers, (list, tuple)) or not all(isinstance(a, str) for a in approvers)
        ):
            raise ValueError(f"approvers must be a list of strings or None, got {approvers!r}")
        timeout = _optional_number(timeout_minutes, "timeout_minutes")
        _text(reason, "reason")
        event_metadata: dict[str, Any] = {"action_type": action_type, "approvers": list(approvers or [])}
        if timeout is not None:
            event_metadata["timeout_minutes"] = timeout_minutes
        event_metadata.update(_optional_dict(metadata, "metadata"))
        return self._approval_span(
            action_type,
            names.APPROVAL_REQUESTED,
            reason,
            event_metadata,
            {"approval.reason": reason, "approval.action_type": action_type, "approval.phase": "request"},
            _phase,
        )

    def record_approval_response(
        self,
        *,
        action_type: str,
        decision: str,
        approver: str = "",
        elapsed_seconds: float | None = None,
        metadata: dict[str, Any] | None = None,
        _phase: str = "mid_execution",
    ) -> SpanRecord | None:
        """Record the answer to an approval request: a ``policy`` span ``approval:<action_type>``
        (category ``approval``, action ``approval_granted`` / ``approval_denied`` /
        ``approval_timeout`` for ``decision`` ``approved`` / ``denied`` / ``timeout``, else
        ``approval_<decision>``; attributes ``approval.phase="decision"``, ``approval.approver``,
        ``approval.elapsed_seconds``; metadata ``{action_type, decision, approver?, elapsed_seconds?,
        **metadata}``) and its audit-log row with that event."""
        check_name(action_type, "action_type")
        check_name(decision, "decision")
        _text(approver, "approver")
        elapsed = _optional_number(elapsed_seconds, "elapsed_seconds")
        event = names.approval_event(decision)
        event_metadata: dict[str, Any] = {"action_type": action_type, "decision": decision}
        attributes: dict[str, Any] = {"approval.action_type": action_type, "approval.phase": "decision"}
        if approver:
            event_metadata["approver"] = approver
            attributes["approval.approver"] = approver
        if elapsed is not None:
            event_metadata["elapsed_seconds"] = elapsed
            attributes["approval.elapsed_seconds"] = elapsed
        event_metadata.update(_optional_dict(metadata, "metadata"))
        return self._approval_span(action_type, event, "", event_metadata, attributes, _phase)

    def _approval_span(
        self,
        action_type: str,
        event: str,
        reason: str,
        event_metadata: dict[str, Any],
        approval_attributes: dict[str, Any],
        phase: str,
    ) -> SpanRecord | None:
        run = self._active_run(event)
        if run is None:
            return None
        attributes: dict[str, Any] = {
            "policy_name": names.APPROVAL_POLICY_NAME,
            "action": event,
            "category": names.APPROVAL_CATEGORY,
            "reason": reason,
            "phase": phase if phase in _PHASES else "mid_execution",
            "priority": 100,
            "metadata": to_jsonable(event_metadata, where="approval metadata"),
            **approval_attributes,
        }
        return self._add_span(
            run, "policy", f"{names.APPROVAL_CATEGORY}:{action_type}", duration_ms=0.0, attributes=attributes
        )

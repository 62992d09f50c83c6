"""``show``'s view of the people in a run: human turns (what was asked, what the person answered, how
long they took), pauses, resumes and approval rounds, and a summary line (the person's time, the
paused time, the approvals) under the run's header (issue 12)."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from rich.tree import Tree

from waxell_observe.vocabulary import human as names

__all__ = ["human_span_detail", "add_people_line", "people_summary"]


def _compact(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _seconds(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.2f}s"


def _field(container: Any, key: str) -> Any:
    return container.get(key) if isinstance(container, dict) else None


def _approval_detail(attributes: dict[str, Any]) -> str:
    action = str(attributes.get("action", ""))
    given = attributes.get("metadata")
    metadata: dict[str, Any] = given if isinstance(given, dict) else {}
    if action == names.APPROVAL_REQUESTED:
        approvers = ", ".join(metadata.get("approvers") or []) or "anyone"
        timeout = metadata.get("timeout_minutes")
        window = f", timeout {timeout:g} min" if isinstance(timeout, (int, float)) else ""
        return f"  approval requested from {approvers}{window}: {attributes.get('reason', '')}"
    word = str(metadata.get("decision") or action.removeprefix(names.APPROVAL_EVENT_PREFIX))
    approver = metadata.get("approver")
    elapsed = metadata.get("elapsed_seconds")
    text = f"  {word}" + (f" by {approver}" if approver else "")
    return text + (f" after {elapsed:g}s" if isinstance(elapsed, (int, float)) else "")


def human_span_detail(kind: str, record: dict[str, Any], attributes: dict[str, Any]) -> str | None:
    """What a human turn, pause, resume or approval span shows after its name (``None``: not one)."""
    if kind == "policy" and attributes.get("category") == names.APPROVAL_CATEGORY:
        return _approval_detail(attributes)
    if kind != "io":
        return None
    phase = attributes.get(names.PHASE_ATTRIBUTE)
    if phase == names.PAUSE_PHASE:
        return f"  {attributes.get('pause_reason', '')}"
    if phase == names.RESUME_PHASE:
        source = attributes.get("resumed_from_run_id")
        payload = _field(record.get("output"), "payload")
        return (f"  from run {source}" if source else "") + (
            f"  payload {_compact(payload, 60)}" if payload else ""
        )
    if attributes.get("io.direction") == names.INTERACTIVE:
        prompt = _field(record.get("input"), "prompt") or ""
        response = _field(record.get("output"), "response") or ""
        return f"  [{attributes.get('io.channel', '')}] {_compact(prompt, 60)!s} → {_compact(response, 60)!s}"
    return None


def people_summary(run: dict[str, Any]) -> dict[str, Any]:
    """Counts and times of the people in ``run``: human turns and their time, pauses and the paused
    time, approvals requested and each decision."""
    turns = 0
    human_ms = 0.0
    pauses = 0
    paused_ms = 0.0
    requested = 0
    decisions: dict[str, int] = {}
    for span in run.get("spans", []):
        attributes = span.get("attributes") or {}
        duration = span.get("duration_ms") or 0.0
        if span["kind"] == "io" and attributes.get("io.direction") == names.INTERACTIVE:
            turns += 1
            human_ms += duration
        elif span["kind"] == "io" and attributes.get(names.PHASE_ATTRIBUTE) == names.PAUSE_PHASE:
            pauses += 1
            paused_ms += duration
        elif span["kind"] == "policy" and attributes.get("category") == names.APPROVAL_CATEGORY:
            action = str(attributes.get("action", ""))
            if action == names.APPROVAL_REQUESTED:
                requested += 1
            else:
                word = action.removeprefix(names.APPROVAL_EVENT_PREFIX)
                decisions[word] = decisions.get(word, 0) + 1
    return {
        "human_turns": turns,
        "human_ms": round(human_ms, 3),
        "pauses": pauses,
        "paused_ms": round(paused_ms, 3),
        "approvals_requested": requested,
        "approval_decisions": decisions,
    }


def add_people_line(tree: Tree, run: dict[str, Any]) -> None:
    """Under the header: ``people: 2 human turn(s) (4.10s), 1 pause(s) (30.00s paused), approvals: 1
    requested, 1 granted`` (nothing when the run had no people in it)."""
    summary = people_summary(run)
    parts = []
    if summary["human_turns"]:
        parts.append(f"{summary['human_turns']} human turn(s) ({_seconds(summary['human_ms'])})")
    if summary["pauses"]:
        parts.append(f"{summary['pauses']} pause(s) ({_seconds(summary['paused_ms'])} paused)")
    if summary["approvals_requested"] or summary["approval_decisions"]:
        answered = ", ".join(
            f"{count} {word}" for word, count in sorted(summary["approval_decisions"].items())
        )
        parts.append(
            f"approvals: {summary['approvals_requested']} requested" + (f", {answered}" if answered else "")
        )
    if parts:
        tree.add(Text("people: " + "; ".join(parts), style="cyan"))
